"""pytest glue: collect catalog modules as test files, run each case in the target, judge, record.

Each pytest process (the controller, and each xdist worker) keeps one target worker process; the
oracle is recorded up front by the controller into the oracle cache, which workers only read.
The controller gathers every case's record (sent along as ``user_properties``) and writes
results.json and the reports (index.html, checklist.md, junit.xml) at the end, also when the run is
interrupted.
"""
from __future__ import annotations

import gc
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from . import backends, balance, expectations as expect, guard, loading_path, options, reaper, render, results as res, snippet_check
from .render import perf as perf_report
from .client import _LIVE, _LIVE_LOCK, SEND_AHEAD, WorkerClient, WorkerStartError
from .backends import identity
from .backends.base import from_caller
from .compare import judge, norm_api, settle
from .oracle_cache import CacheError, OracleCache, cache_key, default_root, ensure_recorded
from .outcomes import OUTCOMES
from .registry import catalog_digest, catalog_dir, catalog_modules, load_catalog

PROPERTY = "conformance"
NEEDS_TARGET = ("conformance cases need a target: pass --target torch|mindtorch_v2|pyborch|module:NAME "
                "(or set CONFORMANCE_TARGET)")


# == options and the run's state ===================================================================

def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_to_pytest(parser.getgroup("conformance", "torch-conformance"))   # declared once, for the CLI too

@dataclass
class State:
    backend: backends.Backend
    expectations: expect.Expectations
    cache: OracleCache
    timeout: float
    report_dir: Path | None
    oracle: dict[str, Any] = field(default_factory=dict)
    oracle_hello: dict[str, Any] | None = None
    target_hello: dict[str, Any] | None = None
    client: WorkerClient | None = None
    slow_lane: WorkerClient | None = None      # a second target process for slow cases (one process runs)
    lane_cases: set[str] = field(default_factory=set)   # the slow cases it runs
    next_item: pytest.Item | None = None     # what pytest runs after the current item (sent ahead)
    # One process: the main target's cases in run order, so several can wait in its input
    main_order: list[str] = field(default_factory=list)
    main_index: dict[str, int] = field(default_factory=dict)
    perf: dict[str, Any] | None = None         # loading-path measurements to carry along (--perf)
    target_startup: float | None = None        # seconds from spawn to hello of the first target process
    start_error: str | None = None             # the target process could not start: nothing ran
    process_label: str = "main"                # this pytest process: "main", or the xdist worker id
    ran: int = 0                               # cases this pytest process has run so far
    records: list[dict[str, Any]] = field(default_factory=list)
    gate_problems: list[str] = field(default_factory=list)   # reasons the gate fails besides case outcomes
    partial: Any = None
    lock: Any = None                           # the report folder's lock, held for the whole run
    selected: set[str] | None = None           # case ids selected to run (xdist: as the workers collected them)
    deselected: int = 0                        # cases -k / -m left out
    write_error: str | None = None             # a report could not be written (full disk, ...)
    _loading_path: dict[str, Any] | None = None
    path_oracle: dict[str, Any] | None = None    # the oracle on the target's loading path, when it differs
    path_oracle_version: str | None = None       # the torch.__version__ it was recorded with
    not_run: list[str] = field(default_factory=list)   # selected, never started: the run was interrupted
    stopped: str | None = None                 # interrupted before any case could run (recording the oracle)
    sandbox: Any = None                          # conformance.sandbox.Sandbox for target processes, or None
    sandbox_note: dict[str, Any] = field(default_factory=dict)   # what the run header says about it
    target_sources: dict[str, Any] | None = None   # the code the target runs, as the run started (identity.py)

    def oracle_of(self, case_id: str, api: str) -> tuple[Any, str | None]:
        """The oracle observation a case is judged against, and the __version__ it was recorded with
        (None: real torch as it is)."""
        if self.path_oracle is not None and api not in loading_path.OWN_ROWS and case_id in self.path_oracle:
            return self.path_oracle[case_id], self.path_oracle_version
        return self.oracle.get(case_id), None

    def loading_path(self) -> dict[str, Any] | None:
        """The loading path safetensors takes for this target (from its hello's ``torch.__version__``)."""
        if self.target_hello is None:
            return None
        if self._loading_path is None:
            self._loading_path = loading_path.decide(self.target_hello.get("version"))
        return self._loading_path

    def target(self) -> WorkerClient:
        if self.client is None:
            self.client = WorkerClient(self.backend.worker_args(), timeout=self.timeout, sandbox=self.sandbox)
        return self.client


