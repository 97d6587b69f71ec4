"""Reading a worker's replies ahead, on a thread of the runner, for a process whose answers are judged later.

The second target process's answers (conformance/lanes.py) are judged after the first process's other cases.
Read only then, they filled the 64 KiB reply pipe after a few cases and the process sat blocked in ``write`` for
the rest of the first process's run, its cases no longer overlapping anything (2.5 s of a 4 s case loop on
mindtorch_v2, when it was sent all of its cases at once). This reader takes whatever arrives as soon as it
arrives, up to ``CAP`` bytes not yet asked for (then the pipe holds the writer back again, so a target that
floods its channel costs the runner at most that much memory); frames are still parsed, checked and bounded by
``channel.Reader``, when they are asked for (``WorkerClient.collect`` asks between cases).
"""
from __future__ import annotations

import os
import select
import threading
import time
from typing import Callable

from . import channel

CAP = 64 << 20          # bytes read ahead and not yet asked for
GRACE = 0.05            # seconds to let the thread hand over what a writer wrote just before it died


class DrainingReader(channel.Reader):
    def __init__(self, fd: int, alive: Callable[[], bool] = lambda: True, limit: int | None = None,
                 cap: int = CAP):
        super().__init__(fd, alive, limit)
        self.cap = cap
        self._cv = threading.Condition()
        self._inbox = bytearray()
        self._closed = False          # the pump saw end of file (or an error reading)
        self._stop = False
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._pump, name="conformance-reply-drain", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        try:
            while True:
                with self._cv:
                    while len(self._inbox) >= self.cap and not self._stop:
                        self._cv.wait()
                    if self._stop:
                        return
                ready, _, _ = select.select([self.fd, self._wake_r], [], [])
                if self._wake_r in ready:
                    return
                chunk = os.read(self.fd, 1 << 20)
                with self._cv:
                    if chunk:
                        self._inbox += chunk
                    else:
                        self._closed = True
                    self._cv.notify_all()
                if not chunk:
                    return
        except (OSError, ValueError):
            with self._cv:
                self._closed = True
                self._cv.notify_all()

    def read(self, timeout: float, while_waiting: Callable[[], None] | None = None):
        self.eof = False
        deadline = time.monotonic() + timeout
        graced = False
        while True:
            msg = self._take()
            if msg is not None:
                return msg
            with self._cv:
                if not self._inbox and not self._closed:
                    wait = GRACE if graced else channel.POLL if while_waiting is None else channel.TICK
                    self._cv.wait(max(0.0, min(deadline - time.monotonic(), wait)))
                got, closed = bool(self._inbox), self._closed
                if got:
                    self.buf += self._inbox
                    self._inbox.clear()
                    self._cv.notify_all()
            if got:
                continue
            if closed:
                self.eof = True
                return None
            if while_waiting is not None:
                while_waiting()
            if not self.alive():
                if graced:             # dead, and nothing came after it: a child may still hold the pipe open
                    self.eof = True
                    return None
                graced = True
                continue
            if time.monotonic() >= deadline:
                return None

    def stop(self) -> None:
        """End the thread before the fd is closed (a closed fd's number is soon another file's)."""
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass
        self._thread.join()
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)
