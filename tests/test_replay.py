"""Trace and replay (conformance/trace, catalog module ``replay``).

Without transformers: the recorder on a small user script (what it records, what it cannot replay and
says so, the command line), tensors rebuilt with their layout and alignment, the oracle's byte-exact
self-check, the chained replay naming the first diverging call with its caller's line, the op-class
rules. With transformers (CI installs 4.57.6): the checked-in signature list matches the recordings,
the oracle replays all three models byte for byte, and pyborch's chained rows name a first divergence
at a real transformers line.
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conformance.observe import Context, ObservationError
from conformance.trace import replay, rules
from conformance.trace.store import Recording, build_tensor, layout_of, relaid
from kitrun import REPO, kit_env, run_kit

HAS_TRANSFORMERS = importlib.util.find_spec("transformers") is not None
needs_transformers = pytest.mark.skipif(not HAS_TRANSFORMERS, reason="transformers not installed "
                                        "(pip install transformers==4.57.6 huggingface_hub==0.36.2 tokenizers==0.22.2)")

SCRIPT = """\
import torch
import torch.nn.functional as F

w = torch.arange(48, dtype=torch.float32).reshape(6, 8) / 37
x = torch.linspace(-1, 1, 32).reshape(4, 8)
h = F.linear(x, w)
g = F.gelu(h)
t = g.transpose(0, 1)
c = t.contiguous().view(2, 12)
s = c[:, 1:5]
n = F.linear(s, w[:, :4])
torch.randn(3, generator=torch.Generator().manual_seed(1))
m = torch.empty(2, 3, device="meta").view(-1)
print(n.sum().item(), m.shape)
"""
GELU_LINE = 7      # the line of F.gelu above


def _trace(out: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "conformance", "trace", *args], cwd=REPO, env=kit_env(),
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("trace")
    script = base / "my_script.py"
    script.write_text(SCRIPT)
    proc = _trace(base / "rec", "--out", str(base / "rec"), "--", "python", str(script))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "replay on real torch: byte-exact" in proc.stdout, proc.stdout
    return base / "rec"


def _calls(rec: Recording, api: str) -> list[dict]:
    return [c for c in rec.calls if c["api"] == api]


def test_a_user_script_is_recorded_call_by_call_with_callers_and_layouts(recorded):
    rec = Recording(recorded)
    assert rec.data["workload"] == "script:my_script.py" and rec.data["self_check"]["byte_exact"] is True
    (gelu,) = _calls(rec, "torch.nn.functional.gelu")
    assert gelu["caller"] == {"file": "my_script.py", "line": GELU_LINE, "function": "<module>"}
    lin1, lin2 = _calls(rec, "torch.nn.functional.linear")
    # tensors by reference: gelu's input is linear's output, and the weight is stored once
    assert gelu["args"][0]["from"] == [lin1["i"], "out"]
    assert gelu["args"][0]["blob"] == lin1["out"]["blob"]
    encoded = sum(json.dumps(c).count('"k": "tensor"') for c in rec.calls)
    assert len(list((recorded / "blobs").glob("*.bin"))) < encoded / 2
    sliced = lin2["args"][0]
    assert sliced["shape"] == [2, 4] and sliced["stride"] == [12, 1] and sliced["offset"] == 1
    assert set(sliced) >= {"dtype", "blob", "align", "nbytes", "tid"}
    # operators and methods are calls too; the print's .item() as well
    names = {c["api"] for c in rec.calls}
    assert {"torch.Tensor.transpose", "torch.Tensor.contiguous", "torch.Tensor.view", "torch.Tensor.__getitem__",
            "torch.Tensor.div", "torch.Tensor.item", "torch.arange", "torch.linspace"} <= names
    # the bytes are content-addressed: each blob's name is its sha256
    import hashlib
    for p in (recorded / "blobs").glob("*.bin"):
        assert hashlib.sha256(p.read_bytes()).hexdigest() == p.stem


def test_what_cannot_be_replayed_is_listed_with_its_reason(recorded):
    rec = Recording(recorded)
    why = {c["api"]: rules.not_replayable(c) for c in rec.calls if rules.not_replayable(c)}
    assert "random generator" in why["torch.randn"] or "global random generator" in why["torch.randn"]
    assert "meta tensor" in why["torch.Tensor.view"]
    proc = _trace(recorded, "--out", str(recorded), "--", "python", "x.py")
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and len(proc.stderr.splitlines()) == 1


def test_the_readme_example_records_a_user_script(tmp_path):
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Trace and replay"):]
    script = section[section.index("<<'PY'\n") + len("<<'PY'\n"):section.index("\nPY\n")]
    (tmp_path / "my_script.py").write_text(script + "\n")
    command = next(line.split("#")[0].split() for line in section.splitlines()
                   if line.startswith("python -m conformance trace --"))
    assert command[:4] == ["python", "-m", "conformance", "trace"]
    proc = subprocess.run([sys.executable, *command[1:]], cwd=tmp_path, env=kit_env(), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "replay on real torch: byte-exact" in proc.stdout and "torch.nn.functional.linear-float32-2d" in proc.stdout
    rec = Recording(tmp_path / "trace-my_script")
    assert {c["api"] for c in rec.calls} >= {"torch.nn.functional.linear", "torch.nn.functional.gelu"}


def test_command_line_mistakes_are_one_line_errors(tmp_path):
    for args in (["--out", str(tmp_path / "o"), "--", "python", str(tmp_path / "missing.py")],
                 ["--", "python"], ["--workload", "llama"], ["--out", str(tmp_path / "o2"), "--"]):
        proc = _trace(tmp_path, *args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr, proc.stderr


def test_rebuilt_tensors_keep_strides_offset_and_alignment():
    import torch

    base = bytes(range(64)) * 3
    spec = {"dtype": "float32", "shape": [3, 4], "stride": [1, 6], "offset": 5, "align": 40}
    t = build_tensor(torch, spec, base)
    assert list(t.stride()) == [1, 6] and t.storage_offset() == 5 and t.untyped_storage().data_ptr() % 64 == 40
    assert t.data_ptr() % 64 == (40 + 5 * 4) % 64
    want = np.lib.stride_tricks.as_strided(np.frombuffer(base, "<f4")[5:], (3, 4), (4, 24))
    assert t.numpy().tobytes() == np.ascontiguousarray(want).tobytes()
    for how in ("contiguous", "noncontiguous"):
        s2, d2 = relaid(spec, base, how)
        t2 = build_tensor(torch, s2, d2)
        assert torch.equal(t2, t) and t2.is_contiguous() == (how == "contiguous")
        assert layout_of(s2, d2)["sha256"] == layout_of(spec, base)["sha256"]


def test_the_oracle_must_replay_its_own_recording_byte_exactly(recorded, tmp_path):
    import shutil

    import torch

    rec = Recording(recorded)
    (lin1, _) = _calls(rec, "torch.nn.functional.linear")
    replay.isolated(Context(torch), rec, [lin1], reference=True)          # as recorded: fine
    # a recording whose output lost one bit is unusable: ERROR, never a result
    bad = tmp_path / "bad"
    shutil.copytree(recorded, bad)
    out = lin1["out"]
    blob = bad / "blobs" / f"{out['blob']}.bin"
    data = bytearray(blob.read_bytes())
    data[0] ^= 1
    blob.write_bytes(bytes(data))
    with pytest.raises(ObservationError, match="does not replay its own recording byte-exactly"):
        replay.isolated(Context(torch), Recording(bad), [lin1], reference=True)
    with pytest.raises(ObservationError, match="byte-exactly"):
        replay.chained(Context(torch), Recording(bad), rec.calls, reference=True)


def test_the_chain_names_the_first_diverging_call_with_its_caller(recorded, monkeypatch):
    import torch
    import torch.nn.functional as F

    rec = Recording(recorded)
    ctx = Context(torch)
    assert replay.chained(ctx, rec, rec.calls, reference=False)["first_divergence"] is None
    real = F.gelu
    monkeypatch.setattr(F, "gelu", lambda x, approximate="none": real(x, approximate=approximate) * 1.01)
    ctx = Context(torch)
    obs = replay.chained(ctx, rec, rec.calls, reference=False)
    first = obs["first_divergence"]
    assert first["api"] == "torch.nn.functional.gelu" and first["at"] == f"my_script.py:{GELU_LINE}"
    assert first["kind"] == "values"
    assert ctx.cause["api"] == "torch.nn.functional.gelu" and ctx.cause["phase"] == "chain"
    assert f"my_script.py:{GELU_LINE}" in ctx.cause["evidence"] and "ulp" in ctx.display["where"]
    # later calls got torch's value in place of the wrong one: gelu is the only divergence
    assert [d["api"] for d in ctx.display["diverging_calls"]] == ["torch.nn.functional.gelu"]


def test_a_missing_op_is_missing_in_isolation(recorded, monkeypatch):
    import torch
    import torch.nn.functional as F

    rec = Recording(recorded)
    monkeypatch.delattr(F, "gelu")
    with pytest.raises(AttributeError):
        replay.isolated(Context(torch), rec, _calls(rec, "torch.nn.functional.gelu"), reference=False)


def test_a_user_recording_becomes_cases_judged_like_any_other(recorded, tmp_path, monkeypatch):
    """`run --replay DIR`: the catalog registers the recording's signatures and a chain (seen by a fresh
    `list`, as every worker would), real torch replays them, and a wrong gelu is blamed on gelu."""
    proc = subprocess.run([sys.executable, "-m", "conformance", "list"], cwd=REPO, capture_output=True, text=True,
                          env=kit_env(CONFORMANCE_REPLAY=str(recorded)), timeout=120)
    ids = {line.split("\t")[0] for line in proc.stdout.splitlines() if line.startswith("replay[script-")}
    assert "replay[script-my_script-chained]" in ids and "replay[script-my_script-torch.nn.functional.gelu-float32-2d]" in ids
    assert not any("randn" in i for i in ids)          # not replayable: no case
    bad = _trace(recorded, "run", "--target", "torch", "--replay", str(tmp_path / "nothing"))
    assert bad.returncode != 0

    import importlib

    import torch
    import torch.nn.functional as F

    from conformance import registry
    from conformance.compare import judge
    from conformance.worker import run_case

    monkeypatch.setenv("CONFORMANCE_REPLAY", str(recorded))
    monkeypatch.setenv("CONFORMANCE_TARGET_ARGS", json.dumps(["--target", "torch"]))
    monkeypatch.setattr(registry, "_CASES", {})
    if "conformance.catalog.replay" in sys.modules:      # registered again, into the empty registry
        importlib.reload(sys.modules["conformance.catalog.replay"])
    else:
        importlib.import_module("conformance.catalog.replay")
    cases = {i: c for i, c in registry._CASES.items() if i.startswith("replay[script-")}
    assert set(cases) == ids
    oracle = {i: run_case(i, cases, torch) for i in sorted(cases)}
    assert all("value" in o for o in oracle.values()), {i: o for i, o in oracle.items() if "value" not in o}
    real = F.gelu
    monkeypatch.setattr(F, "gelu", lambda x, approximate="none": real(x, approximate=approximate) * 1.01)
    monkeypatch.setenv("CONFORMANCE_TARGET_ARGS", json.dumps(["--target", "module:gelu_mutant"]))
    verdicts = {i: judge(oracle[i], {"obs": run_case(i, cases, torch)}, c.tolerance, c.api) for i, c in cases.items()}
    red = {i: v for i, v in verdicts.items() if v.outcome != "PASS"}
    assert set(red) == {"replay[script-my_script-chained]", "replay[script-my_script-torch.nn.functional.gelu-float32-2d]"}
    chain = red["replay[script-my_script-chained]"]
    assert chain.outcome == "BLOCKED" and chain.cause["api"] == "torch.nn.functional.gelu"
    assert f"my_script.py:{GELU_LINE}" in chain.cause["evidence"]
    assert red["replay[script-my_script-torch.nn.functional.gelu-float32-2d]"].outcome == "FAIL"


def test_op_classes_and_tolerances():
    assert rules.op_class("torch.Tensor.view") == "layout" and rules.op_class("torch.Tensor.__getitem__") == "indexing"
    assert rules.op_class("torch.Tensor.__eq__") == "comparison" and rules.op_class("torch.Tensor.to") == "copy"
    assert rules.op_class("torch.nn.functional.linear") == "float-math"
    assert rules.compares_within_tolerance("torch.nn.functional.linear", "float32")
    assert not rules.compares_within_tolerance("torch.nn.functional.linear", "int64")    # integer: exact
    assert not rules.compares_within_tolerance("Tensor.view", "float32")                  # layout: exact
    assert rules.tolerance(0.5) == {"rtol": 1e-4, "atol": 1e-5} and rules.tolerance(8.0)["atol"] == 8e-5
    assert rules.short_name("torch.Tensor.shape.__get__") == "Tensor.shape"
    assert not rules.public("torch._C._set_grad_enabled") and rules.public("torch.Tensor.__add__")


# -- with transformers: the three tiny models ----------------------------------------------------------------

@needs_transformers
def test_checked_in_signatures_match_the_recordings():
    from conformance.dists import dist_version
    from conformance.catalog._replay_signatures import SIGNATURES, VERSIONS
    from conformance.trace import cache, signatures

    if VERSIONS != {"torch": dist_version("torch"), "transformers": dist_version("transformers")}:
        pytest.skip(f"the list was made with {VERSIONS}; regenerate it for other versions")
    for model in cache.WORKLOADS:
        rec = Recording(cache.ensure_recording(model))
        assert rec.data["self_check"]["byte_exact"] is True, rec.data["self_check"]
        assert [tuple(r) for r in SIGNATURES[model]] == signatures.table(rec), \
            "python -m conformance trace --update-signatures"


@needs_transformers
def test_oracle_replays_every_model_byte_exactly(oracle):
    cases = [c for c in oracle.results["cases"] if c["module"] == "replay"]
    assert cases and all(c["outcome"] == "PASS" for c in cases), [c["id"] for c in cases if c["outcome"] != "PASS"]
    for c in cases:
        shown = c["observed"].get("display", {})
        if c["id"].endswith("-chained]"):
            assert c["observed"]["value"]["first_divergence"] is None and c["observed"]["value"]["replayed"] > 50
        elif "against_recording" in shown:
            assert shown["exact"] is True, c["id"]
    ids = {c["id"] for c in cases}
    assert {"replay[albert-Tensor.reshape-float32-4d]", "replay[gpt2-chained]"} <= ids


@needs_transformers
def test_pyborch_chain_names_a_first_divergence_at_a_transformers_line(oracle, tmp_path):
    run = run_kit("pyborch", tmp_path / "r", oracle.cache, "-k", "replay")
    cases = {i: c for i, c in run.cases.items() if c["module"] == "replay"}
    assert cases and run.returncode == 1
    from conformance.trace import cache
    for model in cache.WORKLOADS:
        chain = cases[f"replay[{model}-chained]"]
        first = chain["observed"]["value"]["first_divergence"]
        # the row names its cause: the first diverging call, in the chain phase (BLOCKED, not the row's own fault)
        assert chain["outcome"] == "BLOCKED" and first is not None, chain["summary"]
        assert chain["cause"]["api"] == first["api"] and chain["cause"]["phase"] == "chain"
        assert first["at"] in chain["cause"]["evidence"]
        rec = Recording(cache.ensure_recording(model))
        (call,) = [c for c in rec.calls if c["i"] == first["call"]]
        assert first["at"] == replay.caller_of(call) and first["at"].startswith("transformers/")
        assert f"first divergence: call {first['call']} {first['api']} at {first['at']}" in chain["summary"]
    # the first diverging op of a chain diverges in isolation too, as a row of its own API
    contains = cases["replay[albert-Tensor.__contains__-int64-2d]"]
    assert contains["outcome"] in ("MISSING", "FAIL") and contains["cause"]["api"] == "Tensor.__contains__"
    assert json.dumps(cases).count('"outcome": "ERROR"') == 0
