"""One item per root cause: items whose rows show the same wrong result are one.

Two rows show the same fault when their evidence has the same shape, whatever API they call:
- the same wrong strides for the same result shape (``zeros`` and ``empty`` of shape [2, 0] both giving
  stride (0, 1) where torch gives (1, 1): on mindtorch_v2 master both come from one helper,
  ``_backends/cpu/creation._contiguous_stride``, and fixing it alone passes the rows of both);
- the same wrong value in the same field (``is_contiguous`` False where torch says True, from
  ``Tensor.is_contiguous`` and ``Tensor.contiguous``'s ``result_is_contiguous``), or the same wrong
  count in it (a clone's storage of 48 bytes where torch's holds 0 or 16);
- the same exception, class and message (``'Tensor' object has no attribute 'data_ptr'`` from
  ``data_ptr`` itself and from the meta-tensor case that reads it).

Only items of one kind of difference are one: the same group, and for silent data the same tier and the same
differing fields, in the items and in the rows that tie them. A row may show two faults at once (``torch.tensor`` of a strided array giving a wrong dtype and
C-order strides); its stride must not tie its dtype fault to another API's strides (on the journey such an item
promised 21 rows and a fix freed 1).
"""
from __future__ import annotations

import re
from typing import Any, Callable, Hashable, Iterable, TypeVar

from .ranking import row_tier
from .rows import at, kind, silent_fields

T = TypeVar("T")
_STRIDE = re.compile(r"^(.*)\.stride(\[\d+\])?$")
_PREFIX = re.compile(r"^(result_|storage_)+")
_QUALIFIED = re.compile(r"^(?:[\w.]+\.)?\w+(Error|Exception|Warning): ")
MIN_MESSAGE = 12        # shorter messages ("", "dtype") say too little to tie two APIs together


def _message(text: Any) -> str:
    s = " ".join(str(text or "").split())
    while _QUALIFIED.match(s):
        s = _QUALIFIED.sub("", s, count=1)
    return s


def signatures(record: dict[str, Any]) -> set[Hashable]:
    """The shapes of a row's own fault that another API's row may share."""
    group, _ = kind(record)
    oracle, observed = record.get("oracle") or {}, record.get("observed") or {}
    out: set[Hashable] = set()
    if group == "silent":
        for d in record.get("diffs") or []:
            path = str(d.get("path") or "")
            m = _STRIDE.match(path)
            if m:
                shape, o, t = at(observed, m.group(1) + ".shape"), at(oracle, m.group(1) + ".stride"), \
                    at(observed, m.group(1) + ".stride")
                if isinstance(shape, list) and isinstance(o, list) and isinstance(t, list):
                    out.add(("stride", tuple(shape), tuple(o), tuple(t)))
                continue
            if d.get("kind") == "bytes" or "oracle" not in d or path.endswith("raises"):
                continue
            name = _PREFIX.sub("", re.sub(r"\[\d+\]", "", path.split(".")[-1]))
            o, t = d.get("oracle"), d.get("target")
            if isinstance(o, (bool, int, float, str)) and isinstance(t, (bool, int, float, str)):
                out.add(("value", name, repr(o), repr(t)))
                if isinstance(t, int) and not isinstance(t, bool) and abs(t) > 1:
                    out.add(("count", name, t))
    elif group == "error":
        found = []
        if isinstance(observed, dict) and "raises" in observed:
            found.append((observed.get("raises"), observed.get("message")))
        for d in record.get("diffs") or []:
            t = d.get("target")
            if isinstance(t, dict) and "raises" in t:
                found.append((t.get("raises"), t.get("message")))
        for cls, msg in found:
            msg = _message(msg)
            if len(msg) >= MIN_MESSAGE:
                out.add(("raises", str(cls).rsplit(".", 1)[-1], msg))
    return out


def field_names(fields: Iterable[str]) -> tuple[str, ...]:
    """Differing fields as one kind of difference: ``result_is_contiguous`` is ``is_contiguous``."""
    return tuple(sorted({_PREFIX.sub("", f) for f in fields}))


def row_kind(record: dict[str, Any]) -> tuple:
    """A row's kind of difference: its group, and for silent data its tier and differing fields. Only rows of one
    kind tie two items together."""
    group, _ = kind(record)
    if group != "silent":
        return (group,)
    return group, row_tier(record), field_names(silent_fields(record))


def merge(items: list[T], rows_of: Callable[[T], Iterable[dict[str, Any]]],
          family: Callable[[T], Hashable]) -> list[list[T]]:
    """Items grouped where any of their rows share a signature, within one family (its kind of difference:
    errors with errors; silent data of one tier and the same differing fields), each group in the order of
    ``items``."""
    parent = list(range(len(items)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    seen: dict[tuple[Hashable, ...], int] = {}
    for i, item in enumerate(items):
        for r in rows_of(item):
            fault = row_kind(r)
            for sig in signatures(r):
                key = (family(item), fault, sig)
                if key in seen:
                    a, b = root(seen[key]), root(i)
                    if a != b:
                        parent[max(a, b)] = min(a, b)
                else:
                    seen[key] = i
    groups: dict[int, list[T]] = {}
    for i, item in enumerate(items):
        groups.setdefault(root(i), []).append(item)
    return list(groups.values())
