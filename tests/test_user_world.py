"""The user's world, not the kit's (issue 22): rows say what a user of the backend would see.

- Observations are keyed by everything they depend on: replay rows run with transformers and then without it,
  against one oracle cache, are SKIP the second time (never FAIL against the first run's records).
- Route probes are bounded and complete: a target that hangs in one builder for one dtype still runs every
  case, the hang recorded as TIMEOUT in run.routes; a reader that changes its input is refused.
- Kit code in the target tolerates any shape of backend (``Tensor.stride`` a tuple, ``torch.dtype`` a
  function); safe_open rows do not import ``safetensors.torch``.
- "A fix unblocks N" counts the rows whose only cause is that item: fixing one deviation of a mutant with two
  makes exactly those rows pass.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kitrun import MUTANTS, REPO, Run, kit_env

HERE = Path(__file__).parent
HOSTILE = HERE / "hostile"
HAS_TRANSFORMERS = importlib.util.find_spec("transformers") is not None
needs_transformers = pytest.mark.skipif(not HAS_TRANSFORMERS, reason="transformers not installed "
                                        "(pip install transformers==4.57.6 huggingface_hub==0.36.2 tokenizers==0.22.2)")


def run(target: str, report_dir: Path, cache: Path, *args: str, path: tuple[Path, ...] = (),
        timeout: float = 900) -> Run:
    """The kit as a user runs it, with ``path`` first on PYTHONPATH (a stub dir, a hostile target)."""
    env = kit_env(PYTHONHASHSEED="0")
    env["PYTHONPATH"] = os.pathsep.join([*map(str, path), str(HOSTILE), env["PYTHONPATH"]])
    cmd = [sys.executable, "-m", "pytest", "conformance/catalog", "-p", "no:cacheprovider", "-p", "no:hypothesispytest",
           "--target", target, "--oracle-cache", str(cache), "-q", "--report-dir", str(report_dir), *args]
    p = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    return Run(p.returncode, p.stdout, p.stderr, report_dir)


# -- 1. observations keyed by everything they depend on ---------------------------------------------------

# A few replay rows of one model: an isolated call, the attributes, the chained forward pass.
REPLAY_ROWS = "replay and albert and (chained or torch-attributes or Tensor.add-float32)"


@needs_transformers
def test_replay_rows_with_and_then_without_transformers_share_one_cache(tmp_path):
    cache = tmp_path / "oracle"
    first = run("torch", tmp_path / "with", cache, "-k", REPLAY_ROWS)
    rows = first.cases
    assert len(rows) >= 3 and all(r["outcome"] == "PASS" for r in rows.values()), \
        {i: (r["outcome"], r["summary"]) for i, r in rows.items()}
    # The same machine without an importable transformers: its metadata stays (what a shadowing stub, a
    # half-removed install or a sandbox leaves), so only "is it importable" tells the two apart.
    hide = tmp_path / "no_transformers"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text("import sys\nsys.modules['transformers'] = None   # import fails\n")
    second = run("torch", tmp_path / "without", cache, "-k", REPLAY_ROWS, path=(hide,))
    after = second.cases
    assert set(after) == set(rows)
    bad = {i: (r["outcome"], r["summary"]) for i, r in after.items() if r["outcome"] != "SKIP"}
    assert not bad, f"rows judged against the other environment's records: {bad}"
    assert all("transformers not installed" in r["summary"] for r in after.values()), \
        {i: r["summary"] for i, r in after.items()}


def test_either_side_lacking_the_environment_is_skip_not_fail():
    from conformance.compare import judge
    from conformance.observe import NOT_IN_THIS_ENVIRONMENT

    recorded = {"value": {"result": [1, 2]}, "display": {"recording": "aaaa"}}
    lacks = {"obs": {"value": {NOT_IN_THIS_ENVIRONMENT: "transformers not installed"}}}
    v = judge(recorded, lacks, api="Tensor.add")
    assert (v.outcome, v.cause) == ("SKIP", None) and "transformers not installed" in v.summary
    v = judge(lacks["obs"], {"obs": recorded}, api="Tensor.add")
    assert v.outcome == "SKIP" and "transformers not installed" in v.summary


def test_a_replay_row_is_keyed_by_its_recording(tmp_path, monkeypatch):
    """A record made from another recording is recorded again; two observations of different recordings
    are never compared."""
    from conformance import oracle_cache
    from conformance.compare import judge
    from conformance.registry import load_catalog

    cases = load_catalog()
    cid = next(c for c in cases if c.startswith("replay[albert-") and c.endswith("-chained]"))
    other = next(c for c in cases if not c.startswith("replay["))
    folder = tmp_path / "rec"
    folder.mkdir()
    monkeypatch.setattr(oracle_cache, "recording_of", lambda case: folder if case.module == "replay" else None)
    (folder / "trace.json").write_text('{"calls": []}')
    from conformance.catalog.replay import recording_digest as trace_digest
    now = trace_digest(folder)
    records = {cid: {"value": 1, "display": {"recording": now}}, other: {"value": 1}}
    assert oracle_cache.stale_recordings(records, cases) == []
    (folder / "trace.json").write_text('{"calls": [1]}')      # the recording was made again, differently
    assert oracle_cache.stale_recordings(records, cases) == [cid]
    (folder / "trace.json").unlink()                         # or is gone
    assert oracle_cache.stale_recordings(records, cases) == [cid]
    v = judge({"value": 1, "display": {"recording": "aaaa"}}, {"obs": {"value": 1, "display": {"recording": "bbbb"}}})
    assert v.outcome == "ERROR" and "recording" in v.summary


def test_the_cache_key_covers_what_cases_observe_besides_torch(monkeypatch):
    from conformance import oracle_cache

    key = oracle_cache.cache_key("x")
    for dist in ("transformers", "tokenizers", "huggingface_hub"):
        assert set(key[dist]) == {"version", "importable"}, key
    monkeypatch.setitem(sys.modules, "tokenizers", None)       # present as metadata, not importable
    assert oracle_cache.cache_key("x") != key


# -- 3. route probes bounded and complete ---------------------------------------------------------------------

def test_a_target_that_hangs_in_one_builder_for_one_dtype_still_runs_every_case(tmp_path):
    rows = "float16 or int8"
    r = run("module:hostile_route_hang", tmp_path / "r", tmp_path / "oracle", "-k", rows, timeout=600)
    res = r.results
    assert not res["run"].get("gate_problems"), res["run"]["gate_problems"]
    cases = r.cases
    assert len(cases) > 50 and not [i for i, c in cases.items() if c["outcome"] == "ERROR"], r.output[-3000:]
    routes = res["run"]["routes"]
    assert routes["float16"]["refused_as"] == {"build frombuffer(dtype=).reshape": "TIMEOUT"}, routes["float16"]
    assert "from_numpy" in routes["float16"]["build"]          # the other candidates of that dtype still ran
    assert set(routes["int8"]["refused_as"].values()) == {"CRASH"}, routes["int8"]
    assert any("SIGSEGV" in f for f in routes["int8"]["refused"])
    assert routes["float32"]["build"][0] == "from_numpy" and "refused_as" not in routes["float32"]
    # the hang was only in the probe: the rows themselves are judged like torch's
    bad = {i: (c["outcome"], c["summary"][:200]) for i, c in cases.items() if c["outcome"] not in ("PASS", "SKIP")}
    assert not bad, bad


def test_a_reader_that_changes_its_input_is_refused(tmp_path):
    """contiguous() in place (paddle): a reader built on it would make every input contiguous before the API
    under test ran, so is_contiguous of a transposed input would read True."""
    r = run("module:hostile_inplace_contiguous", tmp_path / "r", tmp_path / "oracle", "-k", "is_contiguous and float32")
    routes = r.results["run"]["routes"]["float32"]
    assert routes["read"] and not any(n.startswith("contiguous()") for n in routes["read"]), routes
    assert routes["refused_as"]["read contiguous().numpy()"] == "CHANGES_INPUT"
    cases = r.cases
    assert cases["is_contiguous[float32-transposed]"]["outcome"] == "PASS", cases["is_contiguous[float32-transposed]"]
    bad = {i: (c["outcome"], c["summary"][:200]) for i, c in cases.items() if c["outcome"] != "PASS"}
    assert not bad, bad


def test_each_dtype_is_probed_through_every_carrier_the_target_has():
    """Without int16, float16 and bfloat16 are still probed (through uint16), and so is int16's own absence."""
    import types

    import torch

    from conformance.observe import Context
    from conformance.routes import probe

    no_int16 = types.ModuleType("torch")
    no_int16.__getattr__ = lambda name: (_ for _ in ()).throw(AttributeError(name)) if name == "int16" \
        else getattr(torch, name)
    routes = probe(no_int16, Context(no_int16, routes=None).dtype_name).describe()
    assert "int16" not in routes
    for dtype in ("bfloat16", "float16"):
        assert any("uint16" in b for b in routes[dtype]["build"]), routes[dtype]
        assert any("uint16" in x for x in routes[dtype]["read"]), routes[dtype]
    assert "bfloat16: not probed" not in str(routes)


