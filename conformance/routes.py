"""The kit's own ways into and out of a target: building an input tensor from bytes, reading a tensor's bytes.

A target must be judged on every API even when it lacks the kit's favourite way to build inputs or read
results. So, in the target process and before any case, every candidate route is tried for each dtype
against known bytes (the dtype's special values), and the routes that give those bytes back are used, in
the order listed here. A route that fails validation is never used; when none validates for a dtype, the
cases that need it are BLOCKED by the route's API, naming every route tried and how it failed.

Routes that view a dtype as an integer of the same size (its carrier) are tried through every carrier the
target has (int16 and uint16 for the 2-byte dtypes, ...), so a target without int16 still gets its float16
and bfloat16 probed. A builder or reader that changes its input (the numpy array's bytes or layout, the
tensor's strides, shape or contiguity: an in-place ``contiguous()``) is refused: the kit would change what
the API under test is given. Readers are also tried on the layouts cases hand them (``_LAYOUTS``: transposed,
stepped, at a storage offset, 0-d), and one that reads more of them right comes first.

Each dtype is probed in a short-lived child process (a fork of this one), each candidate under a deadline
of its own: a candidate that hangs or kills the child is refused (TIMEOUT, CRASH, in ``run.routes``) and a
new child goes on with the others, so one bad route never costs the run.

The first candidates are what real torch takes, so the oracle's observations do not depend on routes.
"""
from __future__ import annotations

import functools
import json
import os
import select
import signal
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from . import shapes
from .dtypes import DTYPES, DType, bfloat16_as_float32

SAMPLE_SHAPE = (3, 2)
DEADLINE = 5.0      # seconds one candidate route may take in the probe (each has its own)
# The integer dtypes of each size: what a dtype is viewed as to read or write its raw bytes.
CARRIERS = {1: ("uint8", "int8"), 2: ("int16", "uint16"), 4: ("int32", "uint32"), 8: ("int64", "uint64")}


@dataclass(frozen=True)
class Route:
    name: str                  # shown in the run header and in BLOCKED evidence
    api: str                   # the target API it leans on: what a BLOCKED row names
    numpy_only: bool           # needs a numpy dtype with the same bytes
    fn: Callable[..., Any]
    via_float32: bool = False  # only for the 16-bit floats, through float32 values
    carrier: str | None = None  # the integer dtype it views the tensor as


def _carrier_array(base: np.ndarray, carrier: str) -> np.ndarray:
    return base.view(np.dtype(carrier))


# -- builders: (torch, spec, base numpy array in the dtype's storage_numpy[, carrier]) -> tensor of base's shape

def _from_numpy(torch, spec, base):
    return torch.from_numpy(base)


def _from_numpy_view_kw(torch, spec, base, carrier):
    return torch.from_numpy(_carrier_array(base, carrier)).view(dtype=getattr(torch, spec.name))


def _from_numpy_view_pos(torch, spec, base, carrier):
    return torch.from_numpy(_carrier_array(base, carrier)).view(getattr(torch, spec.name))


def _frombuffer(torch, spec, base):
    return torch.frombuffer(base, dtype=getattr(torch, spec.name)).reshape(list(base.shape))


def _tensor_list(torch, spec, base):
    return torch.tensor(base.tolist(), dtype=getattr(torch, spec.name))


def _via_float32(spec: DType, base: np.ndarray) -> np.ndarray:
    """The values of a 16-bit float array as float32 (exact: every bfloat16 and float16 value is one), an array
    of ``base``'s shape also when it is 0-d (a shift of a 0-d array gives a numpy scalar, which from_numpy refuses:
    the 0-d input was then blamed on Tensor.to)."""
    if spec.name == "bfloat16":
        return bfloat16_as_float32(base.view(np.uint16))
    return np.asarray(base.astype(np.float32))


def _from_float32(torch, spec, base):
    return torch.from_numpy(_via_float32(spec, base)).to(getattr(torch, spec.name))


