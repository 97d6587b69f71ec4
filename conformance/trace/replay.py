"""The replay engine: recorded calls run again on any ``torch``, one by one or as a chain.

``isolated``  the calls of one (name, dtype, rank) signature, each fed its recorded inputs (rebuilt
              with their strides, storage offset and alignment), then the same values in the layouts a
              forward pass hands an op (``store.VARIANTS``: contiguous, transposed, stepped, offset), for
              every call that takes a tensor or a numpy array: elementwise math on a transposed input
              is as much a layout question as a view is.
``chained``   a workload phase's whole call sequence, each call fed the target's own earlier outputs.
              A call whose output diverges from the recording beyond its tolerance (or that raises where
              torch did not) is listed, with its caller's file and line, and torch's recorded value
              stands in for its output, so the chain goes on and every later divergence is its own; the
              first one is the row's cause.

Under real torch (the reference) both must reproduce the recording byte for byte, or the recording
is unusable: that raises ``ObservationError`` (ERROR), never a result.

A replay row is recorded like any case (``conformance/calls.py``): the engine's own torch calls (looking an
API up, building its inputs and stand-ins, reading and comparing its results) run ``kit``, with the recorder
paused, so the row's log holds the replayed calls and what they call, never the input building.
"""
from __future__ import annotations

import functools
import hashlib
import importlib
import operator
from typing import Any, Callable

import numpy as np

from .. import calls, shapes
from ..dtypes import DTYPES, bfloat16_as_float32
from ..observe import OBSERVE_ERROR, Blocked, ObservationError
from . import rules
from .store import (VARIANTS, Recording, build_ndarray, build_tensor, contiguous_layout, expected_view, layout_of,
                    relaid, significant)

MAX_CALLS = 4      # calls replayed per signature in isolation (the first ones, in recording order)


