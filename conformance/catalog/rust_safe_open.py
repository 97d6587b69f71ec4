"""``safe_open(framework="pt")``: what safetensors' Rust extension calls in Python ``torch``.

The extension does not link to libtorch; it drives whatever module answers ``import torch``
(surface.md, key findings 1-3). Per open on the default mmap path it reads ``torch.__version__``
and calls ``torch.UntypedStorage.from_file(path, shared=False, nbytes=file_len).untyped()``; per
tensor it calls ``storage.__getitem__(slice(start, stop, 1))``, ``torch.asarray(slice,
dtype=torch.uint8[, device="cpu"])``, ``.view(dtype=dt)``, ``.reshape(list)`` and, for
``get_slice``, ``Tensor.__getitem__(slices)`` (and ``.to(device)`` off the CPU). The 0.8.0
``backend="pread"`` path calls ``torch.frombuffer(buffer=bytearray, dtype=dt)`` or
``torch.zeros(list, dtype=dt)`` and ``.reshape(list)``.

The first groups build every input the way Rust does (bytes in a file -> storage -> slice ->
uint8 tensor -> view); the last ones go through the real extension, which in a target process
imports the target as ``torch``.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import os
import re
import struct

from ..dtypes import DTYPE_NAMES, DTYPES
from ..inputs import TensorInput
from ..loading_path import rust_version as _rust_version
from ..observe import OBSERVE_ERROR, Blocked, ObservationError, exception
from ..registry import case, param

ORIGIN = "rust:safe_open(pt)"
ORIGIN_PREAD = "rust:safe_open(pt) pread"

_NO_NUMPY = [d for d in DTYPE_NAMES if DTYPES[d].numpy is None]


# -- building blocks ------------------------------------------------------------------------------

def _filler(n: int, seed: int = 0) -> bytes:
    """Deterministic non-constant bytes (a stand-in for a header or neighbouring tensors)."""
    return bytes((i * 37 + 11 + seed * 101) & 0xFF for i in range(n))


def _payload(dtype: str, shape: tuple[int, ...] | None = None, value_set: str = "special") -> bytes:
    bits = tuple(DTYPES[dtype].value_sets[value_set])
    return TensorInput(dtype, shape if shape is not None else (len(bits),), bits).raw()


_PREFIX = 24   # bytes before the payload in a file (the header's place)


def _write(ctx, data: bytes, name: str = "data.bin") -> str:
    path = ctx.path(name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def _digest(path: str) -> bytes:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).digest()


def _from_file(torch, path: str, nbytes: int, ctx=None):
    """Exactly the Rust call: ``UntypedStorage.from_file(str, shared=False, nbytes=int).untyped()``.

    With ``ctx`` (a case whose API under test comes after this call), a target that refuses the call is
    reached around: the storage is opened with ``from_file(path, False)`` when ``nbytes`` is the whole
    file, so the case's own API is still judged, and the record says it was reached around the blocker.
    Without a way around, the case is BLOCKED by from_file."""
    try:
        return torch.UntypedStorage.from_file(path, shared=False, nbytes=nbytes).untyped()
    except Exception as e:
        if ctx is None:
            raise
        why = f"{type(e).__name__}: {str(e)[:200]}"
    api = "torch.UntypedStorage.from_file"
    if os.path.getsize(path) != nbytes:
        raise Blocked(api, "input", f"from_file(str, shared=False, nbytes=int) failed ({why}); no way around it "
                      "for a storage shorter than its file")
    try:
        s = torch.UntypedStorage.from_file(path, False)
        s = s.untyped() if hasattr(s, "untyped") else s
    except Exception as e2:
        raise Blocked(api, "input", f"from_file(str, shared=False, nbytes=int) failed ({why}); the way around it, "
                      f"from_file(str, False), failed too ({type(e2).__name__}: {str(e2)[:160]})") from None
    ctx.reach_around(api, f"from_file(str, shared=False, nbytes=int) failed ({why}); the storage was opened "
                          "with from_file(str, False)")
    return s


def _storage_with(torch, ctx, payload: bytes, prefix: int = _PREFIX, name: str = "data.bin"):
    """A file holding ``payload`` after ``prefix`` filler bytes (and 8 after it), opened as Rust does."""
    data = _filler(prefix) + payload + _filler(8, 1)
    path = _write(ctx, data, name)
    return _from_file(torch, path, len(data), ctx), prefix, prefix + len(payload)


def _u8(torch, storage, start: int, stop: int, device: str | None = "cpu", ctx=None):
    """``torch.asarray(storage[start:stop], dtype=torch.uint8[, device=...])`` as get_tensor does.

    With ``ctx`` (a case whose API under test comes later), a storage that cannot be sliced is reached
    around: ``asarray`` of the whole storage, then the tensor sliced, which aliases it the same way."""
    kw = {} if device is None else {"device": device}
    try:
        sl = storage.__getitem__(slice(start, stop, 1))
    except Exception as e:
        if ctx is None:
            raise
        why = f"{type(e).__name__}: {str(e)[:160]}"
        try:
            u8 = torch.asarray(storage, dtype=torch.uint8, **kw)[start:stop]
        except Exception as e2:
            raise Blocked("UntypedStorage.__getitem__", "input", f"storage[slice] failed ({why}); the way around "
                          f"it, asarray(storage)[start:stop], failed too ({type(e2).__name__}: {str(e2)[:120]})") from None
        ctx.reach_around("UntypedStorage.__getitem__", f"storage[slice] failed ({why}); the bytes were taken as "
                                                       "asarray(storage, dtype=uint8)[start:stop]")
        return u8
    return torch.asarray(sl, dtype=torch.uint8, **kw)


def _record_u8(ctx, desc: str, u8, raw: bytes) -> None:
    """Input sanity for the uint8 tensor a case starts from: it must hold exactly ``raw``."""
    expected = {"dtype": "uint8", "shape": [len(raw)], "stride": [1] if raw else None, "bytes": raw.hex()}
    try:
        seen = ctx.tensor(u8)
    except ObservationError as e:
        seen = {OBSERVE_ERROR: str(e)}
    if expected["stride"] is None and "stride" in seen:
        seen = {**seen, "stride": None}
    ctx.inputs.append({"input": desc, "expected": expected, "observed": seen})


def _rust_view(torch, ctx, dtype: str, payload: bytes, prefix: int = _PREFIX, device: str | None = "cpu"):
    """storage slice -> asarray(uint8) -> view(dtype=): a tensor built the way get_tensor builds it."""
    storage, start, stop = _storage_with(torch, ctx, payload, prefix)
    u8 = _u8(torch, storage, start, stop, device, ctx)
    _record_u8(ctx, f"uint8[{len(payload)}] from storage[{start}:{stop}]", u8, payload)
    return storage, start, stop, u8.view(dtype=ctx.dtype(dtype))


def _clobber(torch, storage, start: int, stop: int, ctx=None) -> None:
    """Overwrite the bytes ``start:stop`` of ``storage`` through a second uint8 tensor on it."""
    _u8(torch, storage, start, stop, ctx=ctx).fill_(0)


def _aliases_storage(torch, ctx, t, storage, start: int, stop: int):
    """Whether ``t`` sees a write made to its bytes in the storage (None when there are no bytes)."""
    if stop <= start:
        return None
    return ctx.changes(lambda: ctx.raw_bytes(t), lambda: _clobber(torch, storage, start, stop, ctx))


# -- torch.__version__ -----------------------------------------------------------------------------

_PEP440ISH = re.compile(r"^\d+\.\d+\.\d+((a|b|rc)\d+)?(\.(post|dev)\d+)*(\+[A-Za-z0-9.]+)?$")


@case("torch.__version__", ORIGIN, [param("type", aspect="type"), param("format", aspect="format"),
                                    param("branch", aspect="branch")], name="rust_version")
def rust_version(torch, ctx, aspect):
    """torch.__version__ is a str (Rust extracts a String) that Rust parses as major.minor.patch;
    the parsed version picks the loading branch (>=2.0 UntypedStorage.from_file). The version
    string itself is never compared."""
    v = torch.__version__
    if aspect == "type":
        return {"isinstance_str": isinstance(v, str), "str_equal": isinstance(v, str) and str(v) == v}
    parsed = _rust_version(str(v)) if isinstance(v, str) else None
    if aspect == "format":
        return {"rust_parses": parsed is not None,
                "release_plus_optional_suffixes": bool(isinstance(v, str) and _PEP440ISH.match(str(v)))}
    if not isinstance(v, str):
        return {"branch": "TypeError: __version__ is not a str"}
    if parsed is None:
        return {"branch": "SafetensorError: could not parse the version"}
    if parsed >= (2, 0, 0):
        storage = getattr(torch, "UntypedStorage", None)
        return {"branch": "UntypedStorage.from_file",
                "api_present": storage is not None and callable(getattr(storage, "from_file", None))}
    if parsed >= (1, 11, 0):
        storage = getattr(torch, "ByteStorage", None)
        return {"branch": "ByteStorage.from_file",
                "api_present": storage is not None and callable(getattr(storage, "from_file", None))}
    return {"branch": "rust mmap + frombuffer", "api_present": callable(getattr(torch, "frombuffer", None))}


# -- UntypedStorage.from_file ----------------------------------------------------------------------

_FILE_LEN = 64


def _storage_bytes(torch, ctx, storage):
    return ctx.tensor(torch.asarray(storage, dtype=torch.uint8))


@case("torch.UntypedStorage.from_file", ORIGIN,
      [param("nbytes-equal", nbytes=_FILE_LEN), param("nbytes-smaller", nbytes=40),
       param("nbytes-larger", nbytes=_FILE_LEN + 8)], name="rust_from_file", path="storage")
def rust_from_file(torch, ctx, nbytes):
    """from_file(path, shared=False, nbytes=N) maps the first N bytes of the file (Rust passes the
    file length); N larger than the file raises."""
    path = _write(ctx, _filler(_FILE_LEN))
    s = torch.UntypedStorage.from_file(path, shared=False, nbytes=nbytes)
    return {"nbytes": s.nbytes(), "bytes": _storage_bytes(torch, ctx, s)}


@case("torch.UntypedStorage.from_file", ORIGIN, [param("page-crossing")], name="rust_from_file_large", path="storage")
def rust_from_file_large(torch, ctx):
    """A file longer than a page: nbytes() is the file length and bytes across the 4096 boundary are
    the file's."""
    data = _filler(4096 + 64, 3)
    path = _write(ctx, data)
    s = torch.UntypedStorage.from_file(path, shared=False, nbytes=len(data))
    return {"nbytes": s.nbytes(),
            "bytes_4080_4112": ctx.tensor(torch.asarray(s.__getitem__(slice(4080, 4112, 1)), dtype=torch.uint8)),
            "last_16": ctx.tensor(torch.asarray(s.__getitem__(slice(len(data) - 16, len(data), 1)),
                                                dtype=torch.uint8))}


