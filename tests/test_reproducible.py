"""A report reproduces its rows: the run header names the exact target (issue 22, item 5), every printed
repro command carries it, and repro/exec refuse other sources with one line."""
from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

from conformance.backends import identity
from kitrun import REPO, kit_env, run_kit


def _tree(root: Path, body: str = "VALUE = 1\n") -> Path:
    pkg = root / "fakebackend"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(body)
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__" / "x.pyc").write_bytes(b"ignored")
    return pkg


def test_a_source_tree_is_named_by_its_files_bytes_and_installed_code_by_its_distribution(tmp_path):
    _tree(tmp_path / "a")
    _tree(tmp_path / "b")
    a = identity.describe_sources("fakebackend", [str(tmp_path / "a")])
    b = identity.describe_sources("fakebackend", [str(tmp_path / "b")])
    assert a["files"] == 1 and a["digest"] == b["digest"], "the same files at another place are the same sources"
    (tmp_path / "b" / "fakebackend" / "__init__.py").write_text("VALUE = 2\n")
    changed = identity.describe_sources("fakebackend", [str(tmp_path / "b")])
    assert changed["digest"] != a["digest"]
    assert identity.differs(identity.token(a), changed).startswith(f"the run used sources {a['digest']}, and this finds")
    assert identity.differs(identity.token(a), a) is None
    installed = identity.describe_sources("borch", [])
    from importlib.metadata import version
    assert installed["distribution"] == f"pyborch {version('pyborch')}"
    assert identity.token(installed) == f"pyborch=={version('pyborch')}"
    assert identity.describe_sources("no_such_module_here", []) == {"package": "no_such_module_here", "location": None}


def _answered_by(tmp_path: Path, module_body: str) -> str:
    tmp_path.mkdir()
    (tmp_path / "candidate.py").write_text(textwrap.dedent(module_body))
    script = "from conformance.backends.alias import answer_import_torch; print(answer_import_torch('candidate'))"
    p = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=kit_env(PYTHONPATH=f"{REPO}:{tmp_path}"),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def test_who_answers_import_torch_is_told_apart(tmp_path):
    """A module: target whose import installs its own finder (as paddle's enable_compat() does) is not
    aliased over, and the header does not call it the kit's alias."""
    own = """\
        import importlib.abc, importlib.machinery, sys, types
        fake = types.ModuleType("torch")
        class Loader(importlib.abc.Loader):
            def create_module(self, spec): return fake
            def exec_module(self, module): pass
        class Finder(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                return importlib.machinery.ModuleSpec(name, Loader()) if name == "torch" else None
        sys.meta_path.insert(0, Finder())
        """
    assert _answered_by(tmp_path / "own", own) == "module finder"
    assert _answered_by(tmp_path / "plain", "VALUE = 1\n") == "kit alias"
    itself = "import sys, types\nm = types.ModuleType('torch')\nsys.modules[__name__] = m\n"
    assert _answered_by(tmp_path / "itself", itself) == "module itself"


def _repro(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "conformance.repro", *args], cwd=REPO, env=kit_env(),
                          capture_output=True, text=True, timeout=300)


def test_repro_refuses_other_sources_with_one_line(tmp_path):
    _tree(tmp_path / "src")
    recorded = identity.token(identity.describe_sources("fakebackend", [str(tmp_path / "src")]))
    (tmp_path / "src" / "fakebackend" / "__init__.py").write_text("VALUE = 'edited since the run'\n")
    p = _repro("--target", "module:fakebackend", "--backend-path", str(tmp_path / "src"), "--sources", recorded,
               "frombuffer[float32-ordinary]")
    assert p.returncode == 2 and p.stdout == ""
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert f"the run used sources {recorded}" in p.stderr and "would not reproduce" in p.stderr


def test_printed_repro_commands_carry_the_target_spec_and_reproduce_the_row(oracle, tmp_path):
    run = run_kit("pyborch", tmp_path / "r", oracle.cache, "-k", "frombuffer and float32 and not pread")
    assert run.returncode in (0, 1), run.output[-3000:]
    spec = run.results["run"]["target_spec"]
    from importlib.metadata import version
    assert spec == {"target": "pyborch", "backend_path": [], "answered_by": "kit alias",
                    "how": "kit alias: import torch[.x] -> borch[.x]", "declared_uses_real_torch": False,
                    "sources": {"package": "borch", "location": spec["sources"]["location"],
                                "distribution": f"pyborch {version('pyborch')}"}}
    assert run.results["run"]["target_env"]["answered_by"] == "kit alias"
    checklist = (tmp_path / "r" / "checklist.md").read_text()
    commands = re.findall(r"`(python -m conformance\.repro [^`]+)`", checklist)
    assert commands, "the checklist prints no repro command"
    token = f"--sources pyborch=={version('pyborch')}"
    assert all(token in c for c in commands), commands
    words = shlex.split(commands[0])
    case_id = words[-1]
    p = _repro(*words[3:])
    assert p.returncode == 0, p.stderr
    (out,) = json.loads(p.stdout)["cases"]
    record = run.cases[case_id]
    assert out["id"] == case_id
    for key in ("raises", "type", "dtype", "shape", "stride", "bytes"):     # what the row was judged on
        assert out["obs"].get(key) == (record["observed"] or {}).get(key), key


def test_exec_runs_a_script_saved_outside_the_current_folder(tmp_path):
    """A snippet saved anywhere runs as the checklist says (its folder is readable in the sandbox); a
    path that names no file is one line."""
    (tmp_path / "snippet.py").write_text("import torch\nprint('torch is', torch.__name__)\n")
    run = [sys.executable, "-m", "conformance", "exec", "--target", "pyborch", "--", "python"]
    p = subprocess.run([*run, str(tmp_path / "snippet.py")], cwd=REPO, env=kit_env(), capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0 and p.stdout == "torch is borch\n", p.stderr[-2000:]
    p = subprocess.run([*run, str(tmp_path / "missing.py")], cwd=REPO, env=kit_env(), capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 4 and len(p.stderr.strip().splitlines()) == 1 and "no file" in p.stderr, p.stderr
