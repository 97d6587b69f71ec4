"""Canonical, backend-neutral observations.

An observation is JSON: dtype names, shapes, strides, raw little-endian bytes (hex), booleans,
pointer offsets (never absolute addresses) and, for errors, the exception class. Exception
messages are kept for display only; nothing here depends on hash seeds, time or dict order.

The kit itself needs a small surface of the backend to read results: ``dtype`` identity with
``torch.<name>``, ``shape``, ``stride()``, ``contiguous()``, ``numpy()`` and ``view(dtype)``.
Each of those also has cases of its own, so a fault in them shows on its own row.
"""
from __future__ import annotations

import os
import tempfile
from typing import Any, Callable

import numpy as np

from .dtypes import DTYPES
from .inputs import TensorInput, apply_views, flip_low_bits


DISPLAY = "display"


UNDETERMINED = "undetermined: the input follows neither writes to its numpy base nor its own zero_()"


class ObservationError(Exception):
    """The kit could not read a value out of the backend (a reader API failed)."""


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


class Context:
    """What a case gets besides ``torch``: input builders, readers and a private temp folder."""

    def __init__(self, torch: Any):
        self.torch = torch
        self.workdir: str | None = None   # made on first use: most cases never touch a file
        self.inputs: list[dict[str, Any]] = []   # input-sanity records, checked by compare
        self._names: dict[int, str] | None = None

    # -- dtypes -------------------------------------------------------------------------------
    def dtype(self, name: str) -> Any:
        return getattr(self.torch, name)

    def dtype_name(self, dt: Any) -> str:
        """Canonical name of a backend dtype: the torch.<name> it is, or its repr if none."""
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
        """Like ``input``, from a numpy array the caller keeps (to mutate it in aliasing checks)."""
        torch = self.torch
        t = torch.from_numpy(base)
        if spec.spec.numpy is None:
            t = t.view(dtype=self.dtype(spec.dtype))
        t = apply_views(t, spec.views, numpy=False)
        try:
            seen = self.tensor(t)
        except ObservationError as e:
            seen = {"observe_error": str(e)}
        expected = spec.expected()
        if expected["stride"] is None:
            seen = {**seen, "stride": None} if "stride" in seen else seen
        self.inputs.append({"input": spec.describe(), "expected": expected, "observed": seen})
        return t

    def buffer(self, spec: TensorInput) -> bytearray:
        """The raw bytes of ``spec`` as a fresh bytearray (what safetensors hands to frombuffer)."""
        return bytearray(spec.raw())

    # -- readers ------------------------------------------------------------------------------
    def raw_bytes(self, t: Any) -> bytes:
        try:
            name = self.dtype_name(t.dtype)
            spec = DTYPES.get(name)
            if spec is None:
                raise ObservationError(f"cannot read a tensor of dtype {name}")
            c = t.contiguous()
            if spec.numpy is None:
                c = c.view(dtype=self.dtype(spec.carrier))
            arr = np.asarray(c.numpy())
            return np.ascontiguousarray(arr).tobytes()
        except ObservationError:
            raise
        except Exception as e:  # a reader API failed: say which, keep the class
            raise ObservationError(f"reading tensor bytes failed: {type(e).__name__}: {e}") from e

    def tensor(self, t: Any, **extra: Any) -> dict[str, Any]:
        """dtype, shape, strides and raw bytes of a tensor; ``extra`` adds named observations."""
        if not isinstance(t, self.torch.Tensor):
            return {"not_a_tensor": type(t).__name__}
        try:
            obs = {"dtype": self.dtype_name(t.dtype), "shape": [int(s) for s in t.shape],
                   "stride": [int(s) for s in t.stride()]}
        except Exception as e:
            raise ObservationError(f"reading dtype/shape/stride failed: {type(e).__name__}: {e}") from e
        obs["bytes"] = self.raw_bytes(t).hex()
        obs.update(extra)
        return obs

    def attempt(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` and observe its value, or the exception it raised."""
        try:
            return self.value(fn())
        except ObservationError:
            raise
        except Exception as e:
            return exception(e)

    def value(self, v: Any) -> Any:
        """Encode a plain result: tensors, dtypes, numbers, strings, sequences and dicts."""
        torch = self.torch
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, int):
            return int(v)
        if isinstance(v, float):
            return {"float": v.hex()}
        if isinstance(v, (bytes, bytearray)):
            return {"bytes": bytes(v).hex()}
        if isinstance(v, torch.Tensor):
            return self.tensor(v)
        if isinstance(v, torch.dtype):
            return {"dtype": self.dtype_name(v)}
        if isinstance(v, (list, tuple)):
            return [self.value(x) for x in v]
        if isinstance(v, dict):
            return {str(k): self.value(x) for k, x in sorted(v.items(), key=lambda kv: str(kv[0]))}
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


def _safe_eq(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:
        return False
