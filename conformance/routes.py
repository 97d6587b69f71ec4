"""The kit's own ways into and out of a target: building an input tensor from bytes, reading a tensor's bytes.

A target must be judged on every API even when it lacks the kit's favourite way to build inputs or read
results. So, in the target process and before any case, every candidate route is tried for each dtype
against known bytes (the dtype's special values), and the routes that give those bytes back are used, in
the order listed here. A route that fails validation is never used; when none validates for a dtype, the
cases that need it are BLOCKED by the route's API, naming every route tried and how it failed.

The first candidates are what real torch takes, so the oracle's observations do not depend on routes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .dtypes import DTYPES, DType

SAMPLE_SHAPE = (3, 2)


@dataclass(frozen=True)
class Route:
    name: str                  # shown in the run header and in BLOCKED evidence
    api: str                   # the target API it leans on: what a BLOCKED row names
    numpy_only: bool           # needs a numpy dtype with the same bytes
    fn: Callable[..., Any]


def _carrier(torch: Any, spec: DType) -> Any:
    return getattr(torch, spec.carrier)


def _carrier_array(base: np.ndarray, spec: DType) -> np.ndarray:
    return base.view(np.dtype(spec.carrier))


# -- builders: (torch, spec, base numpy array in the dtype's storage_numpy) -> tensor of base's shape ---------

def _from_numpy(torch, spec, base):
    return torch.from_numpy(base)


def _from_numpy_view_kw(torch, spec, base):
    return torch.from_numpy(_carrier_array(base, spec)).view(dtype=getattr(torch, spec.name))


def _from_numpy_view_pos(torch, spec, base):
    return torch.from_numpy(_carrier_array(base, spec)).view(getattr(torch, spec.name))


def _frombuffer(torch, spec, base):
    return torch.frombuffer(base, dtype=getattr(torch, spec.name)).reshape(list(base.shape))


def _tensor_list(torch, spec, base):
    return torch.tensor(base.tolist(), dtype=getattr(torch, spec.name))


def _via_float32(spec: DType, base: np.ndarray) -> np.ndarray:
    """The values of a 16-bit float array as float32 (exact: every bfloat16 and float16 value is one)."""
    if spec.name == "bfloat16":
        return (base.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
    return base.astype(np.float32)


def _from_float32(torch, spec, base):
    return torch.from_numpy(_via_float32(spec, base)).to(getattr(torch, spec.name))


def _tensor_list_view(torch, spec, base):
    t = torch.tensor(_carrier_array(base, spec).tolist(), dtype=_carrier(torch, spec))
    return t.view(dtype=getattr(torch, spec.name))


BUILDERS = (
    Route("from_numpy", "torch.from_numpy", True, _from_numpy),
    Route("from_numpy(carrier).view(dtype=)", "Tensor.view(dtype)", False, _from_numpy_view_kw),
    Route("from_numpy(carrier).view(dtype)", "Tensor.view(dtype)", False, _from_numpy_view_pos),
    Route("frombuffer(dtype=).reshape", "torch.frombuffer", False, _frombuffer),
    Route("tensor(carrier list).view(dtype=)", "torch.tensor", False, _tensor_list_view),
    Route("tensor(list, dtype=)", "torch.tensor", True, _tensor_list),
    Route("from_numpy(float32).to(dtype)", "Tensor.to", False, _from_float32),
)
_VIA_FLOAT32 = ("bfloat16", "float16")


# -- readers: (torch, spec, tensor) -> its raw little-endian bytes in C order ------------------------------

def _checked(arr: Any, spec: DType) -> bytes:
    arr = np.asarray(arr)
    if arr.dtype.itemsize != spec.itemsize:
        raise TypeError(f"numpy() gave {arr.dtype} ({arr.dtype.itemsize} B an element), not {spec.itemsize} B")
    return np.ascontiguousarray(arr).tobytes()


def _numpy(torch, spec, t):
    return _checked(t.numpy(), spec)


def _contiguous_numpy(torch, spec, t):
    return _checked(t.contiguous().numpy(), spec)


def _contiguous_view_kw_numpy(torch, spec, t):
    return _checked(t.contiguous().view(dtype=_carrier(torch, spec)).numpy(), spec)


def _view_kw_numpy(torch, spec, t):
    return _checked(t.view(dtype=_carrier(torch, spec)).numpy(), spec)


def _view_pos_numpy(torch, spec, t):
    return _checked(t.view(_carrier(torch, spec)).numpy(), spec)


def _tolist(torch, spec, t):
    return _checked(np.array(t.tolist(), dtype=spec.storage_numpy), spec)


def _view_tolist(torch, spec, t):
    return _checked(np.array(t.view(dtype=_carrier(torch, spec)).tolist(), dtype=np.dtype(spec.carrier)), spec)


def _to_float32(torch, spec, t):
    f = np.ascontiguousarray(np.asarray(t.to(torch.float32).numpy(), dtype=np.float32))
    if spec.name == "bfloat16":
        return (f.view(np.uint32) >> 16).astype(np.uint16).tobytes()
    return f.astype(np.float16).tobytes()


READERS = (
    Route("contiguous().numpy()", "Tensor.numpy", True, _contiguous_numpy),
    Route("contiguous().view(dtype=carrier).numpy()", "Tensor.view(dtype)", False, _contiguous_view_kw_numpy),
    Route("numpy()", "Tensor.numpy", True, _numpy),
    Route("view(dtype=carrier).numpy()", "Tensor.view(dtype)", False, _view_kw_numpy),
    Route("view(carrier).numpy()", "Tensor.view(dtype)", False, _view_pos_numpy),
    Route("tolist()", "Tensor.tolist", True, _tolist),
    Route("view(dtype=carrier).tolist()", "Tensor.tolist", False, _view_tolist),
    Route("to(float32).numpy()", "Tensor.to", False, _to_float32),
)


def _applies(route: Route, spec: DType) -> bool:
    if route.fn in (_from_float32, _to_float32):
        return spec.name in _VIA_FLOAT32
    return not (route.numpy_only and spec.numpy is None)


@dataclass
class DtypeRoutes:
    builders: list[Route] = field(default_factory=list)    # validated, in preference order
    readers: list[Route] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)      # "route: why" for every candidate that failed
    strided: bool = True     # the first reader also read a transposed tensor right
    build_api: str = "torch.from_numpy"      # what a BLOCKED row names when no builder works:
    read_api: str = "Tensor.numpy"                           # the first candidate's API for this dtype


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
                         "refused": r.failures, "strided_read_checked": r.strided}
        return out


def _sample(spec: DType) -> np.ndarray:
    bits = spec.value_sets["special"]
    n = SAMPLE_SHAPE[0] * SAMPLE_SHAPE[1]
    raw = spec.pack([bits[i % len(bits)] for i in range(n)])
    return np.frombuffer(bytearray(raw), dtype=spec.storage_numpy).reshape(SAMPLE_SHAPE)


def _why(e: BaseException) -> str:
    return f"{type(e).__name__}: {str(e)[:160]}"


def probe(torch: Any, dtype_name: Callable[[Any], str]) -> Routes:
    """Try every candidate route for every dtype the target has, against known bytes."""
    per: dict[str, DtypeRoutes] = {}
    for spec in DTYPES.values():
        if not hasattr(torch, spec.name) or not hasattr(torch, spec.carrier):
            continue
        per[spec.name] = _probe_dtype(torch, spec, dtype_name)
    return Routes(per)


def _probe_dtype(torch: Any, spec: DType, dtype_name: Callable[[Any], str]) -> DtypeRoutes:
    out = DtypeRoutes(build_api=next(b.api for b in BUILDERS if _applies(b, spec)),
                      read_api=next(r.api for r in READERS if _applies(r, spec)))
    base = _sample(spec)
    want = base.tobytes()
    want_t = np.ascontiguousarray(base.T).tobytes()
    built: list[tuple[Route, Any]] = []
    for b in BUILDERS:
        if not _applies(b, spec):
            continue
        try:
            t = b.fn(torch, spec, base.copy())
            got = dtype_name(t.dtype)
            shape = tuple(int(s) for s in t.shape)
            if got != spec.name or shape != SAMPLE_SHAPE:
                raise TypeError(f"gave a {got} tensor of shape {list(shape)}")
            built.append((b, t))
        except Exception as e:
            out.failures.append(f"build {b.name}: {_why(e)}")
    # A reader is good when it reads back the known bytes of a built tensor; a builder is good when a
    # good reader reads its tensor right. A pair that agrees with numpy is taken to be right.
    strided_ok: dict[str, bool] = {}
    if not built:     # nothing to read back: check readers on zeros at least (and say so)
        try:
            built = [(Route("zeros", "torch.zeros", False, None), torch.zeros(SAMPLE_SHAPE, dtype=getattr(torch, spec.name)))]
            want, want_t = bytes(len(want)), bytes(len(want))
            out.failures.append("readers checked on torch.zeros only: no builder made the known bytes")
        except Exception as e:
            out.failures.append(f"read: no tensor to check readers on (torch.zeros: {_why(e)})")
    for r in READERS:
        if not _applies(r, spec):
            continue
        why = None
        for b, t in built:
            try:
                if r.fn(torch, spec, t) == want:
                    break
                why = f"read {r.name}: wrong bytes from a tensor built by {b.name}"
            except Exception as e:
                why = f"read {r.name}: {_why(e)}"
        else:
            out.failures.append(why or f"read {r.name}: no tensor could be built to check it")
            continue
        out.readers.append(r)
        try:      # preferred: a reader that also reads a non-contiguous tensor right
            strided_ok[r.name] = r.fn(torch, spec, built[0][1].transpose(0, 1)) == want_t
        except Exception:
            strided_ok[r.name] = False
    out.readers.sort(key=lambda r: not strided_ok.get(r.name, False))    # stable: keeps list order within
    out.strided = bool(out.readers) and strided_ok.get(out.readers[0].name, False)
    for b, t in built:
        if b.fn is None:
            continue
        try:
            if out.readers and out.readers[0].fn(torch, spec, t) == want:
                out.builders.append(b)
            else:
                out.failures.append(f"build {b.name}: the tensor it built does not hold the known bytes")
        except Exception as e:
            out.failures.append(f"build {b.name}: {_why(e)}")
    return out
