"""Root causes: failing rows grouped by the API that broke them and the kind of difference.

Every failing record names its cause (``cause: {api, phase, evidence}``); a row fails for its own
API only when the phase is "call", otherwise it is blocked by the cause's API. Records written
before causes existed are read as failing for their own API. A cause item collects the rows its
API breaks directly and the rows it blocks; items are ranked in groups (silent wrong data, then
crashes and hangs, then errors and missing APIs), and within a group by how many rows a fix unblocks.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable

from ..outcomes import OUTCOMES
from .entry_points import EntryPoint, rank, record_entry_points

# Groups in the order a backend author should work through them.
GROUPS = {
    "silent": "Silent wrong data: the call succeeded but returned something else",
    "crash": "Crashes and hangs",
    "error": "Errors and missing APIs",
}
# Where each item is listed: its group, or, when every row it breaks is on a loading path the backend
# does not take, a last section of its own (shown, never ranked against the rest).
SECTIONS = {**GROUPS, "off_path": "Only on the loading path this backend does not take (not counted)"}
_ALIAS = re.compile(r"alias|shares_memory")


def raw(record: dict[str, Any]) -> str:
    return record.get("raw_outcome") or record["outcome"]


def works(record: dict[str, Any]) -> bool:
    """The row's raw outcome is not a failure (PASS or SKIP): an XFAIL still fails, an XPASS works."""
    return not OUTCOMES[raw(record)].is_failure


def cause_of(record: dict[str, Any]) -> dict[str, Any] | None:
    """The record's cause, or (results older than causes) its own API in the call phase."""
    if works(record):
        return None
    c = record.get("cause")
    if isinstance(c, dict) and c.get("api"):
        return {"api": str(c["api"]), "phase": str(c.get("phase") or "call"),
                "evidence": str(c.get("evidence") or record.get("summary") or ""),
                **({"reached_around": str(c["reached_around"])} if c.get("reached_around") else {})}
    return {"api": record["api"], "phase": "call", "evidence": record.get("summary") or ""}


def blocked(record: dict[str, Any]) -> bool:
    c = cause_of(record)
    return c is not None and c["phase"] != "call"


def shown_outcome(record: dict[str, Any]) -> str:
    """What happened to the row itself: its raw outcome, BLOCKED when another API failed first."""
    return "BLOCKED" if blocked(record) and "BLOCKED" in OUTCOMES else raw(record)


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
    inner = _raised_inside(record)
    if inner:           # a value that holds an exception: an error inside the result, not silent data
        return "error", f"raises {inner}"
    if o == "FAIL" and "value" in observed and silent_fields(record):
        return "silent", "wrong data"      # one item per API: its rows' fields are listed by the item
    if "blocked" in observed:
        return "error", "fails before the row's own call"
    return "error", o.lower()


def _raised_inside(record: dict[str, Any]) -> str | None:
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


@dataclass
class Cause:
    api: str
    group: str                                   # a key of GROUPS
    detail: str                                  # "bytes, stride" / "raises TypeError" / "missing" / ...
    own: list[dict[str, Any]] = field(default_factory=list)       # rows failing in this API's own call
    blocked: list[dict[str, Any]] = field(default_factory=list)   # rows it blocks (input, read, chain)
    off_path: list[dict[str, Any]] = field(default_factory=list)  # rows on a path the backend does not take

    @property
    def rows(self) -> list[dict[str, Any]]:
        return self.own + self.blocked

    @property
    def fields(self) -> list[str]:
        """For silent wrong data: the differing fields across its rows, most rows first."""
        count = Counter(f for r in self.own for f in silent_fields(r))
        return sorted(count, key=lambda f: (-count[f], f))

    @property
    def section(self) -> str:
        return self.group if self.rows else "off_path"

    @property
    def title(self) -> str:
        return f"wrong {', '.join(self.fields)}" if self.group == "silent" and self.fields else self.detail

    @property
    def key(self) -> str:
        """A stable id: anchors, and the `compare` of two runs."""
        return re.sub(r"[^\w.()-]+", "_", f"{self.api}-{self.group}-{self.detail}")

    @property
    def example(self) -> dict[str, Any]:
        """The row that shows the difference best: its own call if it has one, the simplest id first."""
        pool = self.own or self.blocked or self.off_path
        return min(pool, key=lambda r: (len(r["id"]), r["id"]))

    def entry_points(self) -> list[EntryPoint]:
        eps: dict[str, EntryPoint] = {}
        for r in self.rows:
            for ep in record_entry_points(r):
                eps.setdefault(ep.key, ep)
        return sorted(eps.values(), key=rank)

    def evidence(self) -> str:
        """The evidence most of its blocked rows share (what broke, in the row's own words)."""
        same = Counter(cause_of(r)["evidence"] for r in self.rows)
        return min(same, key=lambda e: (-same[e], e)) if same else ""


