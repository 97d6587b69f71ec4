"""Byte-exact comparison of a target's observation with the oracle's, giving an outcome."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .divergence import agrees, first_divergence, unmatched
from .dtypes import DTYPES
from .observe import (BLOCKED, DISPLAY, DTYPE_ABSENT, IMPORT_READS, KIT_ERROR, NOT_IN_THIS_ENVIRONMENT,
                      NOT_IN_THIS_SAFETENSORS, OBSERVE_ERROR)
from .outcomes import PHASES

# Kept for display, never compared: they are the backend's words, not its behaviour.
_DISPLAY_ONLY = {"message", "type"}
HEX_CONTEXT = 8   # bytes shown on each side of the first differing byte


@dataclass
class Verdict:
    outcome: str
    summary: str = ""
    diffs: list[dict[str, Any]] = field(default_factory=list)
    cause: dict[str, str] | None = None     # {api, phase, evidence} on every outcome but PASS and SKIP
    sole: str | None = field(default=None, repr=False)   # the API that is the row's only known fault, if one is

    def __post_init__(self) -> None:
        self.blame(self.cause)

    def blame(self, cause: dict[str, str] | None) -> None:
        """Set the cause. Only a fault in the call itself counts against the row's API: a cause in any other
        phase makes a FAIL or MISSING row BLOCKED."""
        self.cause = cause
        if cause and cause["phase"] != "call" and self.outcome in ("FAIL", "MISSING"):
            self.outcome = "BLOCKED"


KIT = "torch-conformance"      # cause.api of an ERROR: the kit's own fault, or an invalid run


def judge(oracle: dict[str, Any] | None, result: dict[str, Any],
          tolerance: dict[str, float] | None = None, api: str = "?",
          reads: dict[str, str] | None = None, oracle_reads: dict[str, str] | None = None) -> Verdict:
    """``oracle`` is the oracle's observation, ``result`` what the target's worker returned, ``api`` the
    row's API (what a fault in the call is blamed on).

    ``tolerance`` (the case's ``{"rtol", "atol"}``) applies to ``{"approx": ...}`` values only.
    ``oracle_reads``: the oracle's torch attributes by digest (its hello's ``recorder.reads``), which reads
    made by torch's own import code are held against (``calls.import_reads``)."""
    v = _judge(oracle, result, tolerance, api, oracle_reads or {})
    if reads and v.outcome == "FAIL" and (v.cause is None or v.cause["phase"] == "call"):
        other = _read_through(v.diffs, reads)
        if other and not same_api(api, other):
            v.blame({"api": other, "phase": "read",
                     "evidence": f"only observations read through {other} differ: {v.summary}"[:600]})
    if v.cause is None and v.outcome in ("CRASH", "TIMEOUT"):
        v.cause = _last_call(result, api, v.summary)
    if v.cause is None and v.outcome not in ("PASS", "SKIP"):
        who = KIT if v.outcome == "ERROR" else api
        v.cause = {"api": who, "phase": "call", "evidence": v.summary[:600]}
        if v.outcome != "ERROR" and not _own_calls_differ(v.diffs):
            v.cause = _not_isolated(v.cause, oracle, result)
    if v.cause is not None and ISOLATED not in v.cause and v.outcome != "ERROR":
        v.cause = {**v.cause, ISOLATED: True}
    if v.outcome == "PASS":      # the call logs explain differences only: a passing row keeps its results
        _drop_calls(result.get("obs"))
    v.sole = sole_cause(v, oracle, result, api)
    return v


ISOLATED = "isolated"   # cause.isolated: False when no recorded call was seen to diverge (docs/results-schema.md)
# A replay row's value lists the replayed calls of its API, each fed the recording's inputs (as PyTorch was):
# where only their results differ, the call itself diverged, as isolated as a recorded call's divergence.
_OWN_CALL_RESULT = re.compile(r"value\.calls\[\d+\]\.result(?:[.\[]|$)")


