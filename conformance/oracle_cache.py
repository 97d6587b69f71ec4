"""Oracle observations, recorded once per (torch, safetensors, Python, catalog) and reused.

Layout: ``<root>/<key>/meta.json`` (the key and the oracle's hello) and ``records.jsonl`` (one
``{"case": id, "obs": ...}`` per line, appended as cases are recorded, so an interrupted recording
keeps what it measured and the next run fills in only the rest).
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import threading
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any


class CacheError(Exception):
    pass


def default_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "torch-conformance" / "oracle"


def _dist(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def cache_key(catalog_digest: str) -> dict[str, Any]:
    return {"torch": _dist("torch"), "safetensors": _dist("safetensors"), "numpy": _dist("numpy"),
            "python": platform.python_version(), "catalog": catalog_digest,
            # the transformers_e2e cases observe what this transformers does (None: not installed, SKIP)
            "transformers": _dist("transformers")}


class OracleCache:
    def __init__(self, root: Path, key: dict[str, Any]):
        self.key = key
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
        self.dir = Path(root) / f"torch-{key['torch']}_st-{key['safetensors']}_{digest}"
        self.records_path = self.dir / "records.jsonl"
        self.meta_path = self.dir / "meta.json"
        self.failures_path = self.dir / "failures.json"   # cases the last recording could not record

    def load(self) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """(observations by case id, oracle hello or None). Raises CacheError on corrupt files."""
        hello = None
        if self.meta_path.exists():
            try:
                hello = json.loads(self.meta_path.read_text())["hello"]
            except (ValueError, KeyError) as e:
                raise self._corrupt(self.meta_path, None, e) from None
        records: dict[str, Any] = {}
        if self.records_path.exists():
            lines = self.records_path.read_bytes().split(b"\n")
            for n, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                if n == len(lines):     # no trailing newline: a write cut short by a kill; re-record it
                    break
                try:
                    rec = json.loads(line)
                    records[rec["case"]] = rec["obs"]
                except (ValueError, KeyError, TypeError) as e:
                    raise self._corrupt(self.records_path, n, e) from None
        return records, hello

    def load_failures(self) -> dict[str, Any]:
        """Kit errors of the last recording (oracle crashes, timeouts): shown, never reused as records."""
        try:
            return json.loads(self.failures_path.read_text()) if self.failures_path.exists() else {}
        except ValueError as e:
            raise self._corrupt(self.failures_path, None, e) from None

    def save_failures(self, failures: dict[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.failures_path.write_text(json.dumps(failures, indent=1, sort_keys=True))

    def _corrupt(self, path: Path, line: int | None, err: Exception) -> CacheError:
        where = f"{path}:{line}" if line else str(path)
        return CacheError(f"corrupt oracle cache record at {where} ({type(err).__name__}: {err}). "
                          f"Delete {self.dir} or run with --rebuild-oracle to record the oracle again.")

    def save_hello(self, hello: dict[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.meta_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"key": self.key, "hello": hello}, indent=1, sort_keys=True))
        tmp.replace(self.meta_path)

    def append(self, case_id: str, obs: Any) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.records_path, "a+b") as f:
            end = f.seek(0, os.SEEK_END)
            if end:
                f.seek(end - 1)
                if f.read(1) != b"\n":     # a record cut short by a kill (load() skipped it): drop it,
                    f.seek(0)               # or the next record would be glued to it
                    f.truncate(f.read().rfind(b"\n") + 1)
            f.write((json.dumps({"case": case_id, "obs": obs}, sort_keys=True) + "\n").encode())

    def clear(self) -> None:
        for p in (self.records_path, self.meta_path, self.failures_path):
            if p.exists():
                p.unlink()


def ensure_recorded(cache: OracleCache, case_ids: list[str], timeout: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """Record every case the cache lacks; return (observations, oracle hello).

    One oracle process records them, or two side by side when slow cases are among them (each
    starts a Python of its own and imports torch: seconds). An oracle crash or timeout is not a
    record: it is kept in failures.json (so xdist workers can show it) and recorded again by the
    next run.
    """
    from .registry import load_catalog

    records, hello = cache.load()
    missing = [cid for cid in case_ids if cid not in records]
    if not missing and hello:
        return records, hello
    cases = load_catalog()
    lanes = _split_lanes(missing, cases)
    failures: dict[str, Any] = {}
    outcome: list[Any] = [None] * len(lanes)      # each lane's oracle hello, or what stopped it
    lock, stop = threading.Lock(), threading.Event()

    def run_lane(i: int) -> None:
        try:
            outcome[i] = _record_lane(lanes[i], cases, timeout, cache, records, failures, lock, stop)
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
    for o in outcome:
        if isinstance(o, BaseException):
            raise o
    return {**failures, **records}, outcome[0]


def _record_lane(lane: list[str], cases: dict[str, Any], timeout: float, cache: OracleCache,
                 records: dict[str, Any], failures: dict[str, Any], lock: threading.Lock,
                 stop: threading.Event) -> dict[str, Any]:
    """Record ``lane`` in one oracle process, in order; return the oracle's hello."""
    from . import backends
    from .client import SEND_AHEAD, WorkerClient

    oracle = WorkerClient(backends.resolve("torch").worker_args(), timeout=timeout)
    try:
        hello = oracle.start()
        with lock:
            cache.save_hello(hello)
        for i, cid in enumerate(lane):
            if stop.is_set():
                break
            got = oracle.run(cid, timeout=max(timeout, getattr(cases.get(cid), "timeout", None) or 0),
                             then=lane[i + 1:i + 1 + SEND_AHEAD])   # queued: it goes on while this one is written
            with lock:
                if "obs" in got:
                    cache.append(cid, got["obs"])
                    records[cid] = got["obs"]
                else:
                    failures[cid] = {"kit_error": f"oracle {'crashed' if 'crash' in got else 'timed out'}: "
                                                  f"{got.get('crash') or got.get('timeout')}"}
        return hello
    finally:
        oracle.close()


# What a case is expected to cost, in ordinary cases (~1 ms each): a slow one starts a Python that
# imports torch (~2.5 s). A second oracle process costs one more torch import (~2 s of CPU), so
# it is started only when there is at least that much slow work to move to it.
_SLOW_COST = 2000


def _split_lanes(missing: list[str], cases: dict[str, Any]) -> list[list[str]]:
    """[missing], or two lanes of about equal expected time, each in catalog order."""
    cost = {cid: _SLOW_COST if getattr(cases.get(cid), "slow", False) else 1 for cid in missing}
    if sum(cost.values()) < 2 * _SLOW_COST or (os.cpu_count() or 1) < 2:
        return [missing]
    load, lane_of = [0, 0], {}
    for cid in sorted(missing, key=lambda c: -cost[c]):      # biggest first, each to the lighter lane
        i = load.index(min(load))
        lane_of[cid] = i
        load[i] += cost[cid]
    return [[cid for cid in missing if lane_of[cid] == i] for i in (0, 1)]
