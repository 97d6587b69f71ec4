"""A copy where torch raises: Tensor.view(shape) of a tensor whose strides cannot be viewed that
way (e.g. view(-1) of a transposed or stepped tensor) returns a reshaped copy instead of raising
RuntimeError. Views that torch allows, and view(dtype), are as in torch."""
import sys

import torch

_real = torch.Tensor.view


def view(self, *args, **kwargs):
    try:
        return _real(self, *args, **kwargs)
    except RuntimeError:
        if kwargs or not args or isinstance(args[0], torch.dtype):
            raise
        return self.reshape(*args)


torch.Tensor.view = view
sys.modules[__name__] = torch
