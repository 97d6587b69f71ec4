"""Root causes (conformance/render/causes.py): failing rows grouped by the API their cause names, blocked rows
under their blocker, the same fault in two APIs one item, kit-only and not-isolated rows never an item; and
whether an entry point works, judged by its own end-to-end rows."""
from __future__ import annotations

from records import judged

from conformance.render import causes
from conformance.render.entry_points import ENTRY_POINTS

LOAD = ENTRY_POINTS[0]


def row(id: str, raw: str = "FAIL", *, api: str = "torch.x", origin: str = "_view2torch", module: str = "tensors",
        **kw) -> dict:
    return judged({"id": id, "api": api, "origin": origin, "module": module, "raw_outcome": raw, "outcome": raw,
                   "summary": kw.pop("summary", "s"), **kw})


def raising(id: str, api: str, message: str = "a message long enough to tie", **kw) -> dict:
    return row(id, api=api, observed={"raises": "TypeError", "message": message}, **kw)


def by(api: str, phase: str = "input", **extra) -> dict:
    return {"api": api, "phase": phase, "evidence": "e", **extra}


def wrong(id: str, api: str, field: str = "bytes", **kw) -> dict:
    return row(id, api=api, observed={"value": {}}, diffs=[{"path": f"value.{field}", "oracle": "a", "target": "b"}], **kw)


def test_a_blocked_row_is_listed_under_its_blockers_error_not_its_own_api():
    items = causes.causes([raising("y[1]", "torch.y", "y went wrong somehow"), wrong("y[2]", "torch.y"),
                           row("x[1]", cause=by("torch.y"))])
    (err,) = [i for i in items if i.group == "error"]
    assert err.api == "torch.y" and [r["id"] for r in err.own] == ["y[1]"] and [r["id"] for r in err.blocked] == ["x[1]"]
    assert "torch.x" not in [i.api for i in items], "a blocked row is no fault of its own API"


def test_a_blocker_without_a_row_of_its_own_gets_an_item_from_its_evidence():
    (item,) = causes.causes([row("x[1]", cause=by("torch.y"))])
    assert (item.api, item.detail, item.own, len(item.blocked)) == ("torch.y", "fails before the row's own call", [], 1)


def test_kit_only_and_not_isolated_rows_are_never_items():
    kit = row("save_error[sparse]", api="safetensors.torch.save", oracle={"raises": "ValueError"},
              observed={"raises": "AttributeError", "display": {"called_at": "conformance/catalog/st_save.py:3"}},
              cause=by("Tensor.to_sparse", "call"))
    guess = row("x[1]", cause=by("torch.x", "call", isolated=False))
    assert causes.causes([kit, guess]) == []
    assert causes.kit_only([kit, guess]) == [kit] and causes.unisolated([kit, guess]) == [guess]


def test_the_same_fault_in_two_apis_is_one_item_that_names_both():
    items = causes.causes([raising("a[1]", "torch.a"), raising("b[1]", "torch.b"), raising("c[1]", "torch.c", "other words here")])
    assert sorted(i.apis for i in items) == [["torch.a", "torch.b"], ["torch.c"]]
    (ab,) = [i for i in items if i.also]
    assert ab.title.endswith("(the same fault also in torch.b)")


def test_one_apis_silent_rows_split_by_tier():
    items = causes.causes([wrong("x[1]", "torch.x", "bytes"), wrong("x[2]", "torch.x", "stride")])
    assert sorted(i.section for i in items) == ["metadata", "wrong"]
    assert {i.title for i in items} == {"wrong bytes", "wrong stride"}


def test_items_rank_by_tier_and_off_path_rows_come_last():
    items = causes.causes([wrong("m[1]", "torch.m", "stride"), wrong("w[1]", "torch.w", "bytes"),
                           raising("o[1]", "torch.o", off_path="not taken")])
    assert [(i.api, i.section) for i in items] == [("torch.w", "wrong"), ("torch.m", "metadata"), ("torch.o", "off_path")]


def test_the_evidence_most_rows_share_and_the_simplest_example():
    item = causes.Cause("torch.y", "error", "d", blocked=[row("x[10]", cause=by("torch.y") | {"evidence": "b"}),
                                                          row("x[2]", cause=by("torch.y") | {"evidence": "a"}),
                                                          row("x[3]", cause=by("torch.y") | {"evidence": "b"})])
    assert item.evidence() == "b" and item.example["id"] == "x[2]"


def test_an_entry_point_is_judged_by_its_own_end_to_end_rows():
    e2e = [row("load[1]", "PASS", module="st_entrypoints")]
    per_api = [wrong("x[1]", "torch.x")]
    v = causes.verdict(LOAD, e2e + per_api, ["st_entrypoints"])
    assert v.state == "works" and v.leaning == [("torch.x", 1, 1)]
    v = causes.verdict(LOAD, per_api + [row("load[1]", module="st_entrypoints", cause=by("torch.y")),
                                        row("load[2]", module="st_entrypoints", cause=by("torch.y")),
                                        row("load[3]", module="st_entrypoints", cause=by("torch.z"))], ["st_entrypoints"])
    assert v.label == "blocked by torch.y, torch.z" and v.causes == [("torch.y", 2), ("torch.z", 1)]


def test_an_entry_point_whose_rows_all_skip_or_lie_off_path_is_not_tested():
    v = causes.verdict(LOAD, [row("a", "SKIP", summary="no  float8"), row("b", "SKIP", summary="no float8")], [])
    assert v.label == "not tested (no float8)"
    v = causes.verdict(LOAD, [row("a", off_path="p")], [])
    assert v.state == "not tested" and "loading path" in v.why
    assert causes.verdict(LOAD, [], []).label == "no cases in this run"


def test_a_causes_weight_is_worked_out_again_when_its_rows_change():
    """Kept once worked out (the renderers and every sort ask for it); a copy that absorbs another item's rows
    weighs its own rows, and the item it was copied from keeps its weight."""
    from conformance.render.ranking import weigh

    (a,) = causes.causes([wrong("x[1]", "torch.x", field="stride")], {})
    (b,) = causes.causes([row("load[1]", module="st_entrypoints", cause=by("torch.y", phase="call"))], {})
    before = a.weight
    assert a.weight is before, "kept"
    merged = a.copy()
    assert merged.weight is before, "a copy with the same rows weighs the same"
    merged.absorb(b)
    assert merged.weight == weigh(merged.api, merged.own, merged.blocked, merged.run_uses) != before
    assert a.weight is before
