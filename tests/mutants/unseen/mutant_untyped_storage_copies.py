"""A copy where torch aliases: Tensor.untyped_storage() returns a copy of the tensor's storage (same
bytes and nbytes) in fresh memory on every call, so two views of one tensor no longer report the same
storage, and writes into it do not reach the tensor."""
import sys

import torch

_real = torch.Tensor.untyped_storage


def untyped_storage(self):
    return _real(self).clone()


torch.Tensor.untyped_storage = untyped_storage
sys.modules[__name__] = torch
