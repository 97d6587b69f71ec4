"""Expectations entries: a reason reaches each row it decides bounded (a 2 MB reason is one copy in the file,
not one per row); ``cause=API`` entries decide rows by their record's cause, after the id entries."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from conformance import results
from conformance.compare import Verdict
from conformance.expectations import REASON_IN_ROW, Entry, Expectations, ExpectationsError, apply


def test_a_long_reason_is_cut_in_every_row_and_says_how_long_it_was():
    entry = Entry("frombuffer[*", ("FAIL",), "r" * (2 << 20), 1, source="exp.txt")
    for raw in ("FAIL", "PASS", "MISSING"):
        _, note = apply(raw, entry)
        assert REASON_IN_ROW <= len(note) < REASON_IN_ROW + 200 and f"({2 << 20} characters)" in note, raw
    case = SimpleNamespace(id="frombuffer[f32]", api="torch.frombuffer", origin="o", module="m")
    row = results.case_record(case, "t", Verdict("FAIL", "s"), entry, *apply("FAIL", entry), {}, off_path=None,
                              oracle_version=None, process=None, seq=None)
    assert len(row["expectation"]["reason"]) < REASON_IN_ROW + 100
    short = Entry("x[1]", ("FAIL",), "a known gap", 2)
    assert apply("FAIL", short) == ("XFAIL", "a known gap")


FILE = """\
# BLOCKED by torch.frombuffer: 3 rows
cause=torch.frombuffer   BLOCKED          no torch.frombuffer yet
cause=torch.<dtype>      BLOCKED,MISSING  dtypes are module attributes here
load[f32-*               FAIL             f32 loads come back as f64
load[bf16-0]             BLOCKED          a person's note on this row
"""


def test_a_cause_entry_parses_with_its_api_and_outcomes():
    exp = Expectations.parse(FILE, "f")
    keyed = [e for e in exp.own if e.cause is not None]
    assert [(e.cause, e.outcomes, e.line) for e in keyed] == [
        ("torch.frombuffer", ("BLOCKED",), 2), ("torch.<dtype>", ("BLOCKED", "MISSING"), 3)]
    assert all(e.prefix is None and not e.is_prefix and not e.matches(e.pattern) for e in keyed)
    assert keyed[0].comments == ("# BLOCKED by torch.frombuffer: 3 rows",)


def test_a_cause_entry_decides_the_rows_of_its_cause_after_the_id_entries():
    exp = Expectations.parse(FILE, "f")
    assert exp.match("save[f32]", "torch.frombuffer").pattern == "cause=torch.frombuffer"
    assert exp.match("save[f32]", "torch.<dtype>").pattern == "cause=torch.<dtype>"
    assert exp.match("save[f32]", "Tensor.view") is None, "another cause: no entry"
    assert exp.match("save[f32]") is None, "a row without a cause (it passed, or did not run): no cause entry"
    # an id entry wins over a cause entry, exact or prefix
    assert exp.match("load[f32-3]", "torch.frombuffer").pattern == "load[f32-*"
    assert exp.match("load[bf16-0]", "torch.frombuffer").pattern == "load[bf16-0]"
    assert exp.match("load[bf16-1]", "torch.frombuffer").pattern == "cause=torch.frombuffer"
    # the cause is the record's field: a reason's prose naming an api keys nothing
    assert Expectations.parse("x[1]  BLOCKED  TRIAGE: blocked by torch.frombuffer: e\n", "f").match(
        "y[1]", "torch.frombuffer") is None


def test_a_row_a_cause_entry_decides_with_another_outcome_is_not_expected():
    e = Expectations.parse(FILE, "f").match("frombuffer[f32]", "torch.frombuffer")
    assert apply("BLOCKED", e) == ("XFAIL", "no torch.frombuffer yet")
    final, note = apply("FAIL", e)
    assert final == "FAIL" and "expected BLOCKED" in note and "got FAIL" in note


def test_an_including_files_cause_entry_wins_over_the_included_files_entries(tmp_path):
    (tmp_path / "base.txt").write_text("load[*  FAIL  base says FAIL\ncause=torch.frombuffer  BLOCKED  base\n")
    (tmp_path / "mine.txt").write_text("include base.txt\ncause=torch.asarray  BLOCKED  mine\n"
                                       "load[f32-0]  PASS  passes here\n")
    exp = Expectations.load(tmp_path / "mine.txt")
    assert exp.match("load[f32-1]", "torch.asarray").reason == "mine", "this file's entries before the base's"
    assert exp.match("load[f32-1]", "torch.frombuffer").reason == "base says FAIL", "base: its id entry first"
    assert exp.match("save[0]", "torch.frombuffer").reason == "base"
    assert exp.match("load[f32-0]", "torch.asarray") is None, "this file's PASS id entry wins over its cause entry"


def test_a_cause_entry_no_row_of_a_complete_run_is_blocked_by_is_stale(tmp_path):
    exp = Expectations.parse(FILE, "f")
    catalog = ["load[f32-0]", "load[bf16-0]", "load[bf16-1]", "save[f32]"]
    causes = {"load[f32-0]": "torch.frombuffer", "load[bf16-0]": "torch.frombuffer", "load[bf16-1]": "Tensor.x",
              "save[f32]": None}
    stale = exp.unmatched(catalog, causes)
    # frombuffer's only rows are decided by id entries, and no row's cause is torch.<dtype>
    assert [e.pattern for e in stale] == ["cause=torch.frombuffer", "cause=torch.<dtype>"]
    assert [e.pattern for e in exp.unmatched(catalog, {**causes, "save[f32]": "torch.<dtype>",
                                                        "load[bf16-1]": "torch.frombuffer"})] == []
    assert exp.unmatched(catalog) == [], "without the run's causes (a -k run) cause entries are not judged"
    # an included file's cause entries belong to its own target's gate
    (tmp_path / "base.txt").write_text("cause=torch.frombuffer  BLOCKED  base\n")
    (tmp_path / "mine.txt").write_text("include base.txt\ncause=torch.asarray  BLOCKED  mine\n")
    assert [e.pattern for e in Expectations.load(tmp_path / "mine.txt").unmatched(catalog, causes)] == [
        "cause=torch.asarray"]


@pytest.mark.parametrize("line, message", [
    ("cause=  BLOCKED  no api", "API right after '='"),
    ("cause= torch.frombuffer BLOCKED r", "API right after '='"),
    ("cause=torch.frombuffer  BLOCKED", "a cause entry is 'cause=API OUTCOME reason'"),
    ("cause=torch.frombuffer", "a cause entry is 'cause=API OUTCOME reason'"),
    ("cause=torch.frombuffer  BLOKED  r", "unknown outcome 'BLOKED'"),
    ("cause=torch.frombuffer  PASS  r", "cannot say PASS"),
])
def test_a_malformed_cause_line_is_one_clear_error_naming_its_line(line, message):
    with pytest.raises(ExpectationsError, match=message) as e:
        Expectations.parse(f"# heading\nx[1]  FAIL  r\n{line}\n", "exp.txt")
    assert str(e.value).startswith("exp.txt:3: ") and "\n" not in str(e.value)


def test_a_cause_listed_twice_is_refused_with_both_lines():
    with pytest.raises(ExpectationsError, match="exp.txt:2: 'cause=torch.x' is already listed on line 1"):
        Expectations.parse("cause=torch.x  BLOCKED  a\ncause=torch.x  MISSING  b\n", "exp.txt")
