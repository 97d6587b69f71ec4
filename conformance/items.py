"""The catalog as pytest items: one CaseItem per case, run in the target, judged and recorded."""
from __future__ import annotations

import json
from typing import Any

import pytest

from . import loading_path
from .client import SEND_AHEAD
from .compare import norm_api
from .judging import judge_case
from .registry import load_catalog
from .reporting import start_snippet_target
from .run_state import STATE, State


PROPERTY = "conformance"
SNIPPET_START_LEFT = 100      # main-process cases left when the snippet check's target side starts (reporting.py)


class CatalogFile(pytest.File):
    def collect(self):
        for case in load_catalog().values():
            if case.module == self.path.stem:
                yield CaseItem.from_parent(self, name=case.id, case=case)


def sent_ahead(state: State, case_id: str) -> list[str]:
    """The main-target cases to queue while ``case_id`` runs: the next SEND_AHEAD in one process,
    the next item only under xdist (a worker does not know its later items)."""
    at = state.main_index.get(case_id)
    if at is not None:
        ahead = state.main_order[at + 1:at + 1 + SEND_AHEAD]
        if len(ahead) < SEND_AHEAD and state.tail is not None:     # the rest's end: the shared tail's front next
            ahead += state.tail.main_ahead()
        return ahead
    nxt = state.next_item
    if isinstance(nxt, CaseItem) and nxt.case.id not in state.lane_cases:
        return [nxt.case.id]
    return []


_API_NAMES: dict[str, str] = {}


def api_names() -> dict[str, str]:
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
        timeout = max(state.timeout, self.case.timeout or 0)
        main, tail = state.target(), state.tail
        if tail is not None:
            tail.feed()              # the second target process kept busy with the shared tail (lanes.py)
        # The next cases wait in the target's input, so it goes from one to the next without waiting for
        # this process to judge and report (their cost varies case by case).
        if state.snippet_header is not None and (self.case.id in state.lane_cases or
                                                 state.ran >= len(state.main_order) - SNIPPET_START_LEFT):
            start_snippet_target(state)
        if tail is not None and self.case.id in state.lane_cases:
            target = tail.owner(self.case.id, main)
            then = tail.main_ahead() if target is main else []
        else:
            target, then = main, sent_ahead(state, self.case.id)
        # the second process is topped up while the first runs a long case, not only between cases
        feed = tail.feed if tail is not None and target is main else None
        result = target.run(self.case.id, timeout=timeout, then=then, while_waiting=feed)
        oracle_obs, oracle_version = state.oracle_of(self.case.id, self.case.api)
        record = judge_case(self.case, result, oracle_obs, target=state.backend.name,
                            expectations=state.expectations, api_names=api_names(),
                            off_path=loading_path.off_path(self.case.path, state.loading_path()),
                            oracle_version=oracle_version, seq=state.ran, oracle_reads=state.oracle_reads(),
                            process=f"{state.process_label}{'-slow' if target is state.slow_lane else ''}#{target.starts}")
        final = record["outcome"]
        state.ran += 1
        # Under xdist one JSON string, not a dict: its pure-Python serializer is slow per object (~1 ms a
        # record as a dict). In one process the record itself: encoding it to decode it again was a tenth of
        # the runner's CPU. The controller adds the oracle's observation, which it already has.
        self.user_properties.append((PROPERTY, json.dumps(record) if hasattr(self.config, "workerinput") else record))
        if final == "PASS":
            return
        if final == "SKIP":
            pytest.skip(record["summary"])
        if final == "XFAIL":
            pytest.xfail(f"{record['raw_outcome']}: {record['note']}")
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
