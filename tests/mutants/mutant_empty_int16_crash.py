"""A crash: torch.empty([0], dtype=torch.int16) kills its process with SIGSEGV (every other shape
and dtype works)."""
import os
import resource
import signal
import sys

import torch

_real = torch.empty


def _shape(size):
    if len(size) == 1 and isinstance(size[0], (list, tuple, torch.Size)):
        size = size[0]
    return tuple(int(s) for s in size)


def empty(*size, **kwargs):
    if kwargs.get("dtype") is torch.int16 and _shape(size) == (0,):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))     # no core file
        os.kill(os.getpid(), signal.SIGSEGV)
    return _real(*size, **kwargs)


torch.empty = empty
sys.modules[__name__] = torch
