"""A torch.device that is not a class: torch.device is a function that returns real torch.device
objects, so torch.device("cpu") works, but isinstance(x, torch.device) raises TypeError and
torch.device cannot be used as a type."""
import sys

import torch

_real = torch.device


def device(*args, **kwargs):
    return _real(*args, **kwargs)


torch.device = device
sys.modules[__name__] = torch
