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
    """The slow cases a second target process should run (``balance.second_process_share``)."""
    return balance.second_process_share([it.case.id for it in items if is_slow(it)], len(items),
                                        state.target_startup)


def open_slow_lane(state: State, items: list) -> None:
    """Without xdist: slow cases (each starts a Python of its own and takes seconds) go to a second
    target process now, so they run on the other core while this one works through the rest.
    They do not depend on what ran before them in a process; records say which process ran what."""
    share = slow_lane_share(state, items)
    if not share:
        return
    state.lane_cases = set(share)
    state.slow_lane = WorkerClient(state.backend.worker_args(), timeout=state.timeout, sandbox=state.sandbox)
    state.slow_lane.spawn()
    for case_id in share:
        state.slow_lane.submit(case_id)
