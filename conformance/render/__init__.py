"""Reports rendered from results: index.html, checklist.md, junit.xml, loading-matrix.md and surface.json.
Formatting lives here only, and ``python -m conformance report`` reproduces every file a run wrote.

``model`` reads one or several results.json into one sorted model; each renderer turns it into
one file, deterministically (same results and catalog -> the same bytes; a date only on request).
"""
from __future__ import annotations

import json
from pathlib import Path

from ..results import write_atomic
from . import checklist, html, junit, loading_matrix, perf as perf_report
from .model import Report, from_results, load

RENDERERS = {"index.html": html.render, "checklist.md": checklist.render, "junit.xml": junit.render}


def _loading_matrix(report: Report) -> str | None:
    """loading-matrix.md, when the runs have load_path cases (one section a run)."""
    parts = []
    for run in report.runs:
        matrix = loading_matrix.build({"run": run.header, "cases": list(run.cases.values())})
        if matrix["dtypes"]:
            parts.append(loading_matrix.markdown(matrix))
    return "\n".join(parts) or None


def _surface(report: Report) -> str | None:
    """surface.json, when the run traced the API surface (--surface): the inventory the results carry."""
    return None if report.surface is None else json.dumps(report.surface, indent=1, sort_keys=True) + "\n"


# Files only some runs have: the renderer returns None when there is nothing to write.
OPTIONAL = {"loading-matrix.md": _loading_matrix, "surface.json": _surface}


def _write(path: Path, text: str) -> None:
    write_atomic(path, text)     # a reader never sees half a file; any string a target produced survives


def write_all(report: Report, out_dir: Path, perf: dict | None = None,
              failing: html.FailingRows | None = None) -> dict[str, Path]:
    """Render every report into ``out_dir``; returns file name -> path.

    ``perf`` (a perf.json from benchmarks/bench_loading.py; by default the one the results carry)
    adds perf.md and a section of index.html. ``failing``: index.html's failing rows, rendered already
    (html.failing_rows).
    """
    perf = perf or report.performance
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, render in RENDERERS.items():
        path = out_dir / name
        _write(path, html.render(report, perf=perf, failing=failing) if name == "index.html" else render(report))
        written[name] = path
    for name, render_optional in OPTIONAL.items():
        text = render_optional(report)
        if text is not None:
            _write(out_dir / name, text)
            written[name] = out_dir / name
    if perf:
        written["perf.md"] = out_dir / "perf.md"
        _write(written["perf.md"], perf_report.markdown(perf))
    return written


__all__ = ["Report", "RENDERERS", "OPTIONAL", "from_results", "load", "write_all"]
