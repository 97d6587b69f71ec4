"""How slow cases are shared between two processes (conformance/balance.py): costs in, split out."""
from __future__ import annotations

import pytest

from conformance import balance


def test_no_second_process_without_slow_cases_a_start_time_or_anything_else_to_run():
    assert balance.second_process_share([], 100, 1.0) == []
    assert balance.second_process_share(["s1", "s2"], 2, 1.0) == [], "only slow cases: one process runs them"
    assert balance.second_process_share(["s1"], 100, None) == []


def test_a_cheap_start_moves_every_slow_case_and_a_dear_one_moves_fewer():
    slow = [f"s{i}" for i in range(6)]
    assert balance.second_process_share(slow, 1000, 0.01) == slow
    dear = balance.second_process_share(slow, 1000, 5.0)
    assert dear == slow[:len(dear)] and 0 < len(dear) < len(slow)
    # the split ends both processes together: moving one more or one fewer is no faster
    fast = (1000 - len(slow)) * balance.FAST_CASE_SECONDS
    def finish(m):
        return max(5.0 * (1 + m) if m else 0.0, fast + (len(slow) - m) * 5.0)
    assert finish(len(dear)) <= min(finish(len(dear) - 1), finish(min(len(dear) + 1, len(slow))))


def test_two_lanes_only_for_enough_slow_work_and_more_than_one_core(monkeypatch):
    monkeypatch.setattr(balance.os, "cpu_count", lambda: 2)
    few = ["a", "b", "slow1"]
    assert balance.two_lanes(few, lambda c: c.startswith("slow")) == [few]
    ids = [f"c{i}" for i in range(10)] + ["slow1", "slow2", "slow3"]
    lanes = balance.two_lanes(ids, lambda c: c.startswith("slow"))
    assert len(lanes) == 2 and sorted(lanes[0] + lanes[1]) == sorted(ids)
    assert all(lane == [c for c in ids if c in lane] for lane in lanes), "each lane keeps catalog order"
    cost = [sum(balance.SLOW_COST if c.startswith("slow") else 1 for c in lane) for lane in lanes]
    assert abs(cost[0] - cost[1]) <= balance.SLOW_COST
    monkeypatch.setattr(balance.os, "cpu_count", lambda: 1)
    assert balance.two_lanes(ids, lambda c: c.startswith("slow")) == [ids]


@pytest.mark.parametrize("n", [0, 1])
def test_nothing_missing_is_one_lane(n, monkeypatch):
    monkeypatch.setattr(balance.os, "cpu_count", lambda: 2)
    assert balance.two_lanes(["x"] * n, lambda c: True) == [["x"] * n]


def test_heavy_cases_follow_the_slow_ones_until_both_processes_end_together():
    """The replay rows take tens of ms each: most of a gate's target time. The second process takes the slow
    cases, then as many heavy ones as make its end (its start, then what it took) meet the first's."""
    heavy = [(f"h{i}", 0.025) for i in range(100)]
    share = balance.second_process_share(["s0"], 1000, 0.3, heavy)
    assert share[0] == "s0" and share[1:] == [cid for cid, _ in heavy[:len(share) - 1]] and len(share) > 1
    moved = 0.3 + 0.025 * (len(share) - 1)
    stays = (1000 - 101) * balance.FAST_CASE_SECONDS + 0.025 * (101 - len(share))
    assert abs(moved + 0.3 - stays) < 0.05 + 0.025, (moved, stays)     # second: its start, the slow case, its share
    assert balance.second_process_share([], 150, 0.3, heavy) != [], "heavy cases alone open a second process"
    assert balance.second_process_share([], 1000, 60.0, heavy) == [], "a start dearer than their work: none"
