"""Elementwise math that is subtly off on strided inputs: torch.tanh of a tensor that is not
contiguous but covers its memory densely (e.g. a transposed one) computes tanh of the elements in
memory order and returns them in the input's shape, so elements land in the wrong places.
Contiguous inputs, and Tensor.tanh, are right."""
import sys

import torch

_real = torch.tanh


def _dense(t):
    span = 1 + sum((s - 1) * st for s, st in zip(t.shape, t.stride()) if s > 0)
    return t.numel() > 0 and span == t.numel() and all(st > 0 for st in t.stride())


def tanh(input, *, out=None):
    if out is None and isinstance(input, torch.Tensor) and not input.is_contiguous() and _dense(input):
        flat = torch.as_strided(input, (input.numel(),), (1,), input.storage_offset())
        return _real(flat).reshape(input.shape)
    return _real(input) if out is None else _real(input, out=out)


torch.tanh = tanh
sys.modules[__name__] = torch
