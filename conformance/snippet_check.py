"""Whether the checklist's snippets show their difference, measured: each run under PyTorch and under the target.

A generated snippet is a claim ("run this under the backend: the `aliasing` line differs"); a claim the
kit does not check misleads the reader it is for. So a run that writes reports runs every candidate
snippet of its causes (render/fixes.candidates) twice: under plain ``python`` (real PyTorch) and through
the exact ``python -m conformance exec`` command the checklist prints beside it. A snippet reproduces when
both sides ran to the end, printed the same labels, and differ on exactly the labels it names. The
verdicts go into results.json (``run.snippet_checks``) and the renderers keep only snippets that
reproduce; an item without one shows its repro command.

Cheap: one process start a side for all the snippets of a run, and none under PyTorch when the run's oracle
cache holds its answers to them all (they depend only on the code and the oracle's versions, the cache's key).
The target's side starts before the snippets are known (its start is most of its time) and reads them on its
stdin. This module is also the driver both sides run (``python -m conformance.snippet_check FILE``, ``-`` for
stdin): it imports nothing but the standard library, forks once per snippet, two at a time, each in a folder of
its own (a snippet that crashes or hangs takes only its own child) and prints one JSON line.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from .oracle_cache import OracleCache
    from .render.model import Report
    from .render.snippets import Snippet

SNIPPET_SECONDS = 120         # a few lines; `import torch._dynamo` alone takes 20 s on 2 busy cores
MARK = "@@conformance-snippet-check@@ "    # the driver's answer line (a target may print while importing)
OUTPUT_CHARS = 4000            # of stderr (its end), and of each stdout line (its start, then its digest)
OUTPUT_LINES = 200


def digest(code: str) -> str:
    """The key of a snippet's verdict in run.snippet_checks."""
    return hashlib.sha256(code.encode()).hexdigest()[:16]


def lines(output: str) -> dict[str, str]:
    """label -> the rest of its printed line; a label printed twice keeps both, one per line."""
    out: dict[str, str] = {}
    for line in output.splitlines():
        label, _, rest = line.partition(" ")
        out[label] = f"{out[label]}\n{rest}" if label in out else rest
    return out


def verdict(shows: list[str], torch_side: dict[str, Any], target_side: dict[str, Any]) -> dict[str, Any]:
    """Whether one snippet's two runs show what it claims, and in one line why not."""
    for name, side in (("PyTorch", torch_side), ("the target", target_side)):
        if side.get("rc") != 0:
            last = (side.get("err") or "").strip().splitlines()[-1:] or [f"exit status {side.get('rc')}"]
            return {"shows": shows, "differ": [], "reproduces": False,
                    "why": f"it failed under {name}: {' '.join(last[0].split())[:200]}"}
    mine, theirs = lines(torch_side.get("out") or ""), lines(target_side.get("out") or "")
    differ = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
    same = [s for s in shows if s not in differ]
    extra = [d for d in differ if d not in shows]
    why = ""
    if same:
        why = f"its {', '.join(same)} line{'s' if len(same) > 1 else ''} printed the same under PyTorch and the target"
    elif extra:
        why = f"it also differs on {', '.join(extra)}, which it does not name"
    return {"shows": shows, "differ": differ, "reproduces": not why, "why": why}


# -- the measurement: in the kit's process, as the run writes its reports -----------------------------

START_SECONDS = 300           # one side's start-up (import torch), before its snippets


def _start(argv: list[str], cwd: str, env: dict[str, str], stdin: bool = False):
    import subprocess
    return subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            errors="replace", start_new_session=True,
                            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL)


def _env() -> dict[str, str]:
    kit = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return {**os.environ, "PYTHONPATH": os.pathsep.join([kit, *filter(None, [os.environ.get("PYTHONPATH")])])}


