"""A reader route missing for one dtype: Tensor.numpy() raises TypeError for float16 tensors."""
import sys

import torch

_real = torch.Tensor.numpy


def numpy(self, *args, **kwargs):
    if self.dtype == torch.float16:
        raise TypeError("Got unsupported ScalarType Half")
    return _real(self, *args, **kwargs)


torch.Tensor.numpy = numpy
sys.modules[__name__] = torch