def causes(records: Iterable[dict[str, Any]]) -> list[Cause]:
    """Every cause of the failing records, ranked: group order, then rows unblocked, then API name."""
    items: dict[tuple[str, str, str], Cause] = {}
    pending: list[dict[str, Any]] = []
    for r in sorted(records, key=lambda r: r["id"]):
        c = cause_of(r)
        if c is None:
            continue
        if c["phase"] != "call":
            pending.append(r)
            continue
        g, d = kind(r)
        item = items.setdefault((c["api"], g, d), Cause(c["api"], g, d))
        (item.off_path if r.get("off_path") else item.own).append(r)
    by_api: dict[str, list[Cause]] = {}
    for item in items.values():
        by_api.setdefault(item.api, []).append(item)
    for r in pending:
        api = cause_of(r)["api"]
        # A blocked row waits for its API's error or crash (an API that returns wrong data rarely stops
        # another call); an API with no row of its own gets an item from its evidence.
        mine = sorted(by_api.get(api, []), key=lambda i: (i.group == "silent", list(GROUPS).index(i.group)))
        if not mine:
            mine = [Cause(api, "error", "fails before the row's own call")]
            items[(api, "error", mine[0].detail)] = mine[0]
            by_api[api] = mine
        (mine[0].off_path if r.get("off_path") else mine[0].blocked).append(r)
    return sorted(items.values(), key=lambda i: (list(SECTIONS).index(i.section), list(GROUPS).index(i.group),
                                                 -len(i.rows), -len(i.off_path), i.api, i.detail))


# -- entry-point verdicts ---------------------------------------------------------------------------

@dataclass
class Verdict:
    """Whether an entry point works on one run, judged by its own end-to-end rows when it has any."""
    entry: EntryPoint
    rows: list[dict[str, Any]]                   # every row of the entry point (e2e and the APIs it leans on)
    e2e: list[dict[str, Any]]                    # rows that call the entry point itself
    state: str                                   # "works", "not tested", "blocked", "no cases"
    why: str = ""                                # for "not tested": the reason its rows were skipped
    causes: list[tuple[str, int]] = field(default_factory=list)   # (cause API, rows it blocks), ranked

    @property
    def judged_by(self) -> list[dict[str, Any]]:
        return [r for r in (self.e2e or self.rows) if not r.get("off_path")]

    @property
    def off_path(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r.get("off_path")]

    @property
    def leaning(self) -> list[tuple[str, int, int]]:
        """(API, failing rows, rows) of the per-API rows the entry point leans on, failing first."""
        by_api: dict[str, list[dict[str, Any]]] = {}
        for r in self.rows:
            if r not in self.e2e and not r.get("off_path"):
                by_api.setdefault(r["api"], []).append(r)
        out = [(api, sum(not works(r) for r in rs), len(rs)) for api, rs in by_api.items()]
        return sorted(out, key=lambda t: (t[1] == 0, t[0]))

    @property
    def label(self) -> str:
        if self.state == "works":
            return "works"
        if self.state == "not tested":
            return f"not tested ({self.why})"
        if self.state == "no cases":
            return "no cases in this run"
        return "blocked by " + ", ".join(api for api, _ in self.causes)


def verdict(entry: EntryPoint, rows: list[dict[str, Any]], e2e_modules: Iterable[str]) -> Verdict:
    e2e_mods = set(e2e_modules)
    rows = sorted(rows, key=lambda r: r["id"])
    e2e = [r for r in rows if r.get("module") in e2e_mods]
    v = Verdict(entry, rows, e2e, "no cases")
    judged = v.judged_by
    if not judged:
        if v.off_path:
            v.state, v.why = "not tested", "all its rows are on a loading path this backend does not take"
        return v
    if all(raw(r) == "SKIP" for r in judged):
        reasons = Counter(" ".join(str(r.get("summary") or "skipped").split()) for r in judged)
        v.state, v.why = "not tested", min(reasons, key=lambda s: (-reasons[s], s))
        return v
    failing = [r for r in judged if not works(r)]
    if not failing:
        v.state = "works"
        return v
    count = Counter(cause_of(r)["api"] for r in failing)
    v.state, v.causes = "blocked", sorted(count.items(), key=lambda kv: (-kv[1], kv[0]))
    return v
