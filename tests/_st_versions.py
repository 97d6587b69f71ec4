"""Other safetensors versions for the tests, without a venv each: ``pip install --no-deps --target DIR``.

DIR goes first on PYTHONPATH for the whole run (pytest, workers, oracle), so
``importlib.metadata.version("safetensors")`` (the oracle cache key) and ``import safetensors`` both
see that version. ``packaging`` comes along: 0.6.2/0.7.0 import it without declaring it.
"""
from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def installed_version() -> str:
    from importlib.metadata import version
    return version("safetensors")


def shared_dir(tmp_path_factory) -> Path:
    """A folder shared by all xdist workers of this run (the parent of each worker's basetemp)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def safetensors_dir(tmp_path_factory, version: str) -> Path | None:
    """A folder holding safetensors==version (None: the installed one already is that version)."""
    if version == installed_version():
        return None
    root = shared_dir(tmp_path_factory)
    target = root / f"safetensors-{version}"
    with open(root / f"safetensors-{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "safetensors" / "__init__.py").is_file():
            proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                                   "--no-deps", "--target", str(target), f"safetensors=={version}", "packaging"],
                                  capture_output=True, text=True, timeout=600)
            if proc.returncode != 0:
                pytest.fail(f"pip could not install safetensors=={version}: {proc.stderr[-1500:]}")
    return target


def env_for(st_dir: Path | None, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    parts = ([str(st_dir)] if st_dir else []) + [str(ROOT)] + \
        ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    env["PYTHONPATH"] = os.pathsep.join(parts)
    env.update(extra)
    return env
