"""Support for the end-to-end safetensors cases (``st_entrypoints``); not a catalog module itself.

* ``st_bytes``: a tiny safetensors writer that needs no torch (u64 LE header length, JSON header
  padded with spaces to a multiple of 8, data). For one tensor, or several with at most one
  metadata key, its output is byte-identical to ``safetensors.numpy.save`` / ``safetensors.torch.save``
  of every supported version (checked by tests/test_safetensors_e2e.py), so a load case reads the
  same file in the oracle and in the target, whatever either of them would write.
* ``run_fresh``: run a snippet in a NEW process in which the current target answers ``import torch``
  (activated exactly as the worker activates it), for observations that need a fresh interpreter
  (e.g. importing ``safetensors.torch`` for the first time). The worker exports its own arguments in
  ``CONFORMANCE_TARGET_ARGS``; ``python -m conformance.catalog._st_support`` is the child side.
* ``unsupported``: the observation of a case whose entry point does not exist in the installed
  safetensors; ``compare.judge`` turns it into SKIP when the oracle observes it.

Lives in the catalog folder (with a leading underscore, so it is not collected) because it decides
observations: the catalog digest, and so the oracle cache key, covers it.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import os
import struct
import subprocess
import sys
from typing import Any

from ..dtypes import DTYPES
from ..observe import NOT_IN_THIS_SAFETENSORS
from ..side import TARGET_ARGS_ENV

UNSUPPORTED = NOT_IN_THIS_SAFETENSORS

# safetensors' Dtype enum order (0.8.0; older versions list a subset in the same relative order).
# Its serializer writes tensors by descending dtype, then by name.
_ST_ORDER = ["BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ",
             "F8_E5M2FNUZ", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "C64", "F64", "I64", "U64"]


def unsupported(what: str) -> dict[str, str]:
    return {UNSUPPORTED: what}


def header_shape(dtype: str, shape: tuple[int, ...] | list[int]) -> list[int]:
    """safetensors counts F4 in 4-bit elements: the header's last dim is twice torch's (bytes)."""
    s = [int(x) for x in shape]
    if dtype == "float4_e2m1fn_x2" and s:
        s[-1] *= 2
    return s


def st_bytes(entries: list[tuple[str, str, tuple[int, ...], bytes]], metadata: dict[str, str] | None = None) -> bytes:
    """A safetensors file from ``(name, dtype_name, torch_shape, raw_bytes)`` entries, without torch."""
    order = sorted(entries, key=lambda e: (-_ST_ORDER.index(DTYPES[e[1]].st_code), e[0]))
    parts = []
    if metadata is not None:
        parts.append('"__metadata__":' + json.dumps(metadata, separators=(",", ":")))
    data, offset = [], 0
    for name, dtype, shape, raw in order:
        info = {"dtype": DTYPES[dtype].st_code, "shape": header_shape(dtype, shape),
                "data_offsets": [offset, offset + len(raw)]}
        parts.append(json.dumps(name) + ":" + json.dumps(info, separators=(",", ":")))
        data.append(raw)
        offset += len(raw)
    header = ("{" + ",".join(parts) + "}").encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + b"".join(data)


def write_st(path: str, entries, metadata: dict[str, str] | None = None) -> str:
    with open(path, "wb") as f:
        f.write(st_bytes(entries, metadata))
    return path


def sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def accepts(fn: Any, name: str) -> bool:
    """Whether ``fn`` (a safetensors function or the Rust safe_open) takes the keyword ``name``."""
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def pread_supported() -> bool:
    import safetensors

    return accepts(safetensors.safe_open, "backend")


# -- a snippet in a fresh process with the current target's activation --------------------------

def target_args() -> list[str]:
    raw = os.environ.get(TARGET_ARGS_ENV)
    if not raw:
        raise RuntimeError(f"${TARGET_ARGS_ENV} is not set: fresh-process cases run only inside a kit worker")
    return json.loads(raw)


def run_fresh(code: str, timeout: float = 60.0) -> dict[str, Any]:
    """Run ``code`` in a new process whose ``import torch`` is the current target. The code sets
    ``result`` (plain JSON); the answer is ``{"value": result}`` or the exception observation."""
    proc = subprocess.run([sys.executable, "-m", "conformance.catalog._st_support", *target_args()],
                          input=code, capture_output=True, text=True, timeout=timeout)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or "")[-800:]
        raise RuntimeError(f"fresh process failed (exit {proc.returncode}): {tail}")
    return json.loads(lines[-1])


def _child(argv: list[str]) -> int:
    import argparse

    from ..activate import become_torch
    from ..observe import exception

    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)
    ap.add_argument("--backend-path", action="append", default=[])
    args = ap.parse_args(argv)
    code = sys.stdin.read()
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    become_torch(args.target, args.backend_path)    # as the worker: a target that loads real torch fails
    ns: dict[str, Any] = {}
    try:
        exec(compile(code, "<fresh-case>", "exec"), ns)
        out: dict[str, Any] = {"value": ns.get("result")}
    except Exception as e:
        out = exception(e)
    proto.write(json.dumps(out, sort_keys=True) + "\n")
    proto.flush()
    return 0


def safetensors_torch():
    """``safetensors.torch``, imported the way model code does: after ``import torch.nn``.

    Some backends (mindtorch_v2) only have ``torch.nn`` once it was imported, and safetensors.torch
    reads ``torch.nn.Module`` at import. Whether the bare import works is import_safetensors_torch's
    question; importing torch.nn first here keeps every other case's outcome about its own entry point
    and independent of which cases ran before it in the same worker."""
    try:
        import torch.nn  # noqa: F401
    except ImportError:
        pass
    import safetensors.torch

    return safetensors.torch


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))