def kit(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The engine's own work, not the replayed call's: run with the recorder paused (module doc)."""
    @functools.wraps(fn)
    def paused(*args: Any, **kwargs: Any) -> Any:
        with calls.paused():
            return fn(*args, **kwargs)
    return paused


def _operator(name: str) -> Callable[..., Any] | None:
    """The Python operator behind a dunder method, so replay goes through the language as the
    workload did (``x in t`` falls back to iteration where a Tensor has no ``__contains__``)."""
    special = {"__bool__": bool, "__len__": len, "__int__": int, "__float__": float, "__index__": operator.index,
               "__iter__": lambda a: list(iter(a)), "__contains__": operator.contains}
    if name in special:
        return special[name]
    # the operator module's own functions only: every module has a __repr__, __format__, __hash__ of its own
    ops = vars(operator)
    fn = ops.get(name)
    if fn is not None and name.startswith("__") and name.endswith("__"):
        return fn
    if name.startswith("__r") and ops.get("__" + name[3:]) is not None:
        forward = ops["__" + name[3:]]
        return lambda a, b: forward(b, a)
    return None


@kit
def resolve(torch: Any, api: str) -> Callable[[list[Any], dict[str, Any]], Any]:
    """A function (args, kwargs) -> result calling ``api`` in ``torch``; AttributeError if absent.
    Tensor methods and properties are looked up on the tensor at call time (a backend may keep them
    on the instance); operators go through Python's operators."""
    parts = api.split(".")
    if parts[:2] == ["torch", "Tensor"]:
        name = parts[2]
        if parts[-1] == "__get__":
            return lambda a, k: getattr(a[0], name)
        if parts[-1] == "__set__":
            return lambda a, k: setattr(a[0], name, a[1])
        op = _operator(name)
        if op is not None:
            return lambda a, k: op(*a, **k)
        return lambda a, k: getattr(a[0], name)(*a[1:], **k)
    obj: Any = torch
    for i, p in enumerate(parts[1:], 1):
        nxt = getattr(obj, p, None)
        if nxt is None:    # a submodule not imported yet (torch.nn.functional): import it
            try:
                nxt = importlib.import_module(".".join(["torch"] + parts[1:i + 1]))
            except ImportError:
                nxt = None
        if nxt is None:
            raise AttributeError(f"module '{'.'.join(parts[:i])}' has no attribute '{p}'", name=p, obj=obj)
        obj = nxt
    fn = obj
    return lambda a, k: fn(*a, **k)


@kit
def absent(call: dict[str, Any], args: list[Any]) -> str | None:
    """The attribute a Tensor-method call needs and the target's tensor lacks (MISSING), or None. An
    operator Python has a fallback for (``__contains__`` iterates) is judged by what the fallback gives;
    a reflected or in-place one (``__radd__``, ``__iadd__``) is the tensor's own or MISSING."""
    parts = call["api"].split(".")
    if parts[:2] != ["torch", "Tensor"] or not args:
        return None
    if _operator(parts[2]) is not None and not rules.reflected_or_in_place(parts[2]):
        return None
    return None if hasattr(args[0], parts[2]) else parts[2]


def _builtin(e: BaseException) -> str:
    return next(c for c in type(e).__mro__ if c.__module__ == "builtins").__name__


def caller_of(call: dict[str, Any]) -> str:
    c = call.get("caller") or {}
    return f"{c.get('file', '?')}:{c.get('line', '?')}"


class Replayer:
    """Rebuilds recorded values in ``ctx.torch`` and observes results against the recording."""

    def __init__(self, ctx: Any, rec: Recording, reference: bool):
        self.ctx, self.torch, self.rec, self.reference = ctx, ctx.torch, rec, reference
        self.notes: list[str] = []       # result-type and size-1-stride differences: shown, not fatal
        self.stand_in_ok = True          # whether the last stand-in (check=False) came out as recorded

    # -- rebuilding ------------------------------------------------------------------------------------
    def _build(self, spec: dict[str, Any], data: bytes, steps: list[str], flat: bool) -> tuple[Any, dict[str, Any]]:
        try:
            t = build_tensor(self.torch, spec, data, steps, flat=flat)
            shape = [int(s) for s in t.shape]
            seen = {"dtype": self.ctx.dtype_name(t.dtype), "shape": shape,
                    "stride": significant(shape, shapes.strides(t)),
                    "sha256": hashlib.sha256(self.ctx.raw_bytes(t)).hexdigest()}
        except ObservationError as e:
            t, seen = None, {OBSERVE_ERROR: str(e)}
        except Exception as e:   # the target cannot build the input: the input check says so
            t, seen = None, {"build_error": f"{type(e).__name__}: {str(e)[:200]}"}
        return t, seen

    @kit
    def tensor(self, spec: dict[str, Any], variant: str, label: str, check: bool = True) -> Any:
        data = self.rec.blob(spec["blob"])
        if variant != "recorded":
            spec, data = relaid(spec, data, variant)
        steps: list[str] = []
        t, seen = self._build(spec, data, steps, flat=False)
        expected = layout_of(spec, data)
        if seen != expected and not self.reference and steps and "Tensor.as_strided" not in steps:
            # from_numpy of a strided numpy view came out wrong (its own row says so, as torch.from_numpy
            # or torch.tensor of a strided array): the same layout through as_strided over flat storage
            flat_steps: list[str] = []
            t2, seen2 = self._build(spec, data, flat_steps, flat=True)
            if seen2 == expected:
                self.ctx.reach_around(steps[-1], f"it built a {spec['dtype']} {spec['shape']} tensor with strides "
                                                 f"{spec['stride']} from a strided numpy array wrong; built with "
                                                 "from_numpy of the flat storage and Tensor.as_strided")
                t, seen = t2, seen2
        if not check:
            self.stand_in_ok = seen == expected
            return t
        self.ctx.inputs.append({"input": label, "expected": expected, "observed": seen})
        if seen != expected and not self.reference and steps:
            # the replayed op never ran on what torch gave it: blocked by the API that built the input wrong
            wrong = {k: seen.get(k) for k in ("dtype", "shape", "stride", "build_error", OBSERVE_ERROR)
                     if seen.get(k) != expected.get(k)} or {"bytes": "differ"}
            raise Blocked(steps[-1], "input", f"{label}: {spec['dtype']} {spec['shape']} strides {spec['stride']} "
                                              f"offset {spec['offset']} built as {wrong}")
        return t

    def decode(self, enc: dict[str, Any], variant: str, label: str, bound: dict[int, Any] | None) -> Any:
        torch, k = self.torch, enc["k"]
        if k == "tensor":
            if bound is not None and enc["tid"] in bound:
                return bound[enc["tid"]]
            t = self.tensor(enc, variant, f"{label} ({variant} layout)")
            if bound is not None:
                bound[enc["tid"]] = t
            return t
        if k == "ndarray":     # numpy does the layout: nothing of the target's is used to build it
            spec, data = enc, self.rec.blob(enc["blob"])
            if variant != "recorded":
                spec, data = relaid(spec, data, variant)
            return build_ndarray(spec, data)
        if k == "none":
            return None
        if k in ("bool", "int", "str"):
            return enc["v"]
        if k == "float":
            return float.fromhex(enc["v"])
        if k in ("tuple", "list"):
            items = [self.decode(x, variant, f"{label}[{i}]", bound) for i, x in enumerate(enc["v"])]
            return tuple(items) if k == "tuple" else items
        if k == "size":
            return torch.Size(enc["v"])
        if k == "dict":
            return {self.decode(a, variant, label, bound): self.decode(b, variant, label, bound) for a, b in enc["v"]}
        if k == "slice":
            return slice(*(self.decode(x, variant, label, bound) for x in enc["v"]))
        if k == "ellipsis":
            return Ellipsis
        if k == "dtype":
            return getattr(torch, enc["v"])
        if k == "device":
            return torch.device(enc["v"])
        if k in ("memory_format", "layout"):
            return getattr(torch, enc["v"])
        raise ObservationError(f"cannot rebuild a recorded {enc.get('type', k)}")

    @kit
    def arguments(self, call: dict[str, Any], variant: str, bound: dict[int, Any] | None):
        args = [self.decode(a, variant, f"call {call['i']} arg {n}", bound) for n, a in enumerate(call["args"])]
        kwargs = {k: self.decode(v, variant, f"call {call['i']} {k}=", bound) for k, v in call["kwargs"].items()}
        return args, kwargs

    # -- observing ------------------------------------------------------------------------------------
    @kit
    def observe(self, v: Any, exact: bool) -> Any:
        """A result as an observation: tensors with strides of size-1 dimensions left out (they never
        change what a later view may do), floats of float-math ops as {"approx": ...}; Python and numpy
        numbers alike (their types are compared apart, see ``type_of``)."""
        torch, ctx = self.torch, self.ctx
        if shapes.is_tensor(torch, v):
            obs = ctx.tensor(v)
            obs["stride"] = significant(obs["shape"], obs["stride"])
            spec = DTYPES.get(obs["dtype"])
            if not exact and spec is not None and spec.numpy_float is not None:
                obs["approx"] = {"dtype": obs["dtype"], "shape": obs["shape"], "bytes": obs.pop("bytes")}
            return obs
        if isinstance(v, np.ndarray):
            return ndarray_observation(v)
        if v is None or isinstance(v, (bool, str)):
            return v
        if shapes.is_dtype(torch, v):
            return {"dtype": ctx.dtype_name(v)}
        if shapes.is_device(torch, v):
            return {"device": str(v)}
        if isinstance(v, (list, tuple)):
            return [self.observe(x, exact) for x in v]
        if hasattr(v, "__index__") and not isinstance(v, float):
            try:
                return int(v.__index__())
            except Exception:
                pass
        if isinstance(v, (float, np.floating)):
            return {"float": float(v).hex()}
        return {"object": type(v).__name__}

    @kit
    def type_of(self, v: Any) -> str:
        torch = self.torch
        if shapes.is_tensor(torch, v):
            return "Tensor"
        if shapes.is_instance(v, getattr(torch, "Size", None)):
            return "Size[" + ",".join(self.type_of(x) for x in v) + "]"
        if shapes.is_dtype(torch, v):     # the backend's own dtype and device classes are these
            return "dtype"
        if shapes.is_device(torch, v):
            return "device"
        if isinstance(v, (list, tuple)):
            return f"{type(v).__name__}[" + ",".join(self.type_of(x) for x in v) + "]"
        t = type(v)
        return t.__name__ if t.__module__ == "builtins" else f"{t.__module__.split('.')[0]}.{t.__name__}"

    # -- against the recording -------------------------------------------------------------------------
    def recorded_type(self, enc: dict[str, Any]) -> str:
        k = enc["k"]
        if k == "tensor":
            return "Tensor"
        if k == "ndarray":
            return "numpy.ndarray"
        if k == "size":
            return "Size[" + ",".join(["int"] * len(enc["v"])) + "]"
        if k in ("tuple", "list"):
            return f"{enc.get('type') if k == 'tuple' and enc.get('type') else k}[" + \
                ",".join(self.recorded_type(x) for x in enc["v"]) + "]"
        return {"none": "NoneType", "dtype": "dtype", "device": "device"}.get(k, k)

    @kit
    def differs(self, v: Any, enc: dict[str, Any], api: str, tolerant: bool) -> tuple[str | None, dict]:
        """How ``v`` differs from the recorded ``enc`` ("dtype", "shape", "stride", "bytes", "values",
        "value"; None: it does not), and facts for display (ulp distance, largest differences)."""
        torch = self.torch
        if enc["k"] == "tensor":
            if not shapes.is_tensor(torch, v):
                return "value", {"target": self.type_of(v)}
            name = self.ctx.dtype_name(v.dtype)
            if name != enc["dtype"]:
                return "dtype", {"recorded": enc["dtype"], "target": name}
            shape = shapes.shape(v)
            if shape != enc["shape"]:
                return "shape", {"recorded": enc["shape"], "target": shape}
            stride = shapes.strides(v)
            # values first: a wrong value is what later calls inherit; "stride" means the values are right
            laid_out = None if significant(shape, stride) == significant(shape, enc["stride"]) else \
                ("stride", {"recorded": enc["stride"], "target": stride})
            if laid_out is None and stride != enc["stride"]:
                self.notes.append(f"call {api}: strides {stride} (recorded {enc['stride']}) differ only where no view "
                                  "depends on them (size-1 dimensions, or no element)")
            if rules.op_class(api) == "uninitialized":
                return laid_out or (None, {})
            want = np.ascontiguousarray(expected_view(enc, self.rec.blob(enc["blob"]))).tobytes()
            got = self.ctx.raw_bytes(v)
            if got == want:
                return laid_out or (None, {"exact": True})
            facts = float_facts(enc["dtype"], want, got)
            if tolerant and enc["dtype"] in rules.FLOATS and facts.get("within") is not None:
                mag = facts["max_abs_recorded"]
                tol = rules.tolerance(mag)
                ok = facts["check"](tol)
                facts = {k: x for k, x in facts.items() if not callable(x)}
                facts["tolerance"] = tol
                if ok and laid_out is not None:
                    return laid_out[0], {**laid_out[1], **facts}
                return (None if ok else "values"), facts
            return "bytes", {k: x for k, x in facts.items() if not callable(x)}
        if enc["k"] == "ndarray":
            want = ndarray_observation(expected_view(enc, self.rec.blob(enc["blob"])), enc["dtype"])
            got = ndarray_observation(v) if isinstance(v, np.ndarray) else {"object": self.type_of(v)}
            return (None, {"exact": True}) if got == want else ("value", {"recorded": want, "target": got})
        if enc["k"] in ("tuple", "list") and rules.first_tensor(enc["v"]) is not None:
            if not isinstance(v, (list, tuple)) or len(v) != len(enc["v"]):
                return "value", {"recorded": self.recorded_type(enc), "target": self.type_of(v)}
            exact, laid_out = True, None
            for i, (x, e) in enumerate(zip(v, enc["v"])):
                how, facts = self.differs(x, e, api, tolerant)
                if how == "stride":          # a wrong value in a later item matters more
                    laid_out = laid_out or (how, {**facts, "item": i})
                elif how is not None:
                    return how, {**facts, "item": i}
                exact = exact and bool(facts.get("exact"))
            return laid_out or (None, {"exact": exact})
        if enc["k"] == "float" and tolerant and isinstance(v, (float, np.floating)):
            # a Python float read out of a float tensor (.item()): its inputs may have drifted within tolerance
            want, got = float.fromhex(enc["v"]), float(v)
            tol = rules.tolerance(abs(want))
            if got == want or abs(got - want) <= tol["atol"] + tol["rtol"] * abs(want):
                return None, {"exact": got == want}
            return "values", {"recorded": enc["v"], "target": got.hex(), "tolerance": tol,
                              "max_abs_diff": abs(got - want), "n": 1, "n_differ": 1}
        got_plain, want_plain = self.observe(v, True), plain(enc)
        if got_plain != want_plain:
            return "value", {"recorded": want_plain, "target": got_plain}
        rt, tt = self.recorded_type(enc), self.type_of(v)
        if rt != tt and not (rt.startswith(("tuple", "list")) and tt.split("[")[0] in ("tuple", "list") and
                             rt.split("[")[1:] == tt.split("[")[1:]):
            self.notes.append(f"call {api}: result type {tt} where torch gives {rt}")
        return None, {"exact": True}


def ndarray_observation(a: np.ndarray, dtype: str | None = None) -> dict[str, Any]:
    """A numpy array result (``Tensor.numpy()``): dtype, shape and its C-order bytes (strides are numpy's)."""
    name = dtype or next((n for n, d in DTYPES.items() if d.numpy and np.dtype(d.numpy) == a.dtype), str(a.dtype))
    return {"ndarray": name, "shape": [int(n) for n in a.shape], "bytes": np.ascontiguousarray(a).tobytes().hex()}


def plain(enc: dict[str, Any]) -> Any:
    """A recorded non-tensor value in the form ``Replayer.observe`` gives."""
    k = enc["k"]
    if k == "none":
        return None
    if k in ("bool", "str", "int"):
        return enc["v"]
    if k == "float":
        return {"float": enc["v"]}
    if k == "size":
        return list(enc["v"])
    if k in ("tuple", "list"):
        return [plain(x) for x in enc["v"]]
    if k == "dtype":
        return {"dtype": enc["v"]}
    if k == "device":
        return {"device": enc["v"]}
    return {"object": enc.get("type", k)}


def _float_parts(dtype: str, buf: bytes) -> tuple[Any, Any, int] | None:
    """A float buffer's values as float64, its bit patterns as signed integers, and their width in bits (a
    complex number as its two float32 parts; bfloat16, which numpy lacks, as the top half of a float32); None
    for a dtype that is no float numpy can read (the float8 types)."""
    spec = DTYPES.get(dtype)
    if spec is None:
        return None
    if dtype == "bfloat16":
        half = np.frombuffer(buf, dtype="<u2")
        return bfloat16_as_float32(half).astype(np.float64), half.view("<i2").astype(np.int64), 16
    if not spec.numpy or np.dtype(spec.numpy).kind not in "fc":
        return None
    nd = np.dtype(spec.numpy)
    if nd.kind == "c":
        nd = np.dtype(f"<f{nd.itemsize // 2}")
    ints = np.frombuffer(buf, dtype=f"<i{nd.itemsize}").astype(np.int64)
    return np.frombuffer(buf, dtype=nd).astype(np.float64), ints, 8 * nd.itemsize


def _ordered(ints: Any, width: int) -> Any:
    """Bit patterns as integers that grow with the float they encode, across the sign (-0 and +0 both 0)."""
    magnitude = np.int64((1 << (width - 1)) - 1)
    return np.where(ints < 0, -(ints & magnitude), ints)


def _max_ulp(oa: Any, ob: Any, differ: Any) -> int:
    """The largest ulp distance among the elements that differ, exact (an int64 difference of two 64-bit
    patterns of opposite sign overflows: the largest is found in float64, then measured in Python ints)."""
    if not differ.any():
        return 0
    at = np.flatnonzero(differ)
    k = at[int(np.argmax(np.abs(oa[at].astype(np.float64) - ob[at].astype(np.float64))))]
    return abs(int(oa[k]) - int(ob[k]))


def float_facts(dtype: str, want: bytes, got: bytes) -> dict[str, Any]:
    """Largest absolute and relative differences and ulp distance between two float buffers."""
    pa = _float_parts(dtype, want) if len(want) == len(got) else None
    pb = _float_parts(dtype, got) if pa is not None else None
    if pa is None or pb is None:
        return {"within": None}
    (a, ia, width), (b, ib, _) = pa, pb
    oa, ob = _ordered(ia, width), _ordered(ib, width)
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.abs(a - b)
        same_special = (np.isnan(a) & np.isnan(b)) | (a == b)
        finite = np.isfinite(a) & np.isfinite(b)
    mag = float(np.max(np.abs(a[np.isfinite(a)]))) if np.isfinite(a).any() else 0.0

    def within(tol: dict[str, float]) -> bool:
        with np.errstate(invalid="ignore"):
            ok = same_special | (finite & (d <= tol["atol"] + tol["rtol"] * np.abs(a)))
        return bool(ok.all())

    fin = finite & ~same_special
    return {"within": True, "check": within, "max_abs_recorded": mag,
            "max_abs_diff": float(d[fin].max()) if fin.any() else 0.0,
            "max_ulp": _max_ulp(oa, ob, ~same_special),
            "n_differ": int((~same_special).sum()), "n": int(a.size)}


# -- isolated ---------------------------------------------------------------------------------------------

def _arrays(encs: list[Any]) -> list[dict[str, Any]]:
    """The tensors and numpy arrays among recorded values, nested ones too."""
    out: list[dict[str, Any]] = []
    todo = list(encs)
    while todo:
        e = todo.pop(0)
        if not isinstance(e, dict):
            continue
        if e.get("k") in ("tensor", "ndarray"):
            out.append(e)
        elif e.get("k") in ("tuple", "list"):
            todo[:0] = e["v"]
        elif e.get("k") == "dict":
            todo[:0] = [x for kv in e["v"] for x in kv]
    return out


def _layout(shape: list[int], stride: list[int], offset: int) -> tuple[Any, int]:
    return tuple(significant(shape, stride)), (offset if 0 not in shape else 0)


def _relaid_layout(a: dict[str, Any], how: str) -> tuple[Any, int]:
    """The layout ``store.relaid`` gives ``a`` for ``how`` (strides of size-1 dimensions left out)."""
    shape = list(a["shape"])
    if how == "transposed":
        stride = list(reversed(contiguous_layout(list(reversed(shape)))))
    elif how == "stepped":
        stride = [2 * x for x in contiguous_layout(shape)]
    else:
        stride = contiguous_layout(shape)
    return _layout(shape, stride, 3 if how == "offset" else 0)


def variants(api: str, call: dict[str, Any]) -> list[str]:
    """``recorded``, then each layout of ``store.VARIANTS`` that lays at least one of the call's tensor or
    array arguments out differently from the recording and from the variants before it (a 1-d tensor has
    no transposed layout of its own)."""
    arrays = _arrays(list(call["args"]) + list(call["kwargs"].values()))
    if not arrays:
        return ["recorded"]
    seen = {tuple(_layout(a["shape"], a["stride"], a["offset"]) for a in arrays)}
    out = ["recorded"]
    for how in VARIANTS:
        key = tuple(_relaid_layout(a, how) for a in arrays)
        if key not in seen:
            seen.add(key)
            out.append(how)
    return out


def isolated(ctx: Any, rec: Recording, calls: list[dict[str, Any]], reference: bool) -> dict[str, Any]:
    """Replay ``calls`` (one signature) one by one on their recorded inputs; the observation lists each
    call's result. Under the reference, each must equal the recording byte for byte."""
    r = Replayer(ctx, rec, reference)
    api = calls[0]["api"]
    fn = resolve(ctx.torch, api)            # absent: AttributeError out of the case, MISSING
    exact = not rules.compares_within_tolerance(api, _out_dtype(calls[0]))
    out, facts = [], []
    for call in calls[:MAX_CALLS]:
        for variant in variants(api, call):
            built = len(ctx.inputs)
            args, kwargs = r.arguments(call, variant, None)
            entry: dict[str, Any] = {"call": call["i"], "at": caller_of(call), "variant": variant}
            if any("build_error" in i["observed"] for i in ctx.inputs[built:]):
                entry["result"] = "input not built"
                out.append(entry)
                continue
            missing = absent(call, args) if rules.reflected_or_in_place(rules.leaf(api)) else None
            if missing:       # Python would fall back to another operator (t = t + x): not the workload's call
                raise AttributeError(f"'Tensor' object has no attribute '{missing}'", name=missing)
            try:
                v = fn(args, kwargs)
            except Blocked:
                raise
            except Exception as e:
                missing = absent(call, args) if isinstance(e, AttributeError) else None
                if missing:       # the target's tensors have no such method or property: MISSING
                    raise AttributeError(f"'Tensor' object has no attribute '{missing}'", name=missing) from None
                entry["raises"] = _builtin(e)
                if variant == "recorded" and reference:
                    raise ObservationError(f"the oracle does not replay its own recording: call {call['i']} "
                                           f"{api} raised {type(e).__name__}: {e}") from None
                out.append(entry)
                continue
            entry["result"] = r.observe(v, exact)
            if rules.in_place(api) and args and isinstance(args[0], ctx.torch.Tensor):
                entry["self_after"] = r.observe(args[0], exact)     # what it wrote (t[i] = v returns None)
            if variant == "recorded" and "out" in call:
                how, f = r.differs(v, call["out"], api, tolerant=not reference)
                if reference and (how or not f.get("exact")):
                    raise ObservationError(f"the oracle does not replay its own recording byte-exactly: call "
                                           f"{call['i']} {api} at {caller_of(call)}: {how} {f}")
                facts.append({"call": call["i"], "exact": bool(f.get("exact")), "differs": how,
                              **{k: f[k] for k in ("max_ulp", "max_abs_diff") if k in f}})
            out.append(entry)
    ctx.display = {"against_recording": facts, "notes": r.notes[:20],
                   "exact": all(f["exact"] for f in facts) if facts else None}
    return {"api": api, "calls": out}


def _out_dtype(call: dict[str, Any]) -> str | None:
    t = rules.first_tensor([call["out"]]) if "out" in call else None
    return t["dtype"] if t else None


# -- chained ----------------------------------------------------------------------------------------------

MAX_LISTED = 500    # divergences a chain lists in its display (n_diverging counts them all)
WHERE_CHARS = 900   # the summary's one line: the first divergence, then where the others are


def chained(ctx: Any, rec: Recording, calls: list[dict[str, Any]], reference: bool) -> dict[str, Any]:
    """Run ``calls`` in order, each on the target's own earlier outputs (recorded inputs only for tensors
    made out of sight). A call that diverges is listed and torch's recorded value stands in for its
    output, so the chain reaches every later divergence. Returns the first divergence (None when there
    is none) and what could not run; ``ctx.display["diverging_calls"]`` lists them all, in order."""
    r = Replayer(ctx, rec, reference)
    bound: dict[int, Any] = {}
    skipped: dict[str, int] = {}
    diverging: list[dict[str, Any]] = []
    laid_out: set[int] = set()      # tensors the target holds with the right values and other strides
    followed = 0                    # stride differences that only follow from such an input
    replayed = 0
    for call in calls:
        api = call["api"]
        why = rules.not_replayable(call)
        if why is not None:
            skipped[f"{rules.short_name(api)}: {why}"] = skipped.get(f"{rules.short_name(api)}: {why}", 0) + 1
            if "out" in call:
                _bind_recorded(r, call["out"], bound)
            continue
        replayed += 1
        problem: dict[str, Any] | None = None
        try:
            fn = resolve(ctx.torch, api)
            args, kwargs = r.arguments(call, "recorded", bound)
            v = fn(args, kwargs)
        except Blocked:
            raise
        except Exception as e:
            if "raises" in call and type(e).__name__ == call["raises"]:
                continue
            problem = {"kind": f"raises {_builtin(e)}", "detail": f"{type(e).__name__}: {str(e)[:200]}"}
            v = None
        else:
            if "raises" in call:
                problem = {"kind": "does not raise", "detail": f"torch raised {call['raises']}"}
            else:
                how, facts = r.differs(v, call["out"], api, tolerant=not reference)
                if how is not None:
                    problem = {"kind": how, "detail": _facts_line(how, facts)}
                elif reference and not facts.get("exact"):
                    problem = {"kind": "bytes", "detail": _facts_line("bytes", facts)}
        if problem is not None:
            if reference:
                raise ObservationError(f"the oracle does not replay its own recording byte-exactly: call "
                                       f"{call['i']} {api} at {caller_of(call)}: {problem['detail']}")
            entry = {"call": call["i"], "api": rules.short_name(api), "at": caller_of(call), **problem}
            if problem["kind"] == "stride":
                # right values, laid out otherwise: the target's own value goes on, so what a later call makes
                # of that layout (a reshape after attention) is seen, as it happens in the target's forward pass
                _bind(r, call["out"], v, bound)
                inherited = any(a["tid"] in laid_out for a in _arrays(call["args"] + list(call["kwargs"].values()))
                                if a["k"] == "tensor")
                laid_out.update(a["tid"] for a in _arrays([call["out"]]) if a["k"] == "tensor")
                if inherited:     # a view of a tensor laid out otherwise is laid out otherwise: not a divergence
                    followed += 1
                    continue
                entry["stand_in"] = "none: the target's value (right values, other strides) goes on"
            elif "out" in call:        # carry on from torch's value: later divergences are their own
                if not _bind_recorded(r, call["out"], bound):
                    entry["stand_in"] = "torch's value could not be built in the target: later calls may diverge from it"
            diverging.append(entry)
            continue
        if "out" in call:
            _bind(r, call["out"], v, bound)
    first = diverging[0] if diverging else None
    ctx.display = {"diverging_calls": diverging[:MAX_LISTED], "n_diverging": len(diverging), "notes": r.notes[:20],
                   "not_replayable": skipped, "strides_following_an_input": followed}
    if first is not None:
        ctx.display["where"] = where_line(diverging)
        more = f" ({len(diverging)} divergences in this chain)" if len(diverging) > 1 else ""
        ctx.cause = {"api": first["api"], "phase": "chain",
                     "evidence": f"{first['api']} at {first['at']} (call {first['call']}, in a pass of {len(calls)} calls): "
                                 f"{first['detail']}"[:400] + more}
    return {"calls": len(calls), "replayed": replayed, "not_replayable": sum(skipped.values()),
            "first_divergence": None if first is None else
            {"call": first["call"], "api": first["api"], "at": first["at"], "kind": first["kind"]}}


def where_line(diverging: list[dict[str, Any]]) -> str:
    """One line for the row's summary: the first divergence in full, then every later one as ``api at
    file:line (kind)``, in order (a call repeated at the same line, layer after layer, counted once as xN)."""
    first = diverging[0]
    head = f"first divergence: call {first['call']} {first['api']} at {first['at']}: {first['detail']}"[:300]
    later: dict[str, int] = {}        # in order of first appearance
    for d in diverging[1:]:
        key = f"{d['api']} at {d['at']} ({d['kind']})"
        later[key] = later.get(key, 0) + 1
    if not later:
        return head
    parts = [k + (f" x{n}" if n > 1 else "") for k, n in later.items()]
    line = head + f"; then {len(diverging) - 1} more: "
    shown = []
    for i, part in enumerate(parts):
        if len(line) + len(", ".join(shown + [part])) > WHERE_CHARS:
            return line + ", ".join(shown) + f", ... ({len(parts) - i} more places, all in display.diverging_calls)"
        shown.append(part)
    return line + ", ".join(shown)


def _facts_line(how: str, f: dict[str, Any]) -> str:
    if how == "values":
        return (f"{f.get('n_differ')} of {f.get('n')} values differ, largest absolute difference "
                f"{f.get('max_abs_diff', 0):.3g} outside {f.get('tolerance')} ({f.get('max_ulp')} ulp)")
    if how == "bytes":
        extra = f" ({f.get('max_ulp')} ulp, largest absolute difference {f.get('max_abs_diff', 0):.3g})" \
            if "max_ulp" in f else ""
        return f"bytes differ from torch's{extra}"
    return f"{how}: torch {f.get('recorded')}, target {f.get('target')}"


def _bind(r: Replayer, enc: dict[str, Any], v: Any, bound: dict[int, Any]) -> None:
    if enc["k"] == "tensor":
        bound[enc["tid"]] = v
    elif enc["k"] in ("tuple", "list") and isinstance(v, (list, tuple)) and len(v) == len(enc["v"]):
        for e, x in zip(enc["v"], v):
            _bind(r, e, x, bound)


def _bind_recorded(r: Replayer, enc: dict[str, Any], bound: dict[int, Any]) -> bool:
    """Torch's recorded value stands in for an output the target could not make (or made wrong).
    False when some stand-in could not be built as recorded in the target, by any route."""
    if enc["k"] == "tensor":
        # no input check: a stand-in after a divergence already found must not hide that divergence
        bound[enc["tid"]] = r.tensor(enc, "recorded", f"recorded output {enc['tid']}", check=False)
        return r.stand_in_ok
    if enc["k"] in ("tuple", "list"):
        return all([_bind_recorded(r, e, bound) for e in enc["v"]])
    return True

