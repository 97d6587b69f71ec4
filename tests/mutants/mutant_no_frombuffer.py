"""A missing attribute: torch.frombuffer does not exist."""
import sys

import torch

del torch.frombuffer
sys.modules[__name__] = torch
