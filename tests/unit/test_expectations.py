"""An entry's reason reaches each row it decides bounded: a 2 MB reason is one copy in the file, not one per row."""
from __future__ import annotations

from types import SimpleNamespace

from conformance import results
from conformance.compare import Verdict
from conformance.expectations import REASON_IN_ROW, Entry, apply


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
