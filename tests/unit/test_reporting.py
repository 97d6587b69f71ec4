"""The end of a run (conformance/reporting.py): the gate's problems, the terminal summary, the rewrite hint."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace as NS

import pytest

from conformance import reporting


class _Expectations:
    def __init__(self, path="backends/x/expectations.txt", stale=()):
        self.path, self._stale = path, list(stale)
        self.asked = []

    def unmatched(self, catalog, causes):
        self.asked.append(causes)
        return self._stale


def _state(**kw):
    base = dict(gate_problems=[], records=[], expectations=_Expectations(), start_error=None, deselected=0,
                report_dir=Path("/r"), backend=NS(name="x", sys_path=[], expectations_file=lambda: None),
                target_hello=None, cache=NS(warnings=[]), write_error=None)
    base.update(kw)
    return NS(**base)


def _session(keyword="", collectonly=False):
    return NS(config=NS(option=NS(keyword=keyword, markexpr="", collectonly=collectonly)), exitstatus=0)


def _record(cid, outcome="PASS", note=None, summary="", api="torch.x"):
    return {"id": cid, "outcome": outcome, "note": note, "summary": summary, "cause": {"api": api}}


def test_no_case_run_fails_the_gate_and_a_k_that_selects_nothing_says_how_to_list_ids():
    s, st = _session(), _state()
    reporting.gate_problems(s, st, pytest.ExitCode.OK)
    assert st.gate_problems == ["no conformance case ran"] and s.exitstatus == pytest.ExitCode.TESTS_FAILED
    s, st = _session(keyword="nothing-matches"), _state(deselected=5)
    reporting.gate_problems(s, st, pytest.ExitCode.NO_TESTS_COLLECTED)
    assert "selected none of the" in st.gate_problems[0] and "python -m conformance list" in st.gate_problems[0]
    assert s.exitstatus == pytest.ExitCode.USAGE_ERROR


def test_a_target_that_cannot_start_is_a_usage_error_with_its_reason():
    s, st = _session(), _state(start_error="ImportError: no module named mindtorch_v2")
    reporting.gate_problems(s, st, pytest.ExitCode.OK)
    assert st.gate_problems == ["the target could not start, so no case ran: ImportError: no module named mindtorch_v2"]
    assert s.exitstatus == pytest.ExitCode.USAGE_ERROR


def test_stale_entries_are_judged_by_cause_only_on_a_run_of_every_case(monkeypatch):
    monkeypatch.setattr(reporting, "load_catalog", lambda: {"a": 1, "b": 2})
    entry = NS(where="exp.txt:3", pattern="cause=torch.y", cause="torch.y")
    st = _state(records=[_record("a")], expectations=_Expectations(stale=[entry]))
    s = _session()
    reporting.gate_problems(s, st, pytest.ExitCode.OK)
    assert st.expectations.asked == [None], "a partial run cannot tell a cause entry stale"
    assert st.gate_problems == ["exp.txt:3: entry 'cause=torch.y' decides no row of this run (no other row's cause "
                                "is torch.y); remove it"] and s.exitstatus == pytest.ExitCode.TESTS_FAILED
    st = _state(records=[_record("a"), _record("b", api=None)], expectations=_Expectations())
    reporting.gate_problems(_session(), st, pytest.ExitCode.OK)
    assert st.expectations.asked == [{"a": "torch.x", "b": None}] and st.gate_problems == []


def test_a_million_stale_entries_are_twenty_lines_and_one(monkeypatch):
    monkeypatch.setattr(reporting, "load_catalog", lambda: {"a": 1})
    stale = [NS(where=f"exp.txt:{i}", pattern=f"p{i}", cause=None) for i in range(1000)]
    st = _state(records=[_record("a")], expectations=_Expectations(stale=stale))
    reporting.gate_problems(_session(), st, pytest.ExitCode.OK)
    assert len(st.gate_problems) == reporting.GATE_ROWS + 1
    assert st.gate_problems[-1].startswith(f"... and {1000 - reporting.GATE_ROWS} more entries of backends/x")


def test_the_rewrite_hint_names_the_results_and_the_expectations_file():
    hint = reporting.rewrite_hint(_state())
    assert hint.startswith("to rewrite the expectations from this run: python -m conformance expectations "
                           "--results /r/results.json --file backends/x/expectations.txt")
    hint = reporting.rewrite_hint(_state(expectations=_Expectations("<none>"), report_dir=None))
    assert "--results DIR/results.json (run with --report-dir DIR) --file backends/x/expectations.txt" in hint


class _Terminal:
    def __init__(self):
        self.lines = []

    def section(self, title):
        self.lines.append(f"== {title}")

    def write_line(self, line, **markup):
        self.lines.append(line)


def test_the_summary_lists_the_rows_that_changed_and_how_to_take_them_in():
    records = [_record("ok"), _record("new-fail", "FAIL", summary="bytes differ"),
               _record("gone", "XPASS", note="expected XFAIL")]
    st = _state(records=records, gate_problems=["stale entry"], cache=NS(warnings=["cache is read-only"]))
    tr = _Terminal()
    reporting.summary(tr, st)
    text = "\n".join(tr.lines)
    assert "target x: 3 cases: 1 PASS" in text and "GATE: stale entry" in text and "WARNING: cache is read-only" in text
    assert "  gone: XPASS (expected XFAIL)" in text and "  new-fail: FAIL: bytes differ" in text
    assert tr.lines[-1].startswith("to rewrite the expectations from this run")
    tr = _Terminal()
    reporting.summary(tr, _state(records=[_record("ok")]))
    assert not any("unexpected" in line or "to rewrite" in line for line in tr.lines), "a green run says no more"


def test_a_report_folder_that_cannot_be_written_says_which_file_and_keeps_the_partial_log(monkeypatch, tmp_path):
    def full(*a, **k):
        raise OSError(28, "No space left on device", str(tmp_path / "results.json"))
    monkeypatch.setattr(reporting, "write_reports", full)
    st = _state(report_dir=tmp_path, partial=None)
    s = _session()
    reporting.finish(s, st, pytest.ExitCode.OK)
    assert st.write_error == (f"cannot write {tmp_path / 'results.json'}: No space left on device; "
                              f"{tmp_path / 'results.jsonl'} keeps the records written before")
    assert s.exitstatus == pytest.ExitCode.USAGE_ERROR
