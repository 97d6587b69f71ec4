"""Every benchmark in one command, from a fresh clone (not a test: it writes tables and a report).

    pip install torch==2.13.0 -e '.[test,bench]'
    python benchmarks/bench_all.py [--out bench-out] [--repeat 3] [--quick]

Runs benchmarks/bench_gate.py (the gate's own time, memory and CPU per process, the floor, xdist,
crash recovery, `tox -e mindtorch`) and benchmarks/bench_loading.py (each loading path's time,
memory and copy-or-map per backend, as ratios to torch), then runs each target's suites once more
with `--perf`, so OUT/<target>/results.json and index.html carry the loading-path ratios.
mindtorch_v2 is included when its sources are found ($MINDTORCH_V2_SRC, ../mindnlp/src, ...).

OUT gets gate.json, gate.txt, perf.json, loading.txt and one report folder per target.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from conformance import backends  # noqa: E402


def step(title: str, cmd: list[str], log: Path | None = None) -> None:
    print(f"\n== {title}\n$ {' '.join(cmd)}", flush=True)
    p = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    print(p.stdout[-6000:], flush=True)
    if log:
        log.write_text(p.stdout)
    if p.returncode not in (0, 1):      # 1: a target's gate is red, which is a result here, not a failure
        raise SystemExit(f"{title} failed (exit {p.returncode})")


def main() -> int:
    try:
        import psutil  # noqa: F401
    except ImportError:
        sys.exit("benchmarks need psutil: pip install -e '.[bench]'")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bench-out", help="folder for the tables, JSON and reports (default bench-out)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is kept")
    ap.add_argument("--quick", action="store_true", help="one run each, a 60 MiB checkpoint, no tox")
    args = ap.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    repeat = ["--repeat", "1" if args.quick else str(args.repeat)]
    targets = ["torch", "pyborch"] + (["mindtorch_v2"] if backends.available("mindtorch_v2") else [])
    if "mindtorch_v2" not in targets:
        print("mindtorch_v2 sources not found: set MINDTORCH_V2_SRC=<mindnlp>/src to include it", flush=True)

    py = sys.executable
    step("gate", [py, "benchmarks/bench_gate.py", *repeat, "--json", str(out / "gate.json")]
         + (["--no-tox"] if args.quick else []), out / "gate.txt")
    step("loading paths", [py, "benchmarks/bench_loading.py", *repeat, "--json", str(out / "perf.json")]
         + (["--size-mb", "60"] if args.quick else []), out / "loading.txt")
    for target in targets:
        exp = ROOT / "backends" / target / "expectations.txt"
        step(f"report {target}", [py, "-m", "conformance", "run", "--target", target, "--report-dir", str(out / target),
                                  "--perf", str(out / "perf.json")] + (["--expectations", str(exp)] if exp.exists() else []))
    print(f"\nwrote {out}: gate.txt, gate.json, loading.txt, perf.json, "
          + ", ".join(f"{t}/index.html" for t in targets))
    return 0


if __name__ == "__main__":
    sys.exit(main())
