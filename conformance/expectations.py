"""Expectations files: the known gaps of one target, each with a reason.

One entry per line, ``#`` starts a comment::

    <case id, or an id prefix ending in *>  <OUTCOME[,OUTCOME]>  <reason, free text>
    cause=<API>                             <OUTCOME[,OUTCOME]>  <reason, free text>

    frombuffer[bfloat16-*]   FAIL      bf16 frombuffer returns float32 data (issue 123)
    cause=torch.frombuffer   BLOCKED   no torch.frombuffer: every row that builds its input with it

An exact id wins over a prefix, and the longest prefix wins over shorter ones. A ``cause=`` entry decides
every row whose record's cause (``cause.api``, the field the judge sets, never the reason's prose) is that
API and that no id entry of the same file decides: a per-id entry wins over a cause entry. A row it decides
with another outcome than it lists is a failure, as with an id entry. A cause entry that decides no row of
a complete run is stale, like an id entry that matches no case.

A file may start with ``include OTHER`` (a path relative to it): OTHER's entries hold for every case
that none of this file's entries matches. ``PASS`` as the outcome (only in such a file) says that the
cases it matches are expected to pass here, whatever OTHER says. Two targets that share most gaps,
such as mindtorch_v2 with and without ``_torch_proxy``, so keep each shared gap in one place.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Iterable, Iterator

from .outcomes import EXPECTABLE

FORMAT = "<case id or id-prefix*, or cause=API> <OUTCOME[,OUTCOME]> <reason>"
INCLUDE = "include"
CAUSE = "cause="        # an entry keyed by the cause api of the rows it decides, not by their ids
PASS_HERE = "PASS"      # only in a file that includes another: its cases pass here


class ExpectationsError(Exception):
    pass


@dataclass(frozen=True)
class Entry:
    pattern: str
    outcomes: tuple[str, ...]
    reason: str
    line: int
    # The comment lines between the previous entry and this one (a heading such as "# BLOCKED by X: 3 rows"):
    # a rewrite keeps them above what replaces this entry.
    comments: tuple[str, ...] = field(default=(), compare=False)
    source: str = field(default="", compare=False)      # the file it is written in (an included one, maybe)

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}" if self.source else f"line {self.line}"

    @cached_property
    def cause(self) -> str | None:
        """The cause api a ``cause=API`` entry is keyed by; None for an id or id-prefix entry."""
        return self.pattern[len(CAUSE):] if self.pattern.startswith(CAUSE) else None

    @cached_property
    def prefix(self) -> str | None:
        """What matching ids start with: ``name[dtype-*`` and ``name[dtype-*]`` are prefixes; None for an id
        (and for a cause entry)."""
        return None if self.cause is not None else _prefix_of(self.pattern)

    @property
    def is_prefix(self) -> bool:
        return self.prefix is not None

    def matches(self, case_id: str) -> bool:
        """Whether this id or id-prefix entry names ``case_id`` (a cause entry names no id)."""
        prefix = self.prefix
        if prefix is None:
            return case_id == self.pattern and self.cause is None
        return case_id.startswith(prefix) and (self.pattern.endswith("*") or case_id.endswith("]"))


def _prefix_of(pattern: str) -> str | None:
    for tail in ("*", "*]"):
        if pattern.endswith(tail):
            return pattern[:-len(tail)]
    return None


def notes_of(text: str) -> list[str]:
    """The leading ``## `` comment lines of a file: the maintainers' notes, kept across rewrites."""
    out = []
    for line in text.splitlines():
        if line.startswith("## "):
            out.append(line)
        elif line.strip() and not line.startswith("#"):
            break
    return out


# The kit's own first lines of a file it rewrote (it writes them anew each time): not comments to keep.
HEADER = ("# Expected failures of target ", "# Rewritten by `python -m conformance expectations")


class Expectations:
    def __init__(self, entries: list[Entry], path: str = "<none>", trailing: tuple[str, ...] = (),
                 base: "Expectations | None" = None, include: str | None = None):
        self.own = entries            # this file's entries (PASS_HERE ones included)
        self.path = path
        self.trailing = trailing      # comment lines after the last entry
        self.base = base              # the included file's expectations, or None
        self.include = include        # the include line's path, as written
        # every entry that can decide a case: this file's, then the included file's
        self.entries = [e for e in entries if e.outcomes != (PASS_HERE,)] + (base.entries if base else [])

    @classmethod
    def empty(cls) -> "Expectations":
        return cls([])

    @classmethod
    def parse(cls, text: str, path: str, _including: tuple[str, ...] = ()) -> "Expectations":
        entries: list[Entry] = []
        seen: dict[str, int] = {}
        comments: list[str] = []
        base, include = None, None
        for n, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if line.startswith("#"):
                if entries or not (line.startswith("## ") or line.startswith(HEADER)):   # not the notes, not the header
                    comments.append(line)
                continue
            if not line:
                continue
            if line.split(None, 1)[0] == INCLUDE:
                if entries or include is not None:
                    raise ExpectationsError(f"{path}:{n}: 'include FILE' must come before every entry, once")
                include = line.split(None, 1)[1].strip() if len(line.split(None, 1)) > 1 else ""
                base = cls._included(include, path, n, _including)
                comments = []
                continue
            parts = line.split(None, 2)
            if parts[0] == CAUSE or (parts[0].startswith(CAUSE) and len(parts) < 3):
                raise ExpectationsError(f"{path}:{n}: a cause entry is 'cause=API OUTCOME reason' with the API "
                                        "right after '=' (as the record's cause.api spells it, e.g. "
                                        f"cause=torch.frombuffer BLOCKED no frombuffer), got {raw!r}")
            if len(parts) < 3:
                raise ExpectationsError(f"{path}:{n}: expected {FORMAT}, got {raw!r} (the reason is required)")
            pattern, outcomes, reason = parts
            body = _prefix_of(pattern)
            # a cause entry's api is compared whole, '*' and all (``torch.<dtype>`` is an api name too)
            if not pattern.startswith(CAUSE) and "*" in (pattern if body is None else body):
                raise ExpectationsError(f"{path}:{n}: '*' is only allowed at the end of a pattern (or just "
                                        f"before its closing ']'): {pattern!r}")
            names = tuple(o.strip().upper() for o in outcomes.split(","))
            if pattern.startswith(CAUSE) and PASS_HERE in names:
                raise ExpectationsError(f"{path}:{n}: a cause entry cannot say PASS (a row with a cause failed); "
                                        "to say some rows pass here, list their ids with PASS")
            if names == (PASS_HERE,) and base is None:
                raise ExpectationsError(f"{path}:{n}: PASS only says a case passes here although an included file "
                                        "expects it to fail, and this file includes none")
            bad = [o for o in names if o not in EXPECTABLE and names != (PASS_HERE,)]
            if bad:
                raise ExpectationsError(f"{path}:{n}: unknown outcome {bad[0]!r}; use one or more of "
                                        f"{', '.join(EXPECTABLE)} separated by commas")
            if pattern in seen:
                raise ExpectationsError(f"{path}:{n}: {pattern!r} is already listed on line {seen[pattern]}")
            seen[pattern] = n
            entries.append(Entry(pattern, names, reason.strip(), n, tuple(comments), path))
            comments = []
        return cls(entries, path, tuple(comments), base, include)

    @classmethod
    def _included(cls, include: str, path: str, n: int, including: tuple[str, ...]) -> "Expectations":
        if not include:
            raise ExpectationsError(f"{path}:{n}: 'include' needs a file name (relative to {path})")
        other = Path(path).parent / include
        if str(other.resolve()) in including or other.resolve() == Path(path).resolve():
            raise ExpectationsError(f"{path}:{n}: including {include} makes a circle of includes")
        if not other.is_file():
            raise ExpectationsError(f"{path}:{n}: included file {other} does not exist")
        return cls.parse(read_text(other), str(other), (*including, str(Path(path).resolve())))

    @classmethod
    def load(cls, path: str | Path) -> "Expectations":
        p = Path(path)
        if not p.is_file():
            raise ExpectationsError(f"expectations file {p} does not exist; create it (an empty file means "
                                    "'every case must pass') or rewrite it from results with "
                                    "`python -m conformance expectations --results R --file F`")
        return cls.parse(read_text(p), str(p))

    def match(self, case_id: str, cause: str | None = None) -> Entry | None:
        """The entry that decides ``case_id``, whose record's cause api is ``cause`` (None: the row has no
        cause, it passed or did not run): this file's (exact id, then longest prefix, then the cause entry),
        else the included file's; None when none does, or this file's is PASS_HERE."""
        mine = self._exact.get(case_id) or next(self._prefix_matches(case_id), None)
        if mine is not None:
            return None if mine.outcomes == (PASS_HERE,) else mine
        if cause is not None and cause in self._by_cause:
            return self._by_cause[cause]
        return self.base.match(case_id, cause) if self.base is not None else None

    def _prefix_matches(self, case_id: str) -> Iterator[Entry]:
        """Prefix entries matching ``case_id``, longest prefix first, file order among equals.
        One dict look-up per length the file's prefixes have, so matching does not grow with the file (nor with
        the id's length: 1495 ids matched in 2.0 ms, not 4.6)."""
        by_prefix = self._by_prefix
        for n in self._prefix_lengths:
            if n <= len(case_id):
                for e in by_prefix.get(case_id[:n], ()):
                    if e.matches(case_id):
                        yield e

    @cached_property
    def _exact(self) -> dict[str, Entry]:
        return {e.pattern: e for e in self.own if not e.is_prefix and e.cause is None}

    @cached_property
    def _by_cause(self) -> dict[str, Entry]:
        return {e.cause: e for e in self.own if e.cause is not None}

    @cached_property
    def _prefix_lengths(self) -> list[int]:
        return sorted({len(p) for p in self._by_prefix}, reverse=True)

    @cached_property
    def _by_prefix(self) -> dict[str, list[Entry]]:
        out: dict[str, list[Entry]] = {}
        for e in self.own:
            if e.is_prefix:
                out.setdefault(e.prefix, []).append(e)
        return out

    def unmatched(self, case_ids: Iterable[str], causes: dict[str, str | None] | None = None) -> list[Entry]:
        """Entries (a PASS_HERE one and the included file's too) that decide none of ``case_ids``. Cause
        entries are judged only when ``causes`` is given (every row of a complete run: its id -> its record's
        cause api), and only this file's: an included file's cause entries are its own target's, and the
        rows of this run (another target) need not be blocked as they are there."""
        case_ids = list(case_ids)
        hit: set[int] = set()
        for i in case_ids:
            e = self._exact.get(i)
            if e is not None:
                hit.add(id(e))
            hit.update(id(e) for e in self._prefix_matches(i))
        for i, api in (causes or {}).items():
            e = self._by_cause.get(api) if api is not None else None
            if e is not None and self._exact.get(i) is None and next(self._prefix_matches(i), None) is None:
                hit.add(id(e))
        stale = [e for e in self.own if id(e) not in hit and (e.cause is None or causes is not None)]
        return stale + (self.base.unmatched(case_ids) if self.base else [])


def read_text(p: Path) -> str:
    """The file as UTF-8 (a leading BOM, as some editors write, is accepted); anything else is one clear error."""
    data = p.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ExpectationsError(f"{p} is UTF-16 (it starts with a UTF-16 byte order mark); expectations files "
                                "must be UTF-8: save it again as UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise ExpectationsError(f"{p}:{line}: not UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start}); "
                                "expectations files must be UTF-8: save it again as UTF-8") from None


# What of an entry's reason each row it decides carries (its note, its expectation): a reason is meant to
# be a line, and a row is copied into results.jsonl, junit.xml and index.html; the file keeps it whole.
REASON_IN_ROW = 300


def row_reason(reason: str) -> str:
    return reason if len(reason) <= REASON_IN_ROW else reason[:REASON_IN_ROW] + f"... ({len(reason)} characters)"


def apply(raw: str, entry: Entry | None) -> tuple[str, str]:
    """(final outcome, note) for a raw outcome and the expectation that covers its case."""
    if entry is None or raw == "SKIP":
        return raw, ""
    reason = row_reason(entry.reason)
    if raw in entry.outcomes:
        return "XFAIL", reason
    if raw == "PASS":
        return "XPASS", (f"passed, but {entry.pattern!r} ({entry.where}) expects "
                         f"{'/'.join(entry.outcomes)}: {reason}. Remove or narrow the entry.")
    return raw, f"expected {'/'.join(entry.outcomes)} ({reason}), got {raw}"
