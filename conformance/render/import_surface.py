"""One checklist item for what ``import transformers`` needs from torch: every missing module and attribute of
the recorded import surface (``transformers_import[...]`` rows), where transformers touches each and how, the
optional ones apart (read only behind ``hasattr``/``getattr`` with a default: never blockers), and why
transformers treats torch as absent when its ``import transformers`` step says so, from the run header.

Fixing one name at a time showed one blocker per run (the journey: seven runs, each promising 18 rows); as one
item the whole surface is one fix, and its rows are the ones that fix frees.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from .rows import cause_of, raw, works

API = "import transformers"
SURFACE_MODULE = "transformers_import"
STEP_MODULE = "transformers_e2e"
# transformers' own words when is_torch_available() is false and a torch class is asked for
_TORCH_ABSENT = re.compile(r"requires the PyTorch library but it was not found")
_DOC = re.compile(r"^transformers (imports|reads|calls) \S+( behind hasattr/getattr with a default \(optional\))?, "
                  r"at (\S+)")
_HOW = {"imports": "imported", "reads": "read", "calls": "called"}
MIN_TORCH = "2.1.0"     # transformers 4.57's is_torch_available() needs torch >= 2.1 (utils/import_utils.py)
HOW_WORDS = {"imported": "imported", "read": "read", "called": "called",
             "guarded": "read behind hasattr/getattr with a default"}


@dataclass
class Need:
    name: str
    how: str              # imported, read, called, guarded
    where: str            # file:line in transformers
    row: str              # the case id
    waits_on: str = ""    # the missing module it cannot be reached without ("" when it is missing itself)


@dataclass
class Surface:
    needs: list[Need] = field(default_factory=list)        # required and absent
    optional: list[Need] = field(default_factory=list)     # behind a guard with a default, absent
    torch_absent: str = ""                                  # why transformers treats torch as absent ("" if it does not)

    def torch_does(self) -> str:
        return ("transformers imports, reads and calls these torch modules and attributes while it is imported, "
                "loads a model and runs it; is_torch_available() is true.")

    def target_does(self) -> str:
        parts = []
        if self.needs:
            parts.append(f"lacks {len(self.needs)} of them ({len([n for n in self.needs if not n.waits_on])} missing "
                         f"themselves, {len([n for n in self.needs if n.waits_on])} inside a missing module)")
        if self.torch_absent:
            parts.append(f"transformers treats torch as absent: {self.torch_absent}")
        if self.optional:
            parts.append(f"{len(self.optional)} optional ones are absent too (no blocker)")
        return "; ".join(parts) + "." if parts else "needs nothing more."


def _display(record: dict[str, Any]) -> dict[str, Any]:
    for side in ("observed", "oracle"):
        d = (record.get(side) or {}).get("display") if isinstance(record.get(side), dict) else None
        if isinstance(d, dict) and d.get("where"):
            return d
    return {}


def touch(record: dict[str, Any]) -> tuple[str, str]:
    """(how, where) transformers touches a surface row's name: from its observation's display, else its doc."""
    d = _display(record)
    if d:
        return str(d.get("how") or ("guarded" if d.get("optional") else "read")), str(d.get("where"))
    m = _DOC.match(str(record.get("doc") or ""))
    if m:
        return ("guarded" if m.group(2) else _HOW[m.group(1)]), m.group(3)
    return "read", "?"


def is_step(record: dict[str, Any]) -> bool:
    return record.get("module") == STEP_MODULE and record.get("api") == API


def torch_absent_rows(record: dict[str, Any]) -> bool:
    """A transformers row that failed because transformers found no torch (its own words say so)."""
    if record.get("module") != STEP_MODULE or works(record):
        return False
    observed = record.get("observed") or {}
    text = " ".join(str(x) for x in (record.get("summary"), (cause_of(record) or {}).get("evidence"),
                                     observed.get("message") if isinstance(observed, dict) else ""))
    return bool(_TORCH_ABSENT.search(" ".join(text.split())))


def member(record: dict[str, Any]) -> bool:
    """A failing row this item holds: a surface row, the import step, or a step that found no torch."""
    if works(record):
        return False
    return record.get("module") == SURFACE_MODULE or is_step(record) or torch_absent_rows(record)


def _version(text: str) -> tuple[int, ...] | None:
    m = re.match(r"^\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?", str(text))
    return tuple(int(g or 0) for g in m.groups()) if m else None


def why_torch_absent(header: dict[str, Any]) -> str:
    """Why transformers' is_torch_available() is false in the target, from what the run header carries."""
    env = header.get("target_env") or {}
    meta, version = env.get("torch_metadata"), str(env.get("version") or "")
    minimum = _version(MIN_TORCH)
    if meta is None:
        if "dev" in version:
            seen = version
        else:
            return ("the target presents no torch distribution metadata (importlib.metadata.version(\"torch\") finds "
                    "none: run.target_env.torch_metadata is null), and transformers takes a torch without it only when "
                    f"its __version__ holds 'dev' (this one is {version!r}); present a torch distribution of the "
                    "backend's own (a dist-info with its version)")
    elif str(meta).startswith("raised "):
        return f"importlib.metadata.version(\"torch\") {meta} in the target (run.target_env.torch_metadata)"
    else:
        seen = str(meta)
    v = _version(seen)
    if v is None or v < minimum:
        return (f"the torch version transformers sees is {seen!r} (run.target_env.torch_metadata), below the "
                f"{MIN_TORCH} it requires")
    return (f"transformers sees torch {seen!r}, which is recent enough; something else turned it off "
            "(USE_TF or USE_TORCH in the environment?)")


