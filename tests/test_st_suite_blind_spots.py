"""The catalog rows added for what safetensors' own tests found and no row did (conformance/st_suite.py's
mapping, docs/st-suite.md): ``t[i] = <tensor>`` (``setitem_tensor_value``) and ``torch.complex``
(``factory_complex``) in catalog/user_tensors.py.

Real torch passes them; pyborch, which cannot store a one-element tensor into an element, fails that row for
Tensor.__setitem__ and passes the 0-d one; mindtorch_v2 master (when its sources are found) fails the same
rows as safetensors' test_complex does, and torch.complex for its dtype.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.backends import BackendError, declared, find_sources
from conformance.registry import load_catalog

ROOT = Path(__file__).resolve().parent.parent
SELECT = "setitem_tensor_value or factory_complex"
ENV_VAR = declared("mindtorch_v2").sources.env


def _run(target: str, report: Path, cache: Path, env: dict | None = None) -> dict[str, dict]:
    cmd = [sys.executable, "-m", "conformance", "run", "--target", target, "--report-dir", str(report),
           "--oracle-cache", str(cache), "--skip-snippet-check", "-k", SELECT]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    path = report / "results.json"
    assert path.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return {c["id"]: c for c in json.loads(path.read_text())["cases"]}


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("oracle-cache")


def test_ids_are_stable():
    ids = {c.id for c in load_catalog().values() if c.id.split("[")[0] in ("setitem_tensor_value", "factory_complex")}
    assert {"setitem_tensor_value[complex64-1-element]", "setitem_tensor_value[float32-0d]",
            "setitem_tensor_value[bfloat16-1-element]", "factory_complex[float32]"} <= ids
    assert len(ids) == 19


def test_real_torch_passes_and_pyborch_fails_the_one_element_value(cache, tmp_path):
    torch_rows = _run("torch", tmp_path / "torch", cache)
    assert len(torch_rows) == 19
    assert {i for i, c in torch_rows.items() if c["outcome"] != "PASS"} == set()
    rows = _run("pyborch", tmp_path / "pyborch", cache)
    one, zero = rows["setitem_tensor_value[float32-1-element]"], rows["setitem_tensor_value[float32-0d]"]
    assert (one["raw_outcome"], one["cause"]["api"]) == ("FAIL", "Tensor.__setitem__"), one["summary"]
    assert zero["raw_outcome"] == "PASS", zero["summary"]


def _master() -> str | None:
    try:
        src = find_sources("mindtorch_v2")
    except BackendError:
        return None
    return None if (Path(src) / "mindtorch_v2" / "_torch_proxy.py").exists() else src


MASTER = _master()


@pytest.mark.skipif(MASTER is None, reason=f"mindtorch_v2 master sources not found: set {ENV_VAR}=/path/to/mindnlp/src "
                    "(a checkout without mindtorch_v2/_torch_proxy.py) to check these rows on master")
def test_mindtorch_master_fails_what_safetensors_test_complex_found(cache, tmp_path):
    rows = _run("mindtorch_v2", tmp_path / "mt", cache, env={**os.environ, ENV_VAR: MASTER})
    got = {i: (rows[i]["raw_outcome"], rows[i]["cause"]["api"]) for i in
           ("setitem_tensor_value[complex64-1-element]", "setitem_tensor_value[float32-1-element]",
            "factory_complex[float32]")}
    assert got == {"setitem_tensor_value[complex64-1-element]": ("FAIL", "Tensor.__setitem__"),
                   "setitem_tensor_value[float32-1-element]": ("FAIL", "Tensor.__setitem__"),
                   "factory_complex[float32]": ("FAIL", "torch.complex")}
    assert any(d["path"] == "value.dtype" for d in rows["factory_complex[float32]"]["diffs"])
