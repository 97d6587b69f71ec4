"""How fast, and how memory-hungry, is each safetensors loading path on each backend? (Not a test.)

    python benchmarks/bench_loading.py [--target pyborch] [--size-mb 300] [--repeat 3] [--json perf.json]

Generates checkpoints without torch (safetensors.numpy, fixed seed, LLM-like shapes): "mixed" (float16
layers, float32 embeddings and norms, as LLM checkpoints ship) and "float32" (for backends without
float16). Then, for each backend and loading path, runs one fresh Python process per
(backend, path, repeat). That process makes the backend `torch`, imports safetensors.torch, times the
load, then touches every tensor's bytes (a strided sum over `numpy()` of each tensor, every page),
and, untimed, checks a sha256 of every tensor's raw bytes against the file's bytes. It reports wall
seconds (load + touch), MB/s, peak RSS (ru_maxrss), RSS before and after, and whether the tensors'
data is mapped from the file (the checkpoint path appears in /proc/self/maps after the load) or
copied. A path that fails on a backend is recorded with its exception, not as an error of this script.

Ratios compare each backend with the oracle (torch) on the same path: time / oracle time, and
memory as (peak RSS - RSS before the load) / the oracle's. The file is in the page cache (it was just
written), so these are warm-cache numbers. `--json OUT` writes perf.json, which
`python -m conformance report --perf OUT` renders into perf.md (and index.html).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))   # run from a checkout: the kit itself

from conformance import backends  # noqa: E402
MiB = 2 ** 20
NUMPY_PATH = "safe_open(numpy)+from_numpy"
PATHS = ["load(bytes)", "load_file mmap", "load_file pread", NUMPY_PATH]
ORACLE = "torch"
CHECKPOINTS = {"mixed": "float16", "float32": "float32"}   # label -> dtype of the layers' weights


# ---------------------------------------------------------------- checkpoint (parent, no torch)

def checkpoint_spec(size_mb: float, half: str = "float16") -> list[tuple[str, tuple[int, ...], str]]:
    """(name, shape, dtype) of an LLM-like checkpoint of about size_mb MiB."""
    target = int(size_mb * MiB)
    hidden, inter = (1024, 4096) if size_mb >= 100 else (256, 1024)
    vocab = 32000 if size_mb >= 250 else max(64, int(0.4 * target / (hidden * 4)))
    spec = [("model.embed_tokens.weight", (vocab, hidden), "float32")]
    total = vocab * hidden * 4
    layer = [("self_attn.q_proj.weight", (hidden, hidden)), ("self_attn.k_proj.weight", (hidden, hidden)),
             ("self_attn.v_proj.weight", (hidden, hidden)), ("self_attn.o_proj.weight", (hidden, hidden)),
             ("mlp.up_proj.weight", (inter, hidden)), ("mlp.down_proj.weight", (hidden, inter))]
    layer_bytes = sum(a * b * (2 if half == "float16" else 4) for _, (a, b) in layer) + 2 * hidden * 4
    i = 0
    while total + layer_bytes <= target or i == 0:
        for name, shape in layer:
            spec.append((f"model.layers.{i}.{name}", shape, half))
        for norm in ("input_layernorm.weight", "post_attention_layernorm.weight"):
            spec.append((f"model.layers.{i}.{norm}", (hidden,), "float32"))
        total += layer_bytes
        i += 1
    spec.append(("model.norm.weight", (hidden,), "float32"))
    return spec


def generate(path: Path, size_mb: float, seed: int, half: str = "float16") -> None:
    import numpy as np
    from safetensors.numpy import save_file

    rng = np.random.default_rng(seed)
    tensors = {}
    for name, shape, dtype in checkpoint_spec(size_mb, half):
        if len(shape) == 1:
            tensors[name] = np.ones(shape, dtype=dtype) + rng.standard_normal(shape, dtype=np.float32).astype(dtype) * 0.01
        else:
            tensors[name] = (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(dtype)
    save_file(tensors, str(path))


def manifest_of(path: Path) -> dict:
    """name -> {shape, dtype, sha256} from the file's own bytes (header offsets), no torch."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        base = 8 + n
        out = {}
        for name, info in sorted(header.items()):
            if name == "__metadata__":
                continue
            start, end = info["data_offsets"]
            f.seek(base + start)
            out[name] = {"shape": info["shape"], "dtype": info["dtype"],
                         "sha256": hashlib.sha256(f.read(end - start)).hexdigest()}
    return out


# ---------------------------------------------------------------- one measurement (child process)

