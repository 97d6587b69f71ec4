"""What a user of a backend sees when calling safetensors for real: run in a process of its own.

    python tests/reality_probe.py --target pyborch [--backend-path DIR]

For every dtype both torch and the target have, as a 2x3 tensor and as a 0-d one, it calls what users call
(save_file, load(bytes), load_file with and without mmap, safe_open(...).get_tensor / get_slice) and prints one JSON object:
{entry point: {probe: digest}}, where a digest is the produced file's sha256 (save) or the loaded tensor's
dtype, shape and byte hash, or the exception class. tests/test_reality.py runs it under the oracle and a
target and holds the kit's entry-point verdicts against what it finds. Inputs are built and results read
through the kit's validated routes (conformance/routes.py), never by asking the backend to convert values.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile

# (dtype, shape): a 2x3 tensor of the dtype's special values, and a 0-d one for float32
SHAPES = ((2, 3),)
ZERO_D = ("float32",)


def _digest(ctx, t) -> str:
    obs = ctx.tensor(t)
    return f"{obs['dtype']} {obs['shape']} {hashlib.sha256(obs['bytes'].encode()).hexdigest()[:16]}"


def _attempt(fn) -> str:
    try:
        return fn()
    except Exception as e:
        base = next((c for c in type(e).__mro__ if c.__module__ == "builtins"), Exception)
        return f"raises {base.__name__}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)
    ap.add_argument("--backend-path", action="append", default=[])
    args = ap.parse_args(argv)
    from conformance import backends
    from conformance.observe import Context

    backends.resolve(args.target, args.backend_path).activate()
    import torch
    try:
        import torch.nn  # noqa: F401   (model code imports it before safetensors.torch)
    except ImportError:
        pass
    import safetensors
    import safetensors.torch as st

    from conformance.catalog._st_support import accepts

    ctx = Context(torch)
    pread = accepts(st.load_file, "backend")
    out: dict[str, dict[str, str]] = {"save": {}, "load(bytes)": {}, "safe_open(pt)": {}}
    with tempfile.TemporaryDirectory(prefix="conformance-reality-") as work:
        _probe_all(ctx, torch, st, safetensors, pread, work, out)
    print(json.dumps(out, sort_keys=True))
    return 0


def _probe_all(ctx, torch, st, safetensors, pread: bool, work: str, out: dict) -> None:
    from conformance.catalog._st_support import write_st
    from conformance.dtypes import DTYPE_NAMES, DTYPES
    from conformance.inputs import TensorInput

    for name in DTYPE_NAMES:
        if not hasattr(torch, name) or DTYPES[name].optional:
            continue
        for shape in SHAPES + (((),) if name in ZERO_D else ()):
            probe = f"{name}{list(shape)}"
            spec = TensorInput(name, shape, tuple(DTYPES[name].value_sets["special"]))
            try:
                t = ctx.input(spec)
            except Exception as e:
                for ep in out:
                    out[ep][probe] = f"input not built ({type(e).__name__})"
                continue
            path = os.path.join(work, f"{probe}.safetensors")

            def save() -> str:
                st.save_file({"t": t}, path)
                with open(path, "rb") as f:
                    return hashlib.sha256(f.read()).hexdigest()[:16]
            out["save"][probe] = _attempt(save)
            # loading reads a file the kit writes without torch, byte-identical to safetensors' own
            write_st(path, [("t", name, shape, spec.raw())])
            with open(path, "rb") as f:
                data = f.read()
            out["load(bytes)"][probe] = _attempt(lambda: _digest(ctx, st.load(data)["t"]))
            out["safe_open(pt)"][f"load_file {probe}"] = _attempt(lambda: _digest(ctx, st.load_file(path)["t"]))
            if pread:       # the same entry point without mmap (safetensors 0.8.0 on)
                out["safe_open(pt)"][f"load_file(backend=pread) {probe}"] = _attempt(
                    lambda: _digest(ctx, st.load_file(path, backend="pread")["t"]))

            def get(slice_: bool) -> str:
                with safetensors.safe_open(path, framework="pt") as f:
                    return _digest(ctx, f.get_slice("t")[0:1] if slice_ else f.get_tensor("t"))
            out["safe_open(pt)"][f"get_tensor {probe}"] = _attempt(lambda: get(False))
            if shape:
                out["safe_open(pt)"][f"get_slice[0:1] {probe}"] = _attempt(lambda: get(True))


if __name__ == "__main__":
    sys.exit(main())
