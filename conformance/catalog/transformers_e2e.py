"""HuggingFace transformers end to end: ``from_pretrained`` of tiny local models on this process's torch.

For ALBERT, BERT (sharded: index file and three shards) and GPT-2, each made locally with real
PyTorch (``_hf_models``; nothing is downloaded), one case per step, so the report says exactly how
far a backend gets:

``import``     ``import transformers`` and the classes the model needs (PreTrainedModel, its Auto class)
``config``     ``AutoConfig.from_pretrained(folder)``
``construct``  ``AutoModel*.from_config(config)``: the module tree, its parameter names, dtypes, shapes
``load``       ``AutoModel*.from_pretrained(folder)``, with the safetensors calls transformers made
               (safetensors' entry points are wrapped in this process) and its loading info
``weights``    the loaded ``state_dict``, byte for byte against the safetensors files (read without
               torch, from the raw format)
``forward``    a forward pass on fixed input ids; the outputs are compared with the oracle's within
               the case's tolerance (``{"approx": ...}`` observations)

Each step runs the steps before it first (memoised in the process, so xdist may send any step to any
worker). A step whose prerequisite failed raises ``RuntimeError("blocked: step 'X' failed ...")``;
the failing step keeps its exception's builtin class. Either way the observation's ``display`` (shown,
never compared) names the first failing frame: the deepest transformers/safetensors frame that
called into the backend, the backend frame it called, and the torch API involved.

Each step's torch calls are recorded on their own, in the oracle and the target alike (``calls.CallLog.part``;
importing transformers is a part of its own), and a row's call log is the parts of its steps in order, so the
one blame rule (``conformance/divergence.py``) names the call a failing or differing step went wrong in,
whichever case ran the step first in the process. ``LIMIT`` bounds each part.

Under real torch (the oracle) every step must succeed: a failure there is the environment's
(observed as ``observe_error``: ERROR, never a silent PASS). Without transformers installed every
case observes ``{"unsupported_in_this_environment": ...}``: SKIP.
"""
from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import json
import os
import struct
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .. import calls
from ..dtypes import DTYPES
from ..blame import describe_failure
from ..side import is_reference as _is_real_torch
from ..observe import DISPLAY, IMPORT_READS, NOT_IN_THIS_ENVIRONMENT, ObservationError
from ..registry import case, param
from . import _hf_models
from ._hf_models import OFFLINE, RECIPES

ORIGIN = "transformers.from_pretrained"
MODELS = ("albert", "bert", "gpt2")
STEPS = ("import", "config", "construct", "load", "weights", "forward", "roundtrip", "train")
INPUT_IDS = [[2, 17, 42, 7, 99, 3, 58, 1]]
OUTPUTS = {"albert": ("logits",), "bert": ("last_hidden_state", "pooler_output"), "gpt2": ("logits",)}
TOLERANCE = {"rtol": 1e-4, "atol": 1e-5}
TIMEOUT = 300.0      # importing transformers on a slow backend, or making the models the first time
NOT_INSTALLED = {NOT_IN_THIS_ENVIRONMENT: "transformers not installed"}


def _params(step: str):
    return [param(f"{m}-{step}", model=m, step=step) for m in MODELS]


def _run(torch, ctx, model: str, step: str):
    if importlib.util.find_spec("transformers") is None:
        return NOT_INSTALLED
    os.environ.update(OFFLINE)
    reference = _is_real_torch(torch)
    for s in STEPS[:STEPS.index(step) + 1]:
        got = _memo(torch, ctx, model, s)
        _adopt(model, s)
        if not isinstance(got, _Failed):
            continue
        if reference:
            raise ObservationError(f"under real torch, {model} step {got.step!r} failed (environment problem): "
                                   f"{got.display['error']}")
        _failure_cause(torch, ctx, model, got)
        if s != step:
            exc = RuntimeError(f"blocked: step {got.step!r} failed: {got.display['error']}"[:480])
            setattr(exc, DISPLAY, {**got.display, "blocked_by": f"{model}-{got.step}"})
            raise exc
        raise got.exc
    return _STATE[(model, step)]


