"""safetensors end to end (catalog/st_entrypoints.py), with two safetensors versions.

* The kit's torch-free writer produces the very bytes safetensors writes (so load cases read the same
  file in every process, whoever would have written it).
* The oracle against itself: every entry-point and matrix case PASSes (SKIP only where this safetensors
  lacks the entry point), also across processes with different hash seeds.
* pyborch: its outcomes per case are the recorded ones (tests/st_e2e_pyborch_outcomes.json), and the
  loading matrix builds, blaming pyborch for no cell where the oracle itself fails.

0.8.0 is the installed safetensors; 0.4.5 comes from `pip install --no-deps --target` into a shared tmp
folder put first on PYTHONPATH (tests/_st_versions.py).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from _st_versions import ROOT, env_for, installed_version, safetensors_dir

from conformance.compare import judge
from conformance.render import loading_matrix
from records import judged

VERSIONS = ["0.8.0", "0.4.5"]
SNAPSHOT = Path(__file__).with_name("st_e2e_pyborch_outcomes.json")
SELECT = "st_entrypoints"


def run_kit(target: str, report: Path, cache: Path, env: dict, *extra: str):
    cmd = [sys.executable, "-m", "conformance", "run", "--target", target, "--report-dir", str(report),
           "--oracle-cache", str(cache), "-k", SELECT, *extra]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    path = report / "results.json"
    assert path.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc, json.loads(path.read_text())


def _version_dir(tmp_path_factory, version):
    if version != installed_version() and version != "0.4.5":
        pytest.skip(f"safetensors {version} is neither installed nor fetched by these tests")
    return safetensors_dir(tmp_path_factory, version)


# -- the torch-free writer --------------------------------------------------------------------------

_WRITER_CHECK = r"""
import json, numpy as np, torch
import safetensors, safetensors.numpy as snp, safetensors.torch as stt
from conformance.catalog._st_support import st_bytes
from conformance.dtypes import DTYPES
from conformance.inputs import TensorInput
bad = []
def raw(d, shape):
    return TensorInput(d, shape, tuple(DTYPES[d].value_sets["special"])).raw()
def t(d, shape):
    r = raw(d, shape)
    return torch.frombuffer(bytearray(r), dtype=getattr(torch, d)).reshape(shape) if r else torch.empty(shape, dtype=getattr(torch, d))
for d in DTYPES:
    for shape in [(2, 3), (), (0,)]:
        try:
            ref = stt.save({"x": t(d, shape)}, metadata={"format": "pt"})
        except BaseException:   # incl. pyo3's PanicException (0.6/0.7, 0-d F4)
            continue       # this safetensors cannot save the dtype: nothing to compare
        if st_bytes([("x", d, shape, raw(d, shape))], {"format": "pt"}) != ref:
            bad.append(f"{d}{list(shape)}")
mixed = [("w", "float32", (2, 2)), ("b", "int16", (3,)), ("m", "bool", (4,)), ("a", "float64", (1,)), ("c", "float32", (0,))]
ref = snp.save({n: np.frombuffer(raw(d, s), dtype=DTYPES[d].numpy).reshape(s) for n, d, s in mixed})
if st_bytes([(n, d, s, raw(d, s)) for n, d, s in mixed]) != ref:
    bad.append("mixed")
