"""An in-place op that is not in place: Tensor.mul_(other) returns the right product in a new
tensor and leaves self unchanged, so code that relies on the mutation (`t.mul_(2)` without using
the result) sees the old values. Tensor.mul and `*` are as in torch."""
import sys

import torch

_real = torch.Tensor.mul


def mul_(self, other):
    return _real(self, other)


torch.Tensor.mul_ = mul_
sys.modules[__name__] = torch
