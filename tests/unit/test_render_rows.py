"""What the renderers read off one record (conformance/render/rows.py): which fields differ, what kind
of failure a row is, where in an observation a diff points."""
from __future__ import annotations

from conformance.render import rows


def rec(raw="FAIL", **kw):
    return {"id": "x[1]", "api": "torch.x", "raw_outcome": raw, "shown_outcome": raw,
            "cause": {"api": "torch.x", "phase": "call", "evidence": "e"} if raw not in ("PASS", "SKIP") else None,
            **kw}


def test_works_reads_the_raw_outcome_not_the_shown_one():
    assert rows.works(rec("PASS")) and rows.works(rec("SKIP"))
    for raw in ("FAIL", "MISSING", "BLOCKED", "CRASH", "TIMEOUT", "ERROR"):
        assert not rows.works(rec(raw)), raw
    assert not rows.works({**rec("FAIL"), "shown_outcome": "XFAIL"}), "an expected failure still fails"


def test_not_isolated_only_for_a_failing_row_whose_cause_says_so():
    assert rows.not_isolated(rec("FAIL", cause={"api": "a", "isolated": False}))
    assert not rows.not_isolated(rec("FAIL", cause={"api": "a", "isolated": True}))
    assert not rows.not_isolated(rec("FAIL", cause={"api": "a"}))
    assert not rows.not_isolated(rec("PASS", cause={"api": "a", "isolated": False}))


def test_diff_fields_are_named_for_a_reader():
    r = rec(diffs=[{"path": "value.result.bytes"}, {"path": "value.result.stride[0]"},
                   {"path": "value.aliases_buffer"}, {"path": "value.shares_memory"},
                   {"path": "value.out", "kind": "approx"}, {"path": ""}, {"path": "value.result.bytes"}])
    assert rows.diff_fields(r) == ["aliasing", "bytes", "stride", "value", "values"]
    assert rows.diff_fields(rec()) == [] and rows.diff_fields(rec(diffs=None)) == []


def test_silent_fields_leave_out_exceptions_and_the_kits_reading():
    r = rec(diffs=[{"path": "raises"}, {"path": "value.observe"}, {"path": "value.bytes"}])
    assert rows.silent_fields(r) == ["bytes"]


def test_the_kind_of_a_rows_own_failure():
    assert rows.kind(rec("CRASH")) == ("crash", "the process dies")
    assert rows.kind(rec("TIMEOUT")) == ("crash", "the call hangs")
    assert rows.kind(rec("MISSING")) == ("error", "missing")
    assert rows.kind(rec("FAIL", observed={"raises": "TypeError"})) == ("error", "raises TypeError")
    inside = rec("FAIL", observed={"value": {}}, diffs=[{"path": "value.r", "target": {"raises": "ValueError"}}])
    assert rows.kind(inside) == ("error", "raises ValueError")
    silent = rec("FAIL", observed={"value": {}}, diffs=[{"path": "value.bytes"}])
    assert rows.kind(silent) == ("silent", "wrong data")
    assert rows.kind(rec("FAIL", observed={"blocked": {}})) == ("error", "fails before the row's own call")
    assert rows.kind(rec("ERROR", observed={})) == ("error", "error")
    assert rows.kind(rec("FAIL", observed=None)) == ("error", "fail")


def test_raised_inside_reads_the_exception_a_value_holds():
    assert rows.raised_inside(rec(diffs=[{"path": "value.calls[1].raises", "oracle": "<absent>",
                                          "target": "KeyError"}])) == "KeyError"
    assert rows.raised_inside(rec(diffs=[{"path": "value.calls[1].raises", "oracle": "KeyError",
                                          "target": "IndexError"}])) is None, "both raised: not inside the value"
    assert rows.raised_inside(rec(diffs=[{"path": "value.bytes", "target": "00"}])) is None


def test_a_missing_refusal_is_the_oracle_raising_where_the_target_returned():
    assert rows.accepts_refused(rec(diffs=[{"path": "raises", "oracle": "ValueError", "target": "<absent>"}]))
    assert rows.accepts_refused(rec(diffs=[{"path": "value.a.raises", "oracle": "TypeError", "target": "<absent>"}]))
    assert not rows.accepts_refused(rec(diffs=[{"path": "raises", "oracle": "no exception", "target": "<absent>"}]))
    assert not rows.accepts_refused(rec(diffs=[{"path": "raises", "oracle": "<absent>", "target": "ValueError"}]))
    assert not rows.accepts_refused(rec(diffs=[{"path": "value.raises_count", "oracle": 1, "target": "<absent>"}]))


def test_end_to_end_rows_call_an_entry_point_themselves():
    assert rows.is_e2e({"module": "st_entrypoints", "id": "a"})
    assert rows.is_e2e({"module": "replay", "id": "replay[gpt2-forward-chained]"})
    assert not rows.is_e2e({"module": "replay", "id": "replay[gpt2-forward-isolated]"})
    assert not rows.is_e2e({"module": "tensors", "id": "x"})


def test_a_kit_error_path_is_a_refusal_row_the_catalog_failed_to_build():
    base = rec("FAIL", api="safetensors.torch.save", oracle={"raises": "ValueError"},
               observed={"raises": "AttributeError", "display": {"called_at": "conformance/catalog/st_save.py:10"}},
               cause={"api": "Tensor.to_sparse", "phase": "call", "evidence": "e"})
    assert rows.kit_error_path(base)
    assert not rows.kit_error_path({**base, "cause": {**base["cause"], "api": "safetensors.torch.save"}})
    assert not rows.kit_error_path({**base, "observed": {**base["observed"], "display": {"called_at": "safetensors/torch.py:1"}}})
    assert not rows.kit_error_path({**base, "oracle": {"value": 1}})


def test_at_follows_a_diff_path_into_an_observation():
    obs = {"value": {"calls": [{"a": 1}, {"result": {"stride": [3, 1]}}]}}
    assert rows.at(obs, "value.calls[1].result.stride") == [3, 1]
    assert rows.at(obs, "value.calls[1].result.stride[1]") == 1
    assert rows.at(obs, "value.calls[5]") is None and rows.at(obs, "value.nope") is None
    assert rows.at(obs, "value[0]") is None, "an index into a dict is nothing"
    assert rows.at(obs, "value.calls.a") is None, "a name into a list is nothing"
    assert rows.at(obs, "") == obs