def _tensor_list_view(torch, spec, base, carrier):
    t = torch.tensor(_carrier_array(base, carrier).tolist(), dtype=getattr(torch, carrier))
    return t.view(dtype=getattr(torch, spec.name))


# (name, api, numpy_only, fn, via_float32, uses a carrier): "{c}" in a name is the carrier's
_BUILDERS = (
    ("from_numpy", "torch.from_numpy", True, _from_numpy, False, False),
    ("from_numpy({c}).view(dtype=)", "Tensor.view(dtype)", False, _from_numpy_view_kw, False, True),
    ("from_numpy({c}).view(dtype)", "Tensor.view(dtype)", False, _from_numpy_view_pos, False, True),
    ("frombuffer(dtype=).reshape", "torch.frombuffer", False, _frombuffer, False, False),
    ("tensor({c} list).view(dtype=)", "torch.tensor", False, _tensor_list_view, False, True),
    ("tensor(list, dtype=)", "torch.tensor", True, _tensor_list, False, False),
    ("from_numpy(float32).to(dtype)", "Tensor.to", False, _from_float32, True, False),
)
_VIA_FLOAT32 = ("bfloat16", "float16")


# -- readers: (torch, spec, tensor[, carrier]) -> its raw little-endian bytes in C order ---------------------

def _checked(arr: Any, spec: DType) -> bytes:
    arr = np.asarray(arr)
    if arr.dtype.itemsize != spec.itemsize:
        raise TypeError(f"numpy() gave {arr.dtype} ({arr.dtype.itemsize} B an element), not {spec.itemsize} B")
    return np.ascontiguousarray(arr).tobytes()


def _numpy(torch, spec, t):
    return _checked(t.numpy(), spec)


def _contiguous_numpy(torch, spec, t):
    return _checked(t.contiguous().numpy(), spec)


def _contiguous_view_kw_numpy(torch, spec, t, carrier):
    return _checked(t.contiguous().view(dtype=getattr(torch, carrier)).numpy(), spec)


def _view_kw_numpy(torch, spec, t, carrier):
    return _checked(t.view(dtype=getattr(torch, carrier)).numpy(), spec)


def _view_pos_numpy(torch, spec, t, carrier):
    return _checked(t.view(getattr(torch, carrier)).numpy(), spec)


def _tolist(torch, spec, t):
    return _checked(np.array(t.tolist(), dtype=spec.storage_numpy), spec)


def _view_tolist(torch, spec, t, carrier):
    return _checked(np.array(t.view(dtype=getattr(torch, carrier)).tolist(), dtype=np.dtype(carrier)), spec)


def _to_float32(torch, spec, t):
    f = np.ascontiguousarray(np.asarray(t.to(torch.float32).numpy(), dtype=np.float32))
    if spec.name == "bfloat16":
        return (f.view(np.uint32) >> 16).astype(np.uint16).tobytes()
    return f.astype(np.float16).tobytes()


_READERS = (
    ("numpy()", "Tensor.numpy", True, _numpy, False, False),
    ("contiguous().numpy()", "Tensor.numpy", True, _contiguous_numpy, False, False),
    ("contiguous().view(dtype={c}).numpy()", "Tensor.view(dtype)", False, _contiguous_view_kw_numpy, False, True),
    ("view(dtype={c}).numpy()", "Tensor.view(dtype)", False, _view_kw_numpy, False, True),
    ("view({c}).numpy()", "Tensor.view(dtype)", False, _view_pos_numpy, False, True),
    ("tolist()", "Tensor.tolist", True, _tolist, False, False),
    ("view(dtype={c}).tolist()", "Tensor.tolist", False, _view_tolist, False, True),
    ("to(float32).numpy()", "Tensor.to", False, _to_float32, True, False),
)


