"""torch.nn is not an attribute after `import torch`: it appears only once `import torch.nn` ran (as
on mindtorch_v2). Code that imports torch.nn itself works; code that leans on an earlier import fails."""
import sys

import torch

del torch.nn
del sys.modules["torch.nn"]     # `import torch.nn` runs torch/nn/__init__.py again and sets the attribute
sys.modules[__name__] = torch
