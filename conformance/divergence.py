"""The one blame rule, over two call logs (``conformance/calls.py``): the oracle's and the target's.

The cause is the first recorded call of the target whose inputs agree with an oracle call of the same API
and whose result differs from every result the oracle's calls of that API gave for those inputs, or that
raises, or reads an attribute the target lacks where the oracle has it. A diverging call that made a
diverging call of its own (``depth``) passes the blame down to it: the deepest diverging call is the one
that went wrong. A call given what no oracle call of its API was given is never blamed: its input came out
of an earlier divergence, or of a path the oracle did not take.

Logs are matched per (API, inputs), not position by position: the order of calls over a map's entries
(safetensors' header, a Rust HashMap) follows the hash seed and differs from process to process. Matching
is by set, not count: a backend's own code may call what the oracle's C code did not, and those extra calls
must not use up the oracle's matches. A digest field ``?`` (the kit could not read it) matches anything.

A miss the program survived (``calls.GUARDED``: ``getattr(torch, name, default)``, ``hasattr`` False, a caught
AttributeError) diverges too, but it only changed the path the program took: it is the cause only where no
other call diverges. The judge also lets a failure that names what it lacked (an AttributeError for another
torch attribute) explain it better (``compare._recorded_cause``).
"""
from __future__ import annotations

from typing import Any

from .calls import CASE_BOUND, GUARDED, LOG_FULL, MISSING, READ

UNKNOWN = "?"


UNKNOWN_RELATION = "~?"       # digest.UNKNOWN_RELATION: what the result's memory shares could not be read


def _fits(a: str, b: str) -> bool:
    """Equal, or equal but for fields one side could not read (a relation it could not read: any relation)."""
    if a == b:
        return True
    if UNKNOWN not in a and UNKNOWN not in b:
        return False
    ta, tb = a.split(" "), b.split(" ")
    if UNKNOWN_RELATION in ta or UNKNOWN_RELATION in tb:
        ta, tb = _without_relations(ta), _without_relations(tb)
    return len(ta) == len(tb) and all(x == y or UNKNOWN in (x, y) for x, y in zip(ta, tb))


def _without_relations(tokens: list[str]) -> list[str]:
    """A result digest's value fields: its trailing relation tokens (``=a0``, ``~a1``, ``~a0:3``, ``~?``) left out."""
    end = len(tokens)
    while end > 1 and tokens[end - 1][:2] in ("=a", "~a", "~?"):
        end -= 1
    return tokens[:end]


def _entry(e: list[Any]) -> tuple[str, str, str, int]:
    return e[0], e[1], e[2] if len(e) > 2 else "", int(e[3]) if len(e) > 3 else 0


class Oracle:
    def __init__(self, log: list[list[Any]], apis: set[str] | None = None):
        """``apis``: the only APIs it is asked about (every lookup is by a target call's API); a transformers step's
        oracle log holds thousands of calls, and a row is judged on its target's few."""
        self.results: dict[tuple[str, str], set[str]] = {}
        self.givens: dict[str, set[str]] = {}
        for e in log:
            if apis is not None and e[0] not in apis:
                continue
            api, d, given, _ = _entry(e)
            self.results.setdefault((api, given), set()).add(d)
            self.givens.setdefault(api, set()).add(given)

    def has(self, api: str) -> bool:
        return api in self.givens

    def results_for(self, api: str, given: str) -> set[str] | None:
        """The results the oracle's calls of ``api`` gave for inputs that fit ``given``; None: no such inputs."""
        found = self.results.get((api, given))
        if found is not None:
            return found
        if UNKNOWN not in given and not any(UNKNOWN in g for g in self.givens.get(api, ())):
            return None
        out: set[str] = set()
        hit = False
        for g in self.givens.get(api, ()):
            if _fits(g, given):
                hit = True
                out |= self.results[(api, g)]
        return out if hit else None

    def example(self, api: str, given: str) -> str:
        res = self.results_for(api, given)
        return sorted(res)[0] if res else "nothing"


MISSES = (MISSING, GUARDED)


def _diverges(oracle: Oracle, api: str, d: str, given: str) -> str | None:
    """How this target call diverges, or None (it agrees, or its inputs match no oracle call)."""
    if d in MISSES:
        seen = {r for g in oracle.givens.get(api, ()) for r in oracle.results[(api, g)]}
        if oracle.has(api) and not seen & set(MISSES):
            went_on = " (the program went on without it)" if d == GUARDED else ""
            return f"the target has no {api}, which the oracle's run reached{went_on}"
        return None
    res = oracle.results_for(api, given)
    if res is None:
        return None
    if any(_fits(d, r) for r in res):
        return None
    shown = sorted(res)[0]
    what = "read" if given == READ else "given what the oracle's was given"
    return f"{what}, the target's gave {_short(d)} where the oracle's gave {_short(shown)}"


def _survived(oracle: Oracle, e: tuple[str, str, str, int]) -> bool:
    """A read that one side's program went on from without the attribute: the target's miss it survived, or
    the target's value where the oracle's run survived the miss (the target offered what torch lacks)."""
    api, d, given, _ = e
    if d == GUARDED:
        return True
    if given != READ or d == MISSING:
        return False
    res = oracle.results.get((api, READ))
    return bool(res) and GUARDED in res and res <= set(MISSES)


