"""``python -m conformance trace``: record a workload under real PyTorch and say what replay can use.

    python -m conformance trace                                  # the three built-in workloads (cached)
    python -m conformance trace --workload gpt2 --out DIR        # one of them, into DIR
    python -m conformance trace -- python my_script.py ARGS      # your own script, into ./trace-my_script
    python -m conformance trace --out DIR -- python my_script.py    # ... into DIR
    python -m conformance trace --update-signatures              # rewrite catalog/_replay_signatures.py

Recording runs in a subprocess with real torch; after it the recording is replayed there once more,
on real torch, and must reproduce itself byte for byte (else it is reported as unusable).
"""
from __future__ import annotations

import importlib.util
import shutil
import sys
import time
from collections import Counter
from pathlib import Path
from . import cache, rules, signatures
from .store import Recording, TraceError


class UsageError(Exception):
    """A mistake on the command line: one line, no traceback."""


def summary(folder: Path, seconds: float | None = None) -> str:
    rec = Recording(folder)
    calls = rec.calls
    phases = Counter(c["phase"] for c in calls)
    sigs = signatures.by_signature(calls, signatures.replayed_phases(calls) or ("forward",))
    blocked = Counter(f"{rules.short_name(c['api'])}: {rules.not_replayable(c)}" for c in calls
                      if rules.not_replayable(c))
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    check = rec.data.get("self_check", {})
    lines = [f"{folder}: workload {rec.data['workload']}, torch {rec.data['torch']}, "
             f"transformers {rec.data.get('transformers')}",
             f"  {len(calls)} calls ({', '.join(f'{n} {p}' for p, n in phases.items())}), "
             f"{len({c['api'] for c in calls})} distinct APIs, {len(sigs)} replayable (name, dtype, rank) signatures"
             + (" in the forward pass" if "forward" in phases else ""),
             f"  stored: {size / 1024:.0f} KiB ({len(list((folder / 'blobs').glob('*.bin')))} tensor blobs)"
             + (f"; recorded in {seconds:.1f} s" if seconds is not None else ""),
             "  replay on real torch: " + ("byte-exact" if check.get("byte_exact") else
                                           f"NOT byte-exact, unusable: {check.get('error', 'not checked')}")]
    attrs = {k: v for k, v in rec.data.get("attributes", {}).items() if v["kind"] not in ("callable", "class", "module")}
    if attrs:
        lines.append(f"  torch attributes read (no TorchFunctionMode sees them): {', '.join(sorted(attrs))}")
    if blocked:
        lines.append("  not replayable:")
        lines += [f"    {n} x {why}" for why, n in sorted(blocked.items())]
    lines.append("  signatures: " + ", ".join(f"{n}-{d}-{r}d" for n, d, r in sorted(sigs)))
    return "\n".join(lines)


def record_into(out: Path, tail: list[str]) -> float:
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"--out {out} exists and is not empty; give a new folder")
    out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    proc = cache.record(tail, out, timeout=3600)
    took = time.monotonic() - start
    if proc.returncode != 0 or not (out / "trace.json").is_file():
        raise UsageError(f"recording failed (exit {proc.returncode}): "
                         + ((proc.stderr or proc.stdout).strip().splitlines() or ["no output"])[-1])
    return took


def update_signatures() -> Path:
    from ..dists import dist_version
    versions = {"torch": dist_version("torch"), "transformers": dist_version("transformers")}
    tables = {w: signatures.table(Recording(cache.ensure_recording(w))) for w in cache.WORKLOADS}
    path = Path(__file__).resolve().parents[1] / "catalog" / "_replay_signatures.py"
    path.write_text(signatures.render(tables, versions))
    return path


def run(workloads: list[str], out: str | None, script: list[str], update: bool) -> int:
    try:
        if update:
            print(f"wrote {update_signatures()}")
            return 0
        if script:
            if Path(script[0]).name.startswith("python"):    # `-- python my_script.py`: the script is next
                script = script[1:]
            if not script:
                raise UsageError("nothing to run after --; e.g. -- python my_script.py")
            target = Path(script[0])
            if not target.is_file():
                raise UsageError(f"no such script: {target}")
            folder = Path(out) if out is not None else Path(f"trace-{target.stem}")
            if out is None and (folder / "trace.json").is_file():
                shutil.rmtree(folder)       # the default folder holds this script's previous recording
            took = record_into(folder, ["--", *script])
            print(summary(folder, took))
            label = Recording(folder).label
            if label != f"script-{target.stem}":
                print(f"  case ids: replay[{label}-...] (the script's name, with what case ids cannot hold made '_')")
            return 0
        for w in workloads or list(cache.WORKLOADS):
            if w not in cache.WORKLOADS:
                raise UsageError(f"unknown workload {w!r}; built-in: {', '.join(cache.WORKLOADS)}")
            if importlib.util.find_spec("transformers") is None:
                raise UsageError("the built-in workloads need transformers: pip install transformers==4.57.6 "
                                 "huggingface_hub==0.36.2 tokenizers==0.22.2")
            if out is not None:
                folder = Path(out) / w
                took: float | None = record_into(folder, ["--workload", w])
            else:
                start = time.monotonic()
                folder = cache.ensure_recording(w)
                took = time.monotonic() - start
            print(summary(folder, took))
        return 0
    except (UsageError, TraceError, ValueError) as e:
        lines = [line for line in str(e).strip().splitlines() if line.strip()] or [type(e).__name__]
        # one line: the failure, and the recorder's last words when it died
        print(f"error: {lines[0]}" + (f" ... {lines[-1].strip()}" if len(lines) > 1 else ""), file=sys.stderr)
        return 2

