"""Says things no report expects: torch.frombuffer(..., dtype=torch.int8) raises a ValueError whose message
holds a lone surrogate, NUL and escape characters, markup and 2 MB of text. Otherwise torch."""
import os
import sys

import torch

_real = torch.frombuffer
MESSAGE = "bad \ud800 \x00\x1b[31m <script>alert(1)</script> \udfff end " + "x" * (2 << 20)


def _in_a_case() -> bool:
    """Called (maybe through safetensors) by a catalog case, not by the kit's own start-up probes."""
    f = sys._getframe(1)
    while f is not None:
        if f"{os.sep}conformance{os.sep}catalog{os.sep}" in f.f_code.co_filename:
            return True
        f = f.f_back
    return False


def frombuffer(*args, **kwargs):
    if kwargs.get("dtype") is torch.int8 and _in_a_case():
        raise ValueError(MESSAGE)
    return _real(*args, **kwargs)


torch.frombuffer = frombuffer
sys.modules[__name__] = torch
