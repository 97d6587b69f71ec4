"""torch.__version__ with a wrong format: "2.13" (a plain str without the patch number and local
part), where torch has a TorchVersion like "2.13.0+cpu"."""
import sys

import torch

torch.__version__ = ".".join(str(torch.__version__).split("+")[0].split(".")[:2])
sys.modules[__name__] = torch
