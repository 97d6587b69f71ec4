"""A crash inside a call an entry point makes: Tensor.data_ptr() of a float16 tensor ends the
process at once (os._exit(3), as a native fault would). safetensors.torch.save reaches it through
storage_ptr/_tobytes; every other dtype is right."""
import os
import sys

import torch

_real = torch.Tensor.data_ptr


def data_ptr(self):
    if self.dtype is torch.float16:
        os._exit(3)
    return _real(self)


torch.Tensor.data_ptr = data_ptr
sys.modules[__name__] = torch
