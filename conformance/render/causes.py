"""Root causes: failing rows grouped by the fault that broke them, weighed by what users lose.

Every failing record names its cause (``cause: {api, phase, evidence}``); a row fails for its own
API only when the phase is "call", otherwise it is blocked by the cause's API (the record's
``shown_outcome``, set by the judge). A cause item collects the rows its
API breaks directly and the rows it blocks; items whose rows show the same wrong result are one
item listing the APIs it surfaces in (roots.py); rows that only check the kit's own error paths are
no item (rows.kit_error_path), nor are rows whose fault no recorded call isolated (rows.not_isolated).
What ``import transformers`` needs is one item (import_surface.py), its not-isolated step rows included.
Items are ranked by ranking.py: tier, then entry points and workloads
a fix unblocks, then rows.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Iterable

from . import import_surface, roots
from .entry_points import EntryPoint, rank, record_entry_points
from .ranking import TIERS, Weight, row_tier, universe, weigh
from .rows import (accepts_refused, blocked, cause_of, diff_fields, is_e2e, kind, kit_error_path,  # noqa: F401
                   not_isolated, raised_inside, raw, shown_outcome, silent_fields, works)

# What kind of failure an item's own rows show (the snippet and the words depend on it).
GROUPS = {
    "silent": "Silent wrong data: the call succeeded but returned something else",
    "crash": "Crashes and hangs",
    "error": "Errors and missing APIs",
}
# Where each item is listed, in order: its tier (ranking.TIERS), or, when every row it breaks is on a
# loading path the backend does not take, a last section of its own (shown, never ranked against the rest).
SECTIONS = {**TIERS, "off_path": "Only on the loading path this backend does not take (not counted)"}


@dataclass
class Cause:
    api: str
    group: str                                   # a key of GROUPS
    detail: str                                  # "bytes, stride" / "raises TypeError" / "missing" / ...
    own: list[dict[str, Any]] = field(default_factory=list)       # rows failing in this API's own call
    blocked: list[dict[str, Any]] = field(default_factory=list)   # rows it blocks (input, read, chain)
    off_path: list[dict[str, Any]] = field(default_factory=list)  # rows on a path the backend does not take
    also: list[str] = field(default_factory=list)                 # other APIs the same fault surfaces in
    run_uses: dict[str, str] = field(default_factory=dict)        # every entry point and workload of the run
    header: dict[str, Any] = field(default_factory=dict)          # the run's results.json header
    surface: import_surface.Surface | None = None                 # the one item of what import transformers needs
    _weighed: tuple | None = field(default=None, repr=False, compare=False)    # (its rows' key, their weight)

    @property
    def rows(self) -> list[dict[str, Any]]:
        return self.own + self.blocked

    @property
    def apis(self) -> list[str]:
        return [self.api] + self.also

    @property
    def fields(self) -> list[str]:
        """For silent wrong data: the differing fields across its rows, most rows first."""
        count = Counter(f for r in self.own for f in silent_fields(r))
        return sorted(count, key=lambda f: (-count[f], f))

    @property
    def weight(self) -> Weight:
        # asked for once a sort comparison and once a renderer: worked out again only when its rows changed (the
        # rows are records its lists hold, so their ids stand for them; absorb makes new lists of other rows)
        key = (self.api, tuple(map(id, self.own)), tuple(map(id, self.blocked)), id(self.run_uses))
        if self._weighed is None or self._weighed[0] != key:
            self._weighed = (key, weigh(self.api, self.own, self.blocked, self.run_uses))
        return self._weighed[1]

    @property
    def section(self) -> str:
        return self.weight.tier if self.rows else "off_path"

    @property
    def title(self) -> str:
        if self.surface is not None:
            s = self.surface
            return (f"what import transformers needs: {len(s.needs)} missing"
                    + (", and transformers treats torch as absent" if s.torch_absent else "")
                    + (f" ({len(s.optional)} optional absent, no blocker)" if s.optional else ""))
        if self.own and all(accepts_refused(r) for r in self.own):
            what = "returns a value where PyTorch raises"
        elif self.group == "silent" and self.fields:
            what = f"wrong {', '.join(self.fields)}"
        else:
            what = self.detail
        return what + (f" (the same fault also in {', '.join(self.also)})" if self.also else "")

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

    def copy(self) -> "Cause":
        """The same item with lists of its own (absorb changes them; the report's causes are shared)."""
        return replace(self, own=list(self.own), blocked=list(self.blocked), off_path=list(self.off_path),
                       also=list(self.also))

    def absorb(self, other: "Cause") -> None:
        """Take in another item of the same root cause (its rows, and its APIs as ``also``)."""
        self.own += other.own
        self.blocked += other.blocked
        self.off_path += other.off_path
        self.also += [a for a in other.apis if a != self.api and a not in self.also]

    def rank_key(self) -> tuple:
        return (list(SECTIONS).index(self.section), *self.weight.sort_key()[1:], -len(self.off_path),
                self.api, self.detail)


def kit_only(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Failing rows that only check the kit's own error paths: listed, never an item."""
    return sorted((r for r in records if cause_of(r) is not None and kit_error_path(r)), key=lambda r: r["id"])


def unisolated(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Failing rows no recorded call was seen to diverge in: listed as their own kind, never an item (a fix
    item would name the row's own API on a guess)."""
    return sorted((r for r in records if not_isolated(r) and not kit_error_path(r) and not import_surface.member(r)),
                  key=lambda r: r["id"])


def causes(records: Iterable[dict[str, Any]], header: dict[str, Any] | None = None) -> list[Cause]:
    """Every root cause of the failing records, ranked by what users lose (ranking.py)."""
    records = list(records)
    run_uses = universe(records)
    items: dict[tuple[str, str, str, str], Cause] = {}
    tiers: dict[int, str] = {}             # id(item) -> the tier of its own rows ("" for errors)
    pending: list[dict[str, Any]] = []
    needs = [r for r in records if import_surface.member(r) and not kit_error_path(r)]
    if needs:       # the whole import surface is one item (import_surface.py), also its not-isolated step rows
        item = Cause(import_surface.API, "error", "what import transformers needs", run_uses=run_uses,
                     header=header or {}, surface=import_surface.surface(records, header or {}))
        for r in sorted(needs, key=lambda r: r["id"]):
            # its own rows: the names absent themselves; the rest (names inside a missing module, the steps that
            # found no torch) wait on them
            own = r.get("module") == import_surface.SURFACE_MODULE and raw(r) == "MISSING"
            (item.off_path if r.get("off_path") else item.own if own else item.blocked).append(r)
        items[(item.api, item.group, item.detail, "")] = item
    taken = {id(r) for r in needs}
    for r in sorted(records, key=lambda r: r["id"]):
        c = cause_of(r)
        if c is None or kit_error_path(r) or not_isolated(r) or id(r) in taken:
            continue
        if c["phase"] != "call":
            pending.append(r)
            continue
        g, d = kind(r)
        # one API's silent rows split by tier: wrong bytes and wrong strides are different faults
        t = row_tier(r) if g == "silent" else ""
        item = items.setdefault((c["api"], g, d, t), Cause(c["api"], g, d, run_uses=run_uses, header=header or {}))
        tiers[id(item)] = t
        (item.off_path if r.get("off_path") else item.own).append(r)
    by_api: dict[str, list[Cause]] = {}
    for item in items.values():
        by_api.setdefault(item.api, []).append(item)
        for n in item.surface.needs if item.surface is not None else ():
            by_api.setdefault(n.name, []).append(item)      # a row elsewhere blocked by one of its names
    for r in pending:
        api = cause_of(r)["api"]
        # A blocked row waits for its API's error or crash (an API that returns wrong data rarely stops
        # another call); an API with no row of its own gets an item from its evidence.
        mine = sorted(by_api.get(api, []), key=lambda i: (i.group == "silent", list(GROUPS).index(i.group)))
        if not mine:
            mine = [Cause(api, "error", "fails before the row's own call", run_uses=run_uses, header=header or {})]
            items[(api, "error", mine[0].detail, "")] = mine[0]
            by_api[api] = mine
        (mine[0].off_path if r.get("off_path") else mine[0].blocked).append(r)
    ranked = sorted(items.values(), key=Cause.rank_key)
    merged = []
    def family(i: Cause) -> tuple:
        """Its kind of difference: only items of one kind may be one root cause (roots.py)."""
        if i.group != "silent":
            return (i.group,)
        return i.group, tiers.get(id(i), ""), roots.field_names(i.fields)

    for group in roots.merge(ranked, lambda i: i.own if i.surface is None else [], family):
        first = group[0]
        for other in group[1:]:
            first.absorb(other)
        merged.append(first)
    return sorted(merged, key=Cause.rank_key)


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
        # rows that only check the kit's own error paths say nothing about the entry point
        return [r for r in (self.e2e or self.rows) if not r.get("off_path") and not kit_error_path(r)]

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
