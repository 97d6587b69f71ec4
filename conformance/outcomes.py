"""The one table of outcomes. Everything that counts or colours outcomes reads it from here."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    name: str
    is_failure: bool      # fails the gate when not covered by the expectations file
    meaning: str


_TABLE = [
    Outcome("PASS", False, "the target observed exactly what the oracle observed"),
    Outcome("FAIL", True, "the target's observation differs from the oracle's"),
    Outcome("MISSING", True, "the API (or dtype) is absent from the target"),
    Outcome("CRASH", True, "the target process died during the case"),
    Outcome("TIMEOUT", True, "the case did not finish within the time limit"),
    Outcome("ERROR", True, "the kit could not judge the case (its own fault, or an invalid run)"),
    Outcome("XFAIL", False, "failed as the expectations file says, for the reason it gives"),
    Outcome("XPASS", True, "passed although the expectations file says it fails"),
    Outcome("SKIP", False, "not applicable here (e.g. the oracle has no such dtype)"),
]
OUTCOMES = {o.name: o for o in _TABLE}
ORDER = [o.name for o in _TABLE]
# Outcomes an expectations entry may name (the raw failures).
EXPECTABLE = ("FAIL", "MISSING", "CRASH", "TIMEOUT", "ERROR")
