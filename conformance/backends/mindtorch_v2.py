"""mindtorch_v2 from a MindNLP source tree (it is on no package registry).

Where we look, in order: ``--backend-path DIR``, ``$MINDTORCH_V2_SRC``, a sibling checkout
``../mindnlp/src``, then an installed ``mindtorch_v2``. It is made ``torch`` through its own hook,
``mindtorch_v2._torch_proxy.install()``, where that module exists, else through the kit's alias.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path

from .alias import install_alias
from .base import Backend, BackendError, caller_dir, from_caller

ENV_VAR = "MINDTORCH_V2_SRC"


def candidate_dirs(explicit: list[str]) -> list[tuple[str, str]]:
    out = [(p, "--backend-path") for p in explicit]
    if os.environ.get(ENV_VAR):
        given = os.environ[ENV_VAR]
        out.append((from_caller(given), f"${ENV_VAR}" + ("" if os.path.isabs(given) else
                                                          f"={given}, relative to {caller_dir()}")))
    out.append((str(Path.cwd().parent / "mindnlp" / "src"), "sibling checkout ../mindnlp/src"))
    return out


def find_sources(explicit: list[str]) -> str | None:
    """The folder that holds ``mindtorch_v2/``, or None when it is installed as a package."""
    looked = []
    for folder, why in candidate_dirs(explicit):
        if (Path(folder) / "mindtorch_v2" / "__init__.py").is_file():
            return str(Path(folder).resolve())
        hint = near_miss(Path(folder))
        if hint and (why == "--backend-path" or why.startswith(f"${ENV_VAR}")):     # what the user typed
            raise BackendError(f"{folder} ({why}) is not the folder that contains mindtorch_v2/: {hint}")
        looked.append(f"{folder} ({why})")
    if importlib.util.find_spec("mindtorch_v2") is not None:
        return None
    raise BackendError(
        "mindtorch_v2 not found. Looked for mindtorch_v2/__init__.py in: " + "; ".join(looked)
        + "; and for an installed mindtorch_v2 package. Point the kit at a MindNLP checkout's src/ "
        f"folder: export {ENV_VAR}=/path/to/mindnlp/src (or --backend-path /path/to/mindnlp/src).")


def near_miss(folder: Path) -> str | None:
    """What the user meant, when they pointed at the repository root or at mindtorch_v2/ itself."""
    if folder.name == "mindtorch_v2" and (folder / "__init__.py").is_file():
        return f"that is mindtorch_v2 itself; point at its parent, {folder.parent}"
    if (folder / "src" / "mindtorch_v2" / "__init__.py").is_file():
        return f"that is the repository root; point at {folder / 'src'}"
    return None


def available(explicit: list[str] | None = None) -> bool:
    """Whether mindtorch_v2 can be found (sources or an installed package), without importing it."""
    try:
        find_sources(list(explicit or []))
        return True
    except BackendError:
        return False


class MindtorchV2Backend(Backend):
    def __init__(self, sys_path: list[str] | None = None) -> None:
        super().__init__(name="mindtorch_v2", uses_real_torch=False, sys_path=list(sys_path or []),
                         package="mindtorch_v2")

    def locate(self) -> None:
        src = find_sources(self.sys_path)
        self.sys_path = [src] if src else []

    def activate(self) -> None:
        sys.path[:0] = self.sys_path
        try:
            proxy = importlib.import_module("mindtorch_v2._torch_proxy")
        except ModuleNotFoundError as e:
            if e.name != "mindtorch_v2._torch_proxy":
                raise
            install_alias("mindtorch_v2")
            self.answered_by = "kit alias"
            self.how = "kit alias: import torch[.x] -> mindtorch_v2[.x] (no _torch_proxy in this version)"
        else:
            proxy.install()
            self.answered_by = "backend hook"
            self.how = "mindtorch_v2._torch_proxy.install() (its own import hook)"

    def expectations_hint(self, path: str, how: str) -> str | None:
        proxy = "_torch_proxy.install()" in how
        name = Path(path).name
        if proxy and name == "expectations.txt" and Path(path).parent.name == "mindtorch_v2":
            return (f"these sources ship mindtorch_v2/_torch_proxy.py, and {path} is for sources without it: "
                    f"use {Path(path).with_name('expectations-torch-proxy.txt')}")
        if not proxy and name == "expectations-torch-proxy.txt":
            return (f"these sources have no mindtorch_v2/_torch_proxy.py, and {path} is for sources with it: "
                    f"use {Path(path).with_name('expectations.txt')}")
        return None
