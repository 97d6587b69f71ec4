"""Every dtype safetensors knows, as bit patterns (conformance/dtypes.py)."""
from __future__ import annotations

import numpy as np
import pytest

from conformance.dtypes import DTYPE_NAMES, DTYPES

ST_CODES = {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL", "C64", "U16", "U32", "U64",
            "F8_E4M3", "F8_E5M2", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "F8_E8M0", "F4"}


def test_each_safetensors_code_once_and_names_in_table_order():
    assert {d.st_code for d in DTYPES.values()} == ST_CODES
    assert len(DTYPES) == len(ST_CODES)
    assert DTYPE_NAMES == list(DTYPES) and DTYPE_NAMES[:2] == ["float64", "float32"]
    assert all(name == d.name for name, d in DTYPES.items())
    assert {n for n, d in DTYPES.items() if d.optional} == {
        "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu", "float4_e2m1fn_x2"}


@pytest.mark.parametrize("name", DTYPE_NAMES)
def test_every_value_fits_its_itemsize_and_every_dtype_has_both_sets(name):
    d = DTYPES[name]
    assert set(d.value_sets) == {"ordinary", "special"}
    for bits in d.value_sets.values():
        assert bits and all(0 <= b < 1 << (8 * d.itemsize) for b in bits)
    assert np.dtype(d.carrier).itemsize == d.itemsize == d.storage_numpy.itemsize
    if d.numpy:
        assert np.dtype(d.numpy).itemsize == d.itemsize


def test_pack_writes_little_endian_bit_patterns():
    assert DTYPES["float32"].pack([0x3F800000]) == b"\x00\x00\x80\x3f"
    assert DTYPES["bfloat16"].pack([0x3F80, 0x0001]) == b"\x80\x3f\x01\x00"
    assert np.frombuffer(DTYPES["float32"].pack(DTYPES["float32"].value_sets["ordinary"]), "<f4")[1] == -2.5
    assert DTYPES["int8"].pack([]) == b""
    with pytest.raises(OverflowError):
        DTYPES["int8"].pack([0x100])


def test_special_values_hold_what_their_comments_say():
    f64 = np.frombuffer(DTYPES["float64"].pack(DTYPES["float64"].value_sets["special"]), "<f8")
    assert np.isnan(f64[0]) and np.isnan(f64[1]) and np.signbit(f64[2]) and f64[2] == 0
    assert f64[3] == np.finfo(np.float64).smallest_subnormal and np.isposinf(f64[4]) and np.isneginf(f64[5])
    assert f64[6] == np.finfo(np.float64).max
    f16 = np.frombuffer(DTYPES["float16"].pack(DTYPES["float16"].value_sets["special"]), "<f2")
    assert np.isnan(f16[0]) and np.isposinf(f16[4]) and f16[6] == np.finfo(np.float16).max
    c64 = np.frombuffer(DTYPES["complex64"].pack(DTYPES["complex64"].value_sets["ordinary"]), "<c8")
    assert list(c64) == [1 - 2.5j, 1j]
