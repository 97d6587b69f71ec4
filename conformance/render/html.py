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

from markupsafe import Markup, escape
from jinja2 import Environment, FileSystemBytecodeCache, PackageLoader, StrictUndefined, select_autoescape

from ..outcomes import ORDER, OUTCOMES, PHASES
from . import fixes as fixes_mod, loading_path, perf as perf_report
from .causes import SECTIONS, cause_of, shown_outcome
from .entry_points import entry_points_of
from .model import PRIORITY, Report, Run, anchor, listed
from .sources import Catalog, repro_command

SOURCE_FIXES = 6   # the page shows the case source of this many causes' examples per run (the rest: module.function)
VALUE_CHARS = 240   # a value longer than this is cut in the side-by-side view (results.json has it all)

# The compiled template is cached (a private folder under the temp dir, keyed by the template's
# checksum): compiling it costs ~0.2 s, a fifth of rendering the largest report.
_env = Environment(loader=PackageLoader("conformance.render", "templates"), undefined=StrictUndefined,
                   autoescape=select_autoescape(["html", "j2"], default=True), bytecode_cache=FileSystemBytecodeCache(),
                   keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
_SCRIPT = files("conformance.render").joinpath("templates/filters.js").read_text()


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


def hex_html(tokens: list[tuple[str, str]]) -> Markup:
    """A hex excerpt: differing bytes marked, equal ones plain (escaped: tokens come from results)."""
    return Markup(" ").join(Markup('<span class="{}">{}</span>').format(cls, tok) if cls else escape(tok)
                            for tok, cls in tokens)


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
    target_raised = "raises" in (record.get("observed") or {})
    diffs = record.get("diffs") or []
    # Where the target raised (the whole case, or one step "x.raises"), the oracle's value beside "<absent>"
    # only restates that: the exception says it, and results.json keeps the value.
    raised_at = {str(d.get("path"))[:-len("raises")] for d in diffs
                 if str(d.get("path")).endswith(".raises") and d.get("target") not in (None, "<absent>")}
    for d in diffs:
        if raised and d.get("path") == "raises":
            continue
        if d.get("target") == "<absent>" and (target_raised or str(d.get("path")).rsplit(".", 1)[0] + "." in raised_at):
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


@dataclass
class Evidence:
    """One line of the failing-rows table: every row (of one run) whose evidence is identical, once."""
    index: int
    run: Run
    outcome: str                 # the rows' shown outcome (raw, or BLOCKED)
    known: bool                  # the expectations file lists them (XFAIL)
    summary: str
    note: str                    # what the expectations file says, unless it only restates the summary
    cause: str
    function: str                # the case function of its rows (module.function), when they share one
    comparisons: list[Comparison]
    exception: tuple[str, str] | None
    repro: str                   # runs the first of its rows alone
    rows: list[tuple[str, bool]]  # (case id, whether this line holds the row's anchor)
    final: str = ""              # the rows' final outcome when it is neither the shown one nor XFAIL (XPASS)

    @property
    def anchor(self) -> str:
        return f"ev-{self.index}"

    @property
    def data(self) -> str:
        return f"{self.run.slug}:{self.outcome}:{'known' if self.known else 'new'}"

    @property
    def by_name(self) -> list[tuple[str, list[tuple[str, str, bool]]]]:
        """[(case name, [(parameter id, case id, holds the anchor)])]: a name is printed once for its rows."""
        out: list[tuple[str, list[tuple[str, str, bool]]]] = []
        for cid, here in self.rows:
            name, _, rest = cid.partition("[")
            param = rest[:-1] if rest.endswith("]") else ""
            if not rest or not out or out[-1][0] != name:
                out.append((name, []))
            out[-1][1].append((param if rest else cid, cid, here))
        return out


def _cause_text(r: dict[str, Any]) -> str:
    c = cause_of(r)
    if c is None:
        return ""
    if c["phase"] == "call":
        return "own call" if c["api"] == r["api"] else f"own call ({c['api']})"
    text = f"blocked by {c['api']} ({PHASES.get(c['phase'], c['phase'])})"
    return text + (f"; reached around it: {c['reached_around']}" if c.get("reached_around") else "")


UNTRIAGED = "an untriaged entry (TRIAGE:): give it a reason"


def _note(r: dict[str, Any]) -> str:
    """The expectations file's word on a row. An untriaged entry's reason only restates a summary, so it is
    named as such (the file and results.json keep its text), which lets rows with the same evidence share a line."""
    note = r.get("note") or ""
    exp = r.get("expectation") or {}
    reason = str(exp.get("reason") or "")
    if r["outcome"] == "XPASS" and exp:
        return (f"passes, but an expectations entry says it fails "
                f"({'untriaged' if reason.startswith('TRIAGE:') else reason}): remove or narrow the entry")
    if reason.startswith("TRIAGE:"):
        return UNTRIAGED if note == reason else note.replace(reason, "untriaged")
    return note


def _evidence_key(run: Run, r: dict[str, Any], comparisons: list[Comparison], exception) -> str:
    return json.dumps([run.slug, shown_outcome(r), r["outcome"], r.get("summary") or "", _note(r), _cause_text(r),
                       [c.__dict__ for c in comparisons], exception], sort_keys=True, default=str)


def _evidence(report: Report, cases, catalog: Catalog) -> list[Evidence]:
    """The failing rows, grouped by identical evidence (in matrix order of their first row)."""
    blocks: dict[str, Evidence] = {}
    anchored: set[str] = set()
    for case in cases:
        for run in report.runs:
            r = case.records.get(run.slug)
            if r is None or not listed(r):
                continue
            raised = "raises" in (r.get("oracle") or {}) or "raises" in (r.get("observed") or {})
            comparisons = _comparisons(r, raised)
            exception = (_exception(r.get("oracle")), _exception(r.get("observed"))) if raised else None
            key = _evidence_key(run, r, comparisons, exception)
            ev = blocks.get(key)
            if ev is None:
                shown = shown_outcome(r)
                ev = blocks[key] = Evidence(len(blocks) + 1, run, shown, r["outcome"] == "XFAIL",
                                            r.get("summary") or "", _note(r), _cause_text(r),
                                            catalog.key(case.id) or "", comparisons, exception,
                                            repro_command(run.header, case.id), [],
                                            r["outcome"] if r["outcome"] not in (shown, "XFAIL") else "")
            ev.rows.append((case.id, case.id not in anchored))
            anchored.add(case.id)
            if ev.function != (catalog.key(case.id) or ""):
                ev.function = ""
    return list(blocks.values())


GATE_PROBLEMS_SHOWN = 5   # the first screen lists this many gate problems; the rest open below them


@dataclass
class Gate:
    """The gate's verdict on one run, as the run's exit status gave it, and why."""
    passes: bool
    reasons: list[str]           # what makes it fail besides the problems: rows that fail it, an interrupted run
    problems: list[str]          # results.json run.gate_problems (a stale entry, a target that did not start, ...)

    rows_fail: bool = False     # some rows fail the gate: the failing-rows table lists them

    @property
    def sentence(self) -> str:
        if self.passes:
            return "every row is as the expectations file says"
        n = len(self.problems)
        return "; ".join(self.reasons + ([f"{n} problem{'s' if n > 1 else ''}"] if n else []))

    @property
    def shown(self) -> list[str]:
        return self.problems[:GATE_PROBLEMS_SHOWN]

    @property
    def more(self) -> list[str]:
        return self.problems[GATE_PROBLEMS_SHOWN:]


def _gate(run: Run) -> Gate:
    counts = run.counts
    failing = {o: n for o, n in counts.items() if OUTCOMES[o].is_failure and o != "XPASS"}
    reasons = []
    if failing:
        n = sum(failing.values())
        reasons.append(f"{n} row{'s' if n > 1 else ''} fail{'' if n > 1 else 's'} that the expectations file does "
                       "not list (" + ", ".join(f"{k} {v}" for k, v in failing.items()) + ")")
    if counts.get("XPASS"):
        n = counts["XPASS"]
        reasons.append(f"{n} row{'s' if n > 1 else ''} pass{'' if n > 1 else 'es'} although the expectations file "
                       f"says {'they fail' if n > 1 else 'it fails'}")
    if not run.cases:
        reasons.append("no case ran")
    if run.header.get("interrupted"):
        reasons.append("the run was interrupted: only part of the catalog ran")
    if run.header.get("partial"):
        reasons.append("from a partial results.jsonl: the run did not finish")
    problems = [str(g) for g in run.header.get("gate_problems") or []]
    return Gate(not (reasons or problems), reasons, problems, bool(failing or counts.get("XPASS")))


def _run_view(report: Report, run: Run, catalog: Catalog) -> dict[str, Any]:
    env = run.target_env or {}
    return {"run": run, "env": env, "counts": run.counts, "gate": _gate(run),
            "verdicts": {v.entry.key: v for v in report.verdicts(run)},
            "fixes": fixes_mod.fixes(report.causes(run), run.label, catalog.cases),
            "loading": loading_path.of(run.header), "loading_sentence": loading_path.sentence(run.header),
            "since": report.since.get(run.slug), "routes": _routes(run.header)}


def _routes(header: dict[str, Any]) -> dict[str, Any] | None:
    """run.routes as a table: per dtype the routes used to build inputs and read results, and the refused
    ones as numbers into one list of distinct reasons (most dtypes refuse the same routes, for the same reason)."""
    routes = header.get("routes")
    if not isinstance(routes, dict) or not routes:
        return None
    reasons: list[str] = []
    rows = []
    for dtype, r in routes.items():
        r = r if isinstance(r, dict) else {}
        refs = []
        for why in r.get("refused") or []:
            why = " ".join(str(why).split())
            if why not in reasons:
                reasons.append(why)
            refs.append(reasons.index(why) + 1)
        rows.append({"dtype": dtype, "build": ", ".join(map(str, r.get("build") or [])) or "none",
                     "read": ", ".join(map(str, r.get("read") or [])) or "none", "refused": refs})
    return {"rows": rows, "reasons": [_short(w) for w in reasons]}


def _script_hash(script: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()


def _css_colours() -> str:
    """One custom property per outcome, from the outcome table."""
    return "".join(f".{o}{{--c:{OUTCOMES[o].colour}}}" for o in ORDER)


@dataclass
class FailingRows:
    """The page's failing-rows section, rendered apart: it does not depend on the snippet verdicts, so a run
    renders it while its snippets run (reporting.write_reports), and the rest of the page after them."""
    html: Markup
    listed_rows: int
    catalog: Catalog            # read for it: the rest of the page uses the same (reading it costs ~10 ms)


def failing_rows(report: Report, catalog: Catalog | None = None) -> FailingRows:
    catalog = catalog if catalog is not None else Catalog()
    failing, known = report.listed_cases()
    evidence = _evidence(report, failing + known, catalog)
    shown = [o for o in ORDER if any(e.outcome == o for e in evidence)]
    listed = len(failing) + len(known)
    text = _env.get_template("failing_rows.html.j2").render(
        report=report, evidence=evidence, shown_outcomes=shown, gate_failing=len(failing), listed_rows=listed,
        untriaged=UNTRIAGED, untriaged_rows=sum(len(e.rows) for e in evidence if e.note == UNTRIAGED),
        anchor=anchor, hex_html=hex_html)
    return FailingRows(Markup(text), listed, catalog)


def render(report: Report, perf: dict[str, Any] | None = None, failing: FailingRows | None = None) -> str:
    """index.html; ``failing``: its failing-rows section, when the caller rendered it already (failing_rows)."""
    if failing is None:
        failing = failing_rows(report)
    catalog = failing.catalog
    runs = [_run_view(report, r, catalog) for r in report.runs]
    # Sources of the case functions a reader starts from: the first causes' examples.
    wanted = [f.example["id"] for rv in runs for f in rv["fixes"][:SOURCE_FIXES]]
    sources = {}
    for cid in wanted:
        src = catalog.source(cid)
        if src is not None:
            sources.setdefault(src.key, src)
    used = [o for o in ORDER if any(run.counts.get(o) for run in report.runs)]
    digests = sorted({run.header.get("catalog") for run in report.runs if run.header.get("catalog")})
    return _env.get_template("index.html.j2").render(
        report=report, runs=runs, oracles=report.oracles(), used_outcomes=used, failing=failing,
        order=ORDER, outcomes=OUTCOMES, priority=PRIORITY, matrix=report.matrix(), sections=SECTIONS,
        entry_points=report.all_entry_points(),
        sources=sorted(sources.values(), key=lambda s: s.key), catalog=catalog, run_digests=digests,
        anchor=anchor, hex_html=hex_html, origin_entries=lambda o: ", ".join(ep.title for ep in entry_points_of(o)),
        css_colours=_css_colours(),
        script=_SCRIPT, script_hash=_script_hash(_SCRIPT),
        perf={"summary": perf_report.summary(perf), "rows": perf_report.rows(perf), "legend": perf_report.LEGEND}
        if perf else None)