@case("UntypedStorage.untyped", ORIGIN, [param("from-file")], name="rust_storage_untyped", path="storage")
def rust_storage_untyped(torch, ctx):
    """untyped() of a from_file storage (Rust falls back to _untyped()) is an UntypedStorage with the
    same bytes."""
    path = _write(ctx, _filler(_FILE_LEN))
    s = torch.UntypedStorage.from_file(path, shared=False, nbytes=_FILE_LEN)
    fn = getattr(s, "untyped", None) or getattr(s, "_untyped")
    u = fn()
    return {"is_untyped_storage": isinstance(u, torch.UntypedStorage), "nbytes": u.nbytes(),
            "bytes": _storage_bytes(torch, ctx, u),
            "shares_memory": ctx.changes(lambda: ctx.raw_bytes(torch.asarray(u, dtype=torch.uint8)),
                                         lambda: torch.asarray(s, dtype=torch.uint8).fill_(0))}


def _write_setitem(t) -> None:
    t[0] = 0xEE


def _write_fill(t) -> None:
    t.fill_(0xEE)


_WRITES = {"setitem": _write_setitem, "fill_": _write_fill}


@case("torch.UntypedStorage.from_file", ORIGIN,
      [param(f"shared-false-no-writeback-{w}", write=w) for w in _WRITES]
      + [param("shared-false-no-writeback-float32-mul_", write="float32-mul_")], name="rust_from_file_private", path="storage")
