"""conformance/st_suite.py and st_suite_driver.py without a target: which files run, the sdist's extraction,
the per-test records of a process that passes, fails, crashes or hangs, and the printed table.

The processes here are small Python scripts that speak the driver's JSON lines; no torch, no safetensors.
"""
from __future__ import annotations

import builtins
import io
import json
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest

from conformance import st_suite, st_suite_driver

# builtin from Python 3.11; pytest brings the backport before
ExceptionGroup = getattr(builtins, "ExceptionGroup", None) or __import__("exceptiongroup").ExceptionGroup


def _tests(tmp_path: Path, files: dict[str, str]) -> Path:
    (tmp_path / "tests").mkdir()
    for name, text in files.items():
        (tmp_path / "tests" / name).write_text(text)
    return tmp_path


def test_only_files_that_import_torch_run_and_the_others_say_what_they_use(tmp_path):
    src = _tests(tmp_path, {"test_a.py": "import torch\n", "test_b.py": "from safetensors.torch import save\n",
                            "test_c.py": "try:\n    import flax\nexcept ImportError:\n    pass\nimport numpy as np\n",
                            "test_d.py": "import os\n", "helper.py": "import torch\n"})
    run, left = st_suite.plan_files(src)
    assert run == ["test_a.py", "test_b.py"]
    assert left == {"test_c.py": "does not import torch (uses flax, numpy)",
                    "test_d.py": "does not import torch (uses no framework)"}


def _sdist(path: Path, members: dict[str, bytes], symlink: str | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if symlink:
            info = tarfile.TarInfo(symlink)
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)
    return path


BASE = "safetensors-9.9.9/bindings/python/"


def test_extraction_takes_the_tests_and_setup_cfg_only(tmp_path):
    sdist = _sdist(tmp_path / "s.tar.gz", {BASE + "tests/test_x.py": b"import torch\n",
                                           BASE + "tests/data/__init__.py": b"", BASE + "setup.cfg": b"[tool:pytest]\n",
                                           BASE + "src/lib.rs": b"fn main() {}", "safetensors-9.9.9/README.md": b"hi"})
    out = tmp_path / "out"
    out.mkdir()
    st_suite.extract_tests(sdist, "9.9.9", out)
    got = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert got == ["SOURCE", "setup.cfg", "tests/data/__init__.py", "tests/test_x.py"]
    assert (out / "SOURCE").read_text().startswith("s.tar.gz sha256:")


@pytest.mark.parametrize("members,symlink,words", [
    ({BASE + "setup.cfg": b""}, None, "no safetensors-9.9.9/bindings/python/tests/test_*.py"),
    ({BASE + "tests/test_x.py": b""}, BASE + "tests/evil", "not a plain file or folder"),
    ({BASE + "tests/test_x.py": b"", BASE + "tests/../../../../../evil.py": b""}, None, "not a plain file or folder"),
])
def test_a_wrong_sdist_is_one_line(tmp_path, members, symlink, words):
    sdist = _sdist(tmp_path / "s.tar.gz", members, symlink)
    (tmp_path / "out").mkdir()
    with pytest.raises(st_suite.SuiteError) as e:
        st_suite.extract_tests(sdist, "9.9.9", tmp_path / "out")
    assert words in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "evil.py").exists()


def test_not_a_tarball_and_offline_without_a_cache_are_one_line(tmp_path, monkeypatch):
    bad = tmp_path / "bad.tar.gz"
    bad.write_text("not gzip")
    (tmp_path / "o").mkdir()
    with pytest.raises(st_suite.SuiteError, match="not a readable .tar.gz"):
        st_suite.extract_tests(bad, "9.9.9", tmp_path / "o")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(st_suite.SuiteError, match="--offline forbids downloading"):
        st_suite.tests_folder("9.9.9", None, True, tmp_path / "scratch")
    cached = tmp_path / "cache" / "torch-conformance" / "safetensors-tests" / "9.9.9"
    cached.mkdir(parents=True)
    (cached / st_suite.MARKER).write_text("x.tar.gz sha256:00\n")
    assert st_suite.tests_folder("9.9.9", None, True, tmp_path / "scratch") == cached


# A stand-in for the driver: three tests; t2 kills its process unless an earlier one lost it, t4 hangs.
FAKE = textwrap.dedent("""
    import json, os, signal, sys, time
    args = sys.argv[2:]
    lost = [args[i + 1] for i, a in enumerate(args) if a == "--lost"]
    def emit(**r):
        print(json.dumps(r), flush=True)
    print("noise a test printed", flush=True)
    emit(event="hello", torch="fake", torch_version="0", torch_file=None)
    for t in ("t1", "t2", "t3", "t4"):
        if t in lost:
            continue
        emit(event="start", nodeid=t)
        if t == "t2":
            os.kill(os.getpid(), signal.SIGKILL)
        if t == "t4" and os.environ.get("FAKE_HANG"):
            time.sleep(60)
        if t == "t3":
            emit(event="result", nodeid=t, outcome="failed", phase="call", message="AssertionError: 1 != 2",
                 frames=[{"path": "/x/tests/test_f.py", "line": 7, "function": "test_t3", "code": "assert 1 == 2"},
                         {"path": "/b/mt/_tensor.py", "line": 3, "function": "f", "code": ""}])
        else:
            emit(event="result", nodeid=t, outcome="passed")
    emit(event="done", exitstatus=1)
""")


