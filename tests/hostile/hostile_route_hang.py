"""Real torch that hangs in one builder for one dtype, and dies in another, only while the kit probes its
routes (not in a case): torch.frombuffer(..., dtype=torch.float16) never returns, and
torch.tensor(list, dtype=torch.int8) kills the process with SIGSEGV. Every case must still run."""
import os
import signal
import time

import torch

from _in_a_case import in_a_case

_frombuffer, _tensor = torch.frombuffer, torch.tensor


def frombuffer(*args, **kwargs):
    if kwargs.get("dtype") is torch.float16 and not in_a_case():
        time.sleep(3600)
    return _frombuffer(*args, **kwargs)


def tensor(*args, **kwargs):
    if kwargs.get("dtype") is torch.int8 and not in_a_case():
        os.kill(os.getpid(), signal.SIGSEGV)
    return _tensor(*args, **kwargs)


torch.frombuffer, torch.tensor = frombuffer, tensor
import sys  # noqa: E402

sys.modules[__name__] = torch