def _own_calls_differ(diffs: list[dict[str, Any]]) -> bool:
    return bool(diffs) and all(_OWN_CALL_RESULT.match(str(d.get("path") or "")) for d in diffs)


def _not_isolated(cause: dict[str, Any], oracle: dict[str, Any] | None, result: dict[str, Any]) -> dict[str, Any]:
    """The cause of a row that fails although no recorded call diverged: said so, with what the logs show."""
    target = result.get("obs") if isinstance(result.get("obs"), dict) else {}
    why = unmatched(_calls(oracle or {}), _calls(target))
    return {**cause, ISOLATED: False, "evidence": f"{cause['evidence']} (not isolated: {why})"[:900]}


def _last_call(result: dict[str, Any], api: str, summary: str) -> dict[str, Any]:
    """A dead or hung worker's cause: the recorded call it was in (its breadcrumb, read by the runner)."""
    last = result.get("last_call")
    if not last or last.startswith("after "):
        where = f"; its last recorded call, {last[len('after '):]}, had returned" if last else \
            "; no recorded call had been entered"
        return {"api": api, "phase": "call", "evidence": (summary + where)[:600], ISOLATED: False}
    how = f"the worker was inside {last} when it {'died' if 'crash' in result else 'stopped answering'}: {summary}"
    if same_api(api, last):
        return {"api": api, "phase": "call", "evidence": how[:600], ISOLATED: True}
    return {**_elsewhere(api, last, how), ISOLATED: True}


def _drop_calls(obs: Any) -> None:
    d = obs.get(DISPLAY) if isinstance(obs, dict) else None
    if isinstance(d, dict):
        d.pop("calls", None)


def _call(api: str, evidence: str) -> dict[str, str]:
    return {"api": api, "phase": "call", "evidence": evidence[:600]}


