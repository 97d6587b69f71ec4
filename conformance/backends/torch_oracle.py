"""Real PyTorch: the oracle, and a target for checking the kit against itself."""
from __future__ import annotations

import importlib.util

from .base import Backend, BackendError


class TorchBackend(Backend):
    def __init__(self) -> None:
        super().__init__(name="torch", how="real PyTorch (import torch)", uses_real_torch=True,
                         package="torch", answered_by="real torch")

    def locate(self) -> None:
        if importlib.util.find_spec("torch") is None:
            raise BackendError("real PyTorch is not installed, and the oracle needs it: "
                               "pip install torch==2.13.0")

    def activate(self) -> None:
        import torch  # noqa: F401
