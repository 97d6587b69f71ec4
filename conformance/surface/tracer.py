"""Discover the torch API surface safetensors uses, by running its entry points on a recording torch.

How (see shared reference notes "How I traced"): real torch is imported first, then
``sys.modules["torch"]`` becomes a ``types.ModuleType`` subclass (PyO3 downcasts the import result to
a module) whose attribute reads are recorded. Every torch object it hands out (functions, classes,
bound methods, tensors, dtypes, devices, layouts, storages, nn.Modules, and dicts/lists of them)
goes inside a recording membrane; arguments are unwrapped before they reach real torch.

Attribution is by frame. Calls into the Rust extension go through ``_rust_call``, a Python frame
the extension has no way to skip, so an access whose nearest Python frame is ``_rust_call`` was made
by Rust; an access from a ``safetensors/*.py`` frame was made by safetensors' Python code. Anything
else (the driver here, importlib, torch re-importing itself while a real torch function runs) is not
recorded: while real torch code runs on a membrane's behalf, the proxy answers with raw objects.

Pitfalls handled: the proxy is installed before safetensors is imported and before the first
``safe_open`` (Rust caches the torch module in a static on first use; this refuses to run in a
process that already imported safetensors); ``torch.Size`` and ``TorchVersion`` stay unwrapped
(tuple/str subclasses consumed through their protocols); dict lookups keyed by dtypes show
``dtype.__eq__`` only because proxies defeat the ``is`` shortcut (kept, but marked "identity").

Only CPU is exercised: CUDA/MPS routes need hardware and are not in the inventory.
"""
from __future__ import annotations

import collections
import importlib.util
import inspect
import os
import re
import sys
import types
from typing import Any

SCHEMA = "torch-conformance/surface/1"


# -- the recorder ---------------------------------------------------------------------------------

class Recorder:
    def __init__(self, st_dir: str):
        self.st_dir = st_dir.rstrip("/") + "/"
        self.busy = 0                    # >0 while real torch runs on a membrane's behalf
        self.entry: str | None = None    # the entry point being driven
        self.apis: dict[str, dict[str, set]] = collections.defaultdict(
            lambda: collections.defaultdict(set))
        self.entries: dict[str, dict[str, Any]] = {}

    def where(self, frame) -> tuple[str, str] | None:
        """(side, block) of the code that made an access, or None when it is not safetensors."""
        while frame is not None and frame.f_code.co_filename == __file__ and frame.f_code is not _GATE_CODE:
            frame = frame.f_back       # skip the membrane's own frames
        if frame is None:
            return None
        if frame.f_code is _GATE_CODE:
            return "rust", frame.f_locals.get("label", "?")
        if frame.f_code.co_filename.startswith(self.st_dir):
            return "py", frame.f_code.co_name
        return None

    def record(self, api: str, where: tuple[str, str], signature: str | None = None) -> None:
        if self.entry is None:
            return
        a = self.apis[api]
        a["sides"].add(where[0])
        a["blocks"].add(f"{where[0]}:{where[1]}")
        a["entry_points"].add(self.entry)
        if signature is not None:
            a["signatures"].add(signature)


REC: Recorder | None = None


def _rust_call(label: str, fn, *args, **kwargs):
    """Every call into the Rust extension goes through here: torch accesses whose nearest Python frame
    is this one were made by Rust."""
    return fn(*args, **kwargs)


_GATE_CODE = _rust_call.__code__


# -- the membrane ---------------------------------------------------------------------------------

def _kind_of(obj: Any) -> str:
    """The catalog-style name of an instance's type: Tensor, UntypedStorage, dtype, nn.Module, ..."""
    t = REAL
    for cls, name in ((t.Tensor, "Tensor"), (t.UntypedStorage, "UntypedStorage"), (t.dtype, "dtype"),
                      (t.device, "device"), (t.layout, "layout"), (t.nn.Module, "nn.Module")):
        if isinstance(obj, cls):
            return name
    return type(obj).__name__


def _is_plain(v: Any) -> bool:
    """Values that stay unwrapped: Python scalars, str (incl. TorchVersion), bytes, torch.Size and
    other tuples (namedtuples such as _IncompatibleKeys)."""
    return v is None or isinstance(v, (str, bytes, bytearray, int, float, bool, tuple, REAL.Size))


