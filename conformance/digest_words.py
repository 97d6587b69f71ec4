"""Digests told in words: what a recorded call returned, as a reader of a report reads it.

A digest (``conformance/digest.py``) is what the blame rule compares: ``S 24 ? ~a0``, ``T float32 [2,2] [2,1] 0
7d4bfc73``. Evidence shown to a user says the same in words ("a storage of 24 bytes that shares the memory of the
tensor it was called on"), and where two digests differ, only what differs. Nothing here changes what is compared.
Pure: no torch, no numpy.
"""
from __future__ import annotations

import re
from typing import Any

UNKNOWN = "?"
UNKNOWN_RELATION = "~?"       # digest.UNKNOWN_RELATION
_TENSOR = re.compile(r"^T (\S+) (\[[^\]]*\]|\?) (\[[^\]]*\]|\?) (\S+) (\S+)((?: [=~]a\d+| ~\?)?)$")
_STORAGE = re.compile(r"^S (\S+) (\S+)((?: ~a\d+| ~\?)?)$")
_RELATIONS = re.compile(r"^(.*?)((?: ~a\d+:\d+)+)$")
_HEX_FLOAT = re.compile(r"-?0x[0-9a-f]+(?:\.[0-9a-f]*)?p[+-]\d+")
_CRC = re.compile(r"^(?:str|B)(\d+)#[0-9a-f]{8}$")
_NUMPY = re.compile(r"^np ([<>|=]?)(\w)(\d+) (\[[^\]]*\])(?: #[0-9a-f]{8})?$")
_NUMPY_KINDS = {"f": "float", "i": "int", "u": "uint", "b": "bool", "c": "complex"}
_EVIDENCE = re.compile(r"^(?P<head>.*?)(?P<how>given what the oracle's was given|read), the target's gave "
                       r"(?P<t>.*) where the oracle's gave (?P<o>.*)$")


def _list(text: str) -> str:
    return text.replace(",", ", ")


def _scalar_text(d: str) -> str:
    """Hex floats as the numbers they are, lists and tuples in Python's spelling."""
    s = _HEX_FLOAT.sub(lambda m: repr(float.fromhex(m.group())), d)
    return re.sub(r"(?<![\w\]])([lt])([\[(])", r"\2", s)


_ORDINALS = ("first", "second", "third", "fourth", "fifth")
_RECEIVERS = {"Tensor": "tensor", "UntypedStorage": "storage", "TypedStorage": "storage", "nn": "module"}


def _who(i: int, api: str) -> str:
    """Argument ``i`` (``a<i>`` in a digest) of a call of ``api``: a method's ``a0`` is what it was called on."""
    receiver = _RECEIVERS.get(api.split(".", 1)[0])
    if receiver and i == 0:
        return f"the {receiver} it was called on"
    n = i if receiver else i + 1        # the n-th argument the caller wrote
    return f"its {_ORDINALS[n - 1]} argument" if n <= len(_ORDINALS) else f"its argument number {n}"


def _relation(rel: str, api: str) -> str:
    rel = rel.strip()
    if not rel:
        return ""
    if rel == UNKNOWN_RELATION:
        return "what memory it shares unreadable"
    i = int(rel[2:].split(":")[0])
    if rel.startswith("="):
        return f"the very object that is {_who(i, api)}"
    if ":" in rel:
        n = int(rel.split(":")[1])
        return f"{n} of them sharing the memory of {_who(i, api)}"
    return f"sharing the memory of {_who(i, api)}"


def parse(d: str) -> dict[str, Any]:
    """The fields of a digest: ``{"kind", ...}`` (kind ``tensor``, ``storage``, ``raises``, ``missing`` or
    ``other``)."""
    d = d.strip()
    m = _TENSOR.match(d)
    if m:
        dtype, shape, stride, offset, data, rel = m.groups()
        return {"kind": "tensor", "dtype": dtype, "shape": shape, "stride": stride, "offset": offset,
                "bytes": data, "relation": rel.strip()}
    m = _STORAGE.match(d)
    if m:
        return {"kind": "storage", "nbytes": m.group(1), "bytes": m.group(2), "relation": m.group(3).strip()}
    if d.startswith("raises "):
        return {"kind": "raises", "cls": d[len("raises "):]}
    if d == "missing":
        return {"kind": "missing"}
    return {"kind": "other", "text": d}


