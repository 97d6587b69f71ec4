"""What a recording's trace.json must hold (conformance/trace/schema.py): each problem one SchemaError line
naming where it is, never a KeyError later; a crafted value cannot exhaust the stack."""
from __future__ import annotations

import copy

import pytest

from conformance.trace import schema

S = "torch-conformance/trace/1"
BLOB = "ab" * 32


def tensor(**kw) -> dict:
    return {"k": "tensor", "dtype": "float32", "shape": [2, 3], "stride": [3, 1], "offset": 0, "nbytes": 24,
            "align": 64, "blob": BLOB, **kw}


def trace(*calls) -> dict:
    return {"schema": S, "workload": "builtin:gpt2", "calls": list(calls) or [good_call()], "attributes": {}}


def good_call(**kw) -> dict:
    return {"i": 0, "api": "torch.Tensor.reshape", "phase": "forward", "args": [tensor(), {"k": "int", "v": 6}],
            "kwargs": {"dim": {"k": "tuple", "v": [{"k": "none"}, {"k": "dtype", "v": "float16"}]}},
            "out": tensor(), **kw}


def test_a_well_formed_trace_passes():
    schema.check(trace(), S)


@pytest.mark.parametrize("change, where", [
    (lambda t: t.update(schema="other/1"), "schema 'other/1', expected"),
    (lambda t: t.update(workload=""), '"workload" must be a non-empty string'),
    (lambda t: t["calls"][0].update(api="torch.x y"), "calls[0].api 'torch.x y' must be a dotted name"),
    (lambda t: t["calls"][0].update(api="torch.a[1]"), "calls[0].api"),
    (lambda t: t["calls"][0].update(i=True), "calls[0].i must be an integer"),
    (lambda t: t["calls"][0]["args"][0].update(shape=[2, -1]), "calls[0].args[0].shape must be a list of non-negative"),
    (lambda t: t["calls"][0]["args"][0].update(stride=[1]), "calls[0].args[0].stride must be a list of integers, one per"),
    (lambda t: t["calls"][0]["args"][0].update(blob="../../etc/passwd"), "calls[0].args[0].blob '../../etc/passwd' is not a sha256"),
    (lambda t: t["calls"][0]["args"][0].update(dtype="float128"), "calls[0].args[0].dtype 'float128' is not one of"),
    (lambda t: t["calls"][0]["args"][1].update(v=True), "calls[0].args[1].v must be a int for kind 'int'"),
    (lambda t: t["calls"][0]["kwargs"]["dim"]["v"][1].update(v="float99"),
     "calls[0].kwargs['dim'].v[1].v 'float99' is not a dtype the kit knows"),
    (lambda t: t["calls"][0]["out"].update(k="pickle"), "calls[0].out.k 'pickle' is not a kind of value"),
    (lambda t: t["calls"][0].update(raises=3), "calls[0].raises must be a string"),
    (lambda t: t.update(attributes={"x": 1}), "attributes['x'] must be an object"),
])
def test_each_problem_is_one_line_naming_where_it_is(change, where):
    t = copy.deepcopy(trace())
    change(t)
    with pytest.raises(schema.SchemaError) as e:
        schema.check(t, S)
    assert where in str(e.value) and "\n" not in str(e.value)


def test_a_deep_value_is_refused_without_recursion():
    v = {"k": "none"}
    for _ in range(10_000):         # ten times Python's recursion limit
        v = {"k": "list", "v": [v]}
    with pytest.raises(schema.SchemaError, match=f"nested deeper than {schema.MAX_DEPTH} levels"):
        schema.value(v, "x")
    ok = {"k": "none"}
    for _ in range(schema.MAX_DEPTH):
        ok = {"k": "list", "v": [ok]}
    schema.value(ok, "x")


def test_a_label_is_safe_in_a_case_id():
    assert schema.label("script:/home/u/my model #1.py") == "script-my_model_1"
    assert schema.label("script:/x/ünï.py") == "script-n" and schema.label("script:/x/üï.py") == "script-unnamed"
    assert not schema.ID_UNSAFE.search(schema.label("script:/a/b[c],d*e.py"))
