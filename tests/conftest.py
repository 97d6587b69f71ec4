"""Fixtures of the kit's self-tests.

``oracle`` records the oracle once per test session into one cache directory that every test
shares (under pytest-xdist too: the first worker records it under a file lock, the others wait and
reuse it). Recording it is itself a check: real PyTorch as the target must PASS every case.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kitrun import RECORDING_SEED, file_state, not_applicable, once_per_session, run_kit

# Every kit run the tests start skips the checklist's snippet measurement (about a minute a run) unless it
# asks for it, as tests/test_checklist_snippets.py does.
os.environ.setdefault("CONFORMANCE_SKIP_SNIPPET_CHECK", "1")


@dataclass(frozen=True)
class Oracle:
    cache: Path                      # the --oracle-cache folder shared by every test
    records: Path                    # <cache>/<key>/records.jsonl
    meta: Path                       # <cache>/<key>/meta.json
    report_dir: Path                 # results of the recording run (--target torch, PYTHONHASHSEED=1)
    records_state: dict[str, Any]    # size/mtime/hash of records.jsonl right after recording
    meta_state: dict[str, Any]

    @property
    def results(self) -> dict[str, Any]:
        return json.loads((self.report_dir / "results.json").read_text())

    @property
    def ids(self) -> set[str]:
        return {c["id"] for c in self.results["cases"]}


def _record(shared: Path) -> dict[str, Any]:
    cache, report = shared / "oracle-cache", shared / "torch-run-1"
    assert not cache.exists(), f"{cache} exists before the recording run"
    run = run_kit("torch", report, cache, hash_seed=RECORDING_SEED)
    assert run.returncode == 0, f"--target torch did not pass:\n{run.output[-6000:]}"
    results = run.results
    not_passing = {c["id"]: (c["outcome"], c["summary"]) for c in results["cases"]
                   if c["outcome"] != "PASS" and not not_applicable(c)}
    assert not not_passing, f"real torch against its own oracle: {not_passing}"
    assert results["run"]["cases_run"] == results["run"]["cases_in_catalog"] > 0
    (key_dir,) = [d for d in cache.iterdir() if d.is_dir()]
    records, meta = key_dir / "records.jsonl", key_dir / "meta.json"
    return {"cache": str(cache), "records": str(records), "meta": str(meta), "report_dir": str(report),
            "records_state": file_state(records), "meta_state": file_state(meta)}


@pytest.fixture(scope="session")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> Oracle:
    info = once_per_session(tmp_path_factory, "conformance-oracle", _record)
    return Oracle(Path(info["cache"]), Path(info["records"]), Path(info["meta"]), Path(info["report_dir"]),
                  info["records_state"], info["meta_state"])
