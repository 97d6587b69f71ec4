"""pytest glue, hooks only: collect catalog modules as test files, run each case in the target, judge, record.

Each pytest process (the controller, and each xdist worker) keeps one target worker process; the
oracle is recorded up front by the controller into the oracle cache, which workers only read.
The controller gathers every case's record (sent along as ``user_properties``) and writes
results.json and the reports (index.html, checklist.md, junit.xml) at the end, also when the run is
interrupted. What the hooks do lives beside them: the run's state (run_state.py), the checks and
preparations before the first case (run_setup.py), the cases as items (items.py), which process runs
which case (lanes.py), the records gathered (gathering.py), and the end of the run (reporting.py).
"""
from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest

from . import backends, expectations as expect, guard, options, reaper, results as res
from .backends import identity
from .backends.base import from_caller
from .cachedir import default_root
from .client import _LIVE, _LIVE_LOCK, WorkerStartError
from .oracle_cache import CacheError, OracleCache, cache_key, ensure_recorded
from .registry import catalog_digest, catalog_dir, catalog_modules, load_catalog
from .gathering import RecordCollector, complete
from .items import CaseItem, CatalogFile
from .lanes import movable, open_slow_lane, reorder, slow_lane_share
from .reporting import describe_hello, finish, gate_problems, plan_snippet_target, summary
from .run_setup import check_settings, make_sandbox, names_the_catalog, prepare_workloads, record_oracle_on_path
from .run_state import BASELINE, STATE, State, distributes, is_controller

NEEDS_TARGET = ("conformance cases need a target: pass --target torch|mindtorch_v2|pyborch|module:NAME "
                "(or set CONFORMANCE_TARGET)")


# == options ========================================================================================

def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_to_pytest(parser.getgroup("conformance", "torch-conformance"))   # declared once, for the CLI too


# == configure, start the oracle and the target ====================================================

def pytest_configure(config: pytest.Config) -> None:
    target = config.getoption("target")
    if not target:
        if names_the_catalog(config):
            raise pytest.UsageError(NEEDS_TARGET)
        return
    try:
        # relative folders mean the user's directory (tox runs commands from its own root)
        backend = backends.resolve(target, [from_caller(p) for p in config.getoption("backend_path")])
        backend.locate()
    except backends.BackendError as e:
        raise pytest.UsageError(str(e)) from None
    path = config.getoption("expectations")
    try:
        exp = expect.Expectations.load(path) if path else expect.Expectations.empty()
    except expect.ExpectationsError as e:
        raise pytest.UsageError(f"malformed expectations file: {e}") from None
    perf = None
    if config.getoption("perf") and is_controller(config):
        from .render import perf as perf_report
        try:
            perf = perf_report.load(config.getoption("perf"))
        except perf_report.PerfError as e:
            raise pytest.UsageError(str(e)) from None
    if config.getoption("baseline") and is_controller(config):
        from .render import progress
        try:
            config.stash[BASELINE] = progress.load(config.getoption("baseline"))
        except res.ResultsError as e:
            raise pytest.UsageError(f"--baseline: {e}") from None
    order = config.getoption("case_order")
    if order not in ("catalog", "reverse") and not (order.startswith("shuffle:") and len(order) > len("shuffle:")):
        raise pytest.UsageError(f"--case-order {order!r}: use catalog, reverse or shuffle:SEED")
    root = Path(config.getoption("oracle_cache") or default_root())
    report_dir = config.getoption("report_dir")
    lock = check_settings(config, root, report_dir)
    state = State(backend, exp, OracleCache(root, cache_key(catalog_digest())),
                  config.getoption("case_timeout"), Path(report_dir) if report_dir else None, perf=perf)
    config.stash[STATE] = state
    state.lock = lock
    make_sandbox(config, state, root)
    if is_controller(config):
        state.target_sources = identity.describe_sources(backend.package, backend.sys_path)
        config.pluginmanager.register(RecordCollector(state), "conformance-records")
        guard.end_like_ctrl_c()
    else:
        state.process_label = config.workerinput["workerid"]
    # What a target starts dies with its worker; an xdist controller also has xdist's workers as children.
    reaper.become_subreaper(sweep_all=not distributes(config))


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is not None and is_controller(config):
        guard.restore_signals()


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    state = session.config.stash.get(STATE, None)
    if state is None:
        return
    if _spawns_target(session.config, state) and not session.config.getoption("rebuild_oracle") and _sandbox_ready(state):
        state.target().spawn()     # it imports the backend while the oracle's records load and pytest collects
    try:
        _load_oracle(session, state)
    except BaseException:
        if state.client is not None:      # pytest.exit here skips sessionfinish, which would close it
            state.client.close()
        raise
    if is_controller(session.config) and state.sandbox is not None and state.sandbox.hides_torch and not state.stopped:
        try:
            prepare_workloads()
        except KeyboardInterrupt as e:
            state.stopped = f"{e or 'interrupted'} while the tiny models and recordings were being made"
    if _spawns_target(session.config, state):
        state.target().spawn()     # (a no-op when it started above)


