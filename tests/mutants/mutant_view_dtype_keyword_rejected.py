"""A kit route missing: Tensor.view(dtype=...) as a keyword raises TypeError (view(dtype) positional works),
as on mindtorch_v2 master. Only the view(dtype) rows may blame it; the kit builds and reads through
other routes."""
import sys

import torch

_real = torch.Tensor.view


def view(self, *args, **kwargs):
    if "dtype" in kwargs:
        raise TypeError("Tensor.view() got an unexpected keyword argument 'dtype'")
    return _real(self, *args, **kwargs)


torch.Tensor.view = view
sys.modules[__name__] = torch
