"""The catalog's registry: every conformance case, its API, its origin and its parameters.

A case is a plain function ``fn(torch, ctx, **params)`` that returns an observation. The
registry never imports a backend; the worker hands each case the module that answers
``import torch`` in its process.
"""
from __future__ import annotations

import hashlib
import importlib
import os
import pkgutil
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

CATALOG_PACKAGE = "conformance.catalog"


@dataclass(frozen=True)
class Param:
    id: str
    values: dict[str, Any]
    requires_dtypes: tuple[str, ...] = ()   # optional dtypes: the case is skipped where the oracle lacks them


def param(id: str, *, requires_dtypes: tuple[str, ...] = (), **values: Any) -> Param:
    """A parameter set. An optional dtype named by ``dtype=`` is required automatically, so its
    cases are SKIP where the oracle lacks it."""
    from .dtypes import DTYPES

    dtype = values.get("dtype")
    needed = tuple(requires_dtypes)
    if isinstance(dtype, str) and dtype in DTYPES and DTYPES[dtype].optional and dtype not in needed:
        needed += (dtype,)
    return Param(id, values, needed)


@dataclass(frozen=True)
class Case:
    id: str                      # stable and unique: "frombuffer[bfloat16-special]"
    api: str                     # the API under test: "torch.frombuffer", "Tensor.reshape"
    origin: str                  # where safetensors uses it: "_view2torch", "rust:safe_open(pt)"
    module: str                  # catalog module (one pytest file per module)
    fn: Callable[..., Any] = field(compare=False, repr=False)
    params: Param = field(compare=False, repr=False, default=None)  # type: ignore[assignment]
    doc: str = ""
    # Observations marked {"approx": ...} are compared within this tolerance ({"rtol": r, "atol": a}:
    # |target - oracle| <= atol + rtol * |oracle|); everything else stays byte-exact.
    tolerance: dict[str, float] | None = field(compare=False, default=None)
    timeout: float | None = field(compare=False, default=None)   # seconds this case may need, at least
    slow: bool = field(compare=False, default=False)   # starts a Python of its own: seconds, not ms
    path: str | None = field(compare=False, default=None)   # "storage": only on safetensors' storage loading path
    # Observation keys read through another API than the row's: {"offset_in_storage": "Tensor.data_ptr"}.
    # A row whose differences all lie in keys of one such API is BLOCKED by it (phase read).
    reads: dict[str, str] | None = field(compare=False, default=None)
    # what one run takes in a target process, where that is far more than an ordinary case's millisecond or
    # two: steers which cases a second target process takes (balance.second_process_share), nothing else
    seconds: float | None = field(compare=False, default=None)

    def run(self, torch: Any, ctx: Any) -> Any:
        return self.fn(torch, ctx, **self.params.values)


_CASES: dict[str, Case] = {}


def case(api: str, origin: str, params: list[Param] | None = None, name: str | None = None, *,
         tolerance: dict[str, float] | None = None, timeout: float | None = None, slow: bool = False,
         path: str | None = None, reads: dict[str, str] | None = None, seconds: float | None = None):
    """Register ``fn`` once per parameter set; ids are ``name[param_id]`` (or ``name`` alone).

    ``tolerance`` ({"rtol", "atol"}) applies to the case's {"approx": ...} observations only (computed
    values such as a model's output); ``timeout`` raises the --case-timeout for this case to at least
    that many seconds (e.g. a case that imports a large library); ``slow`` marks a case that takes
    seconds (it starts a process of its own), so that it runs beside the others: in a second target
    process, or on another xdist worker; ``path`` ("storage") marks a step of the loading path safetensors
    takes only for some ``torch.__version__`` (``conformance/loading_path.py``); ``reads`` names the API each
    named observation key is read through, where that is not the API under test; ``seconds``, what one run
    of a case that takes tens of milliseconds costs (the replay rows), so a second target process takes
    some of them."""
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        base = name or fn.__name__
        module = fn.__module__.rsplit(".", 1)[-1]
        for p in params or [Param("", {})]:
            case_id = f"{base}[{p.id}]" if p.id else base
            if case_id in _CASES:
                raise ValueError(f"duplicate conformance case id {case_id!r} (in {fn.__module__})")
            _CASES[case_id] = Case(case_id, api, origin, module, fn, p, (fn.__doc__ or "").strip(),
                                   dict(tolerance) if tolerance else None, timeout, slow, path,
                                   dict(reads) if reads else None, seconds)
        return fn
    return register


def catalog_modules() -> list[str]:
    pkg = importlib.import_module(CATALOG_PACKAGE)
    return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_"))


def load_catalog() -> dict[str, Case]:
    """Import every catalog module (idempotent) and return the cases by id."""
    for mod in catalog_modules():
        importlib.import_module(f"{CATALOG_PACKAGE}.{mod}")
    return _CASES


def catalog_dir() -> Path:
    return Path(importlib.import_module(CATALOG_PACKAGE).__path__[0])


def catalog_digest() -> str:
    """Hash of everything that decides an oracle observation: the cases and all the kit code a worker
    process runs (target_side_files), with the backends' declarations a worker reads to become torch
    (backends/<name>/backend.toml, data that was adapter code). A change here invalidates cached oracle
    records."""
    from .backends import declaration

    here = Path(__file__).parent
    files = [(str(f.relative_to(here)), f) for f in target_side_files()]
    files += [(f"backends:{f.parent.name}/{f.name}", f) for f in declaration.files()]
    if os.environ.get("CONFORMANCE_REPLAY"):           # a user's recording: its cases and their inputs
        files.append(("replay:trace.json", Path(os.environ["CONFORMANCE_REPLAY"]) / "trace.json"))
    h = hashlib.sha256()
    for name, f in files:
        h.update(name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def target_side_files() -> list[Path]:
    """Every file of the kit that a worker process may import: the worker, the catalog and what they
    import, followed through the code's own import statements (at any depth, in functions too)."""
    here = Path(__file__).parent
    todo = [here / "worker.py", *sorted(catalog_dir().glob("*.py"))]
    seen: set[Path] = set()
    while todo:
        f = todo.pop()
        if f in seen or not f.is_file():
            continue
        seen.add(f)
        todo += _imported_files(f, here)
    return sorted(seen)


# import statements, read as text (an ast walk of the kit costs a second): a match in a docstring only
# adds a file to the digest, never drops one
_FROM_IMPORT = re.compile(r"^[ \t]*from[ \t]+(\.+[\w.]*|conformance\b[\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n#]+)", re.M)
_IMPORT = re.compile(r"^[ \t]*import[ \t]+(conformance\b[\w.]*)", re.M)


def _imported_files(f: Path, root: Path) -> list[Path]:
    """The kit's own files that ``f`` imports (relative imports, and absolute ``conformance.*`` ones)."""
    package = f.parent.relative_to(root.parent).parts        # ("conformance", "catalog")
    text = f.read_text()
    names = [m.split(".") for m in _IMPORT.findall(text)]
    for module, imported in _FROM_IMPORT.findall(text):
        level = len(module) - len(module.lstrip("."))
        base = list(package[:len(package) - level + 1]) if level else []
        dotted = [*base, *(p for p in module.lstrip(".").split(".") if p)]
        names.append(dotted)
        names += [[*dotted, n.split()[0]] for n in imported.strip("()").replace("\n", " ").split(",") if n.strip()]
    out = []
    for parts in names:
        if parts[:1] != [root.name]:
            continue
        p = root.parent.joinpath(*parts)
        out += [c for c in (p.with_suffix(".py"), p / "__init__.py") if c.is_file()]
    return out
