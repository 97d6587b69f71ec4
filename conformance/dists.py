"""Installed distributions' versions: what the oracle cache, the process headers and the model cache are keyed by."""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def dist_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None when it is not installed."""
    try:
        return version(name)
    except PackageNotFoundError:
        return None
