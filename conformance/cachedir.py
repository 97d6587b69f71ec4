"""Where the kit's caches live (``default_root``), and a cache folder made once: by one process under a lock,
into a temp folder renamed into place when whole.

The tiny transformers models and the recordings of their forward passes are made with real torch in a
subprocess and kept per (torch, transformers, ...) version; runs side by side wait for the first to finish,
and a run killed half way leaves no half folder behind.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable


def default_root() -> Path:
    """The oracle cache's folder (the kit's other caches sit beside it): ``$XDG_CACHE_HOME/torch-conformance/oracle``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "torch-conformance" / "oracle"


def made_once(folder: Path, marker: str, make: Callable[[Path], None]) -> Path:
    """``folder``, made by ``make(tmp)`` unless it already holds ``marker``; ``make`` must leave ``marker`` in
    ``tmp`` (or raise)."""
    if (folder / marker).is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f"{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (folder / marker).is_file():
            return folder
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
        try:
            make(tmp)
            if folder.exists():
                shutil.rmtree(folder)
            tmp.rename(folder)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return folder


def kit_importable(env: dict[str, str]) -> dict[str, str]:
    """``env`` with the folder holding ``conformance/`` first on PYTHONPATH, for a subprocess of the kit."""
    top = str(Path(__file__).resolve().parents[1])
    return {**env, "PYTHONPATH": os.pathsep.join([top] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))}
