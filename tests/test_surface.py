"""The traced torch surface of safetensors must be covered by the catalog.

``python -m conformance.surface`` runs every safetensors entry point on a recording torch (real torch
underneath) and lists each torch API touched. Every API in that inventory must map to a catalog case
(Case.api): directly (``Tensor.reshape``), through the explicit table COVERED_BY (an API checked by a
case named differently, each with why), or be in NOT_TORCH_API (not something a backend implements).
A new API in a new safetensors version, with no case, fails here.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from _st_versions import env_for, installed_version, safetensors_dir

from conformance.registry import load_catalog

# Inventory API -> catalog api that checks it, where the names differ.
COVERED_BY = {
    "torch.dtype": "torch.<dtype>",                   # dtype_object: isinstance(dt, torch.dtype)
    "dtype.__hash__": "torch.<dtype>",                # dtype_object: {dt: ...} dict lookup
    "dtype.__eq__": "torch.<dtype>",                  # dtype_object: equal_to_others (and the _SIZE lookup)
    "dtype.__str__": "Tensor.dtype",                  # dtype: str(dt) and its suffix, as _flatten writes it
    "device.__eq__": "torch.device",                  # device_compare: eq / ne / hash / dict lookup
    "device.__ne__": "torch.device",
    "device.__hash__": "torch.device",
    "device.type": "Tensor.device.type",
    "layout.__ne__": "Tensor.layout",                 # layout: ne_strided
    "torch.Tensor": "safetensors.torch.save",         # save_error[non-tensor]: isinstance(v, torch.Tensor)
    "torch.Tensor.__instancecheck__": "safetensors.torch.save",
    "torch.nn": "import safetensors.torch",           # read at import (torch.nn.Module annotations)
    "torch.nn.Module": "import safetensors.torch",    # import_safetensors_torch: nn_module_is_a_class
}

# Accesses that are not torch API a backend implements (each with the reason).
NOT_TORCH_API = {
    "torch.__spec__": "the import system's probe of sys.modules['torch'] (PyImport_Import, `import torch`)",
    "nn.Module.__class__": "model.__class__.__name__ in load_model's error message: every Python object has it",
}

_DTYPE_CONSTANT = re.compile(r"^torch\.(float|bfloat|int|uint|bool|complex)\w*$")


def _normalise(api: str) -> str:
    return re.sub(r"\(.*\)$", "", api)


def uncovered(inventory: dict) -> list[str]:
    apis = {c.api for c in load_catalog().values()}
    plain = apis | {_normalise(a) for a in apis}
    missing = []
    for api in inventory["apis"]:
        if api in NOT_TORCH_API:
            continue
        if api in plain or (_DTYPE_CONSTANT.match(api) and "torch.<dtype>" in apis):
            continue
        if COVERED_BY.get(api) in apis:
            continue
        if any(a.startswith(api + ".") for a in plain):     # torch.UntypedStorage <- torch.UntypedStorage.from_file
            continue
        missing.append(api)
    return missing


def trace(st_dir, tmp_path) -> dict:
    out = tmp_path / "surface.json"
    proc = subprocess.run([sys.executable, "-m", "conformance.surface", "--out", str(out)],
                          env=env_for(st_dir), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    return trace(None, tmp_path_factory.mktemp("surface"))


def test_inventory_is_what_safetensors_needs(inventory):
    assert inventory["safetensors"] == installed_version()
    apis = inventory["apis"]
    # The core of every version: the load and save paths, Python and Rust side.
    for api in ("torch.frombuffer", "torch.asarray", "torch.UntypedStorage.from_file", "UntypedStorage.__getitem__",
                "Tensor.view", "Tensor.reshape", "Tensor.data_ptr", "Tensor.untyped_storage", "UntypedStorage.nbytes",
                "nn.Module.state_dict", "nn.Module.load_state_dict", "torch.float32"):
        assert api in apis, api
    assert apis["torch.asarray"]["sides"] == ["rust"]
    assert "py" in apis["Tensor.untyped_storage"]["sides"]
    assert any(b.startswith("rust:safe_open.get_tensor") for b in apis["torch.asarray"]["blocks"])
    # safe_open(framework="numpy") never touches torch
    assert inventory["entry_points"]["safe_open(numpy)"]["apis"] == []
    # attributions name entry points the driver ran
    assert "load_file[mmap]" in apis["torch.UntypedStorage.from_file"]["entry_points"]
    assert "save" in apis["Tensor.is_contiguous"]["entry_points"]


def test_every_traced_api_has_a_catalog_case(inventory):
    missing = uncovered(inventory)
    assert not missing, (f"safetensors {inventory['safetensors']} uses torch APIs no catalog case covers: {missing}. "
                         "Add cases (or, for things that are not torch API, an entry in NOT_TORCH_API with a reason).")


def test_every_traced_api_has_a_catalog_case_in_safetensors_045(tmp_path_factory, tmp_path):
    inv = trace(safetensors_dir(tmp_path_factory, "0.4.5"), tmp_path)
    assert inv["safetensors"] == "0.4.5"
    assert "torch.zeros" not in inv["apis"]          # the pread route arrived in 0.8.0
    assert uncovered(inv) == []


def test_allow_list_entries_are_still_seen(inventory):
    """An allow-list entry the tracer no longer sees is stale."""
    assert set(NOT_TORCH_API) <= set(inventory["apis"])
