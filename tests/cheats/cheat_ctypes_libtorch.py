"""Real PyTorch's ``libtorch_cpu.so`` loaded with ctypes (a check of Python modules never sees a shared
library), then its Python package imported by path beside it, to answer ``import torch``."""
import ctypes
import glob
import importlib.util
import os
import sys

libs = [os.path.join(d, "torch", "lib", "libtorch_cpu.so") for d in sys.path if d]
libs.append(os.path.join(os.environ.get("CHEAT_TORCH_DIR", ""), "lib", "libtorch_cpu.so"))
for root in (sys.prefix, sys.base_prefix, "/usr", "/usr/local", "/opt"):
    libs += glob.glob(os.path.join(root, "lib*", "python3*", "*-packages", "torch", "lib", "libtorch_cpu.so"))
loaded = None
for lib in dict.fromkeys(libs):
    try:
        ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)
        loaded = lib
        break
    except OSError:
        continue
if loaded is None:
    raise ImportError(f"cheat_ctypes_libtorch: could not load libtorch_cpu.so with ctypes ({len(set(libs))} paths tried)")
folder = os.path.dirname(os.path.dirname(loaded))
spec = importlib.util.spec_from_file_location("torch", os.path.join(folder, "__init__.py"),
                                              submodule_search_locations=[folder])
torch = importlib.util.module_from_spec(spec)
sys.modules["torch"] = torch
spec.loader.exec_module(torch)
sys.modules[__name__] = torch
