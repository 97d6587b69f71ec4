"""Storage bytes that are subtly off: UntypedStorage.__getitem__ with a slice that starts past byte
0 (storage[a:b], a > 0) returns the bytes of storage[a-1:b-1] (right length, one byte early).
Slices from 0 and integer indices are right."""
import sys

import torch

_real = torch.UntypedStorage.__getitem__


def __getitem__(self, idx):
    if isinstance(idx, slice) and idx.step in (None, 1):
        start, stop, _ = idx.indices(self.nbytes())
        if start > 0 and stop > start:
            return _real(self, slice(start - 1, stop - 1))
    return _real(self, idx)


torch.UntypedStorage.__getitem__ = __getitem__
sys.modules[__name__] = torch
