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
