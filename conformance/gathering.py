"""The controller's side: every case's record gathered as its report arrives (also from xdist workers),
kept in results.jsonl at once, and completed at the end (a lost case is an ERROR record)."""
from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from . import results as res
from .compare import KIT, Verdict
from .divergence import kept
from .items import PROPERTY, CaseItem
from .observe import DISPLAY
from .registry import load_catalog
from .run_setup import path_cache
from .run_state import State


def oracle_as_kept(oracle: Any, observed: Any) -> Any:
    """The oracle's observation as a record keeps it: of its call log, only what the rule reads for the target's
    (``divergence.kept``; a passing row's target log is dropped, so its oracle's goes too). A copy: the oracle's
    records are shared by every row judged against them."""
    d = oracle.get(DISPLAY) if isinstance(oracle, dict) else None
    if not isinstance(d, dict) or not d.get("calls"):
        return oracle
    t = observed.get(DISPLAY) if isinstance(observed, dict) else None
    log = kept(d["calls"], (t.get("calls") or []) if isinstance(t, dict) else [])
    display = {k: v for k, v in d.items() if k != "calls"}
    if log:
        display["calls"] = log
    rest = {k: v for k, v in oracle.items() if k != DISPLAY}
    return {**rest, DISPLAY: display} if display else rest


class RecordCollector:
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
            records, _ = path_cache(self.state, as_version).load()
            self.state.path_oracle, self.state.path_oracle_version = records, as_version
        return self.state.path_oracle.get(record["id"])

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call" and not (report.when == "setup" and report.failed):
            return
        got = [json.loads(v) if isinstance(v, str) else v for name, v in report.user_properties if name == PROPERTY]
        if not got and (report.failed or report.when == "setup"):
            got = [lost_record(self.state, case_id_of(report.nodeid), report.longreprtext)]   # the kit's own failure
        for record in got:
            record["oracle"] = oracle_as_kept(self._oracle(record), record.get("observed"))
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
            self.state.selected = {case_id_of(i) for i in ids}


def case_id_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[-1]        # "module.py::id"; an id may hold "::" itself (a slice)


def lost_record(state: State, case_id: str, why: str) -> dict[str, Any]:
    """An ERROR record for a selected case that has no result of its own (the kit failed on it), made by
    the one record constructor; its cause is the kit, never the row's own API."""
    case = load_catalog().get(case_id) or SimpleNamespace(id=case_id, api="?", origin="?", module="?")
    first = next((line.strip() for line in (why or "").splitlines() if line.strip()), "no detail")
    summary = f"the kit lost this case's result: {first}"[:500]
    verdict = Verdict("ERROR", summary, cause={"api": KIT, "phase": "call", "evidence": summary})
    return res.case_record(case, state.backend.name, verdict, None, "ERROR", "", {}, off_path=None,
                           oracle_version=None, process=None, seq=None)


def complete(state: State, session: pytest.Session, ended_early: bool) -> None:
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
        by_id[cid] = lost_record(state, cid, "it was selected, but no result came back")
    if lost:
        state.gate_problems.append(f"{len(lost)} selected case(s) had no result and are ERROR: {', '.join(lost[:5])}")
    state.records[:] = list(by_id.values())
