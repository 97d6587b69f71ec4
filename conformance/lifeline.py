"""A worker dies with its runner, also when the runner is killed with SIGKILL and no sandbox holds it.

The runner holds the write end of the worker's request pipe for as long as it lives, and closes it only
after it has killed the worker. So when that pipe hangs up while the worker still runs, the runner is
gone: a thread in the worker, blocked in ``poll`` for the hang-up alone (it never takes a request), then
kills what the worker started, removes the worker's own TMPDIR and kills the worker's process group.
Not covered without a sandbox: a target hung in C code that never releases the GIL (the thread gets no
turn); the sandbox's own die-with-parent covers that.
"""
from __future__ import annotations

import ctypes
import os
import select
import shutil
import signal
import sys
import threading

PR_SET_CHILD_SUBREAPER = 36
TMP_PREFIX = "conformance-worker-"      # the runner's per-worker TMPDIR (client.WorkerClient.spawn)


def _die() -> None:
    from . import reaper

    me = os.getpid()
    for _ in range(3):                 # what the target started (one may fork while we look)
        found = reaper.descendants(me)
        if not found:
            break
        reaper._kill(found)
    tmp = os.environ.get("TMPDIR", "")
    if os.path.basename(tmp.rstrip(os.sep)).startswith(TMP_PREFIX):
        shutil.rmtree(tmp, ignore_errors=True)
    try:
        if os.getpgrp() == me:          # a group of its own (never the runner's): all of it
            os.killpg(me, signal.SIGKILL)
    except OSError:
        pass
    os.kill(me, signal.SIGKILL)


def _watch(fd: int) -> None:
    p = select.poll()
    p.register(fd, 0)                  # no events asked for: only hang-up, error and a closed fd come back
    while True:
        try:
            events = p.poll()
        except InterruptedError:
            continue
        for _, ev in events:
            if ev & select.POLLNVAL:    # the target closed our copy: nothing left to watch
                return
            if ev & (select.POLLHUP | select.POLLERR):
                _die()


def _adopt_orphans() -> None:
    """This process adopts what its descendants orphan (a double fork), so the walk in ``_die`` finds them.
    (No PR_SET_PDEATHSIG: its SIGKILL would come before ``_die`` could kill the worker's children.)"""
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def watch(request_fd: int) -> None:
    """Die when the runner's end of ``request_fd`` closes (from a thread of a copy of the fd, so a target
    closing the original does not blind it)."""
    _adopt_orphans()
    fd = os.dup(request_fd)
    os.set_inheritable(fd, False)
    threading.Thread(target=_watch, args=(fd,), name="conformance-lifeline", daemon=True).start()
