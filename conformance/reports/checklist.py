"""checklist.md: what a backend author fixes next, per safetensors entry point.

Entry points come in the order that unblocks the most: broken ones with the fewest failing APIs
first (table order breaks ties, so `load` and `safe_open(pt)` lead), then the ones that work, then
origins the entry-point table does not know.
Every backend-provided string is Markdown-escaped; links point at rows of index.html.
"""
from __future__ import annotations

import re
from collections import Counter
from urllib.parse import quote

from .entry_points import SAFE_OPEN, rank
from .model import ApiStatus, EntryStatus, Report, Run, anchor

EVIDENCE_CHARS = 220
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>&|~])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _one_line(text: object) -> str:
    s = " ".join(str(text).split())
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", s)


def md(text: object) -> str:
    """Plain text in Markdown: one line, no markup, no HTML (`<script>` shows as text)."""
    return _MD_SPECIAL.sub(r"\\\1", _one_line(text))


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def md_code(text: object) -> str:
    """A code span that survives any backticks in ``text`` (its content is never interpreted)."""
    s = _one_line(text)
    fence = "`" * (max((len(m) for m in re.findall(r"`+", s)), default=0) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or not s.strip() else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def case_link(case_id: str) -> str:
    return f"[{md(case_id)}](index.html#{quote(anchor(case_id), safe='')})"


def _evidence(a: ApiStatus) -> str:
    """The failing case whose summary most failing cases share: the likeliest single cause."""
    same = Counter(r["summary"] for r in a.failing)
    r = min(a.failing, key=lambda r: (-same[r["summary"]], r["id"]))
    summary = _one_line(r["summary"])
    if len(summary) > EVIDENCE_CHARS:
        summary = summary[:EVIDENCE_CHARS] + "…"
    share = f" (and {same[r['summary']] - 1} more alike)" if same[r["summary"]] > 1 else ""
    return f"{case_link(r['id'])}{share} {r['outcome']}: {md(summary)}"


def _outcome_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {o}" for o, n in counts.items())


def order(statuses: list[EntryStatus]) -> list[EntryStatus]:
    present = [s for s in statuses if s.apis]
    # Known entry points first: an origin the table lacks is shown, but not ahead of load/safe_open/save.
    return sorted(present, key=lambda s: (not s.entry.known, s.works, len(s.failing), rank(s.entry)))


def _safe_open_line(statuses: list[EntryStatus]) -> str:
    st = next((s for s in statuses if s.entry.key == SAFE_OPEN), None)
    what = f'{md_code(st.entry.title if st else SAFE_OPEN)}, and so transformers\' `from_pretrained`,'
    if st is None or not st.apis:
        return f"**{what} was not tested in this run** (no case of its origins ran)."
    if st.works:
        return f"**{what} works on this backend**: all {st.cases} cases of its {len(st.apis)} APIs behave as PyTorch's."
    apis = ", ".join(md_code(a.api) for a in st.failing)
    return f"**{what} is blocked by {len(st.failing)} of its {len(st.apis)} APIs:** {apis}."


def _run_section(report: Report, run: Run) -> list[str]:
    statuses = report.entry_points(run)
    ordered = order(statuses)
    env = run.target_env or {}
    out = [f"## {md(run.label)} ({md(run.versions)})", ""]
    if env:
        out += [f"`import torch` gave {md_code(env.get('module'))} from {md_code(env.get('file'))} "
                f"({md(env.get('how'))}).", ""]
    out += [_safe_open_line(statuses), "",
            f"Outcomes: {_outcome_counts(run.counts) or 'no cases'} (of {len(run.cases)} cases).", ""]
    if ordered:
        out += ["| # | entry point | APIs failing | cases failing |", "|---|---|---|---|"]
        for i, st in enumerate(ordered, 1):
            out.append(f"| {i} | {md_code(st.entry.title)} | {len(st.failing)} of {len(st.apis)} "
                       f"| {st.failing_cases} of {st.cases} |")
        out.append("")
    for i, st in enumerate(ordered, 1):
        verdict = "works" if st.works else f"{len(st.failing)} of {len(st.apis)} APIs fail"
        out += [f"### {i}. {md_code(st.entry.title)}: {verdict}", ""]
        origins = ", ".join(md_code(o) for o in st.entry.origins)
        if not st.entry.known:
            out += [f"Case origin {origins} is not in the entry-point table "
                    "(conformance/reports/entry\\_points.py).", ""]
        else:
            out += [f"Used by {md(st.entry.used_by)}. Case origins: {origins}.", ""]
        if st.failing:
            out += ["Still failing:", ""]
            for a in st.failing:
                out.append(f"- [ ] {md_code(a.api)}: {len(a.failing)} of {plural(len(a.records), 'case')} fail "
                           f"({_outcome_counts(a.counts)}). {_evidence(a)}")
            out.append("")
        if st.passing:
            out += ["Passing:", ""]
            out += [f"- [x] {md_code(a.api)} ({plural(len(a.records), 'case')})" for a in st.passing]
            out.append("")
    missing = [s.entry for s in statuses if not s.apis]
    if missing:
        out += ["Not tested in this run: " + ", ".join(md_code(ep.title) for ep in missing) + ".", ""]
    return out


def render(report: Report) -> str:
    targets = ", ".join(md(r.label) for r in report.runs) or "no runs"
    out = [f"# Backend checklist: {targets}", "",
           "What still keeps safetensors from working on each backend, per entry point. Entry points "
           "that are closest to working (fewest failing APIs) come first. Each failing API has one line "
           "of evidence linking to its case in [index.html](index.html); `python -m conformance.repro "
           "--target NAME 'CASE ID'` runs that case alone. A known failure (XFAIL) still counts as failing.", ""]
    if report.date:
        out += [f"Generated {md(report.date)}.", ""]
    for run in report.runs:
        out += _run_section(report, run)
    return "\n".join(out).rstrip("\n") + "\n"
