"""Progress between two runs of one target: rows fixed, rows newly failing, rows whose cause changed.

``python -m conformance compare OLD NEW`` prints it; ``--baseline DIR`` puts it in the reports as
"since baseline". Rows are compared by raw outcome (what the backend did, whatever the expectations
file said) and cause, so rewriting the expectations file never shows up as progress.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import results as res
from .causes import cause_of, shown_outcome, works


@dataclass(frozen=True)
class Change:
    id: str
    old: str                  # "PASS", "FAIL: blocked by torch.frombuffer (input)", "absent"
    new: str


@dataclass
class Progress:
    old_label: str
    new_label: str
    fixed: list[Change] = field(default_factory=list)
    newly_failing: list[Change] = field(default_factory=list)
    cause_changed: list[Change] = field(default_factory=list)
    only_old: int = 0         # rows the new run did not run (another catalog, or -k)

    @property
    def empty(self) -> bool:
        return not (self.fixed or self.newly_failing or self.cause_changed)

    def summary(self) -> str:
        return (f"{len(self.fixed)} fixed, {len(self.newly_failing)} newly failing, "
                f"{len(self.cause_changed)} with another cause")


def describe(record: dict[str, Any] | None) -> str:
    if record is None:
        return "absent"
    c = cause_of(record)
    if c is None:
        return shown_outcome(record)
    how = "" if c["phase"] == "call" and c["api"] == record["api"] else f" by {c['api']} ({c['phase']})"
    return f"{shown_outcome(record)}{how}"


def _label(data: dict[str, Any], where: str) -> str:
    run = data.get("run") or {}
    env = run.get("target_env") or {}
    return f"{run.get('target') or '?'} {env.get('version') or ''} ({where})".replace("  ", " ")


def compare(old: dict[str, Any], new: dict[str, Any], old_where: str = "old", new_where: str = "new") -> Progress:
    before = {r["id"]: r for r in old.get("cases", [])}
    after = {r["id"]: r for r in new.get("cases", [])}
    p = Progress(_label(old, old_where), _label(new, new_where))
    for cid in sorted(after):
        r, b = after[cid], before.get(cid)
        change = Change(cid, describe(b), describe(r))
        if b is not None and not works(b) and works(r):
            p.fixed.append(change)
        elif not works(r) and (b is None or works(b)):
            p.newly_failing.append(change)
        elif not works(r) and change.old != change.new:
            p.cause_changed.append(change)
    p.only_old = len(set(before) - set(after))
    return p


def results_path(where: str | Path) -> Path:
    """A report dir (its results.json) or a results file."""
    p = Path(where)
    return p / "results.json" if p.is_dir() else p


def load(where: str | Path) -> dict[str, Any]:
    return res.load(results_path(where))


def transitions(rows: list[Change]) -> list[tuple[str, str, list[str]]]:
    """[(old, new, row ids)]: rows that went the same way, once, largest group first (then by the text)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for c in rows:
        groups.setdefault((c.old, c.new), []).append(c.id)
    return sorted(((o, n, ids) for (o, n), ids in groups.items()), key=lambda g: (-len(g[2]), g[0], g[1]))


IDS_SHOWN = 8      # row ids `compare` names per transition unless told (--limit; 0 names them all)


def _ids(ids: list[str], limit: int) -> str:
    """Row ids, a case name once for its parameters: ``load[a · b], save[c]``; at most ``limit`` of them."""
    shown = ids if limit <= 0 else ids[:limit]
    out: list[tuple[str, list[str]]] = []
    for cid in shown:
        name, bracket, rest = cid.partition("[")
        if bracket and rest.endswith("]") and out and out[-1][0] == name:
            out[-1][1].append(rest[:-1])
        elif bracket and rest.endswith("]"):
            out.append((name, [rest[:-1]]))
        else:
            out.append((cid, []))
    text = ", ".join(f"{n}[{' · '.join(ps)}]" if ps else n for n, ps in out)
    return text + (f", ... and {len(ids) - len(shown)} more" if len(shown) < len(ids) else "")


def text(p: Progress, limit: int = IDS_SHOWN) -> str:
    """The plain-text listing `compare` prints: per kind of change, rows that changed the same way are one
    line with their count (a single row keeps its own line, ``id: old -> new``)."""
    out = [f"{p.old_label} -> {p.new_label}: {p.summary()}"]
    for title, rows in (("fixed", p.fixed), ("newly failing", p.newly_failing), ("cause changed", p.cause_changed)):
        if not rows:
            continue
        groups = transitions(rows)
        out.append(f"{title} ({len(rows)} row{'s' if len(rows) > 1 else ''}"
                   + (f", {len(groups)} transitions):" if len(groups) > 1 else "):"))
        for old, new, ids in groups:
            out.append(f"  {ids[0]}: {old} -> {new}" if len(ids) == 1 else
                       f"  {len(ids)} rows: {old} -> {new}: {_ids(ids, limit)}")
    if p.only_old:
        out.append(f"({p.only_old} rows of the old run were not run in the new one)")
    return "\n".join(out) + "\n"
