"""The loading-strategy matrix: dtype x loading path, per target, from results.json records.

Built from the ``load_path[<path>-<dtype>]`` cases (catalog/st_entrypoints.py). Each cell says:

* ``PASS``: same dtype, shape, strides and bytes as the oracle;
* ``MISSING <api>``: the target lacks an API this path needs (named from the target's exception);
* ``FAIL silently wrong (<fields>)``: the target returned a tensor that differs from the oracle's;
* ``FAIL raised <Class>``: the target raised where the oracle returned a tensor;
* ``fails under oracle too (<Class>)``: real PyTorch with this safetensors raises as well (e.g. numpy has
  no bfloat16), so the cell never blames the backend; whether the target failed the same way is noted;
* ``n/a``: the path does not exist in this safetensors version (e.g. pread before 0.8.0), or SKIP;
* ``CRASH`` / ``TIMEOUT`` / ``ERROR`` as the run judged them.

``build(results)`` returns plain data; ``markdown(matrix)`` renders it; ``write(results, path)`` does both.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..observe import DTYPE_ABSENT, NOT_IN_THIS_SAFETENSORS

CASE = "load_path"
PATHS = ["load", "load_file-mmap", "load_file-pread", "safe_open-pt", "safe_open-numpy"]
PATH_TITLES = {"load": "load(bytes)", "load_file-mmap": "load_file mmap", "load_file-pread": "load_file pread",
               "safe_open-pt": "safe_open(pt).get_tensor", "safe_open-numpy": "safe_open(numpy)+from_numpy"}
_ID = re.compile(r"^load_path\[(?P<path>" + "|".join(re.escape(p) for p in PATHS) + r")-(?P<dtype>[a-z0-9_]+)\]$")
_MODULE_ATTR = re.compile(r"module '[\w.]+' has no attribute '(?P<attr>\w+)'")
_OBJECT_ATTR = re.compile(r"(?:type object '|')(?P<owner>[\w.]+)'(?: object)? has no attribute '(?P<attr>\w+)'")


def _missing_api(observed: dict[str, Any] | None) -> str:
    """The API a MISSING cell lacks, named torch.X / Tensor.X from the target's observation."""
    obs = observed or {}
    if DTYPE_ABSENT in obs:
        return f"torch.{obs['dtype_absent']}"
    msg = obs.get("message", "")
    m = _MODULE_ATTR.search(msg)
    if m:
        return f"torch.{m.group('attr')}"
    m = _OBJECT_ATTR.search(msg)
    if m:
        owner = m.group("owner").split(".")[-1]
        return f"{'Tensor' if owner.lower().endswith('tensor') else owner}.{m.group('attr')}"
    return "an API"


def _cell(rec: dict[str, Any]) -> dict[str, Any]:
    oracle = rec.get("oracle") or {}
    observed = rec.get("observed")
    raw = rec["raw_outcome"]
    value = oracle.get("value")
    cell = {"case": rec["id"], "outcome": rec["outcome"], "raw_outcome": raw, "oracle_fails": False,
            "detail": rec.get("summary", "")}
    if isinstance(value, dict) and NOT_IN_THIS_SAFETENSORS in value:
        return {**cell, "status": "N/A", "label": "n/a (not in this safetensors)",
                "detail": value[NOT_IN_THIS_SAFETENSORS]}
    if "raises" in oracle:
        same = raw == "PASS"
        if same:
            note = "target fails the same way"
        elif raw == "MISSING":
            note = f"target: MISSING {_missing_api(observed)}"
        else:
            note = f"target: {observed.get('raises', 'no exception') if observed else raw}"
        return {**cell, "status": "ORACLE-FAILS", "oracle_fails": True, "oracle_error": oracle["raises"],
                "label": f"fails under oracle too ({oracle.get('type', oracle['raises']).split('.')[-1]}; {note})"}
    if raw == "PASS":
        return {**cell, "status": "PASS", "label": "PASS"}
    if raw == "SKIP":
        return {**cell, "status": "N/A", "label": "n/a (skipped)"}
    if raw == "MISSING":
        api = _missing_api(observed)
        return {**cell, "status": "MISSING", "api": api, "label": f"MISSING {api}"}
    if raw == "FAIL":
        if observed and "raises" in observed:
            cls = observed.get("type", observed["raises"]).split(".")[-1]
            return {**cell, "status": "FAIL", "kind": "raised", "label": f"FAIL raised {cls}"}
        fields = sorted({str(d.get("path", "")).split(".")[-1].split("[")[0] for d in rec.get("diffs", [])} - {""})
        return {**cell, "status": "FAIL", "kind": "wrong", "fields": fields,
                "label": f"FAIL silently wrong ({', '.join(fields) or 'value'})"}
    return {**cell, "status": raw, "label": raw}


def build(results: dict[str, Any]) -> dict[str, Any]:
    """The matrix of one run (one target): rows = dtypes (catalog order), columns = loading paths."""
    run = results.get("run", {})
    cells: dict[str, dict[str, Any]] = {}
    dtypes: list[str] = []
    for rec in results.get("cases", []):
        m = _ID.match(rec.get("id", ""))
        if not m:
            continue
        d = m.group("dtype")
        if d not in cells:
            cells[d] = {}
            dtypes.append(d)
        cells[d][m.group("path")] = _cell(rec)
    try:
        from ..dtypes import DTYPE_NAMES
        dtypes.sort(key=lambda d: DTYPE_NAMES.index(d) if d in DTYPE_NAMES else len(DTYPE_NAMES))
    except ImportError:     # pragma: no cover
        dtypes.sort()
    counts: dict[str, int] = {}
    for row in cells.values():
        for c in row.values():
            counts[c["status"]] = counts.get(c["status"], 0) + 1
    env = run.get("target_env") or {}
    return {"target": run.get("target"), "safetensors": env.get("safetensors"),
            "oracle_safetensors": (run.get("oracle") or {}).get("safetensors"),
            "paths": [p for p in PATHS if any(p in row for row in cells.values())],
            "dtypes": dtypes, "cells": cells, "counts": dict(sorted(counts.items()))}


def build_all(results_list: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One matrix per target (per results.json)."""
    return [build(r) for r in results_list]


def markdown(matrix: dict[str, Any]) -> str:
    paths = matrix["paths"]
    lines = [f"# Loading-strategy matrix: {matrix['target']} (safetensors {matrix['safetensors']})", ""]
    if not matrix["dtypes"]:
        return "\n".join(lines + ["No load_path cases in these results.", ""])
    lines.append("Cells: PASS; MISSING <api>; FAIL silently wrong (fields) / FAIL raised <class>; "
                 "\"fails under oracle too\" where real PyTorch with this safetensors fails as well (never "
                 "the backend's fault); n/a where the path is not in this safetensors.")
    lines.append("")
    lines.append("| dtype | " + " | ".join(PATH_TITLES[p] for p in paths) + " |")
    lines.append("|---|" + "---|" * len(paths))
    for d in matrix["dtypes"]:
        row = matrix["cells"][d]
        lines.append(f"| {d} | " + " | ".join(row[p]["label"] if p in row else "" for p in paths) + " |")
    lines.append("")
    lines.append("Totals: " + ", ".join(f"{n} {s}" for s, n in matrix["counts"].items()))
    lines.append("")
    return "\n".join(lines)


def write(results: dict[str, Any], out: Path) -> dict[str, Any]:
    matrix = build(results)
    Path(out).write_text(markdown(matrix))
    return matrix
