"""results.json: one record per case, plus the run's header. Schema: docs/results-schema.md."""
from __future__ import annotations

import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from .expectations import row_reason
from .outcomes import FAILING, ORDER, shown

# 2: every record carries its shown outcome, the case's contract line and parameters, and a failing record
# always its cause (1 derived the shown outcome in each renderer and let a cause be absent).
SCHEMA = "torch-conformance/results/2"
DOC_LEN = 300       # a record keeps its case's first sentence: the contract a report quotes


class ResultsError(Exception):
    pass


def counts(records: list[dict[str, Any]]) -> dict[str, int]:
    c = Counter(r["outcome"] for r in records)
    return {o: c[o] for o in ORDER if c[o]}


def case_record(case: Any, target: str, verdict: Any, entry: Any, final: str, note: str, result: dict[str, Any],
                *, off_path: str | None, oracle_version: str | None, process: str | None, seq: int | None) -> dict[str, Any]:
    """One case's record (the table "Case record" of docs/results-schema.md), the only constructor of one;
    the controller adds ``oracle``."""
    values = getattr(getattr(case, "params", None), "values", None) or {}
    return {
        "id": case.id, "api": case.api, "origin": case.origin, "module": case.module,
        "doc": first_sentence(getattr(case, "doc", "")), "params": {k: repr(v) for k, v in sorted(values.items())},
        "target": target, "outcome": final, "raw_outcome": verdict.outcome,
        "shown_outcome": shown(verdict.outcome, verdict.cause),
        "summary": verdict.summary, "note": note, "diffs": verdict.diffs, "cause": verdict.cause,
        "expectation": {"pattern": entry.pattern, "line": entry.line, "reason": row_reason(entry.reason),
                        "outcomes": list(entry.outcomes)} if entry else None,
        "observed": result.get("obs"), "ms": result.get("ms"), "reached_around": reached_around(result),
        "off_path": off_path, "oracle_torch_version": oracle_version, "process": process, "seq": seq,
    }


def first_sentence(doc: str) -> str:
    """The first sentence of a case's docstring, on one line: what the API must do."""
    text = " ".join((doc or "").split())
    end = text.find(". ")
    return (text if end < 0 else text[:end + 1])[:DOC_LEN]


def reached_around(result: dict[str, Any]) -> list[str] | None:
    """Blockers the target's case went around to judge its own API (``Context.reach_around``)."""
    display = (result.get("obs") or {}).get("display")
    return display.get("reached_around") if isinstance(display, dict) else None


def run_header(*, target: str, oracle: Any, target_env: Any, catalog: str, cases_in_catalog: int,
               expectations: str, gate_problems: list[str], loading_path: Any, interrupted: bool,
               processes: set[str], target_startup: float | None, not_run: list[str] | None = None,
               target_spec: dict[str, Any] | None = None) -> dict[str, Any]:
    """The run's header (``run`` in docs/results-schema.md), before ``build`` adds the counts."""
    return {"target": target, "target_spec": target_spec, "oracle": oracle, "target_env": target_env,
            "catalog": catalog,
            "cases_in_catalog": cases_in_catalog, "expectations": expectations, "gate_problems": gate_problems,
            "routes": (target_env or {}).get("routes"),     # also in target_env; the report reads it here
            "loading_path": loading_path, "interrupted": interrupted,
            # target processes started: one per pytest process, plus one per CRASH or TIMEOUT
            "target_processes": len(processes),
            "target_startup_seconds": None if target_startup is None else round(target_startup, 3),
            # selected cases that never started because the run was interrupted (no record: not lost)
            "not_run": sorted(not_run or [])}


