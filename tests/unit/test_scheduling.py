"""pytest-xdist scheduling (conformance/scheduling.py): the first case dealt to each worker is a slow one; only
the order changes, every case is still sent once."""
from __future__ import annotations

from conformance import scheduling


class Node:
    def __init__(self):
        self.sent: list[int] = []

    def send_runtest_some(self, chunk):
        self.sent += chunk


def test_each_worker_gets_one_slow_case_first_and_every_case_once():
    from xdist.scheduler import LoadScheduling

    sched = scheduling.slow_cases_apart(two_worker_config(), None, {"slow[1]", "slow[2]"})
    assert isinstance(sched, LoadScheduling)
    sched.collection = ["t.py::fast[0]", "t.py::fast[1]", "t.py::slow[1]", "t.py::slow[2]", "t.py::fast[2]",
                        "t.py::fast[3]"]
    sched.pending = list(range(6))
    a, b = Node(), Node()
    sched.node2pending = {a: [], b: []}
    sched._send_tests(a, 2)
    sched._send_tests(b, 2)
    assert a.sent == [2, 0] and b.sent == [3, 1]
    sched._send_tests(a, 2)
    assert a.sent[2:] == [4, 5] and sched.pending == []
    assert sorted(a.sent + b.sent) == list(range(6))


def two_worker_config():
    """A pytest config as LoadScheduling reads it: two workers (``--tx 2*popen``), no --maxschedchunk."""
    from types import SimpleNamespace as NS

    values = {"tx": ["2*popen"], "maxschedchunk": None}
    return NS(getvalue=values.get, getoption=values.get)
