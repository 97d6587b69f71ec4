"""Which target process runs which case (conformance/lanes.py): --case-order, and the slow cases' share."""
from __future__ import annotations

from types import SimpleNamespace as NS

from conformance import lanes
from conformance.items import CaseItem


def test_reverse_and_a_seeded_shuffle():
    items = list(range(20))
    lanes.reorder("reverse", items)
    assert items == list(range(19, -1, -1))
    a, b = list(range(20)), list(range(20))
    lanes.reorder("shuffle:7", a)
    lanes.reorder("shuffle:7", b)
    assert a == b != list(range(20)) and sorted(a) == list(range(20)), "the same seed, the same order"
    c = list(range(20))
    lanes.reorder("shuffle:8", c)
    assert c != a
    d = list(range(5))
    lanes.reorder("catalog", d)
    assert d == list(range(5))


def _item(cid: str, slow: bool) -> CaseItem:
    item = CaseItem.__new__(CaseItem)      # only its case is read here
    item.case = NS(id=cid, slow=slow)
    return item


def test_only_slow_case_items_are_slow():
    assert lanes.is_slow(_item("a", True)) and not lanes.is_slow(_item("b", False))
    assert not lanes.is_slow(NS(case=NS(slow=True))), "only a case item is one"


def test_the_slow_lane_takes_slow_cases_only_and_none_without_a_measured_start():
    items = [_item(f"s{i}", True) for i in range(4)] + [_item(f"f{i}", False) for i in range(1000)]
    share = lanes.slow_lane_share(NS(target_startup=1.0), items)
    assert share and set(share) <= {"s0", "s1", "s2", "s3"} and len(share) < 4
    assert lanes.slow_lane_share(NS(target_startup=None), items) == []
