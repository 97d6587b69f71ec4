"""safetensors' own tests run under a target through `python -m conformance.st_suite` (conformance/st_suite.py):
a few of them under real torch (they pass) and under pyborch (they fail, each with its exception line and the
test's own line), the way a user runs them: exec's activation and sandbox, the tests from safetensors' sdist.

No test downloads anything: the sdist must be given or already in the kit's cache, else this is skipped.
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conformance import st_suite

ROOT = Path(__file__).resolve().parent.parent
VERSION = importlib.metadata.version("safetensors")
SDIST = os.environ.get("CONFORMANCE_SAFETENSORS_SDIST")
CACHED = (st_suite.cache_root() / VERSION / st_suite.MARKER).is_file()

pytestmark = pytest.mark.skipif(
    not (SDIST or CACHED),
    reason=f"safetensors {VERSION}'s own tests are not here offline: run `python -m conformance.st_suite --target "
           f"torch` once (it downloads the sdist through pip into {st_suite.cache_root()}), or set "
           f"CONFORMANCE_SAFETENSORS_SDIST=/path/to/safetensors-{VERSION}.tar.gz")

SELECT = ["--file", "test_pt_model.py", "-k", "find_shared_tensors or is_complete"]
TESTS = {"TorchModelTestCase::test_find_shared_tensors", "TorchModelTestCase::test_is_complete"}


def _suite(target: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path / f"{target}.json"
    cmd = [sys.executable, "-m", "conformance.st_suite", "--target", target, "--offline", "--json", str(out), *SELECT]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc, json.loads(out.read_text())


def _tests(res: dict) -> dict[str, dict]:
    (f,) = res["files"]
    assert f["name"] == "test_pt_model.py"
    return {t["nodeid"].split("::", 1)[1]: t for t in f["tests"]}


def test_real_torch_passes_them(tmp_path):
    proc, res = _suite("torch", tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert res["hello"]["torch"] == "torch"
    assert {n: t["outcome"] for n, t in _tests(res).items()} == {n: "passed" for n in TESTS}
    assert "test_pt_model.py                 2       2       0        0" in proc.stdout


def test_pyborch_fails_them_with_each_exception_line(tmp_path):
    proc, res = _suite("pyborch", tmp_path)
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert res["hello"]["torch"] == "borch"        # import torch meant pyborch inside the tests
    tests = _tests(res)
    assert {n: t["outcome"] for n, t in tests.items()} == {n: "failed" for n in TESTS}
    # pyborch 1.14.1's storages never share: _find_shared_tensors finds no group
    shared = tests["TorchModelTestCase::test_find_shared_tensors"]
    shown_as = {"AssertionError: Lists differ: [] != [{'A', 'B'}]", "AssertionError: Lists differ: [] != [{'B', 'A'}]"}
    assert shared["message"] in shown_as            # a set's order follows the hash seed
    assert st_suite.where(shared, []).startswith(
        'test_pt_model.py:76: self.assertEqual(_find_shared_tensors({"A": A, "B": B}), [{"A", "B"}])')
    assert "  test_pt_model.py::TorchModelTestCase::test_find_shared_tensors" in proc.stdout.splitlines()
    assert {f"      {m}" for m in shown_as} & set(proc.stdout.splitlines())
