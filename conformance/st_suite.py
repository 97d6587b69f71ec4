"""safetensors' own test suite run under a target, as a user of the backend would run it.

    python -m conformance.st_suite --target mindtorch_v2 --backend-path ~/mindnlp/src
    python -m conformance.st_suite --target torch                       # real PyTorch: every test passes
    python -m conformance.st_suite --target pyborch --sdist safetensors-0.8.0.tar.gz --json out.json -k meta

Code the kit did not write, held against the target: a test that fails here while no catalog row fails
for the same torch API is a blind spot of the kit's catalog. The tests are bindings/python/tests of the
source distribution of the installed safetensors version: given with ``--sdist FILE`` (or
``$CONFORMANCE_SAFETENSORS_SDIST``), or downloaded once through pip's configured index into the kit's cache
(``--offline`` refuses to download). Only files that import torch run, each in a process of its own,
started with ``python -m conformance exec`` (the target's sandbox and activation, conformance/activate.py),
and a test that crashes or hangs it is CRASH or TIMEOUT while a fresh process runs the rest. It prints tests run /
passed / failed / skipped per file and each failing test's exception line, and exits 1 when a test fails.
Target side: conformance/st_suite_driver.py.
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import importlib.metadata
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .cachedir import kit_importable, made_once

USAGE = 4
TORCH_MODULES = ("torch", "safetensors.torch")
OTHER_FRAMEWORKS = ("numpy", "flax", "jax", "tensorflow", "paddle", "mlx", "fsspec")
MARKER = "SOURCE"        # in a cached tests folder: the sdist it came from and its sha256


class SuiteError(Exception):
    """The suite cannot be had or run; the message says why and what to do."""


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "torch-conformance" / "safetensors-tests"


def installed_version() -> str:
    try:
        return importlib.metadata.version("safetensors")
    except importlib.metadata.PackageNotFoundError:
        raise SuiteError("safetensors is not installed (pip install safetensors)") from None


# -- getting the tests ------------------------------------------------------------------------------------

def download_sdist(version: str, dest: Path) -> Path:
    """safetensors==version's sdist, downloaded through pip's own index configuration (pip.conf, --index-url
    settings, certificates, proxies) and checked against the index's hash. ``pip download`` itself cannot
    be used: it builds the sdist's metadata, which needs maturin, cargo and the crates index."""
    try:
        from pip._internal.commands import create_command
    except ImportError as e:
        raise SuiteError(f"pip is needed to download the tests ({e}): pass --sdist FILE") from None
    import logging

    logging.getLogger("pip").setLevel(logging.ERROR)    # pip's notes on the user's own index settings
    print(f"downloading safetensors=={version}'s sdist through pip, once, for its tests", file=sys.stderr)
    try:
        cmd = create_command("download")
        options, _ = cmd.parse_args(["--no-deps", "--no-binary", "safetensors", f"safetensors=={version}"])
        with cmd.main_context():
            session = cmd.get_default_session(options)
            finder = cmd._build_package_finder(options, session)
            # every candidate, not pip's best one: pip 26 picks none for an sdist it could not build
            sdists = [c for c in finder.find_all_candidates("safetensors")
                      if str(c.version) == version and c.link.filename == f"safetensors-{version}.tar.gz"]
            if not sdists:
                raise SuiteError(f"the package index has no source distribution of safetensors=={version}")
            best = sdists[0]
            response = session.get(best.link.url)
            response.raise_for_status()
            data = response.content
    except SuiteError:
        raise
    except Exception as e:      # noqa: BLE001  no network, or pip's internals moved: one line, and a way out
        raise SuiteError(f"could not download safetensors=={version}'s sdist through pip "
                         f"({type(e).__name__}: {str(e)[:200]}); get safetensors-{version}.tar.gz another way "
                         "and pass --sdist FILE") from None
    if best.link.hash_name == "sha256" and hashlib.sha256(data).hexdigest() != best.link.hash:
        raise SuiteError(f"{best.link.filename}: its sha256 is not the one the index gives")
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / best.link.filename
    path.write_bytes(data)
    return path


