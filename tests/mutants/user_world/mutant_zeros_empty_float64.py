"""torch.zeros of a zero-element shape ignores dtype= and gives float64 (e.g. zeros([0, 4], dtype=float32) is
a float64 tensor); every other call is real torch's. safetensors' pread path builds its zero-size tensors so."""
import sys
from math import prod

import torch

_zeros = torch.zeros


def zeros(*size, **kwargs):
    dims = size[0] if len(size) == 1 and isinstance(size[0], (list, tuple, torch.Size)) else size
    if prod(int(d) for d in dims) == 0 and "dtype" in kwargs:
        kwargs = {**kwargs, "dtype": torch.float64}
    return _zeros(*size, **kwargs)


torch.zeros = zeros
sys.modules[__name__] = torch
