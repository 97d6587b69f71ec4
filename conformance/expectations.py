"""Expectations files: the known gaps of one target, each with a reason.

One entry per line, ``#`` starts a comment::

    <case id, or an id prefix ending in *>  <OUTCOME[,OUTCOME]>  <reason, free text>

    frombuffer[bfloat16-*]   FAIL      bf16 frombuffer returns float32 data (issue 123)

An exact id wins over a prefix, and the longest prefix wins over shorter ones.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Iterable

from .outcomes import EXPECTABLE

FORMAT = "<case id or id-prefix*> <OUTCOME[,OUTCOME]> <reason>"


class ExpectationsError(Exception):
    pass


@dataclass(frozen=True)
class Entry:
    pattern: str
    outcomes: tuple[str, ...]
    reason: str
    line: int

    @cached_property
    def prefix(self) -> str | None:
        """What matching ids start with: ``name[dtype-*`` and ``name[dtype-*]`` are prefixes; None for an id."""
        for tail in ("*", "*]"):
            if self.pattern.endswith(tail):
                return self.pattern[:-len(tail)]
        return None

    @property
    def is_prefix(self) -> bool:
        return self.prefix is not None

    def matches(self, case_id: str) -> bool:
        if self.prefix is None:
            return case_id == self.pattern
        return case_id.startswith(self.prefix) and (self.pattern.endswith("*") or case_id.endswith("]"))


def notes_of(text: str) -> list[str]:
    """The leading ``## `` comment lines of a file: the maintainers' notes, kept across rewrites."""
    out = []
    for line in text.splitlines():
        if line.startswith("## "):
            out.append(line)
        elif line.strip() and not line.startswith("#"):
            break
    return out


class Expectations:
    def __init__(self, entries: list[Entry], path: str = "<none>"):
        self.entries = entries
        self.path = path

    @classmethod
    def empty(cls) -> "Expectations":
        return cls([])

    @classmethod
    def parse(cls, text: str, path: str) -> "Expectations":
        entries: list[Entry] = []
        seen: dict[str, int] = {}
        for n, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(None, 2)
            if len(parts) < 3:
                raise ExpectationsError(f"{path}:{n}: expected {FORMAT}, got {raw!r} (the reason is required)")
            pattern, outcomes, reason = parts
            body = Entry(pattern, (), "", n).prefix
            if "*" in (pattern if body is None else body):
                raise ExpectationsError(f"{path}:{n}: '*' is only allowed at the end of a pattern (or just "
                                        f"before its closing ']'): {pattern!r}")
            names = tuple(o.strip().upper() for o in outcomes.split(","))
            bad = [o for o in names if o not in EXPECTABLE]
            if bad:
                raise ExpectationsError(f"{path}:{n}: unknown outcome {bad[0]!r}; use one or more of "
                                        f"{', '.join(EXPECTABLE)} separated by commas")
            if pattern in seen:
                raise ExpectationsError(f"{path}:{n}: {pattern!r} is already listed on line {seen[pattern]}")
            seen[pattern] = n
            entries.append(Entry(pattern, names, reason.strip(), n))
        return cls(entries, path)

    @classmethod
    def load(cls, path: str | Path) -> "Expectations":
        p = Path(path)
        if not p.is_file():
            raise ExpectationsError(f"expectations file {p} does not exist; create it (an empty file means "
                                    "'every case must pass') or rewrite it from results with "
                                    "`python -m conformance expectations --results R --file F`")
        return cls.parse(p.read_text(), str(p))

    def match(self, case_id: str) -> Entry | None:
        exact = self._exact.get(case_id)
        if exact is not None:
            return exact
        return next((e for e in self._prefixes if e.matches(case_id)), None)

    @cached_property
    def _exact(self) -> dict[str, Entry]:
        return {e.pattern: e for e in self.entries if not e.is_prefix}

    @cached_property
    def _prefixes(self) -> list[Entry]:
        """Longest prefix first (a stable sort keeps file order among equals): the first match wins."""
        return sorted((e for e in self.entries if e.is_prefix), key=lambda e: -len(e.prefix))

    def unmatched(self, case_ids: Iterable[str]) -> list[Entry]:
        ids = set(case_ids)
        return [e for e in self.entries
                if (e.pattern not in ids if not e.is_prefix else not any(e.matches(i) for i in ids))]


def apply(raw: str, entry: Entry | None) -> tuple[str, str]:
    """(final outcome, note) for a raw outcome and the expectation that covers its case."""
    if entry is None or raw == "SKIP":
        return raw, ""
    if raw in entry.outcomes:
        return "XFAIL", entry.reason
    if raw == "PASS":
        return "XPASS", (f"passed, but {entry.pattern!r} (line {entry.line}) expects "
                         f"{'/'.join(entry.outcomes)}: {entry.reason}. Remove or narrow the entry.")
    return raw, f"expected {'/'.join(entry.outcomes)} ({entry.reason}), got {raw}"


def rewrite(records: list[dict], old: Expectations, target: str, notes: list[str] = ()) -> str:
    """A new expectations file from results: old entries that still hold keep their reasons;
    every other failing case gets its own entry to triage. ``notes`` are comment lines kept on top."""
    raw = {r["id"]: r for r in records}
    failing = {i for i, r in raw.items() if r["raw_outcome"] in EXPECTABLE}
    kept: list[Entry] = []
    covered: set[str] = set()
    for e in old.entries:
        hit = [i for i in raw if old.match(i) is e]     # the cases this entry decides (exact/longest wins)
        if hit and all(raw[i]["raw_outcome"] in e.outcomes or raw[i]["raw_outcome"] == "SKIP" for i in hit):
            kept.append(e)
            covered.update(hit)
    lines = [f"# Expected failures of target {target!r}; format: {FORMAT}",
             "# Rewritten by `python -m conformance expectations --results R --file F`; reasons of entries that still hold are kept.",
             *notes, ""]
    width = max([len(e.pattern) for e in kept] + [len(i) for i in failing - covered] + [10])
    for e in kept:
        lines.append(f"{e.pattern:<{width}}  {','.join(e.outcomes):<8} {e.reason}")
    for pattern, outcome, evidence in _new_entries(raw, failing - covered):
        lines.append(f"{pattern:<{width}}  {outcome:<8} TRIAGE: {evidence}")
    return "\n".join(lines) + "\n"


def _new_entries(raw: dict[str, dict], todo: set[str]) -> list[tuple[str, str, str]]:
    """One ``name[*`` entry where every case of a case function fails the same way, else one per id."""
    by_name: dict[str, list[str]] = {}
    for i in raw:
        by_name.setdefault(i.split("[", 1)[0], []).append(i)
    out = []
    for name, ids in sorted(by_name.items(), key=lambda kv: (raw[kv[1][0]]["module"], kv[0])):
        mine = sorted(i for i in ids if i in todo)
        if not mine:
            continue
        outcomes = {raw[i]["raw_outcome"] for i in ids}
        if len(mine) > 1 and len(mine) == len(ids) and len(outcomes) == 1:
            out.append((f"{name}[*", outcomes.pop(), f"all {len(ids)} cases; e.g. {_evidence(raw[mine[0]])}"))
        else:
            out.extend((i, raw[i]["raw_outcome"], _evidence(raw[i])) for i in mine)
    return out


def _evidence(record: dict) -> str:
    return " ".join((record.get("summary") or "").split())[:160] or "no detail"