def _judge(oracle: dict[str, Any] | None, result: dict[str, Any],
           tolerance: dict[str, float] | None, api: str, oracle_reads: dict[str, str]) -> Verdict:
    if "crash" in result:
        return Verdict("CRASH", result["crash"].splitlines()[0], [{"path": "process", "detail": result["crash"]}])
    if "timeout" in result:
        return Verdict("TIMEOUT", f"no answer within {result['timeout']} s; the worker was killed")
    if oracle is None:
        return Verdict("ERROR", "no oracle observation for this case")
    if KIT_ERROR in oracle or OBSERVE_ERROR in oracle:
        return Verdict("ERROR", f"oracle could not run the case: {oracle.get(KIT_ERROR) or oracle[OBSERVE_ERROR]}")
    if DTYPE_ABSENT in oracle:
        return Verdict("SKIP", f"the oracle's torch has no dtype {oracle[DTYPE_ABSENT]}")
    not_here = _not_applicable(oracle)
    if not_here is not None:
        return Verdict("SKIP", not_here)
    if BLOCKED in oracle:
        c = oracle[BLOCKED]
        return Verdict("ERROR", f"the oracle could not run the case ({c['phase']}: {c['api']}): {c['evidence']}"[:500])
    bad_inputs = _input_problems(oracle)
    if bad_inputs:
        return Verdict("ERROR", "the oracle built a wrong input: " + bad_inputs[0]["detail"], bad_inputs)

    target = result["obs"]
    if KIT_ERROR in target:
        return Verdict("ERROR", target[KIT_ERROR])
    lacks = _target_environment(target)
    if lacks is not None:     # what this target's environment lacks says nothing about its torch
        return Verdict("SKIP", lacks)
    other = _other_recording(oracle, target)
    if other:
        return Verdict("ERROR", other)
    if DTYPE_ABSENT in target:
        dt = f"torch.{target[DTYPE_ABSENT]}"
        phase = "call" if api == DTYPE_ROWS else "input"
        return Verdict("MISSING", f"the target has no {dt}", cause={"api": dt, "phase": phase,
                                                                     "evidence": f"the target has no {dt}"})
    if BLOCKED in target:
        c = dict(target[BLOCKED])
        if same_api(api, c["api"]):      # the API under test failed while the kit used it to build or read
            c["phase"] = "call"
        word = "blocked by" if c["phase"] != "call" else "failed in"
        return Verdict("FAIL", f"{word} {c['api']} ({PHASES[c['phase']]}): {c['evidence']}"[:500],
                       [{"path": c["phase"], "oracle": "no failure", "target": c["evidence"]}], cause=c)
    bad_inputs = _input_problems(target)
    if bad_inputs:
        # the recorded call that made it wrong, when the case built it with recording on (a storage slice)
        made = _recorded_cause(oracle, target, api, oracle_reads)
        return Verdict("FAIL", "the input given to the case was already wrong: " + bad_inputs[0]["detail"], bad_inputs,
                       cause=made or {"api": "input builder", "phase": "input", "evidence": bad_inputs[0]["detail"],
                                      ISOLATED: False})
    where = _where(target)
    recorded = _recorded_cause(oracle, target, api, oracle_reads)
    blame = recorded or _blame(target, api)
    # an absent attribute, or an absent torch module (``import torch.utils._pytree``): the API is missing
    if target.get("raises") in MISSING_RAISES and oracle.get("raises") != target.get("raises"):
        summary = f"{target.get('type')}: {target.get('message', '')}"[:300] + where
        diffs = [{"path": "raises", "oracle": oracle.get("raises", "no exception"), "target": target["raises"],
                  "target_message": target.get("message", "")}]
        missing = _missing_attribute(target.get("message", ""))
        if blame is None and missing is not None and same_api(api, missing):     # the message names it
            return Verdict("MISSING", summary, diffs, cause={**_call(api, summary), ISOLATED: True})
        if blame is None and (missing is None or not _is_torch_api(missing)):
            return Verdict("MISSING" if missing is None else "FAIL", summary, diffs)
        return Verdict("MISSING", summary, diffs, cause=blame or _elsewhere(api, missing, summary))
    approx: list[dict[str, Any]] = []
    diffs = diff(_strip(oracle), _strip(target), tolerance=tolerance, approx=approx)
    if not diffs:
        return Verdict("PASS", _approx_summary(approx, tolerance))
    if "raises" in target and "raises" not in oracle:
        summary = f"raised {target['raises']} ({target.get('message', '')[:200]}) where the oracle did not"
    elif "raises" in oracle and "raises" not in target:
        summary = f"did not raise; the oracle raised {oracle['raises']} ({oracle.get('message', '')[:200]})"
    else:
        summary = "; ".join(_one_line(d) for d in diffs[:3])
    if "raises" in target:
        for d in diffs:
            d.setdefault("target_message", target.get("message", ""))
    # The case's own word first (a chained replay's first diverging call), then the one rule over the recorded
    # calls (conformance/divergence.py); failing both, the API the target's exception came from, not isolated.
    cause = _case_cause(target) or recorded
    if cause is None and blame is not None:
        cause = _not_isolated(blame, oracle, {"obs": target})
    return Verdict("FAIL", summary + where, diffs, cause=cause)


def norm_api(name: str) -> str:
    name = re.sub(r"\(.*\)$", "", name.strip())
    return name[len("torch."):] if name.startswith("torch.") else name


def canonical_cause(cause: dict[str, str] | None, names: dict[str, str]) -> dict[str, str] | None:
    """The cause with its API spelled as the catalog spells it (``torch.frombuffer`` -> ``torch.frombuffer``,
    ``torch.Tensor.reshape`` -> ``Tensor.reshape``), so one root cause is one name everywhere; ``names`` maps
    each catalog API to itself and ``norm_api`` of each to its preferred spelling."""
    if not cause or cause["api"] in names:      # spelled as a row of its own already
        return cause
    return {**cause, "api": names.get(norm_api(cause["api"]), cause["api"])}


DTYPE_ROWS = "torch.<dtype>"     # the rows of every dtype constant: each torch.<name> is one of them