def _is_torch_object(v: Any) -> bool:
    if isinstance(v, _P):
        return True
    if _is_plain(v) or isinstance(v, (dict, list)):
        return False
    if isinstance(v, types.ModuleType):
        return v.__name__.startswith("torch")
    if isinstance(v, (REAL.Tensor, REAL.UntypedStorage, REAL.dtype, REAL.device, REAL.layout, REAL.nn.Module)):
        return True
    mod = getattr(v, "__module__", None) if (isinstance(v, type) or callable(v)) else type(v).__module__
    return isinstance(mod, str) and mod.startswith("torch")


def wrap(v: Any, name: str | None = None, force: bool = False) -> Any:
    """``v`` inside the membrane (containers get wrapped elements); plain values as they are.
    ``force``: anything that is not a plain value (what the torch module itself hands out)."""
    if isinstance(v, _P):
        return v
    if isinstance(v, dict):
        if any(_is_torch_object(x) for x in v.values()):
            out = type(v)() if type(v) in (dict, collections.OrderedDict) else {}
            for k, x in v.items():
                out[k] = wrap(x)
            return out
        return v
    if isinstance(v, list):
        return [wrap(x) for x in v] if any(_is_torch_object(x) for x in v) else v
    if _is_plain(v) or not (_is_torch_object(v) or (force and (callable(v) or isinstance(v, types.ModuleType)))):
        return v
    if isinstance(v, types.ModuleType):
        return _P(v, name or v.__name__, "module")
    if isinstance(v, type):
        return _P(v, name or f"torch.{v.__name__}", "class")
    if callable(v) and not isinstance(v, (REAL.Tensor, REAL.nn.Module)):
        return _P(v, name or f"torch.{getattr(v, '__name__', '?')}", "function")
    return _P(v, _kind_of(v), "instance")


def unwrap(v: Any) -> Any:
    if isinstance(v, _P):
        return object.__getattribute__(v, "_o")
    if type(v) in (list, tuple):
        return type(v)(unwrap(x) for x in v)
    if isinstance(v, dict):
        if any(isinstance(x, _P) for x in v.values()):
            out = type(v)() if type(v) in (dict, collections.OrderedDict) else {}
            for k, x in v.items():
                out[k] = unwrap(x)
            return out
    return v


_SHORT_STR = re.compile(r"^[a-z0-9:_]{1,12}$")


def kind(v: Any) -> str:
    """Argument kinds for signatures: Python values by type, torch objects by kind."""
    if isinstance(v, _P):
        n, role = object.__getattribute__(v, "_n"), object.__getattribute__(v, "_r")
        return n if role == "instance" else f"<{n}>"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return repr(str(v)) if _SHORT_STR.match(v) else "str"
    if isinstance(v, (bytes, bytearray)):
        return type(v).__name__
    if v is Ellipsis:
        return "ellipsis"
    if isinstance(v, slice):
        return "slice"
    if v is None:
        return "None"
    if isinstance(v, REAL.Size):
        return "Size"
    if isinstance(v, (list, tuple)):
        inner = sorted({kind(x) for x in v})
        return f"{type(v).__name__}[{','.join(inner)}]"
    if isinstance(v, dict):
        ks = sorted({kind(k) for k in v}) or [""]
        vs = sorted({kind(x) for x in v.values()}) or [""]
        return f"dict[{','.join(ks)}->{','.join(vs)}]"
    return type(v).__name__


def _sig(args, kwargs) -> str:
    parts = [kind(a) for a in args] + [f"{k}={kind(v)}" for k, v in sorted(kwargs.items())]
    return "(" + ", ".join(parts) + ")"


def _result(v: Any) -> str:
    if v is NotImplemented:       # object.__ne__ on distinct layouts/devices: Python falls back to identity
        return "bool"
    if type(v).__name__ == "_IncompatibleKeys":
        return "_IncompatibleKeys(missing,unexpected)"
    return kind(wrap(v))


