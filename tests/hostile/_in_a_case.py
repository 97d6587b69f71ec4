"""Shared by the hostile targets: whether the caller is a catalog case (maybe through safetensors), not the
kit's own start-up probes (routes), so a hostile target misbehaves only where a case can see it."""
import os
import sys


def in_a_case() -> bool:
    f = sys._getframe(2)
    while f is not None:
        if f"{os.sep}conformance{os.sep}catalog{os.sep}" in f.f_code.co_filename:
            return True
        f = f.f_back
    return False
