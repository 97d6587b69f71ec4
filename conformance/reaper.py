"""No process left behind: what a target starts is killed with its worker.

The runner becomes a child subreaper (Linux ``prctl(PR_SET_CHILD_SUBREAPER)``): a process whose
parent dies is handed to the runner instead of init, including children that started a session of
their own. When a worker is closed, its whole tree is killed while it can still be walked; what
was orphaned earlier (the worker crashed) is now the runner's child, carries the runner's marker
in its environment, and is killed and reaped by ``sweep``. Elsewhere (not Linux) only the
worker's process group is killed.
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_CHILD_SUBREAPER = 36
MARK = "CONFORMANCE_RUNNER"      # set to the runner's pid in every worker; its children inherit it

_state = {"subreaper": False, "sweep_all": False}


def become_subreaper(sweep_all: bool) -> bool:
    """Make this process the subreaper of its descendants. ``sweep_all``: every child of this process
    that is not a live worker is an orphan to kill (true unless it also has other children, like an
    xdist controller's workers); otherwise only children carrying the marker are."""
    _state["sweep_all"] = sweep_all
    if not sys.platform.startswith("linux") or _state["subreaper"]:
        return _state["subreaper"]
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        _state["subreaper"] = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        pass
    return _state["subreaper"]


def mark() -> dict[str, str]:
    return {MARK: str(os.getpid())}


def _table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state) of every process we can see (Linux /proc; empty elsewhere)."""
    out = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return out
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        out[int(name)] = (int(fields[1]), fields[0].decode())
    return out


def descendants(pid: int, table: dict[int, tuple[int, str]] | None = None) -> list[int]:
    table = _table() if table is None else table
    kids: dict[int, list[int]] = {}
    for p, (pp, _) in table.items():
        kids.setdefault(pp, []).append(p)
    out, todo = [], [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def _kill(pids) -> None:
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid``'s descendants (a few passes: one may fork while we look), then ``pid``'s group."""
    for _ in range(3):
        found = descendants(pid)
        if not found:
            break
        _kill(found)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _marked(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = f.read().split(b"\0")
    except OSError:
        return False
    return f"{MARK}={os.getpid()}".encode() in env


def sweep(keep: set[int], _depth: int = 0) -> int:
    """Kill and reap this process's orphaned children (not in ``keep``) and their trees; how many."""
    if not _state["subreaper"] or _depth > 5:
        return 0
    me = os.getpid()
    table = _table()
    orphans = [p for p, (pp, state) in table.items() if pp == me and p not in keep
               and (_state["sweep_all"] or (state != "Z" and _marked(p)))]
    for p in orphans:
        _kill(descendants(p, table))
        _kill([p])
    for p in orphans:
        try:
            os.waitpid(p, 0)
        except ChildProcessError:
            pass
    if orphans:       # what they had started was handed to us as they died: once more
        sweep(keep, _depth + 1)
    return len(orphans)