def same_api(a: str, b: str) -> bool:
    """``Tensor.view(dtype)`` and ``torch.Tensor.view``, ``torch.frombuffer`` and ``frombuffer``: one API."""
    if DTYPE_ROWS in (a, b):
        other = b if a == DTYPE_ROWS else a
        return other == DTYPE_ROWS or norm_api(other) in DTYPES
    qa, qb = (re.search(r"\((.*)\)$", x.strip()) for x in (a, b))
    if qa and qb and qa.group(1) != qb.group(1):      # Tensor.view(dtype) and Tensor.view(-1): two uses, two rows
        return False
    return norm_api(a) == norm_api(b)


_TORCH_OWNERS = {"Tensor", "UntypedStorage", "TypedStorage", "dtype", "Size", "device", "layout",
                 "Module", "Parameter", "Generator"}


def _is_torch_api(name: str) -> bool:
    return name.startswith("torch.") or name.split(".")[0] in _TORCH_OWNERS


MISSING_RAISES = ("AttributeError", "ModuleNotFoundError")


def _missing_attribute(message: str) -> str | None:
    """The API an AttributeError says is missing (``torch.frombuffer``, ``Tensor.untyped_storage``), or the
    torch module a ModuleNotFoundError names."""
    m = re.fullmatch(r"No module named '(torch(?:\.\w+)*)'", message.strip())
    if m:
        return m.group(1)
    m = re.search(r"module '([\w.]+)' has no attribute '(\w+)'", message)
    if m:
        rest = [p for p in m.group(1).split(".")[1:] if not p.startswith("_")]
        return ".".join(["torch", *rest, m.group(2)])
    m = re.search(r"(?:type object |')(\w+)'? (?:object )?has no attribute '(\w+)'", message)
    if not m:
        return None
    owner = next((o for o in _TORCH_OWNERS if m.group(1).endswith(o)), m.group(1))   # _CPUUntypedStorage
    return f"{owner}.{m.group(2)}"


def _elsewhere(api: str, other: str, evidence: str) -> dict[str, str]:
    """A cause in another torch API than the row's: an earlier call of an entry point (``chain``), or
    something a unit case needs before its own call (``input``)."""
    phase = "input" if _is_torch_api(api) or api.startswith("<") else "chain"
    return {"api": other, "phase": phase, "evidence": evidence[:600]}


def _blame(target: dict[str, Any], api: str) -> dict[str, str] | None:
    """The cause of a target exception raised by another torch API than the row's, or None."""
    d = target.get(DISPLAY)
    found = d.get("torch_api") if isinstance(d, dict) else None
    if not found or same_api(api, found) or not _is_torch_api(found):
        return None
    at = f" at {d['called_at']}" if d.get("called_at") else ""
    return _elsewhere(api, found, f"{target.get('type')}: {target.get('message', '')}"[:400] + at)


def _read_through(diffs: list[dict[str, Any]], reads: dict[str, str]) -> str | None:
    """The one API every difference was read through (``value.<key>`` paths named in ``reads``), or None."""
    apis = set()
    for d in diffs:
        parts = str(d.get("path", "")).split(".")
        key = parts[1].split("[")[0] if len(parts) > 1 and parts[0] == "value" else None
        if key not in reads:
            return None
        apis.add(reads[key])
    return apis.pop() if len(apis) == 1 else None


def _calls(obs: dict[str, Any]) -> list[list[str]]:
    d = obs.get(DISPLAY)
    return d.get("calls") or [] if isinstance(d, dict) else []