@case("import transformers", ORIGIN, _params("import"), name="transformers", timeout=TIMEOUT)
def step_import(torch, ctx, model, step):
    """`import transformers` with this torch, then PreTrainedModel, the model's class and its Auto class."""
    return _run(torch, ctx, model, step)


@case("transformers.AutoConfig.from_pretrained", ORIGIN, _params("config"), name="transformers", timeout=TIMEOUT)
def step_config(torch, ctx, model, step):
    """AutoConfig.from_pretrained(folder): the config as a dict (without its absolute path)."""
    return _run(torch, ctx, model, step)


@case("transformers.AutoModel.from_config", ORIGIN, _params("construct"), name="transformers", timeout=TIMEOUT)
def step_construct(torch, ctx, model, step):
    """Auto class .from_config(config): model class, parameter names, dtypes and shapes (values are random)."""
    return _run(torch, ctx, model, step)


@case("transformers.AutoModel.from_pretrained", ORIGIN, _params("load"), name="transformers", timeout=TIMEOUT)
def step_load(torch, ctx, model, step):
    """Auto class .from_pretrained(folder): class, loading info, and the safetensors calls it made."""
    return _run(torch, ctx, model, step)


@case("PreTrainedModel.state_dict", ORIGIN, _params("weights"), name="transformers", timeout=TIMEOUT)
def step_weights(torch, ctx, model, step):
    """The loaded state_dict equals the safetensors files byte for byte (files read without torch)."""
    return _run(torch, ctx, model, step)


@case("PreTrainedModel.forward", ORIGIN, _params("forward"), name="transformers", timeout=TIMEOUT,
      tolerance=TOLERANCE)
def step_forward(torch, ctx, model, step):
    """model(input_ids) under no_grad: outputs within the declared tolerance of the oracle's."""
    return _run(torch, ctx, model, step)


@case("PreTrainedModel.save_pretrained", ORIGIN, _params("roundtrip"), name="transformers", timeout=TIMEOUT)
def step_roundtrip(torch, ctx, model, step):
    """save_pretrained(dir) under this torch, then from_pretrained(dir): the saved tensors, byte for byte
    (read without torch), and whether the model loaded back holds the same bytes."""
    return _run(torch, ctx, model, step)


@case("torch.optim.SGD.step", ORIGIN, _params("train"), name="transformers", timeout=TIMEOUT, tolerance=TOLERANCE)
def step_train(torch, ctx, model, step):
    """One training step in eval mode (no dropout, so it is deterministic): loss, backward, SGD(lr=0.1).step();
    the loss and a few updated parameters within the declared tolerance of the oracle's."""
    return _run(torch, ctx, model, step)


# -- the pipeline, memoised per process -------------------------------------------------------------

class _Failed:
    def __init__(self, step: str, exc: BaseException, display: dict[str, Any]):
        self.step, self.exc, self.display = step, exc, display
        self.cause: dict[str, Any] | None = None
        self.probed = False


# Steps that run the model's forward pass: where one raises, the forward pass's first diverging call (the
# chained replay) is what went wrong first, as where its values differ.
FORWARD_STEPS = ("forward", "train")


def _failure_cause(torch, ctx, model: str, got: _Failed) -> None:
    """The cause of a row whose step, or a step before it, raised in the forward pass: that pass's first
    diverging call, found once per failure. Other failing steps (load, roundtrip) have no trace of their own
    here: their rows keep the exception's cause."""
    if got.step not in FORWARD_STEPS:
        return
    if not got.probed:
        got.probed = True
        found = _forward_divergence(torch, ctx, model)
        if found:
            got.cause = {**found, "evidence": f"step {got.step!r} raised ({got.display['error'][:160]}); "
                                              f"{found['evidence']}"[:600]}
    if got.cause:
        ctx.cause = got.cause


