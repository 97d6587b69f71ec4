"""Wrong strides: when Tensor.reshape has to copy (a non-viewable input), the copy it returns holds
the right values but is laid out with every element two slots apart (stride() doubled)."""
import sys

import torch

_real = torch.Tensor.reshape


def reshape(self, *shape):
    out = _real(self, *shape)
    copied = out.untyped_storage().data_ptr() != self.untyped_storage().data_ptr()
    if copied and out.dim() and out.numel() > 1:
        spread = torch.empty(list(out.shape) + [2], dtype=out.dtype)[..., 0]
        spread.copy_(out)
        return spread
    return out


torch.Tensor.reshape = reshape
sys.modules[__name__] = torch
