"""Issue 20's cheats, one test each: a target that tries to pass the gate without being conformant (real torch by
another way in, the oracle's own answers) or to forge the run's results. Each is caught: the run refuses to
start with one line naming what the target did, or the rows it touched are ERROR or FAIL naming it; never a
PASS, and the kit's files are unchanged. The targets are in tests/cheats/ (see its README); the symlink, the
execv'd worker and the tampering with the cache and expectations are in tests/test_sandbox.py.

They run as a backend not built on PyTorch is run (no --target-uses-torch), in the sandbox (bubblewrap).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conformance import sandbox
from conformance.backends.base import real_torch_dir
from kitrun import REPO, file_state, kit_env

CHEATS = REPO / "tests" / "cheats"
INT8 = "frombuffer and int8"
FRESH = "import_safetensors_torch"         # the cases that run their code in a fresh process of the target

pytestmark = pytest.mark.skipif(sandbox.engine_version() is None,
                                reason="bubblewrap cannot make namespaces here: apt-get install bubblewrap")


def run(cwd: Path, report: Path, cache: Path, target: str, select: str, **env: str) -> tuple[int, str, dict | None]:
    e = kit_env(CHEAT_TORCH_DIR=real_torch_dir() or "", **env)
    e.pop("CONFORMANCE_TARGET_USES_TORCH")          # what a backend not built on torch gets
    e["PYTHONPATH"] = os.pathsep.join([str(CHEATS), e["PYTHONPATH"]])
    p = subprocess.run([sys.executable, "-m", "conformance", "run", "--target", target, "--report-dir", str(report),
                        "--oracle-cache", str(cache), "-k", select], cwd=cwd, env=e, capture_output=True, text=True,
                       timeout=600)
    path = report / "results.json"
    return p.returncode, p.stdout + p.stderr, json.loads(path.read_text()) if path.is_file() else None


def passes(results: dict | None) -> list[str]:
    return [c["id"] for c in (results or {}).get("cases", []) if c["outcome"] == "PASS"]


def refused(code: int, out: str, results: dict | None, names: str) -> None:
    """The run did not start, and said why in one line that names what the target did."""
    assert code == 4 and not passes(results), out[-3000:]
    lines = [line for line in out.splitlines() if "could not start" in line and names in line]
    assert lines, out[-3000:]
    assert "Traceback" not in out, out[-3000:]


@pytest.fixture
def kit_files(oracle):
    """The oracle cache's files, which no cheat may change."""
    yield
    assert file_state(oracle.records) == oracle.records_state
    assert file_state(oracle.meta) == oracle.meta_state


@pytest.mark.parametrize("cheat, names", [
    # real torch imported by path through importlib's machinery, after the worker's import watch is switched off
    ("cheat_import_by_path", "no real torch to import by path"),
    ("cheat_ctypes_libtorch", "could not load libtorch_cpu.so with ctypes"),
    # a real-torch Python found on disk (this one included), asked to answer every case
    ("cheat_torch_subprocess", "no Python here can import real torch"),
    # fresh-process cases made to run --target torch, by rewriting the env they read at import
    ("cheat_target_args", "rewrote $CONFORMANCE_TARGET_ARGS while becoming `torch`"),
])
def test_a_cheat_that_reaches_for_real_torch_cannot_start(tmp_path, oracle, kit_files, cheat, names):
    refused(*run(REPO, tmp_path / "report", oracle.cache, f"module:{cheat}", f"{INT8} or {FRESH}"), names)


def test_env_rewritten_during_a_case_is_an_error_naming_it(tmp_path, oracle, kit_files):
    code, out, results = run(REPO, tmp_path / "report", oracle.cache, "module:cheat_target_args", FRESH,
                             CHEAT_WHEN="case")
    rows = (results or {}).get("cases", [])
    assert rows and all(r["outcome"] == "ERROR" and "rewrote $CONFORMANCE_TARGET_ARGS during this case" in r["summary"]
                        for r in rows), out[-3000:]


def _honest_run_first(tmp_path: Path, oracle) -> tuple[Path, Path]:
    """A report folder under the working directory (where the sandbox binds the runner's folder, read-only),
    holding a previous run's results: results.json carries the oracle's observation of every case."""
    cwd, report = tmp_path / "work", tmp_path / "work" / "report"
    cwd.mkdir()
    code, out, results = run(cwd, report, oracle.cache, "pyborch", INT8)
    assert results and all(r["oracle"] is not None for r in results["cases"]), out[-3000:]
    return cwd, report


def test_a_target_answering_with_the_oracles_records_cannot_start(tmp_path, oracle, kit_files):
    # it patches the worker's run_case to return what it can read of the oracle: the cache (hidden) and the
    # previous run's results in the report folder (hidden too; it won, 7 PASS, while that folder was readable)
    cwd, report = _honest_run_first(tmp_path, oracle)
    refused(*run(cwd, report, oracle.cache, "module:cheat_oracle_records", INT8, CHEAT_ORACLE_CACHE=str(oracle.cache),
                 CHEAT_REPORT_DIR=str(report)), "no oracle records readable")


def test_a_target_cannot_replace_the_runs_results(tmp_path, oracle, kit_files):
    cwd, report = _honest_run_first(tmp_path, oracle)
    code, out, results = run(cwd, report, oracle.cache, "module:cheat_replace_results", INT8,
                             CHEAT_REPORT_DIR=str(report))
    assert results and not passes(results), out[-3000:]
    for name in ("results.json", "results.jsonl"):
        assert "forged" not in (report / name).read_text(), name
    kept = [json.loads(line)["id"] for line in (report / "results.jsonl").read_text().splitlines()]
    assert sorted(kept) == sorted(c["id"] for c in results["cases"])