_STATE: dict[Any, Any] = {}      # (model, step) -> observation or _Failed; plus objects the steps share
# (model, step), and IMPORT_PART -> the torch calls that step made when it ran (calls.CallLog.part)
_PARTS: dict[Any, list[list[Any]]] = {}
IMPORT_PART = ("obj", "transformers")
_RAISED_ON = "_conformance_raised_on"    # on transformers' import error: its part's raised_on
_IMPORT_READS = "_conformance_import_reads"    # ... and its part's import_reads
# calls a step's part keeps: from_pretrained of a tiny model makes about 2,000 torch calls before its weights
# are in; a step's first divergence is seldom later
LIMIT = 2000


def _part(key: Any):
    """Record the block as ``key``'s own part (nothing while no recorder runs: the oracle's cache is filled by
    a worker that records, like the target's)."""
    log = calls.ACTIVE
    if log is None:
        from contextlib import nullcontext
        return nullcontext(calls.Part())
    return log.part(LIMIT)


def _adopt(model: str, step: str) -> None:
    """The row's call log: transformers' import, then each step of ``model`` up to ``step``, as each recorded
    its own calls when it ran (in this case or an earlier one)."""
    log = calls.ACTIVE
    if log is None or not log.on:
        return
    log.adopt([e for k in _parts_before(model, step) + [(model, step)] for e in _PARTS.get(k, ())])


def _parts_before(model: str, step: str) -> list:
    """The parts a row's call log holds ahead of ``step``'s own: the import, then ``model``'s earlier steps."""
    return [IMPORT_PART] + [(model, s) for s in STEPS[:STEPS.index(step)]]


def _offset(model: str, step: str) -> int:
    """Where ``step``'s part starts in a row's call log (``_adopt``)."""
    return sum(len(_PARTS.get(k, ())) for k in _parts_before(model, step))


def _memo(torch, ctx, model: str, step: str):
    k = (model, step)
    if k in _STATE:
        return _STATE[k]
    fn = {"import": _import, "config": _config, "construct": _construct, "load": _load,
          "weights": _weights, "forward": _forward, "roundtrip": _roundtrip, "train": _train}[step]
    part = calls.Part()
    try:
        with _part(k) as part:
            value = fn(torch, ctx, model)
        _STATE[k] = value
    except ObservationError as e:   # the kit could not read a result (or make the models): observe_error
        _STATE[k] = _Failed(step, e, describe_failure(e, torch, step))
    except Exception as e:          # the first failure of this step: keep it, with where it happened
        display = describe_failure(e, torch, step)
        on = getattr(e, _RAISED_ON, None)       # transformers' import failed so (its part comes first)
        if on is None and part.raised_on is not None:
            on = _offset(model, step) + part.raised_on
        if on is not None:          # raised outside any recorded call, on a value one returned
            display["raised_on"] = on
        read = getattr(e, _IMPORT_READS, None) or part.import_reads
        if read:                    # it came out of torch's own import code: what that code read
            display[IMPORT_READS] = read
        _STATE[k] = _Failed(step, _rethrowable(e, display), display)
    finally:
        _PARTS[k] = part.entries
    return _STATE[k]


def _obj(key: str) -> Any:
    return _STATE[("obj", key)]


def _import(torch, ctx, model: str) -> dict[str, Any]:
    r = RECIPES[model]
    if IMPORT_PART not in _STATE:
        part = calls.Part()
        try:
            with _part(IMPORT_PART) as part, tracing([]):   # safetensors wrapped before transformers binds them
                tf = importlib.import_module("transformers")
                tf.PreTrainedModel       # noqa: B018  (lazy: imports modeling_utils)
                tf.AutoConfig            # noqa: B018
        except Exception as e:    # once per process: a second import would meet half-imported modules
            tf = e
            if part.raised_on is not None:
                setattr(e, _RAISED_ON, part.raised_on)
            if part.import_reads:
                setattr(e, _IMPORT_READS, part.import_reads)
        _PARTS[IMPORT_PART] = part.entries
        _STATE[IMPORT_PART] = tf
    tf = _obj("transformers")
    if isinstance(tf, Exception):
        raise tf        # its part is the first of the row's log: a raised_on index needs no offset
    with tracing([]):
        classes = [getattr(tf, n) for n in (r["config_class"], r["model_class"], r["auto"])]
    return {"transformers": tf.__version__, "is_torch_available": bool(tf.is_torch_available()),
            "classes": [c.__name__ for c in classes],
            "model_is_a_PreTrainedModel": issubclass(classes[1], tf.PreTrainedModel)}


