"""The recorder: run a workload under REAL PyTorch and write every torch call it makes.

``python -m conformance.trace.recorder --out DIR (--workload NAME | --script FILE [ARGS...])``,
started by ``cache.ensure_recording`` or ``python -m conformance trace``; never inside a target.

A ``TorchFunctionMode`` sees every outermost call into torch: ``torch.*`` functions, Tensor methods,
operators and property reads, ``torch.nn.functional``, factories, and the calls safetensors' Rust
code makes through Python. Calls torch makes on its own behalf while one runs are not seen (the mode
is off while it handles a call), so each record is a call the workload's own code (or safetensors)
made. Beside it, ``torch`` itself becomes a recording module subclass for the run: the dtypes,
constants and flags read from it, which no TorchFunctionMode sees, are listed with their values.

Operators torch implements in C dispatch to the mode under their method's name (``1.0 + t`` arrives
as ``Tensor.add``, ``t += 1`` as ``Tensor.add_``); for the run, each of them is a Python method that
dispatches under its own name instead (``Tensor.__radd__``, ``Tensor.__iadd__``), so replay calls the
operator the workload used. A numpy array argument (``torch.tensor(ndarray)``) is recorded with its
strides like a tensor.

Each call gets its caller: the nearest frame outside torch and this package.
"""
from __future__ import annotations

import argparse
import json
import os
import runpy
import sys
import time
import types
from pathlib import Path
from typing import Any

from ..dtypes import DTYPES
from .store import SCHEMA, write_blob

RECORDER_VERSION = "2"
HERE = os.path.dirname(os.path.abspath(__file__))


def _real_torch():
    from ..backends.base import real_torch_dir

    d = real_torch_dir()
    import torch
    if not d or not str(getattr(torch, "__file__", "")).startswith(d):
        raise SystemExit(f"the recorder needs real PyTorch; import torch gave {getattr(torch, '__file__', torch)!r}")
    return torch, d.rstrip("/") + "/"


