"""How much users lose to a cause: its tier, the entry points and workloads it breaks, its rows.

The rule (docs/reports.md, "What to fix first"):

1. tier, by what users lose: silent wrong values, bytes or dtype; then what makes an entry point or a
   workload fail outright; then aliasing and copies (and inputs PyTorch refuses that the target takes);
   then strides and metadata no entry point's result depends on; last, optional dtypes and attributes
   safetensors reads behind a guard;
2. within a tier, the entry points and workloads its rows belong to (a fix unblocks them): a failing
   fresh-process ``import safetensors.torch`` counts as every entry point and workload of the run;
3. then its rows.
"""
from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ..dtypes import DTYPES
from .entry_points import record_entry_points
from .rows import accepts_refused, is_e2e, kind, silent_fields

TIERS = {
    "wrong": "Silent wrong values, bytes or dtype in what users load, save or compute",
    "broken": "What makes an entry point or a workload fail outright",
    "aliasing": "Aliasing and copies (and inputs PyTorch refuses that the backend takes)",
    "metadata": "Strides and metadata that no entry point's result depends on",
    "optional": "Optional dtypes and attributes safetensors reads behind a guard",
}
FRESH_ORIGIN = "import safetensors.torch"      # the fresh-process import: every entry point needs it
_ALIASING = {"aliasing", "same_object"}
# Result fields that describe layout or bookkeeping rather than the data a user reads.
_METADATA = re.compile(r"stride|contiguous|nbytes|offset|ptr|is_zero|device|layout|version|branch|api_present"
                       r"|itemsize|element_size|numel|nelement|ndim")
_TRANSFORMERS = re.compile(r"^transformers\[([^-\]]+)-")
_GUARD = re.compile(r"""(?:getattr|hasattr)\(\s*torch\s*,\s*["'](\w+)["']""")
# What safetensors 0.8.0's torch.py guards (used when its source cannot be read): float8/float4 dtypes
# through getattr(torch, name, None), and uint16/32/64 together behind hasattr(torch, "uint64").
_GUARDED_FALLBACK = ("float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz", "float8_e8m0fnu",
                     "float4_e2m1fn_x2", "uint16", "uint32", "uint64")
_GUARDED: frozenset[str] | None = None
_ID_TOKEN = re.compile(r"[\w.]+")


def guarded_names() -> frozenset[str]:
    """torch attributes safetensors reads behind a guard (read from its installed source), plus the
    dtypes the kit itself tests only where the oracle has them."""
    global _GUARDED
    if _GUARDED is None:
        names: set[str] = set()
        try:
            spec = importlib.util.find_spec("safetensors.torch")
            text = Path(spec.origin).read_text(encoding="utf-8") if spec and spec.origin else ""
        except (ImportError, OSError, ValueError):
            text = ""
        names.update(_GUARD.findall(text))
        if "uint64" in names:        # one hasattr(torch, "uint64") guards uint16, uint32 and uint64
            names.update(("uint16", "uint32"))
        _GUARDED = frozenset(names or _GUARDED_FALLBACK) | {d for d, s in DTYPES.items() if s.optional}
    return _GUARDED


def row_tier(record: dict[str, Any]) -> str:
    """The tier of a row failing in its own call."""
    group, _ = kind(record)
    if group != "silent":
        return "broken"
    if accepts_refused(record):
        return "aliasing"
    fields = silent_fields(record)
    if any(f not in _ALIASING and not _METADATA.search(f) for f in fields):
        return "wrong"
    return "aliasing" if any(f in _ALIASING for f in fields) else "metadata"


def uses(record: dict[str, Any]) -> dict[str, str]:
    """The entry points and workloads a row counts for: key -> what a user calls. A transformers row
    counts for its model's from_pretrained; a replay row's origin names its model's forward pass."""
    m = _TRANSFORMERS.match(record.get("id", ""))
    if record.get("module") == "transformers_e2e" and m:
        return {f"from_pretrained:{m.group(1)}": f"from_pretrained({m.group(1)})"}
    return {ep.key: ep.title for ep in record_entry_points(record)}


def universe(records: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Every entry point and workload of a run (rows on a loading path it does not take aside)."""
    out: dict[str, str] = {}
    for r in records:
        if not r.get("off_path"):
            out.update(uses(r))
    return out


def guard_of(api: str, rows: list[dict[str, Any]]) -> list[str]:
    """The guarded names a cause is needed for, when it is needed only for them; else []."""
    names = guarded_names()
    m = re.fullmatch(r"torch\.(\w+)", api)
    if m and m.group(1) in names:
        return [m.group(1)]
    found = []
    for r in rows:
        mine = [t for t in _ID_TOKEN.findall(r.get("id", "")) if t in names]
        if not mine:
            return []
        found += [t for t in mine if t not in found]
    return sorted(found)


@dataclass
class Weight:
    tier: str
    uses: dict[str, str] = field(default_factory=dict)      # entry points and workloads a fix unblocks
    e2e: list[str] = field(default_factory=list)             # those whose own end-to-end rows fail for it
    rows: int = 0
    fresh: bool = False                                      # it breaks the fresh-process import
    guard: list[str] = field(default_factory=list)           # optional: needed only for these names

    def sort_key(self) -> tuple:
        return (list(TIERS).index(self.tier), -len(self.uses), -len(self.e2e), -self.rows)

    def text(self) -> str:
        """One line for the reader: what the weight is made of."""
        rows = f"{self.rows} row{'' if self.rows == 1 else 's'}"
        if self.guard:
            return f"needed only to load or save files holding {', '.join(self.guard)}; {rows}"
        n = len(self.uses)
        if self.fresh:
            return (f"breaks the fresh-process import safetensors.torch, which every entry point needs: all {n} "
                    f"entry points and workloads of the run, {rows}")
        e2e = f", {len(self.e2e)} failing end to end" if self.e2e else ""
        what = "1 entry point or workload" if n == 1 else f"{n} entry points and workloads"
        return f"{what}{e2e}, {rows}"

    @property
    def note(self) -> str:
        return "no entry point's result depends on it (their end-to-end rows do not fail for it)" \
            if self.tier == "metadata" else ""


def weigh(api: str, own: list[dict[str, Any]], blocked: list[dict[str, Any]], run_uses: dict[str, str]) -> Weight:
    rows = own + blocked
    # An end-to-end row whose only difference is layout is not "metadata no entry point depends on".
    tiers = [("aliasing" if is_e2e(r) and row_tier(r) == "metadata" else row_tier(r)) for r in own] \
        + ["broken" for r in blocked if is_e2e(r)]
    tier = min(tiers, key=list(TIERS).index) if tiers else "broken"
    fresh = any(r.get("origin") == FRESH_ORIGIN for r in rows)
    mine: dict[str, str] = {}
    e2e: list[str] = []
    for r in rows:
        u = uses(r)
        mine.update(u)
        if is_e2e(r):
            e2e += [k for k in u if k not in e2e]
    if fresh:
        mine, e2e = dict(run_uses), sorted(run_uses)
    guard = guard_of(api, rows) if rows else []
    return Weight("optional" if guard else tier, dict(sorted(mine.items())), sorted(e2e), len(rows), fresh, guard)