def _spawns_target(config: pytest.Config, state: State) -> bool:
    return not distributes(config) and not config.option.collectonly and not state.stopped


def _sandbox_ready(state: State) -> bool:
    """Whether every folder the target's sandbox binds exists already (a warm cache), so the target can start
    before the oracle's records load; on a first run some are made by then (prepare_workloads)."""
    sb = state.sandbox
    return sb is None or all(os.path.isdir(d) for d in [*sb.read_only, *sb.replaced.values()])


def _load_oracle(session: pytest.Session, state: State) -> None:
    try:
        if is_controller(session.config):
            if session.config.getoption("rebuild_oracle"):
                state.cache.clear()
            try:
                state.oracle, state.oracle_hello = ensure_recorded(state.cache, list(load_catalog()), state.timeout)
            except KeyboardInterrupt as e:    # a cold cache: what was recorded is kept; reports say nothing ran
                state.stopped = f"{e or 'interrupted'} while the oracle's observations were being recorded"
            if state.report_dir:
                state.report_dir.mkdir(parents=True, exist_ok=True)
                res.mark_incomplete(state.report_dir)     # the reports there are not this run's until the end
                state.partial = res.PartialLog(state.report_dir / "results.jsonl")
        else:
            records, state.oracle_hello = state.cache.load()
            state.oracle = {**state.cache.load_failures(), **records}
    except CacheError as e:
        pytest.exit(str(e), returncode=pytest.ExitCode.USAGE_ERROR)
    except OSError as e:       # a read-only or full cache, an unwritable report folder
        pytest.exit(f"cannot write {e.filename or 'a file'}: {e.strerror or e}; "
                    + ("point --oracle-cache at a writable folder" if str(state.cache.dir) in str(e.filename or "")
                       else "check that folder (space, permissions)"),
                    returncode=pytest.ExitCode.USAGE_ERROR)
    except WorkerStartError as e:       # an oracle that cannot start: nothing to compare against
        pytest.exit(f"the oracle (real PyTorch) could not start, so no case can be judged. {e}\n"
                    "Check that `python -c 'import torch'` works here (pip install torch==2.13.0 for the CPU "
                    "build), or point --oracle-cache at records made elsewhere.",
                    returncode=pytest.ExitCode.USAGE_ERROR)


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """Interrupted before the cases could start: the session ends as Ctrl-C ends it, every case not run."""
    state = session.config.stash.get(STATE, None)
    if state is not None and state.stopped and is_controller(session.config):
        state.gate_problems.append(f"{state.stopped}: no case ran (what was recorded is kept for the next run)")
        raise session.Interrupted(state.stopped)


# == collection and scheduling =====================================================================


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    state = config.stash.get(STATE, None)
    if state is None:
        return
    reorder(config.getoption("case_order"), items)
    if state.client is None:
        return
    try:
        state.target_hello = {**state.client.wait_started(), "sandbox": state.sandbox_note}
        state.target_startup = state.client.startup_seconds
        hint = state.backend.expectations_hint(state.expectations.path, state.target_hello.get("how") or "")
        if hint:
            state.gate_problems.append(hint)
        if state.target_hello.get("uses_real_torch") and not state.backend.uses_real_torch:
            # what the worker says about itself is held against the adapter's declaration, never taken
            raise WorkerStartError(f"the target process says it runs real PyTorch, but {state.backend.name!r} is "
                                   "declared not built on it (a module target built on torch needs --target-uses-torch)")
    except WorkerStartError as e:
        # Nothing can run: no items (so no xdist worker crash and restart loop); the controller ends
        # the session with this message and exit code 4.
        state.start_error = str(e)
        config.hook.pytest_deselected(items=list(items))
        items.clear()
        return
    record_oracle_on_path(state)
    if is_controller(config) and slow_lane_share(state, items):
        # A second process pays its start: the costly cases go last, as a tail both processes take from
        # (conformance/lanes.py), costliest first; the second one's have run by the time they are judged.
        tail = movable(items)
        state.lane_cases = set(tail)
        item_of = {it.case.id: it for it in items if isinstance(it, CaseItem) and it.case.id in state.lane_cases}
        items[:] = [it for it in items if not (isinstance(it, CaseItem) and it.case.id in state.lane_cases)] \
            + [item_of[cid] for cid in tail]


