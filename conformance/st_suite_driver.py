"""Inside a target's process: run one file of safetensors' own test suite with pytest and tell each test's
outcome as one JSON line.

    python -m conformance exec --target T -- python -m conformance.st_suite_driver \
        [--pre-import MODULE] [--lost NODEID] SRC FILE [PYTEST ARGS]

``exec`` has made ``import torch`` mean the target (conformance/activate.py) before this runs. SRC holds
safetensors' ``tests/`` and ``setup.cfg`` (its sdist's bindings/python); it is read-only in the sandbox and
the tests write beside themselves (``./tests/data/...``), so they run from a copy in ``$TMPDIR``, from the
folder they expect, with their own pytest configuration. The JSON lines go to the original stdout; all else
(pytest's output, what tests print, the target's own writes to fd 1) goes to stderr, so the lines parse.
Session side: conformance/st_suite.py.
"""
from __future__ import annotations

import importlib
import json
import linecache
import os
import re
import shutil
import sys
import tempfile
import traceback
from pathlib import Path

import pytest

MESSAGE_LIMIT = 400     # characters of an exception line, and of a frame's source line
FRAMES_KEPT = 12        # innermost frames of a failure's traceback


def _line(text: str) -> str:
    first = next((ln.strip() for ln in str(text).splitlines() if ln.strip()), "")
    return first if len(first) <= MESSAGE_LIMIT else first[:MESSAGE_LIMIT] + "..."


def _root(exc: BaseException) -> BaseException:
    """The exception that started it: the first of a group (pytest groups the exceptions of threads as
    warnings), followed down its ``raise ... from`` chain."""
    seen = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        inner = getattr(exc, "exceptions", None)
        if isinstance(inner, tuple) and inner and isinstance(inner[0], BaseException):
            exc = inner[0]
        elif exc.__cause__ is not None:
            exc = exc.__cause__
    return exc


def _frames(excinfo) -> list[dict]:
    return [_frame(str(e.path), e.lineno + 1, e.name) for e in list(excinfo.traceback)[-FRAMES_KEPT:]]


def _frames_of(tb) -> list[dict]:
    return [_frame(f.filename, f.lineno, f.name) for f in traceback.extract_tb(tb)[-FRAMES_KEPT:]]


def _frame(path: str, lineno: int, function: str) -> dict:
    return {"path": path, "line": lineno, "function": function, "code": _line(linecache.getline(path, lineno))}


class Reporter:
    """A pytest plugin: one ``result`` line per test (its worst phase wins), ``start`` before each, so the
    runner knows which test a crash took down."""

    def __init__(self, out, lost: list[str] = ()):
        self.out = out
        self.lost = set(lost)       # tests an earlier process crashed or hung in: left out by exact id
        self.current: dict[str, dict] = {}

    def pytest_collection_modifyitems(self, config, items):
        # not --deselect: it takes a prefix, and test_odd_dtype would take test_odd_dtype_fp8_* with it
        gone = [i for i in items if i.nodeid in self.lost]
        if gone:
            config.hook.pytest_deselected(items=gone)
            items[:] = [i for i in items if i.nodeid not in self.lost]

    def emit(self, **record) -> None:
        self.out.write(json.dumps(record) + "\n")
        self.out.flush()

    def pytest_runtest_logstart(self, nodeid, location):
        self.current[nodeid] = {"outcome": "passed"}
        self.emit(event="start", nodeid=nodeid)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = (yield).get_result()
        state = self.current.setdefault(item.nodeid, {"outcome": "passed"})
        if report.failed and state["outcome"] != "failed":
            message, frames = _line(report.longreprtext), []
            if call.excinfo:
                message, frames = _line(call.excinfo.exconly()), _frames(call.excinfo)
                root = _root(call.excinfo.value)
                if root is not call.excinfo.value:      # a thread's exception, wrapped by pytest
                    message += f" <- {_line(f'{type(root).__name__}: {root}')}"
                    frames = _frames_of(root.__traceback__)
            state.update(outcome="failed", phase=call.when, message=message, frames=frames)
        elif report.skipped and state["outcome"] == "passed":
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            state.update(outcome="skipped", message=_line(reason.removeprefix("Skipped: ")))

    def pytest_runtest_logfinish(self, nodeid, location):
        self.emit(event="result", nodeid=nodeid, **self.current.pop(nodeid, {"outcome": "passed"}))

    def pytest_collectreport(self, report):
        if report.failed:
            message, frames = _collect_failure(report.longreprtext)
            self.emit(event="collect_error", nodeid=report.nodeid, message=message, frames=frames)


def _collect_failure(text: str) -> tuple[str, list[dict]]:
    """A collection error's exception line (pytest's first ``E`` line) and the frames it lists before it:
    its report holds text, not a traceback."""
    lines = text.splitlines()
    frames: list[dict] = []
    for i, ln in enumerate(lines):
        if ln.startswith("E   "):
            return _line(ln[4:]), frames
        m = _FRAME.match(ln)
        if m:
            code = lines[i + 1].strip() if i + 1 < len(lines) else ""
            frames.append({"path": m[1], "line": int(m[2]), "function": m[3], "code": _line(code)})
    return _line(text), frames


_FRAME = re.compile(r"^(\S+):(\d+): in (\S+)$")


def _hello() -> dict:
    import torch
    import safetensors

    return {"torch": getattr(torch, "__name__", "?"), "torch_file": getattr(torch, "__file__", None),
            "torch_version": str(getattr(torch, "__version__", "?")),
            "safetensors": getattr(safetensors, "__version__", "?")}


def main(argv: list[str]) -> int:
    pre, lost = [], []
    while argv[:1] in (["--pre-import"], ["--lost"]) and len(argv) > 1:
        (pre if argv[0] == "--pre-import" else lost).append(argv[1])
        argv = argv[2:]
    if len(argv) < 2:
        print("usage: python -m conformance.st_suite_driver [--pre-import M] [--lost NODEID] SRC FILE [PYTEST ARGS]",
              file=sys.stderr)
        return 4
    src, name, rest = Path(argv[0]), argv[1], argv[2:]
    out = os.fdopen(os.dup(1), "w")
    sys.stdout.flush()
    os.dup2(2, 1)
    reporter = Reporter(out, lost)
    try:
        reporter.emit(event="hello", **_hello())
        for module in pre:      # what the user asked to import first, e.g. to see past an import failure
            importlib.import_module(module)
    except Exception as e:      # noqa: BLE001  importing the target's torch or safetensors is itself a finding
        reporter.emit(event="collect_error", nodeid=name, message=_line(f"{type(e).__name__}: {e}"),
                      frames=_frames_of(e.__traceback__))
        return 1
    work = Path(tempfile.mkdtemp(prefix="st-suite-"))
    shutil.copytree(src / "tests", work / "tests")
    if (src / "setup.cfg").is_file():        # its [tool:pytest] section (filterwarnings)
        shutil.copy(src / "setup.cfg", work / "setup.cfg")
    os.chdir(work)
    # only the plugins the suite itself would have: an installed plugin (xdist, the kit's) must not join in
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    code = pytest.main(["-p", "no:cacheprovider", "-q", "-rN", "--rootdir", str(work),
                        f"tests/{name}", *rest], plugins=[reporter])
    reporter.emit(event="done", exitstatus=int(code))
    return int(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