def _recorded_cause(oracle: dict[str, Any], target: dict[str, Any], api: str,
                    oracle_reads: dict[str, str]) -> dict[str, Any] | None:
    """The recorded call the one rule blames (``divergence.py``); else, for an exception raised outside any
    recorded call on a value one returned, that call, unless it returned what the oracle's did for the same
    inputs (the value was right: a class lacking the attribute an AttributeError names is that attribute's
    fault, whichever object it was read on, and which one is read first may follow the hash seed).

    A miss the program survived (``guarded``) yields to a failure that names another torch attribute it
    needed (an AttributeError or ModuleNotFoundError): that one is what the program died of. Blamed alone, it
    is not isolated. Failing all of these, an exception that came out of torch's own import code blames the
    first torch attribute that code read which the oracle has otherwise (``_import_read``)."""
    log = _calls(target)
    found = first_divergence(_calls(oracle), log)
    if found is not None and found.get("guarded"):
        needed = _missing_attribute(target.get("message", "")) if target.get("raises") in MISSING_RAISES else None
        if needed is not None and _is_torch_api(needed) and not same_api(needed, found["api"]) \
                and oracle.get("raises") != target.get("raises"):
            found = None
    if found is not None:
        other, how = found["api"], found["how"]
    else:
        d = target.get(DISPLAY)
        on = d.get("raised_on") if isinstance(d, dict) else None
        if "raises" not in target or "raises" in oracle:
            return None
        if not isinstance(on, int) or not 0 <= on < len(log) or agrees(_calls(oracle), log[on]):
            return _import_read(target, api, oracle_reads)
        other = log[on][0]
        how = (f"{target.get('type')}: {target.get('message', '')}"[:300] +
               f", raised outside any recorded call on the value call #{on + 1} {other} returned")
    # a survived miss alone is a suspect, not a finding: the path it changed may have failed for a reason the
    # recorder cannot see (transformers finds no torch distribution's metadata)
    isolated = not (found is not None and found.get("guarded"))
    if same_api(api, other):
        return {"api": api, "phase": "call", "evidence": how[:600], ISOLATED: isolated}
    return {**_elsewhere(api, other, how), ISOLATED: isolated}


def _import_read(target: dict[str, Any], api: str, oracle_reads: dict[str, str]) -> dict[str, Any] | None:
    """For an exception that came out of torch's own module code while it was first imported (its reads are
    in the display, ``observe.IMPORT_READS``): the first torch attribute it read whose digest is not the
    oracle's. Such reads stay out of the call log, since which case first imports a module follows the order
    cases run in; an attribute read has no inputs, so the oracle's value of it is the one to agree with."""
    d = target.get(DISPLAY)
    read = d.get(IMPORT_READS) if isinstance(d, dict) else None
    if not isinstance(read, list):
        return None
    inside = d.get("raised_in") if isinstance(d.get("raised_in"), dict) else {}
    where = f" in {inside['module']}" if inside.get("module") else ""
    for entry in read:
        if not (isinstance(entry, list) and len(entry) == 2):
            continue
        other, got = entry
        theirs = oracle_reads.get(other)
        if theirs is None or theirs == got:
            continue
        how = (f"{target.get('type')}: {target.get('message', '')}"[:300] +
               f", raised by torch's own import code{where}, which read {other}: the target's gave {got} "
               f"where the oracle's gave {theirs}")
        if same_api(api, other):
            return {"api": api, "phase": "call", "evidence": how[:600], ISOLATED: True}
        return {**_elsewhere(api, other, how), ISOLATED: True}
    return None


def _case_cause(target: dict[str, Any]) -> dict[str, str] | None:
    """A case's own word on what diverged (``ctx.cause``), e.g. a chained replay's first diverging call."""
    d = target.get(DISPLAY)
    c = d.get("cause") if isinstance(d, dict) else None
    if isinstance(c, dict) and c.get("api") and c.get("phase") in PHASES:
        return {"api": str(c["api"]), "phase": c["phase"], "evidence": str(c.get("evidence", ""))[:600]}
    return None


# A case that cannot apply here observes {marker: what}: the installed safetensors lacks the entry point
# (e.g. backend="pread" before 0.8.0), or the environment lacks something (transformers not installed).
# Under the oracle that makes the case SKIP, with this reason.
NOT_APPLICABLE = {NOT_IN_THIS_SAFETENSORS: "not in this safetensors version",
                  NOT_IN_THIS_ENVIRONMENT: "not available in this environment"}


