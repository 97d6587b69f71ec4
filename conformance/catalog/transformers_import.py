"""What ``import transformers`` and ``from_pretrained`` need from torch, each attribute its own row.

A backend that lacks ``torch.utils._pytree`` learns it from the first ``import transformers``, fixes it,
and learns from the next run that ``torch.distributions`` is missing too: one blocker per run. Here the
whole surface is checked at once. It was recorded under real PyTorch (``python -m
conformance.catalog.transformers_import record``, written to ``_transformers_surface.py``): every torch
module that transformers' own code imported, and every attribute of a torch module its code read, while
it was imported, the tiny models' config and model classes were loaded, ``from_pretrained`` ran, and the
model ran a forward pass and a training step as the transformers cases do (transformers imports some
modules only there, such as ``torch.fx`` for ``is_torch_fx_proxy``).

Each row is ``transformers_import[<torch name>]``, with that name as its API, and says how transformers touches
it (``how``: ``imported``, ``read``, ``called``, ``guarded``) and where (``file:line``) in its observation's display:
- a module transformers imports, or an attribute it reads or calls unguarded: absent is MISSING;
- an attribute read only behind ``hasattr``/``getattr(..., default)``: optional. Its row observes
  nothing that can differ (PASS either way) and shows whether the target has it.
Without transformers installed, or for a transformers version not recorded, the rows are SKIP.
"""
from __future__ import annotations

import importlib
import importlib.util
import linecache
import pprint
import re
import sys
import types
from pathlib import Path
from typing import Any

from ..dists import dist_version
from ..observe import NOT_IN_THIS_ENVIRONMENT
from ..registry import case, param
from ._transformers_surface import SURFACE

ORIGIN = "transformers.import"
TIMEOUT = 300.0        # importing transformers on a slow backend


def _observe(torch, ctx, name: str, module: str, attr: str | None, guarded: bool, where: str, how: str) -> Any:
    if importlib.util.find_spec("transformers") is None:
        return {NOT_IN_THIS_ENVIRONMENT: "transformers not installed"}
    recorded = _recorded_version()
    if dist_version("transformers") != recorded:
        return {NOT_IN_THIS_ENVIRONMENT: f"the surface was recorded for transformers {recorded}, this is "
                                         f"{dist_version('transformers')} (python -m conformance.catalog.transformers_import record)"}
    ctx.display = {"where": where, "how": how}       # shown, never compared: what a reader needs to find it
    if guarded:        # an optional attribute is no blocker
        ctx.display.update(optional=True, present_in_target=_present(module, attr))
        return {"optional": True}
    mod = importlib.import_module(module)          # raises as a user's import would: MISSING
    if attr is not None:
        getattr(mod, attr)                          # AttributeError: MISSING
    return {"present": True}


def _present(module: str, attr: str | None) -> bool:
    try:
        mod = importlib.import_module(module)
        return attr is None or hasattr(mod, attr)
    except Exception:      # noqa: BLE001  optional: whatever stops it, it is absent
        return False


VERBS = {"imported": "imports", "read": "reads", "called": "calls", "guarded": "reads"}


def _recorded_version() -> str | None:
    return next(iter(SURFACE), None)


def _register() -> None:
    version = _recorded_version()
    for e in SURFACE.get(version, []) if version else []:
        name = e["module"] + (f".{e['attr']}" if e["attr"] else "")
        how = e.get("how") or ("guarded" if e["guarded"] else "read" if e["attr"] else "imported")
        guard = " behind hasattr/getattr with a default (optional)" if how == "guarded" else ""
        doc = f"transformers {VERBS[how]} {name}{guard}, at {e['where']}"

        def fn(torch, ctx, **kw):
            return _observe(torch, ctx, **kw)
        fn.__doc__ = doc
        fn.__module__ = __name__
        case(name, ORIGIN, [param(name, name=name, module=e["module"], attr=e["attr"], guarded=e["guarded"],
                                  where=e["where"], how=how)], name="transformers_import", timeout=TIMEOUT)(fn)


_register()


# -- recording, under real torch ---------------------------------------------------------------------

def _in_transformers(filename: str) -> bool:
    return "/transformers/" in filename.replace("\\", "/")


def _caller() -> types.FrameType | None:
    """The nearest frame outside importlib and this module."""
    f = sys._getframe(2)
    while f is not None and (f.f_code.co_filename.startswith("<frozen") or f.f_code.co_filename == __file__
                             or "/importlib/" in f.f_code.co_filename):
        f = f.f_back
    return f


def _guarded(frame: types.FrameType, attr: str) -> bool:
    line = linecache.getline(frame.f_code.co_filename, frame.f_lineno)
    return f"hasattr(" in line and attr in line or ("getattr(" in line and line.count(",") >= 2 and attr in line)


