"""The one judge: a case's target result and its oracle observation in, its record out.

Every outcome a report shows is set here, once: ``raw_outcome`` (the comparison, with the cause the one
blame rule found), ``outcome`` (after the expectations file), ``shown_outcome`` (BLOCKED when another API
failed first) and ``cause``. Pure: it reads no torch and starts no process, so the runner (items.py) and
anything that judges again from saved observations get the same record.
"""
from __future__ import annotations

from typing import Any

from . import expectations as expect, results as res
from .compare import judge, settle


def judge_case(case: Any, result: dict[str, Any], oracle_obs: dict[str, Any] | None, *, target: str,
               expectations: expect.Expectations, api_names: dict[str, str], off_path: str | None,
               oracle_version: str | None, process: str | None, seq: int | None,
               oracle_reads: dict[str, str] | None = None) -> dict[str, Any]:
    """The record of ``case`` (docs/results-schema.md, "Case record"); the controller adds ``oracle``.
    ``oracle_reads``: the oracle hello's ``recorder.reads`` (``compare.judge``)."""
    verdict = settle(judge(oracle_obs, result, case.tolerance, case.api, case.reads, oracle_reads),
                     case.api, result.get("obs"), api_names, res.reached_around(result))
    entry = expectations.match(case.id, (verdict.cause or {}).get("api"))    # an id entry, else one for its cause
    final, note = expect.apply(verdict.outcome, entry)
    return res.case_record(case, target, verdict, entry, final, note, result, off_path=off_path,
                           oracle_version=oracle_version, process=process, seq=seq)
