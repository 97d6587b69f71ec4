"""results.json: one record per case, plus the run's header. Schema: docs/results-schema.md."""
from __future__ import annotations

import json
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
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def load(path: Path) -> dict[str, Any]:
    """results.json, or a partial results.jsonl left by a run that died."""
    if not path.is_file():
        raise ResultsError(f"no results at {path}; run the kit with --report-dir first")
    try:
        if path.suffix == ".jsonl":
            recs = [json.loads(l) for l in path.read_text().splitlines() if l.strip()]
            return build({"target": recs[0]["target"] if recs else None, "partial": True}, recs)
        data = json.loads(path.read_text())
    except (ValueError, KeyError) as e:
        raise ResultsError(f"{path} is not valid results ({e}); re-run the kit to write it again") from None
    if data.get("schema") != SCHEMA:
        raise ResultsError(f"{path} has schema {data.get('schema')!r}, expected {SCHEMA!r}")
    return data