def _expand(table, spec: DType, carriers: tuple[str, ...]) -> list[Route]:
    """The candidate routes of one dtype, in preference order: each carrier route once per carrier."""
    out = []
    for name, api, numpy_only, fn, via_float32, uses_carrier in table:
        for c in (carriers if uses_carrier else (None,)):
            r = Route(name.format(c=c), api, numpy_only, functools.partial(fn, carrier=c) if c else fn,
                      via_float32, c)
            if _applies(r, spec):
                out.append(r)
    return out


def carriers_of(torch: Any, spec: DType) -> tuple[str, ...]:
    """The integer dtypes of ``spec``'s size this target has (the canonical one, int16 for 2 bytes, first)."""
    names = [spec.carrier] + [c for c in CARRIERS[spec.itemsize] if c != spec.carrier]
    return tuple(c for c in names if getattr(torch, c, None) is not None)


def builders_for(torch: Any, spec: DType) -> list[Route]:
    return _expand(_BUILDERS, spec, carriers_of(torch, spec))


def readers_for(torch: Any, spec: DType) -> list[Route]:
    return _expand(_READERS, spec, carriers_of(torch, spec))


def _applies(route: Route, spec: DType) -> bool:
    if route.via_float32:
        return spec.name in _VIA_FLOAT32
    return not (route.numpy_only and spec.numpy is None)


@dataclass
class DtypeRoutes:
    builders: list[Route] = field(default_factory=list)    # validated, in preference order
    readers: list[Route] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)      # "route: why" for every candidate that failed
    strided: bool = True     # the first reader also read every layout of _LAYOUTS the target made right
    layouts: dict[str, str] = field(default_factory=dict)  # layout -> "read right" / "read wrong" (first reader) / "not made: why"
    build_api: str = "torch.from_numpy"      # what a BLOCKED row names when no builder works:
    read_api: str = "Tensor.numpy"                           # the first candidate's API for this dtype
    refused: dict[str, str] = field(default_factory=dict)  # candidate -> TIMEOUT / CRASH / CHANGES_INPUT


class Routes:
    """The validated routes of one process, per dtype."""

    def __init__(self, per_dtype: dict[str, DtypeRoutes]):
        self.per_dtype = per_dtype

    def of(self, dtype: str) -> DtypeRoutes:
        return self.per_dtype.setdefault(dtype, DtypeRoutes(failures=[f"{dtype}: not probed"]))

    def describe(self) -> dict[str, Any]:
        """For the run header: per dtype, the routes used (first = preferred) and why others were refused."""
        out = {}
        for name, r in self.per_dtype.items():
            out[name] = {"build": [b.name for b in r.builders], "read": [x.name for x in r.readers],
                         "refused": r.failures, "strided_read_checked": r.strided, "read_layouts": r.layouts}
            if r.refused:
                out[name]["refused_as"] = dict(r.refused)
        return out


def _sample(spec: DType) -> np.ndarray:
    bits = spec.value_sets["special"]
    n = SAMPLE_SHAPE[0] * SAMPLE_SHAPE[1]
    raw = spec.pack([bits[i % len(bits)] for i in range(n)])
    return np.frombuffer(bytearray(raw), dtype=spec.storage_numpy).reshape(SAMPLE_SHAPE)


def _why(e: BaseException) -> str:
    return f"{type(e).__name__}: {str(e)[:160]}"


def probe(torch: Any, dtype_name: Callable[[Any], str], deadline: float = DEADLINE) -> Routes:
    """Try every candidate route for every dtype the target has, against known bytes, each under ``deadline``."""
    specs = [spec for spec in DTYPES.values() if getattr(torch, spec.name, None) is not None]
    if not hasattr(os, "fork"):
        return Routes({spec.name: _probe_dtype(torch, spec, dtype_name) for spec in specs})
    return Routes(_probe_bounded(torch, specs, dtype_name, deadline))


# -- in a child process, each candidate under its own deadline ----------------------------------------------

CHANGES_INPUT = "CHANGES_INPUT"


