"""Every dtype safetensors knows, described without any backend.

Values are written as raw little-endian bit patterns, so an input never depends on a backend
converting a Python float (that conversion is itself under test).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class DType:
    name: str                 # attribute name on the torch module: torch.<name>
    st_code: str              # safetensors header code
    itemsize: int             # bytes per element (float4_e2m1fn_x2 packs two values in one byte)
    numpy: str | None         # numpy dtype with the same bytes, when numpy has one
    optional: bool = False    # only tested where the oracle has it
    value_sets: dict[str, list[int]] = field(default_factory=dict)  # name -> bit patterns

    @property
    def carrier(self) -> str:
        """Unsigned integer dtype name of the same size, used to read raw bytes through a view."""
        return {1: "uint8", 2: "int16", 4: "int32", 8: "int64"}[self.itemsize]

    @property
    def storage_numpy(self) -> np.dtype:
        """A numpy dtype with the same itemsize; used to compute expected layouts."""
        return np.dtype(self.numpy) if self.numpy else np.dtype(f"u{self.itemsize}")

    @property
    def numpy_float(self) -> np.dtype | None:
        """The little-endian numpy float dtype of the same bytes, or None: what a computed (approx) value of this
        dtype is observed and read back as (trace/replay.py, catalog/transformers_e2e.py, compare.py)."""
        if not self.numpy or np.dtype(self.numpy).kind != "f":
            return None
        return np.dtype(self.numpy).newbyteorder("<")

    def pack(self, bits: list[int]) -> bytes:
        return b"".join(int(b).to_bytes(self.itemsize, "little") for b in bits)


def _c64(*pairs: tuple[int, int]) -> list[int]:
    # complex64 = (real float32 bits, imaginary float32 bits) in one 8-byte little-endian word
    return [re | (im << 32) for re, im in pairs]


_F32 = {
    "ordinary": [0x3F800000, 0xC0200000, 0x3EAAAAAB, 0x47C35000],            # 1, -2.5, 1/3, 100000
    "special": [0x7FC00001, 0xFFC12345, 0x80000000, 0x00000001, 0x7F800000,  # NaN payloads, -0, min subnormal, +inf
                0xFF800000, 0x7F7FFFFF, 0x00800000],                           # -inf, max, min normal
}

DTYPES: dict[str, DType] = {d.name: d for d in [
    DType("float64", "F64", 8, "<f8", value_sets={
        "ordinary": [0x3FF0000000000000, 0xC004000000000000, 0x3FD5555555555555],
        "special": [0x7FF8000000000001, 0xFFF0000000000123, 0x8000000000000000, 0x0000000000000001,
                    0x7FF0000000000000, 0xFFF0000000000000, 0x7FEFFFFFFFFFFFFF]}),
    DType("float32", "F32", 4, "<f4", value_sets=_F32),
    DType("float16", "F16", 2, "<f2", value_sets={
        "ordinary": [0x3C00, 0xC100, 0x3555], "special": [0x7E01, 0xFE55, 0x8000, 0x0001, 0x7C00, 0xFC00, 0x7BFF]}),
    DType("bfloat16", "BF16", 2, None, value_sets={
        "ordinary": [0x3F80, 0xC020, 0x3EAB], "special": [0x7FC1, 0xFF81, 0x8000, 0x0001, 0x7F80, 0xFF80, 0x7F7F]}),
    DType("int64", "I64", 8, "<i8", value_sets={
        "ordinary": [0, 1, 0xFFFFFFFFFFFFFFFF], "special": [0x8000000000000000, 0x7FFFFFFFFFFFFFFF, 0x0123456789ABCDEF]}),
    DType("int32", "I32", 4, "<i4", value_sets={
        "ordinary": [0, 1, 0xFFFFFFFF], "special": [0x80000000, 0x7FFFFFFF, 0x01234567]}),
    DType("int16", "I16", 2, "<i2", value_sets={"ordinary": [0, 1, 0xFFFF], "special": [0x8000, 0x7FFF, 0x1234]}),
    DType("int8", "I8", 1, "<i1", value_sets={"ordinary": [0, 1, 0xFF], "special": [0x80, 0x7F, 0x12]}),
    DType("uint8", "U8", 1, "<u1", value_sets={"ordinary": [0, 1, 2], "special": [0xFF, 0x80, 0x7F]}),
    DType("bool", "BOOL", 1, "?", value_sets={"ordinary": [0, 1, 1], "special": [1, 0, 0, 1]}),
    DType("complex64", "C64", 8, "<c8", value_sets={
        "ordinary": _c64((0x3F800000, 0xC0200000), (0, 0x3F800000)),
        "special": _c64((0x7FC00001, 0x80000000), (0x7F800000, 0x00000001), (0xFF800000, 0x7F7FFFFF))}),
    DType("uint16", "U16", 2, "<u2", value_sets={"ordinary": [0, 1, 2], "special": [0xFFFF, 0x8000, 0x7FFF]}),
    DType("uint32", "U32", 4, "<u4", value_sets={"ordinary": [0, 1, 2], "special": [0xFFFFFFFF, 0x80000000, 0x7FFFFFFF]}),
    DType("uint64", "U64", 8, "<u8", value_sets={
        "ordinary": [0, 1, 2], "special": [0xFFFFFFFFFFFFFFFF, 0x8000000000000000, 0x7FFFFFFFFFFFFFFF]}),
    DType("float8_e4m3fn", "F8_E4M3", 1, None, value_sets={
        "ordinary": [0x38, 0xC2, 0x30], "special": [0x7F, 0xFF, 0x80, 0x01, 0x7E, 0xFE]}),   # NaN, -NaN, -0, subnormal, ±max
    DType("float8_e5m2", "F8_E5M2", 1, None, value_sets={
        "ordinary": [0x3C, 0xC1, 0x35], "special": [0x7F, 0x7D, 0x80, 0x01, 0x7C, 0xFC, 0x7B]}),
    DType("float8_e4m3fnuz", "F8_E4M3FNUZ", 1, None, optional=True, value_sets={
        "ordinary": [0x40, 0xC2, 0x38], "special": [0x80, 0x01, 0x7F, 0xFF]}),              # 0x80 is the only NaN
    DType("float8_e5m2fnuz", "F8_E5M2FNUZ", 1, None, optional=True, value_sets={
        "ordinary": [0x40, 0xC1, 0x3C], "special": [0x80, 0x01, 0x7F, 0xFF]}),
    DType("float8_e8m0fnu", "F8_E8M0", 1, None, optional=True, value_sets={
        "ordinary": [0x7F, 0x80, 0x7E], "special": [0xFF, 0x00, 0xFE]}),                    # 1, 2, 0.5; NaN, min, max
    DType("float4_e2m1fn_x2", "F4", 1, None, optional=True, value_sets={
        "ordinary": [0x21, 0x9A, 0x00], "special": [0x77, 0xFF, 0x80, 0x08]}),
]}

# Order used everywhere a dtype list is shown (same order as the issue names them).
DTYPE_NAMES = list(DTYPES)


def bfloat16_as_float32(bits: np.ndarray) -> np.ndarray:
    """bfloat16 bit patterns (a uint16 array) as the float32 values they are, exactly: a bfloat16 is the top half
    of a float32's bits. An array of ``bits``' shape also when it is 0-d (a shift of one gives a numpy scalar)."""
    return np.asarray(bits.astype(np.uint32) << 16).view(np.float32)
