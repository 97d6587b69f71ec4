"""How the few slow cases are shared between two processes. Pure: costs in, split out.

A slow case (``@case(slow=True)``) starts a Python of its own that imports the target: seconds, where an
ordinary case takes about a millisecond. Two places put slow cases in a second process so both cores work:
the runner (``second_process_share``: the second target process must first pay a start of its own, so it
takes only as many slow cases as make both processes end together) and the oracle recorder (``two_lanes``:
both oracle processes start anyway, so every case is split between them by expected time).
"""
from __future__ import annotations

import os
from typing import Callable

# Expected costs (2 cores): an ordinary case, judged in the runner, ~2 ms; a slow case, about one target
# start. Before the split (all slow cases in the second process) torch ran slower with it: 9.9 s -> 12.2 s.
FAST_CASE_SECONDS = 0.002

# The recorder's costs, in ordinary cases (~1 ms each): a slow one starts a Python that imports torch
# (~2.5 s). A second oracle process costs one more torch import (~2 s of CPU), so it is started only
# when there is at least that much slow work to move to it.
SLOW_COST = 2000


def second_process_share(slow: list[str], n_cases: int, startup: float | None,
                         heavy: list[tuple[str, float]] = ()) -> list[str]:
    """The cases a second target process should run (none: no second process), given the ``n_cases`` to run
    in all and the seconds the first target took to start: first slow ones (each about a start), then
    ``heavy`` ones, ``(id, expected seconds)`` of ordinary cases that take tens of milliseconds (the replay
    rows: together most of a gate's target time), as many as end both processes soonest."""
    heavy = list(heavy)
    if startup is None or not (slow or heavy) or (not heavy and len(slow) == n_cases):
        return []
    movable = [(cid, startup) for cid in slow] + heavy
    stays = (n_cases - len(movable)) * FAST_CASE_SECONDS
    total = sum(cost for _, cost in movable)
    best, best_finish, moved = 0, stays + total, 0.0
    for m, (_, cost) in enumerate(movable, 1):       # the first m in the second process, the rest in the first
        moved += cost
        finish = max(startup + moved, stays + total - moved)
        if finish < best_finish:
            best, best_finish = m, finish
    return [cid for cid, _ in movable[:best]]


def two_lanes(missing: list[str], is_slow: Callable[[str], bool]) -> list[list[str]]:
    """[missing], or two lanes of about equal expected time, each in catalog order."""
    cost = {cid: SLOW_COST if is_slow(cid) else 1 for cid in missing}
    if sum(cost.values()) < 2 * SLOW_COST or (os.cpu_count() or 1) < 2:
        return [missing]
    load, lane_of = [0, 0], {}
    for cid in sorted(missing, key=lambda c: -cost[c]):      # biggest first, each to the lighter lane
        i = load.index(min(load))
        lane_of[cid] = i
        load[i] += cost[cid]
    return [[cid for cid in missing if lane_of[cid] == i] for i in (0, 1)]
