"""The one judge: every outcome of a record is set once, from the observations and the expectations."""
from __future__ import annotations

from types import SimpleNamespace as NS

import pytest

from conformance.expectations import Expectations
from conformance.judging import judge_case
from conformance.observe import BLOCKED
from conformance.outcomes import shown
from conformance.results import record_problem

CASE = NS(id="x[1]", api="torch.x", origin="o", module="m", tolerance=None, reads=None,
          doc="torch.x returns its input's bytes.  Then more   words.", params=NS(values={"dtype": "float32"}))
BLOCKER = {"api": "torch.y", "phase": "input", "evidence": "y failed"}


def _judge(result: dict, expectations: str = "") -> dict:
    return judge_case(CASE, result, {"value": 1}, target="t", expectations=Expectations.parse(expectations, "f"),
                      api_names={}, off_path=None, oracle_version=None, process="main#1", seq=0)


@pytest.mark.parametrize("result, expect, raw, final, shown_as, blamed", [
    ({"obs": {"value": 1}}, "", "PASS", "PASS", "PASS", None),
    ({"obs": {"value": 2}}, "", "FAIL", "FAIL", "FAIL", "torch.x"),
    ({"obs": {BLOCKED: BLOCKER}}, "", "BLOCKED", "BLOCKED", "BLOCKED", "torch.y"),
    ({"obs": {BLOCKED: BLOCKER}}, "x[*  BLOCKED  known\n", "BLOCKED", "XFAIL", "BLOCKED", "torch.y"),
    ({"obs": {"value": 1}}, "x[*  FAIL  known\n", "PASS", "XPASS", "PASS", None),
    ({"obs": {"value": 2}}, "x[*  MISSING  known\n", "FAIL", "FAIL", "FAIL", "torch.x"),
    # a cause entry decides by the verdict's cause api; an id entry wins over it; another outcome is a failure
    ({"obs": {BLOCKED: BLOCKER}}, "cause=torch.y  BLOCKED  known\n", "BLOCKED", "XFAIL", "BLOCKED", "torch.y"),
    ({"obs": {BLOCKED: BLOCKER}}, "cause=torch.z  BLOCKED  known\n", "BLOCKED", "BLOCKED", "BLOCKED", "torch.y"),
    ({"obs": {BLOCKED: BLOCKER}}, "x[1]  FAIL  own\ncause=torch.y  BLOCKED  known\n", "BLOCKED", "BLOCKED",
     "BLOCKED", "torch.y"),
    ({"obs": {"value": 2}}, "cause=torch.x  BLOCKED  known\n", "FAIL", "FAIL", "FAIL", "torch.x"),
    ({"obs": {"value": 1}}, "cause=torch.x  BLOCKED  known\n", "PASS", "PASS", "PASS", None),
])
def test_a_record_carries_every_outcome_and_its_cause(result, expect, raw, final, shown_as, blamed):
    r = _judge(result, expect)
    assert (r["raw_outcome"], r["outcome"], r["shown_outcome"]) == (raw, final, shown_as)
    assert (r["cause"] or {}).get("api") == blamed
    assert record_problem(r) is None


def test_a_record_carries_the_case_contract_and_parameters():
    r = _judge({"obs": {"value": 2}})
    assert r["doc"] == "torch.x returns its input's bytes."
    assert r["params"] == {"dtype": "'float32'"}


def test_the_shown_outcome_rule():
    assert shown("FAIL", {"api": "a", "phase": "call"}) == "FAIL"
    assert shown("CRASH", {"api": "a", "phase": "chain"}) == "BLOCKED"     # died in an earlier call
    assert shown("PASS", None) == "PASS" and shown("SKIP", None) == "SKIP"


def test_a_failing_record_without_a_cause_is_refused():
    r = _judge({"obs": {"value": 2}})
    r["cause"] = None
    assert "has no cause" in record_problem(r)
    r = _judge({"obs": {"value": 2}})
    r["shown_outcome"] = "SOMETIMES"
    assert "shown_outcome" in record_problem(r)