print(json.dumps({"version": safetensors.__version__, "bad": bad}))
"""


@pytest.mark.parametrize("version", VERSIONS)
def test_kit_writer_is_byte_identical_to_safetensors(version, tmp_path_factory):
    proc = subprocess.run([sys.executable, "-c", _WRITER_CHECK], cwd=ROOT, capture_output=True, text=True,
                          env=env_for(_version_dir(tmp_path_factory, version)), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got == {"version": version, "bad": []}


# -- oracle and pyborch, per safetensors version --------------------------------------------------------

@pytest.fixture(scope="module")
def snapshot():
    return json.loads(SNAPSHOT.read_text())


def _matrix_checks(results, version):
    m = loading_matrix.build(results)
    assert len(m["dtypes"]) >= 16 and m["paths"] == loading_matrix.PATHS
    for row in m["cells"].values():
        for cell in row.values():
            if cell["oracle_fails"]:
                assert cell["status"] == "ORACLE-FAILS" and "fails under oracle too" in cell["label"]
            if version != "0.8.0" and cell["case"].startswith("load_path[load_file-pread"):
                assert cell["status"] == "N/A"
    md = loading_matrix.markdown(m)
    assert md.count("\n| ") == len(m["dtypes"]) + 1
    return m


@pytest.mark.parametrize("version", VERSIONS)
def test_entry_points_oracle_and_pyborch(version, tmp_path, tmp_path_factory, snapshot):
    st_dir = _version_dir(tmp_path_factory, version)
    cache = tmp_path / "oracle-cache"

    # oracle against itself (records the oracle cache for this safetensors version on the way)
    proc, res = run_kit("torch", tmp_path / "oracle", cache, env_for(st_dir, PYTHONHASHSEED="1"))
    assert res["run"]["oracle"]["safetensors"] == version
    assert res["run"]["target_env"]["safetensors"] == version
    assert any(p.name.startswith("torch-") and f"_st-{version}_" in p.name for p in cache.iterdir())
    bad = {c["id"]: c["summary"] for c in res["cases"] if c["outcome"] not in ("PASS", "SKIP")}
    assert not bad, bad
    for c in res["cases"]:
        if c["outcome"] == "SKIP":
            assert "not in this safetensors version" in c["summary"], c
    assert res["run"]["cases_run"] > 200
    if version == "0.8.0":
        assert not any(c["outcome"] == "SKIP" for c in res["cases"])
    oracle_matrix = _matrix_checks(res, version)
    assert set(oracle_matrix["counts"]) <= {"PASS", "ORACLE-FAILS", "N/A"}
    assert (tmp_path / "oracle" / "loading-matrix.md").is_file()

    if version == "0.8.0":
        # the same, judged by a process with another hash seed against the cached oracle records
        proc, res2 = run_kit("torch", tmp_path / "oracle-seed2", cache, env_for(st_dir, PYTHONHASHSEED="2"))
        assert {c["outcome"] for c in res2["cases"]} == {"PASS"}, proc.stdout[-2000:]

    # pyborch: stable outcomes, case by case
    proc, res = run_kit("pyborch", tmp_path / "pyborch", cache, env_for(st_dir, PYTHONHASHSEED="3"))
    assert res["run"]["target_env"]["module"] == "borch" and res["run"]["target_env"]["safetensors"] == version
    got = {c["id"]: c["raw_outcome"] for c in res["cases"]}
    want = snapshot[version]
    changed = {k: (want.get(k), got.get(k)) for k in sorted(set(got) | set(want)) if want.get(k) != got.get(k)}
    assert not changed, f"pyborch outcomes changed (recorded, now): {changed}"
    _matrix_checks(res, version)


# -- units ----------------------------------------------------------------------------------------

def test_judge_skips_what_this_safetensors_lacks():
    oracle = {"value": {"unsupported_in_this_safetensors": "load_file(backend='pread')"}}
    v = judge(oracle, {"obs": oracle})
    assert v.outcome == "SKIP" and "not in this safetensors version" in v.summary


def _rec(cid, raw, oracle, observed, diffs=()):
    return judged({"id": cid, "outcome": raw, "raw_outcome": raw, "summary": "", "oracle": oracle,
                   "observed": observed, "diffs": list(diffs)})


def test_loading_matrix_cells():
    t = {"dtype": "float32", "shape": [2, 3], "stride": [3, 1], "bytes": "00"}
    results = {"run": {"target": "x", "target_env": {"safetensors": "0.8.0"}}, "cases": [
        _rec("load_path[load-float32]", "PASS", {"value": {"t": t}}, {"value": {"t": t}}),
        _rec("load_path[load_file-mmap-float32]", "MISSING", {"value": {"t": t}},
             {"raises": "AttributeError", "message": "module 'borch' has no attribute '__version__'"}),
        _rec("load_path[load_file-pread-float32]", "FAIL", {"value": {"t": t}}, {"value": {"t": {**t, "bytes": "01"}}},
             [{"path": "value.t.bytes", "kind": "bytes"}]),
        _rec("load_path[safe_open-pt-float32]", "FAIL", {"value": {"t": t}},
             {"raises": "RuntimeError", "type": "builtins.RuntimeError"}),
        _rec("load_path[safe_open-numpy-float32]", "FAIL", {"raises": "TypeError", "type": "builtins.TypeError"},
             {"value": {"t": t}}),
        _rec("load_path[load-bfloat16]", "SKIP", {"value": {"unsupported_in_this_safetensors": "x"}}, None),
        _rec("load_path[load_file-mmap-uint16]", "MISSING", {"value": {"t": t}}, {"dtype_absent": "uint16"}),
        _rec("frombuffer[float32-special]", "PASS", {}, {}),
    ]}
    m = loading_matrix.build(results)
    assert m["dtypes"] == ["float32", "bfloat16", "uint16"]
    row = m["cells"]["float32"]
    assert row["load"]["label"] == "PASS"
    assert row["load_file-mmap"]["label"] == "MISSING torch.__version__"
    assert row["load_file-pread"]["label"] == "FAIL silently wrong (bytes)"
    assert row["safe_open-pt"]["label"] == "FAIL raised RuntimeError"
    assert row["safe_open-numpy"]["status"] == "ORACLE-FAILS" and row["safe_open-numpy"]["oracle_fails"]
    assert "fails under oracle too (TypeError" in row["safe_open-numpy"]["label"]
    assert m["cells"]["bfloat16"]["load"]["status"] == "N/A"
    assert m["cells"]["uint16"]["load_file-mmap"]["label"] == "MISSING torch.uint16"
    md = loading_matrix.markdown(m)
    assert "| float32 | PASS | MISSING torch.__version__ |" in md
