"""Real torch without two things transformers needs at import: the module torch.version and the function
torch.get_default_dtype (tests/test_transformers_import.py expects both rows MISSING in one run)."""
import sys

import torch


class _NoTorchVersion:
    def find_spec(self, fullname, path=None, target=None):
        if fullname == "torch.version" or fullname.startswith("torch.version."):
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


del torch.get_default_dtype
for name in [m for m in sys.modules if m == "torch.version" or m.startswith("torch.version.")]:
    del sys.modules[name]
delattr(torch, "version")
sys.meta_path.insert(0, _NoTorchVersion())
sys.modules[__name__] = torch
