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


def second_process_share(slow: list[str], n_cases: int, startup: float | None) -> list[str]:
    """The slow cases a second target process should run (none: no second process), given the ``n_cases``
    to run in all and the seconds the first target took to start."""
    if not slow or len(slow) == n_cases or startup is None:
        return []
    fast = (n_cases - len(slow)) * FAST_CASE_SECONDS

    def finish(m: int) -> float:      # m slow cases in the second process, the rest after the fast ones
        return max(startup * (1 + m) if m else 0.0, fast + (len(slow) - m) * startup)

    return slow[:min(range(len(slow) + 1), key=finish)]


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
