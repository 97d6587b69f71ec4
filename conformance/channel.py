"""The worker's reply channel: framed messages whose damage is detected, never misread.

A frame is ``CF1 <length> <digest>\\n`` + a JSON payload of that many bytes + ``\\n``; the digest is
blake2b (8 bytes) of the payload. The channel is a pipe of its own (not stdout), so a target's prints
never reach it; a target that writes into it anyway (e.g. to every open fd) breaks a frame, and the
reader says so instead of taking its bytes for an answer or losing the answers behind them.

Bounds (issue 20): a frame longer than ``max_frame()`` bytes (default 32 MiB, ``$CONFORMANCE_MAX_FRAME``)
is refused from its header on; frames are read in linear time and the caller's deadline holds while bytes
arrive; values nested deeper than MAX_DEPTH are cut on both sides; an observation whose JSON is above
OBS_LIMIT bytes is kept as its digest (``oversized``) with a note.

The functions that frame and unframe are this module's own copies, taken when it is imported: the worker
imports it before its target, so a target that patches ``json`` or ``hashlib`` cannot break the framing.
"""
from __future__ import annotations

import hashlib
import json
import json.encoder
import json.scanner
import os
import re
import select
import time
from itertools import repeat
from typing import Any, Callable

MAGIC = b"CF1"
_HEADER = re.compile(rb"CF1 (\d{1,12}) ([0-9a-f]{16})\Z")
DEFAULT_MAX_FRAME = 32 << 20   # 300x the largest oracle observation in the catalog
MAX_FRAME_ENV = "CONFORMANCE_MAX_FRAME"
OBS_LIMIT = 4 << 20            # an observation's JSON above this is kept as its digest
MAX_DEPTH = 100                # nesting levels kept in a message; deeper values are cut with a note
POLL = 0.5                     # seconds between looks at whether the process is still alive while waiting
TICK = 0.05                    # seconds between calls of a read's ``while_waiting`` (a second process's top-up)
CUT = "<nested deeper than {} levels: cut here>"
_CONTAINERS = (dict, list)     # what decoded JSON nests in

# Our own copies (see the module's docstring).
_blake2b = hashlib.blake2b
_sha256 = hashlib.sha256
_os_write, _os_read = os.write, os.read
_select = select.select
_monotonic = time.monotonic


def _no_default(o: Any) -> Any:
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


if json.encoder.c_make_encoder is not None and json.scanner.c_make_scanner is not None:
    _c_encode = json.encoder.c_make_encoder(None, _no_default, json.encoder.c_encode_basestring_ascii, None,
                                            ": ", ", ", True, False, True)

    def _encode(obj: Any) -> str:
        return "".join(_c_encode(obj, 0))

    _scan = json.scanner.c_make_scanner(json.JSONDecoder())
else:        # no C accelerator: an instance made now still beats json.dumps looked up at call time
    _encode = json.JSONEncoder(sort_keys=True, default=_no_default).encode
    _scan = json.scanner.py_make_scanner(json.JSONDecoder())


class ChannelDamage(Exception):
    """Bytes on the channel that are not a whole, intact frame."""


class FrameTooLarge(ChannelDamage):
    """A frame header announcing more bytes than the reader takes."""


