"""Trace and replay, measured: recording time and size per built-in workload, and per target and model the
replay's signatures (byte-exact, within tolerance, diverging, missing, blocked), the chained run's first
divergence and the replay time.

    python benchmarks/bench_replay.py --target pyborch --target mindtorch_v2=/path/to/mindnlp/src --out bench-replay

Needs transformers (4.x) importable. Not a test: it prints and writes ``replay.json`` in --out.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKLOADS = ("albert", "bert", "gpt2")


def _env(models: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["CONFORMANCE_MODELS_DIR"] = str(models)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def record(out: Path, env: dict[str, str]) -> dict[str, dict]:
    """Each workload recorded fresh (the tiny models are made first, untimed)."""
    subprocess.run([sys.executable, "-c", "from conformance.catalog import _hf_models; _hf_models.ensure_models()"],
                   env=env, check=True, cwd=ROOT)
    got = {}
    for w in WORKLOADS:
        start = time.monotonic()
        subprocess.run([sys.executable, "-m", "conformance", "trace", "--workload", w, "--out", str(out)],
                       env=env, check=True, cwd=ROOT, capture_output=True)
        took = time.monotonic() - start
        trace = json.loads((out / w / "trace.json").read_text())
        size = sum(p.stat().st_size for p in (out / w).rglob("*") if p.is_file())
        got[w] = {"seconds": round(took, 2), "bytes": size, "calls": len(trace["calls"]),
                  "forward_calls": sum(c["phase"] == "forward" for c in trace["calls"]),
                  "self_check_byte_exact": trace["self_check"]["byte_exact"]}
    return got


def summarize(results: dict) -> dict[str, dict]:
    per: dict[str, dict] = {}
    for c in results["cases"]:
        if c["module"] != "replay":
            continue
        model, rest = c["id"][len("replay["):-1].split("-", 1)
        m = per.setdefault(model, {"signatures": 0, "byte_exact": 0, "within_tolerance": 0, "diverging": 0,
                                   "missing": 0, "blocked": 0, "other": 0, "replay_ms": 0.0, "first_divergence": None})
        m["replay_ms"] += c.get("ms") or 0.0
        if rest == "chained":
            v = (c.get("observed") or {}).get("value") or {}
            m["first_divergence"] = v.get("first_divergence") if isinstance(v, dict) else None
            m["chained_outcome"] = c["raw_outcome"]
            continue
        if rest == "torch-attributes":
            m["attributes_outcome"] = c["raw_outcome"]
            continue
        m["signatures"] += 1
        raw = c["raw_outcome"]
        shown = (c.get("observed") or {}).get("display") or {}
        if raw == "PASS":
            m["byte_exact" if shown.get("exact") else "within_tolerance"] += 1
        elif raw == "FAIL":
            m["diverging"] += 1
        elif raw == "MISSING":
            m["missing"] += 1
        elif raw == "BLOCKED":
            m["blocked"] += 1
        else:
            m["other"] += 1
    for m in per.values():
        m["replay_ms"] = round(m["replay_ms"], 1)
    return per


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", action="append", default=[], help="NAME or NAME=BACKEND_PATH (repeatable)")
    ap.add_argument("--out", default="bench-replay")
    args = ap.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    env = _env(out / "models")
    report = {"recordings": record(out / "recordings", env), "targets": {}}
    for spec in ["torch"] + args.target:
        name, _, path = spec.partition("=")
        cmd = [sys.executable, "-m", "conformance", "run", "--target", name, "--oracle-cache", str(out / "oracle"),
               "--report-dir", str(out / f"run-{name}"), "-k", "replay"]
        if path:
            cmd += ["--backend-path", path]
        start = time.monotonic()
        subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True)
        took = time.monotonic() - start
        results = json.loads((out / f"run-{name}" / "results.json").read_text())
        report["targets"][spec] = {"wall_seconds": round(took, 1), "models": summarize(results)}
    (out / "replay.json").write_text(json.dumps(report, indent=1, sort_keys=True))
    for w, r in report["recordings"].items():
        print(f"record {w}: {r['seconds']} s, {r['bytes'] / 1024:.0f} KiB, {r['calls']} calls "
              f"({r['forward_calls']} in the forward pass), self-check byte-exact: {r['self_check_byte_exact']}")
    for t, r in report["targets"].items():
        print(f"target {t}: run -k replay {r['wall_seconds']} s (incl. the oracle recording for the first)")
        for model, m in sorted(r["models"].items()):
            fd = m["first_divergence"]
            where = "none" if not fd else f"call {fd['call']} {fd['api']} at {fd['at']} ({fd['kind']})"
            print(f"  {model}: {m['signatures']} signatures: {m['byte_exact']} byte-exact, {m['within_tolerance']} within "
                  f"tolerance, {m['diverging']} diverging, {m['missing']} missing, {m['blocked']} blocked"
                  f"{', ' + str(m['other']) + ' other' if m['other'] else ''}; replay {m['replay_ms']} ms; "
                  f"first divergence: {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