def _probe_bounded(torch: Any, specs: list[DType], dtype_name: Callable[[Any], str],
                   deadline: float) -> dict[str, DtypeRoutes]:
    """Every dtype probed in a fork of this process (one fork: ~0.1 s with torch loaded). A candidate that
    hangs or kills it is refused, and a new fork goes on from the dtype it was in, without that candidate."""
    done: dict[str, dict[str, Any]] = {}          # dtype -> its routes, by name
    refused: dict[str, dict[str, str]] = {}       # dtype -> {candidate: "TIMEOUT: ..." | "CRASH: ..."}

    def work(send: Callable[[dict[str, Any]], None]) -> None:
        for spec in specs:
            if spec.name in done:
                continue
            skip = refused.get(spec.name, {})
            out = _probe_dtype(torch, spec, dtype_name, skip, lambda label: send({"at": [spec.name, label]}))
            send({"dtype": spec.name, "routes": _names(out)})

    while True:
        stopped = _in_child(work, deadline, lambda msg: done.__setitem__(msg["dtype"], msg["routes"]))
        if stopped is None:
            break
        where, why = stopped
        if where is None:        # before any candidate: nothing to isolate
            return {spec.name: DtypeRoutes(failures=[f"{spec.name}: the route probe failed ({why})"])
                    for spec in specs if spec.name not in done} | \
                   {n: _from_names(torch, DTYPES[n], r, refused.get(n, {})) for n, r in done.items()}
        dtype, label = where
        if label in refused.get(dtype, {}):    # cannot happen (it is skipped): never loop on it
            done[dtype] = {"builders": [], "readers": [], "failures": [f"{label}: {why}"], "strided": False,
                           "refused": {}, "layouts": {}}
            continue
        refused.setdefault(dtype, {})[label] = why
    return {spec.name: _from_names(torch, spec, done[spec.name], refused.get(spec.name, {})) for spec in specs}


def _in_child(work: Callable[[Callable[[dict[str, Any]], None]], None], deadline: float,
              on_message: Callable[[dict[str, Any]], None]) -> tuple[Any, str] | None:
    """Run ``work(send)`` in a fork, handing each message it sends (but progress) to ``on_message``. None when
    it finished; else ``(the last {"at": ...} it sent, "TIMEOUT: ..." | "CRASH: ...")``. A progress message
    starts the next candidate's deadline."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:           # the child: report over the pipe, never flush or clean up the parent's state
        status = 0
        try:
            os.close(r)

            def send(msg: dict[str, Any]) -> None:
                data = (json.dumps(msg) + "\n").encode()
                while data:
                    data = data[os.write(w, data):]

            work(send)
            send({"finished": True})
        except BaseException:
            status = 1
        finally:
            os._exit(status)
    os.close(w)
    buf, at, last = b"", None, time.monotonic()
    try:
        while True:
            ready, _, _ = select.select([r], [], [], max(0.0, last + deadline - time.monotonic()))
            if not ready:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return at, f"TIMEOUT: no answer within {deadline:g} s"
            chunk = os.read(r, 1 << 16)
            if not chunk:
                _, st = os.waitpid(pid, 0)
                return at, f"CRASH: {_status(st)}"
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                msg = json.loads(line)
                if "finished" in msg:
                    os.waitpid(pid, 0)
                    return None
                if "at" in msg:
                    at, last = msg["at"], time.monotonic()
                else:
                    on_message(msg)
    finally:
        os.close(r)


def _status(st: int) -> str:
    if os.WIFSIGNALED(st):
        sig = os.WTERMSIG(st)
        try:
            return f"the probe process was killed by {signal.Signals(sig).name}"
        except ValueError:
            return f"the probe process was killed by signal {sig}"
    return f"the probe process exited with status {os.WEXITSTATUS(st)} before answering"


def _names(out: DtypeRoutes) -> dict[str, Any]:
    return {"builders": [b.name for b in out.builders], "readers": [r.name for r in out.readers],
            "failures": out.failures, "strided": out.strided, "refused": out.refused, "layouts": out.layouts}


def _from_names(torch: Any, spec: DType, names: dict[str, Any], refused: dict[str, str]) -> DtypeRoutes:
    by_b = {b.name: b for b in builders_for(torch, spec)}
    by_r = {r.name: r for r in readers_for(torch, spec)}
    out = _empty(torch, spec)
    out.builders = [by_b[n] for n in names["builders"]]
    out.readers = [by_r[n] for n in names["readers"]]
    out.failures = [f"{label}: {why}" for label, why in refused.items()] + names["failures"]
    out.strided = names["strided"]
    out.layouts = names.get("layouts", {})
    out.refused = {**{k: v.split(":", 1)[0] for k, v in refused.items()}, **names["refused"]}
    return out


def _empty(torch: Any, spec: DType) -> DtypeRoutes:
    builders, readers = builders_for(torch, spec), readers_for(torch, spec)
    return DtypeRoutes(build_api=builders[0].api if builders else "torch.from_numpy",
                       read_api=readers[0].api if readers else "Tensor.numpy")


def _footprint(t: Any) -> Any:
    """What a reader must leave as it was: the tensor's shape, strides and contiguity (read as values)."""
    out = []
    for read in (lambda: shapes.shape(t), lambda: shapes.strides(t), lambda: bool(t.is_contiguous())):
        try:
            out.append(read())
        except Exception as e:
            out.append(type(e).__name__)
    return out