class _P:
    """A recording membrane around one torch object."""

    __slots__ = ("_o", "_n", "_r")

    def __init__(self, obj, name, role):
        object.__setattr__(self, "_o", obj)
        object.__setattr__(self, "_n", name)   # "torch.frombuffer", "Tensor", "torch.UntypedStorage", ...
        object.__setattr__(self, "_r", role)   # module | class | function | method | instance

    def __getattribute__(self, attr):
        o = object.__getattribute__(self, "_o")
        n = object.__getattribute__(self, "_n")
        role = object.__getattribute__(self, "_r")
        if attr in ("_o", "_n", "_r"):
            return object.__getattribute__(self, attr)
        rec = REC
        where = None if rec is None or rec.busy else rec.where(sys._getframe(1))
        if attr == "__class__" and where is not None:
            rec.record(f"{n}.__class__", where)
            return type(o)
        try:
            value = getattr(o, attr)
        except AttributeError:
            if where is not None:
                rec.record(f"{n}.{attr}", where, "-> raises AttributeError")
            raise
        if where is None:
            return value
        api = f"{n}.{attr}"
        if callable(value) and not isinstance(value, type) and role in ("instance", "class", "module") \
                and not _is_value_attr(value):
            return _P(value, api, "method")       # recorded when called
        w = wrap(value, api)
        rec.record(api, where, f"-> {kind(w)}")
        return w

    def __call__(self, *args, **kwargs):
        o = object.__getattribute__(self, "_o")
        n = object.__getattribute__(self, "_n")
        rec = REC
        where = None if rec is None or rec.busy else rec.where(sys._getframe(1))
        if where is None:
            return o(*unwrap(list(args)), **unwrap(dict(kwargs)))
        sig = _sig(args, kwargs)
        rec.busy += 1
        try:
            result = o(*unwrap(list(args)), **unwrap(dict(kwargs)))
        except Exception as e:
            rec.busy -= 1
            rec.record(n, where, f"{sig} -> raises {type(e).__name__}")
            raise
        rec.busy -= 1
        w = wrap(result)
        rec.record(n, where, f"{sig} -> {_result(result)}")
        return w

    # dunders (looked up on the type, so each needs its own method)
    def __getitem__(self, k):
        return _dunder(self, "__getitem__", k)

    def __setitem__(self, k, v):
        return _dunder(self, "__setitem__", k, v)

    def __len__(self):
        return _dunder(self, "__len__")

    def __iter__(self):
        return iter(_dunder(self, "__iter__"))

    def __eq__(self, other):
        return _dunder(self, "__eq__", other)

    def __ne__(self, other):
        return _dunder(self, "__ne__", other)

    def __hash__(self):
        return _dunder(self, "__hash__")

    def __str__(self):
        return _dunder(self, "__str__")

    def __bool__(self):
        return _dunder(self, "__bool__")

    def __index__(self):
        return _dunder(self, "__index__")

    def __int__(self):
        return _dunder(self, "__int__")

    def __enter__(self):
        return _dunder(self, "__enter__")

    def __exit__(self, *a):
        return _dunder(self, "__exit__", *a)

    def __repr__(self):
        return repr(object.__getattribute__(self, "_o"))

    def __instancecheck__(self, obj):
        o = object.__getattribute__(self, "_o")
        n = object.__getattribute__(self, "_n")
        rec = REC
        where = None if rec is None or rec.busy else rec.where(sys._getframe(1))
        result = isinstance(unwrap(obj), o)
        if where is not None:
            rec.record(f"{n}.__instancecheck__", where, f"({kind(obj)}) -> {result}")
        return result

    def __subclasscheck__(self, cls):
        return issubclass(unwrap(cls), object.__getattribute__(self, "_o"))


def _dunder(self, name, *args):
    """A dunder on a membrane: recorded as <kind>.<dunder>, run on the real object's type."""
    o = object.__getattribute__(self, "_o")
    n = object.__getattribute__(self, "_n")
    rec = REC
    where = None if rec is None or rec.busy else rec.where(sys._getframe(1))
    fn = getattr(type(o), name)
    raw_args = unwrap(list(args))
    if where is None:
        return fn(o, *raw_args)
    sig = _sig(args, {})
    rec.busy += 1
    try:
        result = fn(o, *raw_args)
    except Exception as e:
        rec.busy -= 1
        rec.record(f"{n}.{name}", where, f"{sig} -> raises {type(e).__name__}")
        raise
    rec.busy -= 1
    rec.record(f"{n}.{name}", where, f"{sig} -> {_result(result)}")
    return result if name in _RAW_RESULT else wrap(result)



_RAW_RESULT = {"__hash__", "__len__", "__bool__", "__index__", "__int__", "__str__", "__eq__", "__ne__"}


