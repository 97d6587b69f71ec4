"""Issue 20, items 3 and 4 as whole runs: hostile targets against the channel and the log, and runner deaths
(SIGKILL during a hang, Ctrl-C twice, a closed terminal). The unit-level tries are in test_hostile_bounds.py;
the slow ones (a 400 MB log, 64 MB answers timed) in benchmarks/reliability_tries.py --round 20.
"""
from __future__ import annotations

import json
import os
import pty
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kitrun import MUTANTS, REPO, kit_env

HOSTILE = REPO / "tests" / "hostile"


def _run_options() -> set[str]:
    from conformance.cli import parser

    sub = next(a for a in parser()._actions if getattr(a, "choices", None) and "run" in a.choices)
    return {o for a in sub.choices["run"]._actions for o in a.option_strings}


# A module: target that wraps real torch says so where the kit asks (its sandbox then keeps torch).
BUILT_ON_TORCH = ["--target-uses-torch"] if "--target-uses-torch" in _run_options() else []


def env_with(**extra: str) -> dict[str, str]:
    env = kit_env(**extra)
    env["PYTHONPATH"] = os.pathsep.join([str(HOSTILE), str(MUTANTS), env["PYTHONPATH"]])
    return env


def run_cmd(target: str, report: Path, cache: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "conformance", "run", "--target", target, *BUILT_ON_TORCH, "--report-dir",
            str(report), "--oracle-cache", str(cache), *args]