def rust_from_file_private(torch, ctx, write):
    """shared=False maps the file privately: an in-place write to a tensor on the storage is seen by
    the storage but never reaches the file."""
    data = _filler(_PREFIX) + _payload("float32", (4,), "ordinary") + _filler(8, 1)
    path = _write(ctx, data)
    before = _digest(path)
    try:
        s, call = _from_file(torch, path, len(data)), "ok"
    except Exception as e:     # the row fails on this call; reaching around it still shows where a write goes
        s, call = _from_file(torch, path, len(data), ctx), exception(e)
    start, stop = _PREFIX, _PREFIX + 16
    if write == "float32-mul_":
        t = _u8(torch, s, start, stop, ctx=ctx).view(dtype=torch.float32)
        t.mul_(2)
    else:
        t = _u8(torch, s, start, stop, ctx=ctx)
        _WRITES[write](t)
    return {"rust_call": call, "tensor_after_write": ctx.tensor(t),
            "storage_after_write": ctx.tensor(_u8(torch, s, start, stop, ctx=ctx)),
            "file_unchanged": _digest(path) == before,
            "reopened_storage": ctx.tensor(_u8(torch, _from_file(torch, path, len(data), ctx), start, stop, ctx=ctx))}


# -- UntypedStorage.__getitem__(slice(start, stop, 1)) ---------------------------------------------

