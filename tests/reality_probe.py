"""What a user of a backend sees when calling safetensors for real: run in a process of its own.

    python tests/reality_probe.py --target pyborch [--backend-path DIR]

For every dtype both torch and the target have, as a 2x3 tensor and as a 0-d one, it calls what users call
(save_file, load(bytes), load_file with and without mmap, safe_open(...).get_tensor / get_slice) and prints one JSON object:
{entry point: {probe: digest}}, where a digest is the produced file's sha256 (save) or the loaded tensor's
dtype, shape and byte hash, or the exception class. tests/test_reality.py runs it under the oracle and a
target and holds the kit's entry-point verdicts against what it finds. Inputs are built and results read
through the kit's validated routes (conformance/routes.py), never by asking the backend to convert values.

With ``--calls`` each digest comes with the torch calls the user's call made, recorded at the torch boundary
(conformance/calls.py, as the kit's workers record a case): ``{"digest", "calls", "raised"}``. The first call
of the target's log that diverges from the oracle's (``first_failing_call``) is the cause a real safetensors
call hits first, which tests/test_reality.py holds the kit's headline cause against.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib
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


RECORD: dict = {}      # {"log": the CallLog} when --calls: every user call is recorded
IMPORT = "import safetensors.torch"
ENTRY_POINTS = ("save", "load(bytes)", "safe_open(pt)")
IMPORTED = "imported"


def _attempt(call, read=lambda r: r) -> "str | dict":
    """``read(call())``, or ``raises <builtin class>``; only ``call`` (the user's own call) is recorded."""
    log = RECORD.get("log")
    raised = None
    if log is not None:
        log.start()
    try:
        failed = None
        try:
            result = call()
        except BaseException as e:
            failed = e
            raise
        finally:
            # what the call raised settles its misses, as the kit's worker does: the one that ended it stays
            # MISSING, the others (getattr(torch, "float8_e4m3fn", None) at import) were survived, GUARDED
            entries = log.stop(failed) if log is not None else None
        from conformance import calls
        with calls.paused():
            digest = read(result)
    except Exception as e:
        base = next((c for c in type(e).__mro__ if c.__module__ == "builtins"), Exception)
        digest, raised = f"raises {base.__name__}", f"{type(e).__name__}: {str(e)[:200]}"
        if log is not None:
            from conformance import calls
            raised = {"message": raised, "in": getattr(e, calls.API_ATTR, None),
                      "on": _producer(calls.raised_on(e, log), entries)}
    if log is None:
        return digest
    return {"digest": digest, "calls": entries, "raised": raised}


def _producer(index, entries) -> "str | None":
    return entries[index][0] if index is not None and entries and 0 <= index < len(entries) else None


def digest_of(value) -> str:
    """A probe's digest, with or without its calls."""
    return value["digest"] if isinstance(value, dict) else value


def first_failing_call(oracle: "str | dict", target: "str | dict", oracle_import: "dict | None" = None) -> str:
    """The first torch call of the target's user call that diverges from the oracle's (conformance/divergence.py),
    for a probe whose digests differ; else the call an exception outside any call was raised on, else where
    it was raised, else ``unisolated``. A miss the call survived (``calls.GUARDED``, settled by what it raised:
    ``_attempt``) is the cause only where nothing else diverges. A probe that is the failed
    ``import safetensors.torch`` is held against the oracle's import (``oracle_import``)."""
    from conformance.calls import MISSING, READ
    from conformance.compare import _missing_attribute, same_api
    from conformance.divergence import first_divergence

    if target.get("input"):
        return f"input not built (by {target['input']})"
    # The attribute the user's AttributeError names, read as missing, failed the call; a wrong value read
    # before it is still the cause (paddle's Tensor.layout 'NCHW' before the missing torch.strided).
    log = target["calls"]
    raised = target.get("raised") or {}
    named = _missing_attribute(raised.get("message", "").split(": ", 1)[-1])
    at = next((i for i, e in enumerate(log) if named and e[1] == MISSING and e[2] == READ and same_api(e[0], named)),
              None)
    theirs = oracle_import if target.get("during") == IMPORT and oracle_import else oracle
    found = first_divergence(theirs["calls"], log)
    if found is not None and (at is None or found["index"] < at):
        return found["api"]
    if at is not None:      # the oracle's reads of classes are not logged: the named read is the cause anyway
        return named
    if found is not None:
        return found["api"]
    return raised.get("on") or raised.get("in") or "unisolated"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)
    ap.add_argument("--backend-path", action="append", default=[])
    ap.add_argument("--calls", action="store_true", help="record each user call's torch calls")
    ap.add_argument("--torch-version", help="the oracle as safetensors sees a backend of this torch.__version__ "
                    "(its loading path), as the kit records it for a target on another path")
    ap.add_argument("--active", action="store_true",
                    help="`import torch` already means the target (run under `python -m conformance exec`)")
    args = ap.parse_args(argv)
    from conformance import backends
    from conformance.observe import Context

    if not args.active:
        backends.resolve(args.target, args.backend_path).activate()
    import torch
    if args.torch_version:
        torch.__version__ = args.torch_version
    try:
        import torch.nn  # noqa: F401   (model code imports it before safetensors.torch)
    except ImportError:
        pass
    import safetensors

    from conformance.catalog._st_support import accepts

    ctx = Context(torch)
    if args.calls:
        from conformance import calls
        from conformance.digest import Digest

        digest = Digest(Context(torch, ctx.routes))
        log = calls.CallLog(digest.result, digest.given, None, digest.forget)
        calls.install(torch, log)
        RECORD["log"] = log
    # save, load and load_file are reached through `import safetensors.torch`, which a backend can fail
    # (a dtype its import-time tables need): then each of their probes is that import's failure
    imported = _attempt(lambda: importlib.import_module("safetensors.torch"), lambda module: IMPORTED)
    st = sys.modules.get("safetensors.torch") if digest_of(imported) == IMPORTED else None
    if st is None and isinstance(imported, dict):
        imported["during"] = IMPORT
    out: dict[str, dict] = {"save": {}, "load(bytes)": {}, "safe_open(pt)": {}, IMPORT: {"import": imported}}
    # without the module, which probes exist is the oracle's business: each gives the import's failure
    pread = accepts(st.load_file, "backend") if st is not None else True
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
                why = f"input not built ({type(e).__name__})"
                for ep in ENTRY_POINTS:     # the kit's routes could not make the tensor: no user call was made
                    out[ep][probe] = {"digest": why, "calls": [], "raised": None,
                                      "input": getattr(e, "api", type(e).__name__)} if RECORD else why
                continue
            path = os.path.join(work, f"{probe}.safetensors")

            def saved(_) -> str:
                with open(path, "rb") as f:
                    return hashlib.sha256(f.read()).hexdigest()[:16]
            failed = out[IMPORT]["import"] if st is None else None
            out["save"][probe] = failed or _attempt(lambda: st.save_file({"t": t}, path), saved)
            # loading reads a file the kit writes without torch, byte-identical to safetensors' own
            write_st(path, [("t", name, shape, spec.raw())])
            with open(path, "rb") as f:
                data = f.read()
            read = lambda loaded: _digest(ctx, loaded["t"])     # noqa: E731
            out["load(bytes)"][probe] = failed or _attempt(lambda: st.load(data), read)
            out["safe_open(pt)"][f"load_file {probe}"] = failed or _attempt(lambda: st.load_file(path), read)
            if pread:       # the same entry point without mmap (safetensors 0.8.0 on)
                out["safe_open(pt)"][f"load_file(backend=pread) {probe}"] = failed or _attempt(
                    lambda: st.load_file(path, backend="pread"), read)

            def get(slice_: bool):
                with safetensors.safe_open(path, framework="pt") as f:
                    return {"t": f.get_slice("t")[0:1] if slice_ else f.get_tensor("t")}
            out["safe_open(pt)"][f"get_tensor {probe}"] = _attempt(lambda: get(False), read)
            if shape:
                out["safe_open(pt)"][f"get_slice[0:1] {probe}"] = _attempt(lambda: get(True), read)


if __name__ == "__main__":
    sys.exit(main())
