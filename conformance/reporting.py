"""The end of a run: results.json and the reports written, and the terminal summary."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from . import guard, results as res, snippet_check
from .backends import identity
from .outcomes import OUTCOMES
from .registry import load_catalog
from .run_state import BASELINE, State


GATE_ROWS = 20                           # rows a red gate lists in the terminal


def write_reports(session: pytest.Session, state: State, problems: list[str], exitstatus: int) -> None:
    from . import render       # the renderers load here, not before the target process starts
    from .render import html
    run = res.run_header(
        target=state.backend.name, oracle=state.oracle_hello, target_env=state.target_hello,
        catalog=state.cache.key["catalog"], cases_in_catalog=len(load_catalog()),
        expectations=state.expectations.path, gate_problems=problems,
        loading_path=state.loading_path() and {**state.loading_path(), "oracle_torch_version": state.path_oracle_version},
        interrupted=exitstatus == pytest.ExitCode.INTERRUPTED or guard.interrupted(), not_run=state.not_run,
        processes={r["process"] for r in state.records if r.get("process")}, target_startup=state.target_startup,
        target_spec=identity.target_spec(state.backend, state.target_hello, state.target_sources))
    results = res.build(run, state.records)
    if state.perf:
        results["performance"] = state.perf
    if session.config.getoption("surface"):
        results["surface"] = trace_surface()
    cases: list = []
    failing: list = []
    # one report model for the snippet check and the renderers: its causes are worked out once
    report = render.from_results([results], baseline=session.config.stash.get(BASELINE, None))

    def while_snippets_run() -> None:
        # results.json's rows, the page's failing rows and the causes' weights do not depend on the snippet verdicts
        cases.append(res.encode_cases(results))
        failing.append(html.failing_rows(report))
        for run in report.runs:
            for c in report.causes(run):
                _ = c.weight        # kept until its rows change: the renderers after the verdicts ask again

    if not session.config.getoption("skip_snippet_check"):
        # the checklist shows only snippets measured to show their difference; PyTorch's answers are cached
        snippet_check.measure(results, state.cache, while_waiting=while_snippets_run,
                              target=state.take_snippet_target(), report=report)
    res.write(state.report_dir / "results.json", results, cases[0] if cases else None)
    render.write_all(report, state.report_dir, failing=failing[0] if failing else None)   # perf: carried in results


def plan_snippet_target(config: pytest.Config, state: State) -> None:
    """The snippet check's target side (snippet_check.TargetSide) is started before the cases end
    (start_snippet_target): its start-up (the exec command, its sandbox, importing the backend) then overlaps
    the last cases, not the reports. Its command comes from the same header fields the final one has; the
    check replaces it if they differ."""
    if not state.report_dir or config.getoption("skip_snippet_check") or state.target_hello is None:
        return
    state.snippet_header = {
        "target": state.backend.name, "target_env": state.target_hello,
        "target_spec": identity.target_spec(state.backend, state.target_hello, state.target_sources)}


def start_snippet_target(state: State) -> None:
    """Once, as the last cases run (the shared tail, or the last cases of one process), with the import
    surface's snippet when its rows have all run (they run long before; it imports transformers, 0.4 s, and ran
    after the cases). Started at the first case instead, its start-up and that import took CPU the cases needed
    on 2 cores (mindtorch_v2 master: the cases ended 0.2 s later, the run 0.2 s later). A run cut short before
    then starts none."""
    header, state.snippet_header = state.snippet_header, None
    if header is None:
        return
    from .render import import_surface
    state.snippet_target = side = snippet_check.start_early(header)
    code = import_surface.snippet_once_judged(state.records, header, load_catalog()) if side is not None else None
    if code is not None:       # its rows ran long before: it runs while the last cases do, not after them
        side.send({snippet_check.digest(code): code})


def trace_surface() -> dict[str, Any] | None:
    """--surface: the torch API inventory safetensors uses, traced in a process of its own (real torch);
    results.json carries it and the surface.json renderer writes it."""
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="conformance-surface-") as tmp:
        out = Path(tmp) / "surface.json"
        subprocess.run([sys.executable, "-m", "conformance.surface", "--out", str(out)], check=False, timeout=600)
        return json.loads(out.read_text()) if out.is_file() else None


def describe_hello(hello: dict[str, Any]) -> str:
    return f"import torch -> {hello['module']} {hello['version']} from {hello['file']} ({hello['how']})"


def rewrite_hint(state: State) -> str:
    """The exact command that takes this run's results into its expectations file."""
    exp = state.expectations.path if state.expectations.path != "<none>" else (
        state.backend.expectations_file() or f"backends/{state.backend.name}/expectations.txt")
    results = state.report_dir / "results.json" if state.report_dir else "DIR/results.json (run with --report-dir DIR)"
    return (f"to rewrite the expectations from this run: python -m conformance expectations --results {results} "
            f"--file {exp}  (it lists every change; add --accept-new to take in new failures)")


