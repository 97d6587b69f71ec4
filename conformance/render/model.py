"""The results model every report renders: one or several results.json, read once, sorted once.

A run is keyed by (target, safetensors version, torch version of the target's header), so one
report can put several targets, or one target under several safetensors/torch versions, side by
side. Everything here is sorted explicitly; renderers add formatting only, never order.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .. import results as res
from ..outcomes import ORDER, OUTCOMES
from . import causes as causes_mod
from .progress import Progress, compare
from .entry_points import E2E_MODULES, ENTRY_POINTS, EntryPoint, origin_rank, rank, record_entry_points

# Colour of a cell with mixed outcomes: the first failure in the outcome table, then the rest in table order.
PRIORITY = [o for o in ORDER if OUTCOMES[o].is_failure] + [o for o in ORDER if not OUTCOMES[o].is_failure]


def natural(s: str | None) -> tuple:
    """Sort "0.10.0" after "0.9.1"; None sorts first."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", s or "") if p)


def works(record: dict[str, Any]) -> bool:
    """Whether the API behaved as PyTorch's in this case, whatever the expectations file says:
    an XFAIL still breaks the entry point, an XPASS does not."""
    return causes_mod.works(record)


def listed(record: dict[str, Any]) -> bool:
    """Cases that get a row of their own in the report: gate failures and rows whose raw outcome fails."""
    return OUTCOMES[record["outcome"]].is_failure or not works(record)


def worst(outcomes: Iterable[str]) -> str:
    present = set(outcomes)
    return next((o for o in PRIORITY if o in present), "SKIP")


def anchor(case_id: str) -> str:
    """The id of a case's row in index.html; the checklist links to it."""
    return "case-" + re.sub(r"\s", "_", case_id)


@dataclass(frozen=True, order=True)
class RunKey:
    target: str
    safetensors: str
    torch: str

    def sort_key(self) -> tuple:
        return (self.target, natural(self.safetensors), natural(self.torch))


@dataclass
class Run:
    key: RunKey
    slug: str                                  # "r0", "r1": stable ids for HTML attributes
    header: dict[str, Any]                     # results.json "run" (counts, catalog, gate problems, ...)
    cases: dict[str, dict[str, Any]]           # id -> record, sorted by id

    @property
    def oracle(self) -> dict[str, Any] | None:
        return self.header.get("oracle")

    @property
    def target_env(self) -> dict[str, Any] | None:
        return self.header.get("target_env")

    @property
    def label(self) -> str:
        return self.key.target

    @property
    def versions(self) -> str:
        torch = "without __version__" if self.key.torch == "None" else self.key.torch
        return f"safetensors {self.key.safetensors}, torch {torch}"

    @property
    def counts(self) -> dict[str, int]:
        return res.counts(list(self.cases.values()))


@dataclass
class ApiStatus:
    """One API within one entry point on one run."""
    api: str
    records: list[dict[str, Any]]              # sorted by id

    @property
    def failing(self) -> list[dict[str, Any]]:
        return [r for r in self.records if not works(r)]

    @property
    def works(self) -> bool:
        return not self.failing

    @property
    def counts(self) -> dict[str, int]:
        return res.counts(self.records)


@dataclass
class EntryStatus:
    entry: EntryPoint
    apis: list[ApiStatus]                      # sorted by API name

    @property
    def failing(self) -> list[ApiStatus]:
        return [a for a in self.apis if not a.works]

    @property
    def passing(self) -> list[ApiStatus]:
        return [a for a in self.apis if a.works]

    @property
    def cases(self) -> int:
        return sum(len(a.records) for a in self.apis)

    @property
    def failing_cases(self) -> int:
        return sum(len(a.failing) for a in self.apis)

    @property
    def works(self) -> bool:
        return bool(self.apis) and not self.failing


@dataclass
class Row:
    """One line of the matrix: an API as used by one origin, with its outcomes on every run."""
    origin: str
    api: str
    cells: dict[str, Counter] = field(default_factory=dict)         # run slug -> outcome counts
    first_listed: dict[str, str] = field(default_factory=dict)      # run slug -> first case id with a row


@dataclass
class CaseView:
    """A case across runs (metadata from the first run that has it)."""
    id: str
    api: str
    origin: str
    module: str
    records: dict[str, dict[str, Any]]         # run slug -> record

    @property
    def anchor(self) -> str:
        return anchor(self.id)

    @property
    def worst(self) -> str:
        return worst(r["outcome"] for r in self.records.values())


