"""A worker's output (its stdout and stderr), kept as a bounded tail in bounded memory.

The worker writes into a pipe; a thread of the runner drains it as it comes and keeps only the last
``keep`` bytes, counting all of them. A worker that writes gigabytes costs the runner neither memory nor
disk: what is shown of a crashed case is the tail of what it wrote (its last words), never the whole.
"""
from __future__ import annotations

import os
import select
import threading

CHUNK = 64 << 10
MAX_TAKE = 4 << 20   # read per hold of the lock
POLL = 0.5           # seconds between looks at whether the tail was closed while the pipe stays open


class LogTail:
    """The read end of a worker's output pipe, drained by a thread of its own into its last ``keep`` bytes."""

    def __init__(self, fd: int, keep: int):
        self.fd, self.keep = fd, keep
        os.set_blocking(fd, False)
        self._buf = bytearray()
        self._total = 0                 # bytes the worker has written so far
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._drain, name="conformance-log-tail", daemon=True)
        self._thread.start()

    def _take(self) -> bool:
        """Read what the pipe holds now (under the lock), at most MAX_TAKE bytes, so that a writer that never
        pauses cannot keep the runner waiting on the lock; False at end of file."""
        for _ in range(MAX_TAKE // CHUNK):
            try:
                data = os.read(self.fd, CHUNK)
            except BlockingIOError:
                return True
            except OSError:
                return False
            if not data:
                return False
            self._total += len(data)
            self._buf += data
            if len(self._buf) > 2 * self.keep:       # trimmed now and then: linear in what it writes
                del self._buf[:-self.keep]
        return True

    def _drain(self) -> None:
        while True:
            try:
                select.select([self.fd], [], [], POLL)
            except (OSError, ValueError):
                break
            with self._lock:
                if self._closed or not self._take():
                    break
        with self._lock:
            if not self._closed:
                self._closed = True
                os.close(self.fd)

    def mark(self) -> int:
        """How many bytes the worker has written so far: everything it wrote before the message the runner
        just read is counted (it was in the pipe before that message was sent)."""
        with self._lock:
            if not self._closed:
                self._take()
            return self._total

    def since(self, at: int) -> str:
        """What the worker wrote from byte ``at`` on, as far as the tail still holds it."""
        with self._lock:
            if not self._closed:
                self._take()
            held = bytes(self._buf[-self.keep:])
            start = max(at, self._total - len(held))
            return held[len(held) - (self._total - start):].decode(errors="replace") if self._total > start else ""

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                os.close(self.fd)
