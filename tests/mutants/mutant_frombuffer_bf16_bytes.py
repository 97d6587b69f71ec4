"""Wrong bytes for one dtype: torch.frombuffer(..., dtype=torch.bfloat16) returns its first element
with the lowest bit flipped (a NaN payload or a last mantissa bit). Still aliases the buffer."""
import sys

import torch

_real = torch.frombuffer


def frombuffer(buffer, *args, **kwargs):
    t = _real(buffer, *args, **kwargs)
    if t.dtype is torch.bfloat16 and t.numel():
        if memoryview(buffer).readonly:     # never write into an immutable object: flip a copy
            t = t.clone()
        t[:1].view(torch.int16).bitwise_xor_(1)
    return t


torch.frombuffer = frombuffer
sys.modules[__name__] = torch
