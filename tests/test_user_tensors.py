"""Tensors as users make them (catalog/user_tensors.py) and what safetensors relies on around state dicts and
meta tensors (catalog/state_dicts.py).

* The catalog: every dtype safetensors saves is made by each factory torch has for it; ids are stable.
* The NaN test the bfloat16 rows rely on agrees with torch on every bit pattern.
* Real PyTorch against its own oracle: every row PASS; pyborch: a row blames the factory or conversion (or
  what built its input), never save, and a target that cannot make a meta tensor is BLOCKED, never PASS.
* mindtorch_v2 master (when its sources are found): the rows name what issue 18 found wrong there.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conformance.backends import BackendError, declared, find_sources
from conformance.catalog import state_dicts, user_tensors as ut
from conformance.dtypes import DTYPE_NAMES, DTYPES
from conformance.registry import load_catalog

ENV_VAR = declared("mindtorch_v2").sources.env

ROOT = Path(__file__).resolve().parent.parent
SELECT = "user_tensors or state_dicts"
SAVE_APIS = {"safetensors.torch.save", "safetensors.torch.save_file", ut.SAVERS}


def _cases(name: str) -> dict:
    return {c.id: c for c in load_catalog().values() if c.id.split("[")[0] == name}


def _dtypes(name: str) -> set[str]:
    return {c.params.values["dtype"] for c in _cases(name).values()}


def test_every_dtype_is_made_by_each_factory_torch_has_for_it():
    makeable = set(DTYPE_NAMES) - {"float4_e2m1fn_x2"}     # torch has zeros only for it
    assert _dtypes("factory_zeros") == set(DTYPE_NAMES)
    for name in ("factory_tensor", "factory_ones", "conversion_float", "conversion_bfloat16", "setitem_python_float",
                 "loaded_tolist", "loaded_item", "loaded_float"):
        assert _dtypes(name) == makeable, name
    full = _cases("factory_full")
    assert {c.params.values["dtype"] for c in full.values()} == makeable
    assert {i for i in full if i.endswith("-neg-inf]")} == {f"factory_full[{d}-neg-inf]" for d in ut.WITH_INF}
    to = _cases("conversion_to")
    assert {c.params.values["dtype"] for c in to.values() if c.params.values["source"] == "float32"} == makeable
    assert set(ut.ARANGE) == _dtypes("factory_arange") and set(ut.RAND) == _dtypes("factory_rand")


def test_ids_and_declarations_are_stable():
    cases = load_catalog()
    for cid in ("factory_ones[bfloat16]", "factory_full[bfloat16-neg-third]", "factory_full[float32-neg-inf]",
                "factory_tensor[float8_e4m3fn]", "factory_arange[int8]", "factory_rand[bfloat16]",
                "conversion_to[float32-to-float8_e4m3fn-special]", "conversion_to[bfloat16-to-float8_e5m2-ordinary]",
                "conversion_float[float8_e5m2]", "conversion_bfloat16[float32]", "setitem_python_float[bfloat16]",
                "loaded_tolist[bfloat16]", "loaded_item[float8_e4m3fn]", "loaded_float[uint64]",
                "load_state_dict_copies[linear-float32]", "load_state_dict_keys[tied-first-name-non-strict]",
                "load_state_dict_result[mismatch-non-strict]", "save_meta[float32-2x3]", "save_file_meta[bfloat16-2x3]",
                "meta_to[meta-to-cpu]", "meta_storage_data_ptr[parameter]"):
        assert cid in cases, cid
    mine = [c for c in cases.values() if c.module in ("user_tensors", "state_dicts")]
    assert len(mine) > 250
    for c in mine:
        assert c.api and c.origin and c.doc, c.id
    # every row that saves what it made reads the files through save/save_file: they never fail the factory
    for c in mine:
        if c.module == "user_tensors" and not c.id.startswith("loaded_"):
            assert c.reads == {"written": ut.SAVERS}, c.id
    assert {c.api for c in mine if c.module == "state_dicts"} == {
        state_dicts.LOAD_STATE_DICT, "safetensors.torch.save", "safetensors.torch.save_file", "Tensor.to",
        "UntypedStorage.data_ptr"}


def _bits_of(dtype: str, values: list[int]) -> torch.Tensor:
    carrier = getattr(torch, DTYPES[dtype].carrier)
    size = DTYPES[dtype].itemsize
    raw = b"".join(v.to_bytes(size, "little") for v in values)
    return torch.frombuffer(bytearray(raw), dtype=carrier).view(getattr(torch, dtype))


@pytest.mark.parametrize("dtype", list(ut.FLOATS) + [ut.E8M0, "complex64"])
def test_is_nan_agrees_with_torch(dtype):
    size = DTYPES[dtype].itemsize
    if size <= 2:
        patterns = list(range(1 << (8 * size)))
    else:                         # every class of pattern: around each special exponent, both signs
        base = [0x7FC00000, 0x7F800000, 0x7F800001, 0x7FFFFFFF, 0x3F800000, 0x00000001, 0x7F7FFFFF]
        if dtype == "float64":
            base = [0x7FF8000000000000, 0x7FF0000000000000, 0x7FF0000000000001, 0x7FFFFFFFFFFFFFFF,
                    0x3FF0000000000000, 0x1, 0x7FEFFFFFFFFFFFFF]
        sign = 1 << (8 * size - 1) if dtype != "complex64" else 1 << 31
        patterns = base + [b | sign for b in base]
        if dtype == "complex64":
            patterns = [re | (im << 32) for re in patterns for im in patterns[:4] + [0x3F800000]]
    t = _bits_of(dtype, patterns)
    nan = t.isnan().tolist() if dtype == "complex64" else t.float().isnan().tolist()
    assert [ut.is_nan(dtype, b) for b in patterns] == nan


def test_no_nan_is_converted_to_bfloat16():
    """torch writes 0xFFFF or 0x7FC0 for it depending on size and CPU: such bytes are no oracle."""
    for c in _cases("conversion_to").values():
        if c.params.values["dtype"] == "bfloat16":
            assert not any(ut.is_nan(c.params.values["source"], b) for b in c.params.values["bits"]), c.id
    src = [v for v in ut._TO_VALUES["float"]["special"] if not math.isnan(v)]
    assert src, "the special float32 values keep their other edges"


# -- runs ---------------------------------------------------------------------------------------------

def _run(target: str, report: Path, cache: Path, env: dict | None = None) -> dict:
    cmd = [sys.executable, "-m", "conformance", "run", "--target", target, "--report-dir", str(report),
           "--oracle-cache", str(cache), "-k", SELECT]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1200, env=env)
    path = report / "results.json"
    assert path.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def oracle_cache(tmp_path_factory) -> Path:
    """Recorded by the first run of this module (the oracle against itself, below)."""
    return tmp_path_factory.mktemp("oracle-cache")


def test_oracle_against_itself_passes_every_row(oracle_cache, tmp_path):
    res = _run("torch", tmp_path / "torch", oracle_cache)
    assert res["run"]["cases_run"] == len([c for c in load_catalog().values()
                                           if c.module in ("user_tensors", "state_dicts")])
    bad = {c["id"]: c["summary"] for c in res["cases"] if c["outcome"] != "PASS"}
    assert not bad, bad


def _never_blames_save(res: dict) -> None:
    for c in res["cases"]:
        cause = c.get("cause") or {}
        if c["module"] == "user_tensors" and cause.get("api") in SAVE_APIS:
            assert c["raw_outcome"] == "BLOCKED" and cause["phase"] != "call", c["id"]
        if c["raw_outcome"] == "FAIL":
            assert cause.get("phase") == "call", c["id"]


def test_pyborch_rows_blame_what_made_the_tensor(oracle_cache, tmp_path):
    res = _run("pyborch", tmp_path / "pyborch", oracle_cache)
    assert res["run"]["target_env"]["module"] == "borch"
    by_id = {c["id"]: c for c in res["cases"]}
    _never_blames_save(res)
    # pyborch cannot make a meta tensor at all: its NotImplementedError is not the one save must raise
    for cid in ("save_meta[float32-2x3]", "save_file_meta[float32-2x3]", "meta_to[meta-to-cpu]"):
        assert by_id[cid]["raw_outcome"] == "BLOCKED", by_id[cid]["summary"]
        assert by_id[cid]["cause"]["api"] == state_dicts.META_EMPTY
    # a float32 factory pyborch gets right passes, files included
    assert by_id["factory_ones[float32]"]["raw_outcome"] == "PASS"


def _master_sources() -> str | None:
    try:
        src = find_sources("mindtorch_v2")
    except BackendError:
        return None
    return None if (Path(src) / "mindtorch_v2" / "_torch_proxy.py").exists() else src


MASTER = _master_sources()


@pytest.mark.skipif(MASTER is None, reason=f"mindtorch_v2 master sources not found: set {ENV_VAR}=/path/to/mindnlp/src "
                    "(a checkout without mindtorch_v2/_torch_proxy.py) to check issue 18's verdicts on master")
def test_mindtorch_master_rows_name_what_is_wrong(oracle_cache, tmp_path):
    env = {**__import__("os").environ, ENV_VAR: MASTER}
    res = _run("mindtorch_v2", tmp_path / "mt", oracle_cache, env=env)
    by_id = {c["id"]: c for c in res["cases"]}
    _never_blames_save(res)
    fails = {   # issue 18: integer-cast factories, setitem and read-backs of bfloat16; aliasing, tied keys, meta
        "factory_ones[bfloat16]": "torch.ones", "factory_full[bfloat16-neg-third]": "torch.full",
        "factory_tensor[bfloat16]": "torch.tensor", "factory_tensor[float8_e4m3fn]": "torch.tensor",
        "setitem_python_float[bfloat16]": "Tensor.__setitem__",
        "loaded_tolist[bfloat16]": "Tensor.tolist", "loaded_item[bfloat16]": "Tensor.item",
        "loaded_float[bfloat16]": "Tensor.__float__",
        "load_state_dict_copies[linear-float32]": state_dicts.LOAD_STATE_DICT,
        "load_state_dict_keys[tied-first-name-non-strict]": state_dicts.LOAD_STATE_DICT,
        "load_state_dict_result[mismatch-non-strict]": state_dicts.LOAD_STATE_DICT,
        "meta_to[meta-to-cpu]": "Tensor.to", "meta_storage_data_ptr[float32]": "UntypedStorage.data_ptr",
    }
    got = {cid: (by_id[cid]["raw_outcome"], by_id[cid]["cause"]["api"]) for cid in fails}
    assert got == {cid: ("FAIL", api) for cid, api in fails.items()}
    # a tensor master makes right, whose file alone differs (master's save lacks Tensor.layout): save's, not the factory's
    assert (by_id["conversion_bfloat16[float32]"]["raw_outcome"], by_id["conversion_bfloat16[float32]"]["cause"]["api"]) \
        == ("BLOCKED", ut.SAVERS)
    # the copies: filling the source after load_state_dict changed the parameters
    diffs = by_id["load_state_dict_copies[linear-float32]"]["diffs"]
    assert any(d["path"].startswith("value.after_source_write") for d in diffs)
    # saving a meta tensor never passes; what stops it is named, and it is not save itself
    for cid in ("save_meta[float32-2x3]", "save_file_meta[float32-2x3]"):
        row = by_id[cid]
        assert row["raw_outcome"] in ("FAIL", "MISSING", "BLOCKED") and row["cause"]["api"] not in SAVE_APIS
    # the read-back rows were judged although master's load_file cannot load: they reached around it
    assert by_id["loaded_item[bfloat16]"]["reached_around"]
