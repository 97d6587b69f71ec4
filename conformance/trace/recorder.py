"""The recorder: run a workload under REAL PyTorch and write every torch call it makes.

``python -m conformance.trace.recorder --out DIR (--workload NAME | --script FILE [ARGS...])``,
started by ``cache.ensure_recording`` or ``python -m conformance trace``; never inside a target.

A ``TorchFunctionMode`` sees every outermost call into torch: ``torch.*`` functions, Tensor methods,
operators and property reads, ``torch.nn.functional``, factories, and the calls safetensors' Rust
code makes through Python. Calls torch makes on its own behalf while one runs are not seen (the mode
is off while it handles a call), so each record is a call the workload's own code (or safetensors)
made. Beside it, ``torch`` itself becomes a recording module subclass for the run: the dtypes,
constants and flags read from it, which no TorchFunctionMode sees, are listed with their values.

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

from .store import SCHEMA, write_blob

RECORDER_VERSION = "1"
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
        storage = t.untyped_storage()
        raw = torch.empty(0, dtype=torch.uint8).set_(storage, 0, (storage.nbytes(),)) if storage.nbytes() else None
        data = b"" if raw is None or nbytes == 0 else raw[:nbytes].numpy().tobytes()
        return {**enc, "dtype": name, "shape": shape, "stride": stride, "offset": offset,
                "blob": write_blob(self.out, data), "nbytes": nbytes,
                "align": storage.data_ptr() % 64, "data_ptr_align": t.data_ptr() % 64}

    def value(self, v: Any) -> dict[str, Any]:
        torch = self.torch
        if v is None:
            return {"k": "none"}
        if isinstance(v, torch.Tensor):
            return self.tensor(v)
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


def run_model(rec: Recorder, model: str, mode: Any) -> dict[str, Any]:
    """from_pretrained of a tiny model of the transformers module, then a forward pass in eval mode."""
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
    try:
        info = run_model(rec, args.workload, mode) if args.workload else run_script(rec, script, mode)
    finally:
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
    phase = signatures.replayed_phase(rec.calls)
    calls = signatures.forward_calls(rec.calls, phase)
    try:
        replay.chained(Context(torch), rec, calls, reference=True)
        groups = signatures.by_signature(rec.calls, phase)
        for group in groups.values():
            replay.isolated(Context(torch), rec, group, reference=True)
    except (ObservationError, AttributeError) as e:
        return {"byte_exact": False, "phase": phase, "error": str(e)[:500]}
    return {"byte_exact": True, "phase": phase, "calls": len(calls)}


if __name__ == "__main__":
    sys.exit(main())