_RANGES = {"0:64-whole": (0, 64), "0:8-start": (0, 8), "24:40-middle": (24, 40), "56:64-end": (56, 64),
           "64:64-empty-at-end": (64, 64), "10:10-empty-middle": (10, 10), "0:0-empty-at-start": (0, 0)}


@case("UntypedStorage.__getitem__", ORIGIN,
      [param(k, start=a, stop=b) for k, (a, b) in _RANGES.items()] + [param("4090:4110-page-crossing", start=4090,
                                                                          stop=4110, size=4096 + 64)],
      name="rust_storage_getitem", path="storage")
def rust_storage_getitem(torch, ctx, start, stop, size=_FILE_LEN):
    """storage[slice(start, stop, 1)] is an UntypedStorage of stop-start bytes sharing the file
    storage's memory."""
    path = _write(ctx, _filler(size, 2))
    s = _from_file(torch, path, size, ctx)
    sl = s.__getitem__(slice(start, stop, 1))
    obs = {"is_untyped_storage": isinstance(sl, torch.UntypedStorage), "nbytes": sl.nbytes(),
           "bytes": _storage_bytes(torch, ctx, sl)}
    if stop > start:
        obs["shares_memory"] = ctx.changes(lambda: ctx.raw_bytes(torch.asarray(sl, dtype=torch.uint8)),
                                           lambda: _clobber(torch, s, start, stop, ctx))
    return obs


# -- torch.asarray(storage_slice, dtype=torch.uint8[, device="cpu"]) ----------------------------------

_AS_RANGES = {"0:16": (0, 16), "24:40": (24, 40), "48:64-end": (48, 64), "64:64-empty": (64, 64)}


@case("torch.asarray", ORIGIN, [param(f"{k}-{'device-cpu' if dev else 'no-device'}", start=a, stop=b, device=dev)
                                for k, (a, b) in _AS_RANGES.items() for dev in (None, "cpu")],
      name="rust_asarray", path="storage")
def rust_asarray(torch, ctx, start, stop, device):
    """asarray(storage_slice, dtype=uint8[, device="cpu"]) is a 1-d uint8 tensor over the slice's bytes
    that aliases the storage both ways (zero copy)."""
    path = _write(ctx, _filler(_FILE_LEN, 4))
    s = _from_file(torch, path, _FILE_LEN, ctx)
    t = _u8(torch, s, start, stop, device, ctx)
    obs = {"result": ctx.tensor(t)}
    if stop > start:
        obs["sees_storage_writes"] = ctx.changes(lambda: ctx.raw_bytes(t), lambda: _clobber(torch, s, start, stop, ctx))
        obs["writes_reach_storage"] = ctx.changes(lambda: ctx.raw_bytes(_u8(torch, s, start, stop, ctx=ctx)),
                                                  lambda: t.fill_(0xFF))
    return obs


# -- Tensor.view(dtype=) from uint8 ----------------------------------------------------------------

_RAGGED = [d for d in DTYPE_NAMES if DTYPES[d].itemsize > 1]
_EMPTY_VIEW = ["float32", "bfloat16", "float64"]
_MISALIGNED = ["float32", "float64", "complex64"]


def _view_params():
    out = [param(f"{d}-special", dtype=d, kind="special") for d in DTYPE_NAMES]
    out += [param(f"{d}-ragged-{DTYPES[d].itemsize + 1}B", dtype=d, kind="ragged") for d in _RAGGED]
    out += [param(f"{d}-empty", dtype=d, kind="empty") for d in _EMPTY_VIEW]
    out += [param(f"{d}-misaligned-offset-17", dtype=d, kind="misaligned") for d in _MISALIGNED]
    return out


