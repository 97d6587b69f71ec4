"""A minimal, self-contained and deterministic HTML page from results.json."""
from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from ..outcomes import ORDER, OUTCOMES

_env = Environment(loader=PackageLoader("conformance.reports", "templates"),
                   autoescape=select_autoescape(["html", "j2"]), keep_trailing_newline=True)


def render(results: dict[str, Any]) -> str:
    cases = results["cases"]
    by_api: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for r in cases:
        by_api[(r["origin"], r["api"])][r["outcome"]] += 1
    groups: dict[str, list] = defaultdict(list)
    for (origin, api), c in sorted(by_api.items()):
        groups[origin].append((api, [(o, c[o]) for o in ORDER if c[o]]))
    failing = [r for r in cases if OUTCOMES[r["outcome"]].is_failure or r["outcome"] == "XFAIL"]
    return _env.get_template("index.html.j2").render(
        run=results["run"], groups=sorted(groups.items()), failing=failing, order=ORDER, outcomes=OUTCOMES)


def write(results: dict[str, Any], out: Path) -> None:
    out.write_text(render(results))
