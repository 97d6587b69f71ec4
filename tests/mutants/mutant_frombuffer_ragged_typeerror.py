"""A wrong exception class: torch.frombuffer raises TypeError (torch: ValueError) for a buffer whose
length is not a multiple of the element size."""
import sys

import torch

_real = torch.frombuffer


def frombuffer(buffer, *args, dtype=None, count=-1, offset=0, **kwargs):
    item = (dtype or torch.get_default_dtype()).itemsize
    if not args and count == -1 and offset == 0 and memoryview(buffer).nbytes % item:
        raise TypeError(f"buffer length ({memoryview(buffer).nbytes} bytes) must be a multiple of element size ({item})")
    return _real(buffer, *args, dtype=dtype, count=count, offset=offset, **kwargs)


torch.frombuffer = frombuffer
sys.modules[__name__] = torch
