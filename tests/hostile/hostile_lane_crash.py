"""Real torch whose ``torch.nn.functional.gelu`` kills its process on a 3-d float32 tensor: the replay rows that
reach it (taken by the second target process, conformance/lanes.py) crash one after the other."""
import os
import resource
import signal
import sys

import torch
import torch.nn.functional as F

_real = F.gelu


def gelu(x, *args, **kwargs):
    if x.dim() == 3 and x.dtype is torch.float32:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))     # no core file
        os.kill(os.getpid(), signal.SIGSEGV)
    return _real(x, *args, **kwargs)


F.gelu = gelu
sys.modules[__name__] = torch