@case("Tensor.view(dtype)", ORIGIN, _view_params(), name="rust_view", path="storage")
def rust_view(torch, ctx, dtype, kind):
    """uint8_tensor.view(dtype=dt) reinterprets the bytes unchanged (NaN payloads, -0.0, subnormals,
    inf, min/max) and aliases them; a byte count that is not a multiple of the itemsize raises."""
    prefix = _PREFIX
    if kind == "special":
        payload = _payload(dtype)
    elif kind == "ragged":
        payload = _filler(DTYPES[dtype].itemsize + 1, 5)
    elif kind == "empty":
        payload = b""
    else:
        payload, prefix = _payload(dtype), 17
    storage, start, stop, v = _rust_view(torch, ctx, dtype, payload, prefix)
    return {"result": ctx.tensor(v), "aliases_storage": _aliases_storage(torch, ctx, v, storage, start, stop)}


# -- Tensor.reshape(list[int]) after the view ------------------------------------------------------

_RESHAPES = {
    "6to3x2": (6, [3, 2]), "6to1x6x1": (6, [1, 6, 1]), "6to6": (6, [6]),
    "1to0d": (1, []),
    "0to0": (0, [0]), "0to2x0": (0, [2, 0]), "0to0x3x4": (0, [0, 3, 4]),
    "6to4-mismatch": (6, [4]),
}


def _reshape_params():
    out = [param(f"{d}-{k}", dtype=d, count=n, shape=s) for d in ("float32", "bfloat16")
           for k, (n, s) in _RESHAPES.items()]
    out += [param(f"{d}-6to2x3", dtype=d, count=6, shape=[2, 3])
            for d in _NO_NUMPY if d != "bfloat16"]
    return out


@case("Tensor.reshape", ORIGIN, _reshape_params(), name="rust_reshape", path="storage")
def rust_reshape(torch, ctx, dtype, count, shape):
    """view(dtype=).reshape(list_of_ints) gives the shape Rust asks for, incl. 0-d ([]) and
    zero-size, keeps the bytes and still aliases the file storage; a wrong element count raises."""
    bits = tuple(DTYPES[dtype].value_sets["special"])
    payload = TensorInput(dtype, (count,), bits).raw()
    storage, start, stop, v = _rust_view(torch, ctx, dtype, payload)
    r = v.reshape(shape)
    return {"result": ctx.tensor(r), "aliases_storage": _aliases_storage(torch, ctx, r, storage, start, stop)}


# -- Tensor.__getitem__ with the slices get_slice passes --------------------------------------------

_E = Ellipsis
_GETITEM_FORMS = {
    "[0:1]": slice(0, 1),
    "[(0:1:1),(:)]": (slice(0, 1, 1), slice(None)),
    "[:,1:3]": (slice(None), slice(1, 3)),
    "[...,0:2]": (_E, slice(0, 2)),
    "[...]": _E,
    "[:,1]": (slice(None), 1),
    "[1,1:3]": (1, slice(1, 3)),
    "[1:3,2:5]-step1": (slice(1, 3, 1), slice(2, 5, 1)),
    "[2:2]-empty": slice(2, 2),
    "[3:10]-stop-past-end": slice(3, 10),
    "[-1:]": slice(-1, None),
}


def _getitem_params():
    out = [param(f"float32-4x6-{k}", dtype="float32", shape=(4, 6), index=ix) for k, ix in _GETITEM_FORMS.items()]
    out += [param(f"float32-2x3x4-{k}", dtype="float32", shape=(2, 3, 4), index=ix)
            for k, ix in {"[0:1,...]": (slice(0, 1), _E), "[...,1:3]": (_E, slice(1, 3)),
                          "[:,1:3]": (slice(None), slice(1, 3))}.items()]
    out.append(param("float32-0d-[...]", dtype="float32", shape=(), index=_E))
    out += [param(f"{d}-4x6-[:,1:3]", dtype=d, shape=(4, 6), index=(slice(None), slice(1, 3)))
            for d in ("bfloat16", "float64", "int8", "bool", "complex64", "float8_e5m2")]
    return out


@case("Tensor.__getitem__", ORIGIN, _getitem_params(), name="rust_tensor_getitem", path="storage")
def rust_tensor_getitem(torch, ctx, dtype, shape, index):
    """tensor[slices] (slice, tuple of slices/ints, Ellipsis) selects a strided view: same bytes,
    shape and strides as torch, aliasing the file storage."""
    payload = TensorInput(dtype, shape, tuple(DTYPES[dtype].value_sets["special"])).raw()
    storage, start, stop, v = _rust_view(torch, ctx, dtype, payload, device=None)
    r = v.reshape(list(shape)).__getitem__(index)
    return {"result": ctx.tensor(r), "aliases_storage": _aliases_storage(torch, ctx, r, storage, start, stop)}


