"""``safetensors.torch._to_ndarray`` / ``_flatten_as_ptr`` (0.8.0) and ``_tobytes`` / ``_flatten`` (0.4.5).

Saving reads, per tensor: ``layout != torch.strided``, ``is_contiguous()``, ``device.type`` (then
``to("cpu")``), ``shape`` (``np.prod(shape)``), ``dtype`` (a ``_SIZE[dtype]`` lookup and
``str(dtype).split(".")[-1]``) and ``data_ptr()``, whose bytes are read through ctypes. Around it:
``contiguous()`` (``save_model(force_contiguous=True)``), ``numpy()`` and ``view(dtype)``.

Pointers are only ever observed as offsets (``view.data_ptr() - base.data_ptr()``) or through
the bytes they point at, never as addresses.
"""
from __future__ import annotations

import ctypes

import numpy as np

from ..dtypes import DTYPE_NAMES, DTYPES
from ..inputs import TensorInput, apply_views, flip_low_bits, ordinary, special
from ..observe import pointer_offset
from ..registry import case, param

ORIGIN = "_tobytes/_to_ndarray"
ORIGIN_FLATTEN = "_flatten"

_T01 = ("transpose", 0, 1)


def _idx(*items):
    return ("index", tuple(items))


_ALL = slice(None)

# name -> (shape, views); every layout is built by torch.from_numpy and these view ops.
_LAYOUTS = {
    "contiguous": ((2, 3), ()),
    "scalar": ((), ()),
    "transposed": ((2, 3), (_T01,)),
    "transposed-3d": ((2, 3, 4), (("transpose", 0, 2),)),
    "stepped": ((2, 4), (_idx(_ALL, slice(None, None, 2)),)),
    "stepped-rows": ((4, 3), (_idx(slice(None, None, 2)),)),
    "offset-rows": ((3, 4), (_idx(slice(1, None)),)),
    "offset-row": ((3, 4), (_idx(1),)),
    "offset-element": ((2, 3), (_idx(1, 2),)),
    "columns": ((3, 4), (_idx(_ALL, slice(1, 3)),)),
    "column": ((3, 4), (_idx(_ALL, 1),)),
    "middle-index-3d": ((2, 3, 4), (_idx(_ALL, 1),)),
    "size1-transposed": ((3, 1), (_T01,)),
    "size1-stepped": ((4,), (_idx(slice(None, None, 4)),)),
    "size1-column": ((3, 4), (_idx(_ALL, slice(1, 2)),)),
    "zero-size": ((0, 3), ()),
    "zero-size-transposed": ((0, 3), (_T01,)),
    "zero-size-slice": ((2, 3), (_idx(_ALL, slice(3, None)),)),
}


def _spec(dtype: str, layout: str) -> TensorInput:
    """An input of ``dtype`` in ``layout``, filled with the dtype's special values."""
    shape, views = _LAYOUTS[layout]
    return TensorInput(dtype, shape, tuple(DTYPES[dtype].value_sets["special"]), views)


def _layout_params(layouts, dtypes=("float32",), extra=()):
    out = [param(f"{d}-{name}", dtype=d, layout=name) for d in dtypes for name in layouts]
    out += [param(f"{d}-{name}", dtype=d, layout=name) for d, name in extra]
    return out


def _aliases(ctx, r, t, base: np.ndarray):
    """Whether ``r`` shares memory with the input ``t``: the same object does; otherwise, whether a write to
    the numpy array ``t`` was built from shows in ``r``. Where that write does not show in ``t`` (a
    from_numpy that copies), the write is ``t.zero_()`` instead, so the answer is about ``r`` alone."""
    if r is t:
        return True
    if base.size == 0:
        return None
    return ctx.follows_writes(t, base, lambda: ctx.raw_bytes(r))


# -- layout and strided ------------------------------------------------------------------------

@case("Tensor.layout", ORIGIN_FLATTEN, _layout_params(
    ["contiguous", "transposed", "zero-size", "scalar"], extra=[("bfloat16", "contiguous")]))
def layout(torch, ctx, dtype, layout):
    """A dense CPU tensor's layout is torch.strided (safetensors refuses any layout != torch.strided)."""
    t = ctx.input(_spec(dtype, layout))
    lay = t.layout
    return {"is_strided": lay is torch.strided, "eq_strided": bool(lay == torch.strided),
            "ne_strided": bool(lay != torch.strided), "str": str(lay)}


