"""The recording format, and rebuilding its tensors in any backend.

A recording is a folder: ``trace.json`` (schema ``torch-conformance/trace/1``: the workload, the
versions, every call, the module attributes read, what could not be replayed) and ``blobs/``, the
tensors' storage bytes, content-addressed (``blobs/<sha256>.bin``), so a weight passed to ten calls
is stored once.

A tensor argument or result is ``{"k": "tensor", "tid", "from", "dtype", "shape", "stride", "offset",
"blob", "align", "nbytes"}``: ``tid`` names the Python object within the recording, ``from`` the call
whose output it was (``[call, path]``, or null for a tensor the workload made out of sight: a weight,
an input), ``blob`` the bytes of its storage from byte 0 to the end of the last element it reaches,
``align`` the storage's data pointer modulo 64. Rebuilding keeps all of these: a matmul-backed op
such as F.linear gives different bits for some alignments on real torch.

A numpy array argument (``torch.tensor(ndarray)``) is ``{"k": "ndarray", "dtype", "shape", "stride",
"offset", "blob", "align", "nbytes"}`` in the same terms (strides in elements; a negative stride reaches
before the first element, so ``offset`` counts from the lowest element the array reaches).

Other values: ``{"k": "none"|"bool"|"int"|"float"(hex)|"str"|"tuple"|"list"|"dict"|"slice"|
"ellipsis"|"dtype"|"device"|"size"|"memory_format"|"layout"}`` and ``{"k": "opaque", "type",
"reason"}`` for what replay cannot rebuild (generators, storages, modules, meta tensors).

Reading needs only json and numpy: the target process never imports real torch.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np

from ..dtypes import DTYPES
from . import schema

SCHEMA = "torch-conformance/trace/1"
ALIGN = 64
MAX_TRACE_BYTES = 512 << 20     # trace.json: the built-in workloads' are a few MB
MAX_BLOB_BYTES = 1 << 30        # one tensor's storage (the built-in models' largest weights are a few MB)


class TraceError(Exception):
    """A recording is missing or unreadable (a kit/environment problem, not the target's)."""


class Recording:
    """A recording folder, read lazily; blobs are cached in memory once read."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        path = self.folder / "trace.json"
        try:
            self.data = json.loads(read_bounded(path, MAX_TRACE_BYTES).decode("utf-8"))
        except RecursionError:
            raise TraceError(f"unreadable recording {path}: nested too deep to be a recording") from None
        except (OSError, ValueError) as e:
            raise TraceError(f"unreadable recording {path}: {e}") from None
        try:
            schema.check(self.data, SCHEMA)
        except schema.SchemaError as e:
            raise TraceError(f"{path} is not a recording: {e}; record it again with `python -m conformance trace`") \
                from None
        self._blobs: dict[str, bytes] = {}

    @property
    def label(self) -> str:
        """What the case ids of a user's recording start with (``script-<stem>``, made safe for them)."""
        return schema.label(self.data["workload"])

    @property
    def calls(self) -> list[dict[str, Any]]:
        return self.data["calls"]

    def check_blobs(self) -> None:
        """Read (and verify) every blob the recording names, now: a missing or crafted one is one TraceError
        before the run, not an error in the middle of loading the catalog."""
        stack: list[Any] = [self.data["calls"]]
        while stack:
            v = stack.pop()
            if isinstance(v, dict):
                if "blob" in v:
                    self.blob(v["blob"])
                stack.extend(v.values())
            elif isinstance(v, list):
                stack.extend(v)
        self._blobs.clear()

    def blob(self, sha: str) -> bytes:
        """The bytes named ``sha``: only a regular file of the recording's own blobs/ folder (no symlink, no
        name that leaves it), of at most MAX_BLOB_BYTES, whose sha256 is its name."""
        if sha not in self._blobs:
            if not isinstance(sha, str) or not schema.BLOB_NAME.match(sha):
                raise TraceError(f"recording {self.folder} names a blob {sha!r:.80}, which is not a sha256")
            blobs = self.folder / "blobs"
            if blobs.is_symlink():
                raise TraceError(f"recording {self.folder}: blobs/ is a symlink; a recording holds its own blobs")
            try:
                data = read_bounded(blobs / f"{sha}.bin", MAX_BLOB_BYTES)
            except OSError as e:
                raise TraceError(f"recording {self.folder} lacks blob {sha}: {e}") from None
            if hashlib.sha256(data).hexdigest() != sha:
                raise TraceError(f"recording {self.folder}: blob {sha} does not hold the bytes it is named after")
            self._blobs[sha] = data
        return self._blobs[sha]



def read_bounded(path: Path, limit: int) -> bytes:
    """The bytes of ``path`` if it is a regular file (not a symlink, a device or a FIFO) of at most ``limit``
    bytes; OSError otherwise (its message says which)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        if st.st_size > limit:
            raise OSError(errno.EFBIG, f"{st.st_size} bytes, more than the {limit} a recording may hold", str(path))
        chunks, left = [], limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        if left <= 0:
            raise OSError(errno.EFBIG, f"more than the {limit} bytes a recording may hold", str(path))
        return b"".join(chunks)
    finally:
        os.close(fd)


def write_blob(folder: Path, data: bytes) -> str:
    sha = hashlib.sha256(data).hexdigest()
    path = folder / "blobs" / f"{sha}.bin"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return sha


# -- rebuilding a recorded tensor in a backend ---------------------------------------------------------

def aligned_buffer(data: bytes, align: int) -> np.ndarray:
    """A uint8 numpy array holding ``data`` whose first byte sits at ``align`` modulo 64."""
    buf = np.zeros(len(data) + ALIGN, dtype=np.uint8)
    start = (align - buf.ctypes.data) % ALIGN
    out = buf[start:start + len(data)]
    out[:] = np.frombuffer(data, dtype=np.uint8)
    return out


def expected_view(spec: dict[str, Any], data: bytes) -> np.ndarray:
    """The tensor ``spec`` describes, as a numpy array over its storage bytes (carrier dtype for
    dtypes numpy lacks): what a rebuilt tensor must hold."""
    d = DTYPES[spec["dtype"]]
    base = np.frombuffer(data, dtype=d.storage_numpy)
    item = d.storage_numpy.itemsize
    return np.lib.stride_tricks.as_strided(base[spec["offset"]:], shape=tuple(spec["shape"]),
                                           strides=tuple(s * item for s in spec["stride"]), writeable=False)


def layout_of(spec: dict[str, Any], data: bytes) -> dict[str, Any]:
    """dtype, shape, stride and the sha256 of the C-order bytes: the input-sanity record of a tensor."""
    arr = np.ascontiguousarray(expected_view(spec, data))
    return {"dtype": spec["dtype"], "shape": list(spec["shape"]), "stride": significant(spec["shape"], spec["stride"]),
            "sha256": hashlib.sha256(arr.tobytes()).hexdigest()}


def build_ndarray(spec: dict[str, Any], data: bytes) -> np.ndarray:
    """A writeable numpy array with the recorded dtype, shape, strides, offset and alignment."""
    d = DTYPES[spec["dtype"]]
    base = aligned_buffer(data, spec["align"]).view(d.storage_numpy)
    item = d.storage_numpy.itemsize
    return np.lib.stride_tricks.as_strided(base[spec["offset"]:], shape=tuple(spec["shape"]),
                                           strides=tuple(s * item for s in spec["stride"]))


def build_tensor(torch: Any, spec: dict[str, Any], data: bytes, steps: list[str] | None = None,
                 flat: bool = False) -> Any:
    """The recorded tensor in ``torch``: same bytes, dtype, shape, strides, storage offset and
    alignment, asking as little of the backend as possible: ``from_numpy`` of a numpy view with the
    recorded strides (numpy does the layout), plus ``as_strided`` only for a storage offset and
    ``view(dtype)`` only for dtypes numpy lacks (bfloat16, float8). ``steps`` receives the torch APIs
    used, in order (the last one is blamed when the tensor comes out wrong). ``flat``: always lay the
    storage out with ``as_strided`` over a contiguous 1-d ``from_numpy`` (the way around a backend whose
    ``from_numpy`` of a strided array gets the values wrong)."""
    d = DTYPES.get(spec["dtype"])
    if d is None:
        raise TraceError(f"no numpy carrier for dtype {spec['dtype']}")
    steps = [] if steps is None else steps
    raw = aligned_buffer(data, spec["align"])
    base = raw.view(d.storage_numpy)
    item = d.storage_numpy.itemsize
    if spec["offset"] == 0 and not flat:
        arr = np.lib.stride_tricks.as_strided(base, shape=tuple(spec["shape"]),
                                              strides=tuple(s * item for s in spec["stride"]))
        steps.append("torch.from_numpy")
        t = torch.from_numpy(arr)
        if d.numpy is None:
            steps.append("Tensor.view(dtype)")
            t = t.view(getattr(torch, spec["dtype"]))
        if significant(list(spec["shape"]), [int(s) for s in t.stride()]) == significant(spec["shape"], spec["stride"]):
            return t
        # this from_numpy did not keep numpy's strides (it copied): lay the storage out with as_strided
    steps.append("torch.from_numpy")
    t = torch.from_numpy(base)
    if d.numpy is None:
        steps.append("Tensor.view(dtype)")
        t = t.view(getattr(torch, spec["dtype"]))
    steps.append("Tensor.as_strided")
    return t.as_strided(list(spec["shape"]), list(spec["stride"]), spec["offset"])


def significant(shape: list[int], stride: list[int]) -> list[int | None]:
    """Strides with those of size-1 dimensions left out (all of them for a tensor with no element):
    they never change what a view may do."""
    if 0 in shape:
        return [None] * len(shape)
    return [None if s == 1 else st for s, st in zip(shape, stride)]


def contiguous_layout(shape: list[int]) -> list[int]:
    stride, acc = [], 1
    for s in reversed(shape):
        stride.append(acc)
        acc *= max(s, 1)
    return stride[::-1]


VARIANTS = ("contiguous", "transposed", "stepped", "offset")


def relaid(spec: dict[str, Any], data: bytes, how: str) -> tuple[dict[str, Any], bytes]:
    """The same values in another layout, the ones a forward pass hands an op: ``contiguous`` (C order,
    offset 0); ``transposed`` (the storage holds them in reversed dimension order, as ``x.t()`` or
    ``x.transpose(1, 2)`` leaves them); ``stepped`` (every other element of a storage twice as long, as
    ``x[..., ::2]`` or a split of a fused projection leaves them); ``offset`` (C order, three elements
    into the storage, as a slice or ``narrow`` leaves them)."""
    d = DTYPES[spec["dtype"]]
    values = np.ascontiguousarray(expected_view(spec, data))
    shape = list(spec["shape"])
    if how == "contiguous":
        return {**spec, "stride": contiguous_layout(shape), "offset": 0, "align": 0}, values.tobytes()
    if how == "transposed":
        rev = np.ascontiguousarray(values.transpose(tuple(reversed(range(values.ndim)))))
        stride = list(reversed(contiguous_layout(list(reversed(shape)))))
        return {**spec, "stride": stride, "offset": 0, "align": 0}, rev.tobytes()
    if how == "stepped":
        storage = np.zeros(max(2 * values.size, 1), dtype=d.storage_numpy)
        storage[0::2][:values.size] = values.reshape(-1).view(d.storage_numpy)
        return {**spec, "stride": [2 * s for s in contiguous_layout(shape)], "offset": 0, "align": 0}, storage.tobytes()
    if how == "offset":
        pad = np.zeros(3, dtype=d.storage_numpy)
        storage = np.concatenate([pad, values.reshape(-1).view(d.storage_numpy)])
        return {**spec, "stride": contiguous_layout(shape), "offset": 3, "align": 0}, storage.tobytes()
    raise ValueError(f"unknown layout variant {how!r}; known: {', '.join(VARIANTS)}")
