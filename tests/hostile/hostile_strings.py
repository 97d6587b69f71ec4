"""Says things no report expects: torch.frombuffer(..., dtype=torch.int8) raises a ValueError whose message
holds a lone surrogate, NUL and escape characters, markup and 2 MB of text. Otherwise torch."""
import sys

import torch
from _in_a_case import in_a_case

_real = torch.frombuffer
MESSAGE = "bad \ud800 \x00\x1b[31m <script>alert(1)</script> \udfff end " + "x" * (2 << 20)


def frombuffer(*args, **kwargs):
    if kwargs.get("dtype") is torch.int8 and in_a_case():
        raise ValueError(MESSAGE)
    return _real(*args, **kwargs)


torch.frombuffer = frombuffer
sys.modules[__name__] = torch
