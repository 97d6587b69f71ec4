"""An in-place op that is subtly off: Tensor.copy_ into a destination that starts inside its
storage (storage_offset() > 0) writes the values one element too early, over the element before the
view. Destinations at the start of their storage are right."""
import sys

import torch

_real = torch.Tensor.copy_


def copy_(self, src, non_blocking=False):
    off = self.storage_offset()
    if off > 0:
        early = torch.as_strided(self, self.size(), self.stride(), off - 1)
        _real(early, src, non_blocking)
        return self
    return _real(self, src, non_blocking)


torch.Tensor.copy_ = copy_
sys.modules[__name__] = torch
