"""What a backend adapter is: how to make ``import torch`` mean that backend in a fresh process."""
from __future__ import annotations

import importlib.machinery
import os
import sys
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any


CALLER_DIR_ENV = "CONFORMANCE_CALLER_DIR"   # where the user typed the command (tox runs it elsewhere)


def caller_dir() -> Path:
    return Path(os.environ.get(CALLER_DIR_ENV) or os.getcwd())


def from_caller(path: str) -> str:
    """``path`` made absolute against the directory the user ran the command in, not where tox runs it."""
    return str((caller_dir() / os.path.expanduser(path)).resolve())


# Who answers ``import torch`` in the target: the run header records it, and repro commands depend on it.
ANSWERED_BY = {
    "real torch": "real PyTorch",
    "kit alias": "the kit's import alias",
    "backend hook": "the backend's own import hook",
    "module finder": "the module's own import finder",
    "module itself": "the module itself (importing it makes `torch` mean it)",
}


class BackendError(Exception):
    """A backend cannot be found or activated; the message says where we looked and how to fix it."""


@dataclass
class Backend:
    name: str                       # what the user typed: "torch", "pyborch", "module:foo", ...
    how: str = ""                   # one line for the report header: which hook made torch = backend
    uses_real_torch: bool | None = False   # None: decided at activation (module:NAME wrapping real torch)
    sys_path: list[str] = field(default_factory=list)   # folders prepended to sys.path in the target
    package: str | None = None      # the top-level module holding the backend's code (its sources)
    answered_by: str = ""           # a key of ANSWERED_BY, set by activate()

    def locate(self) -> None:
        """Check, without importing anything, that the backend can be found; raise BackendError if not."""

    def activate(self) -> None:
        """Make ``import torch`` (and ``import torch.<sub>``) resolve to this backend. Runs in the target."""
        raise NotImplementedError

    def expectations_hint(self, path: str, how: str) -> str | None:
        """One line when ``path`` is this backend's expectations file for other sources; ``how``: the
        target process's own word on how ``import torch`` was answered (its hello)."""
        return None

    def expectations_file(self) -> str | None:
        """The checked-in expectations file of this backend (a path relative to the checkout), if any."""
        return None

    def worker_args(self) -> list[str]:
        """Arguments that recreate this adapter in a worker process."""
        args = ["--target", self.name]
        for p in self.sys_path:
            args += ["--backend-path", p]
        return args


def real_torch_dir() -> str | None:
    """Where real PyTorch is installed, found without importing it (and past any alias)."""
    spec = importlib.machinery.PathFinder.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


class RealTorchWatch:
    """Which loaded modules come from real PyTorch's folder. Each look reports only modules loaded
    (or replaced) since the last one: the runner looks after every case, and scanning the whole of
    sys.modules each time cost about 0.9 ms a case."""

    def __init__(self, torch_dir: str | None):
        self.prefix = torch_dir.rstrip("/") + "/" if torch_dir else None
        self._seen: set[tuple[str, Any]] = set()

    def new_modules(self) -> list[str]:
        if self.prefix is None:
            return []
        items = list(sys.modules.items())
        try:
            fresh: Any = set(items) - self._seen
            self._seen.update(fresh)
        except TypeError:           # something unhashable sits in sys.modules: look at everything
            fresh = items
        return sorted(name for name, m in fresh
                      if isinstance(getattr(m, "__file__", None), str) and m.__file__.startswith(self.prefix))