GATE_ROWS = 20                           # rows a red gate lists in the terminal
STATE = pytest.StashKey[State]()
BASELINE = pytest.StashKey[dict]()       # --baseline: the earlier run's results


# == configure, start the oracle and the target ====================================================

def _is_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput")


def _names_the_catalog(config: pytest.Config) -> bool:
    cat = catalog_dir().resolve()
    for arg in config.args:
        path = Path(arg.split("::")[0]).resolve()
        if path == cat or cat in path.parents:
            return True
    return False


def pytest_configure(config: pytest.Config) -> None:
    target = config.getoption("target")
    if not target:
        if _names_the_catalog(config):
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
    if config.getoption("perf") and _is_controller(config):
        try:
            perf = perf_report.load(config.getoption("perf"))
        except perf_report.PerfError as e:
            raise pytest.UsageError(str(e)) from None
    if config.getoption("baseline") and _is_controller(config):
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
    lock = _guard(config, root, report_dir)
    state = State(backend, exp, OracleCache(root, cache_key(catalog_digest())),
                  config.getoption("case_timeout"), Path(report_dir) if report_dir else None, perf=perf)
    config.stash[STATE] = state
    state.lock = lock
    _make_sandbox(config, state, root)
    if _is_controller(config):
        state.target_sources = identity.describe_sources(backend.package, backend.sys_path)
        config.pluginmanager.register(_RecordCollector(state), "conformance-records")
        guard.end_like_ctrl_c()
    else:
        state.process_label = config.workerinput["workerid"]
    # What a target starts dies with its worker; an xdist controller also has xdist's workers as children.
    reaper.become_subreaper(sweep_all=not _distributes(config))


def _make_sandbox(config: pytest.Config, state: State, cache_root: Path) -> None:
    """The target's own world (conformance/sandbox.py): real torch hidden unless the target is built on
    it, the kit's state out of reach. Without bubblewrap the run says so, or stops (--require-sandbox)."""
    from . import sandbox
    from .catalog import _hf_models
    from .dists import ORACLE_TORCH_ENV, installed_torch_version

    backend = state.backend
    if backend.uses_real_torch is None:          # module:NAME: the command line declares it, never the target
        backend.uses_real_torch = bool(config.getoption("target_uses_torch"))
    # Every process keys the tiny models and recordings by the oracle's torch, which a target cannot see.
    os.environ.setdefault(ORACLE_TORCH_ENV, installed_torch_version() or "")
    if config.getoption("no_sandbox"):
        state.sandbox_note = {"engine": None, "hides_torch": False, "why": "--no-sandbox"}
        return
    replay = os.environ.get("CONFORMANCE_REPLAY")      # a user's recording (run --replay DIR): read-only
    try:
        # the models are made later, by the runner: the folder must exist now to be bound
        _hf_models.root().mkdir(parents=True, exist_ok=True)
        state.sandbox = sandbox.for_backend(backend, cache_root, [str(_hf_models.root()), *([replay] if replay else [])],
                                            report_dir=str(state.report_dir) if state.report_dir else None)
        state.sandbox_note = state.sandbox.describe()
    except (sandbox.SandboxError, OSError) as e:
        if config.getoption("require_sandbox"):
            raise pytest.UsageError(f"--require-sandbox: {e}") from None
        state.sandbox_note = {"engine": None, "hides_torch": False, "why": str(e)}


def _guard(config: pytest.Config, cache_root: Path, report_dir: str | None):
    """The run's settings checked before anything runs (one usage error each); the report folder's lock."""
    try:
        guard.positive_seconds(config.getoption("case_timeout"))
        guard.frame_limit()
        guard.not_a_file(cache_root, "--oracle-cache")
        if report_dir and _is_controller(config):
            return guard.lock_report_dir(guard.writable_dir(Path(report_dir), "--report-dir"))
    except guard.GuardError as e:
        raise pytest.UsageError(str(e)) from None
    return None


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is not None and _is_controller(config):
        guard.restore_signals()


