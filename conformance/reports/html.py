"""index.html: one self-contained page (no external resources, readable without JavaScript).

Jinja2 autoescapes every string that reaches the page, and a Content-Security-Policy allows only
the page's own inline script (by hash): a backend message that slips through as markup still
cannot run. The page holds no date unless the report was asked for one.
"""
from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from jinja2 import Environment, FileSystemBytecodeCache, PackageLoader, StrictUndefined, select_autoescape

from ..outcomes import ORDER, OUTCOMES
from .entry_points import entry_points_of
from . import perf as perf_report
from .model import PRIORITY, Report, Run, anchor
from .sources import Catalog, repro_command

VALUE_CHARS = 400   # a value longer than this is cut in the side-by-side view (the JSON has it all)

# The compiled template is cached (a private folder under the temp dir, keyed by the template's
# checksum): compiling it costs ~0.2 s, a fifth of rendering the largest report.
_env = Environment(loader=PackageLoader("conformance.reports", "templates"), undefined=StrictUndefined,
                   autoescape=select_autoescape(["html", "j2"], default=True), bytecode_cache=FileSystemBytecodeCache(),
                   keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
_SCRIPT = files("conformance.reports").joinpath("templates/filters.js").read_text()


def _short(v: Any) -> str:
    s = v if isinstance(v, str) else json.dumps(v, sort_keys=True, ensure_ascii=False)
    return s if len(s) <= VALUE_CHARS else s[:VALUE_CHARS] + f"… ({len(s)} chars)"


def _exception(obs: dict[str, Any] | None) -> str:
    if not obs:
        return "no observation (the process died or hung)"
    if "raises" not in obs:
        return "no exception"
    shown = obs.get("type") or obs["raises"]
    return f"{shown}: {obs.get('message', '')}"


def _hex_tokens(this: str, other: str, start: int, first: int) -> list[tuple[str, str]]:
    """[(byte, css class)]: the first differing byte, other differing bytes, equal bytes."""
    a, b = this.split(), other.split()
    out = []
    for i, tok in enumerate(a):
        cls = "first" if start + i == first else ("diff" if i >= len(b) or b[i] != tok else "")
        out.append((tok, cls))
    return out


@dataclass
class Comparison:
    """One differing field, ready to print side by side."""
    path: str
    oracle: str = ""
    target: str = ""
    bytes: dict[str, Any] | None = None
    detail: str = ""


def _comparisons(record: dict[str, Any], raised: bool) -> list[Comparison]:
    """The differing fields; when an exception row is shown, the diffs that only repeat it are left out."""
    out = []
    for d in record.get("diffs") or []:
        if raised and d.get("path") == "raises":
            continue
        if d.get("kind") == "bytes":
            start, first = d["excerpt_start"], d["first_offset"]
            out.append(Comparison(d["path"], bytes={
                "first": first, "oracle_len": d["oracle_len"], "target_len": d["target_len"], "start": start,
                "oracle": _hex_tokens(d["oracle_hex"], d["target_hex"], start, first),
                "target": _hex_tokens(d["target_hex"], d["oracle_hex"], start, first)}))
        elif "oracle" in d or "target" in d:
            target = _short(d.get("target"))
            if d.get("target_message") and not raised:
                target += f" ({d['target_message']})"
            out.append(Comparison(d["path"], _short(d.get("oracle")), _short(target)))
        else:
            out.append(Comparison(d.get("path", "?"), detail=_short(d.get("detail", d))))
    return out


def _run_view(report: Report, run: Run) -> dict[str, Any]:
    env = run.target_env or {}
    return {"run": run, "env": env, "counts": run.counts, "entries": {s.entry.key: s for s in report.entry_points(run)}}


def _case_view(case, report: Report, catalog: Catalog) -> dict[str, Any]:
    per_run = []
    for run in report.runs:
        r = case.records.get(run.slug)
        if r is None:
            per_run.append({"run": run, "record": None})
            continue
        raised = "raises" in (r.get("oracle") or {}) or "raises" in (r.get("observed") or {})
        per_run.append({"run": run, "record": r, "shown": r["outcome"] not in ("PASS", "SKIP"),
                        "comparisons": _comparisons(r, raised),
                        "exception": (_exception(r.get("oracle")), _exception(r.get("observed"))) if raised else None,
                        "repro": repro_command(run.key.target, case.id)})
    outcomes = " ".join(f"{p['run'].slug}:{p['record']['outcome']}" for p in per_run if p["record"])
    return {"case": case, "per_run": per_run, "source": catalog.source(case.id), "data_outcomes": outcomes,
            "entries": [ep.title for ep in entry_points_of(case.origin)]}


def _script_hash(script: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()


def render(report: Report, perf: dict[str, Any] | None = None) -> str:
    catalog = Catalog()
    failing, xfail = report.listed_cases()
    failing_v = [_case_view(c, report, catalog) for c in failing]
    xfail_v = [_case_view(c, report, catalog) for c in xfail]
    sources = {}
    for v in failing_v + xfail_v:
        if v["source"] is not None:
            sources.setdefault(v["source"].key, v["source"])
    used = [o for o in ORDER if any(run.counts.get(o) for run in report.runs)]
    digests = sorted({run.header.get("catalog") for run in report.runs if run.header.get("catalog")})
    return _env.get_template("index.html.j2").render(
        report=report, runs=[_run_view(report, r) for r in report.runs], oracles=report.oracles(),
        used_outcomes=used, order=ORDER, outcomes=OUTCOMES, priority=PRIORITY, matrix=report.matrix(),
        entry_points=report.all_entry_points(), failing=failing_v, xfail=xfail_v,
        sources=sorted(sources.values(), key=lambda s: s.key), catalog=catalog, run_digests=digests,
        anchor=anchor, origin_entries=lambda o: ", ".join(ep.title for ep in entry_points_of(o)),
        script=_SCRIPT, script_hash=_script_hash(_SCRIPT),
        perf={"summary": perf_report.summary(perf), "rows": perf_report.rows(perf), "legend": perf_report.LEGEND}
        if perf else None)
