"""junit.xml (conformance/render/junit.py): one testcase per case, counted by the outcome table's junit column,
gate problems one more error, and text XML 1.0 cannot hold spelled out rather than breaking the file."""
from __future__ import annotations

import xml.etree.ElementTree as ET

from records import judged

from conformance import render, results
from conformance.render import junit


def row(id: str, final: str, raw: str | None = None, **kw) -> dict:
    raw = raw or final
    return judged({"id": id, "api": "torch.x", "origin": "o", "module": "m", "target": "t", "outcome": final,
                   "raw_outcome": raw, "summary": kw.pop("summary", "s"), "ms": 1500, **kw})


def suite(records, **run) -> ET.Element:
    data = results.build({"target": "t", "cases_in_catalog": len(records), **run}, records)
    (s,) = ET.fromstring(junit.render(render.from_results([data]))).findall("testsuite")
    return s


def test_outcomes_are_counted_as_the_outcome_table_says():
    s = suite([row("a", "PASS"), row("b", "FAIL"), row("c", "XPASS", "PASS"), row("d", "CRASH"),
               row("e", "XFAIL", "FAIL"), row("f", "SKIP"), row("g", "BLOCKED")])
    assert {k: s.get(k) for k in ("tests", "failures", "errors", "skipped")} == \
        {"tests": "7", "failures": "3", "errors": "1", "skipped": "2"}
    kinds = {tc.get("name"): [c.tag for c in tc] for tc in s.findall("testcase")}
    assert kinds == {"a": [], "b": ["failure"], "c": ["failure"], "d": ["error"], "e": ["skipped"], "f": ["skipped"],
                     "g": ["failure"]}
    assert s.get("time") == "10.500"


def test_gate_problems_are_one_more_error():
    s = suite([row("a", "PASS")], gate_problems=["stale entry x[*", "lost case y"])
    assert (s.get("tests"), s.get("errors")) == ("2", "1")
    (gate,) = [tc for tc in s.findall("testcase") if tc.get("classname") == "torch-conformance"]
    assert gate.get("name") == "gate" and gate[0].text == "GATE: stale entry x[*\nGATE: lost case y"


def test_text_xml_cannot_hold_is_spelled_out():
    assert junit.clean("a\x00b\x1bc\ud800") == "a\\x00b\\x1bc\\xd800"
    assert junit.clean("tab\tand\nnewline") == "tab\tand\nnewline"
    s = suite([row("a", "FAIL", summary="bad \x07 byte </failure>")])
    (f,) = s.find("testcase")
    assert f.get("message") == "FAIL: bad \\x07 byte </failure>"
