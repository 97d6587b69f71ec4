"""``python -m conformance.surface [--out FILE]``: trace safetensors' entry points on a recording torch
and print (or write) the inventory as JSON. Runs in this fresh process: safetensors must not be
imported before the tracer is in place (its Rust extension caches the torch module)."""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from .tracer import run_trace


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m conformance.surface", description=__doc__)
    ap.add_argument("--out", help="write the inventory here instead of printing it")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="conformance-surface-") as work:
        inv = run_trace(work)
    text = json.dumps(inv, indent=1, sort_keys=True) + "\n"
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
        print(f"wrote {args.out}: {inv['api_count']} APIs, {len(inv['entry_points'])} entry points "
              f"(safetensors {inv['safetensors']})", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