# -- 4. kit code that tolerates any shape of backend ---------------------------------------------------------

def test_a_stride_that_is_a_tuple_is_an_observation_on_tensor_stride_not_a_blocked_encoder(tmp_path):
    r = run("module:mutant_stride_tuple", tmp_path / "r", tmp_path / "oracle", "-k", "api_kinds or view2torch",
            path=(MUTANTS / "user_world",))
    cases = r.cases
    red = {i: c for i, c in cases.items() if c["outcome"] not in ("PASS", "SKIP")}
    assert set(red) == {"stride_kind[float32-2x3]"}, {i: (c["outcome"], c["summary"][:200]) for i, c in red.items()}
    row = red["stride_kind[float32-2x3]"]
    assert row["outcome"] == "FAIL" and row["cause"]["api"] == "Tensor.stride" and row["cause"]["phase"] == "call"
    assert "Tensor.stride is a tuple, not a method" in row["summary"]


def test_dtype_and_device_that_are_functions_are_observations_on_their_rows(tmp_path):
    """The kit's own reads survive such a backend: what shows is the rows about the two classes, each a FAIL of
    its own call, and the dtype constants' rows (isinstance(dt, torch.dtype) raises), BLOCKED by torch.dtype
    alone (their constants are real torch's: fixing torch.dtype fixes them); nothing else, nothing on the kit."""
    r = run("module:mutant_dtype_device_functions", tmp_path / "r", tmp_path / "oracle", "-k", "api_kinds or view2torch",
            path=(MUTANTS / "user_world",))
    red = {i: c for i, c in r.cases.items() if c["outcome"] not in ("PASS", "SKIP")}
    assert {i.split("[")[0] for i in red} == {"dtype_kind", "device_kind", "dtype_object"}, sorted(red)
    causes = {i: (c["outcome"], c["cause"]["api"], c["cause"]["phase"]) for i, c in red.items()}
    for own in ("dtype", "device"):
        assert causes[f"{own}_kind[class]"] == ("FAIL", f"torch.{own}", "call"), causes
    constants = {i: c for i, c in red.items() if i.startswith("dtype_object[")}
    assert all(c["outcome"] == "BLOCKED" and c["cause"]["api"] == "torch.dtype" and c["cause"]["only_cause"]
               for c in constants.values()), {i: causes[i] for i in constants}
    assert "torch.dtype is a function, not a class" in red["dtype_kind[class]"]["summary"]


