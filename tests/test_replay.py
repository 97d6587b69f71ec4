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
from conformance.trace.store import Recording, TraceError, build_tensor, layout_of, relaid
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
    # operators (as themselves: `/ 37` is __truediv__, not div) and methods are calls too; the print's .item() as well
    names = {c["api"] for c in rec.calls}
    assert {"torch.Tensor.transpose", "torch.Tensor.contiguous", "torch.Tensor.view", "torch.Tensor.__getitem__",
            "torch.Tensor.__truediv__", "torch.Tensor.item", "torch.arange", "torch.linspace"} <= names
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
    strides = {"contiguous": [4, 1], "transposed": [1, 3], "stepped": [8, 2], "offset": [4, 1]}
    for how in ("contiguous", "transposed", "stepped", "offset"):
        s2, d2 = relaid(spec, base, how)
        t2 = build_tensor(torch, s2, d2)
        assert torch.equal(t2, t) and t2.is_contiguous() == (how in ("contiguous", "offset"))
        assert list(t2.stride()) == strides[how] and t2.storage_offset() == (3 if how == "offset" else 0)
        assert layout_of(s2, d2)["sha256"] == layout_of(spec, base)["sha256"]
        # the way around a backend whose from_numpy of a strided array is wrong gives the same tensor
        t3 = build_tensor(torch, s2, d2, flat=True)
        assert torch.equal(t3, t) and list(t3.stride()) == strides[how]


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
    # a blob whose bytes are not the ones it is named after is refused as it is read
    with pytest.raises(TraceError, match="does not hold the bytes it is named after"):
        replay.isolated(Context(torch), Recording(bad), [lin1], reference=True)
    # the same bytes, consistently named: the recording reads, and the oracle does not reproduce it
    import hashlib
    new = hashlib.sha256(bytes(data)).hexdigest()
    blob.rename(bad / "blobs" / f"{new}.bin")
    trace = bad / "trace.json"
    trace.write_text(trace.read_text().replace(out["blob"], new))
    (lin1b, _) = _calls(Recording(bad), "torch.nn.functional.linear")
    with pytest.raises(ObservationError, match="does not replay its own recording byte-exactly"):
        replay.isolated(Context(torch), Recording(bad), [lin1b], reference=True)
    with pytest.raises(ObservationError, match="byte-exactly"):
        replay.chained(Context(torch), Recording(bad), Recording(bad).calls, reference=True)


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


RECORDED_ROWS = """\
import json, sys
import torch
from conformance import worker
from conformance.compare import norm_api
from conformance.observe import DISPLAY, routes_for
from conformance.registry import load_catalog
from conformance.trace import rules, signatures
from conformance.trace.store import Recording

rec = Recording(__import__("pathlib").Path(sys.argv[1]))
chain = signatures.forward_calls(rec.calls, signatures.replayed_phase(rec.calls))
cases = load_catalog()
routes = routes_for(torch)
worker._install_recorder(torch, routes)        # as every worker does: the rows run recorded
out = {"chain": [norm_api(rules.short_name(c["api"])) for c in chain if rules.not_replayable(c) is None]}
for cid in sys.argv[2:]:
    obs = worker.run_case(cid, cases, torch, routes)
    out[cid] = {"value": "value" in obs, "calls": (obs.get(DISPLAY) or {}).get("calls")}
print(json.dumps(out))
"""


