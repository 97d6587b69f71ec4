"""The process where one backend answers ``import torch`` and cases run.

Started by the runner as ``python -m conformance.worker --target NAME --channel R,W``. It reads one
JSON line per case id from fd R and writes framed messages (``conformance.channel``) to fd W, pipes
of their own (stdout and stderr are its log): first ``{"hello": ...}`` describing which module
answered ``import torch``, then one ``{"case": id, "obs": ...}`` per case. Without ``--channel``
it uses stdin and the original stdout.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
import traceback
from typing import Any

from . import activate, backends, calls, channel, lifeline, side
from .blame import blamed
from .dists import dist_version
from .observe import BLOCKED, DISPLAY, DTYPE_ABSENT, IMPORT_READS, KIT_ERROR, Blocked, Context, exception, routes_for
from .registry import load_catalog


def describe(backend: backends.Backend, torch: Any, uses_real_torch: bool) -> dict[str, Any]:
    ver = getattr(torch, "__version__", None)
    return {
        "target": backend.name, "how": backend.how, "answered_by": backend.answered_by,
        "module": getattr(torch, "__name__", None),
        "file": getattr(torch, "__file__", None), "version": None if ver is None else str(ver),
        "version_type": type(ver).__name__, "uses_real_torch": uses_real_torch,
        "python": platform.python_version(), "numpy": dist_version("numpy"),
        "safetensors": dist_version("safetensors"),
        # the `torch` distribution this process sees (transformers reads it to decide torch is there): none
        # in the sandbox unless the backend presents its own (_torch_proxy patches importlib.metadata)
        "torch_metadata": _torch_metadata(),
        "transformers": dist_version("transformers"),
    }


def _torch_metadata() -> str | None:
    try:
        return dist_version("torch")
    except Exception as e:      # noqa: BLE001  a backend's patched importlib.metadata may raise anything
        return f"raised {type(e).__name__}"


def run_case(case_id: str, cases: dict, torch: Any, routes: Any = None) -> dict[str, Any]:
    case = cases.get(case_id)
    if case is None:
        return {KIT_ERROR: f"unknown case id {case_id!r} (catalog mismatch between processes)"}
    for name in case.params.requires_dtypes:
        if not hasattr(torch, name):
            return {DTYPE_ABSENT: name}
    ctx = Context(torch, routes)
    log = calls.ACTIVE
    try:
        try:
            if log:
                log.start()
            raised = None
            try:
                value = case.run(torch, ctx)
            except BaseException as e:
                raised = e
                raise
            finally:
                chain = log.stop(raised) if log else None
            obs: dict[str, Any] = {"value": ctx.value(value)}
        except Blocked as e:      # building an input or reading the result failed: not the API under test
            obs = {BLOCKED: e.cause()}
        except (KeyboardInterrupt, GeneratorExit):
            raise
        except BaseException as e:   # also pyo3's PanicException and SystemExit: the case's observation
            obs = exception(e)
            if DISPLAY not in obs:     # which torch API raised it: compare blames that one
                obs[DISPLAY] = blamed(e, torch)
            if log and chain:          # raised outside any recorded call, on a value one returned: that call
                on = calls.raised_on(e, log)
                if on is not None:
                    obs[DISPLAY] = {**obs[DISPLAY], "raised_on": on}
            read = calls.import_reads(e, log) if log else None
            if read:                   # it came out of torch's own import code: what that code read
                obs[DISPLAY] = {**obs[DISPLAY], IMPORT_READS: read}
        if ctx.inputs:
            obs["inputs"] = ctx.inputs
        display = getattr(ctx, "display", None)   # a case's notes on its result: shown, never compared
        if isinstance(display, dict):
            obs[DISPLAY] = {**display, **obs.get(DISPLAY, {})}
        if ctx.cause:
            obs[DISPLAY] = {**obs.get(DISPLAY, {}), "cause": ctx.cause}
        if ctx.around:
            obs[DISPLAY] = {**obs.get(DISPLAY, {}), "reached_around": ctx.around}
        if chain:
            obs[DISPLAY] = {**obs.get(DISPLAY, {}), "calls": chain}
        return obs
    finally:
        if ctx.workdir:
            shutil.rmtree(ctx.workdir, ignore_errors=True)


def _flush_output() -> None:
    """What the case printed goes into the log before its answer: the runner counts the log's bytes when the
    answer comes, and shows a crashed case only what came after the previous one."""
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except (OSError, ValueError, AttributeError):
            pass


def _target_args(argv: list[str]) -> list[str]:
    """The arguments that make this target again elsewhere: without this process's channel (nor the
    oracle's --torch-version, which a fresh process of the target's own does not take)."""
    out, skip = [], False
    for a in argv:
        if skip or a.startswith(("--channel=", "--torch-version=")):
            skip = False
            continue
        if a in ("--channel", "--torch-version"):
            skip = True
            continue
        out.append(a)
    return out


def _rewrote_args(name: str, when: str) -> str:
    return (f"target {name!r} rewrote ${side.TARGET_ARGS_ENV} {when} (the arguments that start this same target "
            "in the fresh processes some cases run): their answers would not be its own")


def _sender(fd: int):
    """send(message) on ``fd``, framed with the channel's own copies of json and hashlib (taken before the
    target is imported). A reply fd that stops working ends the worker with a line saying so."""
    write, stderr_write, exit_now = channel.write, os.write, os._exit

    def send(msg: dict[str, Any]) -> None:
        try:
            write(fd, msg)
        except OSError as e:
            stderr_write(2, f"conformance worker: its reply channel (fd {fd}) stopped working: {e}\n".encode())
            exit_now(5)
    return send


def _open_channel(spec: str | None):
    """(request lines, send(message)). Prints from the backend (Python or C) land in the log, never here."""
    if spec:
        r, w = (int(x) for x in spec.split(","))
        for fd in (r, w):
            os.set_inheritable(fd, False)     # children the target starts do not get them
        lifeline.watch(r)                     # the runner's end closing means the runner is gone
        return os.fdopen(r, "r"), _sender(w)
    proto = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return sys.stdin, _sender(proto)


def _install_recorder(torch: Any, routes: Any) -> dict[str, Any]:
    """The recorder at the torch boundary (conformance/calls.py), with a breadcrumb in this process's TMPDIR
    that the runner reads when the process dies or hangs in a case."""
    import tempfile
    from .digest import Digest

    try:
        handed = os.environ.pop(calls.BREADCRUMB_FD_ENV, None)
        crumb = calls.Breadcrumb(fd=int(handed)) if handed else \
            calls.Breadcrumb(os.path.join(tempfile.gettempdir(), calls.BREADCRUMB_FILE))
    except (OSError, ValueError):
        crumb = None
    digest = Digest(Context(torch, routes))
    if os.environ.get(calls.UNRECORDED_BENCH_ENV) and side.target_name() != "torch":
        # benchmarks/bench_gate.py only: what a target's case costs without the recorder (causes degrade,
        # outcomes stay); never the oracle's, whose records are cached for every later run
        return {"recorded": 0, "unrecorded": [f"everything ({calls.UNRECORDED_BENCH_ENV} is set: a benchmark run)"]}
    return calls.install(torch, calls.CallLog(digest.result, digest.given, crumb, digest.forget))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m conformance.worker")
    ap.add_argument("--target", required=True)
    ap.add_argument("--backend-path", action="append", default=[])
    ap.add_argument("--channel", default=None, help="R,W: the fds of the request and reply pipes")
    ap.add_argument("--torch-version", default=None,
                    help="the oracle as safetensors sees a backend of this torch.__version__ (its loading path)")
    args = ap.parse_args(argv)
    # Cases that need a fresh process with this same target (catalog/_st_support.run_fresh) read it here.
    made_as = os.environ[side.TARGET_ARGS_ENV] = json.dumps(_target_args(sys.argv[1:] if argv is None else list(argv)))
    requests, send = _open_channel(args.channel)

    try:
        active = activate.become_torch(args.target, args.backend_path)
        backend, torch, uses_real, watch = active.backend, active.torch, active.uses_real_torch, active.watch
        if args.torch_version:
            torch.__version__ = args.torch_version
        cases = load_catalog()
        routes = routes_for(torch)
        recorder = _install_recorder(torch, routes)
        if os.environ.get(side.TARGET_ARGS_ENV) != made_as:
            raise RuntimeError(_rewrote_args(backend.name, "while becoming `torch`"))
    except Exception as e:
        send({"fatal": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()})
        return 2
    # "at": when it was ready, on the machine's monotonic clock (a sandbox shares it): the runner may read the
    # hello only later (it starts this process before it loads the oracle's records)
    send({"hello": {**describe(backend, torch, uses_real), "routes": routes.describe(), "recorder": recorder},
          "at": time.monotonic()})

    for line in requests:
        case_id = channel.decode(line)["case"]     # the channel's own decoder: a target may patch json
        start = time.perf_counter()
        obs = run_case(case_id, cases, torch, routes)
        tainted = [] if uses_real else watch.new_modules()
        if tainted:
            obs = {KIT_ERROR: f"real torch was imported during this case ({', '.join(tainted[:5])}); "
                                "the target must never load it", "case_obs": obs}
        elif os.environ.get(side.TARGET_ARGS_ENV) != made_as:      # fresh-process cases would run another target
            obs, tainted = {KIT_ERROR: _rewrote_args(backend.name, "during this case"), "case_obs": obs}, ["env"]
        ms = round((time.perf_counter() - start) * 1000, 3)
        # exiting: this process is no longer a clean target; the runner starts a new one
        _flush_output()
        send({"case": case_id, "obs": obs, "ms": ms, "exiting": bool(tainted)})
        if tainted:
            return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
