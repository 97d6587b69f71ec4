"""A non-str __version__: torch.__version__ is a packaging.version.Version("2.13.0+cpu"), a
version object that prints the same and compares with other versions, but is not a str (torch's
TorchVersion is a str subclass)."""
import sys

import torch
from packaging.version import Version

torch.__version__ = Version(str(torch.__version__))
sys.modules[__name__] = torch
