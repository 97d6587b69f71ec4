"""Digests of what a recorded torch call was given and returned: short, backend-neutral strings.

- a tensor: ``T dtype shape stride offset crc`` (its bytes read through the kit's validated routes), and for
  a result how it relates to the call's inputs: ``=a0`` (the very object), ``~a1`` (shares its memory);
- a storage: ``S nbytes crc``;
- dtypes, devices and layouts by their string (a dtype also where ``torch.dtype`` is no class: one of the
  ``torch.<name>`` dtype constants); Python scalars, strings, bytes and tuples by value (long ones by length
  and crc); other objects by their class name;
- ``torch.__version__`` as safetensors reads it: the loading path it selects (``conformance/loading_path.py``),
  so a backend's own version number is no divergence where the path is the oracle's (the kit runs the
  oracle at a version of that path);
- pointers never: a ``*_ptr`` result is its offset from the receiver's storage (``ptr+16``), or ``ptr``.

A field the kit cannot read is ``?`` (``conformance/divergence.py`` lets it match anything): what the
kit cannot see is no evidence. Everything here runs with the recorder paused.
"""
from __future__ import annotations

import os
import zlib
from typing import Any

import numpy as np

from . import loading_path, shapes

UNINITIALIZED = frozenset({"torch.empty", "torch.empty_like", "torch.empty_strided", "Tensor.new_empty",
                           "Tensor.new_empty_strided", "torch.UntypedStorage", "Tensor.resize_"})
MAX_ITEMS = 16      # longer sequences are digested by length and crc of their items' digests
MAX_STR = 64
UNKNOWN = "?"
VERSION = "torch.__version__"


def _crc(data: bytes) -> str:
    return f"{zlib.crc32(data):08x}"


