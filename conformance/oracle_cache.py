"""Oracle observations, recorded once per (torch, safetensors, Python, catalog) and reused.

Layout: ``<root>/<key>/meta.json`` (the key and the oracle's hello) and ``records.jsonl`` (one
``{"case": id, "obs": ...}`` per line, appended as cases are recorded, so an interrupted recording
keeps what it measured and the next run fills in only the rest). ``snippets.json`` holds PyTorch's answers
to the checklist's snippets (conformance/snippet_check.py), which depend on the same versions.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import gc
import hashlib
import json
import os
import platform
import threading
from pathlib import Path
from typing import Any

from .balance import two_lanes
from .dists import dist_version
from .observe import DISPLAY, KIT_ERROR


class CacheError(Exception):
    pass


# Version of the observation records: a record of another version is never compared, it is recorded again.
# 2: the hello holds the recorder's attribute digests (``recorder.reads``), which the judge reads.
OBS_SCHEMA = 2


# Distributions some cases observe beside torch (transformers_e2e, replay): a version and whether the module
# imports here, for each; a module hidden or shadowed while its metadata stays is another environment.
ENVIRONMENT_DISTS = (("transformers", "transformers"), ("tokenizers", "tokenizers"),
                     ("huggingface_hub", "huggingface_hub"))


def _importable(module: str) -> bool:
    import importlib.util
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def cache_key(catalog_digest: str) -> dict[str, Any]:
    return {"torch": dist_version("torch"), "safetensors": dist_version("safetensors"), "numpy": dist_version("numpy"),
            "python": platform.python_version(), "catalog": catalog_digest,
            # what the transformers_e2e and replay cases observe besides torch (None: not installed, SKIP)
            **{dist: {"version": dist_version(dist), "importable": _importable(module)}
               for dist, module in ENVIRONMENT_DISTS},
            "records": OBS_SCHEMA}     # records of another layout live in another folder


def recording_of(case: Any) -> Path | None:
    """The recording folder a replay case replays, or None for any other case."""
    if getattr(case, "module", None) != "replay":
        return None
    model = case.params.values.get("model")
    if model:
        from .trace import cache as trace_cache
        return trace_cache.folder(model)
    user = os.environ.get("CONFORMANCE_REPLAY")
    return Path(user) if user else None


def stale_recordings(records: dict[str, Any], cases: dict[str, Any]) -> list[str]:
    """The replay records made from another recording than the one on disk now (or from one that is gone):
    a replay row is keyed by its recording's digest too, so these are recorded again."""
    from .catalog.replay import recording_digest as trace_digest

    digests: dict[Path, str | None] = {}
    stale = []
    for cid, obs in records.items():
        folder = recording_of(cases.get(cid))
        if folder is None:
            continue
        if folder not in digests:
            digests[folder] = trace_digest(folder)
        d = obs.get(DISPLAY) if isinstance(obs, dict) else None
        if not isinstance(d, dict) or d.get("recording") != digests[folder] or digests[folder] is None:
            stale.append(cid)
    return stale


def checksum(obs: Any) -> str:
    """Of the observation as it reads back: a flipped byte that still parses changes it too."""
    return hashlib.blake2b(json.dumps(obs, sort_keys=True).encode(), digest_size=8).hexdigest()


