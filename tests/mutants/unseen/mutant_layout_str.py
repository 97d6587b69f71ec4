"""A property that is subtly off: Tensor.layout returns the string "torch.strided" (what
str(torch.strided) prints) instead of the torch.strided object, so `t.layout == torch.strided` and
`t.layout is torch.strided` are False although it prints the same."""
import sys

import torch

_real = torch._C.TensorBase.layout


def _layout(self):
    return str(_real.__get__(self))


torch.Tensor.layout = property(_layout)
sys.modules[__name__] = torch
