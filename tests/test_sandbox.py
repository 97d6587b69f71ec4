"""The target's sandbox (conformance/sandbox.py, issue 20 item 1 and issue 22 item 2): inside it real
PyTorch cannot be found by any path, its distribution metadata is gone, and the kit's state cannot be
written; the cheating targets in tests/cheats/ are caught, never PASS."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conformance import sandbox
from conformance.backends.base import real_torch_dir
from kitrun import REPO, kit_env

CHEATS = REPO / "tests" / "cheats"
needs_bwrap = pytest.mark.skipif(sandbox.engine_version() is None,
                                 reason="bubblewrap cannot make namespaces here: apt-get install bubblewrap")


def inside(sb: sandbox.Sandbox, code: str, tmp_path: Path) -> dict:
    """Run ``code`` (which sets ``out``, a dict) in the sandbox and return ``out``."""
    writable = tmp_path / "worker-tmp"
    writable.mkdir(exist_ok=True)
    script = "import json\nout = {}\n" + textwrap.dedent(code) + "\nprint(json.dumps(out))"
    p = subprocess.run(sb.wrap([sys.executable, "-c", script], writable=str(writable)),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


@needs_bwrap
def test_real_torch_cannot_be_found_by_any_path(tmp_path):
    torch_dir = real_torch_dir()
    assert torch_dir, "real torch must be installed for the oracle"
    links = tmp_path / "links"
    links.mkdir()
    (links / "realtorch").symlink_to(torch_dir)
    libs = sorted(str(p) for p in Path(torch_dir, "lib").glob("libtorch*.so*"))
    assert libs, "no libtorch in real torch's folder"
    cache = tmp_path / "oracle-cache"
    cache.mkdir()
    (cache / "records.json").write_text("{}")
    sb = sandbox.plan(hides_torch=True, extra_read=[str(links)], empty=[str(cache)],
                      cache=tmp_path / "target-site")
    out = inside(sb, f"""
        import ctypes, importlib.metadata, importlib.util, os, sys
        out["find_spec"] = importlib.util.find_spec("torch") is not None
        try:
            out["metadata"] = importlib.metadata.version("torch")
        except importlib.metadata.PackageNotFoundError:
            out["metadata"] = None
        out["dists"] = sorted(d.metadata["Name"] for d in importlib.metadata.distributions()
                              if (d.metadata["Name"] or "").lower() == "torch")
        out["folder"] = os.path.exists({torch_dir!r})
        out["symlink"] = os.path.exists({str(links / 'realtorch')!r})
        loaded = []
        for lib in {libs!r}:
            try:
                ctypes.CDLL(lib)
                loaded.append(lib)
            except OSError:
                pass
        out["ctypes"] = loaded
        out["oracle_cache"] = os.listdir({str(cache)!r})
        out["numpy"] = importlib.util.find_spec("numpy") is not None
        out["safetensors"] = importlib.util.find_spec("safetensors") is not None
        import socket
        s = socket.socket()
        s.settimeout(5)
        out["network"] = s.connect_ex(("8.8.8.8", 53)) == 0     # no route out of the sandbox's namespace
    """, tmp_path)
    assert out == {"find_spec": False, "metadata": None, "dists": [], "folder": False, "symlink": False,
                   "ctypes": [], "oracle_cache": [], "numpy": True, "safetensors": True, "network": False}


@needs_bwrap
def test_the_kit_and_its_state_are_read_only(tmp_path):
    report = tmp_path / "report"
    report.mkdir()
    sb = sandbox.plan(hides_torch=True, extra_read=[str(report)], empty=[], cache=tmp_path / "target-site")
    targets = [str(REPO / "conformance" / "__init__.py"), str(REPO / "backends" / "pyborch" / "expectations.txt"),
               str(report / "results.json")]
    out = inside(sb, f"""
        out["written"] = []
        for f in {targets!r}:
            try:
                with open(f, "a") as fh:
                    fh.write("x")
                out["written"].append(f)
            except OSError:
                pass
        import os, tempfile
        with tempfile.NamedTemporaryFile() as fh:     # its own TMPDIR stays writable
            out["tmp"] = os.path.dirname(fh.name)
    """, tmp_path)
    assert out["written"] == []
    assert out["tmp"] == str(tmp_path / "worker-tmp") or out["tmp"] == "/tmp"


@needs_bwrap
def test_the_target_reads_its_backends_bytecode_and_cannot_write_it(tmp_path):
    """Read-only sources: the runner compiles the backend's package once (conformance/bytecode.py) and the
    sandbox shows that copy at the package's own path, so no target process compiles the backend again."""
    from conformance.backends.base import Backend

    pkg = tmp_path / "src" / "mybackend"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from . import sub\n")
    (pkg / "sub" / "__init__.py").write_text("x = 1\n")
    backend = Backend("module:mybackend", sys_path=[str(tmp_path / "src")], package="mybackend")
    sb = sandbox.for_backend(backend, tmp_path / "cache" / "oracle")
    assert sb.describe()["bytecode_compiled_for"] == [str(pkg)]
    out = inside(sb, f"""
        import importlib._bootstrap_external as be, os, sys
        compiled = []
        plain = be.SourceLoader.source_to_code
        be.SourceLoader.source_to_code = lambda self, data, path, **kw: (compiled.append(path), plain(self, data, path, **kw))[1]
        sys.path.insert(0, {str(tmp_path / "src")!r})
        import mybackend
        out["compiled"] = compiled
        out["file"] = mybackend.sub.__file__
        try:
            open(os.path.join(os.path.dirname(mybackend.__spec__.cached), "x"), "w")
            out["wrote"] = True
        except OSError:
            out["wrote"] = False
    """, tmp_path)
    assert out == {"compiled": [], "file": str(pkg / "sub" / "__init__.py"), "wrote": False}
    assert not (pkg / "__pycache__").exists()


