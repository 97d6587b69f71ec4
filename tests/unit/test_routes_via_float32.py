"""routes._via_float32, the builder route ``from_numpy(float32).to(dtype)``: an array of the input's shape for
every rank, 0-d included (a numpy scalar there made from_numpy refuse it, and the row blamed Tensor.to)."""
from __future__ import annotations

import numpy as np
import pytest

from conformance.dtypes import DTYPES
from conformance.routes import _from_float32, _via_float32


@pytest.mark.parametrize("name, bits, value", [("bfloat16", 0x3F80, 1.0), ("bfloat16", 0xC040, -3.0),
                                               ("float16", 0x3C00, 1.0), ("float16", 0xB800, -0.5)])
@pytest.mark.parametrize("shape", [(), (1,), (2, 3)])
def test_an_array_of_the_inputs_shape_holding_the_same_values(name, bits, value, shape):
    spec = DTYPES[name]
    base = np.full(shape, bits, dtype=np.uint16).view(spec.storage_numpy)
    out = _via_float32(spec, base)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == shape
    assert (out == value).all()


class _Torch:
    """Just enough of a torch for the route: from_numpy takes arrays only, as torch's does."""
    bfloat16 = "bfloat16"

    class _T:
        def __init__(self, a):
            self.a = a

        def to(self, dtype):
            return (self.a, dtype)

    @classmethod
    def from_numpy(cls, a):
        if not isinstance(a, np.ndarray):
            raise TypeError(f"expected np.ndarray (got {type(a).__name__})")
        return cls._T(a)


def test_the_route_builds_a_0d_input():
    spec = DTYPES["bfloat16"]
    a, dtype = _from_float32(_Torch, spec, np.array(0x3F80, dtype=np.uint16).view(spec.storage_numpy))
    assert a.shape == () and float(a) == 1.0 and dtype == "bfloat16"
