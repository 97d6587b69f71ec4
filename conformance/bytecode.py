"""The backend's bytecode, compiled by the runner for the target's sandbox.

A user's own process writes ``__pycache__`` beside the backend's sources at its first import and reads it
from then on. In its sandbox a target's sources are read-only, so without this every process it starts (each
worker, each fresh-process case, each snippet driver) compiled the whole backend from source again: 0.3 s of
CPU a process for mindtorch_v2, a sixth of a warm gate. So the runner gives the target what the user's process
has: a copy of the backend's package folder, its files hard-linked (the bytes the user has, nothing else), with
its bytecode compiled by the runner, bound read-only over the package's own folder. The target cannot write
it, so no run's target leaves anything for another run.

A package whose own bytecode is complete and fresh (an installed wheel, a checkout the user imported from)
needs no copy. A copy is keyed by every file's size, mtime and inode: an edited, added or replaced source
makes a new one.
"""
from __future__ import annotations

import compileall
import hashlib
import importlib.util
import os
import shutil
import time
from pathlib import Path

KEEP = 2           # copies of one package kept (the newest): a backend author edits between runs
STALE_SECONDS = 3600


def _sources(pkg: Path) -> list[Path]:
    """Every file of the package, bytecode folders left out, in a stable order."""
    out = []
    for root, dirs, files in os.walk(pkg):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        out += [Path(root, f) for f in sorted(files)]
    return out


def _fresh(source: Path) -> bool:
    """Whether Python would use the bytecode beside ``source`` as it is (its header names this source)."""
    try:
        with open(importlib.util.cache_from_source(str(source)), "rb") as f:
            head = f.read(16)
        st = source.stat()
    except (OSError, ValueError):
        return False
    if len(head) < 16 or head[:4] != importlib.util.MAGIC_NUMBER:
        return False
    if int.from_bytes(head[4:8], "little") & 1:      # hash-based: Python checks it itself, or trusts it
        return True
    return (int.from_bytes(head[8:12], "little") == int(st.st_mtime) & 0xFFFFFFFF
            and int.from_bytes(head[12:16], "little") == st.st_size & 0xFFFFFFFF)


def _stamp(pkg: Path, files: list[Path]) -> str:
    h = hashlib.sha256()
    for f in files:
        st = f.stat(follow_symlinks=False)
        h.update(f"{f.relative_to(pkg)}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\n".encode())
    return h.hexdigest()[:16]


def compiled_copy(pkg: Path, cache: Path) -> Path | None:
    """A copy of package folder ``pkg`` with its bytecode, made once per state of its files; None when
    ``pkg``'s own bytecode already serves (or it holds no Python source)."""
    pkg = Path(os.path.realpath(pkg))
    files = _sources(pkg)
    code = [f for f in files if f.suffix == ".py" and not f.is_symlink()]
    if not code or all(_fresh(f) for f in code):
        return None
    tag = hashlib.sha256(str(pkg).encode()).hexdigest()[:12]
    out = cache / f"{tag}-{_stamp(pkg, files)}"
    if (out / ".complete").is_file():
        return out
    tmp = Path(f"{out}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(pkg, tmp, symlinks=True, copy_function=_link, ignore=shutil.ignore_patterns("__pycache__"))
    # ddir: tracebacks and __file__-relative lookups name the user's own path, where the copy is bound
    compileall.compile_dir(str(tmp), ddir=str(pkg), quiet=2)
    (tmp / ".complete").write_text(str(pkg))
    try:
        os.rename(tmp, out)
    except OSError:            # another run made it meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
    _prune(cache, tag, keep=out)
    return out


def _prune(cache: Path, tag: str, keep: Path) -> None:
    """Older copies of the same package beyond KEEP, and copies left half made by a run that died (an hour
    old: another run may be making one now)."""
    mine = [p for p in cache.glob(f"{tag}-*") if p != keep]
    done = sorted((p for p in mine if (p / ".complete").is_file()), key=lambda p: p.stat().st_mtime)
    old = [p for p in mine if p.name.endswith(".tmp") and time.time() - p.stat().st_mtime > STALE_SECONDS]
    for p in done[:max(0, len(done) - (KEEP - 1))] + old:
        shutil.rmtree(p, ignore_errors=True)


def _link(src, dst) -> None:
    """Hard links: the copy holds the user's very files (copied only where links cannot be made)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