def test_the_encoder_reads_dtypes_strides_and_shapes_as_values():
    """In process, on a torch whose dtype is a function and whose Tensor.stride is a tuple."""
    import types

    import numpy as np
    import torch

    from conformance.observe import Context
    from conformance.shapes import is_dtype, strides

    odd = types.ModuleType("torch")
    odd.__getattr__ = lambda name: (lambda *a: None) if name == "dtype" else getattr(torch, name)

    class Strided:
        def __init__(self, t):
            self.t, self.stride, self.shape, self.dtype = t, tuple(t.stride()), t.shape, t.dtype

    assert is_dtype(odd, torch.float32) and not is_dtype(odd, "float32")
    assert strides(Strided(torch.zeros(2, 3))) == [3, 1]
    ctx = Context(odd)
    assert ctx.value(torch.float32) == {"dtype": "float32"}
    assert ctx.value([torch.int8, 3]) == [{"dtype": "int8"}, 3]
    assert ctx.value(torch.from_numpy(np.arange(3, dtype=np.int16)))["stride"] == [1]


def test_safe_open_rows_do_not_import_safetensors_torch(monkeypatch):
    """What a safe_open(framework="pt"|"numpy") user runs: their path must work where safetensors.torch
    cannot even be imported."""
    import torch

    from conformance.observe import Context
    from conformance.registry import load_catalog

    cases = load_catalog()
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)      # import safetensors.torch fails
    for cid in ("load_path[safe_open-pt-float32]", "load_path[safe_open-numpy-float32]",
                "load_no_writeback[safe_open-pt-write-into-loaded]"):
        obs = cases[cid].run(torch, Context(torch))
        assert isinstance(obs, dict) and "raises" not in obs, (cid, obs)
        assert obs.get("keys") == ["t"] or obs.get("unchanged_by_load") is True, (cid, obs)


# -- 6. honest unblock counts ----------------------------------------------------------------------------------

def test_a_fix_unblocks_exactly_the_rows_whose_only_cause_it_is(tmp_path):
    """A mutant with two deviations (frombuffer's bfloat16 bytes, torch.zeros of empty shapes giving float64), then
    the same backend with the first one fixed: the rows that turn green are exactly those whose record says
    the frombuffer fault is their only cause; rows that name it first but also meet the other stay red."""
    rows = "frombuffer or pread or load_multi or load_path or zeros"
    cache = tmp_path / "oracle"
    both = run("module:mutant_frombuffer_bf16_and_zeros", tmp_path / "both", cache, "-k", rows, path=(MUTANTS / "user_world",)).cases
    fixed = run("module:mutant_zeros_empty_float64", tmp_path / "fixed", cache, "-k", rows, path=(MUTANTS / "user_world",)).cases
    red = {i: c for i, c in both.items() if c["outcome"] not in ("PASS", "SKIP")}
    named = {i for i, c in red.items() if c["cause"]["api"] == "torch.frombuffer"}
    counted = {i for i in named if red[i]["cause"]["only_cause"]}
    turned_green = {i for i in red if fixed[i]["outcome"] in ("PASS", "SKIP")}
    assert counted == turned_green, {"counted, still red": sorted(counted - turned_green),
                                     "green, not counted": sorted(turned_green - counted)}
    assert named - counted, "no row names frombuffer first and also meets the other fault: the test shows nothing"
    assert all(fixed[i]["outcome"] not in ("PASS", "SKIP") for i in named - counted)