# -- Tensor.to(device) for a CPU device ------------------------------------------------------------

_TO_DTYPES = ["float32", "bfloat16", "float8_e4m3fn", "complex64"]


@case("Tensor.to", ORIGIN, [param(f"{d}-{k}", dtype=d, device=k, sliced=False) for d in _TO_DTYPES
                            for k in ("str-cpu", "torch.device-cpu")]
      + [param("float32-sliced-str-cpu", dtype="float32", device="str-cpu", sliced=True)], name="rust_to", path="storage")
def rust_to(torch, ctx, dtype, device, sliced):
    """tensor.to("cpu") on a CPU tensor keeps dtype, shape, strides and bytes (torch returns the
    tensor itself, so it still aliases the storage)."""
    payload = TensorInput(dtype, (2, 4), tuple(DTYPES[dtype].value_sets["special"])).raw()
    storage, start, stop, v = _rust_view(torch, ctx, dtype, payload)
    t = v.reshape([2, 4])
    if sliced:
        t = t[:, 1:3]
    dev = "cpu" if device == "str-cpu" else torch.device("cpu")
    r = t.to(dev)
    return {"result": ctx.tensor(r), "aliases_storage": _aliases_storage(torch, ctx, r, storage, start, stop)}


# -- pread path: torch.frombuffer(buffer=, dtype=), torch.zeros(list, dtype=), .reshape(list) ------

@case("torch.frombuffer", ORIGIN_PREAD, [param(d, dtype=d) for d in DTYPE_NAMES],
      name="pread_frombuffer")
def pread_frombuffer(torch, ctx, dtype):
    """frombuffer(buffer=bytearray, dtype=dt) with the KEYWORD buffer= reads the bytes unchanged and
    aliases the bytearray."""
    buf = bytearray(_payload(dtype))
    t = torch.frombuffer(buffer=buf, dtype=ctx.dtype(dtype))

    def flip():
        buf[0] ^= 1
    return {"result": ctx.tensor(t), "aliases_buffer": ctx.changes(lambda: ctx.raw_bytes(t), flip)}


_PREAD_SHAPES = {"8to2x4": (8, [2, 4]), "8to1x8x1": (8, [1, 8, 1]), "1to0d": (1, [])}


@case("Tensor.reshape", ORIGIN_PREAD, [param(f"{d}-{k}", dtype=d, count=n, shape=s)
                                       for d in ("float32", "bfloat16", "float8_e4m3fn")
                                       for k, (n, s) in _PREAD_SHAPES.items()], name="pread_reshape")
def pread_reshape(torch, ctx, dtype, count, shape):
    """frombuffer(buffer=, dtype=).reshape(list) keeps the bytes and still aliases the bytearray."""
    buf = bytearray(TensorInput(dtype, (count,), tuple(DTYPES[dtype].value_sets["special"])).raw())
    flat = torch.frombuffer(buffer=buf, dtype=ctx.dtype(dtype))
    r = flat.reshape(shape)

    def flip():
        buf[0] ^= 1
    obs = {"result": ctx.tensor(r), "aliases_buffer": ctx.changes(lambda: ctx.raw_bytes(r), flip)}
    if not obs["aliases_buffer"] and not ctx.changes(lambda: ctx.raw_bytes(flat), flip):
        # reshape cannot alias a buffer that frombuffer already copied: the first call diverged
        ctx.cause = {"api": "torch.frombuffer", "phase": "input",
                     "evidence": "frombuffer(buffer=bytearray) did not alias the buffer, so its reshape could not"}
    return obs


@case("torch.zeros", ORIGIN_PREAD, [param(f"{d}-[0]", dtype=d, shape=[0]) for d in DTYPE_NAMES]
      + [param(f"float32-{s}", dtype="float32", shape=sh) for s, sh in
         {"[2,0]": [2, 0], "[0,3,4]": [0, 3, 4]}.items()] + [param("bfloat16-[3,0]", dtype="bfloat16", shape=[3, 0])],
      name="pread_zeros")
def pread_zeros(torch, ctx, dtype, shape):
    """zeros(list, dtype=dt) for a zero-element tensor (pread never calls frombuffer on 0 bytes)."""
    return torch.zeros(shape, dtype=ctx.dtype(dtype))


