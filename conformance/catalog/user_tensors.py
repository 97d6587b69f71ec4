"""Tensors as users make them: the target's own factories and conversions, saved with safetensors.

Every other catalog module builds its inputs from raw bytes, so a save row passes although the tensor a user
makes with ``torch.ones(..., dtype=torch.bfloat16)`` holds the wrong bytes. Here the tensor is made by the API
under test (``torch.tensor``, ``ones``, ``zeros``, ``full``, ``arange``, ``rand`` with a generator,
``Tensor.to``, ``.float()``, ``.bfloat16()``, ``t[i] = <Python float>``, ``t[i] = <tensor>``, ``torch.complex``), for every dtype safetensors saves
where torch has the factory, and then saved with ``save`` and ``save_file``: the row observes the tensor and
both files, byte for byte. The loaded-back rows go the other way: a kit-written file loaded with
``load_file``, read back through ``tolist()``, ``item()`` and ``float()``.

Blame stays with the factory or conversion: the files are observed under ``written``, read through ``SAVERS``
(a row where only the files differ is BLOCKED by save, never FAIL), and save's exceptions are caught into
``written`` so they never hide a wrong tensor; save's own torch calls are given the wrong tensor, so the call
log never blames them for it. Where load_file fails or gives other bytes than the file's, a read-back row
reaches around it (the tensors are built from the file's bytes with the kit's routes, and the row says so):
load has rows of its own, and tolist() is judged all the same.

NaN is never converted to bfloat16 here: torch itself writes 0xFFFF or 0x7FC0 depending on the tensor's
size, the source dtype and the CPU's vector unit, so its bytes are no oracle.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import calls
from ..dtypes import DTYPES, bfloat16_as_float32
from ..inputs import TensorInput
from ..observe import Blocked, exception
from ..registry import case, param
from ._st_support import safetensors_torch, write_st
from .st_entrypoints import LOAD_FILE, _file_obs

ORIGIN = "user tensors (save/save_file)"
ORIGIN_READ = "user tensors (load_file)"
SAVERS = "safetensors.torch.save/save_file"
SHAPE = (2, 3)

# What torch 2.x has each factory for (the others raise NotImplementedError in torch itself, or cannot be
# made at all: float4_e2m1fn_x2 has zeros only).
FLOATS = ("float64", "float32", "float16", "bfloat16", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz",
          "float8_e5m2fnuz")
E8M0 = "float8_e8m0fnu"           # powers of two only: no sign, no zero
SIGNED = ("int64", "int32", "int16", "int8")
UNSIGNED = ("uint8", "uint16", "uint32", "uint64")
MAKEABLE = FLOATS + (E8M0, "complex64") + SIGNED + UNSIGNED + ("bool",)    # every dtype but float4
ALL = MAKEABLE + ("float4_e2m1fn_x2",)
ARANGE = ("float64", "float32", "float16", "bfloat16") + SIGNED + ("uint8",)
RAND = ("float64", "float32", "float16", "bfloat16")
WITH_INF = ("float64", "float32", "float16", "bfloat16", "float8_e5m2")   # the others: torch.full(-inf) raises


def _kind(dtype: str) -> str:
    if dtype in FLOATS:
        return "float"
    if dtype == E8M0:
        return "e8m0"
    if dtype == "complex64":
        return "complex"
    if dtype in SIGNED:
        return "signed"
    if dtype in UNSIGNED:
        return "unsigned"
    return "bool"


def _int_range(dtype: str) -> tuple[int, int]:
    bits = 8 * DTYPES[dtype].itemsize
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if dtype in SIGNED else (0, (1 << bits) - 1)


# -- observing ------------------------------------------------------------------------------------

def _py(v: Any) -> Any:
    """A Python value as the user gets it: its exact type and value (floats by their hex)."""
    if isinstance(v, list):
        return [_py(x) for x in v]
    t = type(v)
    if t is bool or t is int:
        return [t.__name__, v]
    if t is float:
        return ["float", v.hex()]
    if t is complex:
        return ["complex", v.real.hex(), v.imag.hex()]
    return [f"{t.__module__}.{t.__qualname__}", repr(v)[:80]]


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _saved(ctx, t) -> dict:
    """``t`` saved by save() and by save_file(): each file's bytes, or the exception it raised."""
    st = safetensors_torch()

    def save_file():
        path = ctx.path("user.safetensors")
        st.save_file({"t": t}, path)
        return _file_obs(_read(path))
    return {"save": ctx.attempt(lambda: _file_obs(st.save({"t": t}))), "save_file": ctx.attempt(save_file)}