@dataclass
class Report:
    runs: list[Run]
    date: str | None = None                    # only when the user asked for one
    performance: dict[str, Any] | None = None  # loading-path measurements a run carried (run --perf)
    since: dict[str, Progress] = field(default_factory=dict)   # run slug -> progress since --baseline
    surface: dict[str, Any] | None = None      # the traced API inventory a run carried (run --surface)
    _causes: dict[str, list[causes_mod.Cause]] = field(default_factory=dict, repr=False, compare=False)

    # -- derived views, all sorted ------------------------------------------------------------
    def case_views(self) -> list[CaseView]:
        views: dict[str, CaseView] = {}
        for run in self.runs:
            for cid, r in run.cases.items():
                v = views.setdefault(cid, CaseView(cid, r["api"], r["origin"], r["module"], {}))
                v.records[run.slug] = r
        return sorted(views.values(), key=lambda v: (origin_rank(v.origin), v.api, v.id))

    def listed_cases(self) -> tuple[list[CaseView], list[CaseView]]:
        """(cases failing the gate on some run, cases that only fail as expected), each in matrix order."""
        failing, xfail = [], []
        for v in self.case_views():
            outs = [r["outcome"] for r in v.records.values()]
            if any(OUTCOMES[o].is_failure for o in outs):
                failing.append(v)
            elif any(listed(r) for r in v.records.values()):
                xfail.append(v)
        return failing, xfail

    def matrix(self) -> list[tuple[str, list[Row]]]:
        """[(origin, rows)] in entry-point order; rows sorted by API."""
        rows: dict[tuple[str, str], Row] = {}
        for run in self.runs:
            for cid, r in run.cases.items():
                row = rows.setdefault((r["origin"], r["api"]), Row(r["origin"], r["api"]))
                row.cells.setdefault(run.slug, Counter())[causes_mod.shown_outcome(r)] += 1
                if listed(r) and run.slug not in row.first_listed:
                    row.first_listed[run.slug] = cid
        by_origin: dict[str, list[Row]] = {}
        for (origin, _), row in sorted(rows.items(), key=lambda kv: (origin_rank(kv[0][0]), kv[0][1])):
            by_origin.setdefault(origin, []).append(row)
        return list(by_origin.items())

    def entry_points(self, run: Run) -> list[EntryStatus]:
        """Every entry point in table order (also those this run has no case for), then unknown ones."""
        apis: dict[EntryPoint, dict[str, list]] = {ep: {} for ep in ENTRY_POINTS}
        for r in run.cases.values():
            for ep in record_entry_points(r):
                apis.setdefault(ep, {}).setdefault(r["api"], []).append(r)
        return [EntryStatus(ep, [ApiStatus(api, sorted(recs, key=lambda r: r["id"]))
                                 for api, recs in sorted(apis[ep].items())])
                for ep in sorted(apis, key=rank)]

    def verdicts(self, run: Run) -> list[causes_mod.Verdict]:
        """Each entry point's verdict on ``run``, in table order (also those without cases), then unknown ones."""
        return [causes_mod.verdict(st.entry, [r for a in st.apis for r in a.records], E2E_MODULES)
                for st in self.entry_points(run)]

    def causes(self, run: Run) -> list[causes_mod.Cause]:
        """The run's root causes, worked out once: the snippet check and each renderer ask (the rows are fixed;
        what the header gains later, the snippet verdicts, is read from it where it is used)."""
        if run.slug not in self._causes:
            self._causes[run.slug] = causes_mod.causes(run.cases.values(), run.header)
        return self._causes[run.slug]

    def all_entry_points(self) -> list[EntryPoint]:
        seen: dict[str, EntryPoint] = {}
        for run in self.runs:
            for st in self.entry_points(run):
                seen.setdefault(st.entry.key, st.entry)
        return sorted(seen.values(), key=rank)

    def oracles(self) -> list[tuple[list[Run], dict[str, Any]]]:
        """Distinct oracle headers with the runs that used each (usually one for all)."""
        out: list[tuple[list[Run], dict[str, Any]]] = []
        for run in self.runs:
            h = run.oracle or {}
            for runs, seen in out:
                if seen == h:
                    runs.append(run)
                    break
            else:
                out.append(([run], h))
        return out


class ReportError(res.ResultsError):
    pass


def _key(data: dict[str, Any]) -> RunKey:
    run = data.get("run") or {}
    env = run.get("target_env") or {}
    # "?" when the header was not recorded (a partial run); "None" when the module has no __version__
    return RunKey(str(run.get("target") or env.get("target") or "?"), str(env.get("safetensors") or "?"),
                  str(env.get("version")) if env else "?")


def from_results(results: Iterable[dict[str, Any]], date: str | None = None,
                 baseline: dict[str, Any] | None = None) -> Report:
    """A report from already-loaded results dicts (what the pytest plugin holds at session end);
    ``baseline`` (an earlier results dict) adds, for each run of its target, what changed since."""
    loaded = sorted(((_key(d), d) for d in results), key=lambda kd: kd[0].sort_key())
    keys = [k for k, _ in loaded]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        k = dup[0]
        raise ReportError(f"two results for target {k.target!r} with safetensors {k.safetensors} and torch "
                          f"{k.torch}; a report compares different runs, pass one of them")
    runs = [Run(k, f"r{i}", d.get("run") or {}, {r["id"]: r for r in sorted(d.get("cases", []), key=lambda r: r["id"])})
            for i, (k, d) in enumerate(loaded)]
    report = Report(runs, date, next((d["performance"] for _, d in loaded if d.get("performance")), None),
                    surface=next((d["surface"] for _, d in loaded if d.get("surface")), None))
    if baseline is not None:
        base_target = _key(baseline).target
        for run, (k, d) in zip(runs, loaded):
            if k.target == base_target:
                report.since[run.slug] = compare(baseline, d, "baseline", "this run")
    return report


def load(paths: Iterable[Path | str], date: str | None = None, baseline: Path | str | None = None) -> Report:
    """A report from results.json files (or results.jsonl of interrupted runs); ``baseline`` is a
    report dir or results file of an earlier run."""
    from .progress import load as load_progress
    return from_results([res.load(Path(p)) for p in paths], date,
                        load_progress(baseline) if baseline is not None else None)
