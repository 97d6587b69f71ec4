"""How fast is the gate, and where does its time go? (Not a test: run it, read the table.)

    python benchmarks/bench_gate.py [--target pyborch] [--target mindtorch_v2] [--repeat 3] [--json OUT] [--no-tox]
                                    [--only tox|recorder] [--checkout DIR]

Measures, on this machine, wall time, peak memory (summed RSS of the whole process tree, sampled
every 20 ms) and CPU seconds per kind of process (the pytest runner, xdist workers, the target
process, processes that cases start) of:
- recording the oracle from an empty cache;
- running each target against the cached oracle records, in one process and with pytest-xdist -n 1
  and -n 2 (what xdist's machinery costs, and what its parallelism gains), and each of those with
  no case selected (the fixed part: start-up, collection, the target process's start);
- rendering the report again from results;
- the floor: one Python process that makes the backend `torch` and imports safetensors;
- each target's run in one process without the call recorder (what recording every torch call costs);
- the whole `tox -e mindtorch` gate (a new tox env once, then warm), when mindtorch_v2 is found; with
  `--checkout DIR`, the gate of another checkout of the kit (an older commit: the gate before a change);
- crash recovery: the same run with and without a case that kills the target process (tests/mutants).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))   # run from a checkout: the kit itself

from conformance import backends  # noqa: E402
from conformance.calls import UNRECORDED_BENCH_ENV  # noqa: E402


def _role(p: psutil.Process) -> str:
    """What a process in the tree is, by its command line."""
    try:
        cmd = " ".join(p.cmdline())
    except psutil.Error:
        return "other"
    if "conformance.worker" in cmd:
        return "target/oracle process"
    if "_st_support" in cmd or "_hf_models" in cmd:
        return "processes started by cases"
    if "exec(eval(sys.stdin.readline()))" in cmd:
        return "xdist workers (pytest)"
    if "tox" in cmd and "conformance" not in cmd:
        return "tox"
    return "kit (pytest)"


def measure(cmd: list[str], env: dict | None = None, cwd: Path = ROOT) -> dict:
    """Wall seconds, peak tree RSS (MiB), CPU seconds per role and exit code of one command."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    peak = 0
    cpu: dict[int, tuple[str, float]] = {}   # pid -> (role, last CPU seconds seen)
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        root = psutil.Process(proc.pid)
        while not stop.is_set():
            try:
                procs = [root] + root.children(recursive=True)
            except psutil.Error:
                procs = []
            rss = 0
            for p in procs:
                try:
                    rss += p.memory_info().rss
                    t = p.cpu_times()
                    role = cpu[p.pid][0] if p.pid in cpu else _role(p)
                    cpu[p.pid] = (role, t.user + t.system)
                except psutil.Error:
                    pass
            peak = max(peak, rss)
            stop.wait(0.02)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    out, _ = proc.communicate()
    wall = time.perf_counter() - start
    stop.set()
    t.join()
    roles: dict[str, float] = {}
    for role, seconds in cpu.values():
        roles[role] = round(roles.get(role, 0.0) + seconds, 2)
    return {"seconds": round(wall, 3), "peak_mib": round(peak / 2**20, 1), "exit": proc.returncode,
            "cpu_seconds": roles, "tail": out.decode(errors="replace")[-400:]}


def best_of(n: int, cmd: list[str], env: dict | None = None, before=None, cwd: Path = ROOT) -> dict:
    """The fastest of n runs (with the median time of all n)."""
    runs = []
    for _ in range(n):
        if before:
            before()
        runs.append(measure(cmd, env, cwd))
    times = [r["seconds"] for r in runs]
    return {**runs[times.index(min(times))], "median_seconds": round(statistics.median(times), 3),
            "runs": len(runs)}


def floor_cmd(target: str) -> list[str]:
    # safetensors (the package): safetensors.torch does not import on every backend (mindtorch_v2 lacks
    # torch.nn as an attribute), and the floor must measure the same thing for all
    code = ("from conformance.backends import resolve; b = resolve(%r); b.locate(); b.activate(); "
            "import torch, safetensors, safetensors.numpy" % target)
    return [sys.executable, "-c", code]


def _cpu(run: dict) -> float:
    return sum(run["cpu_seconds"].values())


def _results(path: Path) -> dict:
    return json.loads(path.read_text())


