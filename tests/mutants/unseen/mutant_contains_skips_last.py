"""A dunder that is subtly off: Tensor.__contains__ (`x in t`) never looks at the last element of
t (an off-by-one in the scan): `3 in torch.tensor([1, 2, 3])` is False. Tensors of one element, and
elements found earlier, are right."""
import sys

import torch

_real = torch.Tensor.__contains__


def __contains__(self, element):
    if self.numel() > 1:
        return _real(self.reshape(-1)[:-1], element)
    return _real(self, element)


torch.Tensor.__contains__ = __contains__
sys.modules[__name__] = torch
