"""Rewriting an expectations file from results: only the rows that ran change.

An entry whose cases did not run (a ``-k`` run, an interrupted one) is kept as it is. An entry
whose cases ran is kept, dropped (fixed), narrowed to exact ids (some of its cases were fixed or
now fail otherwise) or given new outcomes. Reasons a person wrote are kept; reasons the kit wrote
(they start with ``TRIAGE:``) are refreshed when the evidence's cause changes. Every change is
listed, so the caller can print it; new failures are taken in only when asked to.

Rows BLOCKED by one cause api are written as one ``cause=API BLOCKED`` entry (``_fold``): the kit's own
entries for them (``TRIAGE:`` reasons) make way for it, a person's stay (they win over it, and say more).
A group of one row stays an id entry, which says as much and names the row; a cause entry, once written,
stays while a row is its own. Rows failing on their own API keep id entries: each is a gap of its own.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from .expectations import CAUSE, FORMAT, INCLUDE, PASS_HERE, Entry, Expectations
from .outcomes import EXPECTABLE

MACHINE = "TRIAGE:"          # reasons starting with this were written by the kit, and it may rewrite them
# A machine reason is "TRIAGE: [all N cases; e.g. ]blocked by <api>: <evidence>" for a BLOCKED row, "... fails in
# <api>: ..." for a row failing in its own call (machine_reason writes it, written_for reads the api back), or
# "TRIAGE: [all N cases; e.g. ]<evidence>" when the rows had no cause.
_BLOCKED, _FAILS = "blocked by ", "fails in "
_MACHINE_CAUSE = re.compile(re.escape(MACHINE) + r" (?:all \d+ cases; e\.g\. )?(?:" + _BLOCKED + "|" + _FAILS
                            + r")(.+?): ")
# The kit's heading above the entries of one root cause: "# BLOCKED by torch.frombuffer: 172 rows".
_HEADING = re.compile(r"# ([A-Z]+) (?:by|in) (.+): \d+ rows\Z")


@dataclass(frozen=True)
class Change:
    kind: str          # fixed | outcome changed | cause changed | new | narrowed | folded
    pattern: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.pattern}: {self.detail}"


@dataclass
class Update:
    text: str
    changes: list[Change] = field(default_factory=list)
    entries: int = 0
    kept_not_run: int = 0      # entries left as they were because none of their cases ran

    @property
    def new_failures(self) -> list[Change]:
        return [c for c in self.changes if c.kind in ("new", "outcome changed")]


def is_machine(reason: str) -> bool:
    return reason.startswith(MACHINE)


def cause_api(record: dict[str, Any]) -> str | None:
    cause = record.get("cause")      # none on PASS and SKIP
    return cause.get("api") if isinstance(cause, dict) else None


def written_for(reason: str) -> str | None:
    """The cause api a machine-written reason names (None: it names none, or a person wrote it)."""
    m = _MACHINE_CAUSE.match(reason)
    return m.group(1) if m else None


def machine_reason(record: dict[str, Any], prefix: str = "") -> str:
    # Cut, then stripped: the file keeps no trailing blank, so what is written is what is read back.
    evidence = " ".join((record.get("summary") or "").split())[:160].rstrip() or "no detail"
    api = cause_api(record)
    how = _BLOCKED if record.get("raw_outcome") == "BLOCKED" else _FAILS
    return f"{MACHINE} {prefix}" + (f"{how}{api}: " if api else "") + evidence


def _count_prefix(n: int) -> str:
    return f"all {n} cases; e.g. " if n > 1 else ""


def heading(outcome: str, api: str | None, rows: int) -> str:
    return f"# {outcome} {'by' if outcome == 'BLOCKED' else 'in'} {api or '?'}: {rows} rows"


def _heading_rows(line: str) -> int:
    """The row count a kit heading line says."""
    return int(line.rsplit(": ", 1)[1].split()[0])


def heading_cause(line: str) -> tuple[str, str | None] | None:
    """(outcome, cause api) of a kit heading line; None for any other comment (a person's, kept as it is)."""
    m = _HEADING.match(line)
    return None if m is None else (m.group(1), None if m.group(2) == "?" else m.group(2))


@dataclass
class _Section:
    """A run of entries under the comment lines above the first of them (a kit heading, a person's notes)."""
    comments: list[str]
    entries: list[tuple[str, tuple[str, ...], str]] = field(default_factory=list)   # (pattern, outcomes, reason)

    @property
    def cause(self) -> tuple[str, str | None] | None:
        return next((c for c in map(heading_cause, self.comments) if c is not None), None)


def _failing(raw: str) -> bool:
    return raw in EXPECTABLE


def update(records: list[dict[str, Any]], old: Expectations, target: str, notes: Iterable[str] = (),
           catalog_ids: Iterable[str] | None = None) -> Update:
    """The new file text and what changed. ``catalog_ids``: every case the kit knows (default: those
    that ran), so an entry also covering cases that did not run keeps covering them. Comment lines stay
    above what replaces the entry they stood above; new entries go under the kit heading of their root
    cause (made when there is none), and every kit heading's row count is counted again."""
    raw = {r["id"]: r for r in records}
    universe = set(catalog_ids) if catalog_ids is not None else set(raw)
    universe |= set(raw)
    if old.base is not None:
        return _update_over_base(raw, old, target, notes, universe)
    complete = universe <= raw.keys()           # every case ran: a cause entry deciding none of them is stale
    decided: dict[int, list[str]] = {}          # entry -> the catalog cases it decides (exact/longest wins)
    for cid in sorted(universe):
        e = old.match(cid, _cause_of(raw, cid))
        if e is not None:
            decided.setdefault(id(e), []).append(cid)
    changes: list[Change] = []
    sections = [_Section([])]
    kept_not_run = 0
    for e in old.entries:
        if e.comments:
            sections.append(_Section(list(e.comments)))
        covered = decided.get(id(e), [])
        ran = [c for c in covered if c in raw]
        if e.cause is not None and (ran or complete):
            sections[-1].entries.extend(_decide_cause(e, ran, raw, changes))
            continue
        if not ran:
            kept_not_run += 1
            sections[-1].entries.append((e.pattern, e.outcomes, e.reason))
            continue
        sections[-1].entries.extend(_decide(e, covered, ran, raw, changes))
    if old.trailing:
        sections.append(_Section(list(old.trailing)))
    covered_ids = {c for ids in decided.values() for c in ids}
    todo = {i for i, r in raw.items() if _failing(r["raw_outcome"]) and i not in covered_ids}
    under = {s.cause: s for s in sections if s.cause is not None}
    for pattern, outcome, rec, n in _new_entries(raw, todo, universe):
        cause = (outcome, cause_api(rec))
        if cause not in under:           # new entries stand under their root cause (its rows are counted below)
            under[cause] = _Section([heading(outcome, cause[1], 0)])
            sections.append(under[cause])
        reason = machine_reason(rec, _count_prefix(n))
        under[cause].entries.append((pattern, (outcome,), reason))
        changes.append(Change("new", pattern, f"{outcome} ({reason})"))
    _fold(sections, raw, universe, None, {}, changes)
    _recount(sections, raw, universe)
    return Update(_text(target, notes, sections), changes, sum(len(s.entries) for s in sections), kept_not_run)


def _text(target: str, notes: Iterable[str], sections: list[_Section], include: str | None = None) -> str:
    lines = [f"# Expected failures of target {target!r}; format: {FORMAT}; an id entry wins over a "
             f"{CAUSE}API entry (which decides the rows whose record's cause.api is API)",
             "# Rewritten by `python -m conformance expectations --results R --file F`; reasons of entries that "
             f"still hold are kept, and reasons starting with {MACHINE} are the kit's own."
             + (f" Only where this target differs from {include}." if include else ""),
             *notes, ""] + ([f"{INCLUDE} {include}"] if include else [])
    width = max([len(p) for s in sections for p, _, _ in s.entries] + [10])
    for s in sections:
        lines += [("\n" if i == 0 else "") + c for i, c in enumerate(s.comments)]
        lines += [f"{p:<{width}}  {','.join(o):<8} {r}" for p, o, r in s.entries]
    return "\n".join(lines) + "\n"


def _cause_of(raw: dict[str, dict], cid: str) -> str | None:
    """The cause api of the row ``cid`` that ran (None: it passed, was skipped, or did not run)."""
    r = raw.get(cid)
    return None if r is None else cause_api(r)


def _holds(entry: Entry | None, r: dict[str, Any]) -> bool:
    """Whether the entry deciding a case that ran (None: no entry) expects what it did."""
    if r["raw_outcome"] == "SKIP":
        return True
    if not _failing(r["raw_outcome"]):
        return entry is None
    return entry is not None and r["raw_outcome"] in entry.outcomes


def _update_over_base(raw: dict[str, dict], old: Expectations, target: str, notes: Iterable[str],
                      universe: set[str]) -> Update:
    """A file that includes another holds only where this target differs from it: for the cases that ran
    and that the included file does not expect as they came out, entries made as for new failures (PASS for
    those that pass here), keeping a reason written before for the same pattern; entries none of whose
    cases ran stay as they are."""
    base, changes = old.base, []
    complete = universe <= raw.keys()
    decides: dict[int, list[str]] = {}
    for cid in universe:
        e = old.match(cid, _cause_of(raw, cid)) or next(
            (o for o in old.own if o.outcomes == (PASS_HERE,) and o.matches(cid)), None)
        if e is not None:
            decides.setdefault(id(e), []).append(cid)
    sections, kept = [_Section([])], 0
    for e in old.own:                    # kept as written: none of its cases ran (a cause entry: an incomplete run)
        if e.cause is not None and complete and not decides.get(id(e)):
            changes.append(Change("fixed", e.pattern, f"no row's cause is {e.cause} now; entry removed "
                                                      f"(it said {'/'.join(e.outcomes)}: {e.reason})"))
        if not any(c in raw for c in decides.get(id(e), [])) and not (e.cause is not None and complete):
            kept += 1
            if e.comments:
                sections.append(_Section(list(e.comments)))
            sections[-1].entries.append((e.pattern, e.outcomes, e.reason))
    todo = {cid for cid, r in raw.items() if not _holds(base.match(cid, cause_api(r)), r)}
    for cid in sorted(raw):
        before, r = old.match(cid, cause_api(raw[cid])), raw[cid]
        if not _holds(before, r):
            kind = "fixed" if not _failing(r["raw_outcome"]) else "new" if before is None else "outcome changed"
            changes.append(Change(kind, cid, f"{'/'.join(before.outcomes) if before else 'no entry'} -> "
                                             f"{r['raw_outcome']}"))
    written = {(e.pattern, e.outcomes): e.reason for e in old.own}
    under: dict[tuple, _Section] = {}
    for pattern, outcome, rec, n in _new_entries(raw, todo, universe):
        passes = not _failing(outcome)
        outcomes = (PASS_HERE,) if passes else (outcome,)
        cause = ("PASS", None) if passes else (outcome, cause_api(rec))
        if cause not in under:
            under[cause] = _Section([f"# passing here, although {old.include} expects them to fail"] if passes
                                    else [heading(outcome, cause[1], 0)])
            sections.append(under[cause])
        reason = written.get((pattern, outcomes)) or (
            f"{MACHINE} passes here, unlike what {old.include} expects" if passes
            else machine_reason(rec, _count_prefix(n)))
        under[cause].entries.append((pattern, outcomes, reason))
    _fold(sections, raw, universe, base, written, changes)
    _recount(sections, raw, universe)
    return Update(_text(target, notes, sections, old.include), changes, sum(len(s.entries) for s in sections), kept)


def _recount(sections: list[_Section], raw: dict[str, dict], universe: set[str]) -> None:
    """Each kit heading says how many rows its entries decide that fail as it says (a row that did not run
    counts when its entry expects that outcome); a heading left with none is dropped. In a run of part of the
    catalog, a heading over a cause entry counts no fewer rows than it did: which rows that did not run are
    the cause entry's, no one knows."""
    complete = universe <= raw.keys()
    new = _as_expectations(sections)
    section_of = {n: s for n, s in enumerate((s for s in sections for _ in s.entries), 1)}
    rows: dict[int, int] = {}
    for cid in universe:
        e = new.match(cid, _cause_of(raw, cid))
        if e is None:
            continue
        s = section_of[e.line]
        cause = s.cause
        if cause is None:
            continue
        r = raw.get(cid)
        if (cause[0] in e.outcomes) if r is None else ((r["raw_outcome"], cause_api(r)) == cause):
            rows[id(s)] = rows.get(id(s), 0) + 1
    for s in sections:
        keyed = not complete and any(p.startswith(CAUSE) for p, _, _ in s.entries)
        kept = []
        for c in s.comments:
            cause = heading_cause(c)
            if cause is None:
                kept.append(c)
            elif (n := max(rows.get(id(s), 0), _heading_rows(c) if keyed else 0)):
                kept.append(heading(cause[0], cause[1], n))
        s.comments = kept


def _as_expectations(sections: list[_Section], base: Expectations | None = None) -> Expectations:
    """The sections' entries as a file would read them (line n: the n-th entry), over ``base``."""
    return Expectations([Entry(p, o, r, n) for n, (p, o, r) in enumerate(
        (e for s in sections for e in s.entries), 1)], base=base)


def _decide_cause(e: Entry, ran: list[str], raw: dict[str, dict], changes: list[Change]):
    """The entries replacing the cause entry ``e``, given the rows of its cause that ran: itself while one of
    them fails as it says (its reason kept), and an id entry for each that fails otherwise (an id entry wins
    over it). None of them: the gap is gone, and so is the entry."""
    holds = [c for c in ran if raw[c]["raw_outcome"] in e.outcomes]
    out = [(e.pattern, e.outcomes, e.reason)] if holds else []
    if not ran:
        changes.append(Change("fixed", e.pattern, f"no row's cause is {e.cause} now; entry removed "
                                                  f"(it said {'/'.join(e.outcomes)}: {e.reason})"))
    for c in ran:
        if c not in holds:
            now, reason = raw[c]["raw_outcome"], machine_reason(raw[c])
            changes.append(Change("outcome changed", c, f"{'/'.join(e.outcomes)} -> {now} (was {e.pattern!r}: "
                                                        f"{e.reason}; now: {reason})"))
            out.append((c, (now,), reason))
    return out


def _fold(sections: list[_Section], raw: dict[str, dict], universe: set[str], base: Expectations | None,
          written: dict[tuple, str], changes: list[Change]) -> None:
    """Rows that ran BLOCKED by the same cause api become one ``cause=API BLOCKED`` entry, in place. The
    kit's own BLOCKED id entries whose rows all ran BLOCKED (by one api or several) make way for the cause
    entries of their rows; a person's stay. A cause entry is made when at least two rows become its (or it
    was written before); an id entry stays wherever a row of it would be decided otherwise without it (a
    shorter prefix would take it over: it is an exception to that prefix, and an id entry wins over a cause
    entry); a cause entry that would take over a row decided otherwise (by an included file) is not made."""
    outcomes = ("BLOCKED",)
    if not any(r["raw_outcome"] == "BLOCKED" and cause_api(r) for r in raw.values()):
        return
    flat = [e for s in sections for e in s.entries]            # line n of _as_expectations: flat[n - 1]
    before = _as_expectations(sections, base)
    mine = {id(e) for e in before.own}
    decided = {cid: before.match(cid, _cause_of(raw, cid)) for cid in universe}
    of: dict[int, list[str]] = {}              # this file's entries (by line) -> the cases they decide
    for cid, e in decided.items():
        if e is not None and id(e) in mine:
            of.setdefault(e.line, []).append(cid)
    present = {e[0][len(CAUSE):] for e in flat if e[0].startswith(CAUSE)}

    def keyable(cid: str) -> str | None:       # the api a cause entry could decide this row by
        r, api = raw.get(cid), _cause_of(raw, cid)
        return api if r is not None and r["raw_outcome"] == "BLOCKED" and api and len(api.split()) == 1 else None

    foldable = {n for n, ids in of.items() if not flat[n - 1][0].startswith(CAUSE) and "BLOCKED" in flat[n - 1][1]
                and is_machine(flat[n - 1][2]) and all(keyable(c) for c in ids)}
    if not foldable:
        return                                 # nothing to fold (the cause entries there stay as they are)
    wanted = {keyable(c) for n in foldable for c in of[n]} | present
    while True:
        candidates = {n for n in foldable if all(keyable(c) in wanted for c in of[n])}
        while True:                            # drop the id entries whose rows would not be their causes'
            gone = {id(flat[n - 1]) for n in candidates}
            trial = [_Section(s.comments, [e for e in s.entries if id(e) not in gone]) for s in sections]
            trial.append(_Section([], [(CAUSE + a, outcomes, "") for a in sorted(wanted - present)]))
            after = _as_expectations(trial, base)
            lost, stolen = set(), set()
            for c in raw:
                now, was = after.match(c, cause_api(raw[c])), decided[c]
                if was is not None and id(was) in mine and was.line in candidates:
                    if now is None or now.pattern != CAUSE + str(keyable(c)) or not _holds(now, raw[c]):
                        lost.add(was.line)
                elif _holds(was, raw[c]) and not _holds(now, raw[c]):
                    stolen.add(cause_api(raw[c]))
            if stolen or not lost:
                break
            candidates -= lost
        rows: dict[str, list[str]] = {}
        for n in candidates:
            for c in of[n]:
                rows.setdefault(keyable(c), []).append(c)
        few = {a for a in wanted - present if len(rows.get(a, [])) < (1 if (CAUSE + a, outcomes) in written else 2)}
        if not (stolen | few) & wanted:
            break
        wanted -= stolen | few
    _remove(sections, [flat[n - 1] for n in candidates])
    for api in sorted(rows, key=lambda a: (-len(rows[a]), a)):
        pattern = CAUSE + api
        if api not in present:
            home = next((s for s in sections if s.cause == ("BLOCKED", api)), None)
            if home is None:
                home = _Section([heading("BLOCKED", api, 0)])
                sections.append(home)
            home.entries.insert(0, (pattern, outcomes, written.get((pattern, outcomes))
                                    or machine_reason(raw[min(rows[api])])))
        entries = sum(1 for n in candidates if any(keyable(c) == api for c in of[n]))
        changes.append(Change("folded", pattern, f"decides the {len(rows[api])} rows blocked by {api} that "
                                                 f"{entries} id entries of the kit's decided (they are gone)"))


def _remove(sections: list[_Section], entries: list[tuple]) -> None:
    gone = {id(e) for e in entries}
    for s in sections:
        s.entries = [e for e in s.entries if id(e) not in gone]


def _decide(e: Entry, covered: list[str], ran: list[str], raw: dict[str, dict], changes: list[Change]):
    """The entries replacing ``e``, given the results of the cases it decides that ran."""
    holds = [c for c in ran if raw[c]["raw_outcome"] in e.outcomes or raw[c]["raw_outcome"] == "SKIP"]
    fixed = [c for c in ran if raw[c]["raw_outcome"] == "PASS"]
    other = [c for c in ran if c not in holds and c not in fixed]
    if not fixed and not other:
        return [(e.pattern, e.outcomes, _refreshed(e, [raw[c] for c in holds], changes))]
    not_run = [c for c in covered if c not in raw]
    new_outcomes = {raw[c]["raw_outcome"] for c in other}
    if not holds and not not_run:
        if not other:
            changes.append(Change("fixed", e.pattern, f"all {len(fixed)} case(s) pass; entry removed "
                                                      f"(it said {'/'.join(e.outcomes)}: {e.reason})"))
            return []
        if not fixed and len(new_outcomes) == 1:
            now = new_outcomes.pop()
            reason = machine_reason(raw[other[0]], _count_prefix(len(other)))
            changes.append(Change("outcome changed", e.pattern, f"{'/'.join(e.outcomes)} -> {now} "
                                                                f"(was: {e.reason}; now: {reason})"))
            return [(e.pattern, (now,), reason)]
    # Part of it still holds (or did not run): one exact entry per case it decided, fixed ones left out.
    out = []
    for c in covered:
        if c in fixed:
            continue
        if c in other:
            now = raw[c]["raw_outcome"]
            reason = machine_reason(raw[c])
            changes.append(Change("outcome changed", c, f"{'/'.join(e.outcomes)} -> {now} (was {e.pattern!r}: "
                                                        f"{e.reason}; now: {reason})"))
            out.append((c, (now,), reason))
        else:
            out.append((c, e.outcomes, e.reason))
    if fixed:
        changes.append(Change("narrowed", e.pattern, f"{len(fixed)} of its cases pass now ({', '.join(fixed[:5])}"
                                                     f"{', ...' if len(fixed) > 5 else ''}); the other "
                                                     f"{len(out)} get an entry each, with its reason"))
    return out


def _refreshed(e: Entry, holding: list[dict], changes: list[Change]) -> str:
    """``e``'s reason, rewritten when the kit wrote it and the failure's cause api is another now."""
    failing = [r for r in holding if _failing(r["raw_outcome"])]
    if not failing or not is_machine(e.reason):
        return e.reason
    now, was = cause_api(failing[0]), written_for(e.reason)
    if now is None or now == was:
        return e.reason
    reason = machine_reason(failing[0], _count_prefix(len(failing)))
    changes.append(Change("cause changed", e.pattern, f"{was or 'no cause recorded'} -> {now} (reason refreshed: "
                                                      f"{reason})"))
    return reason


def _new_entries(raw: dict[str, dict], todo: set[str], universe: set[str]) -> list[tuple[str, str, dict, int]]:
    """New entries for the failures in ``todo``, grouped by root cause: rows that fail the same way for the
    same cause (outcome, cause api) share one prefix wherever a prefix can say exactly them (``name[*``,
    ``name[dtype-*``), and stand as exact ids otherwise. Groups come largest first, in catalog order
    within: (pattern, outcome, an example record, cases)."""
    def group(i: str):
        return (raw[i]["raw_outcome"], cause_api(raw[i])) if i in todo else None

    by_name: dict[str, list[str]] = {}
    for i in sorted(universe):
        by_name.setdefault(i.split("[", 1)[0], []).append(i)
    entries: list[tuple[str, list[str]]] = []
    for name, ids in by_name.items():
        if any(i in todo for i in ids):
            entries += _cover(name + "[" if "[" in ids[0] else name, ids, group)
    size: dict[Any, int] = {}
    for _, ids in entries:
        size[group(ids[0])] = size.get(group(ids[0]), 0) + len(ids)
    order = {name: n for n, name in enumerate(by_name)}
    entries.sort(key=lambda e: (-size[group(e[1][0])], str(group(e[1][0])),
                                raw[e[1][0]].get("module", ""), order[e[1][0].split("[", 1)[0]], e[0]))
    return [(pattern, raw[ids[0]]["raw_outcome"], raw[ids[0]], len(ids)) for pattern, ids in entries]


def _cover(prefix: str, ids: list[str], group, inherited=None) -> list[tuple[str, list[str]]]:
    """Patterns for the failing cases among ``ids`` (all sharing ``prefix``), cut after a ``[`` or ``-``:
    a ``prefix*`` wherever every case under it fails, for its most common group, with the others under it
    as longer prefixes or exact ids (which win over it); ``inherited`` is the group an enclosing prefix
    already gives. Returns [(pattern, the ids it decides)]."""
    groups = [group(i) for i in ids]
    out: list[tuple[str, list[str]]] = []
    if len(ids) > 1 and None not in groups:
        major = max(set(groups), key=lambda g: (groups.count(g), str(g)))
        if major != inherited:
            out.append((prefix + "*", [i for i, g in zip(ids, groups) if g == major]))
        inherited = major
    children: dict[str, list[str]] = {}
    for i in ids:
        rest = i[len(prefix):]
        cut = rest.find("-")
        if cut < 0:
            if group(i) is not None and group(i) != inherited:
                out.append((i, [i]))
        else:
            children.setdefault(prefix + rest[:cut + 1], []).append(i)
    for child, members in children.items():
        if len(members) == 1:
            if group(members[0]) is not None and group(members[0]) != inherited:
                out.append((members[0], members))
        else:
            out += _cover(child, members, group, inherited)
    return out
