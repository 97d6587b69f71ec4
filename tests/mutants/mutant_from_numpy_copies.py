"""A copy where torch shares: torch.from_numpy returns a tensor with the right bytes that no longer
shares the array's memory (as on mindtorch_v2 master). The kit builds inputs with from_numpy: its
aliasing checks must still blame only from_numpy's own rows."""
import sys

import torch

_real = torch.from_numpy


def from_numpy(arr):
    return _real(arr).clone()      # same bytes, shape and strides; other memory


torch.from_numpy = from_numpy
sys.modules[__name__] = torch
