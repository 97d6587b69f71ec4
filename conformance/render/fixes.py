"""The ranked fix list both reports show: each cause in words (what PyTorch does, what the target does),
with a standalone snippet and the rows and entry points a fix would unblock.

The words come from the case data: PyTorch's side from the case function's docstring (its contract,
one sentence) and the oracle's observation, the target's from the diff, the exception or the outcome.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..digest_words import tell
from ..dtypes import DTYPES
from ..snippet_check import digest
from . import import_surface
from .causes import Cause, cause_of, diff_fields, kind, raw, silent_fields
from .snippets import Snippet, blocked_input, exec_command, generate, probe
from .sources import repro_command

VALUE_CHARS = 120
VALUES_BYTES = 64      # bytes shown as the values they hold, up to this size
EVIDENCE_CHARS = 400   # a blocked row's evidence, told in words (conformance/digest_words.py)


@dataclass
class Fix:
    cause: Cause
    torch_does: str
    target_does: str
    snippet: Snippet | None
    repro: str                       # the command that runs the example case alone under the target
    example: dict[str, Any]
    target: str                      # the target's name, for the reader
    run_snippet: str | None = None   # the command that runs the snippet under the target (conformance exec)
    checked: dict[str, Any] | None = None   # the run's verdict on the snippet (None: not measured)
    dropped: str | None = None       # why no snippet is shown: the ones tried printed the same on both sides

    @property
    def key(self) -> str:
        return self.cause.key


def _short(v: Any, limit: int = VALUE_CHARS) -> str:
    s = v if isinstance(v, str) else json.dumps(v, sort_keys=True, ensure_ascii=False)
    s = " ".join(s.split())
    return s if len(s) <= limit else s[:limit] + "…"


def _at(obs: Any, path: str) -> Any:
    """The value at a diff path (``value.result.bytes``) in an observation, or None."""
    for part in path.split("."):
        if not isinstance(obs, dict) or part not in obs:
            return None
        obs = obs[part]
    return obs


def _values(obs: Any, path: str) -> str | None:
    """A tensor's bytes at ``path`` as the values they hold, when numpy has its dtype and it is short."""
    import numpy as np

    parent = _at(obs, path.rsplit(".", 1)[0]) if "." in path else None
    raw_hex = _at(obs, path)
    if not isinstance(parent, dict) or not isinstance(raw_hex, str):
        return None
    spec = DTYPES.get(str(parent.get("dtype")))
    if spec is None or not spec.numpy or len(raw_hex) // 2 > VALUES_BYTES:
        return None
    try:
        return str(np.frombuffer(bytes.fromhex(raw_hex), dtype=spec.numpy).tolist())
    except ValueError:            # a length that is not a whole number of elements
        return None


def _diff_words(record: dict[str, Any]) -> tuple[str, str]:
    """(what torch gave, what the target gave) for the first differing field."""
    for d in record.get("diffs") or []:
        if d.get("path") in ("raises", "observe"):
            continue
        if d.get("kind") == "bytes":
            path = d["path"]
            mine, theirs = _values(record.get("oracle"), path), _values(record.get("observed"), path)
            if mine and theirs:
                return f"{path} holding {mine}", f"{theirs}"
            return (f"{path} = {d['oracle_hex']} (from byte {d['excerpt_start']})",
                    f"{d['target_hex']} (first difference at byte {d['first_offset']})")
        if "oracle" in d or "target" in d:
            return f"{d['path']} = {_short(d.get('oracle'))}", _short(d.get("target"))
    return "", ""


def _words(c: Cause, r: dict[str, Any]) -> tuple[str, str]:
    contract = r.get("doc") or f"{c.api} behaves as documented."      # the case's contract, in its record
    observed = r.get("observed") or {}
    if c.surface is not None:                 # the import surface: its names are listed below it
        return c.surface.torch_does(), c.surface.target_does()
    if r not in c.own:                        # only rows it blocks: say what they saw
        return contract, f"fails before the rows' own call: {_short(tell(cause_of(r)['evidence']), EVIDENCE_CHARS)}"
    if c.group == "crash":
        return contract, f"{raw(r).lower()}: {_short(r.get('summary'))}"
    if "raises" in observed:
        return contract, f"raises {observed.get('type') or observed['raises']}: {_short(observed.get('message', ''))}"
    if raw(r) == "MISSING":
        return contract, f"has no such API or dtype: {_short(r.get('summary'))}"
    oracle_side, target_side = _diff_words(r)
    inputs = [i.get("input") for i in (r.get("oracle") or {}).get("inputs") or [] if isinstance(i, dict) and i.get("input")]
    on = f" for the input {inputs[0]}" if len(inputs) == 1 else ""
    if oracle_side:
        return f"{contract} Here{on} torch gives {oracle_side}.", f"returns {target_side} instead ({', '.join(diff_fields(r))} differ)."
    return contract, _short(r.get("summary"))


