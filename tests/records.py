"""Case records as the judge writes them, for tests that craft results by hand.

A crafted record states its raw outcome (and, where it matters, its cause); ``judged`` fills in what the
one judge (conformance/judging.py) always sets: a failing record's cause (its own API in the call phase
unless given) and the shown outcome, by the same rule (``outcomes.shown``). Call it again after changing a
record's outcome or cause.
"""
from __future__ import annotations

from typing import Any

from conformance.outcomes import FAILING, shown


def judged(r: dict[str, Any]) -> dict[str, Any]:
    raw = r["raw_outcome"]
    if raw in FAILING and not r.get("cause"):
        r["cause"] = {"api": r.get("api", "?"), "phase": "call", "evidence": r.get("summary") or ""}
    if raw not in FAILING:
        r["cause"] = None
    r["shown_outcome"] = shown(raw, r.get("cause"))
    return r
