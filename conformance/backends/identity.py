"""Which backend a run ran, so that a printed repro command reproduces that exact row: the target spec
(name, backend path, who answered ``import torch``) and the code it was run from.

A source tree (a MindNLP ``src/``, a ``--backend-path`` folder) is identified by a digest of its files'
names and bytes; code installed into a site-packages folder by its distribution's name and version (hashing
an installed torch would read a gigabyte for every run). Everything here runs in the runner, before the
target starts, and imports nothing of the backend.
"""
from __future__ import annotations

import hashlib
import importlib.machinery
import os
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

_CODE_SUFFIXES = (".py", ".so", ".pyd")
_SITE_DIRS = ("site-packages", "dist-packages")


def package_location(package: str, sys_path: list[str]) -> Path | None:
    """The folder (or single file) of top-level module ``package`` as the target's ``sys.path`` finds it."""
    spec = importlib.machinery.PathFinder.find_spec(package, [*sys_path, *(p for p in sys.path if p)])
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return Path(spec.origin) if spec.origin else None


def describe_sources(package: str | None, sys_path: list[str]) -> dict[str, Any] | None:
    """``{"package", "location", "distribution" | "digest", "files"}``; None when there is no package."""
    if not package:
        return None
    where = package_location(package, sys_path)
    if where is None:
        return {"package": package, "location": None}
    out: dict[str, Any] = {"package": package, "location": str(where)}
    dist = _installed_distribution(package, where)
    if dist:
        out["distribution"] = dist
        return out
    files = _code_files(where)
    h = hashlib.sha256()
    for f in files:
        h.update(str(f.relative_to(where.parent)).encode() + b"\0")
        h.update(hashlib.sha256(f.read_bytes()).digest())
    out["digest"], out["files"] = h.hexdigest()[:16], len(files)
    return out


def _installed_distribution(package: str, where: Path) -> str | None:
    if where.parent.name not in _SITE_DIRS:
        return None
    # the dist-info beside it that declares the package (packages_distributions() reads every RECORD: 0.3 s)
    for dist in metadata.distributions(path=[str(where.parent)]):
        top = (dist.read_text("top_level.txt") or "").split()
        if package in top or (not top and any(str(f).split("/")[0] == package for f in dist.files or ())):
            return f"{dist.metadata['Name']} {dist.version}"
    return None


def _code_files(where: Path) -> list[Path]:
    if where.is_file():
        return [where]
    found = []
    for root, dirs, files in os.walk(where):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        found += [Path(root) / f for f in sorted(files) if f.endswith(_CODE_SUFFIXES)]
    return found


def differs(recorded: str | None, found: dict[str, Any] | None) -> str | None:
    """One line saying how ``found`` is not the code the ``token`` ``recorded`` names; None when it is."""
    if not recorded:
        return None
    if not found or found.get("location") is None:
        return f"the run used sources {recorded}, and no {(found or {}).get('package')!r} is found here"
    if token(found) != recorded:
        what = found.get("distribution") or f"sources {found.get('digest')} ({found.get('files')} files)"
        return f"the run used sources {recorded}, and this finds {what} at {found['location']}"
    return None


def target_spec(backend: Any, hello: dict[str, Any] | None, sources: dict[str, Any] | None) -> dict[str, Any]:
    """The run header's ``target_spec``: everything a repro command needs to run this exact target again."""
    hello = hello or {}
    return {"target": backend.name, "backend_path": list(backend.sys_path),
            "answered_by": hello.get("answered_by"), "how": hello.get("how"),
            "declared_uses_real_torch": backend.uses_real_torch, "sources": sources}


def token(sources: dict[str, Any] | None) -> str | None:
    """The sources as one command-line word: a tree's digest, or ``name==version`` of a distribution."""
    if not sources:
        return None
    if sources.get("distribution"):
        return str(sources["distribution"]).replace(" ", "==")
    return sources.get("digest")
