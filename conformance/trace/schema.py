"""What a recording's trace.json must hold (``store`` documents the format), checked before anything uses it.

A recording may come from anyone (``run --replay DIR``): each problem is one TraceError line naming where it
is (``calls[12].args[0].shape``), never a KeyError later. Values are walked without recursion, to a bounded
depth, so a crafted file cannot exhaust the stack.
"""
from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any

from ..dtypes import DTYPES

BLOB_NAME = re.compile(r"[0-9a-f]{64}\Z")     # a blob is named by the sha256 of its bytes, nothing else
MAX_DEPTH = 64                                  # nesting of one recorded value (a tuple in a list in ...)
# What a case id may not hold: the expectations grammar splits on whitespace, '#' starts a comment, '*' is a
# prefix's wildcard, ',' separates outcomes and brackets delimit parameters.
ID_UNSAFE = re.compile(r"[\s#*,\[\]]|[^\x21-\x7e]")
_KINDS_PLAIN = {"none": None, "ellipsis": None, "bool": bool, "int": int, "float": str, "str": str,
                "dtype": str, "device": str, "memory_format": str, "layout": str}
_NAMED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")     # memory_format and layout: looked up on torch by name


class SchemaError(ValueError):
    pass


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _ints(v: Any, minimum: int | None = None) -> bool:
    return isinstance(v, list) and all(_int(x) and (minimum is None or x >= minimum) for x in v)


def _tensor(enc: dict[str, Any], where: str) -> None:
    if enc.get("dtype") not in DTYPES:
        raise SchemaError(f"{where}.dtype {enc.get('dtype')!r:.60} is not one of the kit's dtypes")
    if not _ints(enc.get("shape"), 0):
        raise SchemaError(f"{where}.shape must be a list of non-negative integers")
    if not _ints(enc.get("stride")) or len(enc["stride"]) != len(enc["shape"]):
        raise SchemaError(f"{where}.stride must be a list of integers, one per dimension")
    for k in ("offset", "nbytes", "align"):
        if not _int(enc.get(k)) or enc[k] < 0:
            raise SchemaError(f"{where}.{k} must be a non-negative integer")
    if not isinstance(enc.get("blob"), str) or not BLOB_NAME.match(enc["blob"]):
        raise SchemaError(f"{where}.blob {enc.get('blob')!r:.80} is not a sha256 (64 lowercase hex digits)")


def value(enc: Any, where: str) -> None:
    """An encoded value (``store``'s "Other values"), and everything inside it."""
    todo = [(enc, where, 0)]
    while todo:
        enc, where, depth = todo.pop()
        if depth > MAX_DEPTH:
            raise SchemaError(f"{where}: nested deeper than {MAX_DEPTH} levels")
        if not isinstance(enc, dict) or not isinstance(enc.get("k"), str):
            raise SchemaError(f"{where} must be an object with a string \"k\"")
        k = enc["k"]
        if k in ("tensor", "ndarray"):     # a numpy array argument is laid out in the same terms
            _tensor(enc, where)
        elif k in _KINDS_PLAIN:
            t = _KINDS_PLAIN[k]
            if t is not None and (not isinstance(enc.get("v"), t) or (t is int and isinstance(enc["v"], bool))):
                raise SchemaError(f"{where}.v must be a {t.__name__} for kind {k!r}")
            if k == "dtype" and enc["v"] not in DTYPES or k in ("memory_format", "layout") and not _NAMED.match(enc["v"]):
                raise SchemaError(f"{where}.v {enc['v']!r:.60} is not a {k} the kit knows")
        elif k == "size":
            if not _ints(enc.get("v")):
                raise SchemaError(f"{where}.v must be a list of integers for kind 'size'")
        elif k in ("tuple", "list", "slice"):
            v = enc.get("v")
            if not isinstance(v, list) or (k == "slice" and len(v) != 3):
                raise SchemaError(f"{where}.v must be a list{' of 3' if k == 'slice' else ''} for kind {k!r}")
            todo += [(x, f"{where}.v[{i}]", depth + 1) for i, x in enumerate(v)]
        elif k == "dict":
            v = enc.get("v")
            if not isinstance(v, list) or not all(isinstance(p, list) and len(p) == 2 for p in v):
                raise SchemaError(f"{where}.v must be a list of [key, value] pairs for kind 'dict'")
            todo += [(x, f"{where}.v[{i}][{j}]", depth + 1) for i, p in enumerate(v) for j, x in enumerate(p)]
        elif k == "opaque":
            if not isinstance(enc.get("reason", ""), str) or not isinstance(enc.get("type", ""), str):
                raise SchemaError(f"{where}: an opaque value's type and reason must be strings")
        else:
            raise SchemaError(f"{where}.k {k!r:.40} is not a kind of value a recording holds")


def call(c: Any, where: str) -> None:
    if not isinstance(c, dict):
        raise SchemaError(f"{where} must be an object")
    if not _int(c.get("i")):
        raise SchemaError(f"{where}.i must be an integer")
    if not isinstance(c.get("api"), str) or not c["api"] or ID_UNSAFE.search(c["api"]):
        raise SchemaError(f"{where}.api {c.get('api')!r:.80} must be a dotted name without spaces, '#', '*', ',' "
                          "or brackets (case ids are made from it)")
    if not isinstance(c.get("phase"), str):
        raise SchemaError(f"{where}.phase must be a string")
    if not isinstance(c.get("args"), list):
        raise SchemaError(f"{where}.args must be a list")
    if not isinstance(c.get("kwargs"), dict):
        raise SchemaError(f"{where}.kwargs must be an object")
    for n, a in enumerate(c["args"]):
        value(a, f"{where}.args[{n}]")
    for name, a in c["kwargs"].items():
        value(a, f"{where}.kwargs[{name!r}]")
    if "out" in c:
        value(c["out"], f"{where}.out")
    if "raises" in c and not isinstance(c["raises"], str):
        raise SchemaError(f"{where}.raises must be a string")
    if c.get("caller") is not None and not isinstance(c["caller"], dict):
        raise SchemaError(f"{where}.caller must be an object")


def check(data: Any, schema: str) -> None:
    """SchemaError (one line) for the first thing in ``data`` (trace.json, parsed) a recording may not hold."""
    if not isinstance(data, dict):
        raise SchemaError(f"trace.json holds {type(data).__name__}, not an object")
    if data.get("schema") != schema:
        raise SchemaError(f"schema {data.get('schema')!r:.80}, expected {schema!r}")
    if not isinstance(data.get("workload"), str) or not data["workload"]:
        raise SchemaError("\"workload\" must be a non-empty string")
    if not isinstance(data.get("calls"), list):
        raise SchemaError("\"calls\" must be a list")
    for k in ("attributes", "self_check"):
        if not isinstance(data.get(k, {}), dict):
            raise SchemaError(f"{k!r} must be an object")
    for name, info in data.get("attributes", {}).items():
        if not isinstance(info, dict) or not isinstance(info.get("kind"), str):
            raise SchemaError(f"attributes[{name!r}] must be an object with a string \"kind\"")
    for n, c in enumerate(data["calls"]):
        call(c, f"calls[{n}]")


def label(workload: str) -> str:
    """The part of case ids a user's recording gives its rows: ``script-<stem>``, with every character the
    expectations grammar could misread (spaces, '#', '*', ',', brackets, non-ASCII) made '_'."""
    stem = PurePath(workload.split(":", 1)[-1]).stem
    return "script-" + (re.sub(r"[^A-Za-z0-9_.\-]+", "_", stem).strip("_") or "unnamed")