@contextlib.contextmanager
def _outside_the_cyclic_gc():
    """Parsed JSON holds no reference cycles, and the records live as long as the run: read with the cyclic
    GC off, then frozen out of its walks (gc.freeze), whose full collections went over the millions of
    objects of each cache again and again (~0.1 s of the runner's ~3 s with two caches)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
        gc.freeze()
    finally:
        if was:
            gc.enable()


def _as_written(rec: dict[str, Any], line: bytes) -> bool:
    """Whether ``line`` is ``rec`` as append() writes it, its obs text untouched: that text is what its sum was
    taken of, so it needs no encoding again (~0.1 s a cache of 1495 records). Any other line (a changed
    byte, or one written another way) is checked by encoding the obs it read back."""
    head = b'{"case": %s, "obs": ' % json.dumps(rec["case"]).encode()
    tail = b', "schema": %s, "sum": %s}' % (json.dumps(rec["schema"]).encode(),
                                              json.dumps(rec.get("sum")).encode())
    if len(line) < len(head) + len(tail) or not line.startswith(head) or not line.endswith(tail):
        return False
    return hashlib.blake2b(line[len(head):len(line) - len(tail)], digest_size=8).hexdigest() == rec.get("sum")


class OracleCache:
    def __init__(self, root: Path, key: dict[str, Any]):
        self.key = key
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
        self.dir = Path(root) / f"torch-{key['torch']}_st-{key['safetensors']}_{digest}"
        self.records_path = self.dir / "records.jsonl"
        self.meta_path = self.dir / "meta.json"
        self.failures_path = self.dir / "failures.json"   # cases the last recording could not record
        self.environment_path = self.dir / "environment.json"   # cases this environment cannot run (not records)
        self.lock_path = self.dir / ".lock"                # held while appending: runs may record side by side
        self.snippets_path = self.dir / "snippets.json"    # snippet digest -> PyTorch's answer (snippet_check.py)
        self.warnings: list[str] = []                     # what load() dropped, for the run to say

    def load(self) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """(observations by case id, oracle hello or None). Raises CacheError on corrupt files; a
        record failing its checksum, or of another schema, is left out (so recorded again) with a warning."""
        hello = None
        if self.meta_path.exists():
            try:
                hello = json.loads(self.meta_path.read_text())["hello"]
            except (ValueError, KeyError, TypeError) as e:
                raise self._corrupt(self.meta_path, None, e) from None
        records: dict[str, Any] = {}
        bad: dict[str, str] = {}
        if self.records_path.exists():
            with _outside_the_cyclic_gc():
                lines = self.records_path.read_bytes().split(b"\n")
                for n, line in enumerate(lines, 1):
                    if not line.strip():
                        continue
                    if n == len(lines):     # no trailing newline: a write cut short by a kill; re-record it
                        break
                    try:
                        rec = json.loads(line)
                        cid, obs = rec["case"], rec["obs"]
                    except (ValueError, KeyError, TypeError) as e:
                        raise self._corrupt(self.records_path, n, e) from None
                    problem = self._doubt(rec, line)
                    if problem:
                        bad[cid] = (problem, n)
                        records.pop(cid, None)
                    else:
                        records[cid] = obs
                        bad.pop(cid, None)       # recorded again after a bad one: the later record holds
        by_problem: dict[str, list[int]] = {}
        for problem, n in bad.values():
            by_problem.setdefault(problem, []).append(n)
        self.warnings = [f"{len(ns)} oracle cache record(s) in {self.records_path} (line {', '.join(map(str, sorted(ns)[:5]))}"
                         f"{', ...' if len(ns) > 5 else ''}) {problem}; recording them again"
                         for problem, ns in by_problem.items()]
        return records, hello

    @staticmethod
    def _doubt(rec: dict[str, Any], line: bytes) -> str | None:
        if rec.get("schema") != OBS_SCHEMA:
            return f"has schema {rec.get('schema')!r}, not {OBS_SCHEMA}"
        if not _as_written(rec, line) and rec.get("sum") != checksum(rec["obs"]):
            return "does not match its checksum (the file was changed after it was written)"
        return None

    def load_failures(self) -> dict[str, Any]:
        """Kit errors of the last recording (oracle crashes, timeouts) and what this environment cannot
        run: shown (or SKIP), never reused as records."""
        out = {}
        for path in (self.failures_path, self.environment_path):
            try:
                data = json.loads(path.read_text()) if path.exists() else {}
            except ValueError as e:
                raise self._corrupt(path, None, e) from None
            out.update({cid: (v["obs"] if path == self.environment_path else v) for cid, v in data.items()})
        return out

    def save_failures(self, failures: dict[str, Any]) -> None:
        self._replace(self.failures_path, json.dumps(failures, indent=1, sort_keys=True))

    def load_environment(self) -> dict[str, dict[str, Any]]:
        try:
            return json.loads(self.environment_path.read_text()) if self.environment_path.exists() else {}
        except ValueError as e:
            raise self._corrupt(self.environment_path, None, e) from None

    def save_environment(self, lacking: dict[str, dict[str, Any]]) -> None:
        """{case: {"obs", "module"}}: observations of a missing module, kept apart from the records and
        looked at again by every run (recorded as soon as the module can be imported)."""
        self._replace(self.environment_path, json.dumps(lacking, indent=1, sort_keys=True))

    def _replace(self, path: Path, text: str) -> None:
        """Atomically, through a temp file of a random name made with O_EXCL and O_NOFOLLOW (runs write side
        by side, and a file or symlink planted under a guessable name is never written through)."""
        from .results import write_atomic

        self.dir.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text)

    def _corrupt(self, path: Path, line: int | None, err: Exception) -> CacheError:
        where = f"{path}:{line}" if line else str(path)
        return CacheError(f"corrupt oracle cache record at {where} ({type(err).__name__}: {err}). "
                          f"Delete {self.dir} or run with --rebuild-oracle to record the oracle again.")

    def save_hello(self, hello: dict[str, Any]) -> None:
        self._replace(self.meta_path, json.dumps({"key": self.key, "hello": hello}, indent=1, sort_keys=True))

    def append(self, case_id: str, obs: Any) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        line = (json.dumps({"case": case_id, "obs": obs, "schema": OBS_SCHEMA, "sum": checksum(obs)},
                           sort_keys=True) + "\n").encode()
        with _open_no_symlink(self.lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)    # other runs recording into this cache wait their turn
            with _open_no_symlink(self.records_path, "a+b") as f:
                end = f.seek(0, os.SEEK_END)
                if end:
                    f.seek(end - 1)
                    if f.read(1) != b"\n":     # a record cut short by a kill (load() skipped it): drop it,
                        f.seek(0)               # or the next record would be glued to it
                        f.truncate(f.read().rfind(b"\n") + 1)
                f.write(line)

    def load_snippet_answers(self, driver: str) -> dict[str, Any]:
        """Snippet digest -> PyTorch's answer, as snippet_check's driver of version ``driver`` gave it. A file
        that does not parse, or an answer failing its checksum, is left out with a warning (never an error: those
        snippets just run under PyTorch again)."""
        answers, problem = self._read_snippet_answers(driver)
        if problem:
            self.warnings.append(f"{self.snippets_path} {problem}; running those snippets under PyTorch again")
        return answers

    def save_snippet_answers(self, driver: str, new: dict[str, Any]) -> None:
        """``new`` merged into the file under the lock and written atomically: runs side by side keep each other's."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with _open_no_symlink(self.lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            answers, _ = self._read_snippet_answers(driver)     # a bad file is replaced: load() warned of it
            answers.update(new)
            self._replace(self.snippets_path, json.dumps(
                {"driver": driver, "answers": {k: {"answer": a, "sum": checksum(a)} for k, a in answers.items()}},
                sort_keys=True))

    def _read_snippet_answers(self, driver: str) -> tuple[dict[str, Any], str | None]:
        try:
            data = json.loads(self.snippets_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}, None
        except (OSError, ValueError) as e:
            return {}, f"cannot be read ({type(e).__name__}: {e})"
        if not isinstance(data, dict) or not isinstance(data.get("answers"), dict):
            return {}, "is not a snippet answer file"
        if data.get("driver") != driver:      # answers of another driver: measured again, silently
            return {}, None
        good = {k: v["answer"] for k, v in data["answers"].items()
                if isinstance(v, dict) and "answer" in v and v.get("sum") == checksum(v["answer"])}
        bad = len(data["answers"]) - len(good)
        return good, (f"has {bad} answer(s) that do not match their checksum" if bad else None)

    def clear(self) -> None:
        for p in (self.records_path, self.meta_path, self.failures_path, self.environment_path, self.snippets_path):
            if p.exists():
                p.unlink()