class TargetSide:
    """The target's driver process, started before the snippets are known (its start is most of its time: the
    exec command, the sandbox, importing the backend); it reads them on its stdin. The run starts it as its last
    cases run (start_early, reporting.start_snippet_target), so that start overlaps them."""

    def __init__(self, words: list[str]):
        from .client import _LIVE, _LIVE_LOCK
        self.words = words
        self.tmp = tempfile.mkdtemp(prefix="conformance-snippets-")
        self.argv = [sys.executable, *words[1:], "--", "python", "-m", "conformance.snippet_check", "-"]
        self.sent: list[str] = []          # digests of the snippets sent before the cases ended, in order
        with _LIVE_LOCK:        # the runner's own child: a sweep for orphans (a worker's close) keeps it
            self.proc = _start(self.argv, self.tmp, _env(), stdin=True)
            _LIVE.add(self.proc.pid)

    def send(self, codes: dict[str, str]) -> None:
        """Snippets known before the cases end (digest -> code), run at once: one JSON line on the driver's stdin.
        The answers come in the order sent, these first (``sent``); a driver already gone is told by check."""
        codes = {k: c for k, c in codes.items() if k not in self.sent}
        if not codes:
            return
        try:
            self.proc.stdin.write(json.dumps(list(codes.values())) + "\n")
            self.proc.stdin.flush()
        except (OSError, ValueError):
            return
        self.sent.extend(codes)

    def close(self) -> None:
        import shutil

        from .client import _LIVE, _LIVE_LOCK
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 9)
            self.proc.communicate()
        with _LIVE_LOCK:
            _LIVE.discard(self.proc.pid)
        shutil.rmtree(self.tmp, ignore_errors=True)


def _answers(p, argv: list[str], n: int, deadline: float, limit: int,
             data: str | None = None) -> list[dict[str, Any]] | str:
    """The driver's answers, one per snippet, or one line saying why it gave none (``data``: its stdin). A
    Ctrl-C, SIGTERM or SIGHUP of the run (held while it writes its reports) stops it: the reports come first."""
    import subprocess

    from .guard import interrupted
    while True:
        try:
            stdout, stderr = p.communicate(data, timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            data = None               # sent on the first call: communicate() goes on with it
            if interrupted() or time.monotonic() > deadline:
                os.killpg(p.pid, 9)
                p.communicate()
                return "the run was interrupted" if interrupted() else f"no answer within {limit} s"
    answer = next((line[len(MARK):] for line in reversed(stdout.splitlines()) if line.startswith(MARK)), None)
    try:
        got = json.loads(answer) if answer is not None else None
    except ValueError:
        got = None
    if not isinstance(got, list) or len(got) != n:
        last = (stderr.strip().splitlines() or [f"exit status {p.returncode}"])[-1]
        return f"{' '.join(argv[:3])}... gave no answer: {' '.join(last.split())[:300]}"
    return got


def _both_sides(sides: list[tuple], cwd: str, env: dict[str, str],
                while_waiting: Callable[[], None] | None = None) -> list:
    """Each side's answers (see _answers), for (argv, number of snippets[, its stdin, its process if started])
    each. The sides run at once: they are independent processes, and one after the other they were a quarter
    of a warm gate's wall time. ``while_waiting``: the runner's own work, done once they are started."""
    limit = START_SECONDS + max(side[1] for side in sides) * SNIPPET_SECONDS
    deadline = time.monotonic() + limit
    full = [(*side, None, None)[:4] for side in sides]
    procs = [p if p is not None else _start(argv, cwd, env) for argv, _, _, p in full]
    try:
        if while_waiting is not None:
            while_waiting()
        return [_answers(p, argv, n, deadline, limit, data) for p, (argv, n, data, _) in zip(procs, full)]
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, 9)
                p.communicate()


def _seconds(answer: Any) -> float:
    seconds = answer.get("seconds") if isinstance(answer, dict) else None
    return float(seconds) if isinstance(seconds, (int, float)) else 0.0


