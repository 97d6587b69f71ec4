"""The run's options, declared once: ``python -m conformance run`` and the pytest plugin both read this
table, so the two can never drift (each option has one spelling, one help text and one default)."""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Option:
    flag: str
    help: str
    kind: str = "value"            # value | flag | append | seconds
    default: Any = None
    metavar: str | None = None
    env: str | None = None         # where the default comes from when the flag is not given

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    def default_value(self) -> Any:
        if self.env and os.environ.get(self.env):
            return True if self.kind == "flag" else os.environ[self.env]
        return [] if self.kind == "append" else self.default


RUN = (
    Option("--target", "backend under test: torch, mindtorch_v2, pyborch, module:NAME, or a plugin's name",
           env="CONFORMANCE_TARGET"),
    Option("--backend-path", "folder prepended to sys.path in the target (e.g. a MindNLP src/ folder)", "append"),
    Option("--report-dir", "write results.json, index.html, checklist.md and junit.xml here"),
    Option("--expectations", "the target's expectations file (known failures with reasons)"),
    Option("--case-timeout", "seconds before a case is TIMEOUT (default 30)", "seconds", 30.0),
    Option("--oracle-cache", "where oracle records are cached (default ~/.cache/torch-conformance/oracle)"),
    Option("--rebuild-oracle", "record the oracle again, ignoring the cache", "flag", False),
    Option("--perf", "benchmarks/bench_loading.py --json output: carried into results.json and index.html "
           "(informational, never part of the gate)", metavar="PERF_JSON"),
    Option("--baseline", "an earlier run's report dir (or results.json): the report adds what changed since",
           metavar="DIR"),
    Option("--case-order", "the order cases run in (default: catalog order); results must not depend on it",
           default="catalog", metavar="catalog|reverse|shuffle:SEED"),
    Option("--surface", "with --report-dir: also trace the torch API surface safetensors uses (DIR/surface.json)",
           "flag", False),
    Option("--require-sandbox", "stop, instead of running unsandboxed, when the target's sandbox (bubblewrap) "
           "cannot be made", "flag", False),
    Option("--no-sandbox", "run the target without its sandbox (real torch then stays findable; the run header "
           "says so)", "flag", False),
    Option("--skip-snippet-check", "with --report-dir: do not run the checklist's snippets under PyTorch and the "
           "target (the checklist then shows each snippet marked not run)", "flag", False,
           env="CONFORMANCE_SKIP_SNIPPET_CHECK"),
    Option("--target-uses-torch", "a module:NAME target that is built on real PyTorch (a wrapper, a mutant): its "
           "sandbox keeps torch; without this a module target never sees real torch", "flag", False,
           env="CONFORMANCE_TARGET_USES_TORCH"),
)


def add_to_pytest(group: Any) -> None:
    for o in RUN:
        kw: dict[str, Any] = {"help": o.help + (f" (default: ${o.env})" if o.env else ""), "default": o.default_value()}
        if o.kind == "flag":
            kw["action"] = "store_true"
        elif o.kind == "append":
            kw["action"] = "append"
        elif o.kind == "seconds":
            kw["type"] = float
        if o.metavar:
            kw["metavar"] = o.metavar
        group.addoption(o.flag, **kw)


def add_to_argparse(parser: argparse.ArgumentParser, seconds: Callable[[str], float]) -> None:
    """The same options on ``run``; a value not given is left to the plugin's default (None here)."""
    for o in RUN:
        kw: dict[str, Any] = {"help": o.help}
        if o.kind == "flag":
            kw["action"] = "store_true"
        elif o.kind == "append":
            kw.update(action="append", default=[])
        elif o.kind == "seconds":
            kw["type"] = seconds
        if o.metavar:
            kw["metavar"] = o.metavar
        if o.flag == "--target":
            kw["required"] = True
        parser.add_argument(o.flag, **kw)


def to_pytest_args(ns: argparse.Namespace) -> list[str]:
    """The options given on the command line, spelled for pytest."""
    out: list[str] = []
    for o in RUN:
        value = getattr(ns, o.dest, None)
        if o.kind == "flag":
            out += [o.flag] if value else []
        elif o.kind == "append":
            for v in value or []:
                out += [o.flag, str(v)]
        elif value is not None:
            out += [o.flag, str(value)]
    return out
