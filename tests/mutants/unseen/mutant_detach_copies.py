"""A copy where torch returns a view: Tensor.detach() returns a copy of the values (same dtype,
shape and strides) in a storage of its own, where torch returns a tensor that shares its input's
storage."""
import sys

import torch

_real = torch.Tensor.detach


def detach(self):
    out = _real(self)
    return torch.empty_strided(out.size(), out.stride(), dtype=out.dtype, device=out.device).copy_(out) \
        if out.is_contiguous() else out.clone()


torch.Tensor.detach = detach
sys.modules[__name__] = torch