def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def child(backend: str, path: str, ckpt: str, manifest_file: str) -> dict:
    import gc
    import importlib
    import inspect
    import resource
    import time

    import numpy as np

    sys.path.insert(0, str(ROOT))
    from conformance.backends import resolve
    b = resolve(backend)
    b.locate()
    b.activate()
    import safetensors
    import torch
    from safetensors import safe_open

    out = {"backend_version": str(getattr(torch, "__version__", "?")), "torch_module": getattr(torch, "__file__", None),
           "safetensors": safetensors.__version__, "numpy": np.__version__}
    if path != NUMPY_PATH:      # the numpy path needs safe_open and torch.from_numpy only
        try:
            importlib.import_module("torch.nn")   # as model code does first (some backends need it)
        except Exception:  # noqa: BLE001 - then safetensors.torch's own import says what is missing
            pass
        try:
            import safetensors.torch as st
        except Exception as e:  # noqa: BLE001 - a backend that cannot import safetensors.torch is a result
            return {**out, "status": "failed", "stage": "import safetensors.torch",
                    "error": f"import safetensors.torch: {type(e).__name__}: {e}"[:500]}
        if path == "load_file pread" and "backend" not in inspect.signature(st.load_file).parameters:
            return {**out, "status": "n/a", "error": "this safetensors' load_file takes no backend="}
    gc.collect()
    out["rss_before_mib"] = _rss() / MiB
    stage = "load"
    try:
        t0 = time.perf_counter()
        if path == "load(bytes)":
            with open(ckpt, "rb") as f:
                data = f.read()
            sd = st.load(data)
            del data
        elif path == "load_file mmap":
            sd = st.load_file(ckpt)
        elif path == "load_file pread":
            sd = st.load_file(ckpt, backend="pread")
        elif path == NUMPY_PATH:
            with safe_open(ckpt, framework="numpy") as h:
                sd = {k: torch.from_numpy(h.get_tensor(k)) for k in h.keys()}
            del h
        else:
            raise ValueError(path)
        t1 = time.perf_counter()
        stage = "touch"
        arrays = {}
        acc = 0
        for k, t in sd.items():   # every page of every tensor, through numpy() on every backend
            a = np.ascontiguousarray(t.numpy()).reshape(-1).view(np.uint8)
            arrays[k] = a
            acc += int(a[::4096].sum(dtype=np.uint64)) + int(a[-1:].sum(dtype=np.uint64))
        t2 = time.perf_counter()
    except Exception as e:  # noqa: BLE001 - a failing path is a result
        return {**out, "status": "failed", "stage": stage, "error": f"{stage}: {type(e).__name__}: {e}"[:500]}
    gc.collect()
    with open("/proc/self/maps") as f:
        mapped = os.path.realpath(ckpt) in f.read()
    out.update(rss_after_mib=_rss() / MiB, peak_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
               load_s=t1 - t0, touch_s=t2 - t1, seconds=t2 - t0, data="mapped" if mapped else "copied")
    expected = json.loads(Path(manifest_file).read_text())
    wrong = []
    if sorted(sd) != sorted(expected):
        wrong.append(f"names differ: {sorted(set(sd) ^ set(expected))[:5]}")
    for k, a in arrays.items():
        e = expected.get(k)
        if e is None:
            continue
        if list(sd[k].shape) != e["shape"]:
            wrong.append(f"{k}: shape {list(sd[k].shape)} != {e['shape']}")
        elif hashlib.sha256(a).hexdigest() != e["sha256"]:
            dt = str(getattr(sd[k], "dtype", "?"))
            wrong.append(f"{k} ({dt}, file {e['dtype']}): {a.nbytes} bytes, differ from the file's")
    out["verified"] = not wrong
    out["status"] = "ok" if not wrong else "wrong"
    if wrong:
        out["error"] = "; ".join(wrong[:5])[:500]
    return out


# ---------------------------------------------------------------- orchestration (parent)

def run_one(backend: str, path: str, ckpt: Path, manifest: Path, timeout: float) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", backend, path, str(ckpt), str(manifest)]
    try:
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": "failed", "error": f"TimeoutExpired: more than {timeout:.0f} s"}
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        tail = (p.stderr or p.stdout).strip().splitlines()[-1:] or [f"exit {p.returncode}"]
        return {"status": "failed", "error": f"process exit {p.returncode}: {tail[0]}"[:500]}
    return json.loads(lines[-1])


def summarize(backend: str, path: str, runs: list[dict], size: int) -> dict:
    ok = [r for r in runs if r.get("status") == "ok"]
    best = min(ok, key=lambda r: r["seconds"]) if ok else runs[0]
    row = {"backend": backend, "path": path, "status": best.get("status"), "runs": runs}
    for key in ("error", "data", "verified", "backend_version"):
        if key in best:
            row[key] = best[key]
    if ok:
        row.update({k: round(best[k], 4) for k in ("load_s", "touch_s", "seconds")})
        row.update({k: round(best[k], 1) for k in ("peak_mib", "rss_before_mib", "rss_after_mib")})
        row["peak_delta_mib"] = round(best["peak_mib"] - best["rss_before_mib"], 1)
        row["mb_s"] = round(size / MiB / best["seconds"], 1)
    return row


def add_ratios(rows: list[dict]) -> None:
    oracle = {(r["checkpoint"], r["path"]): r for r in rows if r["backend"] == ORACLE and r["status"] == "ok"}
    for r in rows:
        o = oracle.get((r["checkpoint"], r["path"]))
        if r["status"] == "ok" and o:
            r["time_ratio"] = round(r["seconds"] / o["seconds"], 2)
            r["mem_ratio"] = round(r["peak_delta_mib"] / o["peak_delta_mib"], 2) if o["peak_delta_mib"] > 0 else None


