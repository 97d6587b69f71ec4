"""Which target process runs which case, in what order: --case-order, and the slow cases' second process."""
from __future__ import annotations


import pytest

from . import balance
from .client import WorkerClient
from .items import CaseItem
from .run_state import State


def reorder(order: str, items: list) -> None:
    """--case-order: a case must observe the same whatever ran before it in its target process."""
    if order == "reverse":
        items.reverse()
    elif order.startswith("shuffle:"):
        import random
        random.Random(order.split(":", 1)[1]).shuffle(items)


def is_slow(item: pytest.Item) -> bool:
    return isinstance(item, CaseItem) and item.case.slow


def slow_lane_share(state: State, items: list) -> list[str]:
    """The cases a second target process should run (``balance.second_process_share``): slow ones, then
    ones that declare tens of milliseconds (``Case.seconds``)."""
    heavy = [(it.case.id, it.case.seconds) for it in items
             if isinstance(it, CaseItem) and not it.case.slow and getattr(it.case, "seconds", None)]
    return balance.second_process_share([it.case.id for it in items if is_slow(it)], len(items),
                                        state.target_startup, heavy)


def open_slow_lane(state: State, items: list) -> None:
    """Without xdist: slow cases (each starts a Python of its own and takes seconds), and as many heavy ones
    as balance the two, go to a second target process now, so they run on the other core while this one
    works through the rest. No case depends on what ran before it in a process (``--case-order`` checks
    that); records say which process ran what. The share is the one collection put last (``lane_cases``)."""
    share = [it.case.id for it in items if isinstance(it, CaseItem) and it.case.id in state.lane_cases]
    if not share:
        return
    state.slow_lane = WorkerClient(state.backend.worker_args(), timeout=state.timeout, sandbox=state.sandbox,
                                   read_ahead=True)     # judged after the first process's cases
    state.slow_lane.spawn()
    for case_id in share:
        state.slow_lane.submit(case_id)