def _bytes_words(data: str) -> str:
    if data == UNKNOWN:
        return "bytes the kit could not read"
    if data == "-":
        return "bytes not compared (uninitialized or random)"
    return ""


def words(d: str, api: str = "") -> str:
    """One digest in words (without a verb): ``a float32 tensor of shape [2, 2], strides [2, 1], offset 0``."""
    p = parse(d)
    if p["kind"] == "tensor":
        parts = [f"a {p['dtype'] if p['dtype'] != UNKNOWN else ''} tensor".replace("a  ", "a "),
                 f"of shape {_list(p['shape'])}" if p["shape"] != UNKNOWN else "",
                 f"strides {_list(p['stride'])}" if p["stride"] != UNKNOWN else "",
                 f"storage offset {p['offset']}" if p["offset"] != UNKNOWN else "",
                 _bytes_words(p["bytes"]), _relation(p["relation"], api)]
        head, *rest = [x for x in parts if x]
        return " ".join([head] + rest[:1]) + "".join(f", {x}" for x in rest[1:])
    if p["kind"] == "storage":
        size = f"a storage of {p['nbytes']} bytes" if p["nbytes"] != UNKNOWN else "a storage"
        rest = [x for x in (_bytes_words(p["bytes"]), _relation(p["relation"], api)) if x]
        return ", ".join([size] + rest)
    if p["kind"] == "raises":
        return p["cls"]
    if p["kind"] == "missing":
        return "nothing (no such attribute)"
    return _other(p["text"], api)


def _other(d: str, api: str) -> str:
    m = _RELATIONS.match(d)
    if m and m.group(1):
        rels = [_relation(r, api) for r in m.group(2).split()]
        return f"{_other(m.group(1), api)}, " + ", ".join(rels)
    if d == UNKNOWN:
        return "something the kit could not read"
    if d == "ptr0":
        return "the address 0"
    if d.startswith("ptr+"):
        return f"the address of its storage + {d[4:]} bytes"
    if d == "ptr":
        return "an address outside its storage"
    if d.startswith("version:"):
        return f"a version that takes safetensors' {d[len('version:'):]} loading path"
    for prefix, name in (("dt:", "the dtype "), ("dev:", "the device "), ("lay:", "the layout ")):
        if d.startswith(prefix):
            return name + d[len(prefix):]
    if d.startswith("Z["):
        return f"torch.Size({_list(d[1:])})"
    if d.startswith("path:"):
        return f"the path of a file named {d[len('path:'):]}"
    m = _CRC.match(d)
    if m:
        return f"a string of {m.group(1)} characters" if d.startswith("str") else f"{m.group(1)} bytes"
    m = _NUMPY.match(d)
    if m:
        kind = _NUMPY_KINDS.get(m.group(2), m.group(2))
        bits = int(m.group(3)) * 8
        return f"a numpy array of {kind}{bits if kind != 'bool' else ''} of shape {_list(m.group(4))}"
    if d.startswith("exc "):
        return f"a {d[4:]} object (not raised)"
    if d.startswith("module "):
        return f"a {d[len('module '):].replace(' training=', ' module (training=')})"
    if d.startswith("o "):
        return f"a {d[2:]} object"
    items = _items(d)
    if items is not None and any(parse(x)["kind"] in ("tensor", "storage") for x in items):
        kind = "list" if d.startswith("l") else "tuple"
        return f"a {kind} of {len(items)}: " + "; ".join(words(x, api) for x in items)
    return _scalar_text(d)