def _is_value_attr(v: Any) -> bool:
    """Callable values that are data, not methods: dtypes/devices/layouts are never called here."""
    return isinstance(v, (REAL.dtype, REAL.device, REAL.layout, REAL.Tensor))


class TorchProxy(types.ModuleType):
    """What ``sys.modules["torch"]`` is while tracing: the real module, every read recorded."""

    def __init__(self, real):
        super().__init__("torch")
        object.__setattr__(self, "_tr_real", real)

    def __getattribute__(self, attr):
        real = object.__getattribute__(self, "_tr_real")
        if attr == "_tr_real":
            return real
        rec = REC
        where = None if rec is None or rec.busy else rec.where(sys._getframe(1))
        try:
            value = getattr(real, attr)
        except AttributeError:
            if where is not None:
                rec.record(f"torch.{attr}", where, "-> raises AttributeError")
            raise
        if where is None:
            return value
        api = f"torch.{attr}"
        w = wrap(value, api, force=True)
        rec.record(api, where, f"-> {kind(w)}" if not callable(value) or isinstance(value, type) else None)
        return w


REAL: Any = None


# -- gates into the Rust extension -----------------------------------------------------------------

class TracedSlice:
    def __init__(self, real, backend):
        self._s, self._b = real, backend

    def __getitem__(self, index):
        return _rust_call(f"PySafeSlice.__getitem__ [{self._b}]", self._s.__getitem__, index)

    def get_shape(self):
        return _rust_call("PySafeSlice.get_shape", self._s.get_shape)

    def get_dtype(self):
        return _rust_call("PySafeSlice.get_dtype", self._s.get_dtype)


def traced_safe_open_class(real_safe_open):
    class TracedSafeOpen:
        def __init__(self, filename, framework, device="cpu", **kw):
            self._b = kw.get("backend", "mmap")
            self._f = _rust_call(f"safe_open [{self._b}]", real_safe_open, filename, framework=framework,
                                 device=device, **kw)

        def __enter__(self):
            _rust_call("safe_open.__enter__", self._f.__enter__)
            return self

        def __exit__(self, *a):
            return _rust_call("safe_open.__exit__", self._f.__exit__, *a)

        def get_tensor(self, name):
            return _rust_call(f"safe_open.get_tensor [{self._b}]", self._f.get_tensor, name)

        def get_slice(self, name):
            return TracedSlice(_rust_call("safe_open.get_slice", self._f.get_slice, name), self._b)

        def __getattr__(self, name):
            fn = getattr(self._f, name)     # AttributeError where this safetensors lacks it
            return lambda *a, **kw: _rust_call(f"safe_open.{name} [{self._b}]", fn, *a, **kw)

    return TracedSafeOpen


def _gate(label, fn):
    def gated(*a, **kw):
        return _rust_call(label, fn, *a, **kw)
    return gated


# -- the driver -----------------------------------------------------------------------------------

def _entry(rec: Recorder, name: str, fn, *args, **kwargs):
    """Run one entry point under the recorder; count its outcome."""
    e = rec.entries.setdefault(name, {"runs": 0, "ok": 0, "failed": collections.Counter()})
    e["runs"] += 1
    rec.entry = name
    try:
        out = fn(*args, **kwargs)
        e["ok"] += 1
        return out
    except (Exception, BaseException) as ex:   # also pyo3's PanicException (a BaseException)
        if isinstance(ex, (KeyboardInterrupt, SystemExit)):
            raise
        # the inventory records what was touched up to the failure
        e["failed"][type(ex).__name__] += 1
        return None
    finally:
        rec.entry = None


