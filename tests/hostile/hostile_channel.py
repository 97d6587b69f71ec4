"""Writes into the kit's channel: torch.frombuffer(..., dtype=torch.int8) first writes frame-like garbage
(and a well-formed looking JSON answer) into every open file descriptor above stderr, as a careless
library that "flushes all handles" might. Otherwise torch."""
import os
import sys

import torch
from _in_a_case import in_a_case

_real = torch.frombuffer
_JUNK = b'CF1 12 0123456789abcdef\n{"case": "x"}\n{"case": "frombuffer[int8-ordinary]", "obs": {"value": 1}}\n'


def frombuffer(*args, **kwargs):
    if kwargs.get("dtype") is torch.int8 and in_a_case():
        for fd in range(3, 256):
            try:
                os.write(fd, _JUNK)
            except OSError:
                pass
    return _real(*args, **kwargs)


torch.frombuffer = frombuffer
sys.modules[__name__] = torch
