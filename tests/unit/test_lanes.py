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


class _Process:
    """What lanes.Tail asks of a WorkerClient: a queue of sent cases, some answered."""

    def __init__(self):
        self.pending, self.answered, self.up = [], 0, True

    def collect(self):
        pass

    def holds(self, cid):
        return cid in self.pending

    @property
    def outstanding(self):
        return len(self.pending) - self.answered

    def alive(self):
        return self.up

    def submit(self, cid):
        if self.up:
            self.pending.append(cid)

    def take(self, cid):            # run(): the oldest sent is the one asked for
        assert self.pending[0] == cid
        self.pending.pop(0)
        self.answered = max(0, self.answered - 1)


def _tail(n=30):
    from collections import deque
    from conformance.client import SEND_AHEAD
    ids = [f"t{i}" for i in range(n)]
    lane = _Process()
    return lanes.Tail(lane, deque(ids)), lane, ids, SEND_AHEAD


def test_the_second_process_is_kept_a_few_cases_ahead_from_the_tails_front():
    tail, lane, ids, k = _tail()
    tail.feed()
    assert lane.pending == ids[:k] and list(tail.given) == ids[:k]
    tail.feed()
    assert len(lane.pending) == k, "no more while it has not answered"
    lane.answered = 3                      # three answers have arrived
    tail.feed()
    assert lane.pending == ids[:k + 3] and list(tail.waiting) == ids[k + 3:]


def test_each_case_runs_in_one_process_in_the_order_it_is_judged():
    tail, lane, ids, k = _tail()
    main = _Process()
    tail.feed()
    for nxt in tail.main_ahead():          # the rest's last cases: the first process queues the tail's front
        main.submit(nxt)
    assert main.pending == ids[k:2 * k]
    ran = {}
    for cid in ids:                        # the runner reaches the tail
        who = tail.owner(cid, main)
        if who is main:
            for nxt in tail.main_ahead():
                if not main.holds(nxt):
                    main.submit(nxt)
            if not main.holds(cid):
                main.submit(cid)
        who.take(cid)
        ran[cid] = "lane" if who is lane else "main"
        lane.answered = lane.outstanding   # it keeps up
        tail.feed()
    assert list(ran) == ids and set(ran.values()) == {"lane", "main"}
    assert not tail.waiting and not tail.given and not main.pending and not lane.pending


def test_what_a_dead_second_process_held_runs_in_a_new_one_before_it_takes_more():
    tail, lane, ids, k = _tail()
    main = _Process()
    tail.feed()
    assert tail.owner("t0", main) is lane
    lane.take("t0")
    lane.pending, lane.up = [], False      # it died on t1: closed, its queue gone
    tail.feed()
    assert list(tail.lost) == ids[1:k] and list(tail.waiting) == ids[k:], "nothing new while cases are lost"
    lane.up = True                         # run() starts a new process for the first lost one
    assert tail.owner("t1", main) is lane and list(tail.lost) == ids[2:k]
    tail.feed()
    assert not lane.pending, "still nothing new: the lost ones come first"


def test_a_first_process_that_died_is_offered_its_share_of_the_tail_again_in_order():
    tail, lane, ids, k = _tail()
    tail.feed()                            # the second process holds t0..t7
    assert tail.main_ahead() == ids[k:2 * k]
    assert tail.main_ahead() == ids[k:2 * k], "asked again, it takes no more: it holds SEND_AHEAD already"
    main = _Process()                      # the first process died and a new one holds none of them
    for cid in ids[:k]:
        assert tail.owner(cid, main) is lane
    assert tail.owner(ids[k], main) is main
    again = tail.main_ahead()
    assert again[:k - 1] == ids[k + 1:2 * k], "what it took first, in order, before anything new"
    assert again[k - 1:] == ids[2 * k:2 * k + 1]


def test_movable_cases_go_costliest_first():
    items = [_item("f", False), _item("s", True)]
    items[0].case.seconds = None
    items[1].case.seconds = None
    for cid, secs in (("a", 0.025), ("b", 0.09), ("c", 0.025)):
        it = _item(cid, False)
        it.case.seconds = secs
        items.append(it)
    assert lanes.movable(items) == ["s", "b", "a", "c"]
