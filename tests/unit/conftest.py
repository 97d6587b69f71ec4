"""The unit tests judge the kit's pure modules, which never need PyTorch: while only tests/unit is collected,
``import torch`` (and ``torch.*``) raises, so a pure module that starts importing torch fails here at once.
Run together with the suites that do use torch (``pytest tests``), the guard stays off."""
from __future__ import annotations

import importlib.abc
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parent


class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname == "torch" or fullname.startswith("torch."):
            raise ModuleNotFoundError(f"{fullname!r} imported in tests/unit: the unit tests and the modules they test "
                              "must run without torch", name=fullname)
        return None


def _only_unit(config: pytest.Config) -> bool:
    base = Path(config.invocation_params.dir)
    paths = [(base / str(a).split("::")[0]).resolve() for a in config.args]
    return bool(paths) and all(p == UNIT or UNIT in p.parents for p in paths)


def pytest_configure(config: pytest.Config) -> None:
    if not _only_unit(config):
        return
    if "torch" in sys.modules:
        raise pytest.UsageError("torch was imported before tests/unit started (by a plugin or conftest): "
                                "the unit tests must run without it")
    sys.meta_path.insert(0, NoTorch())
