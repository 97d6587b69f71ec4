"""A fault only at a storage offset: Tensor.clone() of a tensor that starts inside its storage
(storage_offset() > 0) copies the elements as if the view started at element 0 of the storage (the
offset is forgotten; sizes and strides are kept). Tensors at offset 0 clone right."""
import sys

import torch

_real = torch.Tensor.clone


def clone(self, *args, **kwargs):
    if self.storage_offset() > 0:
        return _real(torch.as_strided(self, self.size(), self.stride(), 0), *args, **kwargs)
    return _real(self, *args, **kwargs)


torch.Tensor.clone = clone
sys.modules[__name__] = torch
