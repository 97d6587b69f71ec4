"""A fault inside a torch.nn.Module method: Module.state_dict() (called without a destination)
returns copies of the parameters and buffers instead of tensors that share their storage, so tied
weights no longer share memory in it. Keys, values and order are right."""
import sys

import torch

_real = torch.nn.Module.state_dict


def state_dict(self, *args, destination=None, prefix="", keep_vars=False):
    top = destination is None and not args
    sd = _real(self, *args, destination=destination, prefix=prefix, keep_vars=keep_vars)
    if top:
        for k in list(sd):
            sd[k] = sd[k].clone()
    return sd


torch.nn.Module.state_dict = state_dict
sys.modules[__name__] = torch
