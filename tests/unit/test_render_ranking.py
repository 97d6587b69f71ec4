"""What to fix first (conformance/render/ranking.py, docs/reports.md): a cause's tier by what users lose,
then the entry points and workloads it breaks, then its rows."""
from __future__ import annotations

from records import judged

from conformance.render import ranking


def row(raw: str = "FAIL", *, api="torch.x", origin="_view2torch", module="tensors", id="x[1]", **kw) -> dict:
    return judged({"id": id, "api": api, "origin": origin, "module": module, "raw_outcome": raw, "outcome": raw, **kw})


def silent(*fields: str, **kw) -> dict:
    return row(observed={"value": {}}, diffs=[{"path": f"value.{f}", "oracle": 1, "target": 2} for f in fields], **kw)


def test_the_tier_of_a_row_follows_what_users_lose():
    assert ranking.row_tier(silent("bytes")) == "wrong"
    assert ranking.row_tier(silent("stride", "bytes")) == "wrong", "one wrong value makes the row wrong"
    assert ranking.row_tier(silent("stride", "is_contiguous")) == "metadata"
    assert ranking.row_tier(silent("shares_memory", "stride")) == "aliasing"
    assert ranking.row_tier(row(observed={"raises": "TypeError"})) == "broken"
    refused = row(observed={"value": {}}, diffs=[{"path": "value.r.raises", "oracle": "ValueError", "target": "<absent>"},
                                                 {"path": "value.r.bytes", "oracle": "<absent>", "target": "00"}])
    assert ranking.row_tier(refused) == "aliasing", "an input PyTorch refuses that the target takes"


def test_weights_sort_by_tier_then_uses_then_end_to_end_then_rows():
    W = ranking.Weight
    order = [W("wrong", {"a": "a"}, [], 1), W("broken", {"a": "a", "b": "b"}, ["a"], 9),
             W("broken", {"a": "a", "b": "b"}, [], 9), W("broken", {"a": "a"}, [], 50), W("metadata", {}, [], 99)]
    assert sorted(reversed(order), key=W.sort_key) == order


def test_weigh_takes_the_worst_tier_and_counts_the_entry_points_unblocked():
    own = [silent("stride", origin="_view2torch"), silent("bytes", origin="safetensors.torch.save_file")]
    w = ranking.weigh("torch.x", own, [], {})
    assert w.tier == "wrong" and sorted(w.uses) == ["load(bytes)", "save"] and w.rows == 2
    assert w.text() == "2 entry points and workloads, 2 rows"


def test_an_end_to_end_row_is_never_metadata_no_one_depends_on():
    e2e = silent("stride", module="st_entrypoints", origin="safetensors.torch.load")
    w = ranking.weigh("torch.x", [e2e], [], {})
    assert w.tier == "aliasing" and w.e2e == ["load(bytes)"] and w.note == ""
    assert ranking.weigh("torch.x", [silent("stride")], [], {}).note.startswith("no entry point's result")


def test_a_broken_fresh_import_counts_for_every_entry_point_of_the_run():
    run = ranking.universe([row(origin="_view2torch"), row(origin="_flatten"),
                            row(origin="rust:safe_open(pt) pread", off_path="not taken")])
    assert sorted(run) == ["load(bytes)", "save"], "a row off the loading path counts for nothing"
    w = ranking.weigh("torch.x", [row(observed={"raises": "E"}, origin=ranking.FRESH_ORIGIN)], [], run)
    assert w.fresh and sorted(w.uses) == ["load(bytes)", "save"]
    assert w.text().startswith("breaks the fresh-process import safetensors.torch")


def test_a_cause_needed_only_for_guarded_names_is_optional():
    assert "float8_e4m3fn" in ranking.guarded_names()
    w = ranking.weigh("torch.float8_e4m3fn", [silent("bytes")], [], {})
    assert (w.tier, w.guard) == ("optional", ["float8_e4m3fn"])
    assert ranking.guard_of("Tensor.view", [row(id="view[float8_e5m2]"), row(id="view[uint16-x]")]) == \
        ["float8_e5m2", "uint16"]
    assert ranking.guard_of("Tensor.view", [row(id="view[float8_e5m2]"), row(id="view[float32]")]) == [], \
        "one row that needs no guarded name makes the cause not optional"


def test_a_transformers_row_counts_for_its_models_from_pretrained():
    r = row(module="transformers_e2e", id="transformers[gpt2-load]")
    assert ranking.uses(r) == {"from_pretrained:gpt2": "from_pretrained(gpt2)"}
