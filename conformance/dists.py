"""Installed distributions' versions: what the oracle cache, the process headers and the model cache are keyed by."""
from __future__ import annotations

import functools
from importlib.metadata import PackageNotFoundError, version


@functools.lru_cache(maxsize=None)
def dist_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None when it is not installed. Read once a process:
    a run asks for the same few names once a case (272 reads of METADATA cost a gate 2.6 s)."""
    try:
        return version(name)
    except PackageNotFoundError:
        return None


ORACLE_TORCH_ENV = "CONFORMANCE_ORACLE_TORCH"


@functools.lru_cache(maxsize=None)
def installed_torch_version() -> str | None:
    """The installed PyTorch's version, read from the dist-info beside its package folder: a target that
    answers ``import torch`` may also answer for the ``torch`` distribution (a proxy reporting its own). Found by
    its metadata folder's name and read once a process: reading every distribution's METADATA to find it took
    15 ms, once per replay snippet when `conformance report` renders a checklist."""
    from importlib.metadata import distributions
    from pathlib import Path

    from .backends.base import real_torch_dir
    d = real_torch_dir()
    if d:
        for dist in distributions(name="torch", path=[str(Path(d).parent)]):
            if (dist.metadata["Name"] or "").lower() == "torch":
                return dist.version
    return dist_version("torch")


def oracle_torch_version() -> str | None:
    """Real PyTorch's version as the runner sees it: the tiny models and the recordings are keyed by it in
    every process alike. A target process cannot find real torch (its sandbox hides it), so the runner
    passes it down in ``$CONFORMANCE_ORACLE_TORCH``."""
    import os
    return os.environ.get(ORACLE_TORCH_ENV) or installed_torch_version()