def _distributes(config: pytest.Config) -> bool:
    """This is the xdist controller: workers run the cases, each with its own target process."""
    return _is_controller(config) and getattr(config.option, "dist", "no") != "no"


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    state = session.config.stash.get(STATE, None)
    if state is None:
        return
    try:
        if _is_controller(session.config):
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
    if _is_controller(session.config) and state.sandbox is not None and state.sandbox.hides_torch and not state.stopped:
        try:
            _prepare_workloads()
        except KeyboardInterrupt as e:
            state.stopped = f"{e or 'interrupted'} while the tiny models and recordings were being made"
    if not _distributes(session.config) and not session.config.option.collectonly and not state.stopped:
        state.target().spawn()     # it imports the backend while pytest collects


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """Interrupted before the cases could start: the session ends as Ctrl-C ends it, every case not run."""
    state = session.config.stash.get(STATE, None)
    if state is not None and state.stopped and _is_controller(session.config):
        state.gate_problems.append(f"{state.stopped}: no case ran (what was recorded is kept for the next run)")
        raise session.Interrupted(state.stopped)


def _prepare_workloads() -> None:
    """The tiny models and the forward-pass recordings, made with real torch before a target starts: in
    its sandbox a target cannot make them (no torch there), only read them."""
    import importlib.util

    if importlib.util.find_spec("transformers") is None:
        return
    from .catalog import _hf_models
    from .trace import cache
    try:
        _hf_models.ensure_models()
        for workload in cache.WORKLOADS:
            cache.ensure_recording(workload)
    except Exception:      # noqa: BLE001  the cases that need them observe why, on their own rows
        pass


# == collection and scheduling =====================================================================

def _reorder(order: str, items: list) -> None:
    """--case-order: a case must observe the same whatever ran before it in its target process."""
    if order == "reverse":
        items.reverse()
    elif order.startswith("shuffle:"):
        import random
        random.Random(order.split(":", 1)[1]).shuffle(items)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    state = config.stash.get(STATE, None)
    if state is None:
        return
    _reorder(config.getoption("case_order"), items)
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
    _record_oracle_on_path(state)
    if _is_controller(config) and _slow_lane_share(state, items):
        # Slow cases last: those in the second process have run by then, and this process never
        # waits on one while the main target has work; the main target's own come after its others.
        items[:] = [it for it in items if not _is_slow(it)] + [it for it in items if _is_slow(it)]


def _path_cache(state: State, as_version: str) -> OracleCache:
    return OracleCache(state.cache.dir.parent, {**state.cache.key, "torch_version_as": as_version})


def _record_oracle_on_path(state: State) -> None:
    """When safetensors takes another loading path for the target than for real torch (its __version__),
    the oracle is recorded again as safetensors sees a torch of that version, and the target is judged
    against that: the verdict is about the path its users take (docs/results-schema.md)."""
    oracle_path = loading_path.decide((state.oracle_hello or {}).get("version"))
    as_version = loading_path.oracle_version_for(state.loading_path(), oracle_path)
    if not as_version:
        return
    try:
        state.path_oracle, _ = ensure_recorded(_path_cache(state, as_version), list(load_catalog()), state.timeout,
                                               ("--torch-version", as_version))
        state.path_oracle_version = as_version
    except (CacheError, WorkerStartError) as e:
        state.gate_problems.append(f"the oracle could not be recorded on the target's loading path "
                                   f"(torch.__version__ {as_version}): {e}; rows were judged against the storage path")


def pytest_collection_finish(session: pytest.Session) -> None:
    state = session.config.stash.get(STATE, None)
    if state is None:
        return
    if not _is_controller(session.config):
        session.config.workeroutput["conformance_target"] = state.target_hello
        session.config.workeroutput["conformance_start_error"] = state.start_error
    elif state.client is not None and state.start_error is None:
        _open_slow_lane(state, session.items)
        state.main_order = [it.case.id for it in session.items
                            if isinstance(it, CaseItem) and it.case.id not in state.lane_cases]
        state.main_index = {cid: i for i, cid in enumerate(state.main_order)}
    # The oracle records and the items live until the end: keep the cyclic GC from walking them again
    # at every full collection (~0.1 s each at this size).
    gc.freeze()


