"""Running the kit in a subprocess, the way a user does, and reading what it wrote.

Shared by the self-tests: ``run_kit`` starts ``python -m pytest conformance/catalog --target ...``
from the repository root and returns its exit code, output and results.json.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MUTANTS = REPO / "tests" / "mutants"
HOSTILE = REPO / "tests" / "hostile"
OK_OUTCOMES = {"PASS", "SKIP"}
RECORDING_SEED = "1"     # PYTHONHASHSEED of the run that records the oracle


def kit_env(**extra: str) -> dict[str, str]:
    """The environment of a kit subprocess: ours, minus anything that would steer the inner pytest
    (our own xdist worker's variables, a default target), with the repo and the mutants importable."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "CONFORMANCE_")) and k != "PYTHONHASHSEED"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(MUTANTS)]
                                        + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))
    # the mutants and most hostile targets are real torch with one deviation: their sandbox keeps torch
    env["CONFORMANCE_TARGET_USES_TORCH"] = "1"
    # running every checklist snippet costs a kit run about a minute: only the tests of the snippets do
    env["CONFORMANCE_SKIP_SNIPPET_CHECK"] = "1"
    env.update(extra)
    return env


def hostile_env(**extra: str) -> dict[str, str]:
    """``kit_env`` with the hostile targets (tests/hostile/) importable too."""
    env = kit_env(**extra)
    env["PYTHONPATH"] = os.pathsep.join([str(HOSTILE), env["PYTHONPATH"]])
    return env


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    report_dir: Path | None

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def results(self) -> dict[str, Any]:
        assert self.report_dir is not None
        path = self.report_dir / "results.json"
        assert path.is_file(), f"the kit wrote no {path}; output:\n{self.output[-4000:]}"
        return json.loads(path.read_text())

    @property
    def cases(self) -> dict[str, dict[str, Any]]:
        cases = self.results["cases"]
        by_id = {c["id"]: c for c in cases}
        assert len(by_id) == len(cases), "results.json lists a case twice"
        return by_id

    def red(self) -> dict[str, dict[str, Any]]:
        """Records whose outcome is neither PASS nor SKIP."""
        return {i: c for i, c in self.cases.items() if c["outcome"] not in OK_OUTCOMES}


def run_kit(target: str, report_dir: Path | None, cache: Path, *args: str, hash_seed: str = "0",
            cwd: Path = REPO, timeout: float = 900, **env: str) -> Run:
    cmd = [sys.executable, "-m", "pytest", "conformance/catalog", "-p", "no:cacheprovider",
           # an unrelated plugin that costs seconds per start; the kit does not use it
           "-p", "no:hypothesispytest",
           "--target", target, "--oracle-cache", str(cache), "-q", *args]
    if report_dir is not None:
        cmd += ["--report-dir", str(report_dir)]
    p = subprocess.run(cmd, cwd=cwd, env=kit_env(PYTHONHASHSEED=hash_seed, **env), capture_output=True, text=True,
                       timeout=timeout)
    return Run(p.returncode, p.stdout, p.stderr, report_dir)


def run_pytest(args: list[str], cwd: Path, env: dict[str, str] | None = None,
               timeout: float = 300) -> subprocess.CompletedProcess:
    """Any other pytest invocation of the kit (usage errors and the like)."""
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:hypothesispytest",
                           *args], cwd=cwd, env=env or kit_env(), capture_output=True, text=True, timeout=timeout)


def id_pattern(pattern: str) -> re.Pattern[str]:
    """A case-id pattern: '*' matches any text, everything else (brackets too) is literal."""
    return re.compile("".join(".*" if ch == "*" else re.escape(ch) for ch in pattern) + r"\Z")


def expand(patterns: tuple[str, ...], ids: list[str]) -> tuple[set[str], dict[str, int]]:
    """The ids matched by ``patterns`` (a leading '!' excludes), and how many ids each pattern matches."""
    include = [p for p in patterns if not p.startswith("!")]
    exclude = [p[1:] for p in patterns if p.startswith("!")]
    hits = {p: sum(1 for i in ids if id_pattern(p).match(i)) for p in include}
    hits.update({"!" + p: sum(1 for i in ids if id_pattern(p).match(i)) for p in exclude})
    chosen = {i for i in ids if any(id_pattern(p).match(i) for p in include)
              and not any(id_pattern(p).match(i) for p in exclude)}
    return chosen, hits


def not_applicable(record: dict[str, Any]) -> bool:
    """A SKIP because the oracle itself could not apply the case here (e.g. transformers is not
    installed), where the target, when it is real torch, observed exactly the same."""
    from conformance.compare import diff

    return (record["outcome"] == record["raw_outcome"] == "SKIP" and record["oracle"] is not None
            and record["observed"] is not None and not diff(record["oracle"], record["observed"]))


def file_state(path: Path) -> dict[str, Any]:
    """Size, mtime and content hash of a file: enough to tell that nobody rewrote it."""
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def once_per_session(tmp_path_factory, name: str, prepare) -> dict[str, Any]:
    """Run ``prepare(shared_dir) -> JSON-able dict`` once per test session, also under xdist: the first
    worker that needs it runs it under a file lock; the others wait and read what it left (or its error)."""
    import pytest

    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker has its own basetemp; their parent is common to this session only.
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / name
    shared.mkdir(exist_ok=True)
    done = shared / "done.json"
    with open(shared / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            try:
                info = prepare(shared)
            except BaseException as e:
                done.write_text(json.dumps({"error": f"{type(e).__name__}: {e}"}))
                raise
            done.write_text(json.dumps(info))
        info = json.loads(done.read_text())
    if "error" in info:
        pytest.fail(f"{name} failed in another test worker: {info['error'][:3000]}")
    return info
