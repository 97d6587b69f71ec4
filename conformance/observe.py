"""Canonical, backend-neutral observations.

An observation is JSON: dtype names, shapes, strides, raw little-endian bytes (hex), booleans,
pointer offsets (never absolute addresses) and, for errors, the exception class. Exception
messages are kept for display only; nothing here depends on hash seeds, time or dict order.

The kit itself needs a small surface of the backend to build inputs and read results. Which calls it
makes for that is chosen per target and per dtype (``routes``), among routes validated against known
bytes, so a target missing the kit's favourite route is still judged on every API. A fault in building
an input or reading a result never counts against the API under test: it raises ``Blocked`` (the row is
BLOCKED by the API that failed), and that API has cases of its own.
"""
from __future__ import annotations

import os
import tempfile
from math import prod
from typing import Any, Callable

import numpy as np

from . import calls, routes as routes_mod, shapes
from .dtypes import DTYPES
from .inputs import TensorInput, ViewOp, apply_views, flip_low_bits


# The special keys of an observation (docs/results-schema.md), named once.
DISPLAY = "display"            # shown, never compared: a case's notes, call log, blame
IMPORT_READS = "import_reads"  # in DISPLAY: what torch's own import code read before it raised (calls.import_reads)
BLOCKED = "blocked"            # {"api", "phase", "evidence"} of what stopped the case before or after its call
KIT_ERROR = "kit_error"        # the case could not run (the kit's fault, or an invalid process)
OBSERVE_ERROR = "observe_error"    # a value could not be read out of the backend
DTYPE_ABSENT = "dtype_absent"  # an optional dtype this process lacks
NOT_IN_THIS_SAFETENSORS = "unsupported_in_this_safetensors"   # the installed safetensors lacks the entry point
NOT_IN_THIS_ENVIRONMENT = "unsupported_in_this_environment"   # the environment lacks something (transformers)


UNDETERMINED = "undetermined: the input follows neither writes to its numpy base nor its own zero_()"


class Blocked(Exception):
    """Another API than the one under test failed first: building an input (``input``), reading the result
    (``read``) or an earlier step of a chain (``chain``). The row is BLOCKED by ``api``."""

    def __init__(self, api: str, phase: str, evidence: str):
        super().__init__(f"{api} ({phase}): {evidence}")
        self.api, self.phase, self.evidence = api, phase, evidence

    def cause(self) -> dict[str, str]:
        return {"api": self.api, "phase": self.phase, "evidence": self.evidence[:600]}


class ObservationError(Blocked):
    """The kit could not read a value out of the backend (every validated reader failed)."""

    def __init__(self, message: str, api: str = "Tensor.numpy"):
        super().__init__(api, "read", message)
        self.args = (message,)


def exception(e: BaseException) -> dict[str, Any]:
    cls = type(e)
    base = next((c for c in cls.__mro__ if c.__module__ == "builtins"), BaseException)
    obs = {"raises": base.__name__, "type": f"{cls.__module__}.{cls.__qualname__}", "message": str(e)[:500]}
    display = getattr(e, DISPLAY, None)   # a case's notes on where it failed: shown, never compared
    if isinstance(display, dict):
        obs[DISPLAY] = display
    return obs


def pointer_offset(delta: int, limit: int) -> int | str:
    """A pointer difference, kept only when it is an offset inside a buffer ([0, limit] bytes); any
    other difference is between unrelated allocations, so only that fact is observed (never an address)."""
    return delta if isinstance(delta, int) and 0 <= delta <= limit else "outside the buffer"


_ROUTES: dict[int, routes_mod.Routes] = {}


def routes_for(torch: Any) -> routes_mod.Routes:
    """The validated routes of this process's ``torch`` (probed once, on first use)."""
    r = _ROUTES.get(id(torch))
    if r is None:
        r = _ROUTES[id(torch)] = routes_mod.probe(torch, Context(torch, routes=routes_mod.Routes({})).dtype_name)
    return r


def _view_api(op: ViewOp) -> str:
    return "Tensor.transpose" if op[0] == "transpose" else "Tensor.__getitem__"


