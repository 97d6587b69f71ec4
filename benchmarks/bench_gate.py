"""How fast is the gate, and where does its time go? (Not a test: run it, read the table.)

    python benchmarks/bench_gate.py [--target pyborch] [--target mindtorch_v2] [--repeat 3] [--json OUT]

Measures, on this machine, the wall time and peak memory (summed RSS of the whole process tree,
sampled every 20 ms) of: recording the oracle from an empty cache; running each target against the
cached oracle records, with and without pytest-xdist; rendering the report again from results; and
the floor: starting one Python process that makes the backend `torch` and imports safetensors.torch.
The kit's overhead per case is (run time - floor - time inside the target's cases) / cases.
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

from conformance.backends import mindtorch_v2  # noqa: E402


def measure(cmd: list[str], env: dict | None = None) -> dict:
    """Wall seconds, peak tree RSS (MiB) and exit code of one command."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        root = psutil.Process(proc.pid)
        while not stop.is_set():
            try:
                procs = [root] + root.children(recursive=True)
                peak = max(peak, sum(p.memory_info().rss for p in procs if p.is_running()))
            except psutil.Error:
                pass
            stop.wait(0.02)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    out, _ = proc.communicate()
    wall = time.perf_counter() - start
    stop.set()
    t.join()
    return {"seconds": round(wall, 3), "peak_mib": round(peak / 2**20, 1), "exit": proc.returncode,
            "tail": out.decode(errors="replace")[-400:]}


def best_of(n: int, cmd: list[str], env: dict | None = None, before=None) -> dict:
    runs = []
    for _ in range(n):
        if before:
            before()
        runs.append(measure(cmd, env))
    times = [r["seconds"] for r in runs]
    return {**runs[times.index(min(times))], "median_seconds": round(statistics.median(times), 3),
            "runs": len(runs)}


def floor_cmd(target: str) -> list[str]:
    # safetensors (the package): safetensors.torch does not import on every backend (mindtorch_v2 lacks
    # torch.nn as an attribute), and the floor must measure the same thing for all
    code = ("from conformance.backends import resolve; b = resolve(%r); b.locate(); b.activate(); "
            "import torch, safetensors, safetensors.numpy" % target)
    return [sys.executable, "-c", code]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", action="append", help="targets to time (default: torch and pyborch, "
                    "plus mindtorch_v2 when its sources are found)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", help="also write the measurements here")
    args = ap.parse_args()

    targets = args.target or ["torch", "pyborch"] + (["mindtorch_v2"] if mindtorch_v2.available() else [])
    work = Path(tempfile.mkdtemp(prefix="bench-gate-"))
    cache = work / "oracle-cache"
    kit = [sys.executable, "-m", "conformance"]
    cases = len(subprocess.run(kit + ["list"], cwd=ROOT, capture_output=True, text=True).stdout.splitlines())
    out: dict = {"cases": cases, "cores": os.cpu_count(), "python": sys.version.split()[0], "steps": {}}
    steps = out["steps"]

    steps["record oracle (empty cache)"] = best_of(
        args.repeat, kit + ["record", "--oracle-cache", str(cache)],
        before=lambda: shutil.rmtree(cache, ignore_errors=True))
    for target in targets:
        steps[f"floor: start + import {target} + safetensors"] = best_of(args.repeat, floor_cmd(target))
        exp = ROOT / "expectations" / f"{target}.txt"
        common = kit + ["run", "--target", target, "--oracle-cache", str(cache),
                        "--report-dir", str(work / target)] + (["--expectations", str(exp)] if exp.exists() else [])
        steps[f"run {target} (cached oracle, 1 process)"] = best_of(args.repeat, common)
        # time spent inside the target running the cases themselves (results.json "ms"): not the kit's
        cases_ms = sum(c.get("ms") or 0 for c in json.loads((work / target / "results.json").read_text())["cases"])
        out.setdefault("case_seconds_in_target", {})[target] = round(cases_ms / 1000, 3)
        steps[f"run {target} (cached oracle, -n 2)"] = best_of(args.repeat, common + ["-n", "2"])
        steps[f"render report {target}"] = best_of(
            args.repeat, kit + ["report", "--results", str(work / target / "results.json")])

    print(f"{cases} cases, {out['cores']} cores, Python {out['python']}\n")
    print(f"{'step':<52} {'best s':>8} {'median s':>9} {'peak MiB':>9}  exit")
    for name, r in steps.items():
        print(f"{name:<52} {r['seconds']:>8.2f} {r['median_seconds']:>9.2f} {r['peak_mib']:>9.1f}  {r['exit']}")
    print()
    for target in targets:
        floor = steps[f"floor: start + import {target} + safetensors"]["seconds"]
        in_cases = out["case_seconds_in_target"][target]
        for mode in ("1 process", "-n 2"):
            run = steps[f"run {target} (cached oracle, {mode})"]["seconds"]
            per_case = (run - floor - (in_cases if mode == "1 process" else in_cases / 2)) / cases * 1000
            print(f"{target:<14} {mode:<10} gate/floor = {run / floor:5.1f}x   cases themselves = {in_cases:5.2f} s"
                  f"   kit overhead = {per_case:5.2f} ms/case")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    return 0



if __name__ == "__main__":
    sys.exit(main())