def _folder(model: str) -> Path:
    try:
        return _hf_models.ensure_models() / model
    except _hf_models.ModelsError as e:
        raise ObservationError(str(e)) from None


def _config(torch, ctx, model: str) -> dict[str, Any]:
    tf = _obj("transformers")
    config = tf.AutoConfig.from_pretrained(str(_folder(model)))
    _STATE[("obj", f"{model}-config")] = config
    d = {k: v for k, v in config.to_dict().items() if k != "_name_or_path"}
    return {"class": type(config).__name__, "config": ctx.value(d)}


def _auto(model: str):
    return getattr(_obj("transformers"), RECIPES[model]["auto"])


def _layout(ctx, sd) -> list[list[Any]]:
    return [[k, ctx.dtype_name(v.dtype), [int(s) for s in v.shape]] for k, v in sd.items()]


def _construct(torch, ctx, model: str) -> dict[str, Any]:
    m = _auto(model).from_config(_obj(f"{model}-config"))
    return {"class": type(m).__name__, "state_dict": _layout(ctx, m.state_dict()), "training": bool(m.training),
            "attn_implementation": getattr(m.config, "_attn_implementation", None)}


def _load(torch, ctx, model: str) -> dict[str, Any]:
    calls: list[dict[str, Any]] = []
    with tracing(calls):
        m, info = _auto(model).from_pretrained(str(_folder(model)), output_loading_info=True)
    _STATE[("obj", f"{model}-model")] = m
    return {"class": type(m).__name__, "training": bool(m.training), "dtype": ctx.dtype_name(m.dtype),
            "loading_info": {k: sorted(str(x) for x in v) for k, v in sorted(info.items())},
            "safetensors_calls": sorted(calls, key=lambda c: json.dumps(c, sort_keys=True))}


def read_checkpoint(folder: Path) -> dict[str, tuple[str, list[int], bytes, str]]:
    """Every tensor of the folder's safetensors files, from the raw format (no torch, no safetensors):
    name -> (safetensors dtype code, shape, raw bytes, file name)."""
    out: dict[str, tuple[str, list[int], bytes, str]] = {}
    for path in sorted(folder.glob("*.safetensors")):
        data = path.read_bytes()
        n = struct.unpack("<Q", data[:8])[0]
        header = json.loads(data[8:8 + n])
        body = data[8 + n:]
        for name, info in header.items():
            if name == "__metadata__":
                continue
            a, b = info["data_offsets"]
            out[name] = (info["dtype"], [int(s) for s in info["shape"]], body[a:b], path.name)
    return out


def _weights(torch, ctx, model: str) -> dict[str, Any]:
    folder = _folder(model)
    files = read_checkpoint(folder)
    sd = _obj(f"{model}-model").state_dict()
    entries = {}
    for k, t in sd.items():
        name = ctx.dtype_name(t.dtype)
        raw = ctx.raw_bytes(t)
        e: dict[str, Any] = {"dtype": name, "shape": [int(s) for s in t.shape]}
        f = files.get(k)
        if f is not None:
            code = DTYPES[name].st_code if name in DTYPES else None
            e["equals_file"] = f[0] == code and f[1] == e["shape"] and f[2] == raw
            e["file"] = f[3]
        else:    # not saved: tied to a saved tensor (same bytes), or a buffer the model makes itself
            same = [n for n, v in sorted(files.items()) if v[2] == raw and v[1] == e["shape"]]
            e["same_bytes_as"] = same[0] if same else None
            e["sha256"] = hashlib.sha256(raw).hexdigest()
        entries[k] = e
    return {"state_dict": entries, "file_tensors_not_in_state_dict": sorted(set(files) - set(sd)),
            "files": sorted({v[3] for v in files.values()})}


