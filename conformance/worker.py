"""The process where one backend answers ``import torch`` and cases run.

Started by the runner as ``python -m conformance.worker --target NAME``. It writes one JSON line
per message on the protocol pipe (the original stdout; anything the backend prints goes to
stderr): first ``{"hello": ...}`` describing which module answered ``import torch``, then one
``{"case": id, "obs": ...}`` per case id read from stdin.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import shutil
import sys
import time
import traceback
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from . import backends
from .backends.base import RealTorchWatch, real_torch_dir
from .blame import blamed
from .observe import BLOCKED, DISPLAY, Blocked, Context, exception, routes_for
from .registry import load_catalog


def _version_of(dist: str) -> str | None:
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def describe(backend: backends.Backend, torch: Any, uses_real_torch: bool) -> dict[str, Any]:
    ver = getattr(torch, "__version__", None)
    return {
        "target": backend.name, "how": backend.how, "module": getattr(torch, "__name__", None),
        "file": getattr(torch, "__file__", None), "version": None if ver is None else str(ver),
        "version_type": type(ver).__name__, "uses_real_torch": uses_real_torch,
        "python": platform.python_version(), "numpy": _version_of("numpy"),
        "safetensors": _version_of("safetensors"),
    }


def run_case(case_id: str, cases: dict, torch: Any, routes: Any = None) -> dict[str, Any]:
    case = cases.get(case_id)
    if case is None:
        return {"kit_error": f"unknown case id {case_id!r} (catalog mismatch between processes)"}
    for name in case.params.requires_dtypes:
        if not hasattr(torch, name):
            return {"dtype_absent": name}
    ctx = Context(torch, routes)
    try:
        try:
            obs: dict[str, Any] = {"value": ctx.value(case.run(torch, ctx))}
        except Blocked as e:      # building an input or reading the result failed: not the API under test
            obs = {BLOCKED: e.cause()}
        except (KeyboardInterrupt, GeneratorExit):
            raise
        except BaseException as e:   # also pyo3's PanicException and SystemExit: the case's observation
            obs = exception(e)
            if DISPLAY not in obs:     # which torch API raised it: compare blames that one
                obs[DISPLAY] = blamed(e, torch)
        if ctx.inputs:
            obs["inputs"] = ctx.inputs
        if ctx.cause:
            obs[DISPLAY] = {**obs.get(DISPLAY, {}), "cause": ctx.cause}
        if ctx.around:
            obs[DISPLAY] = {**obs.get(DISPLAY, {}), "reached_around": ctx.around}
        return obs
    finally:
        if ctx.workdir:
            shutil.rmtree(ctx.workdir, ignore_errors=True)


def _log_offset() -> int | None:
    """How much this process has written to its log: the runner shows a crashed case only its own part."""
    try:
        sys.stderr.flush()
        return os.lseek(2, 0, os.SEEK_CUR)
    except (OSError, ValueError):
        return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m conformance.worker")
    ap.add_argument("--target", required=True)
    ap.add_argument("--backend-path", action="append", default=[])
    args = ap.parse_args(argv)
    # Cases that need a fresh process with this same target (catalog/_st_support.run_fresh) read it here.
    os.environ["CONFORMANCE_TARGET_ARGS"] = json.dumps(sys.argv[1:] if argv is None else list(argv))

    # The protocol owns the real stdout; prints from the backend (Python or C) land on stderr.
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def send(msg: dict[str, Any]) -> None:
        proto.write(json.dumps(msg, sort_keys=True) + "\n")
        proto.flush()

    watch = RealTorchWatch(real_torch_dir())
    try:
        backend = backends.resolve(args.target, args.backend_path)
        backend.activate()
        torch = importlib.import_module("torch")
        loaded = watch.new_modules()
        uses_real = bool(loaded) if backend.uses_real_torch is None else backend.uses_real_torch
        if loaded and not uses_real:
            raise RuntimeError(f"target {backend.name!r} is not built on PyTorch but loaded real torch while "
                               f"becoming `torch` ({', '.join(loaded[:5])}); its results would be PyTorch's")
        cases = load_catalog()
        routes = routes_for(torch)
    except Exception as e:
        send({"fatal": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()})
        return 2
    send({"hello": {**describe(backend, torch, uses_real), "routes": routes.describe()}})

    for line in sys.stdin:
        case_id = json.loads(line)["case"]
        start = time.perf_counter()
        obs = run_case(case_id, cases, torch, routes)
        tainted = [] if uses_real else watch.new_modules()
        if tainted:
            obs = {"kit_error": f"real torch was imported during this case ({', '.join(tainted[:5])}); "
                                "the target must never load it", "case_obs": obs}
        ms = round((time.perf_counter() - start) * 1000, 3)
        # exiting: this process is no longer a clean target; the runner starts a new one
        send({"case": case_id, "obs": obs, "ms": ms, "log_end": _log_offset(), "exiting": bool(tainted)})
        if tainted:
            return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
