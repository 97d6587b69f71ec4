"""Other safetensors versions for the tests, without a venv each: folders made by ``pip install --no-deps --target DIR``.

DIR goes first on PYTHONPATH for the whole run (pytest, workers, oracle), so
``importlib.metadata.version("safetensors")`` (the oracle cache key) and ``import safetensors`` both
see that version. ``packaging`` comes along: 0.6.2/0.7.0 import it without declaring it.
"""
from __future__ import annotations

import os
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


SITE_ENV = "CONFORMANCE_SAFETENSORS_SITES"     # folders, each holding one other safetensors release


def safetensors_dir(tmp_path_factory, version: str) -> Path | None:
    """A folder holding safetensors==version (None: the installed one already is that version). No test
    installs packages: other releases come from ``$CONFORMANCE_SAFETENSORS_SITES`` (``tox -e
    selftest-versions`` fills it with ``pip install --no-deps --target``), else the test is skipped."""
    if version == installed_version():
        return None
    for folder in filter(None, os.environ.get(SITE_ENV, "").split(os.pathsep)):
        dist = list(Path(folder).glob(f"safetensors-{version}.dist-info"))
        if dist and (Path(folder) / "safetensors" / "__init__.py").is_file():
            return Path(folder)
    pytest.skip(f"safetensors {version} is not installed for the tests: run `tox -e selftest-versions`, or "
                f"pip install --no-deps --target DIR safetensors=={version} packaging and set {SITE_ENV}=DIR")


def env_for(st_dir: Path | None, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    parts = ([str(st_dir)] if st_dir else []) + [str(ROOT)] + \
        ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    env["PYTHONPATH"] = os.pathsep.join(parts)
    env.update(extra)
    return env