def _open_no_symlink(path: Path, mode: str):
    """``open(path, mode)`` for appending, refusing a symlink in its place (O_NOFOLLOW): the cache is written
    only where the runner itself put it."""
    flags = os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    flags |= os.O_RDWR if "+" in mode else os.O_WRONLY
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise CacheError(f"{path} is a symlink; the oracle cache writes only files of its own. Delete it, or "
                             "run with --rebuild-oracle") from None
        raise
    return os.fdopen(fd, mode)


def ensure_recorded(cache: OracleCache, case_ids: list[str], timeout: float,
                    worker_extra: tuple[str, ...] = ()) -> tuple[dict[str, Any], dict[str, Any]]:
    """Record every case the cache lacks; return (observations, oracle hello).

    ``worker_extra`` are more oracle worker arguments (``--torch-version``: the oracle on another loading
    path), recorded into a cache of their own. One oracle process records them, or two side by side when slow cases are among them (each
    starts a Python of its own and imports torch: seconds). An oracle crash or timeout is not a
    record: it is kept in failures.json (so xdist workers can show it) and recorded again by the
    next run.
    """
    from .registry import load_catalog

    records, hello = cache.load()
    cases = load_catalog()
    stale = stale_recordings(records, cases)
    for cid in stale:
        del records[cid]
    if stale:
        cache.warnings.append(f"{len(stale)} oracle cache record(s) of replay cases were made from another "
                              "recording than the one there now; recording them again")
    lacking = _still_lacking(cache.load_environment())
    missing = [cid for cid in case_ids if cid not in records and cid not in lacking]
    if not missing and hello:
        cache.warnings += _install_hints(lacking)
        return {**{c: v["obs"] for c, v in lacking.items()}, **records}, hello
    lanes = two_lanes(missing, lambda cid: getattr(cases.get(cid), "slow", False))
    failures: dict[str, Any] = {}
    outcome: list[Any] = [None] * len(lanes)      # each lane's oracle hello, or what stopped it
    lock, stop = threading.Lock(), threading.Event()

    def run_lane(i: int) -> None:
        try:
            outcome[i] = _record_lane(lanes[i], cases, timeout, cache, records, failures, lacking, lock, stop,
                                      worker_extra)
        except BaseException as e:   # also Ctrl-C: the other lane stops too, then it is raised below
            outcome[i] = e
            stop.set()

    others = [threading.Thread(target=run_lane, args=(i,), daemon=True) for i in range(1, len(lanes))]
    for t in others:
        t.start()
    try:
        run_lane(0)
    finally:
        for t in others:
            t.join()
        cache.save_failures(failures)
        cache.save_environment(lacking)
    for o in outcome:
        if isinstance(o, BaseException):
            raise o
    cache.warnings += _install_hints(lacking)
    return {**failures, **{c: v["obs"] for c, v in lacking.items()}, **records}, outcome[0] or hello