def driver_version() -> str:
    """Of this file, which is the driver: cached answers of an edited driver (OUTPUT_CHARS, how it runs a
    snippet) are not reused."""
    with open(__file__, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def cacheable(answer: Any) -> bool:
    """A snippet that ran to its end: its exit code follows from its code and the oracle's versions alone. A
    timeout or a signal (the OOM killer, a kill of the run) says as much about the machine as the snippet."""
    return (isinstance(answer, dict) and type(answer.get("rc")) is int and answer["rc"] >= 0
            and isinstance(answer.get("out"), str) and isinstance(answer.get("err"), str))


def _words(header: dict[str, Any]) -> list[str] | None:
    """The exec command's words (up to its ``--``) for the run described by ``header``."""
    from .render.snippets import exec_words

    words = exec_words(header)
    if words is not None and not ((header.get("target_env") or {}).get("sandbox") or {}).get("engine"):
        words = [*words, "--no-sandbox"]        # as the run's own target processes ran
    return words


def start_early(header: dict[str, Any]) -> TargetSide | None:
    """The target's side, started before the cases end (``header``: the run header's ``target``, ``target_env``
    and ``target_spec``, known once the target said hello); None when the run has no exec command."""
    words = _words(header)
    return TargetSide(words) if words is not None else None


def measure(results: dict[str, Any], cache: OracleCache | None = None,
            while_waiting: Callable[[], None] | None = None, target: TargetSide | None = None,
            report: Report | None = None) -> None:
    """Run the candidate snippets of the run's causes under PyTorch and under the target; their verdicts go into
    ``results["run"]["snippet_checks"]`` (see check). PyTorch's answers are reused from ``cache``, the run's
    oracle cache, when it has them. ``while_waiting`` is called once, while the snippets run (or at once when
    none run): it must not change ``results``. ``target``: the side start_early started (closed here); one
    whose command is not the final header's is replaced. ``report``: the results' report model, when the caller
    renders from it too (its causes are worked out once)."""
    from .guard import interrupted

    header = results["run"]
    words = _words(header)
    if target is not None and target.words != words:
        target.close()
        target = None
    if words is None or header.get("interrupted") or interrupted():
        if target is not None:
            target.close()
        if while_waiting is not None:
            while_waiting()
        return
    if target is None:
        target = TargetSide(words)              # it starts while the candidates are found
    try:
        _measure(results, words, cache, while_waiting, target, report)
    finally:
        target.close()


def _measure(results: dict[str, Any], words: list[str], cache: OracleCache | None,
             while_waiting: Callable[[], None] | None, target: TargetSide, report: Report | None) -> None:
    from .render import fixes, from_results
    from .render.sources import snippet_cases

    header = results["run"]
    report = report if report is not None else from_results([results])
    codes: dict[str, Snippet] = {}
    for run in report.runs:
        for c in report.causes(run):
            for _, s in fixes.candidates(c, snippet_cases()):
                codes.setdefault(digest(s.code), s)
    if not codes:
        if while_waiting is not None:
            while_waiting()
        return
    header["snippet_checks"] = check(codes, words, cache, while_waiting, target)


def check(codes: dict[str, Snippet], words: list[str], cache: OracleCache | None,
          while_waiting: Callable[[], None] | None = None, target: TargetSide | None = None) -> dict[str, Any]:
    """``command`` (the exec command, as the checklist prints it), ``checked`` (digest -> verdict), or ``error``
    when a side could not run them; ``oracle_cached``: how many PyTorch answers came from the cache (only the
    others run under PyTorch, and no PyTorch process starts when it has them all); ``seconds``. ``target``: the
    target's side, started already (``words``' own, fed the snippets on its stdin)."""
    import shlex

    from .oracle_cache import CacheError

    started = time.monotonic()
    known = cache.load_snippet_answers(driver_version()) if cache is not None else {}
    known = {k: known[k] for k in codes if cacheable(known.get(k))}
    todo = [k for k in codes if k not in known]
    env = _env()
    out: dict[str, Any] = {"command": shlex.join([*words, "--", "python", "snippet.py"])}
    with tempfile.TemporaryDirectory(prefix="conformance-snippets-") as tmp:
        def driver(name: str, keys: list[str]) -> list[str]:
            path = os.path.join(tmp, name)      # in the cwd: the target's sandbox reads it
            with open(path, "w", encoding="utf-8") as f:
                json.dump([codes[k].code for k in keys], f)
            return ["-m", "conformance.snippet_check", path]

        # costliest first, by PyTorch's own time for each (known ones): two run at once, so one that takes as
        # long as all the others together (importing transformers) ends with them, not after them
        order = sorted(codes, key=lambda k: -_seconds(known.get(k)))
        if target is not None:       # after the snippets it was sent while the cases ran (which ran first)
            rest = [k for k in order if k not in target.sent]
            order = [*target.sent, *rest]
            sides = {"the target": (target.argv, len(order), json.dumps([codes[k].code for k in rest]) + "\n",
                                    target.proc)}
        else:
            sides = {"the target": ([sys.executable, *words[1:], "--", "python", *driver("snippets.json", order)],
                                    len(codes))}
        if todo:
            sides = {"PyTorch": ([sys.executable, *driver("oracle.json", todo)], len(todo)), **sides}
        answers = dict(zip(sides, _both_sides(list(sides.values()), tmp, env, while_waiting)))
    fresh = answers.get("PyTorch", [])
    if cache is not None and isinstance(fresh, list):
        new = {k: a for k, a in zip(todo, fresh) if cacheable(a)}
        if new:
            try:
                cache.save_snippet_answers(driver_version(), new)
            except (OSError, CacheError) as e:      # a read-only cache: the verdicts stand, the next run measures again
                cache.warnings.append(f"PyTorch's snippet answers were not cached: {e}")
    for name, side in answers.items():
        if isinstance(side, str):
            out["error"] = f"under {name}: {side}"
            break
    else:
        torch_side = {**known, **dict(zip(todo, fresh))}
        target_side = dict(zip(order, answers["the target"]))
        out["checked"] = {key: verdict(list(s.shows), torch_side[key], target_side[key]) for key, s in codes.items()}
    out["oracle_cached"] = len(known)
    out["seconds"] = round(time.monotonic() - started, 1)
    return out


# -- the driver: runs in both processes ---------------------------------------------------------------

SLOTS = 2                      # snippets run at once: each is a fork of its own, and a run's runner waits idle


def _fork(code: str, cwd: str) -> tuple[int, Any, Any]:
    """A child running ``code`` as `python snippet.py` runs it, in ``cwd`` (a folder of its own: two run at
    once); its pid and the files that take its stdout and stderr."""
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.dup2(os.open(os.devnull, os.O_RDONLY), 0)     # the driver's stdin brings it more snippets
            os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
            os.chdir(cwd)
            exec(compile(code, "snippet.py", "exec"), {"__name__": "__main__"})
            status = 0
        except SystemExit as e:
            status = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
        except BaseException:
            import traceback
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)
    return pid, out, err


