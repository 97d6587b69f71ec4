"""What one run of the kit knows, shared by the pytest hooks of conformance/plugin.py: the target and its
worker clients, the oracle's records, the expectations, and what the gate says besides case outcomes."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from . import backends, expectations as expect, loading_path
from .client import WorkerClient
from .oracle_cache import OracleCache


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
    slow_lane: WorkerClient | None = None      # a second target process for the shared tail (one process runs)
    lane_cases: set[str] = field(default_factory=set)   # the shared tail's cases (conformance/lanes.py)
    tail: Any = None                           # lanes.Tail: which of them waits, which process has which
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
    snippet_header: dict[str, Any] | None = None   # what the snippet check's target side is started with
    snippet_target: Any = None                 # snippet_check.TargetSide, started as the last cases run

    def take_snippet_target(self) -> Any:
        """The early snippet side, handed over once (its new owner closes it)."""
        side, self.snippet_target = self.snippet_target, None
        return side

    def close_snippet_target(self) -> None:
        side = self.take_snippet_target()
        if side is not None:
            side.close()

    def oracle_of(self, case_id: str, api: str) -> tuple[Any, str | None]:
        """The oracle observation a case is judged against, and the __version__ it was recorded with
        (None: real torch as it is)."""
        if self.path_oracle is not None and api not in loading_path.OWN_ROWS and case_id in self.path_oracle:
            return self.path_oracle[case_id], self.path_oracle_version
        return self.oracle.get(case_id), None

    def oracle_reads(self) -> dict[str, str] | None:
        """The oracle's torch attributes by digest, as its recorder saw them (``calls.attribute_digests``)."""
        reads = ((self.oracle_hello or {}).get("recorder") or {}).get("reads")
        return reads if isinstance(reads, dict) else None

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


STATE = pytest.StashKey[State]()


BASELINE = pytest.StashKey[dict]()       # --baseline: the earlier run's results


def is_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput")


def distributes(config: pytest.Config) -> bool:
    """This is the xdist controller: workers run the cases, each with its own target process."""
    return is_controller(config) and getattr(config.option, "dist", "no") != "no"
