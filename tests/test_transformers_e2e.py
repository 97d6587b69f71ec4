"""HuggingFace transformers end to end (catalog module ``transformers_e2e``), for a 4.x and a 5.x release.

No venv and no install at test time: 4.x is the installed release (the test extra pins it); 5.x is a
folder made with ``pip install --no-deps --target`` by ``tox -e selftest-versions`` (``$CONFORMANCE_TRANSFORMERS5_SITE``),
put first on PYTHONPATH of a kit run, and without it the 5.x tests are skipped. The tiny models are made by the first case that
needs them, in a real-torch subprocess, into a folder private to this test session.

Against the oracle every step of every model PASSes; against pyborch each model fails at a first
step whose record names the transformers/safetensors frame and the torch API, and every later step
is reported as blocked by it (or passes, where pyborch gets that far).
"""
from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from conformance.compare import judge
from conformance.dtypes import DTYPES
from conformance.observe import exception
from kitrun import once_per_session

ROOT = Path(__file__).resolve().parent.parent

# transformers and only what it needs beyond the kit's own environment (numpy, safetensors, pyyaml,
# regex, requests, filelock, packaging, fsspec, click are there already). Pinned: same bytes each run.
RELEASES = {
    "4": ["transformers==4.57.6", "huggingface_hub==0.36.2", "tokenizers==0.22.2", "tqdm==4.70.1"],
    "5": ["transformers==5.24.0", "huggingface_hub==1.33.0", "tokenizers==0.23.3", "tqdm==4.70.1",
          "httpx==0.28.1", "httpcore==1.0.9", "anyio==4.16.0"],
}
MODELS = ("albert", "bert", "gpt2")
STEPS = ("import", "config", "construct", "load", "weights", "forward", "roundtrip", "train")


