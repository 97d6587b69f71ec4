"""How a replayed call's output is compared, by op class, and which calls are replayed at all.

Byte-exact: layout (views, reshapes, shape reads), indexing (embedding, getitem), integer and boolean
outputs, comparisons, copies and fills: none of them computes a new floating-point value, so a correct
backend gives the same bytes. Floating-point math: within a tolerance scaled to the output's
magnitude, ``|t - o| <= atol + rtol * |o|`` with the transformers module's rtol 1e-4 and atol 1e-5
times max(1, the largest |output|); the ulp distance is shown for information. Uninitialized outputs
(``torch.empty``): dtype, shape and strides only.
"""
from __future__ import annotations

from typing import Any

RTOL, ATOL = 1e-4, 1e-5

LAYOUT = {"view", "reshape", "transpose", "permute", "contiguous", "expand", "expand_as", "split", "chunk",
          "unsqueeze", "squeeze", "flatten", "narrow", "select", "t", "unbind", "as_strided", "view_as",
          "reshape_as", "size", "dim", "shape", "stride", "numel", "is_contiguous", "storage_offset", "cat",
          "stack", "repeat", "flip", "movedim", "ndim", "dtype", "device", "is_meta", "requires_grad", "data",
          "grad_fn", "element_size", "nelement", "layout", "is_floating_point"}
INDEXING = {"embedding", "__getitem__", "index_select", "gather", "take", "masked_select", "__setitem__"}
COPY = {"to", "clone", "copy_", "detach", "masked_fill", "masked_fill_", "fill_", "zero_", "zeros", "ones", "full",
        "zeros_like", "ones_like", "full_like", "tensor", "as_tensor", "asarray", "arange", "tril", "triu", "where",
        "dropout", "type", "float", "long", "int", "bool", "half", "new_zeros", "new_ones", "new_full", "new_tensor",
        "from_numpy", "frombuffer", "item", "tolist"}
COMPARISON = {"eq", "ne", "lt", "le", "gt", "ge", "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "all",
              "any", "__bool__", "__contains__", "isin", "equal", "isnan", "isinf", "isfinite", "__and__", "__or__",
              "__xor__", "__rand__", "__ror__", "__rxor__", "__iand__", "__ior__", "__ixor__",
              "logical_and", "logical_or", "logical_not", "__invert__"}
UNINITIALIZED = {"empty", "empty_like", "new_empty", "empty_strided"}
# Dunder names that are not operators with a reflected or in-place form
_NOT_OPERATORS = {"__index__", "__int__", "__invert__", "__init__", "__iter__", "__repr__", "__reduce__",
                  "__reduce_ex__", "__reversed__"}


def reflected_or_in_place(name: str) -> bool:
    """``__radd__``, ``__iadd__``, ...: operators Python tries only after (or instead of) another, so a
    tensor lacking one is MISSING it, however Python falls back."""
    import operator

    if not (name.startswith(("__r", "__i")) and name.endswith("__")) or name in _NOT_OPERATORS:
        return False
    return hasattr(operator, "__" + name[3:]) or name == "__idiv__"


def in_place(api: str) -> bool:
    """An op that writes into its first argument: ``add_``, ``__iadd__``, ``__setitem__``, ``copy_``."""
    name = leaf(api)
    if name.startswith("__"):
        return name == "__setitem__" or (name.startswith("__i") and reflected_or_in_place(name))
    return name.endswith("_") and not name.startswith("_")


def short_name(api: str) -> str:
    """The name a case id uses: ``Tensor.reshape``, ``Tensor.shape`` (a property read),
    ``torch.nn.functional.linear``."""
    if api.startswith("torch.Tensor."):
        api = api[len("torch."):]
    if api.endswith(".__get__"):
        api = api[:-len(".__get__")]
    return api


def leaf(api: str) -> str:
    parts = short_name(api).split(".")
    return parts[-2] if parts[-1] == "__set__" else parts[-1]


def public(api: str) -> bool:
    """Replayed as a case: a public API (no private component; dunder methods are public)."""
    return not any(p.startswith("_") and not (p.startswith("__") and p.endswith("__")) for p in api.split("."))


FLOATS = {"float64", "float32", "float16", "bfloat16", "complex64", "complex128"} | {
    n for n in ("float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu")}


def op_class(api: str) -> str:
    name = leaf(api)
    for cls, names in (("layout", LAYOUT), ("indexing", INDEXING), ("copy", COPY), ("comparison", COMPARISON),
                       ("uninitialized", UNINITIALIZED)):
        if name in names:
            return cls
    return "float-math"


def compares_within_tolerance(api: str, dtype: str | None) -> bool:
    """Float math on a floating-point output: within tolerance. Everything else byte for byte."""
    return op_class(api) == "float-math" and dtype in FLOATS


def tolerance(magnitude: float) -> dict[str, float]:
    return {"rtol": RTOL, "atol": ATOL * max(1.0, float(magnitude))}


def first_tensor(encs: list[dict[str, Any]]) -> dict[str, Any] | None:
    for e in encs:
        if e.get("k") == "tensor":
            return e
        if e.get("k") in ("tuple", "list"):
            t = first_tensor(e["v"])
            if t is not None:
                return t
    return None


def signature(call: dict[str, Any]) -> tuple[str, str, int] | None:
    """(short name, dtype, rank) of a call: its first tensor argument, else its first tensor output;
    None for a call with no tensor at all."""
    t = first_tensor(list(call["args"]) + list(call["kwargs"].values()))
    if t is None and "out" in call:
        t = first_tensor([call["out"]])
    if t is None:
        return None
    return short_name(call["api"]), t["dtype"], len(t["shape"])


# Draw from torch's global random generator: their recorded output cannot be reproduced by a call.
RANDOM = {"randn", "rand", "randint", "randperm", "randn_like", "rand_like", "randint_like", "normal", "normal_",
          "uniform_", "bernoulli", "bernoulli_", "multinomial", "random_", "exponential_", "cauchy_",
          "log_normal_", "geometric_", "rrelu"}


def _training_dropout(call: dict[str, Any]) -> bool:
    """F.dropout(input, p, training=True, ...): random; in eval mode (training=False) it is a copy."""
    if leaf(call["api"]) not in ("dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout"):
        return False
    flag = call["kwargs"].get("training", call["args"][2] if len(call["args"]) > 2 else {"k": "bool", "v": True})
    return bool(flag.get("v", True)) and call["api"].startswith("torch.nn.functional.")


def not_replayable(call: dict[str, Any]) -> str | None:
    """Why a call cannot be replayed, or None."""
    if not public(call["api"]):
        return f"{call['api']} is private to torch"
    if leaf(call["api"]) in RANDOM or _training_dropout(call):
        return "draws from torch's global random generator"

    def opaque(encs):
        for e in encs:
            if e.get("k") == "opaque":
                return f"{e['type']}: {e['reason']}"
            if e.get("k") in ("tuple", "list", "slice"):
                r = opaque(e["v"])
                if r:
                    return r
            if e.get("k") == "dict":
                r = opaque([x for kv in e["v"] for x in kv])
                if r:
                    return r
        return None
    why = opaque(list(call["args"]) + list(call["kwargs"].values()))
    if why is None and "out" in call:
        out = opaque([call["out"]])
        why = None if out is None else f"its result, {out}"
    return why