def _not_applicable(obs: dict[str, Any]) -> str | None:
    v = obs.get("value")
    if isinstance(v, dict):
        for marker, why in NOT_APPLICABLE.items():
            if marker in v:
                return f"{why}: {v[marker]}"
    return None


def _target_environment(obs: dict[str, Any]) -> str | None:
    """The SKIP reason of a target observation saying its environment lacks something, or None."""
    v = obs.get("value")
    if isinstance(v, dict) and NOT_IN_THIS_ENVIRONMENT in v:
        return f"{NOT_APPLICABLE[NOT_IN_THIS_ENVIRONMENT]} for the target: {v[NOT_IN_THIS_ENVIRONMENT]}"
    return None


RECORDING = "recording"     # display key: the digest of the recording a replay case replayed


def _other_recording(oracle: dict[str, Any], target: dict[str, Any]) -> str | None:
    """Why two replay observations cannot be compared: they replayed different recordings."""
    a, b = (o.get(DISPLAY, {}).get(RECORDING) if isinstance(o.get(DISPLAY), dict) else None for o in (oracle, target))
    if a and b and a != b:
        return (f"the oracle's observation is of recording {a}, the target replayed recording {b}; "
                "run again to record the oracle on the current recording")
    return None


def _where(obs: dict[str, Any]) -> str:
    """A case's one-line note on where the target failed (observation ``display.where``), for summaries."""
    d = obs.get(DISPLAY)
    return f" [{d['where']}]" if isinstance(d, dict) and d.get("where") else ""


def _strip(obs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obs.items() if k not in ("inputs", DISPLAY)}


def _input_problems(obs: dict[str, Any]) -> list[dict[str, Any]]:
    problems = []
    for i, rec in enumerate(obs.get("inputs", [])):
        for d in diff(rec["expected"], rec["observed"], f"inputs[{i}]"):
            d["detail"] = f"input {rec['input']}: {_one_line(d)}"
            problems.append(d)
    return problems