def run_trace(workdir: str) -> dict[str, Any]:
    """Trace every entry point in this process (which must not have imported safetensors yet)."""
    global REC, REAL
    if any(m == "safetensors" or m.startswith("safetensors.") for m in sys.modules):
        raise RuntimeError("safetensors is already imported in this process: its Rust extension may have "
                           "cached the torch module; trace in a fresh process (python -m conformance.surface)")
    import numpy as np
    import torch as real_torch

    from ..catalog._st_support import st_bytes
    from ..catalog.st_entrypoints import tied_model
    from ..dtypes import DTYPE_NAMES, DTYPES
    from ..inputs import TensorInput

    REAL = real_torch
    spec = importlib.util.find_spec("safetensors")
    st_dir = os.path.dirname(spec.origin)
    rec = REC = Recorder(st_dir)
    saved = sys.modules["torch"]
    sys.modules["torch"] = TorchProxy(real_torch)
    try:
        import safetensors
        rec.entry = "import safetensors.torch"
        rec.entries[rec.entry] = {"runs": 1, "ok": 0, "failed": collections.Counter()}
        import safetensors.torch as st
        rec.entries[rec.entry]["ok"] = 1
        rec.entry = None
        real_safe_open = safetensors.safe_open
        traced = traced_safe_open_class(real_safe_open)
        st.safe_open = traced
        for n in ("serialize", "serialize_file", "deserialize"):
            setattr(st, n, _gate(n, getattr(safetensors, n)))
        pread = "backend" in _params(real_safe_open)

        def tensor(dtype, shape, views=()):
            raw = TensorInput(dtype, shape, tuple(DTYPES[dtype].value_sets["special"])).raw()
            base = np.frombuffer(bytearray(raw), dtype=np.uint8)
            t = real_torch.from_numpy(base.copy()).view(getattr(real_torch, dtype)) if raw else \
                real_torch.empty(list(shape), dtype=getattr(real_torch, dtype))
            t = t.reshape(list(shape))
            for op in views:
                t = t[op[1]] if op[0] == "index" else t.transpose(op[1], op[2])
            return t

        def path(name):
            return os.path.join(workdir, name)

        dtypes = [d for d in DTYPE_NAMES if hasattr(real_torch, d)]
        shapes = [(2, 4), (), (0,), (2, 0)]
        # save / save_file, every dtype and shape, then the error paths
        for d in dtypes:
            for s in shapes:
                _entry(rec, "save", st.save, {"x": wrap(tensor(d, s))})
                _entry(rec, "save_file", st.save_file, {"x": wrap(tensor(d, s))}, path("s.safetensors"))
        base = tensor("float32", (3, 4))
        bad = {"non-contiguous": {"x": wrap(tensor("float32", (2, 3), (("transpose", 0, 1),)))},
               "shared": {"a": wrap(base), "b": wrap(base)},
               "shared-view": {"a": wrap(base), "b": wrap(base[1:])},
               "sparse": {"x": wrap(tensor("float32", (2, 3)).to_sparse())},
               "non-tensor": {"x": [1, 2]}}
        for sd in bad.values():
            _entry(rec, "save", st.save, sd)
            _entry(rec, "save_file", st.save_file, sd, path("bad.safetensors"))
        _entry(rec, "save", st.save, {"x": wrap(tensor("float32", (2, 3)))}, metadata={"k": "v"})

        # load(bytes), load_file mmap / pread, safe_open(pt) / (numpy) on kit-written files
        files = []
        for d in dtypes:
            for s in shapes:
                t = tensor(d, s)
                raw = t.contiguous().view(-1).view(real_torch.uint8).numpy().tobytes() if t.numel() else b""
                data = st_bytes([("x", d, s, raw), ("y", "float32", (3,), bytes(12))], {"format": "pt"})
                p = path(f"in-{d}-{len(files)}.safetensors")
                with open(p, "wb") as f:
                    f.write(data)
                files.append((d, s, p, data))
        for d, s, p, data in files:
            _entry(rec, "load", st.load, data)
            _entry(rec, "load_file[mmap]", st.load_file, p)
            if pread:
                _entry(rec, "load_file[pread]", st.load_file, p, backend="pread")
            for b in (["mmap", "pread"] if pread else ["mmap"]):
                kw = {"backend": b} if b != "mmap" else {}
                f = _entry(rec, f"safe_open(pt,{b}) open", lambda: traced(p, framework="pt", **kw).__enter__())
                if f is None:
                    continue
                _entry(rec, f"safe_open(pt,{b}).keys", f.keys)
                _entry(rec, f"safe_open(pt,{b}).metadata", f.metadata)
                _entry(rec, f"safe_open(pt,{b}).get_tensor", f.get_tensor, "x")
                if hasattr(f._f, "get_tensors"):
                    _entry(rec, f"safe_open(pt,{b}).get_tensors", f.get_tensors)
                sl = _entry(rec, f"safe_open(pt,{b}).get_slice", f.get_slice, "x")
                if sl is not None:
                    _entry(rec, f"safe_open(pt,{b}).slice.get_shape/get_dtype",
                           lambda: (sl.get_shape(), sl.get_dtype()))
                    _entry(rec, f"safe_open(pt,{b}).slice[...]", sl.__getitem__, Ellipsis)
                    if len(s) >= 1:
                        _entry(rec, f"safe_open(pt,{b}).slice[0:1]", sl.__getitem__, slice(0, 1))
                    if len(s) == 2:
                        _entry(rec, f"safe_open(pt,{b}).slice[:,1]", sl.__getitem__, (slice(None), 1))
                _entry(rec, f"safe_open(pt,{b}).__exit__", f.__exit__, None, None, None)
            _entry(rec, "safe_open(numpy)", lambda: traced(p, framework="numpy").get_tensor("x"))

        # save_model / load_model with tied weights
        def Tied(extra=False):       # the catalog's model (conformance/catalog/st_entrypoints.py)
            return tied_model(real_torch, extra)

        mp = path("model.safetensors")
        _entry(rec, "save_model", st.save_model, wrap(Tied()), mp)
        _entry(rec, "save_model", st.save_model, wrap(Tied()), path("m2.safetensors"), metadata={"k": "v"})
        _entry(rec, "load_model", st.load_model, wrap(Tied()), mp)
        _entry(rec, "load_model", st.load_model, wrap(Tied(extra=True)), mp, strict=False)
        _entry(rec, "load_model", st.load_model, wrap(Tied(extra=True)), mp, strict=True)
        if "backend" in _params(st.load_model):
            _entry(rec, "load_model[pread]", st.load_model, wrap(Tied()), mp, backend="pread")

        # the private helpers, called directly
        w = tensor("float32", (3, 4))
        dicts = [{"a": w, "b": w}, {"a": w[0:2], "b": w[1:3]}, {"a": w, "b": tensor("float32", (3, 4))},
                 {"a": w, "r": w[1]}, {"e": tensor("float32", (0, 3)), "m": real_torch.empty([2], device="meta")}]
        for sd in dicts:
            _entry(rec, "_find_shared_tensors", st._find_shared_tensors, wrap(dict(sd)))
            _entry(rec, "_remove_duplicate_names", st._remove_duplicate_names, wrap(dict(sd)))
        for d in dtypes:
            for name in ("_tobytes", "_to_ndarray"):
                fn = getattr(st, name, None)
                if fn is not None:
                    args = (wrap(tensor(d, (2, 4))), "x") if name == "_tobytes" else (wrap(tensor(d, (2, 4))),)
                    _entry(rec, name, fn, *args)
    finally:
        sys.modules["torch"] = saved
        REC = None
    return inventory(rec, safetensors.__version__, real_torch)


