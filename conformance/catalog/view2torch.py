"""``safetensors.torch._view2torch`` (``load(bytes)``): frombuffer, empty, reshape, from_numpy, dtypes."""
from __future__ import annotations

import numpy as np

from ..dtypes import DTYPE_NAMES, DTYPES
from ..inputs import TensorInput, flip_low_bits, ordinary, special
from ..registry import case, param

ORIGIN = "_view2torch"


def _dtype_params(*value_sets: str):
    return [param(f"{d}-{vs}", dtype=d, value_set=vs)
            for d in DTYPE_NAMES for vs in value_sets]


def _flip_first_bit(buf) -> None:
    buf[0] ^= 1


@case("torch.frombuffer", ORIGIN, _dtype_params("ordinary", "special"))
def frombuffer(torch, ctx, dtype, value_set):
    """frombuffer(bytearray, dtype=) reads the bytes as they are, and aliases the buffer."""
    spec = special(dtype) if value_set == "special" else ordinary(dtype, (4,))
    buf = ctx.buffer(spec)
    t = torch.frombuffer(buf, dtype=ctx.dtype(dtype))
    return {"result": ctx.tensor(t),
            "aliases_buffer": ctx.changes(lambda: ctx.raw_bytes(t), lambda: _flip_first_bit(buf))}


_ERR_DTYPES = ["float32", "bfloat16", "float16", "int64", "uint8", "float8_e4m3fn", "bool", "complex64"]


@case("torch.frombuffer", ORIGIN, [param(f"empty-{d}", dtype=d, nbytes=0) for d in _ERR_DTYPES]
      + [param(f"ragged-{d}", dtype=d, nbytes=DTYPES[d].itemsize + 1) for d in _ERR_DTYPES if DTYPES[d].itemsize > 1])
def frombuffer_error(torch, ctx, dtype, nbytes):
    """An empty buffer, or one whose length is not a multiple of the element size, is refused."""
    return torch.frombuffer(bytearray(nbytes), dtype=ctx.dtype(dtype))


_ZERO_SHAPES = {"0": [0], "2x0": [2, 0], "0x3x4": [0, 3, 4]}


@case("torch.empty", ORIGIN, [param(f"{d}-{s}", dtype=d, shape=shape)
                              for d in DTYPE_NAMES for s, shape in _ZERO_SHAPES.items() if s != "2x0" or d == "float32"])
def empty_zero_size(torch, ctx, dtype, shape):
    """empty(list_with_a_zero, dtype=): the zero-size path of _view2torch."""
    return torch.empty(shape, dtype=ctx.dtype(dtype))


def _reshape_params():
    out = [param(f"{d}-4to2x2", dtype=d, shape=(4,), views=(), to=[2, 2]) for d in DTYPE_NAMES]
    layouts = {
        "6to2x3": ((6,), (), [2, 3]),
        "2x3to3x2": ((2, 3), (), [3, 2]),
        "2x3to-1": ((2, 3), (), [-1]),
        "0x3to3x0": ((0, 3), (), [3, 0]),
        "0to0x5": ((0,), (), [0, 5]),
        "scalar-to1": ((), (), [1]),
        "1-toscalar": ((1,), (), []),
        "transposed-to6": ((2, 3), (("transpose", 0, 1),), [6]),
        "stepped-to2x2": ((2, 4), (("index", (slice(None), slice(None, None, 2))),), [2, 2]),
        "offset-to3": ((2, 3), (("index", (1,)),), [3]),
    }
    for d in ("float32", "bfloat16"):
        for name, (shape, views, to) in layouts.items():
            out.append(param(f"{d}-{name}", dtype=d, shape=shape, views=views, to=to))
    return out


@case("Tensor.reshape", ORIGIN, _reshape_params())
def reshape(torch, ctx, dtype, shape, views, to):
    """reshape(list): same bytes in the new shape; a view (aliasing its input) exactly when torch makes one."""
    spec = TensorInput(dtype, shape, tuple(DTYPES[dtype].value_sets["special"]), views)
    base = spec.numpy_base()
    t = ctx.input_from(spec, base)
    r = t.reshape(to)
    result = ctx.tensor(r)        # read before the aliasing probe writes through the input
    # through the input itself: where from_numpy copies, a write to ``base`` would not reach ``t`` at all
    aliases = ctx.follows_writes(t, base, lambda: ctx.raw_bytes(r)) if base.size else None
    return {"result": result, "aliases_input": aliases}


_NUMPY_DTYPES = [d for d in DTYPE_NAMES if DTYPES[d].numpy]


@case("torch.from_numpy", ORIGIN, [param(d, dtype=d) for d in _NUMPY_DTYPES])
def from_numpy(torch, ctx, dtype):
    """from_numpy(ndarray) keeps dtype, bytes and shape, and shares the array's memory."""
    arr = TensorInput(dtype, (2, 3), tuple(DTYPES[dtype].value_sets["special"])).numpy_base().copy()
    t = torch.from_numpy(arr)
    return {"result": ctx.tensor(t), "shares_memory": ctx.changes(lambda: ctx.raw_bytes(t), lambda: flip_low_bits(arr))}


@case("torch.from_numpy", ORIGIN, [param(f"byteswapped-{d}", dtype=d) for d in ("float32", "float16", "int64", "complex64")])
def from_numpy_byteswap(torch, ctx, dtype):
    """The big-endian path of _view2torch: from_numpy(arr.byteswap(inplace=False)) gives swapped native bytes."""
    arr = TensorInput(dtype, (4,), tuple(DTYPES[dtype].value_sets["special"]) + (1,)).numpy_base()
    return torch.from_numpy(arr.byteswap(inplace=False))


@case("torch.from_numpy", ORIGIN, [param(f"non-native-order-{d}", dtype=d) for d in ("float32", "int16")])
def from_numpy_non_native(torch, ctx, dtype):
    """A non-native byte order array: torch refuses it rather than reading swapped values."""
    arr = np.zeros(3, dtype=np.dtype(DTYPES[dtype].numpy).newbyteorder(">"))
    return torch.from_numpy(arr)


@case("torch.<dtype>", ORIGIN, [param(d, dtype=d) for d in DTYPE_NAMES])
def dtype_object(torch, ctx, dtype):
    """The dtype constant exists, is a torch.dtype, is hashable and distinct from every other dtype."""
    dt = getattr(torch, dtype)
    others = [getattr(torch, n) for n in DTYPE_NAMES if n != dtype and hasattr(torch, n)]
    return {"is_dtype": ctx.attempt(lambda: isinstance(dt, torch.dtype)),
            "dict_lookup": ctx.attempt(lambda: {dt: dtype}.get(getattr(torch, dtype))),
            "equal_to_others": ctx.attempt(lambda: [ctx.dtype_name(o) for o in others if o == dt]),
            "itemsize": ctx.attempt(lambda: dt.itemsize),
            "is_floating_point": ctx.attempt(lambda: dt.is_floating_point)}
