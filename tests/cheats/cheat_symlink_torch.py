"""Real PyTorch passed off as a backend: imported through a symlink to its folder, so a check that
compares file names as strings sees another package."""
import os
import sys

sys.path.insert(0, os.environ["CHEAT_LINK_DIR"])
import realtorch  # noqa: E402  (the symlink to real torch's folder)

sys.modules[__name__] = realtorch
