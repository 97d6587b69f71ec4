"""Digests of what a recorded torch call was given and returned: short, backend-neutral strings.

- a tensor: ``T dtype shape stride offset crc`` (its bytes read through the kit's validated routes; none for
  uninitialized memory and random samples), and for a result how it relates to the call's inputs: ``=a0``
  (the very object), ``~a1`` (shares its memory);
- a storage: ``S nbytes crc``, and for a result ``~a0`` where it is the memory of the tensor it came from
  (``untyped_storage()`` aliases, a copy does not);
- a dict, list or tuple of tensors as a result: for each input, how many of them share its memory
  (``~a0:3``: a state_dict's values are its module's parameters, not copies);
- a class as ``class`` (a module attribute read: ``torch.device`` a class or, diverging, a function);
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
# Random sampling: its bytes are whatever the generator's state gave, and that state depends on what ran before
# in the process (cases share one), so they are no evidence; as for UNINITIALIZED, everything else of it is.
RANDOM = frozenset({f"Tensor.{n}" for n in ("uniform_", "normal_", "random_", "bernoulli_", "exponential_",
                                           "geometric_", "cauchy_", "log_normal_", "bernoulli")}
                   | {f"torch.{n}" for n in ("rand", "randn", "randint", "randperm", "rand_like", "randn_like",
                                            "randint_like", "normal", "bernoulli", "multinomial", "poisson")}
                   | {f"torch.nn.functional.{n}" for n in ("dropout", "dropout1d", "dropout2d", "dropout3d",
                                                          "alpha_dropout", "feature_alpha_dropout")})
NO_BYTES = UNINITIALIZED | RANDOM
MAX_ITEMS = 16      # longer sequences are digested by length and crc of their items' digests
MAX_STR = 64
UNKNOWN = "?"
UNKNOWN_RELATION = "~?"       # a result's memory relation to its inputs could not be read (divergence._fits)
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
        self.stable: bool | None = None     # does one tensor's untyped_storage() give the same memory each call
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
        if args and (isinstance(value, (list, tuple, dict)) or self._holds_memory(value)):
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
            if hit is not None and hit[0] is v and api not in NO_BYTES:
                return hit[1]
            d = self.tensor(v, api)
            if api not in NO_BYTES:     # a random sample's digest without its bytes is no digest of it as an input
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
        if isinstance(v, type):     # a class, whatever its metaclass (a backend's own is no divergence)
            return "class"
        if self.dtype_by_value and shapes.is_dtype(self.torch, v):     # torch.dtype a function, or absent
            return "dt:" + self._field(lambda: self.dtype_name(v))
        kind = type(v).__name__     # a device or layout of a class torch no longer names (torch.device a function)
        if kind in ("device", "layout"):
            return f"{'dev' if kind == 'device' else 'lay'}:{self._field(lambda: str(v))}"
        if kind == "dtype":
            return "dt:" + self._field(lambda: self.dtype_name(v))
        if self.module_cls is not None and isinstance(v, self.module_cls):
            hit = self.memo.get(id(v))
            if hit is not None and hit[0] is v:
                return hit[1]
            d = f"module {type(v).__qualname__} training={self._field(lambda: bool(v.training))} {self._module_state(v)}"
            self.memo[id(v)] = (v, d)
            return d
        return f"o {type(v).__qualname__}"

    def _module_state(self, m: Any) -> str:
        """A module's tensors as one field: how many, and the crc of their names and digests (two modules of one
        class with other weights, a random init's, are other inputs). Read from the modules' own registries
        (``_parameters``, ``_buffers``, ``_modules``), not through the methods a backend may get wrong; ``?``
        where it has none."""
        parts: list[str] = []
        stack = [("", m)]
        seen: set[int] = set()
        while stack and len(parts) <= MAX_RELATED:
            prefix, mod = stack.pop()
            if id(mod) in seen:
                continue
            seen.add(id(mod))
            own = [getattr(mod, "_parameters", None), getattr(mod, "_buffers", None)]
            subs = getattr(mod, "_modules", None)
            if not all(isinstance(x, dict) for x in (*own, subs)):
                return UNKNOWN
            for reg in own:
                for k, t in reg.items():
                    parts.append(f"{prefix}{k}={'None' if t is None else self.value(t)}")
            stack += [(f"{prefix}{k}.", sub) for k, sub in reversed(list(subs.items())) if sub is not None]
        if len(parts) > MAX_RELATED:
            return UNKNOWN
        return f"p{len(parts)}#{_crc(chr(0).join(parts).encode('utf-8', 'replace'))}"

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
        if api in NO_BYTES:       # its bytes are whatever the memory or the random generator held
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
            if not self._storages_stable():     # no storage to measure from (each call gives a copy): unseen
                return UNKNOWN
            try:
                return f"ptr+{value - int(recv.untyped_storage().data_ptr())}"
            except Exception:
                return "ptr"
        return "ptr"

    def _relation(self, v: Any, args: tuple) -> str:
        """How result ``v`` relates to the call's inputs: the same object (``=a0``), memory shared with one
        (``~a1``: a tensor or storage); for a dict, list or tuple of tensors, how many of them share memory
        with each input (``~a0:3``: a state_dict's values and the module's parameters)."""
        for i, a in enumerate(args):
            if a is v:
                return f"=a{i}"
        keep: list[Any] = []    # storages read for their spans stay alive: a freed one's address is reused
        items = self._tensor_items(v)
        if items is None:
            mine = self._spans(v, keep)
            holders = [a for a in args if not isinstance(a, _SCALARS) and self._holds_memory(a)]
            if mine is None:
                # memory whose place cannot be read (a data_ptr that raises): what it shares is unknown, not
                # "nothing"; otherwise that read's failure shows as a wrong result of the call that made it
                return UNKNOWN_RELATION if self._holds_memory(v) and holders else ""
            unread = False
            for i, a in enumerate(args):
                if isinstance(a, _SCALARS):
                    continue
                theirs = self._spans(a, keep)
                if theirs is None and self._holds_memory(a):
                    unread = True
                elif _overlap(mine, theirs or ()):
                    return f"~a{i}"
            return UNKNOWN_RELATION if unread and mine else ""
        if not items:
            return ""
        out, spans = [], [self._spans(t, keep) or () for t in items]
        for i, a in enumerate(args):
            theirs = () if isinstance(a, _SCALARS) else self._spans(a, keep)
            n = sum(1 for s in spans if theirs and _overlap(s, theirs))
            if n:
                out.append(f"~a{i}:{n}")
        return " ".join(out)

    def _holds_memory(self, v: Any) -> bool:
        return (self.tensor_cls is not None and isinstance(v, self.tensor_cls)) or \
            bool(self.storage_cls) and isinstance(v, self.storage_cls)

    def _tensor_items(self, v: Any) -> list[Any] | None:
        """The tensors of a dict's values, a list or a tuple (None: ``v`` is no such container)."""
        if self.tensor_cls is None or not isinstance(v, (dict, list, tuple)):
            return None
        values = list(v.values()) if isinstance(v, dict) else list(v)
        if len(values) > MAX_RELATED:
            return []
        return [x for x in values if isinstance(x, self.tensor_cls)]

    def _storages_stable(self) -> bool:
        if self.stable is None:
            self.stable = True
            try:
                t = self.torch.zeros(4, dtype=self.torch.uint8)
                one, two = t.untyped_storage(), t.untyped_storage()
                self.stable = int(one.data_ptr()) == int(two.data_ptr())
            except Exception:
                pass
        return self.stable

    def _spans(self, v: Any, keep: list[Any]) -> list[tuple[int, int]] | None:
        """The [start, end) ranges of memory ``v`` holds (addresses, never compared across processes): a
        tensor's storage's, a storage's, a module's parameters' and buffers', an array's or a buffer's bytes;
        None for anything else. Where this backend's ``untyped_storage()`` hands out different memory for one
        tensor on each call (copies), a tensor's storage says nothing of what it shares: it is spanned by the
        bytes its elements occupy (``data_ptr`` and strides) instead, so a storage that is a copy shows as
        sharing nothing with its tensor, and views still share their base's memory."""
        try:
            if self.tensor_cls is not None and isinstance(v, self.tensor_cls):
                if self._storages_stable():
                    try:
                        s = v.untyped_storage()
                        keep.append(s)
                        return [_range(int(s.data_ptr()), int(s.nbytes()))]
                    except Exception:       # no storage to ask: its elements
                        pass
                return [_elements(v)]
            if self.storage_cls and isinstance(v, self.storage_cls):
                return [_range(int(v.data_ptr()), int(v.nbytes()))]
            if self.module_cls is not None and isinstance(v, self.module_cls):
                out: list[tuple[int, int]] = []
                for t in [*v.parameters(), *v.buffers()][:MAX_RELATED]:
                    out += self._spans(t, keep) or []
                return out
            if isinstance(v, np.ndarray):
                base = v
                while isinstance(base.base, np.ndarray):
                    base = base.base
                return [_range(int(base.__array_interface__["data"][0]), int(base.nbytes))]
            if not isinstance(v, (list, tuple, dict)):      # any buffer: bytes, bytearray, mmap, memoryview
                a = np.frombuffer(v, dtype=np.uint8)
                return [_range(int(a.__array_interface__["data"][0]) if a.size else 0, int(a.size))]
        except Exception:
            return None
        return None


MAX_RELATED = 4096      # a container or module larger than this is not related item by item
_SCALARS = (bool, int, float, str, type(None))


def _range(start: int, nbytes: int) -> tuple[int, int]:
    return start, start + nbytes


def _elements(t: Any) -> tuple[int, int]:
    """[start, end) of the bytes a tensor's elements occupy, from its data_ptr, shape and strides."""
    shape, stride = [int(s) for s in t.shape], [int(s) for s in t.stride()]
    if 0 in shape:
        return 0, 0
    size = int(t.element_size())
    lo = sum((n - 1) * st for n, st in zip(shape, stride) if st < 0)
    hi = sum((n - 1) * st for n, st in zip(shape, stride) if st > 0)
    start = int(t.data_ptr())
    return start + lo * size, start + (hi + 1) * size


def _overlap(a: Any, b: Any) -> bool:
    """Whether two lists of [start, end) ranges meet (an empty range meets nothing)."""
    return any(x0 < y1 and y0 < x1 for x0, x1 in a for y0, y1 in b)
