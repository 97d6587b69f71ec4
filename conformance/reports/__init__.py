"""Reports rendered from results: index.html, checklist.md and junit.xml. Formatting lives here only.

``model`` reads one or several results.json into one sorted model; each renderer turns it into
one file, deterministically (same results and catalog -> the same bytes; a date only on request).
"""
from __future__ import annotations

from pathlib import Path

from ..results import write_atomic
from . import checklist, html, junit, perf as perf_report
from .model import Report, from_results, load

RENDERERS = {"index.html": html.render, "checklist.md": checklist.render, "junit.xml": junit.render}


def _write(path: Path, text: str) -> None:
    write_atomic(path, text)     # a reader never sees half a file; any string a target produced survives


def write_all(report: Report, out_dir: Path, perf: dict | None = None) -> dict[str, Path]:
    """Render every report into ``out_dir``; returns file name -> path.

    ``perf`` (a perf.json from benchmarks/bench_loading.py; by default the one the results carry)
    adds perf.md and a section of index.html.
    """
    perf = perf or report.performance
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, render in RENDERERS.items():
        path = out_dir / name
        _write(path, html.render(report, perf=perf) if name == "index.html" and perf else render(report))
        written[name] = path
    if perf:
        written["perf.md"] = out_dir / "perf.md"
        _write(written["perf.md"], perf_report.markdown(perf))
    return written


__all__ = ["Report", "RENDERERS", "from_results", "load", "write_all"]