def surface(records: Iterable[dict[str, Any]], header: dict[str, Any]) -> Surface:
    out = Surface()
    step_says_absent = False
    for r in sorted(records, key=lambda r: r["id"]):
        if is_step(r) and not works(r):
            diffs = {d.get("path"): d for d in r.get("diffs") or []}
            d = diffs.get("value.is_torch_available")
            step_says_absent = step_says_absent or bool(d and d.get("oracle") is True and d.get("target") is False)
        if r.get("module") != SURFACE_MODULE:
            continue
        how, where = touch(r)
        d = _display(r)
        if d.get("optional"):
            if d.get("present_in_target") is False:
                out.optional.append(Need(r["api"], how, where, r["id"]))
            continue
        if works(r):
            continue
        c = cause_of(r) or {}
        waits = c.get("api", "") if raw(r) != "MISSING" and c.get("api") != r["api"] else ""
        out.needs.append(Need(r["api"], how, where, r["id"], waits))
    if step_says_absent:
        out.torch_absent = why_torch_absent(header)
    return out


def snippet_code(s: Surface) -> tuple[str, tuple[str, ...]] | None:
    """A script that touches every needed name as transformers does and asks transformers whether torch is there:
    its ``missing`` line lists what the target lacks, its ``torch_available`` line what transformers decided."""
    names = [(n.name, n.how == "imported") for n in s.needs]
    shows = (["missing"] if names else []) + (["torch_available"] if s.torch_absent else [])
    if not shows:
        return None
    listed = ",\n".join(f"    ({n!r}, {imported})" for n, imported in names)
    code = "\n".join([
        "import importlib",
        "import torch",
        "# (name, imported as a module) for what transformers imports, reads or calls; the checklist lists where",
        "NEEDS = [\n" + listed + ",\n]" if names else "NEEDS = []",
        "",
        "def absent(name, module):",
        "    try:",
        "        if module:",
        "            importlib.import_module(name)",
        "        else:",
        "            owner, _, attr = name.rpartition('.')",
        "            getattr(importlib.import_module(owner), attr)",
        "        return False",
        "    except Exception:",
        "        return True",
        "",
        'print("missing", [name for name, module in NEEDS if absent(name, module)])',
    ] + ([
        "try:",
        "    from transformers.utils import is_torch_available",
        '    print("torch_available", is_torch_available())',
        "except Exception as e:",
        '    print("torch_available", "raises", type(e).__name__)',
    ] if s.torch_absent else []))
    return code + "\n", tuple(shows)


def snippet_once_judged(records: Iterable[dict[str, Any]], header: dict[str, Any],
                        catalog: dict[str, Any]) -> str | None:
    """The item's snippet code (snippet_code) as soon as every row it is made from has a record: the surface rows
    and the import steps of ``catalog`` (id -> case); None before then, or when it has none. It imports
    transformers, a run's costliest snippet by far, and these rows run well before the last case: the snippet
    check can run it while the other cases still run."""
    made_from = {i for i, c in catalog.items()
                 if c.module == SURFACE_MODULE or (c.module == STEP_MODULE and c.api == API)}
    rows = [r for r in records if r["id"] in made_from]
    if not made_from or len({r["id"] for r in rows}) < len(made_from):
        return None
    made = snippet_code(surface(rows, header))
    return made[0] if made else None
