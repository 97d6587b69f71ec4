"""Deterministic tensor inputs, described as data and built from raw bytes.

A ``TensorInput`` is built in a backend by ``torch.from_numpy`` (plus ``Tensor.view(dtype)`` for
dtypes numpy lacks) and then the listed view operations. The same operations applied to a numpy
array give the expected bytes, shape and strides, so every run can check that the input it gave a
case is the input the case meant (input sanity), independently of the oracle.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any

import numpy as np

from .dtypes import DTYPES, DType

# A view step: ("index", <tuple of ints/slices>) or ("transpose", d0, d1).
ViewOp = tuple


@dataclass(frozen=True)
class TensorInput:
    dtype: str
    shape: tuple[int, ...]
    bits: tuple[int, ...] = ()        # element bit patterns, cycled to fill the shape
    views: tuple[ViewOp, ...] = ()

    @property
    def spec(self) -> DType:
        return DTYPES[self.dtype]

    def raw(self) -> bytes:
        n = prod(self.shape)
        bits = self.bits or tuple(self.spec.value_sets["ordinary"])
        return self.spec.pack([bits[i % len(bits)] for i in range(n)])

    def numpy_base(self) -> np.ndarray:
        return np.frombuffer(bytearray(self.raw()), dtype=self.spec.storage_numpy).reshape(self.shape)

    def expected(self) -> dict[str, Any]:
        """What the built input must look like, computed with numpy alone."""
        arr = apply_views(self.numpy_base(), self.views, numpy=True)
        item = arr.itemsize
        return {"dtype": self.dtype, "shape": list(arr.shape),
                "stride": [s // item for s in arr.strides] if arr.size else None,
                "bytes": np.ascontiguousarray(arr).tobytes().hex()}

    def describe(self) -> str:
        v = "".join(_describe_view(op) for op in self.views)
        return f"{self.dtype}{list(self.shape)}{v}"


def apply_views(obj: Any, views: tuple[ViewOp, ...], numpy: bool) -> Any:
    for op in views:
        if op[0] == "index":
            obj = obj[op[1]]
        elif op[0] == "transpose":
            obj = obj.swapaxes(op[1], op[2]) if numpy else obj.transpose(op[1], op[2])
        else:
            raise ValueError(f"unknown view op {op!r}")
    return obj


def _describe_view(op: ViewOp) -> str:
    if op[0] == "transpose":
        return f".transpose({op[1]}, {op[2]})"
    parts = []
    for s in op[1]:
        if isinstance(s, slice):
            parts.append(":".join("" if x is None else str(x) for x in (s.start, s.stop))
                         + (f":{s.step}" if s.step not in (None, 1) else ""))
        else:
            parts.append(str(s))
    return "[" + ", ".join(parts) + "]"


def flip_low_bits(arr: np.ndarray) -> None:
    """Flip the lowest bit of every element of ``arr`` in place, whatever its strides: a write that
    every dtype sees, used to tell whether a tensor aliases the array it came from."""
    u = arr.view(np.dtype(f"<u{arr.itemsize}"))
    np.bitwise_xor(u, 1, out=u)


def special(dtype: str, shape: tuple[int, ...] = (), views: tuple[ViewOp, ...] = ()) -> TensorInput:
    """An input made of the dtype's special values (NaN payloads, -0.0, subnormals, ±inf, min/max)."""
    bits = tuple(DTYPES[dtype].value_sets["special"])
    return TensorInput(dtype, shape or (len(bits),), bits, views)


def ordinary(dtype: str, shape: tuple[int, ...], views: tuple[ViewOp, ...] = ()) -> TensorInput:
    return TensorInput(dtype, shape, (), views)
