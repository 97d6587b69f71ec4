"""Which loading path safetensors takes for a target, and why: it reads ``torch.__version__``.

safetensors' Rust ``safe_open(framework="pt")`` parses ``torch.__version__`` as major.minor.patch. From
1.11 it loads through torch storages (``UntypedStorage.from_file`` from 2.0, ``ByteStorage`` before);
below 1.11 it maps the file itself and builds each tensor with ``torch.frombuffer``. Cases that exercise
the storage path (``@case(path="storage")``) describe a path a target below 1.11 never takes: they still
run and show, labelled, and never count against an entry point.
"""
from __future__ import annotations

from typing import Any

STORAGE_FROM = (1, 11, 0)
STORAGE = "storage"
FROMBUFFER = "frombuffer"

_DIGITS = frozenset("0123456789")


def _rust_u8(s: str) -> int | None:
    """Rust's ``str::parse::<u8>()``: an optional '+', then ASCII digits, at most 255."""
    if s.startswith("+"):
        s = s[1:]
    if not s or any(c not in _DIGITS for c in s):
        return None
    v = int(s)
    return v if v <= 255 else None


def rust_version(v: str) -> tuple[int, int, int] | None:
    """``Version::from_string`` of bindings/python/src/lib.rs: ``major.minor.patch<anything>``."""
    parts = v.split(".")
    if len(parts) < 3:
        return None
    digits = ""
    for c in parts[2]:
        if c not in _DIGITS:
            break
        digits += c
    out = (_rust_u8(parts[0]), _rust_u8(parts[1]), _rust_u8(digits))
    return None if None in out else out   # type: ignore[return-value]




def decide(version: Any) -> dict[str, Any]:
    """``{"path", "why", "version"}`` for a target whose ``torch.__version__`` is ``version``."""
    v = None if version is None else str(version)
    parsed = rust_version(v) if v is not None else None
    if parsed is None:
        return {"path": None, "version": v,
                "why": f"torch.__version__ {v!r} does not parse as major.minor.patch, so safe_open(pt) refuses to open "
                       "files (see the torch.__version__ rows)"}
    if parsed >= STORAGE_FROM:
        return {"path": STORAGE, "version": v,
                "why": f"torch.__version__ {v!r} is >= 1.11: safe_open(pt) loads through torch storages "
                       "(UntypedStorage.from_file, storage slices, asarray, view(dtype))"}
    return {"path": FROMBUFFER, "version": v,
            "why": f"torch.__version__ {v!r} is below 1.11: safe_open(pt) maps the file itself and builds each "
                   "tensor with torch.frombuffer; the storage path would need __version__ >= 1.11 and "
                   "UntypedStorage.from_file(str, shared=bool, nbytes=int)"}


def off_path(case_path: str | None, decided: dict[str, Any] | None) -> str | None:
    """The label of a row on a path this target does not take, or None."""
    if case_path != STORAGE or not decided or decided.get("path") in (STORAGE, None):
        return None
    return (f"needed only if torch.__version__ >= 1.11: safetensors takes the storage path only then; this target "
            f"reports {decided.get('version')!r}, so safetensors takes the frombuffer path")


# A torch.__version__ that takes each path: the oracle recorded with it judges a target on that path.
ORACLE_AS = {FROMBUFFER: "1.10.0"}
OWN_ROWS = ("torch.__version__",)     # rows about the version itself: always judged against the real oracle


def oracle_version_for(target: dict[str, Any] | None, oracle: dict[str, Any] | None) -> str | None:
    """The ``torch.__version__`` to record the oracle with, when the target takes another path than it."""
    if not target or not oracle or target.get("path") in (None, oracle.get("path")):
        return None
    return ORACLE_AS.get(target["path"])


REFUSAL = "Could not parse torch package version"     # safetensors' words when __version__ does not parse


def refusal_cause(case_api: str, cause: dict[str, str] | None, target_obs: Any) -> dict[str, str] | None:
    """A row whose target run met safetensors refusing to open a file over ``torch.__version__``: the
    version, read first by every safe_open(pt), is what diverged (it has rows of its own)."""
    import json

    if not cause or cause["phase"] != "call" or case_api in OWN_ROWS or REFUSAL not in json.dumps(target_obs):
        return cause
    return {"api": "torch.__version__", "phase": "chain",
            "evidence": f"safetensors refused to open the file: {REFUSAL} (torch.__version__ must read "
                        "major.minor.patch); " + cause["evidence"]}