@case("torch.strided", ORIGIN_FLATTEN)
def strided_constant(torch, ctx):
    """torch.strided exists, is not None, is what Tensor.layout returns, and differs from torch.sparse_coo."""
    t = ctx.input(ordinary("float32", (2, 3)))
    return {"is_none": torch.strided is None, "str": str(torch.strided),
            "is_tensor_layout": t.layout is torch.strided,
            "same_as_other_tensor": ctx.input(ordinary("int64", (4,))).layout is torch.strided,
            "ne_sparse_coo": ctx.attempt(lambda: bool(torch.strided != torch.sparse_coo)),
            "sparse_coo_str": ctx.attempt(lambda: str(torch.sparse_coo))}


# -- is_contiguous and contiguous --------------------------------------------------------------

@case("Tensor.is_contiguous", ORIGIN_FLATTEN, _layout_params(
    list(_LAYOUTS),
    extra=[(d, lay) for d in ("bfloat16", "float8_e4m3fn") for lay in ("contiguous", "transposed")]))
def is_contiguous(torch, ctx, dtype, layout):
    """True for C-order strides; dims of size 1 and zero-size tensors do not count (torch's rule)."""
    t = ctx.input(_spec(dtype, layout))
    r = t.is_contiguous()
    return {"is_contiguous": r, "is_bool": isinstance(r, bool)}


@case("Tensor.contiguous", ORIGIN, _layout_params(
    ["contiguous", "scalar", "offset-rows", "size1-transposed", "zero-size", "transposed", "transposed-3d",
     "stepped", "columns", "size1-column"],
    extra=[("bfloat16", "contiguous"), ("bfloat16", "transposed"), ("float8_e5m2", "transposed"),
           ("complex64", "stepped"), ("bool", "transposed")]))
def contiguous(torch, ctx, dtype, layout):
    """contiguous() returns the very same object when already contiguous, else a C-order copy that does
    not alias its input."""
    spec = _spec(dtype, layout)
    base = spec.numpy_base()
    t = ctx.input_from(spec, base)
    r = t.contiguous()
    return {"result": ctx.tensor(r), "same_object": r is t, "result_is_contiguous": r.is_contiguous(),
            "aliases_input": _aliases(ctx, r, t, base)}


# -- device and to("cpu") ----------------------------------------------------------------------

_DEVICE_PARAMS = _layout_params(["contiguous", "transposed", "zero-size"], extra=[("bfloat16", "scalar")])


@case("Tensor.device.type", ORIGIN, _DEVICE_PARAMS)
def device_type(torch, ctx, dtype, layout):
    """A tensor built by from_numpy lives on the CPU: device.type is the string "cpu"."""
    t = ctx.input(_spec(dtype, layout))
    ty = t.device.type
    return {"type": ty, "is_str": isinstance(ty, str), "ne_cpu": ty != "cpu"}


@case("Tensor.device", ORIGIN, _DEVICE_PARAMS)
def device(torch, ctx, dtype, layout):
    """Tensor.device is a torch.device: str() is "cpu", index None, equal to torch.device("cpu")."""
    t = ctx.input(_spec(dtype, layout))
    dev = t.device
    return {"str": str(dev), "type": dev.type, "index": dev.index, "is_device": isinstance(dev, torch.device),
            "eq_cpu": ctx.attempt(lambda: bool(dev == torch.device("cpu")))}


@case("Tensor.to", ORIGIN, _layout_params(
    ["contiguous", "transposed", "offset-rows", "scalar", "zero-size"],
    extra=[(d, "contiguous") for d in ("bfloat16", "float8_e4m3fn", "bool", "complex64")]),
    name="to_cpu")
def to_cpu(torch, ctx, dtype, layout):
    """to("cpu") on a CPU tensor changes nothing and returns the very same object (no copy)."""
    spec = _spec(dtype, layout)
    base = spec.numpy_base()
    t = ctx.input_from(spec, base)
    r = t.to("cpu")
    return {"result": ctx.tensor(r), "same_object": r is t, "aliases_input": _aliases(ctx, r, t, base)}


# -- data_ptr ----------------------------------------------------------------------------------

