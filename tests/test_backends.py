"""Real second targets: pyborch (always, in CI) and mindtorch_v2 (when its sources are found)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.backends import BackendError, declared, find_sources as _find_sources
from conformance.registry import load_catalog

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ROOT / "backends"
ENV_VAR = declared("mindtorch_v2").sources.env


def find_sources(explicit: list[str]) -> str | None:
    return _find_sources("mindtorch_v2", explicit)


def run_gate(target: str, report_dir: Path, oracle_cache: Path, *extra: str, env: dict | None = None):
    cmd = [sys.executable, "-m", "conformance", "run", "--target", target, "--report-dir", str(report_dir),
           "--oracle-cache", str(oracle_cache), *extra]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=1200)
    results = json.loads((report_dir / "results.json").read_text()) if (report_dir / "results.json").exists() else None
    return proc, results


@pytest.fixture(scope="module")
def oracle_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("oracle-cache")


def test_pyborch_matches_its_checked_in_expectations(tmp_path, oracle_cache):
    proc, results = run_gate("pyborch", tmp_path / "r", oracle_cache,
                             "--expectations", str(BACKENDS / "pyborch" / "expectations.txt"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert results["run"]["target_env"]["module"] == "borch"
    assert results["run"]["target_env"]["uses_real_torch"] is False
    assert results["run"]["cases_run"] == results["run"]["cases_in_catalog"] > 0
    outcomes = set(results["run"]["counts"])
    assert outcomes <= {"PASS", "XFAIL", "SKIP"}, results["run"]["counts"]
    assert results["run"]["counts"]["PASS"] > 0 and results["run"]["counts"]["XFAIL"] > 0
    # A second target process took cases of the shared tail (the slow fresh-process cases and cases that declare
    # their cost, the replay rows) as it went, and the first the rest of them; everything else ran in the first;
    # each case once.
    catalog = load_catalog()
    slow_ids = {cid for cid, c in catalog.items() if c.slow}
    movable = slow_ids | {cid for cid, c in catalog.items() if c.seconds}
    in_lane = {c["id"] for c in results["cases"] if c["process"] == "main-slow#1"}
    assert slow_ids and in_lane and in_lane <= movable, sorted(in_lane - movable)[:5]
    assert {c["process"] for c in results["cases"] if c["id"] not in movable} == {"main#1"}
    assert len(results["cases"]) == len({c["id"] for c in results["cases"]})
    assert slow_ids <= in_lane, "the costliest go first, to the second process"
    # The tail is judged after the rest (the second process's share of it has run by then), costliest first.
    seq = {c["id"]: c["seq"] for c in results["cases"]}
    assert max(seq[c] for c in seq if c not in movable) < min(seq[c] for c in movable), "the tail comes last"
    cost = {cid: float("inf") if catalog[cid].slow else catalog[cid].seconds for cid in movable}
    by_seq = sorted(movable, key=seq.get)
    assert [cost[c] for c in by_seq] == sorted((cost[c] for c in by_seq), reverse=True)


def test_gate_fails_when_a_known_gap_is_forgotten_or_stale(tmp_path, oracle_cache):
    lines = (BACKENDS / "pyborch" / "expectations.txt").read_text().splitlines()
    # an id entry (a cause= entry decides rows by their cause, not by id)
    entries = [i for i, l in enumerate(lines) if l.strip() and not l.startswith(("#", "cause=", "include "))]
    forgotten = lines[entries[0]].split()[0]
    del lines[entries[0]]
    lines.append("no_such_case[anything]  FAIL  stale entry left behind")
    exp = tmp_path / "pyborch.txt"
    exp.write_text("\n".join(lines) + "\n")
    proc, results = run_gate("pyborch", tmp_path / "r", oracle_cache, "--expectations", str(exp))
    assert proc.returncode == 1
    by_id = {c["id"]: c for c in results["cases"]}
    if not forgotten.endswith("*"):
        assert by_id[forgotten]["outcome"] in {"FAIL", "MISSING", "CRASH", "TIMEOUT", "ERROR"}
    assert any("no_such_case[anything]" in p for p in results["run"]["gate_problems"])


def _mindtorch_src() -> str | None:
    try:
        return find_sources([])
    except BackendError:
        return None


MINDTORCH_SRC = _mindtorch_src()
# Sources with their own import hook (pull/2761) behave differently from master: their own file.
MINDTORCH_EXPECTATIONS = BACKENDS / "mindtorch_v2" / (
    "expectations-torch-proxy.txt" if MINDTORCH_SRC and (Path(MINDTORCH_SRC) / "mindtorch_v2" / "_torch_proxy.py").exists()
    else "expectations.txt")
needs_mindtorch = pytest.mark.skipif(
    MINDTORCH_SRC is None,
    reason=f"mindtorch_v2 sources not found: set {ENV_VAR}=/path/to/mindnlp/src (or check out mindnlp beside "
           "this repository as ../mindnlp) to run the mindtorch_v2 integration")


@needs_mindtorch
def test_mindtorch_v2_gate_passes_on_checked_in_expectations(tmp_path, oracle_cache):
    proc, results = run_gate("mindtorch_v2", tmp_path / "r", oracle_cache,
                             "--expectations", str(MINDTORCH_EXPECTATIONS))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert results["run"]["target_env"]["module"] == "mindtorch_v2"
    assert results["run"]["target_env"]["uses_real_torch"] is False


@needs_mindtorch
def test_mindtorch_v2_gate_fails_after_a_deliberate_regression(tmp_path, oracle_cache):
    """Copy the sources, make torch.empty ignore its dtype (it honours it today), and the gate must fail."""
    src = tmp_path / "src"
    shutil.copytree(Path(MINDTORCH_SRC) / "mindtorch_v2", src / "mindtorch_v2")
    init = src / "mindtorch_v2" / "__init__.py"
    init.write_text(init.read_text() + "\n\n_kit_empty = empty\n"
                    "def empty(*args, **kwargs):  # deliberate regression for the gate test\n"
                    "    kwargs.pop('dtype', None)\n"
                    "    return _kit_empty(*args, **kwargs)\n")
    env = {**os.environ, ENV_VAR: str(src)}
    proc, results = run_gate("mindtorch_v2", tmp_path / "r", oracle_cache,
                             "--expectations", str(MINDTORCH_EXPECTATIONS), env=env)
    assert proc.returncode == 1, proc.stdout[-2000:]
    failed = {c["id"] for c in results["cases"] if c["outcome"] == "FAIL"}
    assert "empty_zero_size[int64-0]" in failed


@pytest.mark.parametrize("wrong", ["root", "package"])
def test_a_backend_path_one_folder_off_gets_the_right_one(tmp_path, monkeypatch, wrong):
    """Pointing at the MindNLP checkout itself, or at mindtorch_v2/, names the folder meant (issue 22)."""
    src = tmp_path / "mindnlp" / "src"
    (src / "mindtorch_v2").mkdir(parents=True)
    (src / "mindtorch_v2" / "__init__.py").write_text("")
    monkeypatch.delenv(ENV_VAR, raising=False)
    given = tmp_path / "mindnlp" if wrong == "root" else src / "mindtorch_v2"
    with pytest.raises(BackendError) as e:
        find_sources([str(given)])
    assert f"point at {src}" in str(e.value) or f"point at its parent, {src}" in str(e.value), str(e.value)
    assert find_sources([str(src)]) == str(src.resolve())
