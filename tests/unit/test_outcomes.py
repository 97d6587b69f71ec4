"""The one outcome table (conformance/outcomes.py) and the one rule of the shown outcome."""
from __future__ import annotations

import pytest

from conformance import outcomes as o


def test_the_table_holds_each_outcome_once_in_report_order():
    assert o.ORDER == ["PASS", "FAIL", "MISSING", "BLOCKED", "CRASH", "TIMEOUT", "ERROR", "XFAIL", "XPASS", "SKIP"]
    assert list(o.OUTCOMES) == o.ORDER
    assert len({x.colour for x in o.OUTCOMES.values()}) == len(o.ORDER), "two outcomes share a colour"
    assert all(x.meaning and x.junit in {"pass", "failure", "error", "skipped"} for x in o.OUTCOMES.values())


def test_what_fails_the_gate_and_what_an_entry_may_name():
    assert o.FAILING == ("FAIL", "MISSING", "BLOCKED", "CRASH", "TIMEOUT", "ERROR", "XPASS")
    # an entry names a raw failure; XPASS is the gate's word for an entry that no longer holds
    assert o.EXPECTABLE == ("FAIL", "MISSING", "BLOCKED", "CRASH", "TIMEOUT", "ERROR")
    assert {n for n, x in o.OUTCOMES.items() if x.junit == "error"} == {"CRASH", "TIMEOUT", "ERROR"}
    assert {n for n, x in o.OUTCOMES.items() if x.junit == "skipped"} == {"XFAIL", "SKIP"}


def test_only_the_call_phase_counts_against_the_rows_own_api():
    assert set(o.PHASES) == {"input", "call", "read", "chain"}
    for phase in ("input", "read", "chain"):
        assert o.shown("FAIL", {"api": "torch.x", "phase": phase}) == "BLOCKED"
        assert o.shown("CRASH", {"api": "torch.x", "phase": phase}) == "BLOCKED"
    assert o.shown("FAIL", {"api": "torch.x", "phase": "call"}) == "FAIL"
    assert o.shown("MISSING", {"api": "torch.x"}) == "MISSING", "no phase means the row's own call"


@pytest.mark.parametrize("raw", ["PASS", "SKIP", "XFAIL"])
def test_a_row_that_does_not_fail_is_shown_as_it_is_whatever_its_cause(raw):
    assert o.shown(raw, {"api": "torch.x", "phase": "input"}) == raw


def test_a_cause_that_is_not_a_record_leaves_the_raw_outcome():
    assert o.shown("FAIL", None) == "FAIL"
    assert o.shown("FAIL", "input") == "FAIL"       # type: ignore[arg-type]


def test_an_unknown_outcome_is_refused():
    with pytest.raises(KeyError):
        o.shown("FIAL", None)