def extract_tests(sdist: Path, version: str, out: Path) -> None:
    """bindings/python/tests and setup.cfg of ``sdist`` into ``out`` (tests/, setup.cfg, SOURCE)."""
    base = f"safetensors-{version}/bindings/python/"
    try:
        with tarfile.open(sdist, "r:gz") as tar:
            members = [m for m in tar.getmembers()
                       if m.name.startswith(base + "tests/") or m.name == base + "setup.cfg"]
            if not any(m.name.startswith(base + "tests/test_") for m in members):
                raise SuiteError(f"{sdist}: no {base}tests/test_*.py in it (is it safetensors {version}'s sdist?)")
            for m in members:
                if not (m.isfile() or m.isdir()) or ".." in Path(m.name).parts:
                    raise SuiteError(f"{sdist}: {m.name} is not a plain file or folder inside {base}")
                m.name = m.name[len(base):]
            tar.extractall(out, members=members, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    except (tarfile.TarError, OSError, EOFError) as e:
        raise SuiteError(f"{sdist}: not a readable .tar.gz ({e})") from None
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    (out / MARKER).write_text(f"{sdist.name} sha256:{digest}\n")


def tests_folder(version: str, sdist: str | None, offline: bool, scratch: Path) -> Path:
    """The folder holding safetensors ``version``'s tests/ and setup.cfg: from ``sdist`` when given (into
    ``scratch``), else the cache, filled by one download."""
    if sdist:
        path = Path(sdist)
        if not path.is_file():
            raise SuiteError(f"--sdist {sdist}: no such file")
        extract_tests(path, version, scratch)
        return scratch
    folder = cache_root() / version
    if (folder / MARKER).is_file():
        return folder
    if offline:
        raise SuiteError(f"safetensors {version}'s tests are not in {folder.parent} and --offline forbids "
                         "downloading them: pass --sdist FILE, or run once without --offline")

    def make(tmp: Path) -> None:
        with tempfile.TemporaryDirectory() as dl:
            extract_tests(download_sdist(version, Path(dl)), version, tmp)

    return made_once(folder, MARKER, make)


def plan_files(src: Path) -> tuple[list[str], dict[str, str]]:
    """The test files that import torch, and for each other one why it is left out."""
    run, left = [], {}
    for path in sorted((src / "tests").glob("test_*.py")):
        imported = _imports(path)
        if any(m == t or m.startswith(t + ".") for m in imported for t in TORCH_MODULES):
            run.append(path.name)
        else:
            others = sorted({m.split(".")[0] for m in imported} & set(OTHER_FRAMEWORKS))
            left[path.name] = f"does not import torch (uses {', '.join(others) or 'no framework'})"
    return run, left


def _imports(path: Path) -> set[str]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, OSError):
        return {"torch"}        # cannot tell: run it, and let pytest say what is wrong
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return names


# -- running it ---------------------------------------------------------------------------------------------

@dataclass
class FileRun:
    name: str
    tests: list[dict] = field(default_factory=list)      # one per test: nodeid, outcome, message, frames
    hello: dict = field(default_factory=dict)
    returncode: int | None = None
    stderr_tail: str = ""

    def count(self, *outcomes: str) -> int:
        return sum(t["outcome"] in outcomes for t in self.tests)

    @property
    def failing(self) -> list[dict]:
        return [t for t in self.tests if t["outcome"] not in ("passed", "skipped")]


def exec_command(target: str, backend_paths: list[str], exec_flags: list[str], src: Path, name: str,
                 pytest_args: list[str], pre_imports: list[str] = ()) -> list[str]:
    """The ``python -m conformance exec`` command line that runs one test file under the target
    (``exec_flags``: exec's own, e.g. --require-sandbox)."""
    return [sys.executable, "-m", "conformance", "exec", "--target", target,
            *[a for p in backend_paths for a in ("--backend-path", os.path.abspath(p))], *exec_flags,
            "--", "python", "-m", "conformance.st_suite_driver", *[a for m in pre_imports for a in ("--pre-import", m)],
            str(src), name, *pytest_args]


MAX_RESTARTS = 10      # fresh processes for one file after crashes or hangs, each without the tests lost so far