def _cheat_run(tmp_path: Path, cache: Path, target: str, *extra: str, **env: str) -> tuple[int, str, dict | None]:
    report = tmp_path / "report"
    e = kit_env(**env)
    e.pop("CONFORMANCE_TARGET_USES_TORCH")          # what a backend not built on torch gets
    e["PYTHONPATH"] = os.pathsep.join([str(CHEATS), e["PYTHONPATH"]])
    p = subprocess.run([sys.executable, "-m", "conformance", "run", "--target", target,
                        "--report-dir", str(report), "--oracle-cache", str(cache),
                        "-k", "frombuffer and int8", *extra],
                       cwd=REPO, env=e, capture_output=True, text=True, timeout=600)
    path = report / "results.json"
    return p.returncode, p.stdout + p.stderr, json.loads(path.read_text()) if path.is_file() else None


def _passes(results: dict | None) -> list[str]:
    return [c["id"] for c in (results or {}).get("cases", []) if c["outcome"] == "PASS"]


@needs_bwrap
def test_real_torch_through_a_symlink_is_caught(tmp_path, oracle):
    links = tmp_path / "links"
    links.mkdir()
    (links / "realtorch").symlink_to(real_torch_dir())
    code, out, results = _cheat_run(tmp_path, oracle.cache, "module:cheat_symlink_torch", "--backend-path", str(links),
                                    CHEAT_LINK_DIR=str(links))
    assert code != 0 and not _passes(results), out[-3000:]
    assert "could not start" in out, out[-3000:]


@pytest.mark.parametrize("sandboxed", [True, False], ids=["sandbox", "no-sandbox"])
def test_a_worker_replaced_by_the_oracles_is_caught(tmp_path, oracle, sandboxed):
    if sandboxed and sandbox.engine_version() is None:
        pytest.skip("bubblewrap cannot make namespaces here: apt-get install bubblewrap")
    code, out, results = _cheat_run(tmp_path, oracle.cache, "module:cheat_worker_execv", *([] if sandboxed else ["--no-sandbox"]))
    assert code != 0 and not _passes(results), out[-3000:]
    # in the sandbox real torch cannot import; without it, the hello is held against the declaration
    assert ("could not start" if sandboxed else "says it runs real PyTorch") in out, out[-3000:]


@needs_bwrap
def test_a_target_cannot_tamper_with_the_kits_files(tmp_path, oracle):
    # one honest run first, so the cache, the expectations and the report folder exist; a cache of its
    # own, copied from the session's, since the cheat tries to append to it
    cache = tmp_path / "cache"
    shutil.copytree(oracle.cache, cache)
    exp = tmp_path / "exp.txt"
    exp.write_text("")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    code, out, _ = _cheat_run(tmp_path, cache, "pyborch", "--expectations", str(exp))
    files = [p for p in cache.rglob("*") if p.is_file() and not p.name.endswith(".lock")] + [exp, tmp_path / "report" / "results.json"]
    before = {p: p.read_bytes() for p in files}
    code, out, results = _cheat_run(
        tmp_path, cache, "module:cheat_tamper", "--expectations", str(exp),
        CHEAT_FILES=os.pathsep.join(str(p) for p in before), CHEAT_REPORT_DIR=str(tmp_path / "report"),
        CHEAT_VICTIM=str(victim))
    assert results is not None, out[-3000:]
    changed = [str(p) for p, data in before.items() if p.name != "results.json" and p.read_bytes() != data]
    assert changed == [], changed
    assert b"tampered" not in (tmp_path / "report" / "results.json").read_bytes()
    assert victim.read_text() == "keep me\n"
    assert not list((tmp_path / "report").glob(".results.json.*.tmp"))
    assert results["run"]["target_env"]["sandbox"]["hides_torch"] is True


def test_the_run_says_when_there_is_no_sandbox(tmp_path, oracle):
    code, out, results = _cheat_run(tmp_path, oracle.cache, "pyborch", "--no-sandbox")
    assert results is not None, out[-3000:]
    assert results["run"]["target_env"]["sandbox"] == {"engine": None, "hides_torch": False, "why": "--no-sandbox"}
