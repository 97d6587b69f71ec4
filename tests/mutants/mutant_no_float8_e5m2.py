"""A dtype missing: torch.float8_e5m2 does not exist (float8_e5m2fnuz and the others do)."""
import sys

import torch

del torch.float8_e5m2
sys.modules[__name__] = torch