def _answer(rc: Any, out: Any, err: Any, seconds: float) -> dict[str, Any]:
    texts = []
    for f in (out, err):
        f.seek(0)
        texts.append(f.read().decode("utf-8", "replace"))
        f.close()
    return {"rc": rc, "out": _kept(texts[0]), "err": texts[1][-OUTPUT_CHARS:], "seconds": round(seconds, 4)}


class _Lines:
    """Snippets arriving on a pipe (the driver's stdin) as JSON lines, each a list of codes, until its end."""

    def __init__(self, fd: int):
        self.fd, self.open, self._rest = fd, True, b""

    def take(self) -> list[str]:
        """The codes of the lines complete so far (one read: call it when the pipe is readable)."""
        chunk = os.read(self.fd, 1 << 16)
        if chunk:
            *done, self._rest = (self._rest + chunk).split(b"\n")
        else:
            self.open, done, self._rest = False, [self._rest], b""
        return [code for line in done if line.strip() for code in json.loads(line)]


def _run_all(codes: list[str], slots: int = SLOTS, more: _Lines | None = None) -> list[dict[str, Any]]:
    """Each snippet's answer, in order; up to ``slots`` children at once, each killed after SNIPPET_SECONDS.
    ``more``: snippets still arriving, run as they come after ``codes`` (their answers follow, in order)."""
    import shutil
    answers: list[Any] = [None] * len(codes)
    running: dict[int, tuple[int, Any, Any, float, int | None]] = {}     # pid -> (index, out, err, deadline, pidfd)
    todo = list(enumerate(codes))
    home = tempfile.mkdtemp(prefix="conformance-snippets-")
    try:
        while todo or running or (more is not None and more.open):
            while todo and len(running) < slots:
                i, code = todo.pop(0)
                cwd = os.path.join(home, str(i))
                os.mkdir(cwd)
                pid, out, err = _fork(code, cwd)
                try:
                    pidfd: int | None = os.pidfd_open(pid)
                except (AttributeError, OSError):
                    pidfd = None
                running[pid] = (i, out, err, time.monotonic() + SNIPPET_SECONDS, pidfd)
            if _wait_any(running, more.fd if more is not None and more.open else None):
                for code in more.take():
                    todo.append((len(answers), code))
                    answers.append(None)
            for pid, (i, out, err, deadline, pidfd) in list(running.items()):
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    rc: Any = os.waitstatus_to_exitcode(status)
                elif time.monotonic() > deadline:
                    os.kill(pid, 9)
                    os.waitpid(pid, 0)
                    rc = f"timeout after {SNIPPET_SECONDS} s"
                else:
                    continue
                if pidfd is not None:
                    os.close(pidfd)
                del running[pid]
                answers[i] = _answer(rc, out, err, time.monotonic() - (deadline - SNIPPET_SECONDS))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return answers


