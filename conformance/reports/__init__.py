"""Reports rendered from results: index.html, checklist.md and junit.xml. Formatting lives here only.

``model`` reads one or several results.json into one sorted model; each renderer turns it into
one file, deterministically (same results and catalog -> the same bytes; a date only on request).
"""
from __future__ import annotations

from pathlib import Path

from . import checklist, html, junit
from .model import Report, from_results, load

RENDERERS = {"index.html": html.render, "checklist.md": checklist.render, "junit.xml": junit.render}


def write_all(report: Report, out_dir: Path) -> dict[str, Path]:
    """Render every report into ``out_dir``; returns file name -> path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, render in RENDERERS.items():
        path = out_dir / name
        tmp = path.with_name(path.name + ".tmp")   # a reader never sees half a file
        tmp.write_text(render(report), encoding="utf-8")
        tmp.replace(path)
        written[name] = path
    return written


__all__ = ["Report", "RENDERERS", "from_results", "load", "write_all"]
