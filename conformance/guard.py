"""Checks and protections around a run, before anything is measured or written.

Each check raises GuardError with one line saying what is wrong and how to fix it; the plugin
turns it into a usage error (exit code 4). Also: one run per report folder at a time (a lock), and
SIGTERM/SIGHUP ending a run the way Ctrl-C does, so its reports are still written; a second signal ends
at once what the first still waits on, and none cuts the reports short.
"""
from __future__ import annotations

import errno
import fcntl
import math
import os
import signal
import tempfile
from pathlib import Path

LOCK_NAME = ".conformance.lock"


class GuardError(Exception):
    pass


def positive_seconds(value: float, option: str = "--case-timeout") -> float:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise GuardError(f"{option} must be a positive, finite number of seconds, got {value!r}")
    return float(value)


def frame_limit() -> int:
    """The channel's frame limit (``$CONFORMANCE_MAX_FRAME``), checked before anything runs."""
    from .channel import max_frame

    try:
        return max_frame()
    except ValueError as e:
        raise GuardError(str(e)) from None


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
    try:       # a random name, made with O_EXCL: a file planted under a guessable one is never written through
        fd, probe = tempfile.mkstemp(prefix=".conformance-probe-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise GuardError(f"cannot write into {what} {path}: {_why(e)}; pass a writable folder") from None
    return path


def not_a_file(path: Path, what: str) -> None:
    if Path(path).exists() and not Path(path).is_dir():
        raise GuardError(f"{what} {path} is a file, not a folder; pass a folder (it is made if missing)")


def lock_report_dir(path: Path):
    """Hold the report folder for this run (released when the process ends); GuardError if another
    run holds it."""
    lock = Path(path) / LOCK_NAME
    if lock.is_symlink():            # planted: the runner writes its pid into files of its own only
        lock.unlink()
    f = os.fdopen(os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o644), "a+")
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
_signals = {"count": 0, "holding": False, "pending": None}
_on_second: list = []          # what a second signal does first (e.g. kill the workers a run waits on)


def on_second_signal(action) -> None:
    """``action()`` runs (in the signal handler) when a second Ctrl-C, SIGTERM or SIGHUP arrives."""
    _on_second.append(action)


def interrupted() -> bool:
    """Whether a Ctrl-C, SIGTERM or SIGHUP has come during this run."""
    return _signals["count"] > 0


def _detach_from_terminal() -> None:
    """SIGHUP: the terminal is gone, and writing to it fails (EIO): output goes to /dev/null from now on."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        for fd in (1, 2):
            os.dup2(null, fd)
        os.close(null)
    except OSError:
        pass


def _interrupt(signum, frame):
    _signals["count"] += 1
    if signum == getattr(signal, "SIGHUP", None):
        _detach_from_terminal()
    why = f"stopped by {signal.Signals(signum).name}"
    if _signals["count"] > 1:       # the first is still ending the run: what it may wait on goes now,
        for action in _on_second:   # and nothing is raised into its unwinding (nor into the reports)
            try:
                action()
            except Exception:
                pass
        _signals["pending"] = why
        return
    if _signals["holding"]:         # the reports are being written: they are finished first
        _signals["pending"] = why
        return
    raise KeyboardInterrupt(why)


def end_like_ctrl_c() -> None:
    """Ctrl-C, SIGTERM and SIGHUP interrupt the run (reports written, ``interrupted: true``); SIGHUP also
    sends further output to /dev/null (the terminal is gone). A second one kills the workers the first may
    still wait on, and raises nothing into the first one's unwinding. While the reports are written
    (``hold_signals``) none interrupts them."""
    _signals.update(count=0, holding=False, pending=None)
    for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if s is None:
            continue
        try:
            _previous[s] = signal.signal(s, _interrupt)
        except (ValueError, OSError):      # not the main thread, or no such signal here
            pass


def hold_signals() -> None:
    """From now on until the process ends, signals are noted (``interrupted()``) but do not cut the reports short."""
    _signals["holding"] = True


def restore_signals() -> None:
    for s, h in _previous.items():
        signal.signal(s, h)
    _previous.clear()
    _signals["holding"] = False
