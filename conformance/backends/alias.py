"""The generic way to make a module answer ``import torch``: an import hook, not a bare alias.

``sys.modules["torch"] = mod`` alone breaks ``import torch.nn`` whenever ``mod.nn`` is an attribute
rather than a submodule (pyborch), so a finder maps ``torch.<sub>`` to ``<mod>.<sub>``: first as
a real submodule, then as an attribute of the parent.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from typing import Any


class _ExistingObjectLoader(importlib.abc.Loader):
    def __init__(self, obj: Any):
        self.obj = obj
        self.spec = getattr(obj, "__spec__", None)

    def create_module(self, spec):
        return self.obj

    def exec_module(self, module):
        # importlib stamped our spec on the object; give it its own back.
        if self.spec is not None:
            try:
                module.__spec__ = self.spec
            except (AttributeError, TypeError):
                pass


class TorchAliasFinder(importlib.abc.MetaPathFinder):
    def __init__(self, target: str):
        self.target = target

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "torch" and not fullname.startswith("torch."):
            return None
        obj = _resolve(self.target + fullname[len("torch"):])
        if obj is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _ExistingObjectLoader(obj), is_package=_is_package(obj))


def _is_package(obj: Any) -> bool:
    """Whether ``import torch.<obj>.<sub>`` may look inside ``obj``: real packages, and objects that are
    not module files (pyborch's ``nn`` is an instance whose ``functional`` is an attribute), or
    ``import torch.nn.functional`` fails with "'torch.nn' is not a package"."""
    if hasattr(obj, "__path__"):
        return True
    return not (isinstance(obj, types.ModuleType) and getattr(obj, "__file__", None))


def _resolve(dotted: str) -> Any:
    try:
        return importlib.import_module(dotted)
    except ImportError:
        pass
    parent, _, attr = dotted.rpartition(".")
    if not parent:
        return None
    owner = _resolve(parent)
    return getattr(owner, attr, None) if owner is not None else None


def install_alias(module_name: str) -> Any:
    """Make ``import torch[.sub]`` resolve to ``module_name[.sub]`` in this process."""
    mod = importlib.import_module(module_name)
    if getattr(mod, "__name__", None) == "torch":
        return mod          # the module is (patched) real torch already: nothing to alias
    sys.meta_path.insert(0, TorchAliasFinder(module_name))
    sys.modules["torch"] = mod
    return mod


def answer_import_torch(module_name: str) -> str:
    """Make ``import torch`` mean ``module_name`` unless importing it already did (an import finder of its
    own, as paddle's ``enable_compat()`` installs, or a module that is torch); returns an ANSWERED_BY key."""
    before = list(sys.meta_path)
    mod = importlib.import_module(module_name)
    if getattr(mod, "__name__", None) == "torch":
        return "module itself"
    for finder in [f for f in sys.meta_path if f not in before]:
        try:
            spec = finder.find_spec("torch", None)
        except Exception:       # noqa: BLE001  a finder that cannot answer is not the one answering
            spec = None
        if spec is not None:
            return "module finder"
    install_alias(module_name)
    return "kit alias"
