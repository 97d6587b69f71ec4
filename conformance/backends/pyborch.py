"""pyborch (PyPI ``pyborch``, module ``borch``): numpy-only, ships no import hook, so it is aliased."""
from __future__ import annotations

from .alias import ModuleBackend


class PyborchBackend(ModuleBackend):
    def __init__(self, sys_path: list[str] | None = None) -> None:
        super().__init__("pyborch", "borch", sys_path)
        self.uses_real_torch = False

    def locate(self) -> None:
        try:
            super().locate()
        except Exception as e:
            raise type(e)(f"{e} For pyborch: pip install pyborch") from None