def _params(fn) -> set[str]:
    try:
        return set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return set()


# -- the inventory ----------------------------------------------------------------------------------

_DTYPE_RE = re.compile(r"^torch\.(float|bfloat|int|uint|bool|complex)")


def category(api: str) -> str:
    head = api.split(".")
    if api.startswith("torch.") and len(head) == 2 and _DTYPE_RE.match(api):
        return "dtype constant"
    if api.startswith("torch.nn"):
        return "torch.nn"
    if api.startswith("torch."):
        return "torch module attr/func/class"
    if head[0] in ("Tensor", "UntypedStorage", "nn"):
        return "nn.Module" if head[0] == "nn" else head[0]
    if head[0] in ("dtype", "device", "layout"):
        return "dtype/device/layout protocol"
    return "other"


def inventory(rec: Recorder, st_version: str, real_torch) -> dict[str, Any]:
    apis = {}
    for api, a in sorted(rec.apis.items()):
        apis[api] = {"category": category(api), "sides": sorted(a["sides"]), "blocks": sorted(a["blocks"]),
                     "signatures": sorted(a["signatures"]), "entry_points": sorted(a["entry_points"])}
    entries = {}
    for name, e in sorted(rec.entries.items()):
        entries[name] = {"runs": e["runs"], "ok": e["ok"], "failed": dict(sorted(e["failed"].items())),
                         "apis": sorted(api for api, a in rec.apis.items() if name in a["entry_points"])}
    return {"schema": SCHEMA, "safetensors": st_version, "torch": str(real_torch.__version__),
            "python": ".".join(map(str, sys.version_info[:3])), "devices": ["cpu"],
            "api_count": len(apis), "apis": apis, "entry_points": entries}
