"""What the kit reads off a backend, read as values: ``torch.dtype``, ``torch.device``, ``torch.Tensor``,
``Tensor.stride`` and ``Tensor.shape`` may have any shape there (a function, a module, a tuple).

The kit's encoders, readers and digests run inside the target: where these differ from PyTorch they must
still observe the tensor, and leave the difference to the row about that API (``deviation``), instead of
failing in the kit and blocking every row that reads a tensor.
"""
from __future__ import annotations

from typing import Any

from .dtypes import DTYPES


def is_instance(v: Any, cls: Any) -> bool:
    """``isinstance(v, cls)``, False where ``cls`` is not a class (a backend's function or module)."""
    try:
        return isinstance(cls, type) and isinstance(v, cls)
    except Exception:
        return False


def is_tensor(torch: Any, v: Any) -> bool:
    return is_instance(v, getattr(torch, "Tensor", None))


def is_dtype(torch: Any, v: Any) -> bool:
    """A dtype of this backend: an instance of ``torch.dtype`` where that is a class, else one of the
    ``torch.<name>`` dtype constants."""
    cls = getattr(torch, "dtype", None)
    if isinstance(cls, type):
        return is_instance(v, cls)
    if v is None or isinstance(v, (bool, int, float, str, bytes, list, dict)):
        return False
    return any(getattr(torch, name, None) is v for name in DTYPES)


def is_device(torch: Any, v: Any) -> bool:
    """A device of this backend: an instance of ``torch.device`` where that is a class, else an object of a
    class named ``device`` (what a ``torch.device`` function returns)."""
    cls = getattr(torch, "device", None)
    if isinstance(cls, type):
        return is_instance(v, cls)
    return type(v).__name__ == "device"


def _called_or_value(t: Any, name: str) -> Any:
    attr = getattr(t, name)
    return attr() if callable(attr) else attr


def strides(t: Any) -> list[int]:
    """``t.stride()``, or the value of ``t.stride`` where it is not a method (a tuple)."""
    return [int(s) for s in _called_or_value(t, "stride")]


def shape(t: Any) -> list[int]:
    """``t.shape``, or ``t.shape()`` where it is a method."""
    return [int(s) for s in _called_or_value(t, "shape")]


def deviation(owner: Any, name: str, *, method: bool) -> str | None:
    """How ``owner.name`` differs in kind from PyTorch's (a method there, or a value there), in words for the
    row about it: "Tensor.stride is a tuple, not a method". None when it is of PyTorch's kind."""
    try:
        attr = getattr(owner, name)
    except Exception as e:
        return f"reading it raised {type(e).__name__}: {e}"
    if method and not callable(attr):
        return f"is a {type(attr).__name__}, not a method"
    if not method and callable(attr) and not isinstance(attr, (tuple, list)):
        return f"is a {type(attr).__name__} (callable), not a value"
    return None
