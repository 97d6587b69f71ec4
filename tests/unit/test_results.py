"""results.json (conformance/results.py, docs/results-schema.md): one record per case, written and read back
as the same data; a record the schema refuses (a failing one without a cause) never loads."""
from __future__ import annotations

import json
from types import SimpleNamespace as NS

import pytest

from records import judged

from conformance import results
from conformance.compare import Verdict
from conformance.expectations import Entry, apply

CASE = NS(id="x[1]", api="torch.x", origin="o", module="m", doc="", params=NS(values={"b": 2, "a": "s"}))


def rec(raw: str = "PASS", **kw) -> dict:
    return judged({"id": "x[1]", "api": "torch.x", "origin": "o", "module": "m", "target": "t", "outcome": raw,
                   "raw_outcome": raw, "summary": "s", **kw})


def test_the_first_sentence_is_the_contract_on_one_line():
    assert results.first_sentence("Returns the\n   input's bytes.  Then more.") == "Returns the input's bytes."
    assert results.first_sentence("torch.float32.itemsize is 4") == "torch.float32.itemsize is 4"
    assert results.first_sentence("v1.2 is read. Then") == "v1.2 is read.", "a dot inside a word ends nothing"
    assert results.first_sentence(None) == ""
    assert len(results.first_sentence("a" * 1000)) == results.DOC_LEN


def test_a_case_record_carries_the_verdict_and_the_case():
    cause = {"api": "torch.y", "phase": "input", "evidence": "e"}
    entry = Entry("x[*", ("BLOCKED",), "known", 3)
    r = results.case_record(CASE, "t", Verdict("FAIL", "s", cause=cause), entry, *apply("BLOCKED", entry),
                            {"obs": {"value": 1, "display": {"reached_around": ["torch.z"]}}, "ms": 4},
                            off_path=None, oracle_version="2.13", process="main#1", seq=7)
    assert (r["raw_outcome"], r["outcome"], r["shown_outcome"]) == ("BLOCKED", "XFAIL", "BLOCKED")
    assert r["params"] == {"a": "'s'", "b": "2"}, "parameters are repr'd, in sorted order"
    assert r["expectation"] == {"pattern": "x[*", "line": 3, "reason": "known", "outcomes": ["BLOCKED"]}
    assert r["reached_around"] == ["torch.z"] and r["seq"] == 7
    assert results.record_problem(r) is None


@pytest.mark.parametrize("change, problem", [
    ({"cause": None}, "fails (FAIL) but has no cause"),
    ({"cause": {"phase": "call"}}, "fails (FAIL) but has no cause"),
    ({"shown_outcome": "MAYBE"}, "shown_outcome 'MAYBE'"),
    ({"id": 3}, "has id 3, not a string"),
    ({"seq": True}, "has seq of type bool"),
    ({"diffs": {}}, "has diffs of type dict, not list"),
])
def test_record_problem_names_what_the_schema_refuses(change, problem):
    r = {**rec("FAIL"), **change}
    assert problem in results.record_problem(r)


def test_record_problem_needs_every_required_field():
    for k in ("id", "outcome", "raw_outcome", "shown_outcome", "module", "api", "origin"):
        r = rec()
        del r[k]
        assert results.record_problem(r) == f"has no {k!r}"
    assert results.record_problem([]) == "is list, not an object"
    assert results.record_problem(rec()) is None


def test_counts_follow_the_outcome_table_and_leave_out_zeros():
    c = results.counts([rec("FAIL"), rec("PASS"), rec("FAIL")])
    assert list(c.items()) == [("PASS", 1), ("FAIL", 2)]


def _results(*records) -> dict:
    return results.build({"target": "t"}, list(records))


