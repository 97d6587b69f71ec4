"""What the kit knows about one backend, as data: ``backends/<name>/backend.toml`` of the checkout.

A declaration says which module answers ``import torch``, where to look for its sources, its own import
hook (if any), what it declares itself to be, its pip requirement and its expectations files. Reading one
imports nothing and starts nothing; a declaration that cannot be used is one line naming the file, the
field and the fix (``DeclarationError``). The adapter that acts on it is ``adapter.DeclaredBackend``.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import BackendError

FILE = "backend.toml"
DOC = "docs/backends.md"
_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_NAME = re.compile(r"^[A-Za-z_][\w.-]*$")


def backends_dir() -> Path:
    """The checkout's ``backends/`` folder (beside ``conformance/``)."""
    return Path(__file__).resolve().parents[2] / "backends"


class DeclarationError(BackendError):
    """A declaration file that cannot be used: one line with the file, the field and the fix."""

    def __init__(self, path: Path | str, field: str | None, problem: str, fix: str):
        where = f"{path}: {field}" if field else str(path)
        super().__init__(f"{where}: {problem}; fix: {fix} (the fields: {DOC})")


@dataclass(frozen=True)
class Sources:
    """Where a source tree that holds ``<module>/`` may be, after ``--backend-path``."""
    env: str | None                 # an environment variable naming the folder (relative: to the caller's)
    look_in: tuple[str, ...]        # folders relative to the current folder, tried after the variable
    what: str                       # what that folder is, for the not-found message
    example: str                    # a path to show in that message


@dataclass(frozen=True)
class Hook:
    """The backend's own way of making ``import torch`` mean it: ``module:function``, called without
    arguments in the target."""
    module: str
    function: str
    optional: bool                  # sources without that module are aliased by the kit instead

    def spelled(self) -> str:
        return f"{self.module}.{self.function}()"

    def file(self) -> str:
        """The hook module as a file of the sources: ``mindtorch_v2/_torch_proxy.py``."""
        return self.module.replace(".", "/") + ".py"


@dataclass(frozen=True)
class Declaration:
    name: str                       # the --target word (the folder's name)
    module: str                     # the module that answers ``import torch``
    uses_real_torch: bool | None    # None: decided by the command line (module:NAME)
    pip: str | None = None          # its pip requirement, for the not-found message
    install: str | None = None      # how to install it, when "pip install <pip>" is not the way ({pip}: pip)
    sources: Sources | None = None
    hook: Hook | None = None
    expectations: dict[str, str] | None = None   # {"default": file, "with_hook": file}, beside the declaration
    path: Path | None = None        # the file it was read from; None for module:NAME

    @property
    def package(self) -> str:
        return self.module.split(".")[0]

    @property
    def folder(self) -> Path | None:
        return self.path.parent if self.path else None

    def install_hint(self) -> str:
        if self.install:
            return self.install.replace("{pip}", self.pip or "")
        if self.pip:
            return f"install it (pip install {self.pip}), or put its folder on PYTHONPATH or pass --backend-path DIR"
        return "install it, or put its folder on PYTHONPATH or pass --backend-path DIR"


def names(folder: Path | None = None) -> list[str]:
    """The backends declared in ``folder`` (default: the checkout's ``backends/``), without reading them."""
    folder = folder or backends_dir()
    if not folder.is_dir():
        return []
    return sorted(d.name for d in folder.iterdir() if (d / FILE).is_file())


def files(folder: Path | None = None) -> list[Path]:
    """Every declaration file (the oracle cache key covers them: workers read them to become torch)."""
    folder = folder or backends_dir()
    return [folder / n / FILE for n in names(folder)]


def load(name: str, folder: Path | None = None) -> Declaration:
    path = (folder or backends_dir()) / name / FILE
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DeclarationError(path, None, f"cannot be read ({e.__class__.__name__}: {e})",
                               "make it a readable UTF-8 file") from None
    return parse(text, path, name)


_TOP = {"module", "uses_real_torch", "pip", "install", "sources", "hook", "expectations"}
_TABLES = {"sources": {"env", "look_in", "what", "example"}, "hook": {"call", "optional"},
           "expectations": {"default", "with_hook"}}


