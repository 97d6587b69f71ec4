"""One item per root cause (conformance/render/roots.py): rows of different APIs showing the same wrong
result tie their items together, and only rows of one kind of difference do."""
from __future__ import annotations

from records import judged

from conformance.render import roots


def row(api: str, raw: str = "FAIL", **kw) -> dict:
    return judged({"id": f"{api}[1]", "api": api, "raw_outcome": raw, "outcome": raw, **kw})


def strides(api: str, shape, oracle, target) -> dict:
    return row(api, observed={"value": {"result": {"shape": shape, "stride": target}}},
               oracle={"value": {"result": {"shape": shape, "stride": oracle}}},
               diffs=[{"path": "value.result.stride", "oracle": oracle, "target": target}])


def raising(api: str, cls: str, message: str) -> dict:
    return row(api, observed={"raises": cls, "message": message})


def groups(items: list[dict]) -> list[list[str]]:
    return [[r["api"] for r in g] for g in roots.merge(items, lambda r: [r], lambda r: "fam")]


def test_the_same_wrong_strides_for_the_same_shape_are_one_fault():
    a, b = strides("torch.zeros", [2, 0], [1, 1], [0, 1]), strides("torch.empty", [2, 0], [1, 1], [0, 1])
    assert roots.signatures(a) == {("stride", (2, 0), (1, 1), (0, 1))}
    assert groups([a, b]) == [["torch.zeros", "torch.empty"]]
    other_shape = strides("torch.ones", [3, 0], [1, 1], [0, 1])
    assert groups([a, other_shape]) == [["torch.zeros"], ["torch.ones"]]


def test_the_same_exception_is_one_fault_whatever_module_qualifies_it():
    msg = "'Tensor' object has no attribute 'data_ptr'"
    a = raising("Tensor.data_ptr", "AttributeError", msg)
    b = raising("torch.meta", "builtins.AttributeError", f"AttributeError: {msg}")
    assert roots.signatures(a) == roots.signatures(b) == {("raises", "AttributeError", msg)}
    assert groups([a, b]) == [["Tensor.data_ptr", "torch.meta"]]


def test_a_short_message_ties_nothing():
    a, b = raising("torch.a", "TypeError", "dtype"), raising("torch.b", "TypeError", "dtype")
    assert roots.signatures(a) == set()
    assert groups([a, b]) == [["torch.a"], ["torch.b"]]


def test_the_same_wrong_value_and_count_in_one_field():
    a = row("Tensor.is_contiguous", observed={"value": {}},
            diffs=[{"path": "value.is_contiguous", "oracle": True, "target": False}])
    b = row("Tensor.contiguous", observed={"value": {}},
            diffs=[{"path": "value.result_is_contiguous", "oracle": True, "target": False}])
    assert roots.signatures(a) == roots.signatures(b) == {("value", "is_contiguous", "True", "False")}
    c = row("Tensor.clone", observed={"value": {}}, diffs=[{"path": "value.storage_nbytes", "oracle": 16, "target": 48}])
    assert ("count", "nbytes", 48) in roots.signatures(c)


def test_families_and_kinds_keep_items_apart():
    msg = "the same long enough message"
    a, b = raising("torch.a", "ValueError", msg), raising("torch.b", "ValueError", msg)
    apart = roots.merge([a, b], lambda r: [r], lambda r: r["api"])
    assert [len(g) for g in apart] == [1, 1], "two families never merge"
    wrong = row("torch.c", observed={"value": {}}, diffs=[{"path": "value.dtype", "oracle": "a", "target": "b"}])
    layout = row("torch.d", observed={"value": {}}, diffs=[{"path": "value.ndim", "oracle": "a", "target": "b"}])
    assert roots.row_kind(wrong) == ("silent", "wrong", ("dtype",))
    assert roots.row_kind(layout) == ("silent", "metadata", ("ndim",))
    assert roots.row_kind(a) == ("error",)


def test_merge_is_transitive_and_keeps_the_order_of_items():
    msg1, msg2 = "first long message here", "second long message here"
    items = [{"n": 0, "rows": [raising("x", "E", msg1)]}, {"n": 1, "rows": [raising("y", "E", "unrelated message xx")]},
             {"n": 2, "rows": [raising("z", "E", msg2), raising("z2", "E", msg1)]},
             {"n": 3, "rows": [raising("w", "E", msg2)]}]
    got = roots.merge(items, lambda i: i["rows"], lambda i: "f")
    assert [[i["n"] for i in g] for g in got] == [[0, 2, 3], [1]]


def test_field_names_drop_the_result_and_storage_prefixes():
    assert roots.field_names(["result_is_contiguous", "is_contiguous", "storage_nbytes"]) == ("is_contiguous", "nbytes")
