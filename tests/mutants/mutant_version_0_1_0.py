"""torch.__version__ is "0.1.0" (mindtorch_v2 master's): safetensors' Rust safe_open(pt) then maps the
file itself and builds tensors with torch.frombuffer instead of loading through torch storages."""
import sys

import torch

torch.__version__ = "0.1.0"
sys.modules[__name__] = torch