def _fake_argv(src: Path) -> list[str]:
    return [sys.executable, "-c", FAKE, "conformance.st_suite_driver", str(src), "test_f.py"]


def test_a_crashed_test_is_crash_and_a_fresh_process_runs_the_rest(tmp_path):
    run = st_suite.run_file(_fake_argv(tmp_path), tmp_path, "test_f.py", timeout=60)
    got = {t["nodeid"]: t["outcome"] for t in run.tests}
    assert got == {"t1": "passed", "t2": "crash", "t3": "failed", "t4": "passed"}
    assert "SIGKILL" in next(t["message"] for t in run.tests if t["nodeid"] == "t2")
    assert run.hello["torch"] == "fake" and (run.count("passed"), len(run.failing)) == (2, 2)


def test_a_hung_test_is_timeout(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_HANG", "1")
    run = st_suite.run_file(_fake_argv(tmp_path), tmp_path, "test_f.py", timeout=3)
    got = {t["nodeid"]: t["outcome"] for t in run.tests}
    assert got == {"t1": "passed", "t2": "crash", "t3": "failed", "t4": "timeout"}


def test_exec_refusing_to_start_is_one_line_and_a_dead_start_is_an_error_row(tmp_path):
    refuse = [sys.executable, "-c", "import sys; print('error: unknown target x', file=sys.stderr); sys.exit(4)",
              "conformance.st_suite_driver", str(tmp_path), "test_f.py"]
    with pytest.raises(st_suite.SuiteError, match=r"^unknown target x$"):
        st_suite.run_file(refuse, tmp_path, "test_f.py", timeout=60)
    dies = [sys.executable, "-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)",
            "conformance.st_suite_driver", str(tmp_path), "test_f.py"]
    (row,) = st_suite.run_file(dies, tmp_path, "test_f.py", timeout=60).tests
    assert (row["outcome"], row["message"]) == ("error", "exit code 3: boom")


def test_the_table_counts_per_file_and_names_each_failure(tmp_path):
    run = st_suite.run_file(_fake_argv(tmp_path), tmp_path, "test_f.py", timeout=60)
    text = st_suite.render([run], {"test_np.py": "does not import torch (uses numpy)"}, "HEADER", ["/b"])
    lines = text.splitlines()
    assert lines[0] == "HEADER"
    assert lines[3].split() == ["test_f.py", "4", "2", "2", "0"]
    assert lines[4].split() == ["total", "4", "2", "2", "0"]
    assert "  not run: test_np.py: does not import torch (uses numpy)" in lines
    assert "      AssertionError: 1 != 2" in lines
    assert "      test_f.py:7: assert 1 == 2; raised at mt/_tensor.py:3 in f" in lines


def test_a_collection_error_gives_its_exception_line_and_frames():
    text = textwrap.dedent("""\
        tests/test_a.py:11: in <module>
            from safetensors.torch import load_file
        /site-packages/safetensors/torch.py:146: in <module>
            model: torch.nn.Module,
        E   AttributeError: module 'mt' has no attribute 'nn'
        """)
    message, frames = st_suite_driver._collect_failure(text)
    assert message == "AttributeError: module 'mt' has no attribute 'nn'"
    assert [(f["path"], f["line"], f["code"]) for f in frames] == [
        ("tests/test_a.py", 11, "from safetensors.torch import load_file"),
        ("/site-packages/safetensors/torch.py", 146, "model: torch.nn.Module,")]


def test_a_threads_exception_is_found_under_pytests_group():
    try:
        try:
            raise AttributeError("no layout")
        except AttributeError as inner:
            raise RuntimeWarning("Exception in thread") from inner
    except RuntimeWarning as w:
        group = ExceptionGroup("multiple thread exception warnings", [w, ValueError("other")])
    root = st_suite_driver._root(group)
    assert isinstance(root, AttributeError) and str(root) == "no layout"
    plain = KeyError("k")
    assert st_suite_driver._root(plain) is plain


def test_the_driver_emits_one_line_per_test(tmp_path):
    out = io.StringIO()
    rep = st_suite_driver.Reporter(out)
    rep.pytest_runtest_logstart("n1", None)
    rep.pytest_runtest_logfinish("n1", None)
    lines = [json.loads(ln) for ln in out.getvalue().splitlines()]
    assert lines == [{"event": "start", "nodeid": "n1"}, {"event": "result", "nodeid": "n1", "outcome": "passed"}]