def run_file(argv: list[str], src: Path, name: str, timeout: float) -> FileRun:
    """One test file, run by ``argv`` (an exec_command); after a test crashes or
    hangs, a fresh process runs the file again without it, and the tests that had already ended keep their
    first result."""
    run = FileRun(name)
    lost: list[str] = []
    at = argv.index("conformance.st_suite_driver") + 1     # the driver takes --lost before SRC
    for _ in range(MAX_RESTARTS + 1):
        tail = [a for nodeid in lost for a in ("--lost", nodeid)]
        records, hello, code, stderr, running, timed_out = _one_process([*argv[:at], *tail, *argv[at:]], src,
                                                                        timeout)
        run.hello = run.hello or hello
        run.returncode, run.stderr_tail = code, stderr
        seen = {t["nodeid"] for t in run.tests}
        run.tests += [r for r in records if r["nodeid"] not in seen]
        if running is None:
            break
        how = f"TIMEOUT after {timeout:g} s" if timed_out else f"the process ended with {_status(code)}"
        run.tests.append({"nodeid": running, "outcome": "timeout" if timed_out else "crash", "phase": "call",
                          "message": how, "frames": []})
        lost.append(running)
    if not run.tests and run.returncode:
        last = next((ln for ln in reversed(run.stderr_tail.splitlines()) if ln.strip()), "")
        if run.returncode == USAGE and not run.hello:
            raise SuiteError(last.removeprefix("error: ") or f"exec exited with {USAGE}")
        run.tests.append({"nodeid": name, "outcome": "error", "phase": "start",
                          "message": f"{_status(run.returncode)}: {last}", "frames": []})
    return run


def _one_process(argv: list[str], src: Path, timeout: float):
    """Run ``argv`` once: (its test records, its hello, its exit code, its stderr's tail, the test it was in
    when it ended or was killed or None, whether it was killed for time)."""
    records, hello, running, timed_out = [], {}, None, False
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        # the tests folder is exec's working directory: the sandbox shows it (read-only)
        proc = subprocess.Popen(argv, cwd=src, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                env=kit_importable(dict(os.environ)), start_new_session=True)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)     # its own session: the sandbox and all it started
            code = proc.wait()
        out.seek(0)
        err.seek(0)
        stderr = err.read()[-4000:].decode("utf-8", "replace")
        for raw in out.read().decode("utf-8", "replace").splitlines():
            try:
                rec = json.loads(raw)
            except ValueError:
                continue
            event = rec.pop("event", None) if isinstance(rec, dict) else None
            if event == "hello":
                hello = rec
            elif event == "start":
                running = rec.get("nodeid")
            elif event == "result":
                running = None
                records.append(rec)
            elif event == "collect_error":
                records.append({**rec, "outcome": "error", "phase": "collect"})
    return records, hello, code, stderr, running, timed_out


def _status(code: int | None) -> str:
    if code is not None and code < 0:
        return f"signal {signal.Signals(-code).name}" if -code in signal.valid_signals() else f"signal {-code}"
    return f"exit code {code}"


# -- telling it -----------------------------------------------------------------------------------------------

def where(test: dict, backend_paths: list[str]) -> str:
    """The test file's line and the innermost frame outside it: what the test did, and where it broke."""
    frames = test.get("frames") or []
    in_test = [f for f in frames if _TEST_FILE.search(f["path"])]
    parts = []
    if in_test:
        f = in_test[-1]
        parts.append(f"{Path(f['path']).name}:{f['line']}: {f['code']}")
    if frames and frames[-1] not in in_test:
        f = frames[-1]
        parts.append(f"raised at {_short(f['path'], backend_paths)}:{f['line']} in {f['function']}")
    return "; ".join(parts)


_TEST_FILE = re.compile(r"(^|/)tests/test_[^/]*\.py$")


def _short(path: str, backend_paths: list[str]) -> str:
    for base in [*map(os.path.abspath, backend_paths)]:
        if path.startswith(base.rstrip("/") + "/"):
            return path[len(base.rstrip("/")) + 1:]
    marker = "site-packages/"
    return path[path.index(marker) + len(marker):] if marker in path else path


