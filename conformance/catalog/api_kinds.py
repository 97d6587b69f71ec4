"""What kind of thing an API the kit reads off every tensor is: ``Tensor.stride`` a method, ``Tensor.shape``
a value, ``torch.dtype`` and ``torch.device`` classes (``isinstance(x, torch.dtype)`` is how transformers and
safetensors tell a dtype). The kit itself reads them as values (``conformance/shapes.py``), so a backend where
they differ is judged on every other row; the difference shows here, on the row of the API it is about."""
from __future__ import annotations

from .. import shapes
from ..inputs import TensorInput
from ..registry import case, param

ORIGIN = "tensor layout and dtypes (every observation; transformers' isinstance checks)"


def _kind_of_class(torch, name: str) -> str:
    obj = getattr(torch, name)      # absent: AttributeError, the row is MISSING
    if isinstance(obj, type):
        return f"torch.{name} is a class"
    return f"torch.{name} is a {type(obj).__name__}, not a class"


@case("Tensor.stride", ORIGIN, [param("float32-2x3", dtype="float32", shape=(2, 3))], name="stride_kind")
def stride_kind(torch, ctx, dtype, shape):
    """Tensor.stride is a method: t.stride() is the tuple of every dimension's stride, t.stride(d) one of them."""
    t = ctx.input(TensorInput(dtype, shape))
    words = shapes.deviation(t, "stride", method=True)
    return {"kind": f"Tensor.stride {words}" if words else "Tensor.stride is a method",
            "all": ctx.attempt(lambda: [int(s) for s in t.stride()]),
            "one": ctx.attempt(lambda: int(t.stride(1)))}


@case("Tensor.shape", ORIGIN, [param("float32-2x3", dtype="float32", shape=(2, 3))], name="shape_kind")
def shape_kind(torch, ctx, dtype, shape):
    """Tensor.shape is a value (a torch.Size, a tuple of ints), not a method."""
    t = ctx.input(TensorInput(dtype, shape))
    words = shapes.deviation(t, "shape", method=False)
    return {"kind": f"Tensor.shape {words}" if words else "Tensor.shape is a value",
            "is_tuple": ctx.attempt(lambda: isinstance(t.shape, tuple)),
            "dims": ctx.attempt(lambda: [int(s) for s in t.shape])}


@case("torch.dtype", ORIGIN, [param("class")], name="dtype_kind")
def dtype_kind(torch, ctx):
    """torch.dtype is the class of every dtype constant: isinstance(torch.float32, torch.dtype) is True."""
    return {"kind": _kind_of_class(torch, "dtype"),
            "float32_is_one": ctx.attempt(lambda: isinstance(torch.float32, torch.dtype))}


@case("torch.device", ORIGIN, [param("class")], name="device_kind")
def device_kind(torch, ctx):
    """torch.device is a class: torch.device("cpu") is an instance of it."""
    return {"kind": _kind_of_class(torch, "device"),
            "cpu_is_one": ctx.attempt(lambda: isinstance(torch.device("cpu"), torch.device))}