def _made(ctx, t, **extra) -> dict:
    # "tensor" sorts before "written": a row's summary shows the tensor's difference first
    return {"tensor": ctx.tensor(t), "written": _saved(ctx, t), **extra}


def _case(api: str, params, name: str):
    """A row that makes a tensor with ``api`` and saves it: files that alone differ are save's (BLOCKED)."""
    return case(api, ORIGIN, params, name=name, reads={"written": SAVERS})


# -- factories --------------------------------------------------------------------------------------

def _data(dtype: str) -> list:
    """Six Python values of the dtype's kind, as a user writes them (floats that need rounding)."""
    k = _kind(dtype)
    if k == "float":
        return [1.0, -2.5, 1 / 3, 0.1, 100.0, -0.0]
    if k == "e8m0":
        return [1.0, 2.0, 0.5, 0.25, 1024.0, 3.0]
    if k == "complex":
        return [1 + 2j, -0.5j, 1 / 3, 0.1 + 0.1j, -2.5, 0j]
    if k == "bool":
        return [True, False, True, True, False, False]
    lo, hi = _int_range(dtype)
    return [0, 1, 200, hi, 7, 42] if k == "unsigned" else [0, 1, -7, hi, lo, 42]


def _rows(values: list, shape=SHAPE) -> list:
    return [values[r * shape[1]:(r + 1) * shape[1]] for r in range(shape[0])]


@_case("torch.tensor", [param(d, dtype=d) for d in MAKEABLE], "factory_tensor")
def factory_tensor(torch, ctx, dtype):
    """torch.tensor(nested Python list, dtype=) holds the values rounded as torch rounds them, and
    save/save_file write the oracle's file."""
    dt = ctx.dtype(dtype)
    return _made(ctx, torch.tensor(_rows(_data(dtype)), dtype=dt))


@_case("torch.ones", [param(d, dtype=d) for d in MAKEABLE], "factory_ones")
def factory_ones(torch, ctx, dtype):
    """torch.ones(2, 3, dtype=) holds the dtype's 1 (0x3F80 in bfloat16, not the integer 1)."""
    dt = ctx.dtype(dtype)
    return _made(ctx, torch.ones(*SHAPE, dtype=dt))


@_case("torch.zeros", [param(d, dtype=d) for d in ALL], "factory_zeros")
def factory_zeros(torch, ctx, dtype):
    """torch.zeros((2, 3), dtype=) for every dtype, float4_e2m1fn_x2 included."""
    dt = ctx.dtype(dtype)
    return _made(ctx, torch.zeros(SHAPE, dtype=dt))


def _full_params():
    out = []
    for d in MAKEABLE:
        k = _kind(d)
        fill = {"float": -1 / 3, "e8m0": 0.25, "complex": complex(-1 / 3, 0.5), "bool": True,
                "unsigned": 200, "signed": -7}[k]
        out.append(param(f"{d}-{'neg-third' if k in ('float', 'complex') else 'fill'}", dtype=d, fill=fill))
        if d in WITH_INF:      # attention masks: full(shape, -inf)
            out.append(param(f"{d}-neg-inf", dtype=d, fill=-math.inf))
    return out


@_case("torch.full", _full_params(), "factory_full")
def factory_full(torch, ctx, dtype, fill):
    """torch.full((2, 3), value, dtype=) with a value that needs rounding (-1/3) or has no integer (-inf)."""
    dt = ctx.dtype(dtype)
    return _made(ctx, torch.full(SHAPE, fill, dtype=dt))


def _arange_args(dtype: str) -> tuple:
    if dtype in SIGNED:
        return (-3, 3)
    if dtype == "uint8":
        return (0, 6)
    return (-1.0, 1.25, 0.25)


