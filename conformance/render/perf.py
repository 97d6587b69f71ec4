"""perf.md (and index.html's "Loading-path performance" section) from benchmarks/bench_loading.py's perf.json.

Informational only: these numbers are never part of the gate's pass/fail. Rendering is
deterministic (rows in the file's order, fixed number formats); every backend string is escaped.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .checklist import md

KIND = "torch-conformance loading benchmark"
FORMAT = 2


class PerfError(ValueError):
    pass


def load(path: str | Path) -> dict[str, Any]:
    try:
        perf = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise PerfError(f"cannot read {path}: {e}") from e
    if not isinstance(perf, dict) or perf.get("kind") != KIND or not isinstance(perf.get("rows"), list):
        raise PerfError(f"{path} is not a perf.json written by benchmarks/bench_loading.py --json")
    if perf.get("format") != FORMAT:
        raise PerfError(f"{path} has format {perf.get('format')!r}, this kit reads {FORMAT}; "
                        "run benchmarks/bench_loading.py --json again")
    return perf


def _num(v: Any, fmt: str, suffix: str = "") -> str:
    return "-" if not isinstance(v, (int, float)) or isinstance(v, bool) else format(v, fmt) + suffix


def rows(perf: dict[str, Any]) -> list[dict[str, str]]:
    """One dict of display strings per (backend, path), in the file's order."""
    out = []
    for r in perf.get("rows", []):
        ok = r.get("status") == "ok"
        out.append({
            "checkpoint": str(r.get("checkpoint", "?")), "backend": str(r.get("backend", "?")),
            "path": str(r.get("path", "?")), "status": str(r.get("status", "?")),
            "seconds": _num(r.get("seconds"), ".3f") if ok else "",
            "mb_s": _num(r.get("mb_s"), ".0f") if ok else "",
            "peak_mib": _num(r.get("peak_mib"), ".1f") if ok else "",
            "delta_mib": _num(r.get("peak_delta_mib"), ".1f") if ok else "",
            "data": str(r.get("data", "")) if ok else "",
            "time_ratio": _num(r.get("time_ratio"), ".2f", "x") if ok else "",
            "mem_ratio": _num(r.get("mem_ratio"), ".2f", "x") if ok else "",
            "error": " ".join(str(r.get("error", "")).split()),
        })
    return out


def summary(perf: dict[str, Any]) -> str:
    e = perf.get("environment", {})
    parts = []
    for label, c in (perf.get("checkpoints") or {}).items():
        size = c.get("bytes", 0) / 2 ** 20 if isinstance(c.get("bytes"), (int, float)) else 0
        parts.append(f"{label}: {size:.1f} MiB, {c.get('tensors', '?')} tensors ({', '.join(map(str, c.get('dtypes', [])))}), "
                     f"seed {c.get('seed', '?')}")
    return (f"checkpoints {'; '.join(parts) or '?'}. {e.get('cores', '?')} cores, Python {e.get('python', '?')}, "
            f"safetensors {e.get('safetensors', '?')}, numpy {e.get('numpy', '?')}; best of {perf.get('repeat', '?')} "
            f"fresh process(es) per backend and path, warm page cache; oracle {perf.get('oracle', 'torch')}")


LEGEND = ("s = load + touch every page of every tensor; Δ MiB = peak RSS - RSS before the load; "
          "data = mapped (the checkpoint is in /proc/self/maps after the load) or copied; "
          "ratios are time and Δ MiB against the oracle on the same checkpoint and path. Not part of the gate.")


def markdown(perf: dict[str, Any]) -> str:
    lines = ["# Loading-path performance", "", md(summary(perf)), "",
             "| checkpoint | backend | path | status | s | MB/s | peak MiB | Δ MiB | data | time / oracle | memory / oracle |",
             "|---|---|---|---|---:|---:|---:|---:|---|---:|---:|"]
    notes = []
    for r in rows(perf):
        status = md(r["status"])
        if r["error"]:
            notes.append(f"- {md(r['checkpoint'])} / {md(r['backend'])} / {md(r['path'])}: {md(r['error'])}")
            status += f" ({len(notes)})"
        lines.append(f"| {md(r['checkpoint'])} | {md(r['backend'])} | {md(r['path'])} | {status} | {r['seconds']} | {r['mb_s']} | "
                     f"{r['peak_mib']} | {r['delta_mib']} | {md(r['data'])} | {r['time_ratio']} | {r['mem_ratio']} |")
    lines += ["", md(LEGEND)]
    if notes:
        lines += ["", "Failures, numbered as in the table:", ""]
        lines += [n.replace("- ", f"{i}. ", 1) for i, n in enumerate(notes, 1)]
    env = perf.get("environment", {}).get("backends") or {}
    if env:
        lines += ["", "Backend versions: " + ", ".join(f"{md(k)} {md(v)}" for k, v in sorted(env.items()))]
    return "\n".join(lines) + "\n"
