"""The runner's side of a worker process: send a case id, get an observation back.

A case that kills its process is CRASH and one that does not answer in time is TIMEOUT; either
way the process is replaced (one restart) and the next case runs in a fresh one.

The runner sends the next cases before it waits for the current one (``run(..., then=[...])``), so
the target computes while the runner judges and does its bookkeeping (two cores busy instead of one).
Replies come back in order.
The process runs one case at a time, so when a case kills it, the cases sent after it never started:
they are sent again to the fresh process, and no case runs twice.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from typing import Any, Callable, Sequence

from . import channel, guard, reaper
from .drain import DrainingReader
from .logtail import LogTail
from .calls import BREADCRUMB_FD_ENV, read_breadcrumb
from .sandbox import tmp_root as sandbox_tmp_root
from .observe import KIT_ERROR


# How many cases a runner keeps queued in a process's input: enough to even out cases that take longer
# there with cases that take longer in the runner; a queued case that is never asked for costs nothing.
SEND_AHEAD = 8


class WorkerStartError(Exception):
    """The backend could not be made ``torch`` in a fresh process."""


# Worker processes alive in this runner (any thread): the reaper never takes them for orphans. The lock
# covers starting one and sweeping, so a process that is being started is never swept.
_LIVE: set[int] = set()
_LIVE_LOCK = threading.Lock()
DAMAGED = "the target wrote into the kit's channel"
TOO_LARGE = "the worker's answer is too large to read"
CHANNEL_LOST = ("the worker's reply channel stopped working while the process still ran (the target closed or "
                "replaced the kit's file descriptor), so its answer was lost")
TAIL_BYTES = 64 << 10      # of a worker's output kept (conformance/logtail.py): its last words, whatever came before
TAIL_CHARS = 1500          # of it shown


TMP_PREFIX = "conformance-worker-"      # + the runner's pid: a folder of a runner that is gone is swept
_swept: list[bool] = []


def _sweep_stale_tmp() -> None:
    """Once per runner: remove the worker TMPDIRs of runners that died (SIGKILL) before they could, when the
    worker could not remove its own either (a sandbox mounts it)."""
    if _swept:
        return
    _swept.append(True)
    base = tempfile.gettempdir()
    try:
        names = os.listdir(base)
    except OSError:
        return
    for name in names:
        pid = name[len(TMP_PREFIX):].split("-", 1)[0]
        if not name.startswith(TMP_PREFIX) or not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
            continue                  # its runner still runs
        except ProcessLookupError:
            pass
        except OSError:
            continue
        shutil.rmtree(os.path.join(base, name), ignore_errors=True)


def _kill_live() -> None:
    """A second Ctrl-C: every worker this runner waits on goes at once (from the signal handler: no lock)."""
    for pid in list(_LIVE):
        reaper.kill_tree(pid)


guard.on_second_signal(_kill_live)


class WorkerClient:
    def __init__(self, worker_args: list[str], *, timeout: float, startup_timeout: float = 300.0,
                 env: dict[str, str] | None = None, sandbox: Any = None, read_ahead: bool = False):
        self.worker_args = worker_args
        self.read_ahead = read_ahead    # its answers are read as they come (conformance/drain.py): judged later
        self.sandbox = sandbox      # a conformance.sandbox.Sandbox: target processes run inside it
        self.timeout = timeout
        self.startup_timeout = startup_timeout
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.hello: dict[str, Any] | None = None
        self.starts = 0            # processes started: 1 + one per crash or timeout
        self.startup_seconds: float | None = None   # from spawn to hello, the last time
        self._pending: deque[str] = deque()   # case ids sent and not yet asked for by run(), in order
        self._early: deque[dict[str, Any]] = deque()   # answers of the first of those, taken by collect()
        self._first: dict[str, Any] | None = None     # a first message collect() read that is not a hello
        self._idle_since = 0.0     # when the process finished its last answer (a case's clock starts then)
        self._log_at = 0           # where in the process's output the case in flight began (bytes written before)
        self._reader: channel.Reader | None = None
        self._requests: int | None = None      # our end of the request pipe (None: the process's stdin)
        self._tmp: str | None = None           # the process's TMPDIR: case folders left by a crash go with it
        self._crumb: Any = None                # a sandboxed process's breadcrumb file (its TMPDIR is not on disk)
        self._log: LogTail | None = None     # the process's stdout and stderr, as their last TAIL_BYTES
        self._spawned_at = 0.0

    # -- process lifecycle --------------------------------------------------------------------
    def start(self) -> dict[str, Any]:
        """Start the process (if it is not running) and wait for its hello."""
        self.spawn()
        return self.wait_started()

    def spawn(self) -> None:
        """Start the process without waiting: it imports its backend while the runner collects."""
        if self.alive():
            return
        self.close()
        self.starts += 1
        self.hello = None
        self._spawned_at = time.monotonic()
        # Requests and replies travel on pipes of their own: the process's stdout and stderr are its log.
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        log_r, log_w = os.pipe()
        _sweep_stale_tmp()
        argv = [sys.executable, "-m", "conformance.worker", *self.worker_args, "--channel", f"{req_r},{rep_w}"]
        fds: tuple[int, ...] = (req_r, rep_w)
        extra: dict[str, str] = {}
        if self.sandbox is None:
            self._tmp = tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-")
            inner = self._tmp
        else:
            # Its TMPDIR is a tmpfs of the sandbox's own, so nothing of it is left on disk whatever kills the
            # runner; the breadcrumb is an unlinked file the runner holds and hands down.
            inner = f"{sandbox_tmp_root()}/{TMP_PREFIX}{os.getpid()}-{os.urandom(4).hex()}"
            self._crumb = tempfile.TemporaryFile()
            fds += (self._crumb.fileno(),)
            extra[BREADCRUMB_FD_ENV] = str(self._crumb.fileno())
            argv = self.sandbox.wrap(argv, writable=inner)
        env = {**(self.env if self.env is not None else os.environ), **reaper.mark(), "TMPDIR": inner, **extra}
        try:
            with _LIVE_LOCK:
                self.proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL, stdout=log_w, stderr=log_w, pass_fds=fds,
                    env=env, start_new_session=True)
                _LIVE.add(self.proc.pid)
        except BaseException:
            os.close(req_w)
            os.close(rep_r)
            os.close(log_r)
            raise
        finally:
            os.close(req_r)
            os.close(rep_w)
            os.close(log_w)
        self._log = LogTail(log_r, TAIL_BYTES)
        self._requests = req_w
        proc = self.proc
        self._reader = (DrainingReader if self.read_ahead else channel.Reader)(rep_r, alive=lambda: proc.poll() is None)

    def wait_started(self) -> dict[str, Any]:
        """The process's hello (which module answered ``import torch``); WorkerStartError if none came."""
        if self.hello is not None:
            return self.hello
        if self.proc is None:
            self.spawn()
        msg, self._first = self._first, None
        if msg is None:
            msg = self._read_first(self.startup_timeout)
        if msg is None or "hello" not in msg:
            why = msg.get("fatal") if msg else self._death_reason("did not start")
            self.close()
            raise WorkerStartError(f"could not start a {' '.join(self.worker_args)} worker: {why}")
        self._take_hello(msg)
        return self.hello

    def _read_first(self, timeout: float) -> dict[str, Any] | None:
        """The process's first message (its hello, or why it has none); a damaged channel says so as one."""
        try:
            return self._read(timeout)
        except channel.ChannelDamage as e:
            return {"fatal": f"{DAMAGED} while starting: {e}"}

    def _take_hello(self, msg: dict[str, Any]) -> None:
        self.hello = msg["hello"]
        self._idle_since = time.monotonic()
        at = msg.get("at")         # when it was ready: only a figure for sharing cases, so a claim in range will do
        ready = at if type(at) is float and self._spawned_at <= at <= self._idle_since else self._idle_since
        self.startup_seconds = ready - self._spawned_at

    def close(self) -> None:
        if self.proc is not None:
            # Everything it started goes with it (also children in sessions of their own), while the
            # tree can still be walked; the process group covers systems without /proc.
            reaper.kill_tree(self.proc.pid)
            self.proc.wait()
            for f in (self.proc.stdin, self.proc.stdout):
                if f:
                    f.close()
            with _LIVE_LOCK:
                _LIVE.discard(self.proc.pid)
                reaper.sweep(set(_LIVE))     # what it orphaned before (a crash): now the runner's children
        if isinstance(self._reader, DrainingReader):
            self._reader.stop()
        for fd in (self._requests, self._reader.fd if self._reader else None):
            if fd is not None:
                os.close(fd)
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
        if self._crumb is not None:
            self._crumb.close()
            self._crumb = None
        if self._log is not None:
            self._log.close()
        self.proc, self._log, self.hello, self._tmp = None, None, None, None
        self._requests, self._reader = None, None
        self._pending.clear()
        self._early.clear()
        self._first = None
        self._log_at = 0

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def holds(self, case_id: str) -> bool:
        """Whether ``case_id`` was sent to this process and not yet asked for."""
        return case_id in self._pending

    @property
    def outstanding(self) -> int:
        """Cases sent and not yet answered (as far as collect() has looked)."""
        return len(self._pending) - len(self._early)

    def collect(self) -> None:
        """Take the answers that have arrived, without waiting: run() hands them out when asked, and the
        cases after them are known to be under way (conformance/lanes.py tops up a second process so).
        Damage and deaths are left for run() to find where they are."""
        if self._reader is None:
            return
        if self.hello is None:          # its hello first; anything else is for wait_started() to report
            if self._first is not None:
                return
            first = self._read_first(0)
            if first is None:
                return
            if "hello" not in first:
                self._first = first
                return
            self._take_hello(first)
        while len(self._early) < len(self._pending):
            try:
                msg = self._reader.read(0)
            except channel.ChannelDamage:
                return
            if msg is None:
                return
            self._early.append(msg)
            self._idle_since = time.monotonic()     # the next case's clock starts when this one answered
            self._log_at = self._log.mark() if self._log else 0

    # -- one case -----------------------------------------------------------------------------
    def submit(self, case_id: str) -> None:
        """Send a case ahead of ``run(case_id)`` (also while the process is still starting: it reads
        its input once it has said hello); a no-op when the process is not running."""
        if case_id not in self._pending and self.alive():    # the cheap test first: run() re-offers queued ids
            self._send(case_id)

    def run(self, case_id: str, timeout: float | None = None, then: Sequence[str] = (),
            while_waiting: Callable[[], None] | None = None) -> dict[str, Any]:
        """``{"obs": ..., "ms": ..., "process": n}`` or ``{"crash": why}`` or ``{"timeout": seconds}``.

        ``then``: the cases that come next, sent (if not sent yet) before waiting, so the process goes
        straight on to them and is not idle while the runner judges this one. ``while_waiting``: called every
        channel.TICK seconds until the answer comes (the second process's top-up: a case that takes the first
        process long, importing transformers, left the second idle)."""
        timeout = self.timeout if timeout is None else timeout
        if self._pending and self._pending[0] != case_id:
            self.close()       # a case sent ahead that is not the one asked for: start clean
        if not self._pending:
            self.start()
            self._send(case_id)
        elif self.hello is None:
            self.wait_started()        # cases were queued while it was starting; its hello comes first
        # else: it is in flight; if the process died meanwhile, reading says so (CRASH, not a rerun)
        for next_id in then:
            self.submit(next_id)
        assert self.proc and self._log
        log_at = self._log_at
        try:
            msg = self._read_reply(timeout, while_waiting)
        except channel.FrameTooLarge as e:
            # Its answer cannot be read, and what follows it in the pipe neither: a fresh process.
            self.close()
            return {"obs": {KIT_ERROR: f"{TOO_LARGE}: {e}"}, "ms": None, "process": self.starts, "damaged": True}
        except channel.ChannelDamage as e:
            # Nothing after the damage can be trusted: a fresh process takes the next cases.
            self.close()
            return {"obs": {KIT_ERROR: f"{DAMAGED} during this case, so its answer was lost: {e}"},
                    "ms": None, "process": self.starts, "damaged": True}
        if msg is not None and msg.get("too_deep"):       # an intact frame the runner cannot decode
            return {"obs": {KIT_ERROR: f"the worker's answer ({msg.get('bytes')} bytes) is nested too deep to "
                                       f"read; values deeper than {channel.MAX_DEPTH} levels are cut"},
                    "ms": None, "process": self.starts}
        if msg is not None and msg.get("case") == case_id:
            if msg.get("exiting"):            # the worker retires itself after this answer
                self.close()
            return {"obs": msg["obs"], "ms": msg.get("ms"), "process": self.starts}
        # Still alive with its pipe open: it hangs. (At EOF the process is dying, but poll() can
        # still say "running" for a moment, so EOF alone decides: a crash, not a timeout.)
        if msg is None and not self._reader.eof and self.proc.poll() is None:
            last = self._last_call()     # the recorded call it hangs in (conformance/calls.py)
            self.close()
            return {"timeout": timeout, **({"last_call": last} if last else {})}
        if msg is None and self._reader.eof and self._still_running():
            # EOF from a live process: its reply pipe was closed or replaced under it, not a crash
            self.close()
            return {"obs": {KIT_ERROR: CHANNEL_LOST}, "ms": None, "process": self.starts, "damaged": True}
        why = self._death_reason("died", log_at)
        last = self._last_call()         # the recorded call it died in (conformance/calls.py)
        self.close()
        return {"crash": why, **({"last_call": last} if last else {})}

    def _last_call(self) -> str | None:
        return read_breadcrumb(self._tmp, self._crumb.fileno() if self._crumb is not None else None)

    def _still_running(self, grace: float = 3.0) -> bool:
        """Whether the process still runs ``grace`` seconds after its reply pipe reached end of file (a
        dying process closes the pipe a moment before it can be reaped)."""
        assert self.proc
        try:
            self.proc.wait(timeout=grace)
            return False
        except subprocess.TimeoutExpired:
            return True

    def _send(self, case_id: str) -> None:
        assert self.proc
        if not self.outstanding:       # it was idle: this case's clock starts now
            self._idle_since = time.monotonic()
        self._pending.append(case_id)
        data = (json.dumps({"case": case_id}) + "\n").encode()
        try:
            if self._requests is not None:
                os.write(self._requests, data)
            else:
                assert self.proc.stdin
                self.proc.stdin.write(data)
                self.proc.stdin.flush()
        except BrokenPipeError:
            pass

    def _read_reply(self, timeout: float, while_waiting: Callable[[], None] | None = None) -> dict[str, Any] | None:
        """The answer to the oldest case in flight; its clock started when the worker became free for it."""
        if self._early:
            self._pending.popleft()
            return self._early.popleft()
        msg = self._read(max(0.0, self._idle_since + timeout - time.monotonic()), while_waiting)
        if msg is not None:
            self._pending.popleft()
            self._idle_since = time.monotonic()
            self._log_at = self._log.mark() if self._log else 0   # the next case's output starts there
        return msg

    # -- plumbing -----------------------------------------------------------------------------
    def _read(self, timeout: float, while_waiting: Callable[[], None] | None = None) -> dict[str, Any] | None:
        """The next message, or None: timed out, or the process died (``self._reader.eof``)."""
        assert self.proc and self._reader
        return self._reader.read(timeout, while_waiting)

    def _death_reason(self, what: str, log_at: int = 0) -> str:
        assert self.proc
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        if code is not None and self.sandbox is not None and code > 128:
            code = 128 - code       # bubblewrap exits 128 + N when the worker was killed by signal N
        if code is not None and code < 0:
            try:
                status = f"killed by {signal.Signals(-code).name}"
            except ValueError:
                status = f"killed by signal {-code}"
        else:
            status = f"exit code {code}"
        tail = self._log.since(log_at)[-TAIL_CHARS:].strip() if self._log is not None else ""
        return f"worker {what} ({status})" + (f"; last output:\n{tail}" if tail else "")