def diff(a: Any, b: Any, path: str = "", *, tolerance: dict[str, float] | None = None,
         approx: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Structural differences between two observations; bytes get offset and hex excerpts.

    ``{"approx": {"dtype", "shape", "bytes": <hex of the raw little-endian values>}}`` values are compared within
    ``tolerance`` (exactly without one); their largest differences are appended to ``approx``."""
    kw = {"tolerance": tolerance, "approx": approx}
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            if k in _DISPLAY_ONLY and ("raises" in a or "raises" in b):
                continue
            if k in a and k in b and _same_scalar(a[k], b[k]):
                continue
            sub = f"{path}.{k}" if path else k
            if k not in a or k not in b:
                out.append({"path": sub, "oracle": a.get(k, "<absent>"), "target": b.get(k, "<absent>")})
            elif k == "bytes" and isinstance(a[k], str) and isinstance(b[k], str):
                if a[k] != b[k]:
                    out.append(bytes_diff(sub, a[k], b[k]))
            elif k == APPROX and _is_approx(a[k]) and _is_approx(b[k]):
                out.extend(approx_diff(sub, a[k], b[k], tolerance, approx))
            else:
                out.extend(diff(a[k], b[k], sub, **kw))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) if not _same_scalar(x, y)
                for d in diff(x, y, f"{path}[{i}]", **kw)]
    if a == b and type(a) is type(b):
        return []
    return [{"path": path or "value", "oracle": a, "target": b}]


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _same_scalar(a: Any, b: Any) -> bool:
    """Equal values of one scalar type: what ``diff`` finds nothing in, told without a call of it for each
    (the rows' long value lists made ~10^5 of them a run)."""
    return type(a) is type(b) and type(a) in _SCALARS and a == b


def bytes_diff(path: str, a_hex: str, b_hex: str) -> dict[str, Any]:
    a, b = bytes.fromhex(a_hex), bytes.fromhex(b_hex)
    first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    lo = max(0, first - HEX_CONTEXT)
    return {"path": path, "kind": "bytes", "first_offset": first, "oracle_len": len(a), "target_len": len(b),
            "excerpt_start": lo, "oracle_hex": a[lo:first + HEX_CONTEXT].hex(" "),
            "target_hex": b[lo:first + HEX_CONTEXT].hex(" ")}


APPROX = "approx"


def _is_approx(v: Any) -> bool:
    return isinstance(v, dict) and isinstance(v.get("bytes"), str) and isinstance(v.get("dtype"), str)


def approx_diff(path: str, a: dict[str, Any], b: dict[str, Any], tolerance: dict[str, float] | None,
                stats: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Float values (the raw little-endian bytes of a float dtype, in hex) within ``tolerance``:
    |t - o| <= atol + rtol * |o|, NaN only where the oracle has NaN, infinities equal. dtype and shape (and any
    other field) are exact."""
    out = diff({k: v for k, v in a.items() if k != "bytes"}, {k: v for k, v in b.items() if k != "bytes"}, path)
    if out:
        return out
    try:
        o, t = _floats(a), _floats(b)
    except (KeyError, TypeError, ValueError) as e:
        return [{"path": f"{path}.values", "oracle": f"{a['dtype']} values", "target": f"unreadable: {e}"}]
    if len(o) != len(t):
        return [{"path": f"{path}.values", "oracle": f"{len(o)} values", "target": f"{len(t)} values"}]
    rtol, atol = (float((tolerance or {}).get(k, 0.0)) for k in ("rtol", "atol"))
    # Element-wise in numpy (float64 is Python's float, each operation rounded alike): a gate run compares
    # ~2.4e5 values, which a Python loop went through in ~0.1 s of the runner's ~3 s.
    with np.errstate(all="ignore"):
        finite = np.isfinite(o) & np.isfinite(t)
        d = np.abs(t - o)
        ok = np.where(finite, d <= atol + rtol * np.abs(o), (np.isnan(o) & np.isnan(t)) | (o == t))
        if not ok[~finite].all():            # a NaN or infinity the other side does not have
            max_abs = max_rel = math.inf
        else:
            fd, fo = d[finite], o[finite]
            max_abs = max(0.0, float(fd.max())) if fd.size else 0.0
            rel = fd[fo != 0] / np.abs(fo[fo != 0])
            max_rel = math.inf if (fd[fo == 0] != 0).any() else max(0.0, float(rel.max())) if rel.size else 0.0
    bad = np.flatnonzero(~ok)
    tol = {"rtol": rtol, "atol": atol}
    if stats is not None:
        stats.append({"path": path, "n": len(o), "max_abs": max_abs, "max_rel": max_rel})
    if not bad.size:
        return []
    i = int(bad[0])
    return [{"path": f"{path}.values", "kind": "approx", "tolerance": tol, "n": len(o), "n_outside": int(bad.size),
             "first_index": i, "oracle": float(o[i]).hex(), "target": float(t[i]).hex(),
             "max_abs_diff": repr(max_abs), "max_rel_diff": repr(max_rel)}]


def _floats(v: dict[str, Any]) -> np.ndarray:
    """An approx observation's values as float64 (exact for every float dtype numpy has; a dtype without a
    numpy float is no approx observation, so it is unreadable here)."""
    dtype = DTYPES[v["dtype"]].numpy_float
    if dtype is None:
        raise ValueError(f"{v['dtype']} is no float dtype numpy reads")
    return np.frombuffer(bytes.fromhex(v["bytes"]), dtype=dtype).astype(np.float64)


def _approx_summary(stats: list[dict[str, Any]], tolerance: dict[str, float] | None) -> str:
    if not stats:
        return ""
    worst_abs = max(stats, key=lambda s: s["max_abs"])
    worst_rel = max(stats, key=lambda s: s["max_rel"])
    return (f"within tolerance {tolerance or 'exact'}: largest absolute difference {worst_abs['max_abs']:.3g} "
            f"({worst_abs['path']}), largest relative {worst_rel['max_rel']:.3g} ({worst_rel['path']})")


def _one_line(d: dict[str, Any]) -> str:
    if d.get("kind") == "approx":
        return (f"{d['path']}: {d['n_outside']} of {d['n']} values outside {d['tolerance']} (largest absolute "
                f"difference {d['max_abs_diff']}, relative {d['max_rel_diff']}); first at [{d['first_index']}]: "
                f"oracle {d['oracle']}, target {d['target']}")
    if d.get("kind") == "bytes":
        return (f"{d['path']}: bytes differ at offset {d['first_offset']} (oracle {d['oracle_len']} B, "
                f"target {d['target_len']} B): oracle {d['oracle_hex']} | target {d['target_hex']}")
    return f"{d['path']}: oracle {_short(d.get('oracle'))}, target {_short(d.get('target'))}"


def _short(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= 120 else s[:117] + "..."


def environment_problem(obs: dict[str, Any] | None) -> str | None:
    """The top-level module an observation says this environment lacks: an ImportError for a module that
    is not installed here (not torch itself, whose absence a case may observe on purpose), or the
    ``unsupported_in_this_environment`` marker. None for any other observation. Such an observation
    describes this machine, not PyTorch, so it is never cached as the oracle's answer."""
    import importlib.util
    import re

    if not isinstance(obs, dict):
        return None
    if obs.get("raises") in ("ImportError", "ModuleNotFoundError"):
        m = re.search(r"No module named '([^']+)'", str(obs.get("message", "")))
        name = m.group(1).split(".")[0] if m else None
        if name and name != "torch" and importlib.util.find_spec(name) is None:
            return name
        return None
    v = obs.get("value")
    if isinstance(v, dict) and NOT_IN_THIS_ENVIRONMENT in v:
        what = str(v[NOT_IN_THIS_ENVIRONMENT])
        m = re.match(r"([A-Za-z_][\w.]*) (?:is )?not installed", what)
        return m.group(1).split(".")[0] if m else what
    return None


def settle(v: Verdict, api: str, target_obs: Any, names: dict[str, str],
           around: list[str] | None) -> Verdict:
    """The verdict as recorded: a __version__ safetensors refused to parse named as the cause of the opens it
    refused, the cause spelled as the catalog spells its rows, and a cause found around a blocker saying so."""
    from .loading_path import refusal_cause

    v.blame(refusal_cause(api, v.cause, target_obs))
    v.cause = canonical_cause(v.cause, names)
    if v.cause and around:      # its own bug shows now; the blocker stays one, named here
        v.cause = {**v.cause, "reached_around": "; ".join(around)}
    if v.cause:
        v.cause = {**v.cause, ONLY_CAUSE: bool(v.sole and not around and same_api(v.sole, v.cause["api"]))}
    return v


# cause.only_cause: fixing the cause's API alone makes the row pass, as far as the kit can tell: the row's own
# call failed, or every recorded torch call that diverged (given what the oracle's was given) is of that API.
# A row the kit could not build or read (observation "blocked") is not: nothing of it was seen. "A fix unblocks
# N" counts these rows.
ONLY_CAUSE = "only_cause"


def sole_cause(v: Verdict, oracle: dict[str, Any] | None, result: dict[str, Any], api: str) -> str | None:
    """The API that is the row's only known fault (see ONLY_CAUSE), or None."""
    c = v.cause
    if not c or v.outcome in ("ERROR", "PASS", "SKIP"):
        return None
    if c["phase"] == "call":
        return c["api"]
    target = result.get("obs") if isinstance(result.get("obs"), dict) else {}
    if BLOCKED in target or not isinstance(oracle, dict):   # the kit could not build or read: nothing was seen
        return None
    apis = diverging_apis(_calls(oracle), _calls(target))
    return c["api"] if apis and all(same_api(c["api"], a) for a in apis) else None


def diverging_apis(oracle: list[list[str]], target: list[list[str]]) -> set[str]:
    """Every API with a target call the one rule finds diverging (``divergence.diverging_apis``)."""
    from .divergence import diverging_apis as by_the_rule

    return by_the_rule(oracle, target)