def _wait_any(running: dict[int, tuple[int, Any, Any, float, int | None]], incoming: int | None = None) -> bool:
    """Until a child ends, the first deadline passes or ``incoming`` (a pipe of more snippets) is readable, which
    it returns: on the children's pidfds (Linux), else a 5 ms nap (a fixed nap cost ~2.5 ms a snippet, a fifth of
    a short one). With no child running, it waits on ``incoming`` alone."""
    import select
    extra = [incoming] if incoming is not None else []
    if not running:
        return bool(extra and select.select(extra, [], [])[0])
    wait = max(0.0, min(r[3] for r in running.values()) - time.monotonic())
    fds = [r[4] for r in running.values() if r[4] is not None]
    if len(fds) < len(running):
        fds, wait = [], min(wait, 0.005)
    if not fds and not extra:
        time.sleep(wait)
        return False
    return incoming in select.select(fds + extra, [], [], wait)[0]


def _kept(out: str) -> str:
    """stdout as the verdict compares it, bounded line by line: a long line keeps its start and the digest of
    all of it. (Cut as a whole, two outputs whose earlier lines differ in length are cut at other places of
    a later line, which then looks different although it is not.)"""
    kept = []
    for line in out.splitlines()[:OUTPUT_LINES]:
        if len(line) > OUTPUT_CHARS:
            whole = hashlib.sha256(line.encode("utf-8", "surrogatepass")).hexdigest()[:16]
            line = f"{line[:OUTPUT_CHARS]} ... ({len(line)} characters, sha256 {whole})"
        kept.append(line)
    return "".join(f"{line}\n" for line in kept)


def main(argv: list[str]) -> int:
    """``python -m conformance.snippet_check FILE``: FILE holds a JSON list of snippets' code; ``-``: stdin holds
    such lists, one a line."""
    # once, in the parent: under exec this is the target, as in the snippet. Before the snippets are read: the
    # target's side starts while the last cases run, and its import then overlaps them, not the wait for it
    import torch  # noqa: F401
    if argv[0] == "-":        # JSON lines: the runner sends some while its cases run, the rest when they end
        answers = _run_all([], more=_Lines(sys.stdin.fileno()))
    else:
        with open(argv[0], encoding="utf-8") as f:
            answers = _run_all(json.load(f))
    sys.stdout.write(MARK + json.dumps(answers) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
