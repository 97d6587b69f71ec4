"""A copy where torch aliases: torch.frombuffer returns the right bytes in a fresh tensor that no
longer shares memory with the buffer."""
import sys

import torch

_real = torch.frombuffer


def frombuffer(buffer, *args, **kwargs):
    t = _real(buffer, *args, **kwargs)
    return t.view(torch.uint8).clone().view(t.dtype)     # byte copy: works for every dtype


torch.frombuffer = frombuffer
sys.modules[__name__] = torch
