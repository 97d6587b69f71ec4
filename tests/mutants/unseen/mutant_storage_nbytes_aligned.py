"""A storage method that is subtly off: UntypedStorage.nbytes() reports the allocation rounded up
to a multiple of 8 bytes (an allocator's capacity) instead of the storage's size: a 2x3 float16
tensor's storage says 16, torch 12. Sizes that are already multiples of 8 are right."""
import sys

import torch

_real = torch.UntypedStorage.nbytes


def nbytes(self):
    n = _real(self)
    return (n + 7) // 8 * 8


torch.UntypedStorage.nbytes = nbytes
sys.modules[__name__] = torch