class Recorder:
    def __init__(self, torch: Any, torch_dir: str, out: Path):
        self.torch, self.torch_dir, self.out = torch, torch_dir, out
        self.calls: list[dict[str, Any]] = []
        self.phase = "run"
        self.tids: dict[int, int] = {}            # id(tensor) -> tid
        self.alive: list[Any] = []                 # keeps every seen tensor alive: ids stay unique
        self.producer: dict[int, list[Any]] = {}   # tid -> [call, path] of the last call that returned it
        self.attributes: dict[str, dict[str, Any]] = {}
        self.dtype_names = {getattr(torch, n): n for n in _dtype_names(torch)}

    # -- values -------------------------------------------------------------------------------------
    def tid(self, t: Any) -> int:
        k = id(t)
        if k not in self.tids:
            self.tids[k] = len(self.tids)
            self.alive.append(t)
        return self.tids[k]

    def tensor(self, t: Any) -> dict[str, Any]:
        torch = self.torch
        tid = self.tid(t)
        enc: dict[str, Any] = {"k": "tensor", "tid": tid, "from": self.producer.get(tid)}
        name = self.dtype_names.get(t.dtype)
        if t.is_meta:
            return {**enc, "k": "opaque", "type": "meta tensor", "reason": "a meta tensor has no data to replay"}
        if name is None or t.device.type != "cpu" or t.layout != torch.strided:
            return {**enc, "k": "opaque", "type": f"tensor({t.dtype}, {t.device}, {t.layout})",
                    "reason": "only strided CPU tensors of the kit's dtypes are replayed"}
        if t.is_quantized or t.is_nested or getattr(t, "is_sparse", False):
            return {**enc, "k": "opaque", "type": "tensor", "reason": "quantized/nested/sparse tensor"}
        item = t.element_size()
        shape, stride, offset = list(t.shape), list(t.stride()), int(t.storage_offset())
        reach = 0 if t.numel() == 0 else 1 + sum((s - 1) * st for s, st in zip(shape, stride))
        nbytes = (offset + reach) * item
        try:
            storage = t.untyped_storage()
        except (NotImplementedError, RuntimeError) as e:     # a torch.vmap (functorch) wrapper has no storage
            return {**enc, "k": "opaque", "type": f"tensor({type(e).__name__})",
                    "reason": f"a tensor without storage (inside torch.vmap): {str(e)[:80]}"}
        raw = torch.empty(0, dtype=torch.uint8).set_(storage, 0, (storage.nbytes(),)) if storage.nbytes() else None
        data = b"" if raw is None or nbytes == 0 else raw[:nbytes].numpy().tobytes()
        return {**enc, "dtype": name, "shape": shape, "stride": stride, "offset": offset,
                "blob": write_blob(self.out, data), "nbytes": nbytes,
                "align": storage.data_ptr() % 64, "data_ptr_align": t.data_ptr() % 64}

    def ndarray(self, a: Any) -> dict[str, Any]:
        """A numpy array as its storage bytes, from the lowest to the highest element it reaches."""
        import ctypes

        import numpy as np
        name = next((n for n in self.dtype_names.values() if DTYPES[n].numpy and np.dtype(DTYPES[n].numpy) == a.dtype),
                    None)
        item = a.itemsize
        if name is None or any(st % item for st in a.strides):
            return {"k": "opaque", "type": f"numpy.ndarray({a.dtype})",
                    "reason": "only numpy arrays of the kit's dtypes, with whole-element strides, are replayed"}
        shape, stride = [int(n) for n in a.shape], [int(st) // item for st in a.strides]
        lo = sum((n - 1) * st for n, st in zip(shape, stride) if st < 0) if a.size else 0
        hi = sum((n - 1) * st for n, st in zip(shape, stride) if st > 0) if a.size else -1
        start = a.ctypes.data + lo * item
        data = ctypes.string_at(start, (hi - lo + 1) * item) if a.size else b""
        return {"k": "ndarray", "dtype": name, "shape": shape, "stride": stride, "offset": -lo,
                "blob": write_blob(self.out, data), "nbytes": len(data), "align": start % 64}

    def value(self, v: Any) -> dict[str, Any]:
        torch = self.torch
        if v is None:
            return {"k": "none"}
        if isinstance(v, torch.Tensor):
            return self.tensor(v)
        if type(v).__module__ == "numpy" and type(v).__name__ == "ndarray":
            return self.ndarray(v)
        if isinstance(v, bool):
            return {"k": "bool", "v": v}
        if isinstance(v, int):
            return {"k": "int", "v": int(v)}
        if isinstance(v, float):
            return {"k": "float", "v": float(v).hex()}
        if isinstance(v, str):
            return {"k": "str", "v": str(v)}
        if isinstance(v, torch.Size):
            return {"k": "size", "v": [int(x) for x in v]}
        if isinstance(v, (tuple, list)) and type(v) in (tuple, list):
            return {"k": type(v).__name__, "v": [self.value(x) for x in v]}
        if isinstance(v, tuple):    # a named tuple (torch.return_types.max, ...): its fields in order
            return {"k": "tuple", "v": [self.value(x) for x in v], "type": type(v).__name__}
        if isinstance(v, dict):
            return {"k": "dict", "v": [[self.value(k), self.value(x)] for k, x in v.items()]}
        if isinstance(v, slice):
            return {"k": "slice", "v": [self.value(v.start), self.value(v.stop), self.value(v.step)]}
        if v is Ellipsis:
            return {"k": "ellipsis"}
        if isinstance(v, torch.dtype):
            name = self.dtype_names.get(v)
            return {"k": "dtype", "v": name} if name else {"k": "opaque", "type": str(v), "reason": "dtype outside the kit's list"}
        if isinstance(v, torch.device):
            return {"k": "device", "v": str(v)}
        if isinstance(v, torch.memory_format):
            return {"k": "memory_format", "v": str(v).replace("torch.", "")}
        if isinstance(v, torch.layout):
            return {"k": "layout", "v": str(v).replace("torch.", "")}
        kind = type(v).__name__
        if isinstance(v, torch.Generator):
            reason = "a random generator's state is not replayable"
        elif isinstance(v, (torch.UntypedStorage, torch.TypedStorage)):
            reason = "storages passed as arguments are not replayable"
        elif isinstance(v, torch.nn.Module):
            reason = "a module object as an argument is not replayable"
        else:
            reason = f"an argument of type {type(v).__module__}.{type(v).__qualname__} is not replayable"
        return {"k": "opaque", "type": kind, "reason": reason}

    def outputs(self, enc: dict[str, Any], path: str, call: int) -> None:
        """Remember which call produced each tensor of a result (``path`` inside it)."""
        if enc["k"] in ("tensor", "opaque") and "tid" in enc:
            self.producer[enc["tid"]] = [call, path]
        elif enc["k"] in ("tuple", "list"):
            for i, x in enumerate(enc["v"]):
                self.outputs(x, f"{path}[{i}]", call)

    # -- calls --------------------------------------------------------------------------------------
    def caller(self) -> dict[str, Any] | None:
        f = sys._getframe(2)
        while f is not None:
            fn = f.f_code.co_filename
            if not (fn.startswith(self.torch_dir) or fn.startswith(HERE)):
                module = f.f_globals.get("__name__") or "?"
                rel = module.replace(".", "/") + ("/__init__.py" if fn.endswith("__init__.py") else ".py")
                if module == "__main__":
                    rel = os.path.basename(fn)
                return {"file": rel, "line": f.f_lineno, "function": f.f_code.co_name}
            f = f.f_back
        return None


def _dtype_names(torch) -> list[str]:
    from ..dtypes import DTYPES
    return [n for n in DTYPES if isinstance(getattr(torch, n, None), torch.dtype)]


def qualified_name(func: Any) -> str:
    from torch.overrides import resolve_name

    name = resolve_name(func)
    if name:
        return name
    mod = getattr(func, "__module__", None) or ""
    qn = getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or repr(func)
    if not mod or mod == "torch._C":   # built-ins of torch._C carry no module name
        owner = getattr(func, "__self__", None)
        mod = getattr(owner, "__name__", "torch._C") if isinstance(owner, types.ModuleType) else "torch._C"
    return f"{mod}.{qn}"


def make_mode(rec: Recorder):
    from torch.overrides import TorchFunctionMode

    class RecordingMode(TorchFunctionMode):
        def __torch_function__(self, func, types_, args=(), kwargs=None):
            kwargs = kwargs or {}
            i = len(rec.calls)
            # encoded before the call: an in-place op is replayed on its input, not on its output
            enc_args = [rec.value(a) for a in args]
            enc_kwargs = {k: rec.value(v) for k, v in sorted(kwargs.items())}
            caller = rec.caller()
            try:
                result = func(*args, **kwargs)
            except BaseException as e:
                rec.calls.append({"i": i, "phase": rec.phase, "api": qualified_name(func), "args": enc_args,
                                  "kwargs": enc_kwargs, "caller": caller, "raises": type(e).__name__})
                raise
            out = rec.value(result)
            rec.outputs(out, "out", i)
            rec.calls.append({"i": i, "phase": rec.phase, "api": qualified_name(func), "args": enc_args,
                              "kwargs": enc_kwargs, "caller": caller, "out": out})
            return result

    return RecordingMode()


# -- operators under their own names ------------------------------------------------------------------

# Tensor operators torch implements in C: they reach a TorchFunctionMode as the method they call
# (``__radd__`` as ``add``, ``__iadd__`` as ``add_``). The ones torch writes in Python (``__rsub__``,
# ``__rpow__``, ``__rtruediv__``, ...) already arrive under their own names.
OPERATORS = ("__add__", "__radd__", "__iadd__", "__sub__", "__isub__", "__mul__", "__rmul__", "__imul__",
             "__truediv__", "__itruediv__", "__idiv__", "__floordiv__", "__ifloordiv__", "__mod__", "__imod__",
             "__matmul__", "__pow__", "__and__", "__rand__", "__iand__", "__or__", "__ror__", "__ior__",
             "__xor__", "__rxor__", "__ixor__", "__lshift__", "__ilshift__", "__rshift__", "__irshift__",
             "__neg__", "__pos__", "__abs__", "__invert__")


def name_operators(torch: Any) -> Any:
    """Make each C operator of ``torch.Tensor`` a Python method that dispatches under its own name while
    a mode is on (and calls the C one otherwise). Returns a function that restores them."""
    from torch.overrides import handle_torch_function, has_torch_function

    saved: dict[str, Any] = {}

    def make(name: str, c_method: Any) -> Any:
        def method(*args: Any, **kwargs: Any) -> Any:
            if has_torch_function(args):
                return handle_torch_function(method, args, *args, **kwargs)
            return c_method(*args, **kwargs)
        method.__name__, method.__qualname__, method.__module__ = name, f"Tensor.{name}", "torch"
        return method

    for name in OPERATORS:
        c_method = getattr(torch.Tensor, name, None)
        if c_method is None or isinstance(c_method, types.FunctionType):
            continue        # absent, or written in Python (it dispatches under its own name already)
        saved[name] = torch.Tensor.__dict__.get(name)
        setattr(torch.Tensor, name, make(name, c_method))

    def restore() -> None:
        for name, old in saved.items():
            if old is None:
                delattr(torch.Tensor, name)
            else:
                setattr(torch.Tensor, name, old)
    return restore


# -- module attributes ---------------------------------------------------------------------------------

def watch_attributes(rec: Recorder) -> Any:
    """Make ``torch`` a module subclass that lists every attribute read by code outside torch.
    Returns a function that restores the plain module class."""
    torch = rec.torch
    torch_dir = rec.torch_dir
    seen = rec.attributes

    class RecordingTorch(types.ModuleType):
        def __getattribute__(self, name):
            v = types.ModuleType.__getattribute__(self, name)
            f = sys._getframe(1)
            fn = f.f_code.co_filename
            if name.startswith("__") or fn.startswith(torch_dir) or fn.startswith(HERE) or name in seen:
                return v
            seen[name] = _describe_attr(torch, v, rec)
            return v

    old = torch.__class__
    torch.__class__ = RecordingTorch

    def restore() -> None:
        torch.__class__ = old
    return restore


def _describe_attr(torch: Any, v: Any, rec: Recorder) -> dict[str, Any]:
    if isinstance(v, torch.dtype):
        return {"kind": "dtype", "value": rec.dtype_names.get(v, str(v))}
    if isinstance(v, bool):
        return {"kind": "bool", "value": v}
    if isinstance(v, (int, float)):
        return {"kind": type(v).__name__, "value": v if isinstance(v, int) else float(v).hex()}
    if isinstance(v, str):
        return {"kind": "str"}
    if isinstance(v, types.ModuleType):
        return {"kind": "module"}
    if isinstance(v, type):
        return {"kind": "class"}
    if callable(v):
        return {"kind": "callable"}
    return {"kind": type(v).__name__}


# -- workloads -------------------------------------------------------------------------------------------

INPUT_IDS = [[2, 17, 42, 7, 99, 3, 58, 1]]    # the transformers_e2e forward input
# A padded batch of two, as a tokenizer hands it over (numpy arrays made tensors by transformers' own
# BatchEncoding), passed with its attention mask: the masking code runs, and torch.tensor(ndarray).
MASKED_INPUT_IDS = [[2, 17, 42, 7, 99, 3, 58, 1], [2, 17, 42, 7, 99, 0, 0, 0]]
ATTENTION_MASK = [[1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0, 0]]
MASKED_PHASE = "forward-masked"


def run_model(rec: Recorder, model: str, mode: Any) -> dict[str, Any]:
    """from_pretrained of a tiny model of the transformers module, then two forward passes in eval mode:
    ``forward`` (input ids only) and ``forward-masked`` (a padded batch with its attention mask)."""
    import numpy as np
    torch = rec.torch
    from ..catalog import _hf_models

    os.environ.update(_hf_models.OFFLINE)
    folder = _hf_models.ensure_models() / model
    import transformers
    r = _hf_models.RECIPES[model]
    auto = getattr(transformers, r["auto"])
    torch.manual_seed(0)
    ids = torch.tensor(INPUT_IDS, dtype=torch.long)
    timings = {}
    start = time.perf_counter()
    with mode:
        rec.phase = "load"
        m = auto.from_pretrained(str(folder))
        m.eval()
        timings["load"] = time.perf_counter() - start
        rec.phase = "forward"
        start = time.perf_counter()
        with torch.no_grad():
            m(input_ids=ids)
        timings["forward"] = time.perf_counter() - start
        rec.phase = MASKED_PHASE
        start = time.perf_counter()
        batch = transformers.BatchEncoding({"input_ids": np.array(MASKED_INPUT_IDS, dtype=np.int64),
                                            "attention_mask": np.array(ATTENTION_MASK, dtype=np.int64)},
                                           tensor_type="pt")
        with torch.no_grad():
            m(**batch)
        timings[MASKED_PHASE] = time.perf_counter() - start
    return {"transformers": transformers.__version__, "model_files": _hf_models.key(), "seconds": timings}


def run_script(rec: Recorder, argv: list[str], mode: Any) -> dict[str, Any]:
    script = argv[0]
    old = sys.argv
    sys.argv = list(argv)
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    start = time.perf_counter()
    status: Any = 0
    try:
        with mode:
            runpy.run_path(script, run_name="__main__")
    except SystemExit as e:
        status = e.code
    finally:
        sys.argv = old
    return {"script": os.path.basename(script), "argv": argv[1:], "exit": status,
            "seconds": {"run": time.perf_counter() - start}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m conformance.trace.recorder")
    ap.add_argument("--out", required=True)
    ap.add_argument("--workload", help="albert, bert or gpt2 (the transformers module's tiny models)")
    ap.add_argument("script", nargs=argparse.REMAINDER, help="-- python SCRIPT [ARGS]")
    args = ap.parse_args(argv)
    script = [a for a in args.script if a != "--"]
    if script and os.path.basename(script[0]).startswith("python"):
        script = script[1:]
    if bool(args.workload) == bool(script):
        ap.error("give either --workload NAME or -- python SCRIPT [ARGS]")
    torch, torch_dir = _real_torch()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rec = Recorder(torch, torch_dir, out)
    mode = make_mode(rec)
    restore = watch_attributes(rec)
    restore_operators = name_operators(torch)
    try:
        info = run_model(rec, args.workload, mode) if args.workload else run_script(rec, script, mode)
    finally:
        restore_operators()
        restore()
    from ..dists import dist_version
    tf = dist_version("transformers")
    doc = {"schema": SCHEMA, "recorder": RECORDER_VERSION, "workload": args.workload or f"script:{info['script']}",
           "torch": torch.__version__, "transformers": tf, "info": info, "calls": rec.calls,
           "attributes": dict(sorted(rec.attributes.items()))}
    _write(out, doc)
    doc["self_check"] = self_check(torch, out)
    _write(out, doc)
    return 0


def _write(out: Path, doc: dict[str, Any]) -> None:
    tmp = out / "trace.json.tmp"
    tmp.write_text(json.dumps(doc, sort_keys=True))
    tmp.replace(out / "trace.json")


def self_check(torch: Any, out: Path) -> dict[str, Any]:
    """Replay the recording here, on the real torch that made it: chained, then each signature in
    isolation. It must reproduce itself byte for byte, or it is unusable for judging a target."""
    from ..observe import Context, ObservationError
    from . import replay, signatures
    from .store import Recording

    rec = Recording(out)
    phases = signatures.replayed_phases(rec.calls)
    calls = 0
    try:
        for phase in phases:       # each forward pass is a chain of its own
            chain = signatures.forward_calls(rec.calls, phase)
            replay.chained(Context(torch), rec, chain, reference=True)
            calls += len(chain)
        for group in signatures.by_signature(rec.calls, phases).values():
            replay.isolated(Context(torch), rec, group, reference=True)
    except (ObservationError, AttributeError) as e:
        return {"byte_exact": False, "phase": ", ".join(phases), "error": str(e)[:500]}
    return {"byte_exact": True, "phase": ", ".join(phases), "calls": calls}


if __name__ == "__main__":
    sys.exit(main())