def _is_slow(item: pytest.Item) -> bool:
    return isinstance(item, CaseItem) and item.case.slow


def _slow_lane_share(state: State, items: list) -> list[str]:
    """The slow cases a second target process should run (``balance.second_process_share``)."""
    return balance.second_process_share([it.case.id for it in items if _is_slow(it)], len(items),
                                        state.target_startup)


def _open_slow_lane(state: State, items: list) -> None:
    """Without xdist: slow cases (each starts a Python of its own and takes seconds) go to a second
    target process now, so they run on the other core while this one works through the rest.
    They do not depend on what ran before them in a process; records say which process ran what."""
    share = _slow_lane_share(state, items)
    if not share:
        return
    state.lane_cases = set(share)
    state.slow_lane = WorkerClient(state.backend.worker_args(), timeout=state.timeout, sandbox=state.sandbox)
    state.slow_lane.spawn()
    for case_id in share:
        state.slow_lane.submit(case_id)


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
        lines.append("  oracle: " + _describe(state.oracle_hello))
    return lines + [f"WARNING: {w}" for w in state.cache.warnings]


def _describe(hello: dict[str, Any]) -> str:
    return f"import torch -> {hello['module']} {hello['version']} from {hello['file']} ({hello['how']})"


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    if file_path.suffix == ".py" and file_path.parent == catalog_dir() and file_path.stem in catalog_modules():
        if parent.config.stash.get(STATE, None) is None:
            raise pytest.UsageError(NEEDS_TARGET)
        return CatalogFile.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    state = item.config.stash.get(STATE, None)
    if state is not None:
        state.next_item = nextitem


class CatalogFile(pytest.File):
    def collect(self):
        for case in load_catalog().values():
            if case.module == self.path.stem:
                yield CaseItem.from_parent(self, name=case.id, case=case)


def _sent_ahead(state: State, case_id: str) -> list[str]:
    """The main-target cases to queue while ``case_id`` runs: the next SEND_AHEAD in one process,
    the next item only under xdist (a worker does not know its later items)."""
    at = state.main_index.get(case_id)
    if at is not None:
        return state.main_order[at + 1:at + 1 + SEND_AHEAD]
    nxt = state.next_item
    if isinstance(nxt, CaseItem) and nxt.case.id not in state.lane_cases:
        return [nxt.case.id]
    return []


_API_NAMES: dict[str, str] = {}


def _api_names() -> dict[str, str]:
    """``norm_api(api) -> api`` for the catalog's APIs (a plain spelling wins), and each API to itself."""
    if not _API_NAMES:
        for c in load_catalog().values():     # a plain name (torch.empty) wins over a qualified one
            key = norm_api(c.api)
            if key not in _API_NAMES or ("(" in _API_NAMES[key] and "(" not in c.api):
                _API_NAMES[key] = c.api
        _API_NAMES.update({c.api: c.api for c in load_catalog().values()})
    return _API_NAMES


class CaseFailed(Exception):
    def __init__(self, record: dict[str, Any]):
        super().__init__(record["summary"])
        self.record = record


