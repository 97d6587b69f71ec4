"""What the kit reads off a backend, read as values (conformance/shapes.py): dtype, device, Tensor, stride
and shape in whatever form a backend gives them, with fake backends."""
from __future__ import annotations

import types

from conformance import shapes


class Tensor:
    def __init__(self, shape, stride):
        self._shape, self._stride = shape, stride

    @property
    def shape(self):
        return self._shape

    def stride(self):
        return self._stride


class TupleTensor:                      # stride a tuple, shape a method: as some backends have it
    stride = (3, 1)

    def shape(self):
        return (2, 3)


def test_is_instance_is_false_where_the_class_is_a_function_or_raises():
    assert shapes.is_instance(Tensor((1,), (1,)), Tensor)
    assert not shapes.is_instance(Tensor((1,), (1,)), lambda *a: None)
    assert not shapes.is_instance(1, None)

    class Meta(type):
        def __instancecheck__(cls, v):
            raise RuntimeError("no")
    assert not shapes.is_instance(1, Meta("Odd", (), {}))


def test_tensors_dtypes_and_devices_of_a_backend_with_classes():
    class dtype:
        pass

    class device:
        pass
    torch = types.SimpleNamespace(Tensor=Tensor, dtype=dtype, device=device, float32=dtype())
    assert shapes.is_tensor(torch, Tensor((), ()))
    assert not shapes.is_tensor(torch, object()) and not shapes.is_tensor(types.SimpleNamespace(), Tensor((), ()))
    assert shapes.is_dtype(torch, torch.float32) and not shapes.is_dtype(torch, "float32")
    assert shapes.is_device(torch, device()) and not shapes.is_device(torch, "cpu")


def test_dtypes_and_devices_of_a_backend_whose_dtype_and_device_are_functions():
    f32 = object()

    class device:                       # what its torch.device() returns
        pass
    torch = types.SimpleNamespace(dtype=lambda name: None, device=lambda name: device(), float32=f32)
    assert shapes.is_dtype(torch, f32)
    assert not shapes.is_dtype(torch, object())
    for plain in (None, True, 1, 1.0, "float32", b"", [], {}):
        assert not shapes.is_dtype(torch, plain)
    assert shapes.is_device(torch, torch.device("cpu"))
    assert not shapes.is_device(torch, "cpu")


def test_strides_and_shape_as_methods_or_values():
    t = Tensor((2, 3), (3, 1))
    assert shapes.shape(t) == [2, 3] and shapes.strides(t) == [3, 1]
    odd = TupleTensor()
    assert shapes.shape(odd) == [2, 3] and shapes.strides(odd) == [3, 1]
    assert shapes.shape(Tensor((), ())) == []


def test_a_deviation_in_kind_is_said_in_words():
    assert shapes.deviation(Tensor((1,), (1,)), "stride", method=True) is None
    assert shapes.deviation(TupleTensor(), "stride", method=True) == "is a tuple, not a method"
    assert shapes.deviation(TupleTensor(), "shape", method=False) == "is a method (callable), not a value"
    assert shapes.deviation(Tensor((1,), (1,)), "shape", method=False) is None

    class Raises:
        @property
        def shape(self):
            raise ValueError("broken")
    assert shapes.deviation(Raises(), "shape", method=False) == "reading it raised ValueError: broken"
    assert shapes.deviation(object(), "stride", method=True).startswith("reading it raised AttributeError")