def _still_lacking(lacking: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The saved environment problems whose module still cannot be imported here (the others are
    recorded again now)."""
    import importlib.util

    def absent(name: str) -> bool:
        try:
            return importlib.util.find_spec(name) is None
        except (ImportError, ValueError):
            return True

    return {c: v for c, v in lacking.items() if isinstance(v, dict) and "obs" in v and absent(str(v.get("module")))}


def _install_hints(lacking: dict[str, dict[str, Any]]) -> list[str]:
    by_module: dict[str, int] = {}
    for v in lacking.values():
        by_module[v["module"]] = by_module.get(v["module"], 0) + 1
    return [f"{n} case(s) need module {m!r}, which is not installed here (pip install {m}); the oracle's "
            "observations of its absence are not cached as records, and are recorded again once it is installed"
            for m, n in sorted(by_module.items())]


def _record_lane(lane: list[str], cases: dict[str, Any], timeout: float, cache: OracleCache,
                 records: dict[str, Any], failures: dict[str, Any], lacking: dict[str, Any],
                 lock: threading.Lock, stop: threading.Event, worker_extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """Record ``lane`` in one oracle process, in order; return the oracle's hello."""
    from . import backends
    from .client import SEND_AHEAD, WorkerClient
    from .compare import environment_problem

    oracle = WorkerClient(backends.resolve("torch").worker_args() + list(worker_extra), timeout=timeout)
    try:
        hello = oracle.start()
        with lock:
            cache.save_hello(hello)
        for i, cid in enumerate(lane):
            if stop.is_set():
                break
            got = oracle.run(cid, timeout=max(timeout, getattr(cases.get(cid), "timeout", None) or 0),
                             then=lane[i + 1:i + 1 + SEND_AHEAD])   # queued: it goes on while this one is written
            obs = got.get("obs")
            lacks = environment_problem(obs)
            with lock:
                if obs is not None and lacks:       # this machine's problem, not PyTorch's answer
                    lacking[cid] = {"obs": obs, "module": lacks}
                elif obs is not None and KIT_ERROR not in obs:
                    cache.append(cid, obs)
                    records[cid] = obs
                elif obs is not None:
                    failures[cid] = obs
                else:
                    failures[cid] = {KIT_ERROR: f"oracle {'crashed' if 'crash' in got else 'timed out'}: "
                                                  f"{got.get('crash') or got.get('timeout')}"}
        return hello
    finally:
        oracle.close()
