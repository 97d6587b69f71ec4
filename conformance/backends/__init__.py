"""Backend adapters: one small adapter per backend, chosen by ``--target``.

Built in: ``torch`` (the oracle), ``mindtorch_v2``, ``pyborch``, ``paddle`` (optional, its own
environment) and ``module:NAME``. A backend
package can add its own adapter through the entry point group ``torch_conformance.backends``:
the entry point loads a callable that takes ``sys_path`` (a list of folders) and returns a
``Backend``.
"""
from __future__ import annotations

from importlib.metadata import entry_points

from .alias import ModuleBackend
from .base import Backend, BackendError
from .mindtorch_v2 import MindtorchV2Backend
from .paddle import PaddleBackend
from .pyborch import PyborchBackend
from .torch_oracle import TorchBackend

ENTRY_POINT_GROUP = "torch_conformance.backends"
BUILTIN = {
    "torch": lambda sys_path: TorchBackend(),
    "mindtorch_v2": MindtorchV2Backend,
    "pyborch": PyborchBackend,
    "paddle": PaddleBackend,
}


def plugin_backends() -> dict:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def resolve(name: str, sys_path: list[str] | None = None) -> Backend:
    """The adapter for ``--target name``; raises BackendError with the known names if unknown."""
    sys_path = list(sys_path or [])
    if name.startswith("module:"):
        module = name[len("module:"):]
        if not module:
            raise BackendError("--target module:NAME needs a module name, e.g. --target module:borch")
        return ModuleBackend(name, module, sys_path)
    if name in BUILTIN:
        return BUILTIN[name](sys_path)
    plugins = plugin_backends()
    if name in plugins:
        backend = plugins[name].load()(sys_path)
        backend.name = name
        return backend
    known = sorted(BUILTIN) + sorted(plugins) + ["module:NAME"]
    raise BackendError(f"unknown target {name!r}. Known targets: {', '.join(known)} "
                       f"(or register an adapter in the entry point group {ENTRY_POINT_GROUP!r}).")


__all__ = ["Backend", "BackendError", "resolve", "ENTRY_POINT_GROUP"]
