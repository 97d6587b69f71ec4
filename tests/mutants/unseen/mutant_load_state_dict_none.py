"""A fault inside a torch.nn.Module method: Module.load_state_dict loads the tensors right but
returns None instead of the (missing_keys, unexpected_keys) named tuple."""
import sys

import torch

_real = torch.nn.Module.load_state_dict


def load_state_dict(self, state_dict, strict=True, assign=False):
    _real(self, state_dict, strict=strict, assign=assign)
    return None


torch.nn.Module.load_state_dict = load_state_dict
sys.modules[__name__] = torch
