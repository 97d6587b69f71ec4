"""Real torch without two things transformers needs at import: the module torch.version and the function
torch.get_default_dtype (tests/test_transformers_import.py expects both rows MISSING in one run)."""
import sys

import torch

del torch.get_default_dtype
sys.modules["torch.version"] = None          # `import torch.version` now raises ModuleNotFoundError
delattr(torch, "version")
sys.modules[__name__] = torch