def gate_problems(session: pytest.Session, state: State, exitstatus: int) -> None:
    """What fails the gate besides case outcomes (stale entries, no case run, a target that could not
    start), added to ``state.gate_problems``; the session's exit status follows."""
    problems = state.gate_problems
    catalog = load_catalog()
    ran = {r["id"]: (r.get("cause") or {}).get("api") for r in state.records}
    # Cause entries are stale when no row of the run is theirs, which only a run of every case can tell.
    stale = state.expectations.unmatched(catalog, ran if ran.keys() >= set(catalog) else None)
    problems += res.summarised(stale, GATE_ROWS, lambda e: f"{e.where}: entry {e.pattern!r} " + (
                               f"decides no row of this run (no other row's cause is {e.cause}); remove it"
                               if e.cause is not None else "matches no case in the catalog; remove it or fix the id"),
                               f"... and {{n}} more entries of {state.expectations.path} that match no case "
                               "(`python -m conformance expectations` drops them)")
    opt = session.config.option
    if state.start_error:
        problems.append(f"the target could not start, so no case ran: {state.start_error}")
        session.exitstatus = pytest.ExitCode.USAGE_ERROR
    elif not state.records and exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and (
            state.deselected or getattr(opt, "keyword", "") or getattr(opt, "markexpr", "")):
        problems.append(f"-k {getattr(opt, 'keyword', '')!r} selected none of the {len(load_catalog())} cases; "
                        "`python -m conformance list` shows the case ids")
        session.exitstatus = pytest.ExitCode.USAGE_ERROR
    elif not state.records and exitstatus != pytest.ExitCode.NO_TESTS_COLLECTED \
            and not session.config.option.collectonly:
        problems.append("no conformance case ran")
    if problems and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def finish(session: pytest.Session, state: State, exitstatus: int) -> None:
    """results.jsonl closed, then results.json and the reports written; a write that fails says which file."""
    problems = state.gate_problems
    if state.partial:
        try:
            state.partial.close()
            replaced = state.partial.restore(state.records)
            if replaced:
                problems.append(replaced)
        except OSError as e:
            state.write_error = state.write_error or f"cannot write {state.partial.name}: {e.strerror or e}"
    if state.write_error:
        problems.append(state.write_error)
    if state.report_dir:
        try:
            write_reports(session, state, problems, exitstatus)
            if not state.write_error:
                res.mark_complete(state.report_dir)
        except OSError as e:   # a full disk: say which file; what was written before stays
            state.write_error = (f"cannot write {e.filename or state.report_dir}: {e.strerror or e}; "
                                 f"{state.report_dir / 'results.jsonl'} keeps the records written before")
        if state.write_error:
            session.exitstatus = pytest.ExitCode.USAGE_ERROR


def summary(terminalreporter, state: State) -> None:
    """The terminal's torch-conformance section: the target, the counts, the gate's problems, the rows
    that changed against the expectations and the command that takes them in."""
    tr = terminalreporter
    tr.section("torch-conformance")
    if state.write_error:
        tr.write_line(f"ERROR: {state.write_error}", red=True)
    if state.start_error:
        tr.write_line(f"ERROR: {state.start_error}", red=True)
        return
    c = res.counts(state.records)
    if state.target_hello:
        tr.write_line(f"target {state.backend.name}: " + describe_hello(state.target_hello))
    if state.backend.sys_path:
        tr.write_line(f"target sources: {os.pathsep.join(state.backend.sys_path)}")
    tr.write_line(f"target {state.backend.name}: {len(state.records)} cases: "
                  + ", ".join(f"{n} {o}" for o, n in c.items()))
    for w in state.cache.warnings:
        tr.write_line(f"WARNING: {w}", yellow=True)
    for p in state.gate_problems:
        tr.write_line(f"GATE: {p}", red=True)
    if state.report_dir:
        tr.write_line(f"report: {state.report_dir / 'index.html'} (results: {state.report_dir / 'results.json'})")
        tr.write_line(f"checklist: {state.report_dir / 'checklist.md'} (junit: {state.report_dir / 'junit.xml'})")
    bad = [o for o in c if OUTCOMES[o].is_failure]
    if bad:
        tr.write_line("unexpected: " + ", ".join(f"{c[o]} {o}" for o in bad) + "; rows that changed against "
                      "the expectations:", red=True)
        changed = sorted((r for r in state.records if OUTCOMES[r["outcome"]].is_failure), key=lambda r: r["id"])
        for r in changed[:GATE_ROWS]:
            tr.write_line(f"  {r['id']}: {r['outcome']}" + (f" ({r['note']})" if r.get("note") else
                                                              f": {r.get('summary', '')}")[:300])
        if len(changed) > GATE_ROWS:
            tr.write_line(f"  ... and {len(changed) - GATE_ROWS} more (all of them in the report)")
    if bad or state.gate_problems:
        tr.write_line(rewrite_hint(state))
