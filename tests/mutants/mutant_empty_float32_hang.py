"""A hang: torch.empty([2, 0], dtype=torch.float32) never returns (every other shape and dtype works)."""
import sys
import time

import torch

_real = torch.empty


def _shape(size):
    if len(size) == 1 and isinstance(size[0], (list, tuple, torch.Size)):
        size = size[0]
    return tuple(int(s) for s in size)


def empty(*size, **kwargs):
    if kwargs.get("dtype") is torch.float32 and _shape(size) == (2, 0):
        time.sleep(3600)
    return _real(*size, **kwargs)


torch.empty = empty
sys.modules[__name__] = torch
