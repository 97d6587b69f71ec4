"""Checks and protections around a run, before anything is measured or written.

Each check raises GuardError with one line saying what is wrong and how to fix it; the plugin
turns it into a usage error (exit code 4). Also: one run per report folder at a time (a lock), and
SIGTERM/SIGHUP ending a run the way Ctrl-C does, so its reports are still written.
"""
from __future__ import annotations

import errno
import fcntl
import math
import os
import signal
from pathlib import Path

LOCK_NAME = ".conformance.lock"


class GuardError(Exception):
    pass


def positive_seconds(value: float, option: str = "--case-timeout") -> float:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise GuardError(f"{option} must be a positive, finite number of seconds, got {value!r}")
    return float(value)


def _why(e: OSError) -> str:
    return e.strerror or errno.errorcode.get(e.errno or 0, str(e))


def writable_dir(path: Path, what: str) -> Path:
    """``path`` exists (made if needed) as a folder this process can write into."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise GuardError(f"{what} {path} is a file, not a folder; pass a folder (it is made if missing)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GuardError(f"cannot make {what} {path}: {_why(e)}") from None
    probe = path / f".conformance-probe-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise GuardError(f"cannot write into {what} {path}: {_why(e)}; pass a writable folder") from None
    return path


def not_a_file(path: Path, what: str) -> None:
    if Path(path).exists() and not Path(path).is_dir():
        raise GuardError(f"{what} {path} is a file, not a folder; pass a folder (it is made if missing)")


def lock_report_dir(path: Path):
    """Hold the report folder for this run (released when the process ends); GuardError if another
    run holds it."""
    f = open(Path(path) / LOCK_NAME, "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.seek(0)
        holder = f.read().strip() or "unknown"
        f.close()
        raise GuardError(f"another run (pid {holder}) is writing into --report-dir {path}; wait for it to end or "
                         "pass another --report-dir") from None
    f.seek(0)
    f.truncate()
    f.write(str(os.getpid()))
    f.flush()
    return f


_previous: dict[int, object] = {}


def end_like_ctrl_c() -> None:
    """SIGTERM and SIGHUP interrupt the run as Ctrl-C does (reports written, ``interrupted: true``).
    A second signal while the reports are written is ignored, so they are not cut short."""
    def interrupt(signum, frame):
        for s in _previous:
            signal.signal(s, signal.SIG_IGN)
        raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")

    for s in (signal.SIGTERM, signal.SIGHUP):
        try:
            _previous[s] = signal.signal(s, interrupt)
        except (ValueError, OSError):      # not the main thread, or no such signal here
            pass


def restore_signals() -> None:
    for s, h in _previous.items():
        signal.signal(s, h)
    _previous.clear()