class CaseItem(pytest.Item):
    def __init__(self, *, case, **kw):
        super().__init__(**kw)
        self.case = case

    def runtest(self) -> None:
        state = self.config.stash[STATE]
        lane = state.slow_lane if self.case.id in state.lane_cases else None
        then = _sent_ahead(state, self.case.id)
        timeout = max(state.timeout, self.case.timeout or 0)
        # The next cases wait in the main target's input, so it goes from one to the next without
        # waiting for this process to judge and report (their cost varies case by case).
        if lane:
            for case_id in then:
                state.target().submit(case_id)
            result = lane.run(self.case.id, timeout=timeout)
        else:
            result = state.target().run(self.case.id, timeout=timeout, then=then)
        target = lane or state.target()
        oracle_obs, oracle_version = state.oracle_of(self.case.id, self.case.api)
        verdict = settle(judge(oracle_obs, result, self.case.tolerance, self.case.api, self.case.reads),
                         self.case.api, result.get("obs"), _api_names(), res.reached_around(result))
        entry = state.expectations.match(self.case.id)
        final, note = expect.apply(verdict.outcome, entry)
        record = res.case_record(self.case, state.backend.name, verdict, entry, final, note, result,
                                 off_path=loading_path.off_path(self.case.path, state.loading_path()),
                                 oracle_version=oracle_version, seq=state.ran,
                                 process=f"{state.process_label}{'-slow' if lane else ''}#{target.starts}")
        state.ran += 1
        # One JSON string, not a dict: xdist's pure-Python serializer is slow per object (~1 ms a record
        # as a dict). The controller adds the oracle's observation, which it already has.
        self.user_properties.append((PROPERTY, json.dumps(record)))
        if final == "PASS":
            return
        if final == "SKIP":
            pytest.skip(verdict.summary)
        if final == "XFAIL":
            pytest.xfail(f"{verdict.outcome}: {note}")
        raise CaseFailed(record)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, CaseFailed):
            r = excinfo.value.record
            lines = [f"{r['outcome']}: {r['api']} ({r['origin']}): {r['summary']}"]
            if r["note"]:
                lines.append(r["note"])
            for d in r["diffs"][:6]:
                lines.append("  " + json.dumps(d, sort_keys=True)[:400])
            return "\n".join(lines)
        if isinstance(excinfo.value, pytest.xfail.Exception):
            return str(excinfo.value)      # pytest's traceback formatting costs ~0.4 s a case here
        return super().repr_failure(excinfo, style="short")

    def reportinfo(self):
        return self.path, None, f"{self.case.id} [{self.case.api}]"


# == records, gathered by the controller ===========================================================

class _RecordCollector:
    """Controller side: receives each case's record (also from xdist workers) as its report arrives."""

    def __init__(self, state: State):
        self.state = state

    def _oracle(self, record: dict[str, Any]) -> Any:
        """What the record was judged against: the oracle, or the oracle on the target's loading path (under
        xdist the workers recorded that one, and the controller reads it from the cache)."""
        as_version = record.get("oracle_torch_version")
        if not as_version:
            return self.state.oracle.get(record["id"])
        if self.state.path_oracle is None:
            records, _ = _path_cache(self.state, as_version).load()
            self.state.path_oracle, self.state.path_oracle_version = records, as_version
        return self.state.path_oracle.get(record["id"])

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call" and not (report.when == "setup" and report.failed):
            return
        got = [json.loads(v) for name, v in report.user_properties if name == PROPERTY]
        if not got and (report.failed or report.when == "setup"):
            got = [_lost_record(self.state, _case_id(report.nodeid), report.longreprtext)]   # the kit's own failure
        for record in got:
            record["oracle"] = self._oracle(record)
            self.state.records.append(record)
            self._keep(record)

    def _keep(self, record: dict[str, Any]) -> None:
        """Into results.jsonl at once; a write that fails (a full disk) stops it, keeping what it has."""
        if not self.state.partial:
            return
        try:
            self.state.partial.write(json.dumps(record, sort_keys=True) + "\n")
            self.state.partial.flush()
        except OSError as e:
            path, f = self.state.partial.name, self.state.partial
            self.state.partial = None
            try:
                f.close()          # what is still buffered cannot be written either
            except OSError:
                pass
            self.state.write_error = f"cannot write {path}: {e.strerror or e}; it keeps the records before that"

    def pytest_deselected(self, items: list) -> None:
        self.state.deselected += len(items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids: list[str]) -> None:
        if self.state.selected is None:          # every worker collects the same cases
            self.state.selected = {_case_id(i) for i in ids}


def _case_id(nodeid: str) -> str:
    return nodeid.split("::", 1)[-1]        # "module.py::id"; an id may hold "::" itself (a slice)


def _lost_record(state: State, case_id: str, why: str) -> dict[str, Any]:
    """An ERROR record for a selected case that has no result of its own (the kit failed on it)."""
    case = load_catalog().get(case_id)
    first = next((line.strip() for line in (why or "").splitlines() if line.strip()), "no detail")
    return {"id": case_id, "api": getattr(case, "api", "?"), "origin": getattr(case, "origin", "?"),
            "module": getattr(case, "module", "?"), "target": state.backend.name, "outcome": "ERROR",
            "raw_outcome": "ERROR", "summary": f"the kit lost this case's result: {first}"[:500], "note": "",
            "diffs": [], "expectation": None, "observed": None, "ms": None, "process": None, "seq": None}


