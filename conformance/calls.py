"""The torch calls a case makes, in order, with a digest of each result: how a chain's first divergence is found.

Inside an entry point (save_file, load_file, safe_open + get_tensor, ...) a wrong result often comes from an
earlier torch call, not from the last one. The worker wraps the few torch APIs safetensors chains together
(``CHAIN_APIS``) once per process, in the oracle and in the target alike; while a case runs, each call
appends ``[api, digest of the result, digest of what it was given]`` to the case's log. ``compare`` then walks both logs side by side and names the
first call whose digest differs (or that raised where the oracle's did not) as the row's cause.

A digest is backend-neutral: a tensor's dtype, shape, strides and a hash of its bytes (read through the
kit's validated routes, with recording paused), an exception's builtin class, or the type of anything else.
Pointers never enter a digest.
"""
from __future__ import annotations

import functools
import hashlib
from collections import Counter
from contextlib import contextmanager
from typing import Any, Callable

API_ATTR = "_conformance_api"   # set on an exception raised by a recorded call
MAX_CALLS = 64          # a log keeps the first calls only: a chain's first divergence is near its start

# (owner, attribute, API name): owner "torch" is the module, the others are its classes.
CHAIN_APIS = (
    ("torch", "frombuffer", "torch.frombuffer"), ("torch", "from_numpy", "torch.from_numpy"),
    ("torch", "empty", "torch.empty"), ("torch", "zeros", "torch.zeros"), ("torch", "asarray", "torch.asarray"),
    ("Tensor", "reshape", "Tensor.reshape"), ("Tensor", "view", "Tensor.view(dtype)"),
    ("Tensor", "__getitem__", "Tensor.__getitem__"), ("Tensor", "to", "Tensor.to"),
    ("Tensor", "contiguous", "Tensor.contiguous"), ("Tensor", "clone", "Tensor.clone"),
    ("UntypedStorage", "__getitem__", "UntypedStorage.__getitem__"),
    ("UntypedStorage", "from_file", "torch.UntypedStorage.from_file"),      # a classmethod
)


ACTIVE: "CallLog | None" = None     # this process's recorder, once installed


@contextmanager
def paused():
    """The kit's own calls (building inputs, reading results) are not the case's."""
    if ACTIVE is None:
        yield
    else:
        with ACTIVE.paused():
            yield


class CallLog:
    """One process's recorder: off, except while a case runs and the kit is not reading."""

    def __init__(self, digest: Callable[[Any, str], str]):
        self.digest = digest
        self.entries: list[list[str]] = []
        self.on = False
        self.depth = 0      # calls inside a recorded call (a backend's reshape calling view) are not the case's

    def start(self) -> None:
        self.entries, self.on, self.depth = [], True, 0

    def stop(self) -> list[list[str]]:
        self.on = False
        return self.entries

    @contextmanager
    def paused(self):
        was, self.on = self.on, False
        try:
            yield
        finally:
            self.on = was

    def record(self, api: str, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        if not self.on or self.depth or len(self.entries) >= MAX_CALLS:
            return fn(*args, **kwargs)
        with self.paused():       # what the call was given: a wrong input means the divergence came earlier
            try:
                given = self.digest(args[0], api) if args else ""
            except Exception as e:
                given = f"unreadable ({type(e).__name__})"
        self.depth += 1
        try:
            result = fn(*args, **kwargs)
        except BaseException as e:
            base = next((c for c in type(e).__mro__ if c.__module__ == "builtins"), BaseException)
            self.entries.append([api, f"raises {base.__name__}", given])
            try:        # the API the case called when this was raised: what blame names
                if not hasattr(e, API_ATTR):
                    setattr(e, API_ATTR, api)
            except Exception:
                pass
            raise
        finally:
            self.depth -= 1
        with self.paused():
            try:
                d = self.digest(result, api)
            except Exception as e:           # a result the kit cannot read is itself a difference
                d = f"unreadable ({type(e).__name__})"
        self.entries.append([api, d, given])
        return result


def install(torch: Any, log: CallLog) -> list[str]:
    """Wrap ``CHAIN_APIS`` that this ``torch`` has; returns the API names wrapped."""
    global ACTIVE
    ACTIVE = log
    done = []
    for owner_name, attr, api in CHAIN_APIS:
        owner = torch if owner_name == "torch" else getattr(torch, owner_name, None)
        real = getattr(owner, attr, None) if owner is not None else None
        if real is None or getattr(real, "_conformance_recorded", False):
            continue
        bound = isinstance(owner, type) and getattr(real, "__self__", None) is owner   # a classmethod
        wrapper = _wrap(real, api, log, method=owner is not torch and not bound)
        if bound:
            wrapper = staticmethod(wrapper)      # ``real`` is bound to the class already
        try:
            setattr(owner, attr, wrapper)
        except (AttributeError, TypeError):     # a read-only owner (a C type): not recorded, said so by absence
            continue
        done.append(api)
    return done


def _wrap(real: Callable[..., Any], api: str, log: CallLog, method: bool) -> Callable[..., Any]:
    if method:
        def wrapper(self, *args, **kwargs):
            return log.record(api, real, (self, *args), kwargs)
    else:
        def wrapper(*args, **kwargs):
            return log.record(api, real, args, kwargs)
    functools.update_wrapper(wrapper, real)
    wrapper._conformance_recorded = True    # type: ignore[attr-defined]
    return wrapper


UNINITIALIZED = ("torch.empty",)      # their bytes are whatever the memory held: never part of a digest


def tensor_digest(ctx: Any, value: Any, api: str = "") -> str:
    """``dtype shape stride sha`` of a tensor (or a tuple/list of them); the type name of anything else."""
    torch = ctx.torch
    if isinstance(value, torch.Tensor) and api in UNINITIALIZED:
        return " ".join(str(x) for x in (ctx.dtype_name(value.dtype), list(value.shape), list(value.stride())))
    if isinstance(value, torch.Tensor):
        obs = ctx.tensor(value)
        sha = hashlib.sha256(obs["bytes"].encode()).hexdigest()[:12]
        return f"{obs['dtype']} {obs['shape']} {obs['stride']} {sha}"
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(tensor_digest(ctx, v, api) for v in value) + ")"
    return type(value).__name__


def first_divergence(oracle: list[list[str]], target: list[list[str]]) -> tuple[int, str, str] | None:
    """``(index, api, how)`` of the target's first call whose result no remaining call of the same API in the
    oracle's log gave; None when every result has its match. Logs are matched as multisets per API, not
    position by position: the order of calls over a map's entries (safetensors' header, a Rust HashMap) can
    differ from process to process. An API the oracle never called is not blamed (another path, not a result),
    nor a call given something no oracle call of that API was given (the divergence came before it, in a call
    the log does not record)."""
    left = Counter((e[0], e[1]) for e in oracle)
    example = {e[0]: e[1] for e in reversed(oracle)}
    given = {(e[0], e[2]) for e in oracle if len(e) > 2}
    for i, (api, d, *rest) in enumerate(target):
        if api not in example:
            continue
        if left[(api, d)] > 0:
            left[(api, d)] -= 1
            continue
        if rest and (api, rest[0]) not in given:
            return None      # it was given something the oracle's never was: the divergence came before it
        return i, api, f"call #{i + 1} {api}: the target's gave {d}, which no {api} call of the oracle's gave " \
                       f"(e.g. {example[api]})"
    return None
