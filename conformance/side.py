"""Which side a process of the kit is on: the oracle (real PyTorch as itself) or a target.

A worker exports the arguments that made its target (``CONFORMANCE_TARGET_ARGS``), so that code running
inside it (blame, the transformers cases, fresh-process cases) can tell its side and start the same target
again in a fresh child. Read here, once, for all of them.
"""
from __future__ import annotations

import json
import os
from typing import Any

TARGET_ARGS_ENV = "CONFORMANCE_TARGET_ARGS"


def target_name() -> str | None:
    """The worker's --target (``torch`` for the oracle); None outside a worker."""
    try:
        args = json.loads(os.environ.get(TARGET_ARGS_ENV) or "null")
        return args[args.index("--target") + 1]
    except (ValueError, TypeError, IndexError, AttributeError):
        return None


def is_reference(torch: Any) -> bool:
    """Whether this process is the reference: real PyTorch as itself (not a backend built on it)."""
    name = target_name()
    if name is not None:
        return name == "torch"
    from .backends.base import real_torch_dir
    d = real_torch_dir()
    return bool(d) and str(getattr(torch, "__file__", "") or "").startswith(d.rstrip("/") + "/")