def agrees(oracle_log: list[list[Any]], entry: list[Any]) -> bool:
    """Whether a target call returned what the oracle's calls of its API returned for the same inputs."""
    api, d, given, _ = _entry(entry)
    oracle = Oracle(oracle_log, {api})
    res = oracle.results_for(api, given)
    if res is None and given.startswith("unreadable"):     # inputs the kit could not read: any of the API's
        res = {r for g in oracle.givens.get(api, ()) for r in oracle.results[(api, g)]}
    return bool(res) and d not in MISSES and any(_fits(d, r) for r in res)


def first_divergence(oracle_log: list[list[Any]], target_log: list[list[Any]]) -> dict[str, Any] | None:
    """``{"index", "api", "how", "guarded"}`` of the call the rule blames (module doc), or None when none
    diverges; ``guarded``: it is a miss the program survived, blamed because nothing else diverges."""
    oracle = Oracle(oracle_log, {e[0] for e in target_log if e})
    entries = [_entry(e) for e in target_log]
    how = [_diverges(oracle, api, d, g) for api, d, g, _ in entries]
    survived = [_survived(oracle, e) for e in entries]
    i = next((k for k, h in enumerate(how) if h and not survived[k]), None)
    if i is None:
        i = next((k for k, h in enumerate(how) if h), None)
        if i is None:
            return None
        api = entries[i][0]
        return {"index": i, "api": api, "how": f"call #{i + 1} {api}: {how[i]}", "guarded": True}
    while True:         # the deepest diverging call inside it went wrong first
        depth = entries[i][3]
        inner = None
        for k in range(i + 1, len(entries)):
            if entries[k][3] <= depth:
                break
            if how[k] and not survived[k]:
                inner = k
                break
        if inner is None:
            break
        i = inner
    api = entries[i][0]
    return {"index": i, "api": api, "how": f"call #{i + 1} {api}: {how[i]}", "guarded": False}


def diverging_apis(oracle_log: list[list[Any]], target_log: list[list[Any]]) -> set[str]:
    """The API of every call the rule finds diverging (module doc), leaving out a call that diverges only
    through a diverging call inside it."""
    oracle = Oracle(oracle_log, {e[0] for e in target_log if e})
    entries = [_entry(e) for e in target_log]
    bad = [bool(_diverges(oracle, api, d, g)) for api, d, g, _ in entries]
    hard = [b and not _survived(oracle, e) for b, e in zip(bad, entries)]
    if any(hard):       # survived misses count only alone
        bad = hard
    out = set()
    for i, (api, _, _, depth) in enumerate(entries):
        if not bad[i]:
            continue
        inner = False
        for k in range(i + 1, len(entries)):
            if entries[k][3] <= depth:
                break
            inner = inner or bad[k]
        if not inner:
            out.add(api)
    return out


def kept(oracle_log: list[list[Any]], target_log: list[list[Any]]) -> list[list[Any]]:
    """The entries of ``oracle_log`` the rule reads for ``target_log``: those of the APIs the target's log names
    (every lookup is by a target call's API) and a bound's marker. A record keeps these only: a transformers
    step's oracle log holds thousands of calls where a target that failed early logged a few."""
    apis = {e[0] for e in target_log if e}
    return [e for e in oracle_log if e and (e[0] in apis or e[0] == LOG_FULL)] if apis else []


def unmatched(oracle_log: list[list[Any]], target_log: list[list[Any]]) -> str:
    """Why no recorded call was blamed, for a row that fails anyway: what the logs show."""
    oracle = Oracle(oracle_log, {e[0] for e in target_log if e})
    entries = [_entry(e) for e in target_log]
    if not entries and not oracle_log:
        return "no torch call of the case was recorded"
    unseen = sorted({api for api, *_ in entries if not oracle.has(api) and api != LOG_FULL})
    strays = [(k, api) for k, (api, d, g, _) in enumerate(entries)
              if api != LOG_FULL and oracle.has(api) and d not in MISSES and oracle.results_for(api, g) is None]
    logs = {"target": entries, "oracle": [_entry(e) for e in oracle_log]}
    cuts = {side: [(e[1], e[2]) for e in log if e[0] == LOG_FULL] for side, log in logs.items()}
    parts = [f"{len(entries) - len(cuts['target'])} target calls and {len(oracle_log) - len(cuts['oracle'])} oracle "
             "calls recorded; every call whose inputs agree with the oracle's returned what the oracle's did"]
    if strays:
        k, api = strays[0]
        parts.append(f"first call given what no oracle call of its API was given: #{k + 1} {api}")
    if unseen:
        parts.append("APIs only the target called: " + ", ".join(unseen[:6]) + (" ..." if len(unseen) > 6 else ""))
    for side, cut in cuts.items():
        parts += [_cut(side, limit, bound) for limit, bound in dict.fromkeys(cut)]
    return "; ".join(parts)


def _cut(side: str, limit: str, bound: str) -> str:
    """Which bound cut a log (``calls.LOG_FULL``): the case's own, or one part's (a transformers step's)."""
    whose = "its" if bound == CASE_BOUND else "one part's"
    return f"the {side}'s log reached {whose} bound of {limit} calls ({bound}): later calls were not recorded"


def _short(s: str) -> str:
    return s if len(s) <= 160 else s[:157] + "..."