def _env(tf_dir: Path, models: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "CONFORMANCE_")) and k != "PYTHONHASHSEED"}
    env["PYTHONPATH"] = os.pathsep.join([str(tf_dir), str(ROOT)]
                                        + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))
    # the mutant is real torch with two deviations: its sandbox keeps torch (--target-uses-torch)
    env.update({"CONFORMANCE_MODELS_DIR": str(models), "PYTHONHASHSEED": "0", "CONFORMANCE_TARGET_USES_TORCH": "1",
                "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    return env


# Real torch with two deviations only these cases see: Module.train(False) (what PreTrainedModel.eval()
# does) refuses GPT-2's LM model, and nn.functional.gelu (BERT's activation; ALBERT and GPT-2 use
# gelu_new) is 1% too large. Written at run time, not into tests/mutants/ (test_mutants owns that).
MUTANT = """
import sys

import torch
import torch.nn.functional as F

_train, _gelu = torch.nn.Module.train, F.gelu


def train(self, mode=True):
    if not mode and type(self).__name__ == "GPT2LMHeadModel":
        raise RuntimeError("mutant: train(False) refused")
    return _train(self, mode)


def gelu(x, approximate="none"):
    return _gelu(x, approximate=approximate) * 1.01


torch.nn.Module.train = train
F.gelu = gelu
sys.modules[__name__] = torch
"""
MUTANT_TARGET = "module:mutant_tf_e2e"


class Done:
    """What one release's runs left, readable by every xdist worker: (returncode, stdout tail, results)."""

    def __init__(self, info: dict):
        self.major, self.paths = info["major"], info["paths"]
        self._runs = info["runs"]

    def __getitem__(self, target: str):
        r = self._runs[target]
        return types.SimpleNamespace(returncode=r["returncode"], stdout=r["stdout"]), \
            json.loads(Path(r["results"]).read_text())


SITE_ENV = "CONFORMANCE_TRANSFORMERS5_SITE"     # a folder holding the 5.x release (RELEASES["5"])


def _site(major: str) -> Path | None:
    """Where the release is: 4.x is the installed one (the test extra); 5.x a folder ``tox -e
    selftest-versions`` fills. No test installs packages: without it the 5.x runs are skipped."""
    import importlib.metadata as md

    if major == "4":
        try:
            return None if md.version("transformers") == RELEASES["4"][0].split("==")[1] else _skip(major)
        except md.PackageNotFoundError:
            return _skip(major)
    folder = os.environ.get(SITE_ENV)
    if folder and list(Path(folder).glob(RELEASES["5"][0].replace("==", "-") + ".dist-info")):
        return Path(folder)
    return _skip(major)


def _skip(major: str):
    how = ("pip install torch==2.13.0 -e '.[test]' (it pins transformers 4.57.6)" if major == "4" else
           f"tox -e selftest-versions, or pip install --no-deps --target DIR {' '.join(RELEASES['5'])} "
           f"and set {SITE_ENV}=DIR")
    pytest.skip(f"transformers {major}.x is not installed for the tests: {how}")


def _prepare(major: str, base: Path, tf_dir: Path | None) -> dict:
    """Run the transformers cases of the release in ``tf_dir`` (None: the installed one) against the
    oracle (--target torch), pyborch and the mutant, sharing one oracle cache and one models folder."""
    base.mkdir(parents=True, exist_ok=True)
    (base / "mutants").mkdir()
    (base / "mutants" / "mutant_tf_e2e.py").write_text(MUTANT)
    env = _env(tf_dir, base / "models") if tf_dir else _env(base / "no-site", base / "models")
    env["PYTHONPATH"] += os.pathsep + str(base / "mutants")
    runs = {}
    for target in ("torch", "pyborch", MUTANT_TARGET):
        report = base / target.replace(":", "-")
        cmd = [sys.executable, "-m", "conformance", "run", "--target", target, "--oracle-cache", str(base / "oracle"),
               "--report-dir", str(report), "-k", "transformers_e2e", "-p", "no:hypothesispytest"]
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
        assert (report / "results.json").is_file(), proc.stdout[-4000:] + proc.stderr[-3000:]
        runs[target] = {"returncode": proc.returncode, "stdout": proc.stdout[-4000:], "results": str(report / "results.json")}
    return {"major": major, "runs": runs,
            "paths": [str(base), str(tf_dir or base), os.path.expanduser("~")]}


@pytest.fixture(scope="session", params=sorted(RELEASES), ids=lambda v: f"transformers-{v}")
def runs(request, tmp_path_factory) -> Done:
    """Prepared once per release for the whole session: under xdist, the first worker that needs a
    release prepares it under a file lock; the others wait and read what it left."""
    major = request.param
    site = _site(major)
    info = once_per_session(tmp_path_factory, f"transformers-e2e-{major}", lambda shared: _prepare(major, shared / "work", site))
    return Done(info)


def _cases(results) -> dict:
    return {c["id"]: c for c in results["cases"] if c["module"] == "transformers_e2e"}


def test_oracle_passes_every_step(runs):
    major = runs.major
    proc, results = runs["torch"]
    cases = _cases(results)
    assert set(cases) == {f"transformers[{m}-{s}]" for m in MODELS for s in STEPS}
    assert {i: c["outcome"] for i, c in cases.items() if c["outcome"] != "PASS"} == {}, proc.stdout[-3000:]
    assert proc.returncode == 0, proc.stdout[-3000:]
    v = {m: {s: cases[f"transformers[{m}-{s}]"]["oracle"]["value"] for s in STEPS} for m in MODELS}
    for m in MODELS:
        assert v[m]["import"]["transformers"].startswith(f"{major}.") and v[m]["import"]["is_torch_available"]
        assert v[m]["load"]["loading_info"]["missing_keys"] == v[m]["load"]["loading_info"]["unexpected_keys"] == []
        # every tensor of the files came back byte for byte; the rest is tied to one of them
        sd = v[m]["weights"]["state_dict"]
        assert sd and all(e.get("equals_file") is True or e.get("same_bytes_as") for e in sd.values()), sd
        assert v[m]["weights"]["file_tensors_not_in_state_dict"] == []
        # the forward pass is compared within the tolerance, and the record says how close it was
        outs = v[m]["forward"]["outputs"]
        assert outs and all("approx" in o and o["approx"]["dtype"] == "float32" for o in outs.values())
        assert "within tolerance" in cases[f"transformers[{m}-forward]"]["summary"]
    assert v["gpt2"]["weights"]["state_dict"]["lm_head.weight"]["same_bytes_as"] == "transformer.wte.weight"
    # BERT is sharded: the index and its three shards were loaded
    assert v["bert"]["weights"]["files"] == [f"model-0000{i}-of-00003.safetensors" for i in (1, 2, 3)]
    # which safetensors path transformers took: safe_open(framework="pt"), with backend="mmap" from 5.x on
    for m in MODELS:
        calls = v[m]["load"]["safetensors_calls"]
        assert calls and all(c["fn"] == "safetensors.safe_open" and c["kwargs"]["framework"] == "pt" for c in calls)
        assert all(("backend" in c["kwargs"]) == (major == "5") for c in calls), calls
        in_files = sum(1 for e in v[m]["weights"]["state_dict"].values() if e.get("equals_file"))
        assert sum(c["methods"].get("get_slice", 0) + c["methods"].get("get_tensor", 0) for c in calls) >= in_files
    opened = {c["file"] for c in v["bert"]["load"]["safetensors_calls"]}
    assert opened == set(v["bert"]["weights"]["files"])


def test_pyborch_fails_step_by_step_with_the_first_failing_frame(runs):
    proc, results = runs["pyborch"]
    cases = _cases(results)
    assert len(cases) == len(MODELS) * len(STEPS)
    for m in MODELS:
        outcomes = [cases[f"transformers[{m}-{s}]"]["outcome"] for s in STEPS]
        first = next((i for i, o in enumerate(outcomes) if o != "PASS"), None)
        if first is None:
            continue       # pyborch got all the way: nothing to explain
        failing = cases[f"transformers[{m}-{STEPS[first]}]"]
        assert failing["outcome"] in {"FAIL", "MISSING", "BLOCKED", "ERROR"}, failing
        if STEPS[first] == "import" and "value.is_torch_available: oracle True, target False" in failing["summary"]:
            # the user's world: pyborch presents no torch distribution, so transformers finds no torch
            later = cases[f"transformers[{m}-construct]"]
            assert "requires the PyTorch library" in later["summary"], later["summary"]
            continue
        shown = failing["observed"]["display"]
        assert shown["step"] == STEPS[first]
        assert shown["caller"]["file"].startswith(("transformers/", "safetensors/", "conformance/")), shown
        assert shown["caller"]["line"] > 0 and shown["torch_api"], shown
        assert shown["where"] in failing["summary"]
        for s in STEPS[first + 1:]:
            later = cases[f"transformers[{m}-{s}]"]
            # blocked by the same torch API as the first failing step (or failing in that step, when its cause
            # is the step's own call)
            assert later["outcome"] in ("FAIL", "BLOCKED"), later
            assert later["cause"]["api"] == failing["cause"]["api"] or failing["cause"]["phase"] == "call", later
            assert f"blocked: step '{STEPS[first]}' failed" in later["summary"], later["summary"]
            assert later["observed"]["display"]["blocked_by"] == f"{m}-{STEPS[first]}"
    assert proc.returncode != 0 or all(c["outcome"] == "PASS" for c in cases.values())


def test_a_mutant_fails_at_the_step_and_frame_it_breaks(runs):
    """Deeper than import: GPT-2 blocked at the step that calls Module.train(False), named with its
    transformers frame; BERT's outputs outside the tolerance, with the largest differences, blamed on the first
    diverging call of its forward pass (gelu); ALBERT passes."""
    proc, results = runs[MUTANT_TARGET]
    cases = _cases(results)
    assert all(cases[f"transformers[albert-{s}]"]["outcome"] == "PASS" for s in STEPS)
    # BERT's outputs differ, and the row names the first call of its forward pass that diverges: the mutated gelu
    bert_outcomes = [cases[f"transformers[bert-{s}]"]["outcome"] for s in STEPS]
    # saving is untouched by gelu (PASS); the training step's loss and updates stay within the tolerance
    assert bert_outcomes[:7] == ["PASS"] * 5 + ["BLOCKED", "PASS"], bert_outcomes
    bert = cases["transformers[bert-forward]"]
    assert bert["cause"]["api"] == "torch.nn.functional.gelu" and bert["cause"]["phase"] == "chain", bert["cause"]
    assert "transformers/activations.py:" in bert["cause"]["evidence"], bert["cause"]
    approx = [d for d in bert["diffs"] if d.get("kind") == "approx"]
    assert approx and all(d["n_outside"] > 0 and float(d["max_rel_diff"]) > 1e-4 for d in approx), bert["diffs"]
    assert "values outside {'rtol': 0.0001, 'atol': 1e-05}" in bert["summary"]
    gpt2 = [cases[f"transformers[gpt2-{s}]"] for s in STEPS]
    first = next(i for i, c in enumerate(gpt2) if c["outcome"] != "PASS")
    assert STEPS[first] in ("construct", "load"), [c["outcome"] for c in gpt2]
    shown = gpt2[first]["observed"]["display"]
    # the step is BLOCKED by the torch API that failed inside transformers, and that API is named
    assert gpt2[first]["outcome"] == "BLOCKED" and gpt2[first]["observed"]["raises"] == "RuntimeError"
    assert gpt2[first]["cause"] == {**gpt2[first]["cause"], "api": "torch.nn.Module.train", "phase": "chain"}
    assert shown["torch_api"] == "torch.nn.Module.train", shown
    assert shown["caller"]["file"] == "transformers/modeling_utils.py" and "train" in shown["caller"]["function"]
    assert shown["backend_frame"]["module"] == "mutant_tf_e2e" and shown["backend_frame"]["function"] == "train"
    for c in gpt2[first + 1:]:
        assert c["outcome"] == "BLOCKED" and f"blocked: step '{STEPS[first]}' failed" in c["summary"]
        assert c["cause"]["api"] == "torch.nn.Module.train"
    assert proc.returncode == 1


def test_no_absolute_paths_or_addresses_in_observations(runs):
    for target in ("torch", "pyborch", MUTANT_TARGET):
        for c in _cases(runs[target][1]).values():
            text = json.dumps([c["oracle"], c["observed"]])
            for p in runs.paths:
                assert p not in text, (c["id"], p)
            assert not re.search(r"0x[0-9a-f]{8,}>", text), c["id"]     # no reprs with addresses


# -- the framework pieces, without transformers ----------------------------------------------------------

def _approx(*values: float, dtype="float64", shape=None) -> dict:
    raw = np.asarray(values, dtype=np.dtype(DTYPES[dtype].numpy).newbyteorder("<")).tobytes()
    return {"value": {"out": {"approx": {"dtype": dtype, "shape": shape or [len(values)], "bytes": raw.hex()}}}}


def test_approx_values_are_compared_within_the_declared_tolerance_only():
    tol = {"rtol": 1e-4, "atol": 1e-5}
    oracle = _approx(1.0, -2.0, 0.0, math.nan, math.inf)
    close = _approx(1.00005, -2.0001, 5e-6, math.nan, math.inf)
    v = judge(oracle, {"obs": close}, tol)
    assert v.outcome == "PASS" and "largest absolute difference 0.0001" in v.summary and "out" in v.summary
    assert judge(oracle, {"obs": close}).outcome == "FAIL"                  # no tolerance declared: exact
    assert judge(oracle, {"obs": oracle}).outcome == "PASS"
    far = _approx(1.0, -2.0, 2e-5, math.nan, math.inf)
    v = judge(oracle, {"obs": far}, tol)
    assert v.outcome == "FAIL"
    (d,) = v.diffs
    assert d["kind"] == "approx" and d["first_index"] == 2 and d["n_outside"] == 1 and float(d["max_abs_diff"]) == 2e-5
    assert "1 of 5 values outside" in v.summary
    for bad in (_approx(1.0, -2.0, 0.0, 0.0, math.inf), _approx(1.0, -2.0, 0.0, math.nan, -math.inf)):
        assert judge(oracle, {"obs": bad}, tol).outcome == "FAIL"          # NaN and infinities: exact
    assert judge(oracle, {"obs": _approx(1.0, -2.0, 0.0, math.nan, math.inf, dtype="float32")}, tol).outcome == "FAIL"
    assert judge(oracle, {"obs": _approx(1.0, -2.0, 0.0, math.nan, math.inf, shape=[5, 1])}, tol).outcome == "FAIL"
    assert judge(oracle, {"obs": _approx(1.0, -2.0, 0.0, math.nan)}, tol).outcome == "FAIL"


def test_environment_unsupported_is_skip_and_display_is_never_compared():
    from conformance.catalog import transformers_e2e as tfe

    skip = {"value": tfe.NOT_INSTALLED}
    assert judge(skip, {"obs": skip}).outcome == "SKIP"
    assert judge(skip, {"obs": {"raises": "ImportError", "message": "x"}}).outcome == "SKIP"
    e = RuntimeError("blocked: step 'import' failed: ...")
    e.display = {"where": "step import at transformers/x.py:3 calling torch.foo", "caller": {"line": 3}}
    obs = exception(e)
    other = {**obs, "display": {"where": "elsewhere", "caller": {"line": 4}}}
    assert judge(obs, {"obs": other}).outcome == "PASS"
    v = judge({"value": 1}, {"obs": obs})
    assert v.outcome == "FAIL" and v.summary.endswith("[step import at transformers/x.py:3 calling torch.foo]")


def test_not_installed_is_observed_without_importing_anything(monkeypatch):
    import importlib.util

    from conformance.catalog import transformers_e2e as tfe

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "transformers" else real(n, *a))
    for s in STEPS:
        assert tfe._run(None, None, "albert", s) == tfe.NOT_INSTALLED


def test_first_failing_frame_is_the_deepest_transformers_frame_calling_the_backend():
    """A fake transformers module calling into a fake backend: the caller frame, the backend frame, the API."""
    from conformance.catalog.transformers_e2e import describe_failure

    backend = types.ModuleType("fakebackend")
    exec(compile("class Tensor:\n    def copy_(self, other):\n        raise TypeError('no copy_ for you')\n",
                 "/abs/fakebackend/tensor.py", "exec"), {"__name__": "fakebackend.tensor"}, backend.__dict__)
    backend.__name__ = "fakebackend"
    tf_globals = {"__name__": "transformers.modeling_fake"}
    exec(compile("def load(t, src):\n    helper = t\n    return helper.copy_(src)\n"
                 "def outer(t):\n    return load(t, 1)\n", "/abs/transformers/modeling_fake.py", "exec"), tf_globals)
    try:
        tf_globals["outer"](backend.Tensor())
    except TypeError as e:
        shown = describe_failure(e, backend, "load")
    assert shown["caller"] == {"module": "transformers.modeling_fake", "file": "transformers/modeling_fake.py",
                               "line": 3, "function": "load", "code": ""}
    assert shown["backend_frame"]["function"] == "Tensor.copy_" and shown["backend_frame"]["line"] == 3
    assert shown["torch_api"] == "torch.Tensor.copy_"
    assert shown["where"].startswith("step load at transformers/modeling_fake.py:3 (load) calling torch.Tensor.copy_")
    assert "/abs/" not in json.dumps(shown)

    # an attribute the backend lacks, reached from transformers, surfacing through `raise ... from`
    fake_torch = types.ModuleType("fakebackend")
    fake_torch.nn = types.ModuleType("fakebackend.nn")
    g = {"__name__": "transformers.utils.fake", "torch": fake_torch}
    exec(compile("def f():\n    return torch.nn.Parameter\n"
                 "def lazy():\n    try:\n        f()\n    except Exception as e:\n"
                 "        raise ModuleNotFoundError('Could not import module') from e\n",
                 "/abs/transformers/utils/fake.py", "exec"), g)
    try:
        g["lazy"]()
    except ModuleNotFoundError as e:
        shown = describe_failure(e, fake_torch, "import")
    assert shown["torch_api"] == "torch.nn.Parameter"
    assert shown["caller"]["function"] == "f" and shown["caller"]["line"] == 2
    assert shown["error"].startswith("AttributeError: module 'fakebackend.nn' has no attribute 'Parameter'")
    assert "surfacing as ModuleNotFoundError" in shown["error"]
