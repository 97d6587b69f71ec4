"""Backend adapters, chosen by ``--target``: the kit's generic code; what it knows about each backend is
data, in ``backends/<name>/backend.toml`` of the checkout (``declaration.py``).

Targets: ``torch`` (the oracle, ``torch_oracle.py``), every declared backend (``mindtorch_v2``, ``pyborch``,
``paddle``, ...: one ``adapter.DeclaredBackend`` each) and ``module:NAME``. A backend package can add its own
adapter through the entry point group ``torch_conformance.backends``: the entry point loads a callable that
takes ``sys_path`` (a list of folders) and returns a ``Backend``.
"""
from __future__ import annotations

from importlib.metadata import entry_points

from . import adapter, declaration
from .adapter import DeclaredBackend, module_target
from .base import Backend, BackendError
from .declaration import Declaration, DeclarationError
from .torch_oracle import TorchBackend

ENTRY_POINT_GROUP = "torch_conformance.backends"
ORACLE = "torch"


def plugin_backends() -> dict:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def builtin() -> list[str]:
    """The targets the kit knows without a plugin: the oracle and every declared backend."""
    return sorted({ORACLE, *declaration.names()})


def declared(name: str) -> Declaration:
    """The declaration of backend ``name``; BackendError when there is none, DeclarationError when it is bad."""
    if name not in declaration.names():
        raise BackendError(f"no backend {name!r} is declared (no {declaration.backends_dir() / name / declaration.FILE})")
    return declaration.load(name)


def find_sources(name: str, explicit: list[str] | None = None) -> str | None:
    """Where backend ``name``'s source tree is (None: installed as a package); BackendError if not found."""
    return adapter.find_sources(declared(name), list(explicit or []))


def available(name: str, explicit: list[str] | None = None) -> bool:
    """Whether backend ``name`` can be found, without importing it."""
    try:
        resolve(name, explicit).locate()
        return True
    except BackendError:
        return False


def resolve(name: str, sys_path: list[str] | None = None) -> Backend:
    """The adapter for ``--target name``; raises BackendError with the known names if unknown."""
    sys_path = list(sys_path or [])
    if name.startswith("module:"):
        if not name[len("module:"):]:
            raise BackendError("--target module:NAME needs a module name, e.g. --target module:borch")
        return module_target(name, sys_path)
    if name == ORACLE:
        return TorchBackend()
    if name in declaration.names():
        return DeclaredBackend(declaration.load(name), sys_path)
    plugins = plugin_backends()
    if name in plugins:
        backend = plugins[name].load()(sys_path)
        backend.name = name
        return backend
    known = builtin() + sorted(plugins) + ["module:NAME"]
    raise BackendError(f"unknown target {name!r}. Known targets: {', '.join(known)} "
                       f"(or register an adapter in the entry point group {ENTRY_POINT_GROUP!r}).")


__all__ = ["Backend", "BackendError", "Declaration", "DeclarationError", "DeclaredBackend", "resolve",
           "declared", "find_sources", "available", "builtin", "ENTRY_POINT_GROUP"]