# The layouts cases hand a reader besides the contiguous one (the catalog's views, replay's store.VARIANTS):
# each made by the target from a built (3, 2) sample, with numpy's view of the same bytes. A storage offset of
# one element is no multiple of a row; zero-size tensors are never read (their bytes are none).
_LAYOUTS: tuple[tuple[str, Callable[[Any], Any], Callable[[np.ndarray], np.ndarray]], ...] = (
    ("transposed", lambda t: t.transpose(0, 1), lambda a: a.T),
    ("stepped", lambda t: t[::2], lambda a: a[::2]),
    ("offset", lambda t: t.as_strided((5,), (1,), 1), lambda a: a.reshape(-1)[1:]),
    ("offset transposed", lambda t: t.as_strided((2, 2), (1, 2), 1),
     lambda a: np.lib.stride_tricks.as_strided(a.reshape(-1)[1:], (2, 2), (a.itemsize, 2 * a.itemsize))),
    ("0-d at an offset", lambda t: t.as_strided((), (), 3), lambda a: a.reshape(-1)[3]),
)


def _layouts(t: Any, base: np.ndarray) -> tuple[dict[str, tuple[Any, bytes]], dict[str, str]]:
    """({layout: (the target's tensor of it, the bytes it holds)}, {layout: why it could not be made})."""
    made, unbuilt = {}, {}
    for name, make, view in _LAYOUTS:
        try:
            made[name] = (make(t), np.ascontiguousarray(view(base)).tobytes())
        except Exception as e:
            unbuilt[name] = f"not made: {_why(e)}"
    return made, unbuilt


def _layouts_read_wrong(r: Route, torch: Any, spec: DType, t: Any, base: np.ndarray) -> tuple[list[str], str | None]:
    """(the layouts of ``_LAYOUTS`` that reader ``r`` reads wrong, the first whose strides or contiguity it
    changed, or None). Made afresh for each reader: one that changes its input must not pass that on."""
    wrong = []
    for name, (tt, want) in _layouts(t, base)[0].items():
        before = _footprint(tt)
        try:
            right = r.fn(torch, spec, tt) == want
        except Exception:
            right = False
        if _footprint(tt) != before:
            return wrong, name
        if not right:
            wrong.append(name)
    return wrong, None