def build(run: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    records = sorted(records, key=lambda r: (r["module"], r["id"]))
    return {"schema": SCHEMA, "run": {**run, "counts": counts(records), "cases_run": len(records)},
            "cases": records}


def write(path: Path, results: dict[str, Any], cases: tuple[list[str], dict[str, str]] | None = None) -> None:
    """One case per line: still readable and diffable, and 10x faster than ``indent=`` (which makes
    json use its pure-Python encoder). Expectation reasons are written once per entry (``expectation_reasons``),
    not into every row they cover; ``load`` puts them back. ``cases``: ``encode_cases(results)``, made
    beforehand (the run makes it while the checklist's snippets run)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines, reasons = encode_cases(results) if cases is None else cases
    head = {k: v for k, v in results.items() if k != "cases"}
    if reasons:
        head[REASONS] = reasons
    text = json.dumps(head, indent=1, sort_keys=True)[:-2] + ',\n "cases": [\n' + ",\n".join(lines) + "\n ]\n}\n"
    write_atomic(path, text)


def encode_cases(results: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """results.json's case lines and the reasons written once (``write``): they depend on the rows alone."""
    cases, reasons = _reasons_apart(results["cases"])
    return [json.dumps(c, sort_keys=True) for c in cases], reasons


REASONS = "expectation_reasons"      # {pattern: reason} of the expectations entries the rows name


def _reasons_apart(cases: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Rows without their entry's reason (and without a note that is made from it), and the reasons by pattern."""
    from .expectations import Entry, apply

    reasons: dict[str, str] = {}
    out = []
    for c in cases:
        e = c.get("expectation")
        if not isinstance(e, dict) or not isinstance(e.get("reason"), str) or "pattern" not in e:
            out.append(c)
            continue
        reasons[e["pattern"]] = e["reason"]
        row = {**c, "expectation": {k: v for k, v in e.items() if k != "reason"}}
        outcomes = e.get("outcomes")
        if outcomes and c.get("note") and c.get("note") == apply(
                c.get("raw_outcome"), Entry(e["pattern"], tuple(outcomes), e["reason"], e.get("line") or 0))[1]:
            row["note"] = None           # made again from the entry on load
        out.append(row)
    return out, reasons


def _reasons_back(data: dict[str, Any]) -> None:
    """The inverse of ``_reasons_apart``, in place (the rows share each reason's one string)."""
    from .expectations import Entry, apply

    reasons = data.get(REASONS)
    if not isinstance(reasons, dict):
        return
    for c in data["cases"]:
        e = c.get("expectation")
        if not isinstance(e, dict) or "reason" in e or not isinstance(reasons.get(e.get("pattern")), str):
            continue
        e["reason"] = reasons[e["pattern"]]
        if c.get("note") is None and e.get("outcomes"):
            c["note"] = apply(c.get("raw_outcome"), Entry(e["pattern"], tuple(e["outcomes"]), e["reason"],
                                                          e.get("line") or 0))[1]


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` so a reader sees the old file or the new one, never half of either; a temp file of
    a failed write (e.g. a full disk) is removed. The temp file is made with O_EXCL and O_NOFOLLOW under a
    random name (a planted file or symlink is never written through), and renamed over ``path`` (a symlink
    there is replaced, not followed). Strings a target produced may hold lone surrogates: they are written
    as backslash escapes rather than failing the whole report."""
    path = Path(path)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise OSError(e.errno, e.strerror, str(path)) from e
    tmp = Path(name)
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if e.filename is None:       # a failed write() names no file: name the one we were writing
            raise OSError(e.errno, e.strerror, str(path)) from e
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def create_exclusive(path: Path, mode: str = "w"):
    """A new file at ``path`` for this process alone: what was there (an earlier run's file, or a symlink
    planted in its place) is removed first, and the file is made with O_EXCL and O_NOFOLLOW."""
    path = Path(path)
    try:
        if path.is_symlink() or path.is_file():
            path.unlink()
    except FileNotFoundError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o644)
    if "b" in mode:
        return os.fdopen(fd, mode)
    return os.fdopen(fd, mode, encoding="utf-8", errors="backslashreplace")


class PartialLog:
    """``DIR/results.jsonl``, written as records arrive (a run that dies still leaves them). Made with
    ``create_exclusive``; ``replaced()`` says whether the name still points at the file this run writes,
    and ``restore(records)`` writes it again (atomically) when something replaced it during the run."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.name = str(self.path)
        self._f = create_exclusive(self.path)
        st = os.fstat(self._f.fileno())
        self._id = (st.st_dev, st.st_ino)

    def write(self, text: str) -> None:
        self._f.write(text)

    def flush(self) -> None:
        self._f.flush()

    def close(self) -> None:
        self._f.close()

    def replaced(self) -> bool:
        try:
            st = os.lstat(self.path)
        except OSError:
            return True
        return (st.st_dev, st.st_ino) != self._id

    def restore(self, records: list[dict[str, Any]]) -> str | None:
        """None when the file is this run's; else it is written again from ``records`` and this says so."""
        if not self.replaced():
            return None
        write_atomic(self.path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
        return (f"{self.path} was replaced during the run by something other than the runner (the target?); "
                "it was written again from the runner's own records")


INCOMPLETE = "INCOMPLETE"


def mark_incomplete(report_dir: Path) -> Path:
    """Say, before a run writes anything into ``report_dir``, that the reports there are not this run's
    (yet): the marker stays if the run dies, and is removed once the run's reports are written."""
    path = Path(report_dir) / INCOMPLETE
    write_atomic(path, f"A run (pid {os.getpid()}) started writing into this folder and has not finished (or died).\n"
                       "results.json, index.html, checklist.md and junit.xml here are from an earlier run, or "
                       "missing; results.jsonl holds what this run measured so far.\n")
    return path


def mark_complete(report_dir: Path) -> None:
    (Path(report_dir) / INCOMPLETE).unlink(missing_ok=True)


def stale_warning(results_path: Path) -> str | None:
    """A warning when ``results_path`` (a results.json) sits beside a run's INCOMPLETE marker."""
    marker = Path(results_path).parent / INCOMPLETE
    if Path(results_path).suffix == ".json" and marker.exists():
        return (f"warning: {marker} says a later run started in this folder and did not finish: "
                f"{results_path} is from an earlier run")
    return None


def summarised(items: list[Any], limit: int, line, rest: str) -> list[str]:
    """``line(item)`` for the first ``limit`` items, then one line for the rest (``rest`` formatted with
    their count ``n``): a million stale entries make 21 lines, not a million."""
    out = [line(x) for x in items[:limit]]
    if len(items) > limit:
        out.append(rest.format(n=len(items) - limit))
    return out


def load(path: Path, warn=None) -> dict[str, Any]:
    """results.json, or a partial results.jsonl left by a run that died. ``warn(message)`` hears about a
    last line that was cut short (dropped); by default it goes to stderr."""
    if not path.is_file():
        raise ResultsError(f"no results at {path}; run the kit with --report-dir first")
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError as e:
        raise ResultsError(f"cannot read {path}: {e.strerror}") from None
    if path.suffix == ".jsonl":
        recs = _jsonl_records(path, text, warn or _to_stderr)
        return build({"target": recs[0].get("target") if recs else None, "partial": True}, recs)
    try:
        data = json.loads(text)
    except ValueError as e:
        raise ResultsError(f"{path} is not valid results ({e}); re-run the kit to write it again") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ResultsError(f"{path} has schema {data.get('schema') if isinstance(data, dict) else None!r}, "
                           f"expected {SCHEMA!r}; re-run the kit to write it again (this kit cannot read it)")
    if not isinstance(data.get("run"), dict):
        raise ResultsError(f"{path}: its \"run\" header is {type(data.get('run')).__name__}, not an object; "
                           "re-run the kit to write it again")
    if not isinstance(data.get("cases"), list):
        raise ResultsError(f"{path}: its \"cases\" is {type(data.get('cases')).__name__}, not a list; "
                           "re-run the kit to write it again")
    for n, rec in enumerate(data["cases"], 1):
        problem = record_problem(rec)
        if problem:
            raise ResultsError(f"{path}: case record {n}{_named(rec)} {problem}; re-run the kit to write it again")
    stale = stale_warning(path)
    if stale:
        (warn or _to_stderr)(stale)
    _reasons_back(data)
    return data


# Fields every case record has, and what each must be (docs/results-schema.md, "Case record").
_REQUIRED = {"id": str, "outcome": str, "raw_outcome": str, "shown_outcome": str, "module": str, "api": str,
             "origin": str}
_OPTIONAL = {"summary": str, "note": str, "diffs": list, "cause": dict, "expectation": dict, "seq": int,
             "doc": str, "params": dict}


def _named(rec: Any) -> str:
    return f" (id {rec['id']!r})" if isinstance(rec, dict) and isinstance(rec.get("id"), str) else ""


def record_problem(rec: Any) -> str | None:
    """What is wrong with a case record (one phrase), or None."""
    if not isinstance(rec, dict):
        return f"is {type(rec).__name__}, not an object"
    for k, t in _REQUIRED.items():
        if k not in rec:
            return f"has no {k!r}"
        if not isinstance(rec[k], t):
            return f"has {k} {rec[k]!r:.80}, not a string"
    for k in ("outcome", "raw_outcome", "shown_outcome"):
        if rec[k] not in ORDER:
            return f"has {k} {rec[k]!r:.80}, not one of {', '.join(ORDER)}"
    if rec["raw_outcome"] in FAILING and not (isinstance(rec.get("cause"), dict) and rec["cause"].get("api")):
        return f"fails ({rec['raw_outcome']}) but has no cause"
    for k, t in _OPTIONAL.items():
        if rec.get(k) is not None and not isinstance(rec[k], t) or (t is int and isinstance(rec.get(k), bool)):
            return f"has {k} of type {type(rec[k]).__name__}, not {t.__name__}"
    return None


def _jsonl_records(path: Path, text: str, warn) -> list[dict[str, Any]]:
    lines = text.split("\n")
    last = max((n for n, line in enumerate(lines, 1) if line.strip()), default=0)
    recs = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            problem = record_problem(rec)
            if problem:
                raise ValueError(f"the record{_named(rec)} {problem}")
        except ValueError as e:
            if n == last:     # the run was killed while writing it
                warn(f"warning: {path}:{n}: dropped the last line, which was cut short ({e}); "
                     f"{len(recs)} case records read")
                break
            raise ResultsError(f"{path}:{n} is not a case record ({e}); re-run the kit to write it again") from None
        recs.append(rec)
    return recs


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr)