def render(runs: list[FileRun], left: dict[str, str], header: str, backend_paths: list[str]) -> str:
    lines = [header, "", f"{'file':<28} {'run':>5} {'passed':>7} {'failed':>7} {'skipped':>8}"]
    totals = [0, 0, 0, 0]
    for r in runs:
        row = [r.count("passed") + len(r.failing), r.count("passed"), len(r.failing), r.count("skipped")]
        totals = [a + b for a, b in zip(totals, row)]
        lines.append(f"{r.name:<28} {row[0]:>5} {row[1]:>7} {row[2]:>7} {row[3]:>8}")
    lines.append(f"{'total':<28} {totals[0]:>5} {totals[1]:>7} {totals[2]:>7} {totals[3]:>8}")
    for name, why in sorted(left.items()):
        lines.append(f"  not run: {name}: {why}")
    failing = [(r, t) for r in runs for t in r.failing]
    if failing:
        lines += ["", "failing tests:"]
    for r, t in failing:
        node = t["nodeid"].split("::", 1)[1] if "::" in t["nodeid"] else "(collecting the file)"
        tag = "" if t["outcome"] == "failed" else f" [{t['outcome'].upper()}]"
        lines.append(f"  {r.name}::{node}{tag}")
        lines.append(f"      {t.get('message') or '(no message)'}")
        loc = where(t, backend_paths)
        if loc:
            lines.append(f"      {loc}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m conformance.st_suite", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", default="torch", help="torch, mindtorch_v2, pyborch, module:NAME or a plugin name")
    ap.add_argument("--backend-path", action="append", default=[], help="folder put on sys.path in the target")
    ap.add_argument("--sdist", default=os.environ.get("CONFORMANCE_SAFETENSORS_SDIST"),
                    help="safetensors' source distribution (.tar.gz) of the installed version")
    ap.add_argument("--offline", action="store_true", help="never download the sdist")
    ap.add_argument("--file", action="append", default=[], help="run only this test file (repeatable)")
    ap.add_argument("-k", dest="keyword", help="pytest -k expression, to select tests")
    ap.add_argument("--pre-import", action="append", default=[], metavar="MODULE",
                    help="import MODULE under the target before the tests (e.g. torch.nn, to see past an "
                    "`import safetensors.torch` that fails without it); the header says so")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds for one file (default 600)")
    sb = ap.add_mutually_exclusive_group()
    sb.add_argument("--require-sandbox", action="store_true", help="refuse to run without the target's sandbox")
    sb.add_argument("--no-sandbox", action="store_true", help="run the tests without the target's sandbox")
    ap.add_argument("--target-uses-torch", action="store_true", help="a module:NAME target built on real PyTorch")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args(argv)
    if not args.timeout > 0:
        print("error: --timeout must be a positive number of seconds", file=sys.stderr)
        return USAGE
    with tempfile.TemporaryDirectory(prefix="st-suite-src-") as scratch:
        return _main(args, Path(scratch))


def _main(args: argparse.Namespace, scratch: Path) -> int:
    try:
        version = installed_version()
        src = tests_folder(version, args.sdist, args.offline, scratch)
        files, left = plan_files(src)
        unknown = sorted(set(args.file) - set(files) - set(left))
        if unknown:
            raise SuiteError(f"--file {unknown[0]}: safetensors {version}'s tests have no such file "
                             f"(they have {', '.join(files + sorted(left))})")
        if args.file:
            left = {n: w for n, w in left.items() if n in args.file}
            files = [f for f in files if f in args.file]
        extra = ["-k", args.keyword] if args.keyword else []
        flags = [f"--{k.replace('_', '-')}" for k in ("require_sandbox", "no_sandbox", "target_uses_torch")
                 if getattr(args, k)]
        runs = [run_file(exec_command(args.target, args.backend_path, flags, src, f, extra, args.pre_import),
                         src, f, args.timeout) for f in files]
    except SuiteError as e:
        print(f"error: {e}", file=sys.stderr)
        return USAGE
    hello = next((r.hello for r in runs if r.hello), {})
    header = (f"safetensors {version}'s own tests ({(src / MARKER).read_text().split()[0]}, bindings/python/tests) "
              f"under --target {args.target}: import torch -> {hello.get('torch', '?')} "
              f"{hello.get('torch_version', '?')} from {hello.get('torch_file')}"
              + (f" (imported first: {', '.join(args.pre_import)})" if args.pre_import else ""))
    print(render(runs, left, header, args.backend_path))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({
            "safetensors": version, "source": (src / MARKER).read_text().strip(), "target": args.target,
            "backend_path": [os.path.abspath(p) for p in args.backend_path], "pre_import": args.pre_import, "hello": hello, "not_run": left,
            "files": [{"name": r.name, "returncode": r.returncode, "tests": r.tests,
                       "stderr_tail": r.stderr_tail if r.failing else ""} for r in runs]}, indent=1) + "\n")
    return 1 if any(r.failing for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
