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