def _data_ptr_offset_params():
    rows = {"row-1": (_idx(1),), "rows-1:": (_idx(slice(1, None)),), "element-2-3": (_idx(2, 3),),
            "column-2": (_idx(_ALL, 2),), "cols-1::2": (_idx(_ALL, slice(1, None, 2)),), "transposed": (_T01,),
            "rows-1:-then-row-1": (_idx(slice(1, None)), _idx(1)),
            "transposed-then-row-3": (_T01, _idx(3))}
    out = [param(f"float32-{n}", dtype="float32", shape=(3, 4), views=v) for n, v in rows.items()]
    for d, n in [("bfloat16", "element-2-3"), ("int64", "row-1"), ("float8_e4m3fn", "element-2-3"),
                 ("complex64", "row-1"), ("bool", "rows-1:")]:
        out.append(param(f"{d}-{n}", dtype=d, shape=(3, 4), views=rows[n]))
    out.append(param("float32-3d-element-1-2", dtype="float32", shape=(2, 3, 4), views=(_idx(1, 2),)))
    return out


@case("Tensor.data_ptr", ORIGIN, _data_ptr_offset_params())
def data_ptr_offset(torch, ctx, dtype, shape, views):
    """A view's data_ptr() is its base's plus storage_offset * itemsize (observed as that offset in bytes)."""
    base = ctx.input(TensorInput(dtype, shape, tuple(DTYPES[dtype].value_sets["special"])))
    v = apply_views(base, views, numpy=False)
    limit = int(np.prod(shape)) * DTYPES[dtype].itemsize
    return {"view": ctx.tensor(v), "offset_bytes": pointer_offset(v.data_ptr() - base.data_ptr(), limit)}


@case("Tensor.data_ptr", ORIGIN, _layout_params(
    ["contiguous", "offset-rows", "scalar", "offset-element", "zero-size", "zero-size-slice"],
    extra=[(d, "contiguous") for d in ("bfloat16", "float8_e5m2", "int64", "bool", "complex64")]),
    name="data_ptr_bytes")
def data_ptr_bytes(torch, ctx, dtype, layout):
    """For a contiguous tensor, the nelement * itemsize bytes at data_ptr() are the tensor's own bytes (what
    _to_ndarray hands to Rust); a zero-size tensor's data_ptr() is 0."""
    t = ctx.input(_spec(dtype, layout))
    length = int(np.prod(t.shape).item())
    nbytes = length * DTYPES[dtype].itemsize
    ptr = t.data_ptr()
    obs = {"is_int": isinstance(ptr, int), "is_zero": ptr == 0, "nbytes": nbytes}
    if ptr != 0 and nbytes:
        seen = ctypes.string_at(ptr, nbytes)
        obs["bytes_at_ptr"] = {"bytes": seen.hex()}
        obs["equals_tensor_bytes"] = seen == ctx.raw_bytes(t)
    return obs


# -- shape, dtype ------------------------------------------------------------------------------

@case("Tensor.shape", ORIGIN, _layout_params(
    ["scalar", "contiguous", "zero-size", "transposed-3d", "offset-row", "offset-element"],
    extra=[("bfloat16", "transposed")]))
def shape(torch, ctx, dtype, layout):
    """shape is a torch.Size: a tuple of Python ints; np.prod(shape) is what _to_ndarray multiplies."""
    t = ctx.input(_spec(dtype, layout))
    s = t.shape
    dims = list(s)
    return {"dims": [int(x) for x in dims], "len": len(s), "is_tuple": isinstance(s, tuple),
            "is_torch_Size": ctx.attempt(lambda: isinstance(s, torch.Size)),
            "elements_are_int": all(type(x) is int for x in dims),
            "equals_tuple": bool(s == tuple(int(x) for x in dims)),
            "np_prod": int(np.prod(s).item())}


_DTYPE_PARAMS = [param(d, dtype=d) for d in DTYPE_NAMES]


@case("Tensor.dtype", f"{ORIGIN}, {ORIGIN_FLATTEN}", _DTYPE_PARAMS)
def dtype(torch, ctx, dtype):
    """Tensor.dtype is the torch.<name> constant itself (a key of safetensors' _SIZE dict), and its str()
    is "torch.<name>", whose last dotted part _flatten writes into the header."""
    t = ctx.input(special(dtype))
    dt = t.dtype
    size_table = {getattr(torch, n): DTYPES[n].itemsize for n in DTYPE_NAMES if hasattr(torch, n)}
    s = str(dt)
    return {"dtype": ctx.dtype_name(dt), "is_constant": dt is getattr(torch, dtype),
            "is_dtype": isinstance(dt, torch.dtype), "size_lookup": ctx.attempt(lambda: size_table[dt]),
            "str": s, "str_suffix": s.split(".")[-1]}


# -- numpy -------------------------------------------------------------------------------------

