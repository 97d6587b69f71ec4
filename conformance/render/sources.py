"""What a report shows to reproduce a case: the repro command, the case function's source and snippets.

The one place a renderer reads the live catalog (everything else comes from results.json): the source
comes from the catalog of this checkout, which may be newer than the run; the report says so when the
catalog digest differs from the one recorded in results.json.
"""
from __future__ import annotations

import inspect
import shlex
import textwrap
from dataclasses import dataclass
from typing import Any

from ..backends import identity
from ..registry import catalog_digest, load_catalog


@dataclass(frozen=True)
class CaseSource:
    key: str          # "module.function": one source block per function, shared by its parameter sets
    source: str
    params: str       # the case's keyword arguments, as Python

    @property
    def anchor(self) -> str:
        return "src-" + self.key


def repro_command(header: dict[str, Any], case_id: str) -> str:
    """The command that runs ``case_id`` again on the run's exact target: its name, backend path and
    sources (``run.target_spec``; an older results.json without it gives the name alone)."""
    spec = header.get("target_spec") or {}
    words = ["python -m conformance.repro --target", shlex.quote(str(spec.get("target") or header.get("target")))]
    for folder in spec.get("backend_path") or []:
        words += ["--backend-path", shlex.quote(folder)]
    sources = identity.token(spec.get("sources"))
    if sources:
        words += ["--sources", shlex.quote(sources)]
    return " ".join([*words, shlex.quote(case_id)])


class Catalog:
    """The current catalog, read lazily and only once per report; a broken catalog is reported, not fatal."""

    def __init__(self) -> None:
        try:
            self.cases: dict[str, Any] = dict(load_catalog())
            self.digest: str | None = catalog_digest()
            self.error = ""
        except Exception as e:   # a catalog module being edited must not stop the report
            self.cases, self.digest, self.error = {}, None, f"{type(e).__name__}: {e}"
        self._sources: dict[Any, str] = {}     # per function: its parameter sets share one source

    def key(self, case_id: str) -> str | None:
        """``module.function`` of a case, without reading its source."""
        case = self.cases.get(case_id)
        return None if case is None else f"{case.fn.__module__.rsplit('.', 1)[-1]}.{case.fn.__qualname__}"

    def source(self, case_id: str) -> CaseSource | None:
        case = self.cases.get(case_id)
        if case is None:
            return None
        if case.fn not in self._sources:
            try:
                self._sources[case.fn] = textwrap.dedent(inspect.getsource(case.fn))
            except (OSError, TypeError):
                self._sources[case.fn] = "# source not available"
        values = case.params.values if case.params else {}
        params = ", ".join(f"{k}={v!r}" for k, v in sorted(values.items()))
        key = f"{case.fn.__module__.rsplit('.', 1)[-1]}.{case.fn.__qualname__}"
        return CaseSource(key, self._sources[case.fn], params)


_LIVE: Catalog | None = None


def snippet_cases() -> dict[str, Any]:
    """The live catalog's cases, which snippets are made from (once per process; none when it is broken)."""
    global _LIVE
    if _LIVE is None:
        _LIVE = Catalog()
    return _LIVE.cases
