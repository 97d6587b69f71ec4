"""Who is to blame for an exception: the torch API a case, safetensors or transformers called when it raised.

The deepest frame of the calling code (``CALLERS``: the kit's cases, safetensors, transformers) and the
first backend frame below it name the API; for an AttributeError, the missing attribute does. Rust code
(safetensors' extension) leaves no Python frame of its own, so its calls show as the backend frame alone.
"""
from __future__ import annotations

import re
from typing import Any

from .side import target_name

CALLERS = ("transformers", "safetensors", "conformance")   # code that calls the backend
RECORDER = "conformance.calls"      # its wrappers sit between a caller and the backend: skipped

_ABS_PATH = re.compile(r"(?<![\w.])/(?:[^\s'\"/:,()]+/)+([^\s'\"/:,()]+)")


def scrub(text: str) -> str:
    """No absolute paths in observations: keep each path's last component."""
    return _ABS_PATH.sub(r"…/\1", text)


def _top(module: str | None) -> str:
    return (module or "").split(".")[0]


def _frame(tb) -> dict[str, Any]:
    f = tb.tb_frame
    module = f.f_globals.get("__name__") or "?"
    filename = f.f_code.co_filename
    rel = module.replace(".", "/") + ("/__init__.py" if filename.endswith("__init__.py") else ".py")
    return {"module": module, "file": rel, "line": tb.tb_lineno,
            "function": getattr(f.f_code, "co_qualname", f.f_code.co_name), "_filename": filename,
            "_code": f.f_code, "_self": f.f_locals.get("self")}


def _source(fr: dict[str, Any]) -> str:
    import linecache
    return linecache.getline(fr["_filename"], fr["line"]).strip()[:200]


def _backend_tops(torch) -> set[str]:
    tops = {_top(getattr(torch, "__name__", None)), _top(getattr(getattr(torch, "Tensor", None), "__module__", None))}
    name = target_name() or ""
    if name.startswith("module:"):        # a module:NAME target's own code is backend code too
        tops.add(_top(name[len("module:"):]))
    return {t for t in tops if t and t != "builtins"}


def _as_torch_name(module: str, tops: set[str]) -> str:
    parts = module.split(".")
    if parts[0] in tops or parts[0] == "torch":
        parts = ["torch"] + [p for p in parts[1:] if not p.startswith("_")]
    return ".".join(parts)


def _method_of(fr: dict[str, Any], torch) -> str | None:
    """``torch.nn.Module.train`` for a backend frame running a method of ``self``'s class (also one
    patched in from elsewhere): the class in ``self``'s MRO whose attribute runs this code."""
    obj, code = fr.get("_self"), fr.get("_code")
    if obj is None or code is None:
        return None
    name = code.co_name
    for cls in type(obj).__mro__:
        attr = cls.__dict__.get(name)
        while attr is not None and getattr(attr, "__code__", None) is not code and hasattr(attr, "__wrapped__"):
            attr = attr.__wrapped__     # the kit's call log wraps some methods (conformance/calls.py)
        if getattr(attr, "__code__", None) is code:
            for prefix, ns in (("torch", torch), ("torch.nn", getattr(torch, "nn", None))):
                if ns is not None and getattr(ns, cls.__name__, None) is cls:
                    return f"{prefix}.{cls.__name__}.{name}"
            return f"{cls.__qualname__}.{name}"
    return None


def _public_class(cls: type, torch_mod: Any) -> type:
    """The torch class a backend's private class stands for (``_CPUUntypedStorage`` -> ``UntypedStorage``):
    the first class in its MRO that ``torch`` exposes under its own name."""
    for c in cls.__mro__:
        if torch_mod is not None and getattr(torch_mod, c.__name__, None) is c:
            return c
    return cls