def _approx(ctx, t) -> dict[str, Any]:
    name = ctx.dtype_name(t.dtype)
    spec = DTYPES.get(name)
    if spec is None or spec.numpy_float is None:
        return ctx.tensor(t)
    return {"approx": {"dtype": name, "shape": [int(s) for s in t.shape], "bytes": ctx.raw_bytes(t).hex()}}


def _forward(torch, ctx, model: str) -> dict[str, Any]:
    m = _obj(f"{model}-model")
    ids = torch.tensor(INPUT_IDS, dtype=torch.long)
    with torch.no_grad():
        out = m(input_ids=ids)
    obs = {"class": type(out).__name__, "keys": [str(k) for k in out.keys()],
           "outputs": {k: _approx(ctx, out[k]) for k in OUTPUTS[model]}}
    if not _is_real_torch(torch):
        _first_divergence(torch, ctx, model)
    return obs


def _roundtrip(torch, ctx, model: str) -> dict[str, Any]:
    import tempfile

    m = _obj(f"{model}-model")
    out = Path(tempfile.mkdtemp(prefix=f"{model}-saved-"))       # in the worker's own TMPDIR
    m.save_pretrained(str(out), safe_serialization=True)
    saved = read_checkpoint(out)
    again = _auto(model).from_pretrained(str(out)).state_dict()
    same = {k: ctx.raw_bytes(v) == saved[k][2] for k, v in again.items() if k in saved}
    return {"files": sorted({v[3] for v in saved.values()}),
            "tensors": {k: [v[0], v[1], hashlib.sha256(v[2]).hexdigest()] for k, v in sorted(saved.items())},
            "reloaded_equals_saved": same, "reloaded_not_saved": sorted(set(again) - set(saved))}


def _train(torch, ctx, model: str) -> dict[str, Any]:
    m = _obj(f"{model}-model")
    ids = torch.tensor(INPUT_IDS, dtype=torch.long)
    m.zero_grad()
    if model == "bert":            # a bare encoder has no loss head: a loss of its own outputs
        loss = m(input_ids=ids).last_hidden_state.pow(2).mean()
    else:
        loss = m(input_ids=ids, labels=ids).loss
    loss.backward()
    torch.optim.SGD(m.parameters(), lr=0.1).step()
    sd = m.state_dict()
    names = sorted(sd)
    picked = names[:2] + names[-2:]
    obs = {"loss": _approx(ctx, loss.detach()), "updated": {k: _approx(ctx, sd[k]) for k in picked}}
    if not _is_real_torch(torch):      # where values differ, the cause is the forward pass's first divergence
        _first_divergence(torch, ctx, model)
    return obs


def _first_divergence(torch, ctx, model: str) -> None:
    """Where a target's outputs differ, the cause is the first call of the same forward pass that diverges:
    the chained replay of the model's recording (catalog/replay.py) names it, here in the target, so the
    row blames that call whatever order the cases run in. Shown only when the outputs differ."""
    found = _forward_divergence(torch, ctx, model)
    if found:
        ctx.cause = found


def _forward_divergence(torch, ctx, model: str) -> dict[str, Any] | None:
    """The first call of ``model``'s recorded forward pass that diverges on this torch (the chained replay), as
    a cause, or None."""
    from ..observe import Context
    from . import replay

    probe = Context(torch, ctx.routes)
    try:
        with calls.paused():       # the kit's probe, no call of the step's
            replay._chained(torch, probe, model)
    except Exception:       # no recording, or the replay itself failed: the row keeps its own cause
        return None
    if not probe.cause:
        return None
    return {**probe.cause, "evidence": f"the first call of {model}'s forward pass that diverges "
                                      f"(as replay[{model}-chained] finds): {probe.cause['evidence']}"[:600]}


# -- which safetensors functions transformers called --------------------------------------------------

_LOCK = threading.Lock()
_CURRENT: list[list[dict[str, Any]]] = []     # the trace being recorded (a stack of at most one)