@_case("torch.arange", [param(d, dtype=d) for d in ARANGE], "factory_arange")
def factory_arange(torch, ctx, dtype):
    """torch.arange(start, end[, step], dtype=): -1 to 1 by 0.25 for floats, -3..2 for signed integers."""
    dt = ctx.dtype(dtype)
    return _made(ctx, torch.arange(*_arange_args(dtype), dtype=dt))


def _as_floats(raw: bytes, dtype: str) -> np.ndarray:
    if dtype == "bfloat16":
        return bfloat16_as_float32(np.frombuffer(raw, np.uint16))
    return np.frombuffer(raw, DTYPES[dtype].numpy).astype(np.float64)


def _rand_saved(ctx, t, raw: bytes) -> dict:
    """A file of a random tensor: its header is the oracle's; its data is the tensor's own bytes."""
    out = {}
    for which, obs in _saved(ctx, t).items():
        if "bytes" not in obs:           # it raised: the exception is the observation
            out[which] = obs
            continue
        data = bytes.fromhex(obs["bytes"])
        n = int.from_bytes(data[:8], "little")
        out[which] = {"header": obs["header"], "header_bytes": data[:8 + n].hex(),
                      "data_is_the_tensor": data[8 + n:] == raw}
    return out


@_case("torch.rand", [param(d, dtype=d) for d in RAND], "factory_rand")
def factory_rand(torch, ctx, dtype):
    """torch.rand(4, 16, generator=g, dtype=): values in [0, 1) and not all equal; the same seed gives the
    same bytes, the next draw others; a file that holds exactly them. The values themselves are not
    compared: a backend need not reproduce torch's random stream."""
    dt = ctx.dtype(dtype)

    def draw(seed):
        g = torch.Generator().manual_seed(seed)
        return g, torch.rand(4, 16, generator=g, dtype=dt)
    g, t = draw(1234)
    raw = ctx.raw_bytes(t)
    again = ctx.raw_bytes(draw(1234)[1])
    nxt = ctx.raw_bytes(torch.rand(4, 16, generator=g, dtype=dt))
    vals = _as_floats(raw, dtype)
    obs = {k: v for k, v in ctx.tensor(t).items() if k != "bytes"}
    return {"tensor": obs, "in_unit_interval": bool(((vals >= 0) & (vals < 1)).all()),
            "varied": len(set(vals.tolist())) >= 16, "same_seed_same_bytes": again == raw,
            "next_draw_differs": nxt != raw, "other_seed_differs": ctx.raw_bytes(draw(4321)[1]) != raw,
            "written": _rand_saved(ctx, t, raw)}


# -- conversions ------------------------------------------------------------------------------------

def _f32_bits(values: list[float]) -> tuple[int, ...]:
    return tuple(int(b) for b in np.array(values, dtype=np.float32).view(np.uint32))


_INF = math.inf
_NAN = math.nan
# float32 values a user converts: in range for the target kind, and (floats) the edges.
_TO_VALUES = {
    "float": {"ordinary": [1.0, -2.5, 1 / 3, 0.1, 100.0, 448.0, 3.14159, 1e-3],
              "special": [_NAN, _INF, -_INF, -0.0, 1e-45, 3.4e38, 70000.0, 1e-8]},
    "e8m0": {"ordinary": [1.0, 2.0, 0.5, 0.25, 3.0, 1024.0, 1 / 3, 1e-3],
             "special": [_NAN, _INF, 0.0, 1e38, 1e-40, 6.0]},
    "complex": {"ordinary": [1.0, -2.5, 1 / 3, 0.1], "special": [_NAN, _INF, -_INF, -0.0, 1e-45]},
    "signed": {"ordinary": [0.0, 1.0, 2.7, -2.7, 100.0, -100.0, 127.0, -128.0]},
    "unsigned": {"ordinary": [0.0, 1.0, 2.7, 200.9, 100.0, 255.0]},
    "bool": {"ordinary": [0.0, 1.0, -2.5, 0.5, -0.0, _NAN, 1e-30, _INF]},
}
# bfloat16 sources: 1, -2.5, ~1/3, ~0.1, 448, ~3.14, ~1e-3, 99840; NaN, inf, -inf, -0, min subnormal, max.
_BF16_SOURCE = {"ordinary": (0x3F80, 0xC020, 0x3EAB, 0x3DCD, 0x43E0, 0x4049, 0x3A83, 0x47C3),
                "special": (0x7FC0, 0x7F80, 0xFF80, 0x8000, 0x0001, 0x7F7F)}