def parse(text: str, path: Path | str, name: str) -> Declaration:
    """The declaration in ``text`` (read from ``path``, for backend ``name``); DeclarationError if unusable."""
    path = Path(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise DeclarationError(path, None, f"not TOML ({e})", "write it as TOML: key = value lines") from None
    _known(path, "", data, _TOP)
    module = _string(path, data, "module", required=True,
                     fix='name the module that answers `import torch`, e.g. module = "borch"')
    if not _DOTTED.match(module):
        raise DeclarationError(path, "module", f"{module!r} is not a module name",
                               'a dotted Python name, e.g. module = "borch"')
    if "uses_real_torch" not in data:
        raise DeclarationError(path, "uses_real_torch", "missing",
                               "add uses_real_torch = false (or true for a backend built on PyTorch)")
    real = data["uses_real_torch"]
    if not isinstance(real, bool):
        raise DeclarationError(path, "uses_real_torch", f"{real!r} is not true or false",
                               "write uses_real_torch = false (or true), unquoted")
    return Declaration(
        name=name, module=module, uses_real_torch=real,
        pip=_string(path, data, "pip", fix='a pip requirement, e.g. pip = "pyborch==1.14.1"'),
        install=_install(path, data),
        sources=_sources(path, data), hook=_hook(path, data), expectations=_expectations(path, data),
        path=path)


def _install(path: Path, data: dict[str, Any]) -> str | None:
    text = _string(path, data, "install", fix="one sentence saying how to install it ({pip}: the pip requirement)")
    if text and "{pip}" in text and "pip" not in data:
        raise DeclarationError(path, "install", "says {pip}, and there is no pip field",
                               'add pip = "<requirement>", or write the requirement out')
    return text


def _known(path: Path, prefix: str, data: dict[str, Any], allowed: set[str]) -> None:
    for key in data:
        if key not in allowed:
            raise DeclarationError(path, prefix + key, "unknown field",
                                   f"use one of {', '.join(sorted(allowed))}, or remove it")


def _string(path: Path, data: dict[str, Any], key: str, *, fix: str, required: bool = False,
            prefix: str = "") -> str | None:
    if key not in data:
        if required:
            raise DeclarationError(path, prefix + key, "missing", fix)
        return None
    value = data[key]
    if not isinstance(value, str) or not value.strip():
        raise DeclarationError(path, prefix + key, f"{value!r} is not a non-empty string", fix)
    return value.strip()


def _table(path: Path, data: dict[str, Any], key: str) -> dict[str, Any] | None:
    if key not in data:
        return None
    table = data[key]
    if not isinstance(table, dict):
        raise DeclarationError(path, key, f"{table!r} is not a table", f"write it as a [{key}] section")
    _known(path, key + ".", table, _TABLES[key])
    return table


def _sources(path: Path, data: dict[str, Any]) -> Sources | None:
    table = _table(path, data, "sources")
    if table is None:
        return None
    env = _string(path, table, "env", prefix="sources.", fix='an environment variable name, e.g. env = "MY_SRC"')
    if env is not None and not re.match(r"^[A-Za-z_]\w*$", env):
        raise DeclarationError(path, "sources.env", f"{env!r} is not an environment variable name",
                               "letters, digits and _ only")
    look_in = table.get("look_in", [])
    if not isinstance(look_in, list) or not all(isinstance(p, str) and p.strip() for p in look_in):
        raise DeclarationError(path, "sources.look_in", f"{look_in!r} is not a list of folders",
                               'write look_in = ["../checkout/src"] (relative to the folder the kit runs in)')
    example = _string(path, table, "example", prefix="sources.", required=True,
                      fix='a folder to show in the not-found message, e.g. example = "/path/to/checkout/src"')
    what = _string(path, table, "what", prefix="sources.", fix="what that folder is, e.g. \"a checkout's src/ folder\"")
    module = data["module"]
    return Sources(env, tuple(p.strip() for p in look_in), what or f"the folder that contains {module}/", example)


def _hook(path: Path, data: dict[str, Any]) -> Hook | None:
    table = _table(path, data, "hook")
    if table is None:
        return None
    call = _string(path, table, "call", prefix="hook.", required=True,
                   fix='write call = "module:function", e.g. call = "paddle:enable_compat"')
    module, _, function = call.partition(":")
    if not (_DOTTED.match(module) and function.isidentifier()):
        raise DeclarationError(path, "hook.call", f"{call!r} is not module:function",
                               'write call = "module:function", e.g. call = "paddle:enable_compat"')
    if module.split(".")[0] != data["module"].split(".")[0]:
        raise DeclarationError(path, "hook.call", f"{module!r} is not part of the module {data['module']!r}",
                               "a hook lives in the backend's own package")
    optional = table.get("optional", False)
    if not isinstance(optional, bool):
        raise DeclarationError(path, "hook.optional", f"{optional!r} is not true or false",
                               "write optional = true (sources without the hook are aliased) or false")
    if optional and module == data["module"].split(".")[0]:
        raise DeclarationError(path, "hook.optional", f"the hook is in {module!r} itself, which is always there",
                               "remove optional, or put the hook in a submodule")
    return Hook(module, function, optional)


def _expectations(path: Path, data: dict[str, Any]) -> dict[str, str] | None:
    table = _table(path, data, "expectations")
    if table is None:
        return None
    out = {}
    for key in ("default", "with_hook"):
        value = _string(path, table, key, prefix="expectations.", required=key == "default",
                        fix=f"the name of an expectations file in {path.parent}")
        if value is None:
            continue
        if not _NAME.match(value) or "/" in value or not (path.parent / value).is_file():
            raise DeclarationError(path, f"expectations.{key}", f"{value!r} names no file in {path.parent}",
                                   f"the name of an expectations file in {path.parent}")
        out[key] = value
    if "with_hook" in out and not data.get("hook"):
        raise DeclarationError(path, "expectations.with_hook", "there is no [hook] it could be for",
                               "declare the [hook], or remove with_hook")
    return out
