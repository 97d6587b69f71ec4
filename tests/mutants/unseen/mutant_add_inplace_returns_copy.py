"""An in-place op that is subtly off: Tensor.add_ updates self correctly but returns a new tensor
(a copy of the sum) instead of self, so `y = x.add_(z)` gives a y that no longer aliases x."""
import sys

import torch

_real = torch.Tensor.add_


def add_(self, *args, **kwargs):
    return _real(self, *args, **kwargs).clone()


torch.Tensor.add_ = add_
sys.modules[__name__] = torch