_FROM_BF16 = ("float32", "float16", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", E8M0)


def _to_params():
    out = []
    for d in MAKEABLE:
        for vs, values in _TO_VALUES[_kind(d)].items():
            if d == "bfloat16":      # no NaN into bfloat16 (module doc)
                values = [v for v in values if not math.isnan(v)]
            out.append(param(f"float32-to-{d}-{vs}", source="float32", dtype=d, bits=_f32_bits(values)))
    for d in _FROM_BF16:
        for vs, bits in _BF16_SOURCE.items():
            out.append(param(f"bfloat16-to-{d}-{vs}", source="bfloat16", dtype=d, bits=bits))
    return out


def _source(ctx, dtype: str, bits: tuple[int, ...]):
    return ctx.input(TensorInput(dtype, (len(bits),), bits))


@_case("Tensor.to", _to_params(), "conversion_to")
def conversion_to(torch, ctx, source, dtype, bits):
    """t.to(dtype) of a float32 (or bfloat16) tensor built from bytes: torch's rounding (to nearest even,
    NaN for values float8_e4m3fn cannot hold, truncation toward zero for integers), then saved."""
    src = _source(ctx, source, bits)
    dt = ctx.dtype(dtype)
    out = src.to(dt)
    return _made(ctx, out, returns_self=out is src)


# Source values of .float() / .bfloat16(): each dtype's ordinary values and its edges (one NaN each, without
# payload: a payload says nothing about a conversion a user relies on).
_EDGES = {
    "float64": (0x7FF8000000000000, 0x7FF0000000000000, 0xFFF0000000000000, 0x8000000000000000, 0x1,
                0x7FEFFFFFFFFFFFFF, 0x3FB999999999999A),
    "float32": (0x7FC00000, 0x7F800000, 0xFF800000, 0x80000000, 0x1, 0x7F7FFFFF, 0x3DCCCCCD,
                0x3F808000, 0x3F818000, 0x3F80C000),     # the last three: bfloat16 ties (even, up) and above
    "float16": (0x7E00, 0x7C00, 0xFC00, 0x8000, 0x0001, 0x7BFF, 0x2E66),
    "bfloat16": (0x7FC0, 0x7F80, 0xFF80, 0x8000, 0x0001, 0x7F7F, 0x3DCD),
    "float8_e4m3fn": (0x7F, 0x80, 0x01, 0x7E, 0xFE, 0x08),
    "float8_e5m2": (0x7E, 0x7C, 0xFC, 0x80, 0x01, 0x7B),
    "float8_e4m3fnuz": (0x80, 0x01, 0x7F, 0xFF), "float8_e5m2fnuz": (0x80, 0x01, 0x7F, 0xFF),
    E8M0: (0xFF, 0x00, 0xFE),
    "complex64": (0x800000007FC00000, 0x000000017F800000),
    "bool": (),
}


def conversion_bits(dtype: str) -> tuple[int, ...]:
    """A dtype's ordinary values and its edges, as bit patterns."""
    vs = DTYPES[dtype].value_sets
    edges = _EDGES.get(dtype, tuple(vs["special"]))
    return tuple(vs["ordinary"]) + edges


_IEEE = {"float64": (11, 52), "float32": (8, 23), "float16": (5, 10), "bfloat16": (8, 7)}   # exponent, mantissa


def is_nan(dtype: str, b: int) -> bool:
    """Whether bit pattern ``b`` encodes a NaN of ``dtype``."""
    if dtype == "complex64":
        return is_nan("float32", b & 0xFFFFFFFF) or is_nan("float32", b >> 32)
    if dtype in _IEEE:
        e, m = _IEEE[dtype]
        return (b >> m) & ((1 << e) - 1) == (1 << e) - 1 and b & ((1 << m) - 1) != 0
    if dtype == "float8_e4m3fn":
        return b & 0x7F == 0x7F
    if dtype == "float8_e5m2":
        return b & 0x7F > 0x7C
    if dtype in ("float8_e4m3fnuz", "float8_e5m2fnuz"):
        return b == 0x80
    return dtype == E8M0 and b == 0xFF


@_case("Tensor.float", [param(d, dtype=d) for d in MAKEABLE], "conversion_float")
def conversion_float(torch, ctx, dtype):
    """t.float() of a tensor built from bytes: exact for every float and integer dtype (round to nearest
    above 2**24); float32.float() returns the tensor itself."""
    src = _source(ctx, dtype, conversion_bits(dtype))
    out = src.float()
    return _made(ctx, out, returns_self=out is src)


@_case("Tensor.bfloat16", [param(d, dtype=d) for d in MAKEABLE], "conversion_bfloat16")
def conversion_bfloat16(torch, ctx, dtype):
    """t.bfloat16() of a tensor built from bytes (NaN left out): float32 rounds to nearest even, ties
    included; bfloat16.bfloat16() returns the tensor itself."""
    src = _source(ctx, dtype, tuple(b for b in conversion_bits(dtype) if not is_nan(dtype, b)))   # module doc
    out = src.bfloat16()
    return _made(ctx, out, returns_self=out is src)


# -- t[i] = <Python float> -------------------------------------------------------------------------

def _setitem_values(dtype: str) -> list[float]:
    return {"float": [1.5, -2.5, 1 / 3, 0.1, 1e-3, -0.0],
            "e8m0": [1.0, 2.0, 0.5, 0.25, 1 / 3, 1024.0],
            "complex": [1.5, -2.5, 1 / 3, 0.1, 1e-3, -0.0],
            "signed": [1.5, -2.5, 2.7, -2.7, 100.9, 0.1],
            "unsigned": [1.5, 2.7, 200.9, 0.1, 100.0, 0.0],
            "bool": [1.5, 0.0, -2.5, 0.1, -0.0, 1e-30]}[_kind(dtype)]


@_case("Tensor.__setitem__", [param(d, dtype=d) for d in MAKEABLE], "setitem_python_float")
def setitem_python_float(torch, ctx, dtype):
    """t[i] = <Python float> into a zeroed [8] tensor, element by element, then t[6:8] = the first value:
    each value stored as the dtype stores it (bfloat16 1/3 is 0x3EAB, int 2.7 is 2)."""
    t = ctx.input(TensorInput(dtype, (8,), (0,)))
    values = _setitem_values(dtype)

    for i, v in enumerate(values):
        t[i] = v
    t[6:8] = values[0]
    return _made(ctx, t)


# -- t[i] = <a tensor>, torch.complex (found by safetensors' own tests: conformance/st_suite.py) ---------------

SETITEM_TENSOR = ("float64", "float32", "float16", "bfloat16", "complex64", "int64", "int32", "uint8", "bool")
_VALUE_SHAPES = {"0d": (), "1-element": (1,)}


@_case("Tensor.__setitem__", [param(f"{d}-{k}", dtype=d, value=k) for d in SETITEM_TENSOR for k in _VALUE_SHAPES],
       "setitem_tensor_value")
def setitem_tensor_value(torch, ctx, dtype, value):
    """t[i] = <a tensor of t's dtype, 0-d or of one element> into a zeroed [4] tensor, for i in 0..2: the
    value is copied in, a [1] value broadcast to the element (safetensors' test_complex writes
    ``data[1][1] = torch.complex(real, imag)``, a [1] tensor); t[3] stays zero."""
    ordinary = DTYPES[dtype].value_sets["ordinary"]
    bits = (ordinary[1:] + ordinary[:1]) * 3       # the first ordinary value is often 0: invisible here
    t = ctx.input(TensorInput(dtype, (4,), (0,)))
    for i in range(3):
        t[i] = ctx.input(TensorInput(dtype, _VALUE_SHAPES[value], (bits[i],)))
    return _made(ctx, t)


@_case("torch.complex", [param("float32", dtype="float32")], "factory_complex")
def factory_complex(torch, ctx, dtype):
    """torch.complex(real, imag) of two float32 tensors is complex64, element i real[i] + imag[i]j (as
    safetensors' test_complex makes the value it saves)."""
    ordinary = DTYPES[dtype].value_sets["ordinary"]
    real = ctx.input(TensorInput(dtype, (3,), tuple(ordinary)))
    imag = ctx.input(TensorInput(dtype, (3,), tuple(reversed(ordinary))))
    out = torch.complex(real, imag)
    name = str(out.dtype).rsplit(".", 1)[-1]
    if out.dtype is not torch.complex64:       # e.g. complex128, which the kit cannot read: the dtype says it
        return {"dtype": name}
    return {"dtype": name, **_made(ctx, out)}


# -- loaded tensors, read back as Python values ---------------------------------------------------------

def _loaded(torch, ctx, dtype: str) -> tuple[Any, list]:
    """A kit-written file of a [2, 3] tensor "t" and one 0-d tensor per value ("s0", ...), loaded with
    load_file. Where load_file fails, or gives other bytes than the file holds, the tensors are built from
    the file's bytes with the kit's routes instead (reached around: load has rows of its own)."""
    ctx.dtype(dtype)        # a target without the dtype blocks the row before load_file meets it
    bits = conversion_bits(dtype)
    specs = {"t": TensorInput(dtype, SHAPE, bits)}
    specs.update({f"s{i}": TensorInput(dtype, (), (b,)) for i, b in enumerate(bits)})
    path = write_st(ctx.path("in.safetensors"), [(n, dtype, sp.shape, sp.raw()) for n, sp in specs.items()])
    try:
        with calls.paused():      # building the row's input: load's own calls are load's rows' business
            got = safetensors_torch().load_file(path)
        wrong = _not_the_file(ctx, got, specs)
    except Blocked:
        raise
    except Exception as e:
        wrong = f"it raised {type(e).__name__}: {str(e)[:160]}"
    if wrong:
        ctx.reach_around(LOAD_FILE, f"load_file of the file: {wrong}; the tensors were built from its bytes")
        got = {n: ctx.input(sp) for n, sp in specs.items()}
    return got["t"], [got[f"s{i}"] for i in range(len(bits))]


def _not_the_file(ctx, got: dict, specs: dict) -> str | None:
    """How the loaded tensors differ from the file (dtype, shape, bytes), or None."""
    for name, spec in specs.items():
        if name not in got:
            return f"no tensor {name!r}"
        seen, want = ctx.tensor(got[name]), spec.expected()
        if (seen["dtype"], seen["shape"], seen["bytes"]) != (want["dtype"], want["shape"], want["bytes"]):
            return (f"{name!r} came back {seen['dtype']}{seen['shape']} {seen['bytes'][:32]}, the file holds "
                    f"{want['dtype']}{want['shape']} {want['bytes'][:32]}")
    return None


def _read_back(ctx, fn) -> Any:
    try:
        return _py(fn())
    except Blocked:
        raise
    except Exception as e:
        return exception(e)


_READABLE = [param(d, dtype=d) for d in MAKEABLE]


@case("Tensor.tolist", ORIGIN_READ, _READABLE, name="loaded_tolist")
def loaded_tolist(torch, ctx, dtype):
    """tolist() of loaded tensors: nested lists of Python floats, ints, bools or complex numbers (never numpy
    scalars, never the raw integers of a bfloat16 or float8 encoding); a 0-d tensor gives one value."""
    t, scalars = _loaded(torch, ctx, dtype)
    return {"t": _read_back(ctx, t.tolist), "scalars": [_read_back(ctx, s.tolist) for s in scalars]}


@case("Tensor.item", ORIGIN_READ, _READABLE, name="loaded_item")
def loaded_item(torch, ctx, dtype):
    """item() of each loaded 0-d tensor: the Python value the element encodes, with its exact type."""
    _, scalars = _loaded(torch, ctx, dtype)
    return {"scalars": [_read_back(ctx, s.item) for s in scalars]}


@case("Tensor.__float__", ORIGIN_READ, _READABLE, name="loaded_float")
def loaded_float(torch, ctx, dtype):
    """float(t) of each loaded 0-d tensor: a Python float holding the element's value (complex raises as
    torch raises)."""
    _, scalars = _loaded(torch, ctx, dtype)
    return {"scalars": [_read_back(ctx, lambda s=s: float(s)) for s in scalars]}
