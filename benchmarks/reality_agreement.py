"""The agreement table: the kit's entry-point headlines against what real safetensors calls hit first.

    python benchmarks/reality_agreement.py --target paddle                       # paddle importable here
    python benchmarks/reality_agreement.py --target mindtorch_v2 --backend-path /work/scratch/mt_97/src \
        --label mindtorch_v2@97aaaf23c --report-dir /tmp/r/mt97 --reuse
    python benchmarks/reality_agreement.py --untuned --reports /tmp/r       # every backend tests/test_reality.py
                                                                            # finds (UNTUNED: env vars, paddle)

For each (backend, entry point): whether the entry point works in reality (tests/reality_probe.py, the
target's probe in its sandbox), the first failing torch call of each failing real call (the first recorded
call that diverges from the oracle's), the kit's headline (index.html's, checklist.md's), and whether they
agree; then the run's outcome counts. ``--reuse`` reads a run already in ``--report-dir`` instead of running
the kit. tests/test_reality.py asserts the agreement; this prints it for the closing notes.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]


def counts(report_dir: Path) -> str:
    cases = json.loads((report_dir / "results.json").read_text())["cases"]
    c = Counter(r["raw_outcome"] for r in cases)
    return ", ".join(f"{k} {n}" for k, n in c.most_common())


def one(label: str, target: str, backend_path: list[str], report_dir: Path, cache: Path, reuse: bool) -> bool:
    from test_reality import cause_agreement, table

    pairs = cause_agreement(target, report_dir, cache, backend_path, reuse=reuse)
    print(table(label, pairs))
    print(f"\n{label}: {sum(p.agrees for p in pairs)}/{len(pairs)} agree; raw outcomes: {counts(report_dir)}")
    for p in pairs:
        if p.raised:
            print(f"  {p.entry}: the real calls raised {'; '.join(p.raised)}")
    print()
    return all(p.agrees for p in pairs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target")
    ap.add_argument("--backend-path", action="append", default=[])
    ap.add_argument("--label")
    ap.add_argument("--report-dir", type=Path)
    ap.add_argument("--untuned", action="store_true", help="every untuned backend available here")
    ap.add_argument("--reports", type=Path, default=Path("/tmp/reality-agreement"),
                    help="with --untuned: DIR/<label>/ holds each run")
    ap.add_argument("--reuse", action="store_true", help="read a run already in the report folder")
    ap.add_argument("--oracle-cache", type=Path,
                    default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "torch-conformance" / "oracle")
    args = ap.parse_args()
    if args.untuned == bool(args.target):
        ap.error("give --target T or --untuned")
    ok = True
    if args.untuned:
        from test_reality import UNTUNED

        for b in UNTUNED:
            path = b.backend_path()
            if path is None:
                print(f"{b.label}: skipped: {b.how_to_enable()}\n")
                continue
            slug = b.label.split(" ")[0].replace("@", "-")
            ok &= one(b.label, b.target, path, args.reports / slug, args.oracle_cache, args.reuse)
    else:
        out = args.report_dir or Path("/tmp/reality-agreement") / args.target
        ok = one(args.label or args.target, args.target, args.backend_path, out, args.oracle_cache, args.reuse)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
