"""Recordings of the built-in workloads, cached per (torch, transformers, workload, recorder version).

``ensure_recording(workload)`` returns the recording's folder, making it first if needed: in a
SUBPROCESS with real PyTorch (``python -m conformance.trace.recorder``), never in a target process.
It lives beside the tiny models (``$CONFORMANCE_MODELS_DIR`` or ``~/.cache/torch-conformance/models``),
made under a file lock in a temporary folder and renamed once complete, like the models.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from ..catalog import _hf_models
from ..cachedir import kit_importable, made_once
from ..dists import dist_version, oracle_torch_version
from .recorder import RECORDER_VERSION

WORKLOADS = ("albert", "bert", "gpt2")
HERE = Path(__file__).parent


def real_torch_version() -> str | None:
    """Real PyTorch's version, the same in every process (the runner's, passed to its workers)."""
    return oracle_torch_version()


def key(workload: str) -> str:
    # the recorder's own code is part of the key: a change to it records again
    code = hashlib.sha256(b"".join((HERE / n).read_bytes() for n in ("recorder.py", "store.py"))).hexdigest()[:10]
    return (f"trace-{workload}_torch-{real_torch_version()}_transformers-"
            f"{dist_version('transformers')}_r{RECORDER_VERSION}-{code}")


def folder(workload: str) -> Path:
    return _hf_models.root() / key(workload)


def record(cmd_tail: list[str], out: Path, timeout: float) -> subprocess.CompletedProcess:
    """Run the recorder in a real-torch subprocess writing into ``out``."""
    env = kit_importable({**os.environ, **_hf_models.OFFLINE})
    return subprocess.run([sys.executable, "-m", "conformance.trace.recorder", "--out", str(out), *cmd_tail],
                          capture_output=True, text=True, timeout=timeout, env=env)


def ensure_recording(workload: str, timeout: float = 600.0) -> Path:
    if workload not in WORKLOADS:
        raise ValueError(f"unknown workload {workload!r}; built-in: {', '.join(WORKLOADS)}")

    def record_into(tmp: Path) -> None:
        proc = record(["--workload", workload], tmp, timeout)
        if proc.returncode != 0 or not (tmp / "trace.json").is_file():
            from .store import TraceError
            raise TraceError(f"recording {workload} with real torch failed (exit {proc.returncode}): "
                             + (proc.stderr or proc.stdout)[-1500:])

    return made_once(folder(workload), "trace.json", record_into)