def _complete(state: State, session: pytest.Session, ended_early: bool) -> None:
    """Every selected case has exactly one record: a duplicate keeps the last, a lost one is ERROR
    (unless the run ended early, when cases that did not run are simply absent)."""
    selected = state.selected if state.selected is not None else {
        it.case.id for it in session.items if isinstance(it, CaseItem)}
    by_id: dict[str, dict[str, Any]] = {}
    for r in state.records:
        if r["id"] in by_id:
            state.gate_problems.append(f"case {r['id']} was recorded twice; kept the last record")
        by_id[r["id"]] = r
    lost = [] if ended_early else sorted(selected - by_id.keys())
    state.not_run = sorted(selected - by_id.keys()) if ended_early else []
    for cid in lost:
        by_id[cid] = _lost_record(state, cid, "it was selected, but no result came back")
    if lost:
        state.gate_problems.append(f"{len(lost)} selected case(s) had no result and are ERROR: {', '.join(lost[:5])}")
    state.records[:] = list(by_id.values())


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
    if not _is_controller(session.config):
        return
    guard.hold_signals()          # a second Ctrl-C from now on waits for the reports
    if guard.interrupted() and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        exitstatus = session.exitstatus = pytest.ExitCode.INTERRUPTED
    problems = state.gate_problems
    ended_early = exitstatus == pytest.ExitCode.INTERRUPTED or bool(session.shouldfail or session.shouldstop)
    _complete(state, session, ended_early)
    stale = state.expectations.unmatched(load_catalog())
    problems += res.summarised(stale, GATE_ROWS, lambda e: f"{e.where}: entry {e.pattern!r} "
                               "matches no case in the catalog; remove it or fix the id",
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
            _write_reports(session, state, problems, exitstatus)
            if not state.write_error:
                res.mark_complete(state.report_dir)
        except OSError as e:   # a full disk: say which file; what was written before stays
            state.write_error = (f"cannot write {e.filename or state.report_dir}: {e.strerror or e}; "
                                 f"{state.report_dir / 'results.jsonl'} keeps the records written before")
        if state.write_error:
            session.exitstatus = pytest.ExitCode.USAGE_ERROR


def _write_reports(session: pytest.Session, state: State, problems: list[str], exitstatus: int) -> None:
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
        results["surface"] = _trace_surface()
    snippet_check.measure(results)     # the checklist shows only snippets measured to show their difference
    res.write(state.report_dir / "results.json", results)
    render.write_all(render.from_results([results], baseline=session.config.stash.get(BASELINE, None)),
                      state.report_dir)   # perf: carried in results


def _trace_surface() -> dict[str, Any] | None:
    """--surface: the torch API inventory safetensors uses, traced in a process of its own (real torch);
    results.json carries it and the surface.json renderer writes it."""
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="conformance-surface-") as tmp:
        out = Path(tmp) / "surface.json"
        subprocess.run([sys.executable, "-m", "conformance.surface", "--out", str(out)], check=False, timeout=600)
        return json.loads(out.read_text()) if out.is_file() else None


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or not _is_controller(config):
        return
    tr = terminalreporter
    tr.section("torch-conformance")
    if state.write_error:
        tr.write_line(f"ERROR: {state.write_error}", red=True)
    if state.start_error:
        tr.write_line(f"ERROR: {state.start_error}", red=True)
        return
    c = res.counts(state.records)
    if state.target_hello:
        tr.write_line(f"target {state.backend.name}: " + _describe(state.target_hello))
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
        tr.write_line(_rewrite_hint(state))


def _rewrite_hint(state: State) -> str:
    """The exact command that takes this run's results into its expectations file."""
    exp = state.expectations.path if state.expectations.path != "<none>" else f"backends/{state.backend.name}/expectations.txt"
    results = state.report_dir / "results.json" if state.report_dir else "DIR/results.json (run with --report-dir DIR)"
    return (f"to rewrite the expectations from this run: python -m conformance expectations --results {results} "
            f"--file {exp}  (it lists every change; add --accept-new to take in new failures)")
