"""Trace and replay: the forward pass of the tiny transformers models, replayed call by call.

Each built-in workload (``albert``, ``bert``, ``gpt2``: from_pretrained of the transformers module's
tiny models, then a forward pass in eval mode) is recorded under real PyTorch in a subprocess
(``conformance/trace``; cached per torch, transformers and recorder version). Its forward-pass calls
are replayed here, on this process's torch, from the recording's plain files (json + numpy), so a
backend that cannot import transformers still learns which ops of the forward pass it gets wrong:

``replay[<model>-<name>-<dtype>-<rank>d]``  isolated: every call of one (name, dtype, rank) signature
        (up to four, from both forward passes), fed its recorded inputs with their strides, storage offset
        and alignment, then the same values contiguous, transposed, stepped and offset. Float math within a tolerance
        scaled to the output's magnitude, everything else byte for byte (``conformance/trace/rules.py``).
``replay[<model>-chained]``  the whole forward pass, each call fed the target's own earlier outputs;
        every call whose output diverges beyond its tolerance is listed in order with its caller's file and
        line (torch's value stands in for it, so the chain goes on), and the first is the row's cause.
``replay[<model>-masked-chained]``  the same for a second forward pass, a padded batch of two with its
        attention mask, made tensors by transformers' BatchEncoding from numpy arrays, as users call it.
``replay[<model>-torch-attributes]``  the dtypes, constants and flags the workload read from ``torch``.

A recording of your own script (``python -m conformance trace -- python my_script.py``) becomes cases too
when ``$CONFORMANCE_REPLAY`` names its folder (``python -m conformance run --replay DIR``):
``replay[script-<stem>-<name>-<dtype>-<rank>d]`` and ``replay[script-<stem>-chained]``.

Under real torch every replay must reproduce the recording byte for byte, or the case is ERROR (an
unusable recording is not a result). Without transformers the cases are SKIP.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path
from typing import Any

from ..observe import NOT_IN_THIS_ENVIRONMENT
from ..observe import ObservationError
from ..registry import case, param
from ..trace import cache, replay as engine, rules, signatures
from ..trace.store import Recording, TraceError
from ._replay_signatures import SIGNATURES
from ..side import is_reference as _is_real_torch

TIMEOUT = 300.0     # the first case of a model may make the tiny models and record them (seconds)
# What a row takes in a pure-Python backend's process (mindtorch_v2 master, every replay row in one process:
# 131 rows, 3.4 s): an isolated row replays a signature's first calls, a chained one a whole forward pass.
ISOLATED_SECONDS, CHAINED_SECONDS = 0.025, 0.09
NOT_INSTALLED = {NOT_IN_THIS_ENVIRONMENT: "transformers not installed"}

_RECORDINGS: dict[str, Recording] = {}
# What each row recomputed from its model's recording, once a process instead (a recording is read once):
_GROUPS: dict[tuple[str, Any], dict] = {}     # (model, phases) -> signatures.by_signature
_DIGESTS: dict[Path, str | None] = {}         # recording folder -> recording_digest


def _recording(model: str) -> Recording | dict[str, str]:
    if importlib.util.find_spec("transformers") is None:
        return NOT_INSTALLED
    if model not in _RECORDINGS:
        try:
            _RECORDINGS[model] = Recording(cache.ensure_recording(model))
        except TraceError as e:
            raise ObservationError(str(e)) from None
    return _RECORDINGS[model]


def recording_digest(folder: Path) -> str | None:
    """sha256 (16 hex digits) of a recording's trace.json (which names every blob by its sha256), or None
    when there is none: what a replay row's observation depends on besides the catalog."""
    try:
        return hashlib.sha256((Path(folder) / "trace.json").read_bytes()).hexdigest()[:16]
    except OSError:
        return None


def _keyed(ctx, rec: Recording, obs: Any) -> Any:
    """``obs``, with the digest of the recording it replayed: part of the row's key (oracle_cache, compare)."""
    if not isinstance(getattr(ctx, "display", None), dict):
        ctx.display = {}
    if rec.folder not in _DIGESTS:
        _DIGESTS[rec.folder] = recording_digest(rec.folder)
    ctx.display["recording"] = _DIGESTS[rec.folder] or "unreadable"
    return obs


def _groups(model: str, rec: Recording, phase: Any = signatures.FORWARD_PHASES) -> dict:
    """The recording's replayable calls by signature (``signatures.by_signature``), once a process."""
    key = (model, phase)
    if key not in _GROUPS:
        _GROUPS[key] = signatures.by_signature(rec.calls, phase)
    return _GROUPS[key]


def _origin(model: str) -> str:
    return f"replay:{model} forward"


def _isolated(torch, ctx, model: str, name: str, dtype: str, rank: int):
    rec = _recording(model)
    if isinstance(rec, dict):
        return rec
    _keyed(ctx, rec, None)      # also on an observation that raises (the engine replaces ctx.display)
    calls = _groups(model, rec).get((name, dtype, rank))
    if not calls:
        return {NOT_IN_THIS_ENVIRONMENT: f"{model}'s forward pass with transformers {rec.data['transformers']} "
                                         f"makes no {name} call on a {dtype} {rank}-d tensor"}
    return _keyed(ctx, rec, engine.isolated(ctx, rec, calls, _is_real_torch(torch)))


