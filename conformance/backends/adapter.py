"""The one adapter for a declared backend (``backends/<name>/backend.toml``) and for ``module:NAME``.

Finding it (``locate``, in the runner, importing nothing): a declaration with ``[sources]`` looks for the
folder that holds ``<module>/`` (``--backend-path``, its environment variable, its ``look_in`` folders, then
an installed package); any other looks the module up on ``sys.path`` plus ``--backend-path``. Becoming
``torch`` (``activate``, in the target): the backend's own hook where it declares one and the sources ship
it, else whatever importing the module does (its own finder, or it is torch), else the kit's alias.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path

from .alias import answer_import_torch, install_alias
from .base import ANSWERED_BY, Backend, BackendError, caller_dir, from_caller
from .declaration import Declaration


class DeclaredBackend(Backend):
    def __init__(self, decl: Declaration, sys_path: list[str] | None = None, name: str | None = None):
        super().__init__(name=name or decl.name, how=_alias_how(decl), uses_real_torch=decl.uses_real_torch,
                         sys_path=list(sys_path or []), package=decl.package)
        self.decl = decl
        self.module = decl.module
        if decl.hook and not decl.hook.optional:
            self.how = f"{decl.hook.spelled()} (its own import hook)"

    # -- the runner ---------------------------------------------------------------------------------

    def locate(self) -> None:
        if self.decl.sources:
            src = find_sources(self.decl, self.sys_path)
            self.sys_path = [src] if src else []
            return
        folder = self._folder()
        if folder is None:
            searched = " plus " + ", ".join(self.sys_path) if self.sys_path else ""
            raise BackendError(f"target {self.name!r}: no importable module {self.module!r} "
                               f"(searched sys.path{searched}); {self.decl.install_hint()}")
        known = {os.path.realpath(p) for p in [*self.sys_path, *sys.path] if p}
        if os.path.realpath(folder) not in known:
            self.sys_path.append(folder)      # the workers' sandboxes bind it, their sys.path reaches it

    def _folder(self) -> str | None:
        """The folder that holds the module's top-level package (or file), found without importing it."""
        saved = list(sys.path)
        sys.path[:0] = self.sys_path
        try:
            spec = importlib.util.find_spec(self.package)
        except (ImportError, ValueError):
            spec = None
        finally:
            sys.path[:] = saved
        if spec is None:
            return None
        if spec.submodule_search_locations:
            return os.path.dirname(list(spec.submodule_search_locations)[0])
        return os.path.dirname(spec.origin) if spec.origin and os.path.isabs(spec.origin) else None

    def expectations_hint(self, path: str, how: str) -> str | None:
        hook, files = self.decl.hook, self.decl.expectations or {}
        if not (hook and "with_hook" in files):
            return None
        hooked, p = hook.spelled() in how, Path(path)
        if hooked and p.name == files["default"] and p.parent.name == self.decl.name:
            return (f"these sources ship {hook.file()}, and {path} is for sources without it: "
                    f"use {p.with_name(files['with_hook'])}")
        if not hooked and p.name == files["with_hook"]:
            return (f"these sources have no {hook.file()}, and {path} is for sources with it: "
                    f"use {p.with_name(files['default'])}")
        return None

    def expectations_file(self) -> str | None:
        files = self.decl.expectations
        return f"backends/{self.decl.name}/{files['default']}" if files and self.decl.path else None

    # -- the target ---------------------------------------------------------------------------------

    def activate(self) -> None:
        sys.path[:0] = self.sys_path
        hook = self.decl.hook
        if hook is None:
            self.answered_by = answer_import_torch(self.module)
            if self.answered_by != "kit alias":
                self.how = f"{self.module}'s own import hook ({ANSWERED_BY[self.answered_by]})"
            return
        try:
            owner = importlib.import_module(hook.module)
        except ModuleNotFoundError as e:
            if e.name == self.package:
                raise BackendError(f"target {self.name!r}: {self.package} is not importable here; "
                                   f"{self.decl.install_hint()}") from None
            if e.name != hook.module or not hook.optional:
                raise
            install_alias(self.module)
            self.answered_by = "kit alias"
            self.how = _alias_how(self.decl, f" (no {hook.module.rsplit('.', 1)[-1]} in this version)")
            return
        install = getattr(owner, hook.function, None)
        if not callable(install):
            raise BackendError(f"target {self.name!r}: {hook.module} has no function {hook.function} "
                               f"(hook.call in {self.decl.path})")
        install()
        self.answered_by = "backend hook"
        self.how = f"{hook.spelled()} (its own import hook)"


def _alias_how(decl: Declaration, note: str = "") -> str:
    return f"kit alias: import torch[.x] -> {decl.module}[.x]{note}"


def module_target(name: str, sys_path: list[str]) -> DeclaredBackend:
    """``module:NAME``: any importable module that should answer ``import torch``; whether it is built on
    torch is the command line's word (``--target-uses-torch``), hence ``uses_real_torch`` None."""
    module = name[len("module:"):]
    return DeclaredBackend(Declaration(name=name, module=module, uses_real_torch=None), sys_path)


# -- a source tree ([sources]) -------------------------------------------------------------------------

def candidate_dirs(decl: Declaration, explicit: list[str]) -> list[tuple[str, str]]:
    """Where to look, in order, each with why (what the user typed, or the declaration's defaults)."""
    src = decl.sources
    out = [(p, "--backend-path") for p in explicit]
    if src and src.env and os.environ.get(src.env):
        given = os.environ[src.env]
        out.append((from_caller(given), f"${src.env}" + ("" if os.path.isabs(given) else
                                                         f"={given}, relative to {caller_dir()}")))
    out += [(os.path.normpath(Path.cwd() / p), f"the folder {p}") for p in (src.look_in if src else ())]
    return out


def find_sources(decl: Declaration, explicit: list[str]) -> str | None:
    """The folder that holds ``<module>/``, or None when the module is installed as a package."""
    src, pkg = decl.sources, decl.package
    typed = ("--backend-path", f"${src.env}" if src and src.env else "--backend-path")
    looked = []
    for folder, why in candidate_dirs(decl, explicit):
        if (Path(folder) / pkg / "__init__.py").is_file():
            return str(Path(folder).resolve())
        hint = near_miss(Path(folder), pkg)
        if hint and why.startswith(typed):             # what the user typed, not a default folder
            raise BackendError(f"{folder} ({why}) is not the folder that contains {pkg}/: {hint}")
        looked.append(f"{folder} ({why})")
    if importlib.util.find_spec(pkg) is not None:
        return None
    where = f"export {src.env}={src.example} (or --backend-path {src.example})" if src and src.env \
        else f"--backend-path {src.example if src else 'DIR'}"
    raise BackendError(
        f"{pkg} not found. Looked for {pkg}/__init__.py in: " + "; ".join(looked)
        + f"; and for an installed {pkg} package. Point the kit at {src.what if src else 'its folder'}: {where}.")


def near_miss(folder: Path, pkg: str) -> str | None:
    """What the user meant, when they pointed at the repository root or at the package itself."""
    if folder.name == pkg and (folder / "__init__.py").is_file():
        return f"that is {pkg} itself; point at its parent, {folder.parent}"
    if (folder / "src" / pkg / "__init__.py").is_file():
        return f"that is the repository root; point at {folder / 'src'}"
    return None
