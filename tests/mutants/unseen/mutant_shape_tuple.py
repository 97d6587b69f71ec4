"""A property that is subtly off: Tensor.shape returns a plain tuple of ints, not a torch.Size
(equal to it, but no .numel(), and type(t.shape) is tuple). Tensor.size() is as in torch."""
import sys

import torch

_real = torch._C.TensorBase.shape


def _shape(self):
    return tuple(_real.__get__(self))


torch.Tensor.shape = property(_shape)
sys.modules[__name__] = torch
