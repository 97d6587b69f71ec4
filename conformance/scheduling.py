"""pytest-xdist: load scheduling that deals the catalog's slow cases one per worker first.

Slow cases (``@case(slow=True)``: each starts a Python of its own and takes seconds) sit next to each
other in the catalog, so plain load scheduling hands them all to one worker, which then runs them one
after another while the other idles. Only the order changes; every case still runs once.
"""
from __future__ import annotations

from typing import Any


def slow_cases_apart(config: Any, log: Any, slow: set[str]) -> Any:
    """xdist's LoadScheduling whose first case per worker is a slow one, or None (plain scheduling) when
    xdist's internals are not the ones this reorders (its pending list and _send_tests, xdist 3.x)."""
    from xdist.scheduler import LoadScheduling

    if not callable(getattr(LoadScheduling, "_send_tests", None)):
        return None

    class SlowCasesApart(LoadScheduling):
        def _send_tests(self, node, num: int) -> None:
            collection = getattr(self, "collection", None) or []
            pending = getattr(self, "pending", [])
            # a node id is "<file>::<case id>", and a case id may itself hold "::"
            first = [i for i in pending if collection[i].split("::", 1)[-1] in slow][:1]
            if not first or not hasattr(self, "node2pending") or not hasattr(node, "send_runtest_some"):
                return super()._send_tests(node, num)
            pending.remove(first[0])
            chunk = first + pending[:num - 1]
            del pending[:num - 1]
            self.node2pending[node].extend(chunk)
            node.send_runtest_some(chunk)

    return SlowCasesApart(config, log)