def table(perf: dict) -> str:
    head = f"{'checkpoint':<10} {'backend':<14} {'path':<28} {'status':<7} {'s':>7} {'MB/s':>8} {'peak MiB':>9} {'Δ MiB':>7} {'data':<7} {'t/oracle':>8} {'mem/oracle':>10}"
    lines = [head, "-" * len(head)]
    for r in perf["rows"]:
        if r["status"] != "ok":
            msg = " ".join(r.get("error", "").split())
            lines.append(f"{r['checkpoint']:<10} {r['backend']:<14} {r['path']:<28} {r['status']:<7} {msg[:90]}")
            continue
        tr = f"{r['time_ratio']:.2f}x" if r.get("time_ratio") is not None else "-"
        mr = f"{r['mem_ratio']:.2f}x" if r.get("mem_ratio") is not None else "-"
        lines.append(f"{r['checkpoint']:<10} {r['backend']:<14} {r['path']:<28} {r['status']:<7} {r['seconds']:>7.3f} {r['mb_s']:>8.0f} "
                     f"{r['peak_mib']:>9.1f} {r['peak_delta_mib']:>7.1f} {r['data']:<7} {tr:>8} {mr:>10}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", action="append", help="backends to time (default: torch and pyborch, "
                    "plus mindtorch_v2 when its sources are found); the oracle torch is always included")
    ap.add_argument("--path", action="append", choices=PATHS, help="loading paths (default: all)")
    ap.add_argument("--size-mb", type=float, default=300, help="checkpoint size in MiB (default 300)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--checkpoint", action="append", choices=list(CHECKPOINTS),
                    help="mixed: float16 layers and float32 embeddings/norms, as LLM checkpoints ship; "
                         "float32: everything float32, for backends without float16 (default: both)")
    ap.add_argument("--repeat", type=int, default=3, help="fresh processes per (backend, path); best time kept")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per process")
    ap.add_argument("--workdir", help="where the checkpoint goes (default: a temp folder, removed after)")
    ap.add_argument("--json", help="write the raw numbers here (perf.json, for `conformance report --perf`)")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        print(json.dumps(child(*args.child)))
        return 0

    targets = args.target or ["torch", "pyborch"] + (["mindtorch_v2"] if backends.available("mindtorch_v2") else [])
    if ORACLE not in targets:
        targets = [ORACLE] + targets
    paths = args.path or PATHS
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bench-loading-"))
    work.mkdir(parents=True, exist_ok=True)
    rows, checkpoints = [], {}
    for label in args.checkpoint or list(CHECKPOINTS):
        half = CHECKPOINTS[label]
        ckpt = work / f"bench-{args.size_mb:g}mb-seed{args.seed}-{half}.safetensors"
        if not ckpt.exists():
            generate(ckpt, args.size_mb, args.seed, half)
        manifest = work / (ckpt.name + ".manifest.json")
        man = manifest_of(ckpt)
        manifest.write_text(json.dumps(man))
        size = ckpt.stat().st_size
        checkpoints[label] = {"bytes": size, "tensors": len(man), "dtypes": sorted({m["dtype"] for m in man.values()}),
                              "seed": args.seed, "size_mb": args.size_mb,
                              "largest": max(man.items(), key=lambda kv: _numel(kv[1]["shape"]))[0]}
        for backend in targets:
            for path in paths:
                runs = [run_one(backend, path, ckpt, manifest, args.timeout) for _ in range(max(1, args.repeat))]
                rows.append({"checkpoint": label, **summarize(backend, path, runs, size)})
                print(f"  {label} / {backend} / {path}: {rows[-1]['status']}", file=sys.stderr, flush=True)
    add_ratios(rows)

    import numpy
    import safetensors
    perf = {"kind": "torch-conformance loading benchmark", "format": 2, "oracle": ORACLE, "repeat": args.repeat,
            "checkpoints": checkpoints,
            "environment": {"python": sys.version.split()[0], "platform": platform.platform(), "cores": os.cpu_count(),
                            "safetensors": safetensors.__version__, "numpy": numpy.__version__,
                            "backends": {r["backend"]: r.get("backend_version") for r in rows if r.get("backend_version")}},
            "rows": rows}
    for label, c in checkpoints.items():
        print(f"checkpoint {label}: {c['bytes'] / MiB:.1f} MiB, {c['tensors']} tensors ({', '.join(c['dtypes'])}), "
              f"seed {args.seed}")
    print(f"{os.cpu_count()} cores, Python {perf['environment']['python']}, safetensors {safetensors.__version__}; "
          f"best of {args.repeat} fresh process(es), warm page cache\n")
    print(table(perf))
    print("\ns = load + touch every page; Δ MiB = peak RSS - RSS before the load; data = mapped from the file "
          "(path in /proc/self/maps after the load) or copied; ratios are against torch on the same checkpoint and path")
    if args.json:
        Path(args.json).write_text(json.dumps(perf, indent=1, sort_keys=True) + "\n")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _numel(shape: list[int]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n



if __name__ == "__main__":
    sys.exit(main())
