"""A property that is subtly off: Tensor.device of a CPU tensor is torch.device("cpu", 0) ("cpu:0")
where torch says torch.device("cpu") (index None). .type is still "cpu"."""
import sys

import torch

_real = torch._C.TensorBase.device
_CPU0 = torch.device("cpu", 0)


def _device(self):
    d = _real.__get__(self)
    return _CPU0 if d.type == "cpu" else d


torch.Tensor.device = property(_device)
sys.modules[__name__] = torch
