"""checklist.md: what a backend author fixes next, ranked by root cause.

Per run: the loading path safetensors takes, each entry point's verdict (works, not tested, or
blocked by its causes), then one item per cause in the order to fix them (silent wrong data, crashes
and hangs, errors and missing APIs; within each, the most rows unblocked first), each with a snippet.
Every backend-provided string is Markdown-escaped; links point at rows of index.html.
"""
from __future__ import annotations

import re
from urllib.parse import quote

from . import fixes as fixes_mod, import_surface, loading_path
from .causes import SECTIONS, Verdict, kit_only, unisolated
from .fixes import Fix
from .model import Report, Run, anchor
from .sources import snippet_cases

SINCE_ROWS = 30             # rows per kind of change listed under "Since baseline"
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


def _outcome_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {o}" for o, n in counts.items())


def _verdict_line(v: Verdict) -> str:
    title = md_code(v.entry.title)
    judged = v.judged_by
    basis = (f"{plural(len(judged), 'end-to-end row')}" if v.e2e else
             f"{plural(len(judged), 'per-API row')} (no end-to-end case)")
    off = f"; {plural(len(v.off_path), 'row')} on a loading path this backend does not take" if v.off_path else ""
    if v.state == "works":
        line = f"- [x] {title}: **works**: its {basis} pass{off}."
    elif v.state == "not tested":
        line = f"- [ ] {title}: **not tested** ({md(v.why)}): all its {basis} were skipped{off}."
    elif v.state == "no cases":
        line = f"- [ ] {title}: no case ran{off}."
    else:
        failing = sum(n for _, n in v.causes)
        causes = ", ".join(f"{md_code(api)} ({n})" for api, n in v.causes)
        line = f"- [ ] {title}: **blocked by** {causes}: {failing} of its {basis} fail{off}."
    leaning = [(api, bad, n) for api, bad, n in v.leaning if bad]
    if leaning:
        line += (" Leans on " + ", ".join(f"{md_code(api)} ({bad} of {n} failing)" for api, bad, n in leaning[:8])
                 + (f" and {len(leaning) - 8} more" if len(leaning) > 8 else "") + ".")
    return line


def _fix_section(i: int, f: Fix) -> list[str]:
    c = f.cause
    eps = ", ".join(md_code(ep.title) for ep in c.entry_points()) or "none"
    own = f"{len(c.own)} failing in its own call" if c.own else "none of its own"
    w = c.weight
    out = [f"##### {i}. {md_code(c.api)}: {md(c.title)}", "",
           f"- **Weight:** {md(w.text())}"
           + (f": {', '.join(md_code(t) for t in w.uses.values())}" if w.uses and not w.fresh and not w.guard else "")
           + (f"; {md(w.note)}" if w.note else "") + ".",
           f"- **PyTorch:** {md(f.torch_does)}",
           f"- **{md(f.target)}:** {md(f.target_does)}",
           # only_cause (compare.ONLY_CAUSE): rows a fix of this API alone makes pass (older records: its own rows)
           f"- **A fix unblocks** up to {plural(sum(1 for r in c.rows if (r.get('cause') or {}).get('only_cause', r in c.own)), 'row')}"
           f", in which it is the only fault the kit saw (a row it stops early may hold another behind it; "
           f"{len(c.rows)} name it: {own}, {len(c.blocked)} blocked by it) in {eps}"
           + (f"; {len(c.off_path)} more on a loading path this backend does not take" if c.off_path else "") + ".",
           f"- **Example:** {case_link(f.example['id'])}; alone: {md_code(f.repro)}"]
    out += (_surface_lines(c.surface) if c.surface is not None else []) + [""]
    if f.snippet is not None:
        shows = ", ".join(f.snippet.shows)
        run = (f" Save it as `snippet.py` and run it under the backend with {md_code(f.run_snippet)}"
               if f.run_snippet else " Run it under the backend")
        measured = " (measured when this report was made)" if f.checked else \
            " (not run when this report was made)"
        out += [f"{run.strip()}; the `{shows}` line{'s differ' if len(f.snippet.shows) > 1 else ' differs'} "
                f"from PyTorch's (`python snippet.py`){measured}:", "", "```python",
                f.snippet.code.rstrip("\n").replace("```", "` ` `"), "```", ""]
    elif f.dropped:
        out += [f"No snippet: what was generated for it did not show the difference when the run measured it "
                f"({md(f.dropped)}). Reproduce it with the example's command: {md_code(f.repro)}", ""]
    return out