def _items(d: str) -> list[str] | None:
    """The top-level items of a list or tuple digest (``l[a, b]``, ``t(a, b)``), or None."""
    if len(d) < 3 or d[:2] not in ("l[", "t(") or d[-1] != {"l": "]", "t": ")"}[d[0]]:
        return None
    out, depth, start = [], 0, 2
    for i, ch in enumerate(d[2:-1], 2):
        if ch in "[({":
            depth += 1
        elif ch in "])}":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(d[start:i].strip())
            start = i + 1
    last = d[start:-1].strip()
    return out + [last] if last else out


def _verb(p: dict[str, Any]) -> str:
    return "raised" if p["kind"] == "raises" else "had" if p["kind"] == "missing" else "returned"


def _relation_clause(rel: str, api: str) -> str:
    """How a result relates to the call's inputs, as a verb phrase: ``shares the memory of its first argument``."""
    rel = rel.strip()
    if not rel:
        return "shares no memory with its inputs"
    if rel == UNKNOWN_RELATION:
        return "holds memory whose place could not be read"
    i = int(rel[2:])
    return f"is the very object that is {_who(i, api)}" if rel.startswith("=") else f"shares the memory of {_who(i, api)}"


def contrast(target: str, oracle: str, api: str = "") -> str:
    """``the target's returned X where torch's returned Y``, saying only what differs when both are tensors or
    both storages (a field one side could not read is no difference)."""
    t, o = parse(target), parse(oracle)
    if t["kind"] != o["kind"] or t["kind"] not in ("tensor", "storage"):
        return f"the target's {_verb(t)} {words(target, api)} where torch's {_verb(o)} {words(oracle, api)}"

    def differs(key: str) -> bool:
        return t[key] != o[key] and UNKNOWN not in (t[key], o[key])

    mine, theirs = [], []
    if t["kind"] == "tensor":
        head = "a " + (f"{t['dtype']} " if not differs("dtype") and t["dtype"] != UNKNOWN else "") + "tensor"
        if not differs("shape") and t["shape"] != UNKNOWN:
            head += f" of shape {_list(t['shape'])}"
        for key, name in (("dtype", "dtype"), ("shape", "shape"), ("stride", "strides"), ("offset", "storage offset")):
            if differs(key):
                mine.append(f"{name} {_list(t[key])}")
                theirs.append(f"{name} {_list(o[key])}")
    else:
        head = f"a storage of {t['nbytes']} bytes" if t["nbytes"] != UNKNOWN else "a storage"
        if differs("nbytes"):
            theirs.append(f"{o['nbytes']} bytes")
    if differs("bytes") and "-" not in (t["bytes"], o["bytes"]):
        mine.append("other bytes than torch's")
    text = f"the target's returned {head}" + (f" with {' and '.join(mine)}" if mine else "")
    clauses = [f"has {' and '.join(theirs)}"] if theirs else []
    if t["relation"] != o["relation"] and UNKNOWN_RELATION not in (t["relation"], o["relation"]):
        text += f" that {_relation_clause(t['relation'], api)}"
        clauses.append(_relation_clause(o["relation"], api))
    if not mine and not clauses:      # only fields one side could not read: say both whole
        return f"the target's returned {words(target, api)} where torch's returned {words(oracle, api)}"
    return text + (f", where torch's {' and '.join(clauses)}" if clauses else "")


def tell(evidence: str, api: str | None = None) -> str:
    """Evidence of the blame rule (``call #3 X: given what the oracle's was given, the target's gave D1 where
    the oracle's gave D2``) in words; any other text, or digests this cannot read, as it is."""
    m = _EVIDENCE.match(evidence)
    if not m:
        return evidence
    head = m.group("head")
    called = re.match(r"^call #\d+ (\S+): $", head)
    api = api or (called.group(1) if called else "")
    target, oracle = m.group("t"), m.group("o")
    if target.endswith("...") or oracle.endswith("..."):      # cut short where it was made: not readable whole
        return evidence
    how = "given the same inputs as torch's" if m.group("how").startswith("given") else "read"
    return f"{head}{how}, {contrast(target, oracle, api)}"