def _recorder_cost(recorded: dict, unrecorded: dict, cases: int) -> dict:
    """What recording every torch call costs a run: CPU per case of the kit's own process (it compares
    the call logs) and of the target/oracle processes (they record), with and without the recorder."""
    def per_case(run: dict, role: str) -> float:
        return round(run["cpu_seconds"].get(role, 0.0) / cases * 1000, 2)
    return {"kit_cpu_ms_per_case_recorded": per_case(recorded, "kit (pytest)"),
            "kit_cpu_ms_per_case_unrecorded": per_case(unrecorded, "kit (pytest)"),
            "target_cpu_ms_per_case_recorded": per_case(recorded, "target/oracle process"),
            "target_cpu_ms_per_case_unrecorded": per_case(unrecorded, "target/oracle process"),
            "wall_s_recorded": recorded.get("median_seconds", recorded["seconds"]),
            "wall_s_unrecorded": unrecorded.get("median_seconds", unrecorded["seconds"])}


def _tox_only(args: argparse.Namespace) -> int:
    """The warm `tox -e mindtorch` gate of one checkout (this one, or an older commit's): the figure the
    issues compare before and after a change. A new tox env is made once (not timed), then timed warm."""
    checkout = args.checkout.resolve()
    if not (checkout / "tox.ini").is_file():
        print(f"bench_gate: no tox.ini in {checkout}; --checkout takes a checkout of this kit", file=sys.stderr)
        return 2
    if not backends.available("mindtorch_v2"):
        print("bench_gate: mindtorch_v2's sources are not found; set MINDTORCH_V2_SRC to a MindNLP src/",
              file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="bench-gate-tox-"))
    toxwork = args.tox_workdir.resolve() if args.tox_workdir else work / "tox"
    tox = [sys.executable, "-m", "tox", "-e", "mindtorch", "--workdir", str(toxwork)]
    env = dict(os.environ)      # the gate writes its report into the checkout's reports/, as it does for users
    # the first run installs the env and fills the oracle cache: not the warm figure
    first = None if (toxwork / "mindtorch").is_dir() else measure(tox, env, cwd=checkout)
    warm = best_of(args.repeat, tox, env, cwd=checkout)
    head = subprocess.run(["git", "-C", str(checkout), "log", "-1", "--format=%h %s"], capture_output=True,
                          text=True).stdout.strip()[:70]
    out = {"checkout": str(checkout), "commit": head, "new_env": first, "warm": warm}
    made = f"new env {first['seconds']:.1f} s (exit {first['exit']})" if first else f"env reused from {toxwork}"
    print(f"tox -e mindtorch at {head}\n  {made}; warm: best "
          f"{warm['seconds']:.1f} s, median {warm['median_seconds']:.1f} s of {warm['runs']} (exit {warm['exit']}), "
          f"peak {warm['peak_mib']:.0f} MiB")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", action="append", help="targets to time (default: torch and pyborch, "
                    "plus mindtorch_v2 when its sources are found)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", help="also write the measurements here")
    ap.add_argument("--no-tox", action="store_true", help="skip timing `tox -e mindtorch` (a new env installs torch)")
    ap.add_argument("--no-crash", action="store_true", help="skip the crash-recovery runs (torch-based mutants)")
    ap.add_argument("--only", choices=("tox", "recorder"),
                    help="time only the warm tox gate, or only each target's run with and without the recorder")
    ap.add_argument("--checkout", type=Path, default=ROOT,
                    help="the kit checkout whose `tox -e mindtorch` gate is timed (default: this one)")
    ap.add_argument("--tox-workdir", type=Path,
                    help="with --only tox: keep the tox env here and reuse it across invocations (alternate "
                         "two checkouts' invocations to spread the machine's noise over both)")
    args = ap.parse_args()
    if args.only == "tox":
        return _tox_only(args)

    # Measure what a usual install sees: Python caching bytecode. (Some shells, this machine's among
    # them, set PYTHONDONTWRITEBYTECODE; then every process compiles the kit again, xdist workers too.)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    targets = args.target or ["torch", "pyborch"] + (["mindtorch_v2"] if backends.available("mindtorch_v2") else [])
    work = Path(tempfile.mkdtemp(prefix="bench-gate-"))
    cache = work / "oracle-cache"
    kit = [sys.executable, "-m", "conformance"]
    cases = len(subprocess.run(kit + ["list"], cwd=ROOT, capture_output=True, text=True).stdout.splitlines())
    out: dict = {"cases": cases, "cores": os.cpu_count(), "python": sys.version.split()[0], "steps": {},
                 "per_target": {}, "recorder": {}}
    steps = out["steps"]

    steps["record oracle (empty cache)"] = best_of(
        1 if args.only else args.repeat, kit + ["record", "--oracle-cache", str(cache)],
        before=lambda: shutil.rmtree(cache, ignore_errors=True))
    for target in targets:
        floor = steps[f"floor: start + import {target} + safetensors"] = best_of(args.repeat, floor_cmd(target))
        exp = ROOT / "backends" / target / "expectations.txt"
        common = kit + ["run", "--target", target, "--oracle-cache", str(cache),
                        "--report-dir", str(work / target)] + (["--expectations", str(exp)] if exp.exists() else [])
        none = ["-k", "no_case_is_named_this"]     # the fixed part of a run: nothing selected
        one = steps[f"run {target} (cached oracle, 1 process)"] = best_of(args.repeat, common)
        # time spent inside the target running the cases themselves (results.json "ms"): not the kit's
        in_cases = sum(c.get("ms") or 0 for c in _results(work / target / "results.json")["cases"]) / 1000
        # the recorder's cost, snippets not measured: a run without it blames other APIs, so its checklist
        # has other snippets to measure, which would be timed with it
        quiet = common + ["--skip-snippet-check"]
        rec = steps[f"run {target} (1 process, snippets not measured)"] = best_of(args.repeat, quiet)
        bare = steps[f"run {target} (1 process, snippets not measured, no call recorder)"] = best_of(
            args.repeat, quiet, env={**os.environ, UNRECORDED_BENCH_ENV: "1"})
        out["recorder"][target] = _recorder_cost(rec, bare, cases)
        if args.only == "recorder":
            continue
        one0 = steps[f"run {target} (1 process, no case selected)"] = best_of(args.repeat, common + none)
        # -n 1 against 1 process is what xdist's machinery costs; -n 2 against -n 1, what parallelism gains
        xd1 = steps[f"run {target} (cached oracle, -n 1)"] = best_of(args.repeat, common + ["-n", "1"])
        two = steps[f"run {target} (cached oracle, -n 2)"] = best_of(args.repeat, common + ["-n", "2"])
        two0 = steps[f"run {target} (-n 2, no case selected)"] = best_of(args.repeat, common + ["-n", "2"] + none)
        steps[f"render report {target}"] = best_of(
            args.repeat, kit + ["report", "--results", str(work / target / "results.json")])
        out["per_target"][target] = {
            "floor_s": floor["seconds"], "case_seconds_in_target": round(in_cases, 3),
            "gate_over_floor_1proc": round(one["seconds"] / floor["seconds"], 1),
            "ms_per_case_beyond_floor_1proc": round((one["seconds"] - floor["seconds"]) / cases * 1000, 2),
            "target_ms_per_case": round(in_cases / cases * 1000, 2),
            # CPU of the kit's own pytest process, its start-up and the report included
            "kit_cpu_ms_per_case": round(one["cpu_seconds"].get("kit (pytest)", 0) / cases * 1000, 2),
            "xdist_speedup": round(one["seconds"] / two["seconds"], 2),
            "xdist_overhead_s": round(xd1["seconds"] - one["seconds"], 2),
            "xdist_parallel_speedup": round(xd1["seconds"] / two["seconds"], 2),
            # A run = a fixed part (nothing selected) + the cases and their report. Cores busy: CPU/wall.
            "fixed_s": {"1proc": one0["seconds"], "n2": two0["seconds"]},
            "cases_part_s": {"1proc": round(one["seconds"] - one0["seconds"], 2),
                             "n2": round(two["seconds"] - two0["seconds"], 2)},
            "cases_part_cores_busy": {k: round((_cpu(r) - _cpu(r0)) / max(r["seconds"] - r0["seconds"], 1e-3), 2)
                                      for k, r, r0 in (("1proc", one, one0), ("n2", two, two0))}}
        t = out["per_target"][target]
        # An upper bound on what any 2-process split could save: the cases part of one process with its
        # CPU spread evenly over both cores, at no cost per case; against it, -n 2's longer fixed part.
        t["n2_best_possible_saving_s"] = round(t["cases_part_s"]["1proc"]
                                               * (1 - min(t["cases_part_cores_busy"]["1proc"], 2) / 2), 2)
        t["n2_extra_fixed_s"] = round(t["fixed_s"]["n2"] - t["fixed_s"]["1proc"], 2)

    if not args.no_crash and not args.only:
        # Crash recovery: a torch-based target whose empty(0, dtype=int16) kills its process (SIGSEGV),
        # against one with a harmless deviation and the same start-up. The difference is the recovery.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "tests" / "mutants"),
                                                                          os.environ.get("PYTHONPATH")]))}
        for name, mutant in (("no crash", "mutant_reshape_strides"), ("one crash", "mutant_empty_int16_crash")):
            steps[f"crash recovery: {name} ({mutant})"] = best_of(
                args.repeat, kit + ["run", "--target", f"module:{mutant}", "--oracle-cache", str(cache),
                                    "--report-dir", str(work / mutant)], env=env)
        crashed = _results(work / "mutant_empty_int16_crash" / "results.json")
        steady = _results(work / "mutant_reshape_strides" / "results.json")
        out["crash_recovery"] = {
            "extra_seconds": round(steps["crash recovery: one crash (mutant_empty_int16_crash)"]["seconds"]
                                   - steps["crash recovery: no crash (mutant_reshape_strides)"]["seconds"], 2),
            "target_processes": crashed["run"]["target_processes"],
            "cases_run": crashed["run"]["cases_run"], "cases_run_without_crash": steady["run"]["cases_run"],
            "crashes": crashed["run"]["counts"].get("CRASH", 0)}

    if not args.no_tox and not args.only and "mindtorch_v2" in targets:
        toxwork = work / "tox"
        tox = [sys.executable, "-m", "tox", "-e", "mindtorch", "--workdir", str(toxwork)]
        steps["tox -e mindtorch (new env: installs torch, then the gate)"] = measure(tox)
        steps["tox -e mindtorch (warm env)"] = best_of(args.repeat, tox)

    print(f"{cases} cases, {out['cores']} cores, Python {out['python']}\n")
    print(f"{'step':<62} {'best s':>7} {'median s':>9} {'peak MiB':>9} exit  CPU s by process")
    for name, r in steps.items():
        roles = ", ".join(f"{k} {v:.1f}" for k, v in sorted(r["cpu_seconds"].items(), key=lambda kv: -kv[1]))
        print(f"{name:<62} {r['seconds']:>7.2f} {r.get('median_seconds', r['seconds']):>9.2f} "
              f"{r['peak_mib']:>9.1f} {r['exit']:>4}  {roles}")
    print()
    for target, t in out["per_target"].items():
        print(f"{target:<13} gate/floor {t['gate_over_floor_1proc']:>5.1f}x   beyond the floor {t['ms_per_case_beyond_floor_1proc']:5.2f}"
              f" ms/case; the target's own work {t['target_ms_per_case']:5.2f} ms/case and the kit's CPU"
              f" {t['kit_cpu_ms_per_case']:5.2f} ms/case run side by side"
              f"\n{'':<14}-n 2 against 1 process {t['xdist_speedup']:.2f}x: xdist's own cost (-n 1 - 1 process)"
              f" {t['xdist_overhead_s']:+.2f} s, its parallelism (-n 1 / -n 2) {t['xdist_parallel_speedup']:.2f}x"
              f"\n{'':<14}fixed part (no case selected) 1 process {t['fixed_s']['1proc']:.2f} s, -n 2 "
              f"{t['fixed_s']['n2']:.2f} s; the cases and their report 1 process {t['cases_part_s']['1proc']:.2f} s "
              f"({t['cases_part_cores_busy']['1proc']:.2f} cores busy), -n 2 {t['cases_part_s']['n2']:.2f} s "
              f"({t['cases_part_cores_busy']['n2']:.2f} cores busy)"
              f"\n{'':<14}a perfect -n 2 could save at most {t['n2_best_possible_saving_s']:.2f} s on the cases "
              f"(their CPU spread evenly over 2 cores); its fixed part is {t['n2_extra_fixed_s']:+.2f} s longer")
    for target, r in out["recorder"].items():
        print(f"{target:<13} the call recorder: kit CPU {r['kit_cpu_ms_per_case_recorded']:.2f} ms/case recorded, "
              f"{r['kit_cpu_ms_per_case_unrecorded']:.2f} without; target process CPU "
              f"{r['target_cpu_ms_per_case_recorded']:.2f} / {r['target_cpu_ms_per_case_unrecorded']:.2f} ms/case; "
              f"wall {r['wall_s_recorded']:.2f} / {r['wall_s_unrecorded']:.2f} s")
    if "crash_recovery" in out:
        c = out["crash_recovery"]
        print(f"crash recovery: +{c['extra_seconds']:.2f} s for {c['crashes']} crash; {c['target_processes']} target "
              f"processes; {c['cases_run']} cases run (without the crash: {c['cases_run_without_crash']})")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
