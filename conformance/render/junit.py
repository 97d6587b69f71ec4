"""junit.xml rendered from results (not from pytest's junit plugin), so saved results give it back.

One <testsuite> per run, one <testcase> per conformance case: classname is the case's origin,
name its id. Whether an outcome is a failure (FAIL, MISSING, BLOCKED, XPASS), an error (CRASH, TIMEOUT,
ERROR: the case could not finish or be judged) or skipped (SKIP, XFAIL) is the outcome table's junit
column. A run with gate problems (the target could not start, a stale expectations entry, a lost case)
gets one more testcase, ``torch-conformance::gate``, with one error listing them, so a CI reading only
junit.xml sees them: tests = cases + 1 and errors = CRASH + TIMEOUT + ERROR + 1 then. ElementTree escapes
markup; characters XML 1.0 cannot hold at all are spelled out first.
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any

from ..outcomes import ORDER, OUTCOMES
from .model import Report, Run

# How junit counts each outcome comes from the outcome table.
_ERRORS = tuple(o for o in ORDER if OUTCOMES[o].junit == "error")
_FAILURES = tuple(o for o in ORDER if OUTCOMES[o].junit == "failure")
_SKIPPED = tuple(o for o in ORDER if OUTCOMES[o].junit == "skipped")
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def clean(text: object) -> str:
    return _INVALID_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", "" if text is None else str(text))


def _seconds(ms: Any) -> str:
    return f"{(ms or 0) / 1000:.3f}"


def _details(r: dict[str, Any]) -> str:
    lines = [f"{r['outcome']}: {r['api']} ({r['origin']}): {r['summary']}"]
    if r.get("note"):
        lines.append(f"expectations: {r['note']}")
    lines += [json.dumps(d, sort_keys=True, ensure_ascii=False) for d in r.get("diffs") or []]
    return clean("\n".join(lines))


def _suite(report: Report, run: Run) -> ET.Element:
    records = list(run.cases.values())
    n = {kind: sum(1 for r in records if r["outcome"] in kind) for kind in (_ERRORS, _FAILURES, _SKIPPED)}
    problems = run.header.get("gate_problems") or []
    attrs = {"name": clean(f"torch-conformance {run.label} ({run.versions})"),
             "tests": str(len(records) + bool(problems)), "failures": str(n[_FAILURES]),
             "errors": str(n[_ERRORS] + bool(problems)), "skipped": str(n[_SKIPPED]),
             "time": _seconds(sum(r.get("ms") or 0 for r in records))}
    if report.date:
        attrs["timestamp"] = clean(report.date)
    suite = ET.Element("testsuite", attrs)
    props = ET.SubElement(suite, "properties")
    for side, h in (("oracle", run.oracle), ("target", run.target_env)):
        for key in ("module", "file", "version", "how", "safetensors", "python"):
            if h and h.get(key) is not None:
                ET.SubElement(props, "property", {"name": f"{side}.{key}", "value": clean(h[key])})
    for r in sorted(records, key=lambda r: (r["origin"], r["id"])):
        tc = ET.SubElement(suite, "testcase", {"classname": clean(r["origin"]), "name": clean(r["id"]),
                                               "time": _seconds(r.get("ms"))})
        o = r["outcome"]
        if o in _FAILURES or o in _ERRORS:
            el = ET.SubElement(tc, "failure" if o in _FAILURES else "error",
                               {"type": o, "message": clean(f"{o}: {r['summary']}")})
            el.text = _details(r)
        elif o in _SKIPPED:
            ET.SubElement(tc, "skipped", {"type": o, "message": clean(f"{o}: {r.get('note') or r['summary']}")})
    if problems:
        tc = ET.SubElement(suite, "testcase", {"classname": "torch-conformance", "name": "gate", "time": "0.000"})
        el = ET.SubElement(tc, "error", {"type": "GATE", "message": clean(f"GATE: {problems[0]}")})
        el.text = clean("\n".join(f"GATE: {p}" for p in problems))
    return suite


def render(report: Report) -> str:
    root = ET.Element("testsuites", {"name": "torch-conformance"})
    for run in report.runs:
        root.append(_suite(report, run))
    ET.indent(root, space=" ")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