class Context:
    """What a case gets besides ``torch``: input builders, readers and a private temp folder."""

    def __init__(self, torch: Any, routes: routes_mod.Routes | None = None):
        self.torch = torch
        self.workdir: str | None = None   # made on first use: most cases never touch a file
        self.inputs: list[dict[str, Any]] = []   # input-sanity records, checked by compare
        self.cause: dict[str, str] | None = None   # a case's own word on what diverged (shown, never compared)
        self.around: list[str] = []     # blockers this case reached around to judge its own API (shown)
        self._routes = routes

    @property
    def routes(self) -> routes_mod.Routes:
        if self._routes is None:
            self._routes = routes_for(self.torch)
        return self._routes

    def reach_around(self, api: str, how: str) -> None:
        """Note that a step before the API under test failed and an independent route was taken instead."""
        if f"{api}: {how}" not in self.around:
            self.around.append(f"{api}: {how}")

    # -- dtypes -------------------------------------------------------------------------------
    def dtype(self, name: str) -> Any:
        """``torch.<name>``; a target without it blocks the case (the dtype has a row of its own)."""
        dt = getattr(self.torch, name, None)
        if dt is None:
            raise Blocked(f"torch.{name}", "input", f"the target has no torch.{name}, which this case needs")
        return dt

    def dtype_name(self, dt: Any) -> str:
        """Canonical name of a backend dtype: the torch.<name> it is, or its repr if none (the kit's reads of
        ``torch``, not the case's: a dtype the target lacks is no miss of the case's)."""
        with calls.reading():
            return self._dtype_name(dt)

    def _dtype_name(self, dt: Any) -> str:
        for name in DTYPES:
            cand = getattr(self.torch, name, None)
            if cand is not None and (cand is dt or _safe_eq(cand, dt)):
                return name
        return f"<unknown dtype {dt!r}>"

    # -- inputs -------------------------------------------------------------------------------
    def input(self, spec: TensorInput) -> Any:
        """Build ``spec`` in the backend and record whether it holds the intended bytes."""
        return self.input_from(spec, spec.numpy_base())

    def input_from(self, spec: TensorInput, base: np.ndarray) -> Any:
        with calls.paused():
            return self._input_from(spec, base)

    def _input_from(self, spec: TensorInput, base: np.ndarray) -> Any:
        """Like ``input``, from a numpy array the caller keeps (to mutate it in aliasing checks).

        The tensor is built by the first validated route that builds it, then the view operations are
        applied. An input that is not what numpy says it must be blocks the case, naming the step that
        made it wrong."""
        self.dtype(spec.dtype)
        route = self.routes.of(spec.dtype)
        t, errors = None, []
        for b in route.builders:
            try:
                t = b.fn(self.torch, spec.spec, base)
                break
            except Exception as e:
                errors.append(f"{b.name}: {type(e).__name__}: {str(e)[:120]}")
        if t is None:
            api = route.builders[0].api if route.builders else route.build_api
            raise Blocked(api, "input", f"no route built the input {spec.describe()}: "
                          + "; ".join(errors + route.failures))
        built = t
        for op in spec.views:
            try:
                t = apply_views(t, (op,), numpy=False)
            except Exception as e:
                raise Blocked(_view_api(op), "input", f"building the input {spec.describe()}: "
                              f"{type(e).__name__}: {str(e)[:200]}") from None
        expected = spec.expected()
        seen = self._sanity(t, expected)
        self.inputs.append({"input": spec.describe(), "expected": expected, "observed": seen})
        if seen != expected:
            api, phase = self._wrong_step(spec, built), "input"
            if api != route.builders[0].api and not route.strided and route.readers:
                # the reader was never seen to read a non-contiguous tensor right: it, not the view, is suspect
                api, phase = route.readers[0].api, "read"
            raise Blocked(api, phase, f"the input {spec.describe()} came out wrong: " + _first_difference(expected, seen)
                          + ("" if phase == "input" else f" (read with {route.readers[0].name}, which failed the "
                                                          "kit's strided check)"))
        return t

    def _sanity(self, t: Any, expected: dict[str, Any]) -> dict[str, Any]:
        seen = self.tensor(t)
        if expected["stride"] is None:
            seen = {**seen, "stride": None}
        return seen

    def _wrong_step(self, spec: TensorInput, built: Any) -> str:
        """The first step of building ``spec`` whose result differs from numpy's: the builder or a view op."""
        steps = [(self.routes.of(spec.dtype).builders[0].api, ())] + \
            [(_view_api(op), spec.views[:i + 1]) for i, op in enumerate(spec.views)]
        for api, views in steps:
            want = TensorInput(spec.dtype, spec.shape, spec.bits, views).expected()
            try:
                if self._sanity(apply_views(built, views, numpy=False), want) != want:
                    return api
            except Exception:
                return api
        return steps[-1][0]

    def buffer(self, spec: TensorInput) -> bytearray:
        """The raw bytes of ``spec`` as a fresh bytearray (what safetensors hands to frombuffer)."""
        return bytearray(spec.raw())

    # -- readers ------------------------------------------------------------------------------
    def raw_bytes(self, t: Any) -> bytes:
        """The tensor's bytes in C order, through the first validated reader that reads it."""
        with calls.paused():
            return self._raw_bytes(t)

    def _raw_bytes(self, t: Any) -> bytes:
        try:
            name = self.dtype_name(t.dtype)
        except Exception as e:
            raise ObservationError(f"reading Tensor.dtype failed: {type(e).__name__}: {e}", "Tensor.dtype") from e
        spec = DTYPES.get(name)
        if spec is None:
            raise ObservationError(f"cannot read a tensor of dtype {name}", "Tensor.dtype")
        try:
            if prod(shapes.shape(t)) == 0:      # nothing to read: the bytes of no element are empty
                return b""
        except Exception as e:
            raise ObservationError(f"reading Tensor.shape failed: {type(e).__name__}: {e}", "Tensor.shape") from e
        readers = self.routes.of(name).readers
        errors = []
        for r in readers:
            try:
                return r.fn(self.torch, spec, t)
            except Exception as e:
                errors.append(f"{r.name}: {type(e).__name__}: {str(e)[:160]}")
        api = readers[0].api if readers else self.routes.of(name).read_api
        raise ObservationError("reading tensor bytes failed: " + ("; ".join(errors + self.routes.of(name).failures)
                                                               or "no reader route"), api)

    def tensor(self, t: Any, **extra: Any) -> dict[str, Any]:
        """dtype, shape, strides and raw bytes of a tensor; ``extra`` adds named observations."""
        with calls.paused():
            return self._tensor(t, **extra)

    def _tensor(self, t: Any, **extra: Any) -> dict[str, Any]:
        if not shapes.is_tensor(self.torch, t):
            return {"not_a_tensor": type(t).__name__}
        obs: dict[str, Any] = {}
        for key, api, read in (("dtype", "Tensor.dtype", lambda: self.dtype_name(t.dtype)),
                               # read as values: a stride that is a tuple is Tensor.stride's row's business
                               ("shape", "Tensor.shape", lambda: shapes.shape(t)),
                               ("stride", "Tensor.stride", lambda: shapes.strides(t))):
            try:
                obs[key] = read()
            except Exception as e:
                raise ObservationError(f"reading {api} failed: {type(e).__name__}: {e}", api) from e
        obs["bytes"] = self.raw_bytes(t).hex()
        obs.update(extra)
        return obs

    def attempt(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` and observe its value, or the exception it raised."""
        try:
            return self.value(fn())
        except Blocked:
            raise
        except Exception as e:
            return exception(e)

    def value(self, v: Any) -> Any:
        """Encode a plain result: tensors, dtypes, numbers, strings, sequences and dicts (the kit's reads)."""
        with calls.paused():
            return self._value(v)

    def _value(self, v: Any) -> Any:
        torch = self.torch
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, int):
            return int(v)
        if isinstance(v, float):
            return {"float": v.hex()}
        if isinstance(v, (bytes, bytearray)):
            return {"bytes": bytes(v).hex()}
        if shapes.is_tensor(torch, v):
            return self.tensor(v)
        if shapes.is_dtype(torch, v):
            return {"dtype": self.dtype_name(v)}
        if isinstance(v, (list, tuple)):
            return [self._value(x) for x in v]
        if isinstance(v, dict):
            return {str(k): self._value(x) for k, x in sorted(v.items(), key=lambda kv: str(kv[0]))}
        return {"object": type(v).__name__}

    def follows_writes(self, t: Any, base: np.ndarray, read: Callable[[], Any]) -> bool | str:
        """Whether a write to input ``t`` (built from numpy array ``base``) changes what ``read`` sees.
        The write goes to ``base``; where that does not show in ``t`` (a from_numpy that copies) it is
        ``t.zero_()``, so a copying from_numpy does not blame the API under test."""
        before_t, before = self.raw_bytes(t), read()
        flip_low_bits(base)
        if self.raw_bytes(t) == before_t:
            try:
                t.zero_()
            except Exception:
                return UNDETERMINED
            if self.raw_bytes(t) == before_t:
                return UNDETERMINED
        return read() != before

    @staticmethod
    def changes(read: Callable[[], Any], mutate: Callable[[], Any]) -> bool:
        """Whether ``mutate`` changes what ``read`` sees: an aliasing check without pointers."""
        before = read()
        mutate()
        return read() != before

    def path(self, name: str) -> str:
        if self.workdir is None:
            self.workdir = tempfile.mkdtemp(prefix="conformance-case-")
        return os.path.join(self.workdir, name)


def _first_difference(expected: dict[str, Any], seen: dict[str, Any]) -> str:
    for k in expected:
        if expected.get(k) != seen.get(k):
            return f"{k}: expected {str(expected.get(k))[:80]}, got {str(seen.get(k))[:80]}"
    return "differs"


def _safe_eq(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:
        return False