def _torch_api(e: BaseException, caller: dict | None, backend: dict | None, tops: set[str],
               torch_mod: Any = None) -> str | None:
    if isinstance(e, AttributeError):
        name, obj = getattr(e, "name", None), getattr(e, "obj", None)
        if name and obj is not None:
            import types
            if isinstance(obj, types.ModuleType):
                return f"{_as_torch_name(obj.__name__, tops)}.{name}"
            owner = obj if isinstance(obj, type) else type(obj)
            return f"{_public_class(owner, torch_mod).__name__}.{name}"
        m = re.search(r"module '([\w.]+)' has no attribute '(\w+)'", str(e))
        if m:
            return f"{_as_torch_name(m.group(1), tops)}.{m.group(2)}"
        m = re.search(r"'(\w+)' object has no attribute '(\w+)'", str(e))
        if m:
            return f"{m.group(1)}.{m.group(2)}"
    if isinstance(e, ImportError) and caller is not None:
        name = re.search(r"cannot import name '(\w+)'", str(e))
        src = re.search(r"from (torch[\w.]*) import", caller.get("code", ""))
        if name and src:
            return f"{src.group(1)}.{name.group(1)}"
        missing = re.search(r"No module named '([\w.]+)'", str(e))
        if missing and _top(missing.group(1)) in tops | {"torch"}:
            return _as_torch_name(missing.group(1), tops) if _top(missing.group(1)) != "torch" else missing.group(1)
    if backend is not None:
        method = _method_of(backend, torch_mod)
        if method:
            return method
        qual = backend["function"]
        if "<locals>" in qual:       # a generated stand-in (one code for many methods): the error names it
            return _named_in_message(e, caller, torch_mod)
        if "." in qual and not qual.startswith("<"):
            return f"{_as_torch_name(_top(backend['module']), tops)}.{qual}"
        return f"{_as_torch_name(backend['module'], tops)}.{qual}"
    if isinstance(e, TypeError):     # refused before its body ran (no backend frame): the message names it
        m = re.match(r"([A-Za-z_][\w.]*)\(\) (?:got an unexpected keyword argument|takes|missing \d+ required)", str(e))
        if m:
            if "." in m.group(1):            # a method's qualified name: Tensor.view
                return m.group(1)
            # a function's bare name (add): the calling line's torch call of that name (torch.add)
            on_line = re.search(rf"\btorch(?:\.\w+)*\.{re.escape(m.group(1))}\b", (caller or {}).get("code", ""))
            return on_line.group(0) if on_line else m.group(1)
    if caller is not None:
        m = re.search(r"\btorch(?:\.\w+)+", caller.get("code", ""))
        if m:
            return m.group(0)
    return None


def _named_in_message(e: BaseException, caller: dict | None, torch_mod: Any) -> str | None:
    """The one method the calling line calls that the exception's message also names."""
    code = (caller or {}).get("code", "")
    names = {n for n in re.findall(r"\.(\w+)\(", code) if re.search(rf"\b{n}\b", str(e))}
    if len(names) != 1:
        return None
    name = names.pop()
    tensor = getattr(torch_mod, "Tensor", None)
    return f"Tensor.{name}" if tensor is not None and hasattr(tensor, name) else f"torch.{name}"


def describe_failure(e: BaseException, torch, step: str) -> dict[str, Any]:
    """The first failing frame of ``e``: the deepest transformers/safetensors (or kit) frame that called
    into the backend, the backend frame it called, and the torch API involved."""
    root = e
    while root.__cause__ is not None and root.__cause__ is not root:   # `raise X from original`: the original
        root = root.__cause__                                            # failure is where it happened
    frames = []
    tb = root.__traceback__
    while tb is not None:
        if tb.tb_frame.f_globals.get("__name__") != RECORDER:     # the call recorder's wrappers are no caller
            frames.append(_frame(tb))
        tb = tb.tb_next
    tops = _backend_tops(torch)
    # The deepest caller frame: everything below it is the backend (or the stdlib it went through).
    callers = [i for i, f in enumerate(frames) if _top(f["module"]) in CALLERS]
    caller_i = callers[-1] if callers else None
    caller = backend = None
    if caller_i is not None:
        caller = {**frames[caller_i], "code": _source(frames[caller_i])}
        backend = next((f for f in frames[caller_i + 1:] if _top(f["module"]) in tops), None)
    raised = frames[-1] if frames else None
    api = _torch_api(root, caller, backend, tops, torch)
    clean = lambda f: None if f is None else {k: v for k, v in f.items() if not k.startswith("_")}  # noqa: E731
    where = f"step {step}"
    if caller is not None:
        where += f" at {caller['file']}:{caller['line']} ({caller['function']})"
    if api:
        where += f" calling {api}"
    if backend is not None:
        where += f" [backend {backend['file']}:{backend['line']} {backend['function']}]"
    error = _exc_line(root) + (f" (surfacing as {_exc_line(e)})" if root is not e else "")
    return {"step": step, "where": where, "error": scrub(error)[:400],
            "caller": clean(caller), "backend_frame": clean(backend), "raised_in": clean(raised), "torch_api": api}


def _exc_line(e: BaseException) -> str:
    cls = type(e)
    name = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    return f"{name}: {str(e)[:250]}"






def blamed(e: BaseException, torch: Any) -> dict[str, Any]:
    """For an exception a case raised: the torch API it came from and where it was called (display only)."""
    try:
        d = describe_failure(e, torch, "call")
    except Exception:       # a traceback the analysis cannot read: no blame rather than no observation
        return {}
    caller = d.get("caller") or {}
    where = f"{caller['file']}:{caller['line']}" if caller else None
    recorded = _recorded_api(e)      # a call the kit recorded knows its own name better than any frame
    return {k: v for k, v in (("torch_api", recorded or d.get("torch_api")), ("called_at", where)) if v}


def _recorded_api(e: BaseException) -> str | None:
    from .calls import API_ATTR

    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if getattr(e, API_ATTR, None):
            return getattr(e, API_ATTR)
        e = e.__cause__ or e.__context__
    return None
