"""Which target process runs which case, in what order: --case-order, and the second target process.

The cases that cost a process more than an ordinary one (slow ones start a Python of their own; the replay
rows declare tens of milliseconds, ``Case.seconds``) are put last, as one shared tail. A second target
process takes them from its front as it goes, a few queued at a time, while the first works through the
rest; once the first reaches the tail it takes the ones still waiting. So both processes end together
whatever a backend's costs are (a split fixed from declared costs left one of them a second behind on
mindtorch_v2, and the other one on its proxy). Each case runs in one process, in the order it is judged.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import pytest

from . import balance
from .client import SEND_AHEAD, WorkerClient
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


def movable(items: list) -> list[str]:
    """The cases that may run in a second target process, costliest first: slow ones, then those that declare
    their cost (``Case.seconds``), by it."""
    costs = [(it.case.id, float("inf") if it.case.slow else it.case.seconds) for it in items
             if isinstance(it, CaseItem) and (it.case.slow or getattr(it.case, "seconds", None))]
    return [cid for cid, _ in sorted(costs, key=lambda c: -c[1])]


def slow_lane_share(state: State, items: list) -> list[str]:
    """The cases a second target process is expected to run (``balance.second_process_share``): slow ones,
    then ones that declare tens of milliseconds (``Case.seconds``); none when it would not pay its start."""
    heavy = [(it.case.id, it.case.seconds) for it in items
             if isinstance(it, CaseItem) and not it.case.slow and getattr(it.case, "seconds", None)]
    return balance.second_process_share([it.case.id for it in items if is_slow(it)], len(items),
                                        state.target_startup, heavy)


@dataclass
class Tail:
    """The shared tail: ``waiting`` holds its cases not yet sent to a process, in the order they are judged;
    ``given`` those sent to the second process and not yet judged; ``lost`` those it held when it died or
    retired (they run in a new second process, one by one, before it takes more); ``mine`` those the first
    process took and has not been asked for yet (offered again each time, so a new first process after a
    crash gets them back in order)."""
    lane: WorkerClient
    waiting: deque[str] = field(default_factory=deque)
    given: deque[str] = field(default_factory=deque)
    lost: deque[str] = field(default_factory=deque)
    mine: deque[str] = field(default_factory=deque)

    def _notice_loss(self) -> None:
        if self.given and not self.lane.holds(self.given[0]):     # closed: it holds none of them any more
            self.lost.extend(self.given)
            self.given.clear()

    def feed(self) -> None:
        """Keep SEND_AHEAD cases queued in the second process (cheap: it looks at what has arrived)."""
        self.lane.collect()
        self._notice_loss()
        while self.waiting and not self.lost and self.lane.outstanding < SEND_AHEAD and self.lane.alive():
            case_id = self.waiting.popleft()
            self.lane.submit(case_id)
            self.given.append(case_id)

    def owner(self, case_id: str, main: WorkerClient) -> WorkerClient:
        """The process that runs ``case_id`` of the tail, as it comes to be judged: the second one if it has
        it (or lost it), else the first, which takes it and the next ones waiting (the first's from then on)."""
        self._notice_loss()
        if self.given and self.given[0] == case_id:
            self.given.popleft()
            return self.lane
        if self.lost and self.lost[0] == case_id:
            self.lost.popleft()
            return self.lane             # run() starts a new process for it
        if self.mine and self.mine[0] == case_id:
            self.mine.popleft()
        elif self.waiting and self.waiting[0] == case_id:
            self.waiting.popleft()
        return main

    def main_ahead(self) -> list[str]:
        """The tail's cases for the first process to queue, in order: those it took and still has to run, then
        more from the front, up to SEND_AHEAD (run() sends only those it does not hold)."""
        more = [self.waiting.popleft() for _ in range(max(0, min(SEND_AHEAD - len(self.mine), len(self.waiting))))]
        self.mine.extend(more)
        return list(self.mine)


def open_slow_lane(state: State, items: list) -> None:
    """Without xdist: a second target process for the shared tail (``state.lane_cases``, put last at
    collection), started now and sent its first few. No case depends on what ran before it in a process
    (``--case-order`` checks that); records say which process ran what."""
    tail = [it.case.id for it in items if isinstance(it, CaseItem) and it.case.id in state.lane_cases]
    if not tail:
        return
    state.slow_lane = WorkerClient(state.backend.worker_args(), timeout=state.timeout, sandbox=state.sandbox,
                                   read_ahead=True)     # its answers wait until the tail is judged
    state.slow_lane.spawn()
    state.tail = Tail(state.slow_lane, deque(tail))
    state.tail.feed()
