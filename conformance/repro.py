"""Run one or more cases in this process and print what they observe, as JSON.

    python -m conformance.repro 'frombuffer[bfloat16-special]'                   # whatever `import torch` gives
    python -m conformance.repro --target pyborch 'frombuffer[bfloat16-special]'  # make a backend `torch` first
    python -m conformance.repro --target mindtorch_v2 --backend-path ~/mindnlp/src --sources 565a0d8a52cfadb0 ID

The report prints that last form for each row: ``--sources`` names the code the run used (a source tree's
digest, or ``name==version`` of an installed distribution), and repro refuses to run other code under it.

No worker process, no oracle cache, no judging: the point is a short loop for a backend author,
who can also step into the case with a debugger (``python -m pdb -m conformance.repro ...``).
Compare the printout with ``--target torch`` to see the oracle's side.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any

from . import backends
from .backends import identity
from .backends.base import RealTorchWatch, real_torch_dir
from .registry import load_catalog
from .worker import describe, run_case


class _Plain(backends.Backend):
    """No activation: the module that `import torch` finds on sys.path."""

    def __init__(self) -> None:
        super().__init__(name="(plain import torch)", how="plain `import torch`", uses_real_torch=None)

    def activate(self) -> None:
        pass


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m conformance.repro", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("case", nargs="+", help="case id(s), as in the report (quote the brackets in a shell)")
    ap.add_argument("--target", help="activate this backend first (torch, pyborch, mindtorch_v2, module:NAME)")
    ap.add_argument("--backend-path", action="append", default=[], help="folder put on sys.path for the backend")
    ap.add_argument("--sources", help="refuse unless the backend's code is this (run.target_spec.sources, as the "
                                      "report prints it)")
    args = ap.parse_args(argv)

    cases = load_catalog()
    unknown = [c for c in args.case if c not in cases]
    if unknown:
        print(f"error: unknown case id(s): {', '.join(unknown)} (see `python -m conformance list`)", file=sys.stderr)
        return 2
    torch_dir = real_torch_dir()
    try:
        backend = backends.resolve(args.target, args.backend_path) if args.target else _Plain()
        backend.locate()
        other = identity.differs(args.sources, identity.describe_sources(backend.package, backend.sys_path))
        if other:
            print(f"error: {other}: this would not reproduce the run's row (point --backend-path at the run's "
                  f"sources, or drop --sources to run these anyway)", file=sys.stderr)
            return 2
        backend.activate()
        torch = importlib.import_module("torch")
    except Exception as e:
        print(f"error: could not make `import torch` work: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    header = describe(backend, torch, bool(RealTorchWatch(torch_dir).new_modules()))
    out: dict[str, Any] = {"torch": header, "cases": []}
    for cid in args.case:
        c = cases[cid]
        out["cases"].append({"id": cid, "api": c.api, "origin": c.origin, "obs": run_case(cid, cases, torch)})
    print(json.dumps(out, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
