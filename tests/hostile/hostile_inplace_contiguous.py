"""Real torch whose Tensor.contiguous() works in place, as paddle's does: a non-contiguous tensor becomes
contiguous itself (new strides, same values) and is returned. A reader built on contiguous() would change
every input it reads before the API under test sees it, so the kit must refuse it."""
import sys

import torch

_contiguous = torch.Tensor.contiguous


def contiguous(self, *args, **kwargs):
    if not self.is_contiguous():
        c = _contiguous(self, *args, **kwargs)
        with torch.no_grad():
            self.set_(c)
    return self


torch.Tensor.contiguous = contiguous
sys.modules[__name__] = torch
