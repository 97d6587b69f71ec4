"""The worker's reply channel: framed messages whose damage is detected, never misread.

A frame is ``CF1 <length> <digest>\\n`` + a JSON payload of that many bytes + ``\\n``; the digest is
blake2b (8 bytes) of the payload. The channel is a pipe of its own (not stdout), so a target's prints
never reach it; a target that writes into it anyway (e.g. to every open fd) breaks a frame, and the
reader says so instead of taking its bytes for an answer or losing the answers behind them.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import select
import time
from typing import Any, Callable

MAGIC = b"CF1"
_HEADER = re.compile(rb"CF1 (\d{1,10}) ([0-9a-f]{16})\Z")
MAX_FRAME = 1 << 30          # a length beyond this is damage, not a message
POLL = 0.5                   # seconds between looks at whether the process is still alive while waiting


class ChannelDamage(Exception):
    """Bytes on the channel that are not a whole, intact frame."""


def _digest(payload: bytes) -> str:
    return hashlib.blake2b(payload, digest_size=8).hexdigest()


def frame(msg: dict[str, Any]) -> bytes:
    payload = json.dumps(msg, sort_keys=True).encode()
    return b"%s %d %s\n" % (MAGIC, len(payload), _digest(payload).encode()) + payload + b"\n"


def write(fd: int, msg: dict[str, Any]) -> None:
    data = frame(msg)
    while data:
        data = data[os.write(fd, data):]


class Reader:
    """Reads frames from ``fd``. ``read`` returns a message, or None on timeout or end of file (``eof``
    says which); ``alive()`` is asked while waiting, so a writer that died while a child of it still
    holds the pipe open is noticed (as end of file) within POLL seconds."""

    def __init__(self, fd: int, alive: Callable[[], bool] = lambda: True):
        self.fd = fd
        self.alive = alive
        self.buf = b""
        self.eof = False

    def read(self, timeout: float) -> dict[str, Any] | None:
        self.eof = False
        deadline = time.monotonic() + timeout
        while True:
            msg = self._take()
            if msg is not None:
                return msg
            left = max(0.0, deadline - time.monotonic())   # past the deadline: still take what has arrived
            ready, _, _ = select.select([self.fd], [], [], min(left, POLL))
            if not ready:
                if not self.alive():
                    self.eof = True
                    return None
                if left <= POLL:
                    return None
                continue
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                self.eof = True
                return None
            self.buf += chunk

    def _take(self) -> dict[str, Any] | None:
        """One whole frame from the buffer (None: not all of it has arrived); ChannelDamage if broken."""
        buf = self.buf
        if not buf:
            return None
        if not MAGIC.startswith(buf[:3]):
            raise ChannelDamage(f"expected a frame, got {buf[:60]!r}")
        nl = buf.find(b"\n", 0, 64)
        if nl < 0:
            if len(buf) >= 64:
                raise ChannelDamage(f"frame header too long: {buf[:60]!r}")
            return None
        m = _HEADER.match(buf[:nl])
        if m is None or int(m.group(1)) > MAX_FRAME:
            raise ChannelDamage(f"broken frame header {buf[:nl][:60]!r}")
        end = nl + 1 + int(m.group(1))
        if len(buf) < end + 1:
            return None
        payload = buf[nl + 1:end]
        if buf[end:end + 1] != b"\n" or _digest(payload).encode() != m.group(2):
            raise ChannelDamage(f"a frame of {len(payload)} bytes does not match its checksum: "
                                f"{payload[:60]!r}...")
        self.buf = buf[end + 1:]
        try:
            return json.loads(payload)
        except ValueError as e:       # intact frame, bad JSON: the writer's bug, still damage
            raise ChannelDamage(f"frame is not JSON ({e})") from None