def test_a_replay_row_records_the_replayed_calls_and_never_the_input_building(recorded):
    """Replay rows run recorded like any case: the engine builds inputs and stand-ins, looks APIs up and reads
    results with the recorder paused, so the log's own calls (depth 0) are the replayed ones, in order, and the
    one blame rule can only name a replayed call or a call inside it."""
    gelu, chained = "replay[script-my_script-torch.nn.functional.gelu-float32-2d]", "replay[script-my_script-chained]"
    proc = subprocess.run([sys.executable, "-c", RECORDED_ROWS, str(recorded), gelu, chained], cwd=REPO,
                          capture_output=True, text=True, timeout=300,
                          env=kit_env(CONFORMANCE_REPLAY=str(recorded),
                                      CONFORMANCE_TARGET_ARGS=json.dumps(["--target", "torch"])))
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.splitlines()[-1])
    for cid in (gelu, chained):
        assert got[cid]["value"] and got[cid]["calls"], got[cid]
    own = {cid: [api for api, _, _, depth in got[cid]["calls"] if depth == 0] for cid in (gelu, chained)}
    # one recorded gelu call, replayed in each layout the engine tries: gelu, and nothing that built its input
    assert set(own[gelu]) == {"torch.nn.functional.gelu"} and len(own[gelu]) >= 2, own[gelu]
    # the chain: the recording's replayable calls, one entry each, in order (no from_numpy, as_strided, dtype read)
    from conformance.compare import norm_api
    assert [norm_api(a) for a in own[chained]] == got["chain"], (own[chained], got["chain"])


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


OPS_SCRIPT = """\
import numpy as np
import torch
import torch.nn.functional as F

a = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
t = torch.tensor(a.T)
x = 1.0 + t
x += 2
y = 2 * F.softmax(x.transpose(0, 1), -1)
print(y.to(torch.float64).sum().item())
"""


