"""``python -m conformance``: run the suites, rewrite expectations, re-render reports, list cases."""
from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

from . import options

# What a command needs is imported by that command: `exec` runs before each of the checklist's snippets, and the
# report renderers (numpy, jinja2) or pytest would be a fifth of its time.


USAGE = 4    # as pytest's ExitCode.USAGE_ERROR: the user's mistake, told in one line


class UsageError(Exception):
    pass


def _run(args: argparse.Namespace, extra: list[str]) -> int:
    import pytest

    from .registry import catalog_dir

    if args.replay:       # the catalog reads it at import, in this process and in the workers it starts
        if not (Path(args.replay) / "trace.json").is_file():
            print(f"error: --replay {args.replay}: no recording there (make one with "
                  "`python -m conformance trace --out DIR -- python SCRIPT`)", file=sys.stderr)
            return USAGE
        from .trace.store import Recording, TraceError
        try:
            Recording(Path(args.replay)).check_blobs()   # a crafted file or blob is one line, not a traceback
        except TraceError as e:
            print(f"error: --replay {args.replay}: {e}", file=sys.stderr)
            return USAGE
        os.environ["CONFORMANCE_REPLAY"] = str(Path(args.replay).resolve())

    # Only the plugins the suites need: whatever else is installed (hypothesis, benchmark, ...) would
    # cost every run up to a second of imports and hooks. `-p NAME` after the options adds one back.
    os.environ.setdefault("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    # --assert=plain: the catalog has no asserts to rewrite, and rewriting the kit's modules costs ~1 s a run.
    # no:unraisableexception: cases run in the target process, so there is nothing for it to catch here,
    # and its gc.collect() passes at the end cost ~0.4 s. Likewise output capture, log capture and
    # warning capture around each of a case's three phases (~0.35 s of CPU a run): the kit's
    # process prints, logs and warns nothing per case; the target's output goes to its own log.
    argv = [str(catalog_dir()), "-p", "conformance.plugin", "-p", "no:cacheprovider", "--assert=plain",
            "-p", "no:unraisableexception", "-p", "no:logging", "-p", "no:warnings", "--capture=no",
            "--rootdir", str(catalog_dir().parent), *options.to_pytest_args(args)]
    if args.numprocesses:
        argv += ["-p", "xdist.plugin", "-n", args.numprocesses]
    argv += ["-q", "-rN"] + extra
    try:
        return int(pytest.main(argv))
    except KeyboardInterrupt:       # a second Ctrl-C after pytest put the kit's handlers back: the run has ended
        return int(pytest.ExitCode.INTERRUPTED)


def _expectations(args: argparse.Namespace) -> int:
    from . import expectations as expect, results as res
    from .expectations_update import update
    from .registry import load_catalog

    data = res.load(Path(args.results))
    path = Path(args.file)
    run = data["run"]
    if not args.force:
        if run.get("interrupted") or run.get("partial"):
            raise UsageError(f"{args.results} is from a run that did not finish, so cases that did not run would "
                             "lose nothing but cases that ran half way could mislead; re-run, or pass --force "
                             "(entries whose cases did not run are kept either way)")
        if not data["cases"]:
            raise UsageError(f"{args.results} holds no case results (did -k select nothing?); nothing to rewrite "
                             f"{path} from. Pass --force to rewrite it anyway")
    old = expect.Expectations.load(path) if path.exists() else expect.Expectations.empty()
    notes = expect.notes_of(expect.read_text(path)) if path.exists() else []
    up = update(data["cases"], old, run.get("target") or "?", notes, catalog_ids=load_catalog())
    for change in up.changes:
        print(str(change))
    if up.new_failures and not args.accept_new:
        raise UsageError(f"{len(up.new_failures)} new failure(s) above are not in {path}; {path} is unchanged. "
                         "Fix them, or pass --accept-new to take them in as known failures (reasons marked "
                         f"{'TRIAGE:'} to replace with the real cause)")
    try:
        expect.Expectations.parse(up.text, str(path))     # never write a file the kit would refuse to read
    except expect.ExpectationsError as e:
        raise UsageError(f"{path} is unchanged: the rewrite would not read back ({e}); the case ids above cannot "
                         "be expectations entries") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    res.write_atomic(path, up.text)
    print(f"wrote {path}: {up.entries} entries from {len(data['cases'])} results in {args.results}; "
          f"{len(up.changes)} change(s); kept {up.kept_not_run} entries whose cases did not run")
    return 0


def _report(args: argparse.Namespace) -> int:
    from . import render
    from .render import perf as perf_report

    date = None
    if args.date is not None:   # reports carry no date unless asked: same results, same bytes
        date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if args.date == "now" else args.date
    report = render.load(args.results, date=date, baseline=args.baseline)
    out = Path(args.out or Path(args.results[0]).parent)
    perf = perf_report.load(args.perf) if args.perf else None   # else what the results carry, if anything
    written = render.write_all(report, out, perf=perf)
    print(f"wrote {', '.join(str(p) for p in written.values())} from {', '.join(args.results)}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from .render import progress

    p = progress.compare(progress.load(args.old), progress.load(args.new), str(args.old), str(args.new))
    print(progress.text(p, limit=progress.IDS_SHOWN if args.limit is None else args.limit), end="")
    if args.fail_on_new and p.newly_failing:
        print(f"{len(p.newly_failing)} row(s) newly fail in {args.new} (--fail-on-new)", file=sys.stderr)
        return 1
    return 0


def _non_negative(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"not a count (0 or more): {text!r}")
    return int(text)


def _record(args: argparse.Namespace) -> int:
    from .observe import KIT_ERROR
    from .cachedir import default_root
    from .oracle_cache import OracleCache, cache_key, ensure_recorded
    from .registry import catalog_digest, load_catalog

    cache = OracleCache(Path(args.oracle_cache or default_root()), cache_key(catalog_digest()))
    if args.rebuild_oracle:
        cache.clear()
    records, hello = ensure_recorded(cache, list(load_catalog()), args.case_timeout)
    for w in cache.warnings:
        print(f"warning: {w}", file=sys.stderr)
    errors = sum(1 for r in records.values() if KIT_ERROR in r)
    print(f"oracle {hello['module']} {hello['version']}: {len(records)} records in {cache.dir}"
          + (f" ({errors} could not be recorded)" if errors else ""))
    return 1 if errors else 0


def _trace(args: argparse.Namespace, script: list[str]) -> int:
    from .trace import command

    return command.run(args.workload, args.out, script, args.update_signatures)


def _list(args: argparse.Namespace) -> int:
    from .registry import load_catalog

    for c in load_catalog().values():
        print(f"{c.id}\t{c.api}\t{c.origin}")
    return 0


def _seconds(text: str) -> float:
    from .guard import GuardError, positive_seconds

    try:
        return positive_seconds(float(text))
    except (ValueError, GuardError) as e:
        raise argparse.ArgumentTypeError(str(e) if isinstance(e, GuardError) else f"not a number: {text!r}")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        """One line and the usage exit code (argparse's own prints the whole usage and exits 2)."""
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        sys.exit(USAGE)


def _exec(args: argparse.Namespace) -> int:
    """A user's Python run with ``import torch`` meaning the target, in the target's sandbox, as the
    kit's workers run (conformance/activate.py)."""
    import subprocess
    import tempfile

    from . import backends, sandbox
    from .backends import identity
    from .backends.base import from_caller
    from .cachedir import default_root

    command = args.command[1:] if args.command[:1] == ["--"] else list(args.command)
    if not command or os.path.basename(command[0]) not in ("python", "python3", os.path.basename(sys.executable)):
        raise UsageError("exec runs a Python command: python -m conformance exec --target T -- python FILE [ARGS]")
    try:
        backend = backends.resolve(args.target, [from_caller(p) for p in args.backend_path])
        backend.locate()
    except backends.BackendError as e:
        raise UsageError(str(e)) from None
    other = identity.differs(args.sources, identity.describe_sources(backend.package, backend.sys_path))
    if other:
        raise UsageError(f"{other}: this would not run the run's backend (point --backend-path at the run's "
                         "sources, or drop --sources)")
    if backend.uses_real_torch is None:
        backend.uses_real_torch = bool(args.target_uses_torch)
    script = command[1] if len(command) > 1 and not command[1].startswith("-") else None
    if script is not None and not os.path.isfile(script):
        raise UsageError(f"exec: no file {script!r} (give the script's path, relative to {os.getcwd()} or absolute)")
    # the script's own folder is readable in the sandbox too (a snippet saved outside the current folder)
    readable = [os.path.dirname(os.path.abspath(script))] if script else []
    argv = [sys.executable, "-m", "conformance.activate", *backend.worker_args(), "--", *command[1:]]
    with tempfile.TemporaryDirectory(prefix="conformance-exec-") as tmp:
        env = {**os.environ, "TMPDIR": tmp}
        if not args.no_sandbox:
            try:
                argv = sandbox.for_backend(backend, default_root(), readable).wrap(argv, writable=tmp)
            except (sandbox.SandboxError, OSError) as e:
                if args.require_sandbox:
                    raise UsageError(f"--require-sandbox: {e}") from None
                print(f"note: no sandbox ({e}): real torch stays findable", file=sys.stderr)
        return subprocess.run(argv, env=env).returncode


def parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="python -m conformance", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run the conformance suites against a target (extra args go to pytest)")
    options.add_to_argparse(run, _seconds)        # the plugin reads the same table (conformance/options.py)
    run.add_argument("--replay", metavar="DIR", help="also replay the recording in DIR (made by "
                     "`python -m conformance trace -- python SCRIPT`) as cases replay[script-...]")
    run.add_argument("-n", "--numprocesses", help="pytest-xdist workers (e.g. 2 or auto)")
    run.set_defaults(func=_run)

    exe = sub.add_parser("exec", help="run a Python script with `import torch` meaning the target, as the kit's "
                         "workers run it (its sandbox, its activation): exec --target T -- python FILE")
    exe.add_argument("--target", required=True, help="torch, mindtorch_v2, pyborch, module:NAME or a plugin name")
    exe.add_argument("--backend-path", action="append", default=[], help="folder put on sys.path in the target")
    exe.add_argument("--no-sandbox", action="store_true", help="run it without the target's sandbox")
    exe.add_argument("--require-sandbox", action="store_true", help="refuse to run without the sandbox")
    exe.add_argument("--target-uses-torch", action="store_true", help="a module:NAME target built on real PyTorch")
    exe.add_argument("--sources", help="refuse unless the backend's code is this (run.target_spec.sources)")
    exe.add_argument("command", nargs=argparse.REMAINDER, help="-- python FILE [ARGS]")
    exe.set_defaults(func=_exec)

    ex = sub.add_parser("expectations", help="rewrite an expectations file from the latest results")
    ex.add_argument("--results", required=True, help="results.json (or results.jsonl of an interrupted run)")
    ex.add_argument("--file", required=True, help="the expectations file to rewrite")
    ex.add_argument("--accept-new", action="store_true",
                    help="take new failures (and failures that changed outcome) in as known gaps")
    ex.add_argument("--force", action="store_true",
                    help="rewrite also from an interrupted run or a run without cases")
    ex.set_defaults(func=_expectations)

    rep = sub.add_parser("report", help="render the report again from saved results, running nothing")
    rep.add_argument("--results", required=True, action="append",
                     help="results.json (or results.jsonl); repeat it to put several targets or versions side by side")
    rep.add_argument("--out", help="output folder for index.html, checklist.md, junit.xml (default: beside the first results)")
    rep.add_argument("--date", nargs="?", const="now", metavar="WHEN",
                     help="print a date in the reports: WHEN as given, or the current UTC time without WHEN")
    rep.add_argument("--perf", metavar="PERF_JSON",
                     help="benchmarks/bench_loading.py --json output: also write perf.md and a performance section in index.html")
    rep.add_argument("--baseline", metavar="DIR", help="an earlier run's report dir (or results.json): add a "
                     "'since baseline' section")
    rep.set_defaults(func=_report)

    cmp = sub.add_parser("compare", help="what changed between two runs: rows fixed, newly failing, with another cause")
    cmp.add_argument("old", help="the earlier run: a report dir or its results.json")
    cmp.add_argument("new", help="the later run: a report dir or its results.json")
    cmp.add_argument("--limit", type=_non_negative, default=None, metavar="N",
                     help="name at most N rows per group of rows that changed the same way (default: the first 8; 0: all)")
    cmp.add_argument("--fail-on-new", action="store_true", help="exit 1 when a row fails in NEW that did not in OLD")
    cmp.set_defaults(func=_compare)

    rec = sub.add_parser("record", help="record (or complete) the oracle cache, running no target")
    rec.add_argument("--oracle-cache", help="where oracle records are cached")
    rec.add_argument("--rebuild-oracle", action="store_true", help="record everything again")
    rec.add_argument("--case-timeout", type=_seconds, default=30.0)
    rec.set_defaults(func=_record)

    tr = sub.add_parser("trace", help="record a workload's torch calls under real PyTorch, for replay "
                        "(built-in: albert, bert, gpt2; or: --out DIR -- python SCRIPT [ARGS])")
    tr.add_argument("--workload", action="append", default=[], help="albert, bert or gpt2 (repeatable; default all)")
    tr.add_argument("--out", help="write the recording here (default: the cache the replay cases read)")
    tr.add_argument("--update-signatures", action="store_true",
                    help="rewrite conformance/catalog/_replay_signatures.py from the recordings")
    tr.set_defaults(func=_trace)

    ls = sub.add_parser("list", help="list every case: id, API, origin")
    ls.set_defaults(func=_list)
    return ap


def _usage_errors() -> tuple[type[Exception], ...]:
    """The errors that are the user's to fix, told in one line (looked up only when one is raised)."""
    from .client import WorkerStartError
    from .expectations import ExpectationsError
    from .oracle_cache import CacheError
    from .render.perf import PerfError
    from .results import ResultsError
    return UsageError, ExpectationsError, ResultsError, CacheError, WorkerStartError, PerfError


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    script: list[str] = []
    if argv[:1] == ["trace"] and "--" in argv:     # everything after `--` is the user's command
        at = argv.index("--")
        argv, script = argv[:at], argv[at + 1:]
        if not script:
            print("error: nothing to run after --; e.g. -- python my_script.py", file=sys.stderr)
            return 2
    args, extra = parser().parse_known_args(argv)
    if args.command == "trace":
        if extra:
            parser().error(f"unrecognized arguments: {' '.join(extra)} (a script goes after --)")
        return args.func(args, script)
    if extra and args.command != "run":
        parser().error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.func(args, extra) if args.command == "run" else args.func(args)
    except _usage_errors() as e:
        print(f"error: {e}", file=sys.stderr)
        return USAGE
    except BrokenPipeError:    # `... list | head`: the reader has what it wanted; nothing more can be said there
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as e:       # a full disk, an unwritable folder: which path, in one line
        print(f"error: {e.strerror or e} ({e.filename or 'no file named'})", file=sys.stderr)
        return USAGE