def _chained(torch, ctx, model: str, phase: str = signatures.PHASE):
    rec = _recording(model)
    if isinstance(rec, dict):
        return rec
    _keyed(ctx, rec, None)      # also on an observation that raises (the engine replaces ctx.display)
    calls = signatures.forward_calls(rec.calls, phase)
    if not calls:
        return {NOT_IN_THIS_ENVIRONMENT: f"the recording of {model} has no {phase} pass (made by an older recorder)"}
    obs = engine.chained(ctx, rec, calls, _is_real_torch(torch))
    listed = {(n, d, r) for n, d, r, *_ in SIGNATURES.get(model, [])}
    unlisted = sorted(f"{n}-{d}-{r}d" for n, d, r in _groups(model, rec) if (n, d, r) not in listed)
    if unlisted:        # replayed in this chain, but without an isolated case of their own
        ctx.display["signatures_without_a_case"] = unlisted
    return _keyed(ctx, rec, obs)


def _attributes(torch, ctx, model: str):
    """Each dtype, constant or flag the workload read from ``torch``: its value here (a dtype by name)."""
    rec = _recording(model)
    if isinstance(rec, dict):
        return rec
    _keyed(ctx, rec, None)      # also on an observation that raises (the engine replaces ctx.display)
    out: dict[str, Any] = {}
    for name, info in sorted(rec.data["attributes"].items()):
        if info["kind"] in ("callable", "class", "module", "str"):
            continue       # functions are replayed as calls; strings (a version) differ by design
        if not hasattr(torch, name):
            out[name] = "absent"
        elif info["kind"] == "dtype":
            out[name] = {"dtype": ctx.dtype_name(getattr(torch, name))}
        else:
            out[name] = ctx.value(getattr(torch, name))
    missing = [n for n, v in out.items() if v == "absent"]
    if missing and not _is_real_torch(torch):   # an attribute the target lacks: MISSING, like any other
        raise AttributeError(f"module 'torch' has no attribute '{missing[0]}' (also absent: {missing[1:]})")
    return _keyed(ctx, rec, out)


def _register() -> None:
    for model in cache.WORKLOADS:
        for name, dtype, rank, out_dtype, magnitude in SIGNATURES.get(model, []):
            tol = rules.tolerance(magnitude or 1.0) if rules.compares_within_tolerance(name, out_dtype) else None
            case(name, _origin(model), [param(f"{model}-{name}-{dtype}-{rank}d", model=model, name=name,
                                              dtype=dtype, rank=rank)],
                 name="replay", tolerance=tol, timeout=TIMEOUT, seconds=ISOLATED_SECONDS)(_isolated)
        case(f"forward pass of {model} (chained replay)", _origin(model), [param(f"{model}-chained", model=model)],
             name="replay", timeout=TIMEOUT, seconds=CHAINED_SECONDS)(_chained)
        case(f"forward pass of {model} with an attention mask (chained replay)", _origin(model),
             [param(f"{model}-masked-chained", model=model, phase=signatures.MASKED_PHASE)],
             name="replay", timeout=TIMEOUT, seconds=CHAINED_SECONDS)(_chained)
        case("torch module attributes", _origin(model), [param(f"{model}-torch-attributes", model=model)],
             name="replay", timeout=TIMEOUT)(_attributes)


_register()

USER_ENV = "CONFORMANCE_REPLAY"     # the folder of a recording made by `trace -- python SCRIPT`


def _user_recording() -> Recording:
    try:
        return _RECORDINGS.setdefault("script", Recording(Path(os.environ[USER_ENV])))
    except (KeyError, TraceError) as e:
        raise ObservationError(f"the recording ${USER_ENV} names is gone: {e}") from None


def _user_isolated(torch, ctx, name: str, dtype: str, rank: int):
    rec = _user_recording()
    _keyed(ctx, rec, None)
    calls = _groups("script", rec, signatures.replayed_phase(rec.calls))[(name, dtype, rank)]
    return _keyed(ctx, rec, engine.isolated(ctx, rec, calls, _is_real_torch(torch)))


def _user_chained(torch, ctx):
    rec = _user_recording()
    _keyed(ctx, rec, None)
    return _keyed(ctx, rec, engine.chained(ctx, rec, signatures.forward_calls(rec.calls, signatures.replayed_phase(rec.calls)),
                                           _is_real_torch(torch)))


def _register_user(folder: str) -> None:
    """Cases of a user's recording, from its own signatures (read here: ids must exist at import, in the
    runner, the oracle and the target alike; the catalog digest covers the recording)."""
    rec = Recording(Path(folder))
    label = rec.label       # made safe for case ids (a script name may hold spaces)
    origin = f"replay:{rec.data['workload']}"
    phase = signatures.replayed_phase(rec.calls)
    for name, dtype, rank, out_dtype, magnitude in signatures.table(rec, phase or "run"):
        tol = rules.tolerance(magnitude or 1.0) if rules.compares_within_tolerance(name, out_dtype) else None
        case(name, origin, [param(f"{label}-{name}-{dtype}-{rank}d", name=name, dtype=dtype, rank=rank)],
             name="replay", tolerance=tol, timeout=TIMEOUT)(_user_isolated)
    case(f"{rec.data['workload']} (chained replay)", origin, [param(f"{label}-chained")], name="replay",
         timeout=TIMEOUT)(_user_chained)


if os.environ.get(USER_ENV):
    _register_user(os.environ[USER_ENV])