@pytest.fixture(scope="module")
def ops_recorded(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("trace-ops")
    script = base / "ops.py"
    script.write_text(OPS_SCRIPT)
    proc = _trace(base / "rec", "--out", str(base / "rec"), "--", "python", str(script))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "replay on real torch: byte-exact" in proc.stdout, proc.stdout
    return base / "rec"


def test_reflected_and_in_place_operators_and_numpy_arrays_are_recorded_as_used(ops_recorded):
    rec = Recording(ops_recorded)
    apis = [c["api"] for c in rec.calls]
    # 1.0 + t is Tensor.__radd__ (torch hands a TorchFunctionMode Tensor.add), x += 2 is __iadd__, 2 * y __rmul__
    assert apis[:3] == ["torch.tensor", "torch.Tensor.__radd__", "torch.Tensor.__iadd__"], apis
    assert "torch.Tensor.__rmul__" in apis and "torch.Tensor.add" not in apis and "torch.Tensor.add_" not in apis
    (made,) = _calls(rec, "torch.tensor")
    arr = made["args"][0]          # a.T: a strided numpy array, recorded with its strides
    assert arr["k"] == "ndarray" and arr["shape"] == [4, 3] and arr["stride"] == [1, 4] and arr["dtype"] == "float32"
    import torch

    # replayed on real torch as the operator itself: the same bytes as recorded
    for api in ("torch.tensor", "torch.Tensor.__radd__", "torch.Tensor.__iadd__", "torch.Tensor.__rmul__"):
        obs = replay.isolated(Context(torch), rec, _calls(rec, api), reference=True)
        assert obs["calls"][0]["variant"] == "recorded"
    assert not hasattr(torch.Tensor.__radd__, "__wrapped__") and type(torch.Tensor.__radd__).__name__ == "method_descriptor"


def test_every_op_that_takes_a_tensor_is_replayed_on_strided_layouts(ops_recorded):
    rec = Recording(ops_recorded)
    # t = torch.tensor(a.T) keeps a.T's strides: its recorded layout is the transposed one, not repeated
    for api in ("torch.Tensor.__radd__", "torch.tensor"):
        (call,) = _calls(rec, api)
        assert replay.variants(api, call) == ["recorded", "contiguous", "stepped", "offset"], api
    (soft,) = _calls(rec, "torch.nn.functional.softmax")     # x.transpose(0, 1) of that: C order again
    assert replay.variants(soft["api"], soft) == ["recorded", "transposed", "stepped", "offset"]
    one_d = {"api": "torch.tanh", "args": [{"k": "tensor", "shape": [5], "stride": [1], "offset": 0}], "kwargs": {}}
    assert replay.variants("torch.tanh", one_d) == ["recorded", "stepped", "offset"]
    assert replay.variants("torch.ones", {"api": "torch.ones", "args": [{"k": "int", "v": 3}], "kwargs": {}}) == ["recorded"]


def _c_order(shape, itemsize=1):
    return [itemsize * int(np.prod(shape[i + 1:])) for i in range(len(shape))]


def _scrambling(real):
    """An op as a backend that reads a non-contiguous input's storage in C order, whatever its strides
    (mindtorch_v2 master's elementwise ops, softmax and .to(dtype) on transposed inputs)."""
    import torch

    def as_if_contiguous(x):
        if not isinstance(x, torch.Tensor) or x.is_contiguous():
            return x
        return torch.as_strided(x, x.shape, _c_order(list(x.shape)), x.storage_offset())

    return lambda *args, **kwargs: real(*[as_if_contiguous(a) for a in args], **kwargs)


def test_an_elementwise_op_scrambled_on_transposed_inputs_fails_its_own_row(ops_recorded, monkeypatch):
    import torch
    import torch.nn.functional as F

    rec = Recording(ops_recorded)
    calls = _calls(rec, "torch.nn.functional.softmax")
    oracle = replay.isolated(Context(torch), rec, calls, reference=True)
    monkeypatch.setattr(F, "softmax", _scrambling(F.softmax))
    target = replay.isolated(Context(torch), rec, calls, reference=False)
    differ = {o["variant"] for o, t in zip(oracle["calls"], target["calls"]) if o != t}
    assert differ == {"transposed", "stepped"}, differ     # its recorded input is C-ordered: only variants show it


def test_torch_tensor_of_a_strided_array_that_ignores_the_strides_fails_its_row(ops_recorded, monkeypatch):
    import torch

    rec = Recording(ops_recorded)
    calls = _calls(rec, "torch.tensor")
    oracle = replay.isolated(Context(torch), rec, calls, reference=True)
    real = torch.tensor

    def ignoring_strides(a, **kwargs):     # reads the array's memory in C order (mindtorch_v2 master)
        if isinstance(a, np.ndarray) and not a.flags.c_contiguous:
            a = np.lib.stride_tricks.as_strided(a, a.shape, _c_order(a.shape, a.itemsize))
        return real(a, **kwargs)
    monkeypatch.setattr(torch, "tensor", ignoring_strides)
    target = replay.isolated(Context(torch), rec, calls, reference=False)
    differ = {o["variant"] for o, t in zip(oracle["calls"], target["calls"]) if o != t}
    assert differ == {"recorded", "stepped"}, differ        # a.T as recorded, and a stepped array


def test_inputs_a_scrambling_from_numpy_builds_wrong_are_built_around_it(ops_recorded, monkeypatch):
    """A from_numpy that reads a strided array in C order (mindtorch_v2 master) would block every row with a
    transposed input; the kit builds it with as_strided over the flat storage instead, and says so."""
    import torch

    rec = Recording(ops_recorded)
    real = torch.from_numpy

    def scrambling(a):
        t = real(np.ascontiguousarray(a))
        return t if a.flags.c_contiguous else t.view(-1).as_strided(a.shape, [s // a.itemsize for s in a.strides])
    monkeypatch.setattr(torch, "from_numpy", scrambling)
    calls = _calls(rec, "torch.nn.functional.softmax")
    ctx = Context(torch)
    obs = replay.isolated(ctx, rec, calls, reference=False)
    assert all(i["observed"] == i["expected"] for i in ctx.inputs)
    assert ctx.around and ctx.around[0].startswith("torch.from_numpy: ") and "as_strided" in ctx.around[0]
    monkeypatch.setattr(torch, "from_numpy", real)
    assert obs == replay.isolated(Context(torch), rec, calls, reference=True)


def test_the_chain_lists_every_divergence_in_order_and_blames_the_first(recorded, monkeypatch):
    import torch
    import torch.nn.functional as F

    rec = Recording(recorded)
    real_gelu, real_linear = F.gelu, F.linear
    monkeypatch.setattr(F, "gelu", lambda x, approximate="none": real_gelu(x, approximate=approximate) * 1.01)
    # wrong only on a strided input: the second linear (line 11), fed a slice of a later view
    monkeypatch.setattr(F, "linear", lambda x, w, b=None: real_linear(x, w, b) * (1.0 if x.is_contiguous() else -1.0))
    ctx = Context(torch)
    obs = replay.chained(ctx, rec, rec.calls, reference=False)
    listed = ctx.display["diverging_calls"]
    assert [(d["api"], d["at"]) for d in listed] == [("torch.nn.functional.gelu", f"my_script.py:{GELU_LINE}"),
                                                     ("torch.nn.functional.linear", "my_script.py:11")]
    assert ctx.display["n_diverging"] == 2 and [d["call"] for d in listed] == sorted(d["call"] for d in listed)
    assert obs["first_divergence"]["api"] == ctx.cause["api"] == "torch.nn.functional.gelu"
    where = ctx.display["where"]
    assert where.startswith(f"first divergence: call {listed[0]['call']} torch.nn.functional.gelu at my_script.py:{GELU_LINE}")
    assert "then 1 more: torch.nn.functional.linear at my_script.py:11 (values)" in where
    assert "2 divergences" in ctx.cause["evidence"]


def test_right_values_in_other_strides_go_on_as_the_target_made_them(recorded, monkeypatch):
    """A stride-only divergence (transpose handing back a contiguous copy) is listed, and the target's own
    value goes on: what later calls make of that layout is what the target's forward pass would see."""
    import torch

    rec = Recording(recorded)
    real = torch.Tensor.transpose
    monkeypatch.setattr(torch.Tensor, "transpose", lambda self, *a: real(self, *a).clone(memory_format=torch.contiguous_format))
    ctx = Context(torch)
    replay.chained(ctx, rec, rec.calls, reference=False)
    (only,) = ctx.display["diverging_calls"]
    assert only["api"] == "Tensor.transpose" and only["kind"] == "stride" and only["at"] == "my_script.py:8"
    assert only["stand_in"].startswith("none: the target's value")


def test_where_line_counts_a_divergence_repeated_layer_after_layer_once():
    d = [{"call": i, "api": api, "at": at, "kind": "values", "detail": "d"} for i, (api, at) in
         enumerate([("a", "f.py:1"), ("b", "f.py:2"), ("c", "f.py:3"), ("b", "f.py:2")])]
    assert replay.where_line(d) == "first divergence: call 0 a at f.py:1: d; then 3 more: b at f.py:2 (values) x2, c at f.py:3 (values)"


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
    assert {"replay[albert-Tensor.reshape-float32-4d]", "replay[gpt2-chained]", "replay[gpt2-masked-chained]",
            "replay[albert-Tensor.__radd__-float32-3d]", "replay[bert-torch.tensor-int64-2d]"} <= ids


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
        # the chain went on past it: every divergence listed in call order, the first one first
        listed = chain["observed"]["display"]["diverging_calls"]
        assert listed[0]["call"] == first["call"] and [d["call"] for d in listed] == sorted(d["call"] for d in listed)
        assert chain["observed"]["display"]["n_diverging"] == len(listed) > 1, model
    # the first diverging op of a chain diverges in isolation too, as a row of its own API
    contains = cases["replay[albert-Tensor.__contains__-int64-2d]"]
    assert contains["outcome"] in ("MISSING", "FAIL") and contains["cause"]["api"] == "Tensor.__contains__"
    assert json.dumps(cases).count('"outcome": "ERROR"') == 0
