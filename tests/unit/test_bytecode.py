"""The backend's bytecode, compiled by the runner (conformance/bytecode.py): a copy of the package whose
files are the user's own (hard links), with fresh bytecode; made once per state of its files."""
from __future__ import annotations

import importlib.util
import os
import py_compile
import time
from pathlib import Path

from conformance import bytecode


def _package(root: Path) -> Path:
    pkg = root / "src" / "mybackend"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .sub import thing\n")
    (pkg / "sub" / "__init__.py").write_text("thing = 1\n")
    (pkg / "data.json").write_text("{}")
    return pkg


def test_a_package_without_bytecode_gets_a_compiled_copy_of_its_own_files(tmp_path):
    pkg = _package(tmp_path)
    copy = bytecode.compiled_copy(pkg, tmp_path / "cache")
    assert copy is not None and copy.parent == tmp_path / "cache"
    for rel in ("__init__.py", "sub/__init__.py", "data.json"):
        assert os.stat(copy / rel).st_ino == os.stat(pkg / rel).st_ino      # the user's bytes, not a rewrite
    for rel in ("__init__.py", "sub/__init__.py"):
        assert bytecode._fresh(copy / rel), rel
    assert not (pkg / "__pycache__").exists()                                 # the user's folder untouched
    code = (copy / "sub" / importlib.util.cache_from_source("__init__.py")).read_bytes()
    assert str(pkg / "sub" / "__init__.py").encode() in code                   # tracebacks name the user's path


def test_the_copy_is_reused_until_a_file_changes(tmp_path):
    pkg = _package(tmp_path)
    first = bytecode.compiled_copy(pkg, tmp_path / "cache")
    assert bytecode.compiled_copy(pkg, tmp_path / "cache") == first
    time.sleep(0.01)
    (pkg / "sub" / "__init__.py").write_text("thing = 2\n")        # an edit: new mtime and size
    second = bytecode.compiled_copy(pkg, tmp_path / "cache")
    assert second != first and bytecode._fresh(second / "sub" / "__init__.py")
    (pkg / "new.py").write_text("x = 1\n")                            # a new module
    third = bytecode.compiled_copy(pkg, tmp_path / "cache")
    assert third not in (first, second) and bytecode._fresh(third / "new.py")
    kept = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(kept) == bytecode.KEEP and third.name in kept


def test_a_replaced_file_makes_a_new_copy(tmp_path):
    """An editor that writes a new file and renames it over the old one keeps size and can keep mtime: the
    copy's hard link would still show the old bytes, so the inode is part of the key."""
    pkg = _package(tmp_path)
    first = bytecode.compiled_copy(pkg, tmp_path / "cache")
    st = os.stat(pkg / "__init__.py")
    new = pkg / "tmp-new"
    new.write_text("from .sub import thang\n"[:len("from .sub import thing\n")])
    os.utime(new, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(new, pkg / "__init__.py")
    second = bytecode.compiled_copy(pkg, tmp_path / "cache")
    assert second != first
    assert (second / "__init__.py").read_text() == (pkg / "__init__.py").read_text()


def test_a_package_with_fresh_bytecode_of_its_own_needs_no_copy(tmp_path):
    pkg = _package(tmp_path)
    for f in pkg.rglob("*.py"):
        py_compile.compile(str(f), doraise=True)
    assert bytecode.compiled_copy(pkg, tmp_path / "cache") is None
    time.sleep(0.01)
    (pkg / "sub" / "__init__.py").write_text("thing = 22\n")     # now stale: Python would compile it again
    assert bytecode.compiled_copy(pkg, tmp_path / "cache") is not None