def _how(frame: types.FrameType, attr: str) -> str:
    """How the line at ``frame`` touches attribute ``attr``: behind a guard, called, or read."""
    if _guarded(frame, attr):
        return "guarded"
    line = linecache.getline(frame.f_code.co_filename, frame.f_lineno)
    return "called" if re.search(rf"\.{re.escape(attr)}\s*\(", line) else "read"


class _Seen:
    def __init__(self) -> None:
        self.entries: dict[tuple[str, str | None], dict[str, Any]] = {}

    def add(self, module: str, attr: str | None, how: str, frame: types.FrameType) -> None:
        where = f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno}"
        key = (module, attr)
        guarded = how == "guarded"
        old = self.entries.get(key)
        if old is None:
            self.entries[key] = {"module": module, "attr": attr, "guarded": guarded, "how": how, "where": where}
        elif old["guarded"] and not guarded:        # read unguarded anywhere: required
            old.update(guarded=False, how=how, where=where)


SEEN = _Seen()


class _TracedModule(types.ModuleType):
    def __getattribute__(self, attr: str) -> Any:
        value = types.ModuleType.__getattribute__(self, attr)
        if not attr.startswith("__"):
            frame = _caller()
            if frame is not None and _in_transformers(frame.f_code.co_filename):
                if isinstance(value, types.ModuleType):       # torch._dynamo.x: the module is what is needed
                    SEEN.add(value.__name__, None, "guarded" if _guarded(frame, attr) else "imported", frame)
                else:
                    SEEN.add(types.ModuleType.__getattribute__(self, "__name__"), attr, _how(frame, attr), frame)
        return value


def _watch_imports() -> None:
    """Note the torch modules transformers' code imports (``import torch.x``, ``from torch.x import y``),
    also those real torch had loaded already, which no finder would see."""
    import builtins

    real_import = builtins.__import__

    def traced(name, globals=None, locals=None, fromlist=(), level=0):
        module = real_import(name, globals, locals, fromlist, level)
        if level == 0 and (name == "torch" or name.startswith("torch.")):
            frame = sys._getframe(1)
            if _in_transformers(frame.f_code.co_filename):
                SEEN.add(name, None, "imported", frame)
                for sub in fromlist or ():
                    if isinstance(getattr(module, sub, None), types.ModuleType):
                        SEEN.add(f"{name}.{sub}", None, "imported", frame)
        return module

    builtins.__import__ = traced


def _trace_torch_modules() -> None:
    for name, mod in list(sys.modules.items()):
        if (name == "torch" or name.startswith("torch.")) and type(mod) is types.ModuleType:
            try:
                mod.__class__ = _TracedModule
            except TypeError:
                pass


def _run_model(model: Any, name: str) -> None:
    """The forward pass and the training step of transformers_e2e, on its inputs."""
    import torch

    from .transformers_e2e import INPUT_IDS
    ids = torch.tensor(INPUT_IDS, dtype=torch.long)
    model.eval()
    with torch.no_grad():
        model(input_ids=ids)
    model.train()
    out = model(input_ids=ids) if name == "bert" else model(input_ids=ids, labels=ids)
    (out.last_hidden_state.pow(2).mean() if name == "bert" else out.loss).backward()


def record() -> dict[str, Any]:
    """Run the workload under real torch and return ``{transformers version: [entries]}``."""
    import torch  # noqa: F401  real torch, before the watch: only transformers' own imports count
    import torch.nn  # noqa: F401

    from . import _hf_models
    folder = _hf_models.ensure_models()
    _watch_imports()
    _trace_torch_modules()
    import transformers
    for name, r in _hf_models.RECIPES.items():
        _trace_torch_modules()
        config = getattr(transformers, r["config_class"]).from_pretrained(str(folder / name))
        _trace_torch_modules()
        model = getattr(transformers, r["auto"]).from_pretrained(str(folder / name), config=config)
        _trace_torch_modules()
        _run_model(model, name)
    entries = sorted(SEEN.entries.values(), key=lambda e: (e["module"], e["attr"] or ""))
    # present under real torch: what transformers read but torch itself lacks is no backend's gap
    kept = []
    for e in entries:
        if _present(e["module"], e["attr"]):
            kept.append(e)
    return {transformers.__version__: kept}


def main(argv: list[str]) -> int:
    if argv[:1] != ["record"]:
        print("usage: python -m conformance.catalog.transformers_import record   (under real torch, with "
              "transformers installed; rewrites _transformers_surface.py)", file=sys.stderr)
        return 4
    surface = record()
    out = Path(__file__).with_name("_transformers_surface.py")
    body = pprint.pformat(surface, width=110, sort_dicts=True)
    out.write_text('"""Generated by `python -m conformance.catalog.transformers_import record` under real torch: every\n'
                   'torch module transformers imports and every torch attribute it reads (see transformers_import.py)."""\n'
                   f"SURFACE = {body}\n")
    n = sum(len(v) for v in surface.values())
    print(f"{out}: {n} entries for transformers {', '.join(surface)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
