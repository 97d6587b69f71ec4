"""Two deviations at once: mutant_frombuffer_bf16_bytes (torch.frombuffer of bfloat16 flips a bit) and
mutant_zeros_empty_float64 (torch.zeros of a zero-element shape gives float64). Fixing the first one is
mutant_zeros_empty_float64: "a fix of torch.frombuffer unblocks N" must name exactly the rows that pass there."""
import sys

import mutant_frombuffer_bf16_bytes  # noqa: F401  (each patches the real torch module in place)
import mutant_zeros_empty_float64  # noqa: F401
import torch

sys.modules[__name__] = torch