def _probe_dtype(torch: Any, spec: DType, dtype_name: Callable[[Any], str], skip: dict[str, str] | None = None,
                 progress: Callable[[str], None] = lambda label: None) -> DtypeRoutes:
    skip = skip or {}
    out = _empty(torch, spec)
    base = _sample(spec)
    want = base.tobytes()
    built: list[tuple[Route, Any, np.ndarray]] = []
    for b in builders_for(torch, spec):
        label = f"build {b.name}"
        if label in skip:
            continue
        progress(label)
        try:
            given = base.copy()
            t = b.fn(torch, spec, given)
            got = dtype_name(t.dtype)
            shape = tuple(shapes.shape(t))
            if got != spec.name or shape != SAMPLE_SHAPE:
                raise TypeError(f"gave a {got} tensor of shape {list(shape)}")
            if given.tobytes() != want or given.shape != base.shape or given.strides != base.strides:
                out.failures.append(f"{label}: changes its input (the numpy array it was given)")
                out.refused[label] = CHANGES_INPUT
                continue
            built.append((b, t, given))
        except Exception as e:
            out.failures.append(f"{label}: {_why(e)}")
    # A reader is good when it reads back the known bytes of a built tensor; a builder is good when a
    # good reader reads its tensor right. A pair that agrees with numpy is taken to be right.
    read_wrong: dict[str, list[str]] = {}      # reader -> the layouts it read wrong
    if not built:     # nothing to read back: check readers on zeros at least (and say so)
        try:
            progress("torch.zeros")
            z = torch.zeros(SAMPLE_SHAPE, dtype=getattr(torch, spec.name))
            built = [(Route("zeros", "torch.zeros", False, None), z, np.zeros(0))]
            base = np.zeros_like(base)
            want = base.tobytes()
            out.failures.append("readers checked on torch.zeros only: no builder made the known bytes")
        except Exception as e:
            out.failures.append(f"read: no tensor to check readers on (torch.zeros: {_why(e)})")
    layouts, unbuilt = _layouts(built[0][1], base) if built else ({}, {})   # the header's account of them
    for r in readers_for(torch, spec):
        label = f"read {r.name}"
        if label in skip:
            continue
        progress(label)
        why = None
        for b, t, given in built:
            try:
                before, kept = _footprint(t), given.tobytes()
                got = r.fn(torch, spec, t)
                if _footprint(t) != before or given.tobytes() != kept:
                    why = CHANGES_INPUT
                    break
                if got == want:
                    break
                why = f"{label}: wrong bytes from a tensor built by {b.name}"
            except Exception as e:
                why = f"{label}: {_why(e)}"
        else:
            out.failures.append(why or f"{label}: no tensor could be built to check it")
            continue
        if why == CHANGES_INPUT:
            out.failures.append(f"{label}: changes its input (the tensor's strides, shape, contiguity or bytes)")
            out.refused[label] = CHANGES_INPUT
            continue
        wrong_at, changed = _layouts_read_wrong(r, torch, spec, t, base)     # t: the tensor it read right
        if changed:
            out.failures.append(f"{label}: changes its input (a {changed} tensor's strides or contiguity)")
            out.refused[label] = CHANGES_INPUT
            continue
        read_wrong[r.name] = wrong_at
        out.readers.append(r)
    # preferred: a reader that also reads the layouts cases hand it right (stable: keeps list order within)
    out.readers.sort(key=lambda r: len(read_wrong[r.name]))
    out.strided = bool(out.readers) and bool(layouts) and not read_wrong[out.readers[0].name]
    if out.readers:
        out.layouts = {name: "read wrong" if name in read_wrong[out.readers[0].name] else "read right"
                       for name in layouts} | unbuilt
    for b, t, _ in built:
        if b.fn is None:
            continue
        progress(f"build {b.name}")
        try:
            if out.readers and out.readers[0].fn(torch, spec, t) == want:
                out.builders.append(b)
            else:
                out.failures.append(f"build {b.name}: the tensor it built does not hold the known bytes")
        except Exception as e:
            out.failures.append(f"build {b.name}: {_why(e)}")
    return out
