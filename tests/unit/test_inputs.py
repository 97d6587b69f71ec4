"""Inputs built from bit patterns, with the layout numpy says they must have (conformance/inputs.py)."""
from __future__ import annotations

import numpy as np
import pytest

from conformance import inputs
from conformance.dtypes import DTYPES


def test_bits_are_cycled_to_fill_the_shape():
    t = inputs.TensorInput("int16", (2, 3), (1, 2))
    assert t.raw() == DTYPES["int16"].pack([1, 2, 1, 2, 1, 2])
    assert inputs.ordinary("int8", (4,)).raw() == bytes([0, 1, 0xFF, 0])
    assert inputs.TensorInput("float32", (0,)).raw() == b""


def test_special_inputs_hold_every_special_value_once():
    s = inputs.special("float16")
    assert s.shape == (len(DTYPES["float16"].value_sets["special"]),)
    assert s.raw() == DTYPES["float16"].pack(DTYPES["float16"].value_sets["special"])


def test_expected_layout_after_views_is_numpys():
    t = inputs.TensorInput("int32", (2, 3), (1, 2, 3, 4, 5, 6), (("transpose", 0, 1),))
    e = t.expected()
    assert e["shape"] == [3, 2] and e["stride"] == [1, 3] and e["dtype"] == "int32"
    assert bytes.fromhex(e["bytes"]) == np.array([[1, 4], [2, 5], [3, 6]], "<i4").tobytes()
    sliced = inputs.TensorInput("int64", (6,), tuple(range(6)), (("index", (slice(1, None, 2),)),)).expected()
    assert sliced["shape"] == [3] and sliced["stride"] == [2]
    assert bytes.fromhex(sliced["bytes"]) == np.array([1, 3, 5], "<i8").tobytes()
    assert inputs.TensorInput("int8", (0, 2)).expected()["stride"] is None, "an empty tensor has no strides to hold"


def test_a_dtype_numpy_lacks_is_laid_out_by_its_size():
    e = inputs.TensorInput("bfloat16", (2,), (0x3F80, 0xC020)).expected()
    assert e["bytes"] == "803f20c0" and e["stride"] == [1]


def test_views_are_described_as_python_spells_them():
    views = (("index", (slice(None, None), 1, slice(1, 5, 2))), ("transpose", 0, 1))
    assert inputs.TensorInput("uint8", (2, 3, 6), (), views).describe() == "uint8[2, 3, 6][:, 1, 1:5:2].transpose(0, 1)"


def test_an_unknown_view_is_refused():
    with pytest.raises(ValueError, match="unknown view op"):
        inputs.apply_views(np.zeros(2), (("rotate", 1),), numpy=True)


def test_flip_low_bits_writes_through_any_strides():
    a = np.arange(6, dtype="<u2").reshape(2, 3)
    view = a.T
    inputs.flip_low_bits(view)
    assert a.tolist() == [[1, 0, 3], [2, 5, 4]]
    f = np.array([1.0], "<f4")
    inputs.flip_low_bits(f)
    assert f.view("<u4")[0] == 0x3F800001