def max_frame() -> int:
    """The frame limit: ``$CONFORMANCE_MAX_FRAME`` (bytes, or with a K, M or G suffix), else the default.
    ValueError with one line when it is not a positive size."""
    text = os.environ.get(MAX_FRAME_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_FRAME
    m = re.fullmatch(r"(\d+)\s*([KkMmGg]?)i?[Bb]?", text)
    value = int(m.group(1)) << {"": 0, "k": 10, "m": 20, "g": 30}[m.group(2).lower()] if m else 0
    if value < 1024:
        raise ValueError(f"${MAX_FRAME_ENV}={text!r} is not a size of at least 1K (e.g. 64M); unset it for the "
                         f"default of {DEFAULT_MAX_FRAME >> 20}M")
    return value


def encode(obj: Any) -> str:
    """JSON (sorted keys, ASCII) with this module's own encoder; deeper values than MAX_DEPTH are cut."""
    try:
        return _encode(obj)
    except (RecursionError, ValueError):     # too deep for the encoder (or a cycle): cut, then encode
        return _encode(bounded(obj))


def decode(text: str | bytes) -> Any:
    """JSON with this module's own scanner; ValueError when it is not one JSON value."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "surrogateescape")
    try:
        obj, end = _scan(text, 0)
    except StopIteration:
        raise ValueError("not JSON") from None
    if text[end:].strip():
        raise ValueError(f"extra data at {end}")
    return obj


def _digest(payload: bytes) -> str:
    return _blake2b(payload, digest_size=8).hexdigest()


def frame(msg: dict[str, Any]) -> bytes:
    payload = encode(msg).encode()
    return b"%s %d %s\n" % (MAGIC, len(payload), _digest(payload).encode()) + payload + b"\n"


def write(fd: int, msg: dict[str, Any]) -> None:
    data = memoryview(frame(msg))
    while data:
        data = data[_os_write(fd, data):]


def bounded(value: Any, depth: int = MAX_DEPTH) -> Any:
    """``value`` with every dict or list deeper than ``depth`` levels replaced by a note (no recursion: any
    depth is walked); a value seen twice on one path (a cycle) is cut too."""
    def shell(v: Any) -> Any:
        return {} if isinstance(v, dict) else []

    if not isinstance(value, (dict, list, tuple)):
        return value
    top = shell(value)
    todo = [(value, top, 1, frozenset())]
    while todo:
        src, dst, level, path = todo.pop()
        path = path | {id(src)}
        items = src.items() if isinstance(src, dict) else enumerate(src)
        for k, v in items:
            if isinstance(v, (dict, list, tuple)):
                if level >= depth or id(v) in path:
                    v2: Any = CUT.format(depth)
                else:
                    v2 = shell(v)
                    todo.append((v, v2, level + 1, path))
            else:
                v2 = v
            if isinstance(dst, dict):
                dst[k] = v2
            else:
                dst.append(v2)
    return top


def _deep(payload: bytes | bytearray, depth: int) -> bool:
    """Whether ``payload`` may nest deeper than ``depth`` (a cheap upper bound: brackets counted)."""
    return payload.count(b"[") + payload.count(b"{") > depth


def _deeper(value: Any, depth: int) -> bool:
    """Whether decoded JSON ``value`` holds a dict or list deeper than ``depth`` levels (what ``bounded`` would
    cut; decoded JSON has no cycles). Walked level by level without a copy: ``bounded`` copies every value,
    ~0.07 s of the runner's ~3 s for the frames ``_deep`` cannot rule out, nearly all of them shallow."""
    level, n = ([value] if isinstance(value, _CONTAINERS) else []), 1
    while level:
        if n > depth:
            return True
        below: list[Any] = []
        for v in level:
            items = v.values() if isinstance(v, dict) else v
            if any(map(isinstance, items, repeat(_CONTAINERS))):
                below += [x for x in items if isinstance(x, _CONTAINERS)]
        level, n = below, n + 1
    return False


def digest_note(obs_json: bytes, limit: int = OBS_LIMIT) -> dict[str, Any]:
    """What an observation above ``limit`` bytes is kept as: compared by its digest, shown with a note."""
    return {"oversized": {"bytes": len(obs_json), "sha256": _sha256(obs_json).hexdigest()},
            "display": {"note": f"the observation was {len(obs_json)} bytes of JSON, above the {limit}-byte "
                                "limit: kept as its sha256 (equal answers still compare equal)"}}


def bound_observation(obs: Any, limit: int = OBS_LIMIT) -> Any:
    """``obs`` itself, or its digest and a note when its JSON is above ``limit`` bytes."""
    if not isinstance(obs, dict):
        return obs
    text = encode(obs).encode()
    return obs if len(text) <= limit else digest_note(text, limit)


class Reader:
    """Reads frames from ``fd``. ``read`` returns a message, or None on timeout or end of file (``eof``
    says which); ``alive()`` is asked while waiting, so a writer that died while a child of it still
    holds the pipe open is noticed (as end of file) within POLL seconds."""

    def __init__(self, fd: int, alive: Callable[[], bool] = lambda: True, limit: int | None = None):
        self.fd = fd
        self.alive = alive
        self.limit = max_frame() if limit is None else limit
        self.buf = bytearray()
        self.pos = 0               # where the unread part of buf starts
        self._want: tuple[int, int, bytes] | None = None   # (payload start, end, digest): header read
        self.eof = False

    def read(self, timeout: float, while_waiting: Callable[[], None] | None = None) -> dict[str, Any] | None:
        """``while_waiting``: called every TICK seconds while nothing has arrived (the runner's other work that
        must not wait for this answer)."""
        self.eof = False
        deadline = _monotonic() + timeout
        last_look = False
        wait = POLL if while_waiting is None else TICK
        while True:
            msg = self._take()
            if msg is not None:
                return msg
            if last_look:             # the deadline holds also while bytes keep arriving
                return None
            left = deadline - _monotonic()
            last_look = left <= 0     # past it: one more read of what has arrived, then no more
            ready, _, _ = _select([self.fd], [], [], max(0.0, min(left, wait)))
            if not ready:
                if while_waiting is not None:
                    while_waiting()
                if not self.alive():
                    self.eof = True
                    return None
                if last_look:
                    return None
                continue
            size = 1 << 16
            if self._want is not None:       # the rest of a frame whose length is known: big reads
                size = max(size, min(self._want[1] + 1 - len(self.buf), 1 << 24))
            chunk = _os_read(self.fd, size)
            if not chunk:
                self.eof = True
                return None
            self.buf += chunk

    def _take(self) -> dict[str, Any] | None:
        """One whole frame from the buffer (None: not all of it has arrived); ChannelDamage if broken."""
        buf, pos = self.buf, self.pos
        if len(buf) == pos:
            return None
        if self._want is None:
            head = bytes(buf[pos:pos + 64])
            if not MAGIC.startswith(head[:3]):
                raise ChannelDamage(f"expected a frame, got {head[:60]!r}")
            nl = head.find(b"\n")
            if nl < 0:
                if len(head) >= 64:
                    raise ChannelDamage(f"frame header too long: {head[:60]!r}")
                return None
            m = _HEADER.match(head[:nl])
            if m is None:
                raise ChannelDamage(f"broken frame header {head[:nl][:60]!r}")
            if int(m.group(1)) > self.limit:
                raise FrameTooLarge(f"an answer of {int(m.group(1))} bytes, above the frame limit of {self.limit} "
                                    f"bytes (${MAX_FRAME_ENV} sets it)")
            self._want = (pos + nl + 1, pos + nl + 1 + int(m.group(1)), m.group(2))
        start, end, digest = self._want
        if len(buf) < end + 1:
            return None
        payload = memoryview(buf)[start:end]
        try:
            if buf[end] != 0x0A or _digest(payload).encode() != digest:
                raise ChannelDamage(f"a frame of {len(payload)} bytes does not match its checksum: "
                                    f"{bytes(payload[:60])!r}...")
            raw = bytes(payload)
        finally:
            payload.release()
        self._want = None
        self.pos = end + 1
        if self.pos > (1 << 20) and self.pos * 2 > len(buf):     # drop what was read, now and then
            del buf[:self.pos]
            self.pos = 0
        elif self.pos == len(buf):
            buf.clear()
            self.pos = 0
        try:
            msg = decode(raw)
        except RecursionError:        # intact frame, too deep to decode: the answer is unusable, the channel fine
            return {"too_deep": True, "bytes": len(raw)}
        except ValueError as e:       # intact frame, bad JSON: the writer's bug, still damage
            raise ChannelDamage(f"frame is not JSON ({e})") from None
        if _deep(raw, MAX_DEPTH) and _deeper(msg, MAX_DEPTH):
            msg = bounded(msg)
        if isinstance(msg, dict) and len(raw) > OBS_LIMIT and isinstance(msg.get("obs"), dict):
            msg["obs"] = bound_observation(msg["obs"])
        return msg