def pytest_collection_finish(session: pytest.Session) -> None:
    state = session.config.stash.get(STATE, None)
    if state is None:
        return
    if not is_controller(session.config):
        session.config.workeroutput["conformance_target"] = state.target_hello
        session.config.workeroutput["conformance_start_error"] = state.start_error
    elif state.client is not None and state.start_error is None:
        open_slow_lane(state, session.items)
        plan_snippet_target(session.config, state)
        state.main_order = [it.case.id for it in session.items
                            if isinstance(it, CaseItem) and it.case.id not in state.lane_cases]
        state.main_index = {cid: i for i, cid in enumerate(state.main_order)}
    # The oracle records and the items live until the end: keep the cyclic GC from walking them again
    # at every full collection (~0.1 s each at this size). The records that come (decoded JSON, no cycles)
    # live until the end too: a young generation of 100000 objects, not 700, walks each of them fewer times
    # (mindtorch_v2 master: 342 collections, 135 ms -> 42 collections, 83 ms).
    gc.freeze()
    gc.set_threshold(100_000, 20, 1000)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """Each xdist worker's first case is one of the catalog's slow ones (``conformance/scheduling.py``)."""
    if getattr(config.option, "dist", None) != "load" or config.stash.get(STATE, None) is None:
        return None
    from .scheduling import slow_cases_apart

    return slow_cases_apart(config, log, {c.id for c in load_catalog().values() if c.slow})


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """xdist controller: the target's hello comes from the workers, which started it."""
    state = node.config.stash.get(STATE, None)
    out = getattr(node, "workeroutput", {})
    if state is not None:
        state.target_hello = state.target_hello or out.get("conformance_target")
        state.start_error = state.start_error or out.get("conformance_start_error")


# == the catalog as pytest items, and running a case ===============================================

def pytest_report_header(config: pytest.Config) -> list[str]:
    state = config.stash.get(STATE, None)
    if state is None:
        return []
    lines = [f"conformance target: {state.backend.name}; oracle cache: {state.cache.dir}"]
    note = state.sandbox_note
    lines.append("  target sandbox: " + (f"{note['engine']}, real torch {'hidden' if note['hides_torch'] else 'kept (the target is built on it)'}"
                                         if note.get("engine") else f"NONE ({note.get('why')}): real torch stays findable by the target"))
    if state.backend.sys_path:
        lines.append(f"  target sources: {os.pathsep.join(state.backend.sys_path)}")
    if state.oracle_hello:
        lines.append("  oracle: " + describe_hello(state.oracle_hello))
    return lines + [f"WARNING: {w}" for w in state.cache.warnings]


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    if file_path.suffix == ".py" and file_path.parent == catalog_dir() and file_path.stem in catalog_modules():
        if parent.config.stash.get(STATE, None) is None:
            raise pytest.UsageError(NEEDS_TARGET)
        return CatalogFile.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    state = item.config.stash.get(STATE, None)
    if state is None:
        return None
    state.next_item = nextitem
    if not isinstance(item, CaseItem) or not _call_phase_alone(item.config):
        return None
    # A case has no fixtures and nothing to set up or tear down: its call phase alone, reported as pytest
    # reports it (skip, xfail, -x and Ctrl-C as in pytest's own protocol), without the setup and teardown
    # phases and their reports, hooks and PYTEST_CURRENT_TEST updates (in one process or an xdist worker;
    # 1495 empty items: 0.26 -> 0.15 s of pytest, and the runner is what the first target process waits on).
    from _pytest.runner import call_and_report

    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    call_and_report(item, "call", log=True)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


# Plugins whose setup and teardown hooks hold nothing a case's call phase needs (pytest's own runner, skip and
# xfail marks, output capture, thread exceptions). Any other (pytest's logging plugin keeps per-phase state that
# its call hook reads; `python -m pytest` without the kit's command line loads it) keeps pytest's protocol.
_SETUP_NOT_NEEDED = frozenset({"runner", "skipping", "capturemanager", "threadexception"})
_PHASES = pytest.StashKey[bool]()


def _call_phase_alone(config: pytest.Config) -> bool:
    if _PHASES not in config.stash:
        names = {i.plugin_name for h in (config.hook.pytest_runtest_setup, config.hook.pytest_runtest_teardown)
                 for i in h.get_hookimpls()}
        config.stash[_PHASES] = not distributes(config) and names <= _SETUP_NOT_NEEDED
    return config.stash[_PHASES]


# == the end: the gate, results.json and the reports ===============================================

def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash.get(STATE, None)
    if state is None:
        return
    for client in (state.client, state.slow_lane):
        if client:
            client.close()
    with _LIVE_LOCK:
        reaper.sweep(set(_LIVE))       # anything a target left behind, whatever way its worker ended
    if not is_controller(session.config):
        return
    guard.hold_signals()          # a second Ctrl-C from now on waits for the reports
    if guard.interrupted() and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        exitstatus = session.exitstatus = pytest.ExitCode.INTERRUPTED
    ended_early = exitstatus == pytest.ExitCode.INTERRUPTED or bool(session.shouldfail or session.shouldstop)
    complete(state, session, ended_early)
    gate_problems(session, state, exitstatus)
    try:
        finish(session, state, exitstatus)
    finally:
        state.close_snippet_target()      # not handed to the snippet check (no reports, a failed write)


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or not is_controller(config):
        return
    summary(terminalreporter, state)