MAX_CANDIDATES = 4       # snippets tried per cause: the run measures each (snippet_check.py)


def candidates(c: Cause, catalog_cases: dict[str, Any]) -> list[tuple[dict[str, Any], Snippet]]:
    """The snippets a cause could show, best first, each with the row it was made from: from its own rows
    (two at most), else from an input the kit built for a row it blocks, then a probe of the API alone."""
    if c.surface is not None:
        made = import_surface.snippet_code(c.surface)
        return [(c.example, Snippet(made[0], made[1], ""))] if made else []
    own: list[tuple[dict[str, Any], Snippet]] = []
    for r in sorted(c.own, key=_preference):
        case = catalog_cases.get(r["id"])
        g, _ = kind(r)
        s = generate(r, case, silent_fields(r) if g == "silent" else diff_fields(r), g) if case is not None else None
        if s is not None and all(s.code != o.code for _, o in own):
            own.append((r, s))
            if len(own) == 2:
                break
    built = next(((r, s) for r in sorted(c.blocked, key=_preference) for s in [blocked_input(r)] if s is not None), None)
    probed = probe(c.api, c.evidence())
    out = own + ([built] if built else []) + ([(c.example, probed)] if probed else [])
    unique: dict[str, tuple[dict[str, Any], Snippet]] = {}
    for r, s in out:
        unique.setdefault(s.code, (r, s))
    return list(unique.values())[:MAX_CANDIDATES]


def _checks(header: dict[str, Any]) -> dict[str, Any] | None:
    """The run's measured snippet verdicts (run.snippet_checks.checked), or None when it measured none."""
    checks = header.get("snippet_checks")
    checked = checks.get("checked") if isinstance(checks, dict) else None
    return checked if isinstance(checked, dict) else None


def fix(c: Cause, target: str, catalog_cases: dict[str, Any], header: dict[str, Any] | None = None) -> Fix:
    """The words and snippet of one cause: the first candidate the run measured to show its difference
    (or, in results that measured none, the first candidate); none when every one measured printed the same."""
    header = header if header is not None else c.header
    checked = _checks(header)
    found = candidates(c, catalog_cases)
    example, snippet, verdict, dropped = (found[0][0] if found else c.example), None, None, None
    for r, s in found:
        v = checked.get(digest(s.code)) if checked is not None else None
        if checked is not None and v is not None and not v.get("reproduces"):
            dropped = dropped or str(v.get("why") or "it printed the same under PyTorch and the target")
            continue
        example, snippet, verdict = r, s, v
        break
    torch_does, target_does = _words(c, example)
    run = exec_command(header) if snippet is not None else None
    return Fix(c, torch_does, target_does, snippet, repro_command(header or {"target": target}, example["id"]),
               example, target, run, verdict, None if snippet is not None else dropped)


def _preference(r: dict[str, Any]) -> tuple:
    """Wrong values before wrong layout (the worst silent bug first), then float32 before other dtypes,
    short ids before long: the plainest case shows the cause best."""
    cid = r["id"]
    return ("bytes" not in diff_fields(r), "float32" not in cid, "bfloat16" in cid, len(cid), cid)


def fixes(causes: list[Cause], target: str, catalog_cases: dict[str, Any],
          header: dict[str, Any] | None = None) -> list[Fix]:
    """One fix per cause, ranked; causes whose snippets are identical are one fix (the higher ranked
    takes the other's rows and APIs), so a reader never runs the same snippet for two items."""
    out: list[Fix] = []
    by_code: dict[str, Fix] = {}
    for c in causes:
        f = fix(c.copy(), target, catalog_cases, header)     # absorbing changes it: never the report's own
        first = by_code.get(f.snippet.code) if f.snippet is not None else None
        if first is not None:
            first.cause.absorb(f.cause)
            continue
        if f.snippet is not None:
            by_code[f.snippet.code] = f
        out.append(f)
    return sorted(out, key=lambda f: f.cause.rank_key())
