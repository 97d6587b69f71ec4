"""A reflected operator that is subtly off: Tensor.__radd__ with a Python float on the left
(`1.0 + t`) promotes a float32 tensor to float64 (NumPy 1.x scalar promotion); the values are
right. `t + 1.0`, Tensor.add and other dtypes are as in torch."""
import sys

import torch

_real = torch.Tensor.__radd__


def __radd__(self, other):
    if isinstance(other, float) and self.dtype is torch.float32:
        return _real(self.to(torch.float64), other)
    return _real(self, other)


torch.Tensor.__radd__ = __radd__
sys.modules[__name__] = torch