_NUMPY_DTYPES = [d for d in DTYPE_NAMES if DTYPES[d].numpy]
_NON_NUMPY_DTYPES = [d for d in DTYPE_NAMES if not DTYPES[d].numpy]


def _array(arr) -> dict:
    if not isinstance(arr, np.ndarray):
        return {"not_an_ndarray": type(arr).__name__}
    return {"numpy_dtype": arr.dtype.str, "shape": list(arr.shape),
            "strides": list(arr.strides) if arr.size else None, "bytes": arr.tobytes().hex()}


@case("Tensor.numpy", ORIGIN, [param(d, dtype=d, layout="special") for d in _NUMPY_DTYPES]
      + _layout_params(["transposed", "offset-rows", "scalar", "zero-size"]))
def numpy(torch, ctx, dtype, layout):
    """numpy() returns an ndarray of the matching numpy dtype with the same bytes and strides, sharing
    the tensor's memory (a write to the array shows in the tensor)."""
    spec = special(dtype) if layout == "special" else _spec(dtype, layout)
    t = ctx.input(spec)
    arr = t.numpy()
    obs = {"array": _array(arr)}
    if isinstance(arr, np.ndarray) and arr.size:
        obs["shares_memory"] = ctx.attempt(lambda: ctx.changes(lambda: ctx.raw_bytes(t), lambda: flip_low_bits(arr)))
    return obs


@case("Tensor.numpy", ORIGIN, [param(d, dtype=d) for d in _NON_NUMPY_DTYPES],
      name="numpy_unsupported")
def numpy_unsupported(torch, ctx, dtype):
    """numpy has no bfloat16/float8/float4: torch raises TypeError rather than returning some other dtype."""
    t = ctx.input(special(dtype))
    return {"numpy": ctx.attempt(lambda: _array(t.numpy()))}


# -- view(dtype) -------------------------------------------------------------------------------

def _view_params():
    rows = [("bfloat16", "contiguous", "int16", False), ("bfloat16", "contiguous", "int16", True),
            ("bfloat16", "contiguous", "uint8", True), ("bfloat16", "transposed", "int16", False),
            ("bfloat16", "scalar", "uint8", True),
            ("float8_e4m3fn", "contiguous", "uint8", True),
            ("float8_e5m2", "contiguous", "uint8", True),
            ("float8_e4m3fnuz", "contiguous", "uint8", True), ("float8_e5m2fnuz", "contiguous", "uint8", True),
            ("float8_e8m0fnu", "contiguous", "uint8", True), ("float4_e2m1fn_x2", "contiguous", "uint8", True),
            ("float32", "contiguous", "uint8", False), ("float32", "contiguous", "int32", False),
            ("float32", "transposed", "uint8", False),
            ("complex64", "contiguous", "int64", False),
            ("uint8", "offset-rows", "bfloat16", True), ("uint8", "contiguous", "float32", False)]
    return [param(f"{d}-{lay}-to-{to}{'-kw' if kw else ''}", dtype=d, layout=lay, to=to, kw=kw) for d, lay, to, kw in rows]


@case("Tensor.view(dtype)", ORIGIN, _view_params(), name="view_dtype")
def view_dtype(torch, ctx, dtype, layout, to, kw):
    """view(dtype) reinterprets the bytes without copying: same size keeps strides, a smaller or larger
    itemsize rescales the last dim (which must have stride 1; a 0-d tensor cannot change size)."""
    spec = _spec(dtype, layout)
    base = spec.numpy_base()
    t = ctx.input_from(spec, base)
    r = t.view(dtype=ctx.dtype(to)) if kw else t.view(ctx.dtype(to))
    return {"result": ctx.tensor(r), "aliases_input": _aliases(ctx, r, t, base)}


# -- nelement / numel --------------------------------------------------------------------------

_COUNT_PARAMS = _layout_params(["scalar", "zero-size", "transposed-3d"], extra=[("bfloat16", "offset-row")])


@case("Tensor.nelement", ORIGIN, _COUNT_PARAMS)
def nelement(torch, ctx, dtype, layout):
    """nelement() is the product of the shape as a Python int (1 for 0-d, 0 for zero-size)."""
    n = ctx.input(_spec(dtype, layout)).nelement()
    return {"nelement": n, "is_int": type(n) is int}


@case("Tensor.numel", ORIGIN, _COUNT_PARAMS)
def numel(torch, ctx, dtype, layout):
    """numel() is the same count as nelement()."""
    n = ctx.input(_spec(dtype, layout)).numel()
    return {"numel": n, "is_int": type(n) is int}
