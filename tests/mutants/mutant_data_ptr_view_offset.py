"""A wrong pointer offset: Tensor.data_ptr() of an int64 tensor that starts inside its storage (a
view with storage_offset() > 0) is one element (8 bytes) too far. Other dtypes, and int64 tensors
at the start of their storage, are right."""
import sys

import torch

_real = torch.Tensor.data_ptr


def data_ptr(self):
    ptr = _real(self)
    if ptr and self.dtype is torch.int64 and self.storage_offset() > 0:
        ptr += self.element_size()
    return ptr


torch.Tensor.data_ptr = data_ptr
sys.modules[__name__] = torch