def _arg(v: Any) -> Any:
    if isinstance(v, (bool, int, float, str)) or v is None:
        return v
    if isinstance(v, (bytes, bytearray)):
        return f"<{len(v)} bytes>"
    return str(v)


def _record(fn: str, args: tuple, kwargs: dict) -> dict[str, Any] | None:
    with _LOCK:
        if not _CURRENT:
            return None
        first = args[0] if args else kwargs.get("filename", kwargs.get("data"))
        where = os.path.basename(os.fspath(first)) if isinstance(first, (str, os.PathLike)) else _arg(first)
        entry = {"fn": fn, "file": where,
                 "kwargs": {k: _arg(v) for k, v in sorted(kwargs.items()) if k not in ("filename", "data")},
                 "extra_args": [_arg(a) for a in args[1:]], "methods": {}}
        _CURRENT[-1].append(entry)
        return entry


class _Handle:
    """What the wrapped ``safe_open`` returns: the real handle, counting the methods called on it."""

    def __init__(self, inner: Any, entry: dict[str, Any] | None):
        self._inner, self._entry = inner, entry

    def _count(self, name: str) -> None:
        if self._entry is not None:
            with _LOCK:
                self._entry["methods"][name] = self._entry["methods"].get(name, 0) + 1

    def __enter__(self):
        self._count("__enter__")
        got = self._inner.__enter__()
        return self if got is self._inner else got

    def __exit__(self, *exc):
        self._count("__exit__")
        return self._inner.__exit__(*exc)

    def __getattr__(self, name: str):
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        @functools.wraps(attr)
        def counted(*a, **kw):
            self._count(name)
            return attr(*a, **kw)
        return counted


def _wrap(fn_name: str, real: Any, handle: bool):
    @functools.wraps(real)
    def traced(*args, **kwargs):
        entry = _record(fn_name, args, kwargs)
        got = real(*args, **kwargs)
        return _Handle(got, entry) if handle else got
    traced.__conformance_traced__ = real   # type: ignore[attr-defined]
    return traced


@contextmanager
def tracing(calls: list[dict[str, Any]]):
    """While inside: ``safetensors.safe_open``, ``safetensors.torch.load_file`` and ``load`` are
    wrapped (code importing them now binds the wrappers, which record only inside this block) and
    each call lands in ``calls``. safetensors.torch is imported first, so its own internal
    ``safe_open`` stays the real one."""
    import safetensors
    patched: list[tuple[Any, str, Any]] = []
    try:
        import torch.nn  # noqa: F401   (safetensors.torch reads torch.nn.Module at import)
        import safetensors.torch as st
    except Exception:     # transformers will meet the same failure and report it itself
        st = None
    targets = [(safetensors, "safe_open", "safetensors.safe_open", True)]
    if st is not None:
        targets += [(st, "load_file", "safetensors.torch.load_file", False),
                    (st, "load", "safetensors.torch.load", False)]
    for mod, attr, label, handle in targets:
        real = getattr(mod, attr, None)
        if real is None:
            continue
        real = getattr(real, "__conformance_traced__", real)
        setattr(mod, attr, _wrap(label, real, handle))
        patched.append((mod, attr, real))
    with _LOCK:
        _CURRENT.append(calls)
    try:
        yield calls
    finally:
        with _LOCK:
            _CURRENT.pop()
        for mod, attr, real in patched:
            setattr(mod, attr, real)


# -- where a step failed -----------------------------------------------------------------------------

def _rethrowable(e: Exception, display: dict[str, Any]) -> Exception:
    """An exception of ``e``'s builtin class, its message without absolute paths, carrying ``display``."""
    base = next((c for c in type(e).__mro__ if c.__module__ == "builtins"), Exception)
    msg = display["error"]
    if msg.startswith(f"{base.__name__}: "):    # the class is in the observation already
        msg = msg[len(base.__name__) + 2:]
    try:
        new = base(msg)
    except Exception:
        new = RuntimeError(display["error"])
    new.__cause__ = e
    setattr(new, DISPLAY, display)
    return new


