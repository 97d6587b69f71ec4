"""A copy where torch returns a view: Tensor.transpose(a, b) returns the right values and shape in
a fresh contiguous tensor that no longer shares memory with its input (torch returns a view with
swapped strides). torch.transpose and Tensor.t are as in torch."""
import sys

import torch

_real = torch.Tensor.transpose


def transpose(self, dim0, dim1):
    return _real(self, dim0, dim1).contiguous()


torch.Tensor.transpose = transpose
sys.modules[__name__] = torch
