"""What one failing record says: its outcome, its cause, the fields that differ, the kind of failure.

Every report reads rows through these helpers (causes.py groups them, ranking.py weighs them,
roots.py finds rows that show the same fault).
"""
from __future__ import annotations

import re
from typing import Any

from ..outcomes import OUTCOMES
from .entry_points import E2E_MODULES

_ALIAS = re.compile(r"alias|shares_memory")
_E2E_REPLAY = re.compile(r"^replay\[.*-(chained|torch-attributes)\]$")
_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def raw(record: dict[str, Any]) -> str:
    return record["raw_outcome"]


def works(record: dict[str, Any]) -> bool:
    """The row's raw outcome is not a failure (PASS or SKIP): an XFAIL still fails, an XPASS works."""
    return not OUTCOMES[raw(record)].is_failure


def cause_of(record: dict[str, Any]) -> dict[str, Any] | None:
    """The failing record's cause (every failing record has one: results.record_problem), one line each."""
    if works(record):
        return None
    c = record["cause"]
    return {"api": str(c["api"]), "phase": str(c.get("phase") or "call"),
            "evidence": str(c.get("evidence") or record.get("summary") or ""),
            **({"reached_around": str(c["reached_around"])} if c.get("reached_around") else {})}


def not_isolated(record: dict[str, Any]) -> bool:
    """A failing row where no recorded torch call was seen to diverge (``cause.isolated: false``): its
    cause names a suspect, not a fault the kit saw."""
    c = record.get("cause")
    return not works(record) and isinstance(c, dict) and c.get("isolated") is False


def shown_outcome(record: dict[str, Any]) -> str:
    """What happened to the row itself, as the judge set it (``outcomes.shown``): never derived here."""
    return record["shown_outcome"]


def blocked(record: dict[str, Any]) -> bool:
    """Another API failed first: the row's own API could not be judged."""
    return shown_outcome(record) == "BLOCKED"


def diff_fields(record: dict[str, Any]) -> list[str]:
    """The observation fields that differ, named for a reader: bytes, stride, shape, aliasing, ..."""
    out = []
    for d in record.get("diffs") or []:
        path = str(d.get("path") or "")
        if d.get("kind") == "approx":
            name = "values"
        elif _ALIAS.search(path):
            name = "aliasing"
        else:
            name = re.sub(r"\[\d+\]", "", path.split(".")[-1]) or "value"
        if name not in out:
            out.append(name)
    return sorted(out)


def kind(record: dict[str, Any]) -> tuple[str, str]:
    """(group, detail) of a row's own failure: what kind of difference its cause API showed."""
    o = raw(record)
    observed = record.get("observed") or {}
    if OUTCOMES[o].junit == "error" and o != "ERROR":
        return "crash", {"CRASH": "the process dies", "TIMEOUT": "the call hangs"}.get(o, o.lower())
    if o == "MISSING":
        return "error", "missing"
    if "raises" in observed:
        return "error", f"raises {observed['raises']}"
    inner = raised_inside(record)
    if inner:           # a value that holds an exception: an error inside the result, not silent data
        return "error", f"raises {inner}"
    if o == "FAIL" and "value" in observed and silent_fields(record):
        return "silent", "wrong data"      # one item per API: its rows' fields are listed by the item
    if "blocked" in observed:
        return "error", "fails before the row's own call"
    return "error", o.lower()


def raised_inside(record: dict[str, Any]) -> str | None:
    """The exception class a target observed inside its returned value where the oracle's did not raise."""
    for d in record.get("diffs") or []:
        t = d.get("target")
        if isinstance(t, dict) and "raises" in t:
            return str(t["raises"])
        if str(d.get("path", "")).endswith(".raises") and d.get("oracle") == "<absent>":
            return str(t)
    return None


def silent_fields(record: dict[str, Any]) -> list[str]:
    """The result fields that differ in a call that returned (not an exception, not the kit's reading)."""
    return [f for f in diff_fields(record) if f not in ("raises", "observe", "inputs", "call")]


def accepts_refused(record: dict[str, Any]) -> bool:
    """The oracle raised (at the top or inside its value) where the target returned: a missing refusal."""
    for d in record.get("diffs") or []:
        path = str(d.get("path") or "")
        if (path == "raises" or path.endswith(".raises")) and d.get("target") == "<absent>" \
                and d.get("oracle") not in (None, "<absent>", "no exception"):
            return True
    return False


def is_e2e(record: dict[str, Any]) -> bool:
    """A row that calls an entry point or runs a workload itself (not one API in isolation)."""
    return record.get("module") in E2E_MODULES or bool(_E2E_REPLAY.match(record.get("id", "")))


def kit_error_path(record: dict[str, Any]) -> bool:
    """A row that checks an entry point refuses a bad input, whose target failed while the kit's catalog
    code was still building that input (e.g. ``save_error[sparse]`` without ``to_sparse``): the entry
    point's own error path never ran, so the row says nothing about what users call."""
    oracle, observed = record.get("oracle") or {}, record.get("observed") or {}
    c = cause_of(record)
    where = str(((observed.get("display") or {}) if isinstance(observed, dict) else {}).get("called_at") or "")
    return (c is not None and "raises" in oracle and isinstance(observed, dict) and "raises" in observed
            and where.startswith("conformance/catalog/") and c["api"] != record.get("api"))


def at(obs: Any, path: str) -> Any:
    """The value at a diff path (``value.calls[2].result.stride``) in an observation, or None."""
    for name, index in _PATH_TOKEN.findall(path):
        if name:
            if not isinstance(obs, dict) or name not in obs:
                return None
            obs = obs[name]
        else:
            i = int(index)
            if not isinstance(obs, list) or i >= len(obs):
                return None
            obs = obs[i]
    return obs
