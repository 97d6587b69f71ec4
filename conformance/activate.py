"""Make ``import torch`` mean a target in this process, then run a user's Python there.

    python -m conformance.activate --target pyborch -- snippet.py [ARGS]
    python -m conformance.activate --target mindtorch_v2 --backend-path ~/mindnlp/src -- -c 'import torch; ...'
    python -m conformance.activate --target pyborch -- -m my_module [ARGS]

The adapter from ``conformance.backends``, ``import torch``, and a check that a target declared not
built on PyTorch did not load it: the one activation path, taken by the worker before its first case, by
the child of a fresh-process case and by this command. ``exec`` starts this module inside the target's
sandbox, so a snippet runs in the world the kit's own workers see.
"""
from __future__ import annotations

import argparse
import importlib
import os
import runpy
import sys
from dataclasses import dataclass
from typing import Any

from . import backends
from .backends.base import RealTorchWatch, real_torch_dir


class ActivationError(Exception):
    """The target could not be made ``torch``; the message says why."""


@dataclass
class Activated:
    backend: backends.Backend
    torch: Any                  # the module ``import torch`` now gives
    uses_real_torch: bool       # whether that is (built on) real PyTorch's
    watch: RealTorchWatch       # keeps telling real-torch modules loaded since (the worker asks after each case)


def become_torch(target: str, backend_path: list[str], *, locate: bool = False) -> Activated:
    watch = RealTorchWatch(real_torch_dir())
    backend = backends.resolve(target, backend_path)
    if locate:
        backend.locate()
    backend.activate()
    torch = importlib.import_module("torch")
    loaded = watch.new_modules()
    uses_real = bool(loaded) if backend.uses_real_torch is None else bool(backend.uses_real_torch)
    if loaded and not uses_real:
        raise ActivationError(f"target {backend.name!r} is not built on PyTorch but loaded real torch while "
                              f"becoming `torch` ({', '.join(loaded[:5])}); its results would be PyTorch's")
    return Activated(backend, torch, uses_real, watch)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m conformance.activate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", required=True)
    ap.add_argument("--backend-path", action="append", default=[])
    ap.add_argument("command", nargs=argparse.REMAINDER, help="-- FILE [ARGS] | -c CODE [ARGS] | -m MODULE [ARGS]")
    args = ap.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        print("error: nothing to run: give -- FILE, -- -c CODE or -- -m MODULE", file=sys.stderr)
        return 4
    try:
        become_torch(args.target, args.backend_path, locate=True)
    except (backends.BackendError, ActivationError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 4
    if command[0] == "-c" and len(command) > 1:
        sys.argv = ["-c", *command[2:]]
        exec(compile(command[1], "<string>", "exec"), {"__name__": "__main__"})
    elif command[0] == "-m" and len(command) > 1:
        sys.argv = [command[1], *command[2:]]
        runpy.run_module(command[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = list(command)
        sys.path.insert(0, os.path.dirname(os.path.abspath(command[0])))    # as `python FILE` does
        runpy.run_path(command[0], run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