def kit_run(target: str, report: Path, cache: Path, *args: str, env: dict | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(run_cmd(target, report, cache, *args), cwd=REPO, env=env or env_with(),
                          capture_output=True, text=True, timeout=timeout)


def cases(report: Path) -> dict[str, dict]:
    return {c["id"]: c for c in json.loads((report / "results.json").read_text())["cases"]}


def wait_for(what, seconds: float = 300) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if what():
            return True
        time.sleep(0.2)
    return what()


def first_record_written(report: Path, proc: subprocess.Popen) -> bool:
    jl = report / "results.jsonl"
    return wait_for(lambda: proc.poll() is not None or (jl.is_file() and jl.read_text().count("\n") >= 1))


def processes_with(text: str) -> list[str]:
    ps = subprocess.run(["ps", "-eo", "pid,stat,args"], capture_output=True, text=True).stdout
    return [line for line in ps.splitlines() if text in line and "ps -eo" not in line and " Z" not in line[:12]]


INT8 = ["-k", "frombuffer and int8"]


# == item 4: hostile answers as whole runs ===============================================================

def test_a_replaced_reply_fd_is_told_apart_from_a_dead_worker(tmp_path, oracle):
    """Try: a target that dup2s /dev/null over its reply fd: "worker died (exit code None)", 5 s per case."""
    report = tmp_path / "r"
    p = kit_run("module:hostile_answers", report, oracle.cache, *INT8, env=env_with(HOSTILE_DO="replyfd"))
    got = cases(report)
    lost = [c for c in got.values() if c["outcome"] == "ERROR"]
    assert lost, p.stdout[-3000:]
    assert all("reply channel stopped working while the process still ran" in c["summary"] for c in lost)
    assert not [c for c in got.values() if c["outcome"] == "CRASH"]


def test_a_target_patching_hashlib_does_not_break_the_channel(tmp_path, oracle):
    """Try: a target that only patches hashlib: "the target could not start ... wrote into the kit's channel"."""
    report = tmp_path / "r"
    p = kit_run("module:hostile_answers", report, oracle.cache, *INT8, env=env_with(HOSTILE_DO="patch_hashlib"))
    text = p.stdout + p.stderr
    assert "could not start" not in text and "wrote into the kit's channel" not in text, text[-3000:]
    assert cases(report)


def test_a_deep_or_huge_answer_is_judged_and_kept_bounded(tmp_path, oracle):
    """Tries: display nested 5000 deep (RecursionError in the runner); a 64 MB answer kept whole in results.json."""
    report = tmp_path / "deep"
    p = kit_run("module:hostile_answers", report, oracle.cache, *INT8, env=env_with(HOSTILE_DO="deep"))
    assert "RecursionError" not in p.stdout + p.stderr and "Traceback" not in p.stdout + p.stderr, p.stdout[-3000:]
    assert {c["outcome"] for c in cases(report).values()} - {"PASS"}
    report = tmp_path / "big"
    p = kit_run("module:hostile_answers", report, oracle.cache, *INT8, "--case-timeout", "30",
                env=env_with(HOSTILE_DO="biganswer", HOSTILE_MB="8"))
    big = [c for c in cases(report).values() if c["outcome"] != "PASS"]
    assert big, p.stdout[-3000:]
    assert all("oversized" in json.dumps(c["observed"]) for c in big), [c["summary"] for c in big]
    assert (report / "results.json").stat().st_size < (2 << 20)


def test_a_crashing_worker_that_wrote_a_lot_shows_its_last_words(tmp_path, oracle):
    report = tmp_path / "r"
    kit_run("module:hostile_answers", report, oracle.cache, "-k", "frombuffer and int8 and ordinary",
            env=env_with(HOSTILE_DO="bigout", HOSTILE_MB="32"))
    crashed = [c for c in cases(report).values() if c["outcome"] == "CRASH"]
    shown = [c["summary"] + json.dumps(c.get("diffs")) for c in crashed]     # the tail: in the summary or its detail
    assert crashed and all("the last words of hostile_answers" in text for text in shown)
    assert all(len(text) < 8000 for text in shown)


# == item 3: runner deaths ============================================================================

def test_a_runner_killed_during_a_hang_leaves_nothing_behind_and_marks_its_reports(tmp_path, oracle):
    """Tries: SIGKILL of the runner left stale reports unmarked, conformance-worker-* folders, and the hung
    worker running, reparented to init."""
    report, tmp = tmp_path / "r", tmp_path / "tmp"
    tmp.mkdir()
    first = kit_run("pyborch", report, oracle.cache, "-k", "rust_version")
    assert (report / "results.json").is_file(), first.stdout[-3000:]
    mark = str(87000 + os.getpid() % 1000)
    proc = subprocess.Popen(run_cmd("module:hostile_children", report, oracle.cache, "--case-timeout", "600",
                                    "-k", "rust_from_file and nbytes-smaller"), cwd=REPO,
                            env=env_with(TMPDIR=str(tmp), HOSTILE_SLEEP=mark), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: len(processes_with(f"sleep {mark}")) >= 3 or proc.poll() is not None)
        assert proc.poll() is None
        workers = [line.split()[0] for line in processes_with("conformance.worker") if _runner_of(line) == proc.pid]
        assert workers
    finally:
        proc.kill()
        proc.wait()
    gone = wait_for(lambda: not processes_with(f"sleep {mark}") and not any(
        _alive(pid) for pid in workers), 60)
    left = processes_with(f"sleep {mark}")
    for line in left:                       # do not leave them to the next test
        os.kill(int(line.split()[0]), signal.SIGKILL)
    assert gone, left
    assert wait_for(lambda: not [p for p in tmp.iterdir() if p.name.startswith("conformance-worker-")], 30), \
        list(tmp.iterdir())
    assert (report / "INCOMPLETE").is_file()
    p = subprocess.run([sys.executable, "-m", "conformance", "report", "--results", str(report / "results.json"),
                        "--out", str(tmp_path / "again")], cwd=REPO, env=env_with(), capture_output=True, text=True)
    assert "INCOMPLETE says a later run started in this folder and did not finish" in p.stderr, p.stderr


def _runner_of(ps_line: str) -> int | None:
    try:
        with open(f"/proc/{ps_line.split()[0]}/environ", "rb") as f:
            env = f.read().split(b"\0")
    except OSError:
        return None
    mark = next((e for e in env if e.startswith(b"CONFORMANCE_RUNNER=")), b"=")
    return int(mark.split(b"=", 1)[1] or 0)


def _alive(pid: str) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_ctrl_c_twice_ends_the_run_with_reports_and_no_traceback(tmp_path, oracle):
    """Try: Ctrl-C twice: exit 130 with two tracebacks, interrupted: false, 997 cases "lost"."""
    report = tmp_path / "r"
    proc = subprocess.Popen(run_cmd("module:mutant_empty_float32_hang", report, oracle.cache, "--case-timeout", "600",
                                    "-k", "empty_zero_size"), cwd=REPO, env=env_with(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    assert first_record_written(report, proc)
    time.sleep(0.5)                   # the hanging case is in flight
    proc.send_signal(signal.SIGINT)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "Traceback" not in out, out[-3000:]
    results = json.loads((report / "results.json").read_text())
    assert results["run"]["interrupted"] is True
    assert not [c for c in results["cases"] if "lost this case" in (c.get("summary") or "")]
    assert results["run"]["not_run"] and not set(results["run"]["not_run"]) & {c["id"] for c in results["cases"]}
    assert not (report / "INCOMPLETE").exists()


def test_ctrl_c_while_the_oracle_is_recorded_writes_the_reports(tmp_path):
    """Ctrl-C on a cold oracle cache (a machine's first run): no reports at all were written."""
    report, cache = tmp_path / "r", tmp_path / "cold-cache"
    proc = subprocess.Popen(run_cmd("torch", report, cache, *INT8), cwd=REPO, env=env_with(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    recorded = lambda: [p for p in cache.rglob("records.jsonl") if p.stat().st_size]  # noqa: E731
    assert wait_for(lambda: proc.poll() is not None or recorded())
    assert proc.poll() is None, "the oracle was recorded before the test could interrupt it"
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "Traceback" not in out, out[-3000:]
    results = json.loads((report / "results.json").read_text())
    assert results["run"]["interrupted"] is True and results["cases"] == []
    assert "frombuffer[int8-ordinary]" in results["run"]["not_run"], results["run"]
    assert any("while the oracle's observations were being recorded" in p for p in results["run"]["gate_problems"])
    assert (report / "index.html").is_file() and not (report / "INCOMPLETE").exists()
    assert recorded()                  # what it recorded is kept for the next run


def test_a_closed_terminal_ends_the_run_like_sigterm(tmp_path, oracle):
    """Try: closing the terminal: exit 4 with "error: Input/output error (no file named)"."""
    report = tmp_path / "r"
    master, slave = pty.openpty()
    proc = subprocess.Popen(run_cmd("module:mutant_empty_float32_hang", report, oracle.cache, "--case-timeout", "600",
                                    "-k", "empty_zero_size"), cwd=REPO, env=env_with(), stdin=slave, stdout=slave,
                            stderr=slave)
    os.close(slave)
    try:
        seen = b""
        end = time.monotonic() + 300
        jl = report / "results.jsonl"
        while not (jl.is_file() and jl.read_text().count("\n") >= 1) and proc.poll() is None and time.monotonic() < end:
            try:
                seen += os.read(master, 65536)       # keep the terminal drained while it runs
            except OSError:
                break
        time.sleep(0.5)
    finally:
        os.close(master)                  # the terminal goes away: writes to it fail from now on
    proc.send_signal(signal.SIGHUP)
    assert proc.wait(timeout=120) == 2
    results = json.loads((report / "results.json").read_text())
    assert results["run"]["interrupted"] is True and (report / "index.html").is_file()


# == item 5: stale entries, as a run =====================================================================

def test_stale_gate_lines_are_summarised_after_20(tmp_path, oracle):
    exp = tmp_path / "exp.txt"
    exp.write_text("".join(f"no_such_case_{i}[x]  FAIL  stale {i}\n" for i in range(25)))
    report = tmp_path / "r"
    p = kit_run("torch", report, oracle.cache, "--expectations", str(exp), "-k", "rust_version")
    stale = [line for line in p.stdout.splitlines() if line.startswith("GATE:") and "no_such_case_" in line]
    assert len(stale) == 20, p.stdout[-3000:]
    assert f"GATE: ... and 5 more entries of {exp} that match no case" in p.stdout
    assert len(json.loads((report / "results.json").read_text())["run"]["gate_problems"]) == 21