def test_write_then_load_gives_back_the_same_records_and_each_reason_once(tmp_path):
    entry = Entry("x[*", ("FAIL",), "a long known reason", 2)
    xfail = {**rec("FAIL"), "outcome": "XFAIL", "note": apply("FAIL", entry)[1],
             "expectation": {"pattern": "x[*", "line": 2, "reason": entry.reason, "outcomes": ["FAIL"]}}
    other = {**xfail, "id": "x[2]"}
    data = _results(xfail, other, rec("PASS"))
    path = tmp_path / "results.json"
    results.write(path, data)
    assert path.read_text().count("a long known reason") == 1
    back = results.load(path)
    assert back["cases"] == json.loads(json.dumps(data["cases"])) and back["run"] == data["run"]


def test_load_refuses_another_schema_and_a_bad_record(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({**_results(rec()), "schema": "torch-conformance/results/1"}))
    with pytest.raises(results.ResultsError, match="expected 'torch-conformance/results/2'"):
        results.load(path)
    bad = {**rec("FAIL"), "cause": None}
    path.write_text(json.dumps({**_results(rec()), "cases": [rec(), bad]}))
    with pytest.raises(results.ResultsError, match=r"case record 2 \(id 'x\[1\]'\) fails \(FAIL\) but has no cause"):
        results.load(path)
    with pytest.raises(results.ResultsError, match="no results at"):
        results.load(tmp_path / "absent.json")


def test_a_partial_log_loses_only_a_last_line_cut_short(tmp_path):
    path = tmp_path / "results.jsonl"
    good = json.dumps(rec())
    path.write_text(good + "\n" + good[:20] + "\n")
    heard = []
    data = results.load(path, warn=heard.append)
    assert len(data["cases"]) == 1 and data["run"]["partial"] is True
    assert len(heard) == 1 and "dropped the last line" in heard[0]
    path.write_text(good[:20] + "\n" + good + "\n")
    with pytest.raises(results.ResultsError, match=r"results.jsonl:1 is not a case record"):
        results.load(path, warn=heard.append)


def test_a_results_file_beside_an_incomplete_marker_is_said_to_be_stale(tmp_path):
    path = tmp_path / "results.json"
    results.write(path, _results(rec()))
    assert results.stale_warning(path) is None
    marker = results.mark_incomplete(tmp_path)
    heard = []
    results.load(path, warn=heard.append)
    assert len(heard) == 1 and "is from an earlier run" in heard[0]
    results.mark_complete(tmp_path)
    assert not marker.exists() and results.stale_warning(path) is None


def test_write_atomic_replaces_a_symlink_instead_of_writing_through_it(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep")
    link = tmp_path / "out.json"
    link.symlink_to(victim)
    results.write_atomic(link, "new \udc80")
    assert victim.read_text() == "keep" and not link.is_symlink()
    assert link.read_text() == "new \\udc80", "a lone surrogate is escaped, not fatal"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_partial_log_knows_when_it_was_replaced(tmp_path):
    log = results.PartialLog(tmp_path / "results.jsonl")
    log.write("x\n")
    log.flush()
    assert not log.replaced() and log.restore([rec()]) is None
    (tmp_path / "results.jsonl").unlink()
    (tmp_path / "results.jsonl").write_text("planted")
    assert log.replaced()
    assert "was replaced during the run" in log.restore([rec()])
    assert json.loads((tmp_path / "results.jsonl").read_text()) == rec()
    log.close()


def test_summarised_bounds_the_lines():
    assert results.summarised(list(range(5)), 2, str, "and {n} more") == ["0", "1", "and 3 more"]
    assert results.summarised([1], 2, str, "and {n} more") == ["1"]


def test_a_partial_log_whose_records_name_no_target_still_loads(tmp_path):
    """``target`` is no required field of a record (record_problem): a partial log without it is read, with
    no target, rather than failing with a KeyError."""
    path = tmp_path / "results.jsonl"
    r = rec()
    del r["target"]
    path.write_text(json.dumps(r) + "\n")
    data = results.load(path)
    assert data["run"]["target"] is None and len(data["cases"]) == 1
