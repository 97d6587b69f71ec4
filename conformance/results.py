"""results.json: one record per case, plus the run's header. Schema: docs/results-schema.md."""
from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from .outcomes import ORDER

SCHEMA = "torch-conformance/results/1"


class ResultsError(Exception):
    pass


def counts(records: list[dict[str, Any]]) -> dict[str, int]:
    c = Counter(r["outcome"] for r in records)
    return {o: c[o] for o in ORDER if c[o]}


def case_record(case: Any, target: str, verdict: Any, entry: Any, final: str, note: str, result: dict[str, Any],
                *, off_path: str | None, oracle_version: str | None, process: str, seq: int) -> dict[str, Any]:
    """One case's record (the table "Case record" of docs/results-schema.md); the controller adds ``oracle``."""
    return {
        "id": case.id, "api": case.api, "origin": case.origin, "module": case.module,
        "target": target, "outcome": final, "raw_outcome": verdict.outcome,
        "summary": verdict.summary, "note": note, "diffs": verdict.diffs, "cause": verdict.cause,
        "expectation": {"pattern": entry.pattern, "line": entry.line, "reason": entry.reason} if entry else None,
        "observed": result.get("obs"), "ms": result.get("ms"), "reached_around": reached_around(result),
        "off_path": off_path, "oracle_torch_version": oracle_version, "process": process, "seq": seq,
    }


def reached_around(result: dict[str, Any]) -> list[str] | None:
    """Blockers the target's case went around to judge its own API (``Context.reach_around``)."""
    display = (result.get("obs") or {}).get("display")
    return display.get("reached_around") if isinstance(display, dict) else None


def run_header(*, target: str, oracle: Any, target_env: Any, catalog: str, cases_in_catalog: int,
               expectations: str, gate_problems: list[str], loading_path: Any, interrupted: bool,
               processes: set[str], target_startup: float | None) -> dict[str, Any]:
    """The run's header (``run`` in docs/results-schema.md), before ``build`` adds the counts."""
    return {"target": target, "oracle": oracle, "target_env": target_env, "catalog": catalog,
            "cases_in_catalog": cases_in_catalog, "expectations": expectations, "gate_problems": gate_problems,
            "routes": (target_env or {}).get("routes"),     # also in target_env; the report reads it here
            "loading_path": loading_path, "interrupted": interrupted,
            # target processes started: one per pytest process, plus one per CRASH or TIMEOUT
            "target_processes": len(processes),
            "target_startup_seconds": None if target_startup is None else round(target_startup, 3)}


def build(run: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    records = sorted(records, key=lambda r: (r["module"], r["id"]))
    return {"schema": SCHEMA, "run": {**run, "counts": counts(records), "cases_run": len(records)},
            "cases": records}


def write(path: Path, results: dict[str, Any]) -> None:
    """One case per line: still readable and diffable, and 10x faster than ``indent=`` (which makes
    json use its pure-Python encoder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    head = {k: v for k, v in results.items() if k != "cases"}
    lines = [json.dumps(c, sort_keys=True) for c in results["cases"]]
    text = json.dumps(head, indent=1, sort_keys=True)[:-2] + ',\n "cases": [\n' + ",\n".join(lines) + "\n ]\n}\n"
    write_atomic(path, text)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` so a reader sees the old file or the new one, never half of either; a temp file of
    a failed write (e.g. a full disk) is removed. Strings a target produced may hold lone surrogates:
    they are written as backslash escapes rather than failing the whole report."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", errors="backslashreplace") as f:
            f.write(text)
        tmp.replace(path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if e.filename is None:       # a failed write() names no file: name the one we were writing
            raise OSError(e.errno, e.strerror, str(path)) from e
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
        return build({"target": recs[0]["target"] if recs else None, "partial": True}, recs)
    try:
        data = json.loads(text)
    except ValueError as e:
        raise ResultsError(f"{path} is not valid results ({e}); re-run the kit to write it again") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ResultsError(f"{path} has schema {data.get('schema') if isinstance(data, dict) else None!r}, "
                           f"expected {SCHEMA!r}")
    return data


def _jsonl_records(path: Path, text: str, warn) -> list[dict[str, Any]]:
    lines = text.split("\n")
    last = max((n for n, line in enumerate(lines, 1) if line.strip()), default=0)
    recs = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict) or not {"id", "outcome", "module"} <= rec.keys():
                raise ValueError("not a case record")
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
