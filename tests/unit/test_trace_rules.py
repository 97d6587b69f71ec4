"""How a replayed call is compared and which calls are replayed (conformance/trace/rules.py)."""
from __future__ import annotations

import pytest

from conformance.trace import rules


def T(dtype="float32", shape=(2,)):
    return {"k": "tensor", "dtype": dtype, "shape": list(shape)}


def call(api, *args, out=None, **kwargs):
    c = {"api": api, "args": list(args), "kwargs": kwargs}
    if out is not None:
        c["out"] = out
    return c


@pytest.mark.parametrize("api, short, leaf", [
    ("torch.Tensor.reshape", "Tensor.reshape", "reshape"),
    ("torch.Tensor.shape.__get__", "Tensor.shape", "shape"),
    ("torch.Tensor.data.__set__", "Tensor.data.__set__", "data"),
    ("torch.nn.functional.linear", "torch.nn.functional.linear", "linear"),
    ("Tensor.add_", "Tensor.add_", "add_"),
])
def test_names_as_case_ids_spell_them(api, short, leaf):
    assert rules.short_name(api) == short and rules.leaf(api) == leaf


@pytest.mark.parametrize("name, yes", [("__radd__", True), ("__iadd__", True), ("__idiv__", True),
                                       ("__rmatmul__", True), ("__int__", False), ("__iter__", False),
                                       ("__invert__", False), ("__repr__", False), ("__rfoo__", False),
                                       ("radd", False), ("__add__", False)])
def test_reflected_and_in_place_operators(name, yes):
    assert rules.reflected_or_in_place(name) is yes


def test_in_place_ops_write_into_their_first_argument():
    for api in ("Tensor.add_", "torch.Tensor.__iadd__", "Tensor.__setitem__", "Tensor.copy_"):
        assert rules.in_place(api), api
    for api in ("Tensor.add", "Tensor.__add__", "torch._private_", "Tensor.__int__", "Tensor.__getitem__"):
        assert not rules.in_place(api), api


def test_public_apis_have_no_private_component():
    assert rules.public("torch.Tensor.__getitem__") and rules.public("torch.nn.functional.linear")
    assert not rules.public("torch._C._nn.linear") and not rules.public("torch.Tensor._version")


def test_op_classes_and_what_compares_within_tolerance():
    assert [rules.op_class(a) for a in ("Tensor.view", "torch.embedding", "Tensor.clone", "Tensor.eq",
                                        "torch.empty", "torch.matmul")] == \
        ["layout", "indexing", "copy", "comparison", "uninitialized", "float-math"]
    assert rules.compares_within_tolerance("torch.matmul", "bfloat16")
    assert not rules.compares_within_tolerance("torch.matmul", "int64"), "integer math is exact"
    assert not rules.compares_within_tolerance("Tensor.view", "float32")
    assert not rules.compares_within_tolerance("torch.matmul", None)


def test_the_tolerance_scales_atol_with_the_outputs_magnitude():
    assert rules.tolerance(0.5) == {"rtol": rules.RTOL, "atol": rules.ATOL}
    assert rules.tolerance(1000) == {"rtol": rules.RTOL, "atol": rules.ATOL * 1000}


def test_a_calls_signature_is_its_first_tensor_argument_else_its_output():
    assert rules.signature(call("torch.Tensor.view", {"k": "int", "v": 1}, T("int64", (2, 3)))) == \
        ("Tensor.view", "int64", 2)
    nested = {"k": "tuple", "v": [{"k": "int", "v": 0}, {"k": "list", "v": [T("float16", (1,))]}]}
    assert rules.signature(call("torch.cat", nested)) == ("torch.cat", "float16", 1)
    assert rules.signature(call("torch.zeros", {"k": "int", "v": 3}, out=T("float32", (3,)))) == \
        ("torch.zeros", "float32", 1)
    assert rules.signature(call("torch.zeros", x=T("bool", ()))) == ("torch.zeros", "bool", 0)
    assert rules.signature(call("torch.manual_seed", {"k": "int", "v": 0})) is None


def test_calls_that_cannot_be_replayed_say_why():
    assert rules.not_replayable(call("torch._C._foo", T())) == "torch._C._foo is private to torch"
    assert "random" in rules.not_replayable(call("torch.randn", {"k": "int", "v": 2}))
    assert "random" in rules.not_replayable(call("torch.nn.functional.dropout", T(), {"k": "float", "v": 0.1}))
    assert rules.not_replayable(call("torch.nn.functional.dropout", T(), training={"k": "bool", "v": False})) is None
    assert rules.not_replayable(call("torch.nn.functional.dropout", T(), {"k": "float", "v": 0.1},
                                     {"k": "bool", "v": False})) is None, "eval mode is a copy"
    opaque = {"k": "opaque", "type": "Generator", "reason": "not encodable"}
    assert rules.not_replayable(call("torch.matmul", T(), {"k": "list", "v": [opaque]})) == \
        "Generator: not encodable"
    assert rules.not_replayable(call("torch.f", {"k": "dict", "v": [[{"k": "str", "v": "a"}, opaque]]})) == \
        "Generator: not encodable"
    assert rules.not_replayable(call("torch.f", T(), out=opaque)) == "its result, Generator: not encodable"
    assert rules.not_replayable(call("torch.matmul", T(), T())) is None