class Digest:
    """Digests in one process, for its ``torch`` (whatever module that is)."""

    def __init__(self, ctx: Any):
        self.ctx = ctx
        torch = ctx.torch
        self.torch = torch
        self.tensor_cls = self._cls("Tensor")
        self.storage_cls = tuple(c for c in (self._cls("UntypedStorage"), self._cls("TypedStorage")) if c)
        self.simple = tuple((c, p) for c, p in ((self._cls("dtype"), "dt"), (self._cls("device"), "dev"),
                                                 (self._cls("layout"), "lay"), (self._cls("Size"), "Z")) if c)
        self.dtype_by_value = self._cls("dtype") is None    # dtypes known only as the torch.<name> constants
        self.memo: dict[int, tuple[Any, str]] = {}     # id -> (object, digest) until something may write
        self.dtype_names: dict[int, tuple[Any, str]] = {}
        nn = getattr(torch, "nn", None)
        self.module_cls = getattr(nn, "Module", None) if nn is not None else None
        if not isinstance(self.module_cls, type):
            self.module_cls = None

    def _cls(self, name: str) -> type | None:
        c = getattr(self.torch, name, None)
        return c if isinstance(c, type) else None

    # -- what a call was given and returned ----------------------------------------------------------
    def forget(self) -> None:
        """Something may have written into a tensor or storage: digest everything afresh."""
        self.memo.clear()

    def dtype_name(self, dt: Any) -> str:
        hit = self.dtype_names.get(id(dt))
        if hit is not None and hit[0] is dt:
            return hit[1]
        name = self.ctx.dtype_name(dt)
        self.dtype_names[id(dt)] = (dt, name)
        return name

    def given(self, args: tuple, kwargs: dict) -> str:
        out = [self.value(a) for a in args]
        out += [f"{k}={self.value(kwargs[k])}" for k in sorted(kwargs)]
        return ", ".join(out)

    def result(self, value: Any, api: str, args: tuple) -> str:
        if api == VERSION and isinstance(value, str):
            return "version:" + str(loading_path.decide(value)["path"] or "unparsable")
        if isinstance(value, int) and not isinstance(value, bool) and "ptr" in api.rsplit(".", 1)[-1]:
            return self._pointer(value, args)
        d = self.value(value, api)
        if self.tensor_cls is not None and isinstance(value, self.tensor_cls) and args:
            rel = self._relation(value, args)
            if rel:
                d += " " + rel
        return d

    # -- values --------------------------------------------------------------------------------------
    def value(self, v: Any, api: str = "", depth: int = 0) -> str:
        if v is None or isinstance(v, bool):
            return repr(v)
        if isinstance(v, int):
            return str(int(v))
        if isinstance(v, float):
            return float(v).hex()
        if isinstance(v, str):      # torch.__version__ (a str subclass) by its value, as safetensors reads it
            s = str(v)
            if s.startswith("/") and os.path.isabs(s):      # a case's own temp file: its name, not its folder
                return f"path:{os.path.basename(s)}"
            return repr(s) if len(s) <= MAX_STR else f"str{len(s)}#{_crc(s.encode('utf-8', 'replace'))}"
        if isinstance(v, (bytes, bytearray, memoryview)):
            b = bytes(v)
            return f"B{len(b)}#{_crc(b)}"
        tc = self.tensor_cls
        if tc is not None and isinstance(v, tc):
            hit = self.memo.get(id(v))
            if hit is not None and hit[0] is v and api not in UNINITIALIZED:
                return hit[1]
            d = self.tensor(v, api)
            self.memo[id(v)] = (v, d)
            return d
        if self.storage_cls and isinstance(v, self.storage_cls):
            hit = self.memo.get(id(v))
            if hit is not None and hit[0] is v:
                return hit[1]
            d = self.storage(v)
            self.memo[id(v)] = (v, d)
            return d
        for cls, prefix in self.simple:
            if isinstance(v, cls):
                if prefix == "Z":
                    return "Z" + self._seq([int(x) for x in v], "[", "]", depth)
                if prefix == "dt":
                    return "dt:" + self.dtype_name(v)
                return f"{prefix}:{v}"
        if isinstance(v, (tuple, list)):
            return type(v).__name__[0] + self._seq(v, "(" if isinstance(v, tuple) else "[",
                                                     ")" if isinstance(v, tuple) else "]", depth)
        if isinstance(v, dict):
            if depth > 2:
                return f"dict{len(v)}"
            items = sorted((self.value(k, "", depth + 1), self.value(x, "", depth + 1)) for k, x in v.items())
            return self._join([f"{k}: {x}" for k, x in items], "{", "}")
        if isinstance(v, slice):
            return f"slice({self.value(v.start)}, {self.value(v.stop)}, {self.value(v.step)})"
        if v is Ellipsis:
            return "..."
        if isinstance(v, np.ndarray):
            try:
                return f"np {v.dtype.str} {list(v.shape)} #{_crc(np.ascontiguousarray(v).tobytes())}"
            except Exception:
                return f"np {v.dtype.str} {list(v.shape)}"
        if isinstance(v, BaseException):
            return f"exc {type(v).__name__}"
        if self.dtype_by_value and shapes.is_dtype(self.torch, v):     # torch.dtype a function, or absent
            return "dt:" + self._field(lambda: self.dtype_name(v))
        kind = type(v).__name__     # a device or layout of a class torch no longer names (torch.device a function)
        if kind in ("device", "layout"):
            return f"{'dev' if kind == 'device' else 'lay'}:{self._field(lambda: str(v))}"
        if kind == "dtype":
            return "dt:" + self._field(lambda: self.dtype_name(v))
        if self.module_cls is not None and isinstance(v, self.module_cls):
            return f"module {type(v).__qualname__} training={self._field(lambda: bool(v.training))}"
        return f"o {type(v).__qualname__}"

    def _seq(self, items: Any, open_: str, close: str, depth: int) -> str:
        if depth > 2:
            return f"{open_}{len(items)}{close}"
        parts = [self.value(x, "", depth + 1) for x in items]
        return self._join(parts, open_, close)

    @staticmethod
    def _join(parts: list[str], open_: str, close: str) -> str:
        if len(parts) > MAX_ITEMS:
            return f"{open_}{len(parts)} items #{_crc(chr(0).join(parts).encode('utf-8', 'replace'))}{close}"
        return open_ + ", ".join(parts) + close

    @staticmethod
    def _field(read) -> str:
        try:
            return str(read())
        except Exception:
            return UNKNOWN

    def tensor(self, t: Any, api: str = "") -> str:
        ctx, f = self.ctx, self._field
        dtype = f(lambda: self.dtype_name(t.dtype))
        shape = f(lambda: [int(s) for s in t.shape])
        stride = f(lambda: [int(s) for s in t.stride()])
        offset = f(lambda: int(t.storage_offset()))
        if api in UNINITIALIZED:       # its bytes are whatever the memory held
            data = "-"
        else:
            try:
                data = _crc(ctx._raw_bytes(t))
            except Exception:
                data = UNKNOWN
        return f"T {dtype} {shape} {stride} {offset} {data}".replace(", ", ",")

    def storage(self, s: Any) -> str:
        """``S nbytes crc``, the size taken from the bytes read: a digest must not lean on the storage's own
        ``nbytes()``, or a wrong nbytes would show as a wrong result of every call that returns a storage."""
        raw = self._storage_bytes(s)
        if raw is None:
            return f"S {self._field(lambda: int(s.nbytes()))} {UNKNOWN}"
        return f"S {len(raw)} {_crc(raw)}"

    def _storage_bytes(self, s: Any) -> bytes | None:
        torch = self.torch
        try:
            if hasattr(s, "untyped"):
                s = s.untyped()
            t = torch.empty(0, dtype=torch.uint8).set_(s)
            return self.ctx._raw_bytes(t) if int(t.numel()) else b""
        except Exception:
            pass
        try:
            return bytes(s.tolist())
        except Exception:
            return None

    # -- relations, never addresses ------------------------------------------------------------------
    def _pointer(self, value: int, args: tuple) -> str:
        if value == 0:
            return "ptr0"
        recv = args[0] if args else None
        if self.tensor_cls is not None and isinstance(recv, self.tensor_cls):
            try:
                return f"ptr+{value - int(recv.untyped_storage().data_ptr())}"
            except Exception:
                return "ptr"
        return "ptr"

    def _relation(self, t: Any, args: tuple) -> str:
        """How result ``t`` relates to the call's inputs: the same object, or memory shared with one."""
        for i, a in enumerate(args):
            if a is t:
                return f"=a{i}"
        span = None
        for i, a in enumerate(args):
            if isinstance(a, (bool, int, float, str, type(None))):
                continue
            if span is None:
                span = _span(t, self.tensor_cls)
                if span is None:
                    return ""
            other = _span(a, self.tensor_cls)
            if other is not None and other[0] < span[1] and span[0] < other[1]:
                return f"~a{i}"
        return ""


def _span(v: Any, tensor_cls: type | None) -> tuple[int, int] | None:
    """[start, end) of the memory ``v`` holds: a tensor's storage, a buffer's bytes; None when unknown."""
    try:
        if tensor_cls is not None and isinstance(v, tensor_cls):
            try:
                s = v.untyped_storage()
                start = int(s.data_ptr())
                return start, start + int(s.nbytes())
            except Exception:
                start = int(v.data_ptr())
                return start, start + int(v.numel()) * int(v.element_size())
        if isinstance(v, np.ndarray):
            base = v
            while isinstance(base.base, np.ndarray):
                base = base.base
            start = int(base.__array_interface__["data"][0])
            return start, start + int(base.nbytes)
        if not isinstance(v, (list, tuple, dict)):      # any buffer: bytes, bytearray, mmap, memoryview
            a = np.frombuffer(v, dtype=np.uint8)
            start = int(a.__array_interface__["data"][0]) if a.size else 0
            return start, start + int(a.size)
    except Exception:
        return None
    return None
