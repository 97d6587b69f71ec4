"""Tensor.stride is a tuple (a property), not a method: t.stride is (3, 1), and t.stride() raises TypeError
('tuple' object is not callable), as in some backends. Every other API is real torch's."""
import sys

import torch

_stride = torch.Tensor.stride
torch.Tensor.stride = property(lambda self: tuple(_stride(self)))
sys.modules[__name__] = torch