def _surface_lines(s: import_surface.Surface) -> list[str]:
    """The import surface item's names: what is absent, where transformers touches it and how; optional apart."""
    out = []
    if s.torch_absent:
        out.append(f"- **Why transformers treats torch as absent:** {md(s.torch_absent)}.")
    if s.needs:
        out.append(f"- **Needed and absent** ({plural(len(s.needs), 'name')}, each its own row):")
        for n in sorted(s.needs, key=lambda n: (n.waits_on or n.name, n.name)):
            inside = f", inside the missing {md_code(n.waits_on)}" if n.waits_on else ""
            out.append(f"  - {md_code(n.name)}: {md(import_surface.HOW_WORDS.get(n.how, n.how))} at {md_code(n.where)}"
                       f"{inside} ({case_link(n.row)})")
    if s.optional:
        out.append("- **Optional, absent** (read only behind hasattr/getattr with a default: never a blocker): "
                   + ", ".join(f"{md_code(n.name)} at {md_code(n.where)}" for n in s.optional) + ".")
    return out


def _run_section(report: Report, run: Run) -> list[str]:
    env = run.target_env or {}
    out = [f"## {md(run.label)} ({md(run.versions)})", ""]
    if env:
        out += [f"`import torch` gave {md_code(env.get('module'))} from {md_code(env.get('file'))} "
                f"({md(env.get('how'))}).", ""]
    out += [f"**Loading path:** {md(loading_path.sentence(run.header))}", "",
            f"Outcomes: {_outcome_counts(run.counts) or 'no cases'} (of {len(run.cases)} cases).", ""]
    since = report.since.get(run.slug)
    if since is not None:
        out += ["### Since baseline", "", f"{md(since.summary())}.", ""]
        for title, rows in (("Fixed", since.fixed), ("Newly failing", since.newly_failing),
                            ("Cause changed", since.cause_changed)):
            if rows:
                out.append(f"- {title}: " + ", ".join(f"{case_link(ch.id)} ({md(ch.old)} → {md(ch.new)})"
                                                      for ch in rows[:SINCE_ROWS])
                           + (f" and {len(rows) - SINCE_ROWS} more" if len(rows) > SINCE_ROWS else ""))
        out.append("")
    out += ["### Entry points", ""]
    verdicts = [v for v in report.verdicts(run) if v.state != "no cases" or v.entry.known]
    out += [_verdict_line(v) for v in verdicts] + [""]
    fixes = fixes_mod.fixes(report.causes(run), run.label, snippet_cases(), run.header)
    if fixes:
        out += [f"### What to fix first ({plural(len(fixes), 'cause')})", "",
                "Ranked by what users lose: silent wrong values, bytes or dtype first; then what makes an entry "
                "point or a workload fail outright; then aliasing and copies; then strides and metadata no entry "
                "point's result depends on; last, optional dtypes and attributes safetensors reads behind a guard. "
                "Within each, the cause that unblocks the most entry points and workloads first (a broken "
                "fresh-process `import safetensors.torch` counts as all of them), then the most rows. Rows that "
                "show the same wrong result are one item, listing the APIs it surfaces in.", ""]
        n = 0
        for section, title in SECTIONS.items():
            mine = [f for f in fixes if f.cause.section == section]
            if not mine:
                continue
            out += [f"#### {md(title)}", ""]
            for f in mine:
                n += 1
                out += _fix_section(n, f)
    kit = kit_only(run.cases.values())
    if kit:
        out += ["#### Not items: rows that only check the kit's own error paths", "",
                f"{plural(len(kit), 'row')} failed while the kit was still building the bad input an entry point "
                "must refuse, so the entry point's error path never ran: "
                + ", ".join(f"{case_link(r['id'])} (blocked by {md_code(r['cause']['api'])})" for r in kit) + ".", ""]
    loose = unisolated(run.cases.values())
    if loose:
        suspects: dict[str, list[str]] = {}
        for r in loose:
            suspects.setdefault(r["cause"]["api"], []).append(r["id"])
        out += ["#### Not isolated: rows where no recorded torch call was seen to diverge", "",
                f"{plural(len(loose), 'failing row')}: every torch call the recorder saw in them returned what PyTorch's "
                "did given the same inputs, so the kit names a suspect, not a fault. Reproduce one with its repro "
                "command in index.html, and look inside it:", ""]
        out += [f"- suspect {md_code(api)}: " + ", ".join(case_link(i) for i in ids[:8])
                + (f" and {len(ids) - 8} more" if len(ids) > 8 else "")
                for api, ids in sorted(suspects.items(), key=lambda kv: (-len(kv[1]), kv[0]))] + [""]
    return out


def render(report: Report) -> str:
    targets = ", ".join(md(r.label) for r in report.runs) or "no runs"
    out = [f"# Backend checklist: {targets}", "",
           "What keeps safetensors from working on each backend. First each entry point's verdict from its own "
           "end-to-end cases, then the root causes ranked by what to fix first, each with what PyTorch does, what "
           "the backend does, a standalone snippet and the rows a fix unblocks. Links go to the rows in "
           "[index.html](index.html); a known failure (XFAIL) still counts as failing.", ""]
    if report.date:
        out += [f"Generated {md(report.date)}.", ""]
    for run in report.runs:
        out += _run_section(report, run)
    return "\n".join(out).rstrip("\n") + "\n"
