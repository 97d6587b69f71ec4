"""How expectations matching scales: parse a file of N entries, match M case ids, find the entries that
match nothing, and rewrite the file from M results. A measurement, not a test.

    python benchmarks/bench_expectations.py                    # 100,000 entries, 10,000 cases
    python benchmarks/bench_expectations.py --entries 1800000  # the 50 MB file of issue 14

The goal (issue 14): 100,000 entries and 10,000 cases matched in under 2 s.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conformance.expectations import Expectations  # noqa: E402
from conformance.expectations_update import update  # noqa: E402

NAMES = ["frombuffer", "reshape", "empty_zero_size", "load_path", "safe_open_pt_get_tensor", "rust_from_file"]
DTYPES = ["int8", "uint8", "int16", "float16", "bfloat16", "float32", "float64", "bool", "float8_e5m2"]


def case_ids(n: int, rnd: random.Random) -> list[str]:
    ids = set()
    while len(ids) < n:
        ids.add(f"{rnd.choice(NAMES)}{rnd.randint(0, 99)}[{rnd.choice(DTYPES)}-{rnd.randint(0, 10**6)}]")
    return sorted(ids)


def file_text(ids: list[str], n: int, rnd: random.Random) -> str:
    """Half exact ids (most match nothing), half prefixes of every length, as a big file would hold."""
    lines, seen = [], set()
    while len(lines) < n:
        i = rnd.choice(ids)
        kind = rnd.random()
        if kind < 0.5:
            pattern = f"{i[:-1]}{rnd.randint(0, 10**6)}]"
        else:
            cut = rnd.randint(1, len(i) - 1)
            pattern = i[:cut] + ("*" if kind < 0.8 else "*]")
        if pattern not in seen:
            seen.add(pattern)
            lines.append(f"{pattern}  FAIL  reason {len(lines)}")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--json", help="also write the timings here")
    args = ap.parse_args()
    rnd = random.Random(0)
    ids = case_ids(args.cases, rnd)
    text = file_text(ids, args.entries, rnd)
    t = {}
    start = time.perf_counter()
    exp = Expectations.parse(text, "bench.txt")
    t["parse"] = time.perf_counter() - start
    start = time.perf_counter()
    matched = sum(1 for i in ids if exp.match(i) is not None)
    t["match"] = time.perf_counter() - start
    start = time.perf_counter()
    stale = len(exp.unmatched(ids))
    t["unmatched"] = time.perf_counter() - start
    records = [{"id": i, "raw_outcome": "FAIL", "module": "m", "summary": "differs"} for i in ids]
    start = time.perf_counter()
    update(records, exp, "bench", catalog_ids=ids)
    t["rewrite"] = time.perf_counter() - start
    total = t["parse"] + t["match"] + t["unmatched"]
    print(f"{len(exp.entries)} entries ({len(text) / 1e6:.1f} MB), {len(ids)} cases: {matched} matched, "
          f"{stale} entries match nothing")
    for k, v in t.items():
        print(f"  {k:<10} {v:8.3f} s")
    print(f"  parse + match + unmatched: {total:.3f} s (goal for 100,000 x 10,000: under 2 s)")
    if args.json:
        Path(args.json).write_text(json.dumps({"entries": len(exp.entries), "cases": len(ids), **t}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