@case("Tensor.reshape", ORIGIN_PREAD, [param(f"zeros-{d}-{s}", dtype=d, shape=sh) for d, s, sh in
                                       [("float32", "[2,0]", [2, 0]),
                                        ("float32", "[0,3,4]", [0, 3, 4]), ("bfloat16", "[3,0]", [3, 0])]],
      name="pread_zeros_reshape")
def pread_zeros_reshape(torch, ctx, dtype, shape):
    """zeros(list, dtype=).reshape(same list): Rust reshapes the zero-element tensor to its own shape."""
    return torch.zeros(shape, dtype=ctx.dtype(dtype)).reshape(shape)


# -- end to end through the real extension ---------------------------------------------------------

def _header_shape(dtype: str, shape: tuple[int, ...]) -> list[int]:
    """safetensors counts F4 in 4-bit elements: the header's last dim is twice torch's (bytes)."""
    s = list(shape)
    if dtype == "float4_e2m1fn_x2" and s:
        s[-1] *= 2
    return s


def _st_file(ctx, entries, name: str = "model.safetensors") -> str:
    """Write a .safetensors file: u64 LE header length, JSON header (space padded to 8), data."""
    header, data = {}, b""
    for tname, dtype, shape, raw in entries:
        header[tname] = {"dtype": DTYPES[dtype].st_code, "shape": _header_shape(dtype, shape),
                         "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    h += b" " * (-len(h) % 8)
    return _write(ctx, struct.pack("<Q", len(h)) + h + data, name)


def _open_kwargs(safetensors, backend: str):
    """safe_open keyword arguments for ``backend``, or None where this safetensors lacks it."""
    if backend == "mmap":
        return {}
    try:
        params = inspect.signature(safetensors.safe_open).parameters
    except (TypeError, ValueError):
        params = None
    if params is not None and "backend" not in params:
        return None
    return {"backend": backend}


def _get_tensors(ctx, path: str, backend: str, names: list[str]):
    import safetensors

    kw = _open_kwargs(safetensors, backend)
    if kw is None:
        return {"backend": "unsupported"}
    with safetensors.safe_open(path, framework="pt", **kw) as f:
        out = {n: f.get_tensor(n) for n in names}
    return {n: ctx.tensor(t) for n, t in out.items()}


def _get_tensor_params(backend: str):
    out = [param(f"{backend}-{d}", dtype=d, shape=(2, 4), backend=backend)
           for d in DTYPE_NAMES]
    out += [param(f"{backend}-float32-{k}", dtype="float32", shape=s, backend=backend)
            for k, s in {"0d": (), "[0]": (0,), "[2,0]": (2, 0)}.items()]
    return out


@case("safe_open(pt).get_tensor", ORIGIN, _get_tensor_params("mmap"), name="safe_open_get_tensor")
def safe_open_get_tensor(torch, ctx, dtype, shape, backend):
    """safe_open(path, framework="pt").get_tensor(name): the tensor the extension builds through
    this torch has the file's dtype, shape and exact bytes (read after the file is closed)."""
    raw = TensorInput(dtype, shape, tuple(DTYPES[dtype].value_sets["special"])).raw()
    path = _st_file(ctx, [("t", dtype, shape, raw)])
    return _get_tensors(ctx, path, backend, ["t"])


@case("safe_open(pt).get_tensor", ORIGIN_PREAD, _get_tensor_params("pread"), name="safe_open_pread_get_tensor")
def safe_open_pread_get_tensor(torch, ctx, dtype, shape, backend):
    """safe_open(path, framework="pt", backend="pread").get_tensor(name): frombuffer/zeros + reshape
    through this torch give the file's dtype, shape and bytes."""
    raw = TensorInput(dtype, shape, tuple(DTYPES[dtype].value_sets["special"])).raw()
    path = _st_file(ctx, [("t", dtype, shape, raw)])
    return _get_tensors(ctx, path, backend, ["t"])


_MULTI = [("a", "float32", (3,)), ("b", "int16", (5,)), ("c", "bfloat16", (2, 2)), ("d", "uint8", (3,))]


@case("safe_open(pt).get_tensor", ORIGIN, [param("mmap-four-tensors", backend="mmap")], name="safe_open_get_tensor_multi")
def safe_open_get_tensor_multi(torch, ctx, backend):
    """Several tensors at different (not 8-aligned) data offsets each come back with their own bytes."""
    entries = [(n, d, s, TensorInput(d, s, tuple(DTYPES[d].value_sets["special"])).raw()) for n, d, s in _MULTI]
    return _get_tensors(ctx, _st_file(ctx, entries), backend, [e[0] for e in entries])


@case("safe_open(pt).get_tensor", ORIGIN_PREAD, [param("pread-four-tensors", backend="pread")],
      name="safe_open_pread_get_tensor_multi")
def safe_open_pread_get_tensor_multi(torch, ctx, backend):
    """With backend="pread", several tensors at different data offsets each come back with their bytes."""
    entries = [(n, d, s, TensorInput(d, s, tuple(DTYPES[d].value_sets["special"])).raw()) for n, d, s in _MULTI]
    return _get_tensors(ctx, _st_file(ctx, entries), backend, [e[0] for e in entries])


@case("safe_open(pt).get_tensor", ORIGIN, [param("mmap-float32-no-writeback")], name="safe_open_get_tensor_private")
def safe_open_get_tensor_private(torch, ctx):
    """An in-place write to a get_tensor result (mmap, copy-on-write) changes neither the file nor a
    tensor read again from a new safe_open."""
    import safetensors

    raw = _payload("float32", (2, 4), "ordinary")
    path = _st_file(ctx, [("t", "float32", (2, 4), raw)])
    before = _digest(path)
    with safetensors.safe_open(path, framework="pt") as f:
        t = f.get_tensor("t")
    t.fill_(0)
    with safetensors.safe_open(path, framework="pt") as f:
        again = f.get_tensor("t")
    return {"written": ctx.tensor(t), "file_unchanged": _digest(path) == before, "reread": ctx.tensor(again)}


_SLICE_FORMS = {"[:,1:3]": (slice(None), slice(1, 3)), "[...,0:2]": (_E, slice(0, 2)), "[:,1]": (slice(None), 1),
                "[...]": _E, "[1:3,2:5]": (slice(1, 3), slice(2, 5)), "[0:0]": slice(0, 0)}


def _get_slice_params():
    out = [param(f"mmap-{d}-[0:1]", dtype=d, shape=(2, 4), index=slice(0, 1), backend="mmap") for d in DTYPE_NAMES]
    out += [param(f"mmap-float32-4x6-{k}", dtype="float32", shape=(4, 6), index=ix, backend="mmap")
            for k, ix in _SLICE_FORMS.items()]
    out.append(param("mmap-float32-[0]-[0:1]", dtype="float32", shape=(0,), index=slice(0, 1), backend="mmap"))
    return out


def _slice_of(ctx, dtype, shape, index, backend):
    import safetensors

    kw = _open_kwargs(safetensors, backend)
    if kw is None:
        return {"backend": "unsupported"}
    raw = TensorInput(dtype, shape, tuple(DTYPES[dtype].value_sets["special"])).raw()
    path = _st_file(ctx, [("t", dtype, shape, raw)])
    with safetensors.safe_open(path, framework="pt", **kw) as f:
        r = f.get_slice("t").__getitem__(index)
    return ctx.tensor(r)


@case("safe_open(pt).get_slice[...]", ORIGIN, _get_slice_params(), name="safe_open_get_slice")
def safe_open_get_slice(torch, ctx, dtype, shape, index, backend):
    """safe_open(path, framework="pt").get_slice(name)[slices]: storage slice, asarray, view,
    reshape, then this torch's Tensor.__getitem__(slices) give the selected bytes, shape and strides."""
    return _slice_of(ctx, dtype, shape, index, backend)


@case("safe_open(pt).get_slice[...]", ORIGIN_PREAD,
      [param(f"pread-float32-4x6-{k}", dtype="float32", shape=(4, 6), index=_SLICE_FORMS[k], backend="pread")
       for k in ("[:,1:3]", "[...,0:2]", "[:,1]")]
      + [param("pread-bfloat16-2x4-[0:1]", dtype="bfloat16", shape=(2, 4), index=slice(0, 1), backend="pread"),
         param("pread-float32-[0]-[0:1]", dtype="float32", shape=(0,), index=slice(0, 1), backend="pread")],
      name="safe_open_pread_get_slice")
def safe_open_pread_get_slice(torch, ctx, dtype, shape, index, backend):
    """With backend="pread" Rust cuts the slice itself; torch only sees frombuffer/zeros + reshape."""
    return _slice_of(ctx, dtype, shape, index, backend)
