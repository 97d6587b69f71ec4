"""The one table of outcomes. Everything that counts, colours or classifies outcomes reads it from here."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    name: str
    is_failure: bool      # fails the gate when not covered by the expectations file
    expectable: bool      # an expectations entry may name it (a raw failure)
    junit: str            # how junit.xml counts it: "pass", "failure", "error" or "skipped"
    colour: str           # the report's colour for it (CSS)
    meaning: str


_TABLE = [
    Outcome("PASS", False, False, "pass", "#2e7d32",
            "the target observed exactly what the oracle observed"),
    Outcome("FAIL", True, True, "failure", "#c62828",
            "the row's own API behaved differently from the oracle's"),
    Outcome("MISSING", True, True, "failure", "#ad1457",
            "the row's own API (or dtype) is absent from the target"),
    Outcome("BLOCKED", True, True, "failure", "#ef6c00",
            "another API failed first (building the inputs, reading the result, or an earlier call in a "
            "chain), so the row's own API could not be judged; the record's cause names it"),
    Outcome("CRASH", True, True, "error", "#6a1b9a",
            "the target process died during the case"),
    Outcome("TIMEOUT", True, True, "error", "#4527a0",
            "the case did not finish within the time limit"),
    Outcome("ERROR", True, True, "error", "#37474f",
            "the kit could not judge the case (its own fault, or an invalid run)"),
    Outcome("XFAIL", False, False, "skipped", "#7e57c2",
            "failed as the expectations file says, for the reason it gives"),
    Outcome("XPASS", True, False, "failure", "#f9a825",
            "passed although the expectations file says it fails"),
    Outcome("SKIP", False, False, "skipped", "#9e9e9e",
            "not applicable here (e.g. the oracle has no such dtype)"),
]
OUTCOMES = {o.name: o for o in _TABLE}
ORDER = [o.name for o in _TABLE]
# Outcomes an expectations entry may name (the raw failures).
EXPECTABLE = tuple(o.name for o in _TABLE if o.expectable)
FAILING = tuple(o.name for o in _TABLE if o.is_failure)

# Where a row's cause lies (record["cause"]["phase"]). Only "call" counts against the row's own API;
# any other phase makes the row BLOCKED by the API named in the cause.
PHASES = {
    "input": "building the case's inputs, or another torch API the case needs before its own call",
    "call": "the API under test",
    "read": "reading the result",
    "chain": "an earlier torch call inside an entry point or scenario",
}


def shown(raw: str, cause: dict | None) -> str:
    """The outcome a report shows for a row: its raw outcome, or BLOCKED when its cause lies in another
    phase than the row's own call (another API failed first). The one place this rule lives: the record
    carries its result (``shown_outcome``), and no renderer derives it again."""
    if OUTCOMES[raw].is_failure and isinstance(cause, dict) and cause.get("phase", "call") != "call":
        return "BLOCKED"
    return raw
