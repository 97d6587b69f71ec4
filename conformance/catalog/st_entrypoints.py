"""safetensors end to end: the entry points users call, run on this process's ``torch``.

Every case imports safetensors inside the case, so in a target process ``safetensors.torch`` binds the
target as ``torch``. Files that load cases read are written by the kit without torch
(``_st_support.st_bytes``, byte-identical to safetensors' own writer), so the oracle and the target
read the very same bytes; save cases observe the bytes they produce, so a file that differs from the
oracle's by one byte is caught. Entry points missing from the installed safetensors (``backend=``
before 0.8.0, ``get_tensors``) observe ``{"unsupported_in_this_safetensors": ...}``: SKIP.

``load_path[<path>-<dtype>]`` is the loading-strategy matrix (reports/loading_matrix.py).
"""
from __future__ import annotations

import importlib

import json
import struct

from ..dtypes import DTYPE_NAMES, DTYPES
from ..inputs import TensorInput
from ..observe import NOT_IN_THIS_SAFETENSORS
from ..registry import case, param
from ._st_support import accepts, pread_supported, run_fresh, safetensors_torch, sha256, unsupported, write_st

IMPORT = "import safetensors.torch"
SAVE = "safetensors.torch.save"
SAVE_FILE = "safetensors.torch.save_file"
LOAD = "safetensors.torch.load"
LOAD_FILE = "safetensors.torch.load_file"
SAFE_OPEN_PT = "safetensors.safe_open(pt)"
SAFE_OPEN_NP = "safetensors.safe_open(numpy)"
SAVE_MODEL = "safetensors.torch.save_model"
LOAD_MODEL = "safetensors.torch.load_model"

E = Ellipsis


_st = safetensors_torch


def _spec(dtype: str, shape: tuple[int, ...] = (2, 3), value_set: str = "special", views=()) -> TensorInput:
    return TensorInput(dtype, shape, tuple(DTYPES[dtype].value_sets[value_set]), views)


def _entry(name: str, dtype: str, shape: tuple[int, ...] = (2, 3), value_set: str = "special"):
    return (name, dtype, shape, _spec(dtype, shape, value_set).raw())


def _file_obs(data: bytes) -> dict:
    """A produced safetensors file: its exact bytes, plus the parsed header for a readable diff."""
    try:
        n = struct.unpack("<Q", data[:8])[0]
        header = json.loads(data[8:8 + n])
    except Exception as e:   # not a safetensors file at all: the bytes say it
        header = {"unparsable": type(e).__name__}
    return {"bytes": data.hex(), "header": header}


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _tensors(ctx, d: dict) -> dict:
    return {k: ctx.tensor(v) for k, v in sorted(d.items())}


# -- import -------------------------------------------------------------------------------------

_IMPORT_SNIPPET = """
import sys
{pre}
import safetensors.torch as st
import torch
names = ["save", "save_file", "load", "load_file", "save_model", "load_model", "safe_open"]
result = {{"binds_this_torch": st.torch is sys.modules["torch"],
          "entry_points": sorted(n for n in names if callable(getattr(st, n, None))),
          "nn_module_is_a_class": isinstance(getattr(getattr(torch, "nn", None), "Module", None), type)}}
"""


@case(IMPORT, IMPORT, [param("plain", pre=""), param("torch-nn-first", pre="import torch.nn")],
      name="import_safetensors_torch", slow=True)
def import_safetensors_torch(torch, ctx, pre):
    """In a fresh process with this torch: `import safetensors.torch` succeeds (with and without
    `import torch.nn` first), binds this torch and exposes its entry points."""
    got = run_fresh(_IMPORT_SNIPPET.format(pre=pre))
    if "value" in got:
        return got["value"]
    _reraise(got)


_BUILTIN_ERRORS = {c.__name__: c for c in (AttributeError, ImportError, TypeError, ValueError, KeyError,
                                           RuntimeError, NameError, OSError)}


def _reraise(obs: dict):
    """Raise here the exception observed in a fresh process, with the same builtin base class."""
    raise _BUILTIN_ERRORS.get(obs.get("raises"), Exception)(f"{obs.get('type')}: {obs.get('message')}")


# -- save / save_file ------------------------------------------------------------------------------

def _save_params():
    # requires_dtypes for every dtype: a target without it is MISSING torch.<dtype>, rather than failing
    # somewhere downstream in safetensors (e.g. load() passing dtype=None to frombuffer)
    out = [param(d, kind="dtype", dtype=d, requires_dtypes=(d,)) for d in DTYPE_NAMES]
    out += [param(f"{d}-{k}", kind=k, dtype=d) for d in ("float32", "bfloat16")
            for k in ("0d", "zero-size-[0]", "zero-size-[2,0]", "offset-view-row", "offset-view-rows")]
    out += [param("float32-metadata-one-key", kind="metadata-one-key", dtype="float32"),
            param("float32-metadata-two-keys", kind="metadata-two-keys", dtype="float32"),
            param("mixed-four-tensors", kind="mixed", dtype="float32")]
    return out


def _save_input(ctx, kind: str, dtype: str):
    """(tensors, metadata) for a save case; views are contiguous views with a storage offset."""
    if kind == "dtype":
        return {"t": ctx.input(_spec(dtype))}, None
    if kind == "0d":
        return {"t": ctx.input(_spec(dtype, ()))}, None
    if kind.startswith("zero-size"):
        shape = (0,) if kind.endswith("[0]") else (2, 0)
        return {"t": ctx.input(_spec(dtype, shape))}, None
    if kind == "offset-view-row":
        return {"t": ctx.input(_spec(dtype, (3, 4), views=(("index", (1,)),)))}, None
    if kind == "offset-view-rows":
        return {"t": ctx.input(_spec(dtype, (3, 4), views=(("index", (slice(1, 3),)),)))}, None
    if kind == "metadata-one-key":
        return {"t": ctx.input(_spec(dtype))}, {"format": "pt"}
    if kind == "metadata-two-keys":
        return {"t": ctx.input(_spec(dtype))}, {"format": "pt", "author": "kit"}
    if kind == "mixed":
        return {"w": ctx.input(_spec("float32", (2, 2))), "b": ctx.input(_spec("bfloat16", (3,))),
                "m": ctx.input(_spec("bool", (4,))), "a": ctx.input(_spec("int64", (2,)))}, None
    raise ValueError(kind)


def _save_obs(data: bytes, kind: str) -> dict:
    if kind == "metadata-two-keys":
        # safetensors <= 0.7 writes __metadata__ in Rust HashMap order (random per process): compare the
        # parsed header (sorted) and the data, not the header bytes.
        obs = _file_obs(data)
        n = struct.unpack("<Q", data[:8])[0]
        return {"header": obs["header"], "data": data[8 + n:].hex()}
    return _file_obs(data)


@case(SAVE, SAVE, _save_params(), name="save_bytes")
def save_bytes(torch, ctx, kind, dtype):
    """save(tensors[, metadata]) returns exactly the oracle's bytes: header (dtype code, shape,
    offsets, padding) and data, for every dtype, 0-d, zero-size and offset views."""
    st = _st()

    tensors, metadata = _save_input(ctx, kind, dtype)
    return _save_obs(st.save(tensors, metadata=metadata), kind)


@case(SAVE_FILE, SAVE_FILE, _save_params(), name="save_file_bytes")
def save_file_bytes(torch, ctx, kind, dtype):
    """save_file(tensors, path[, metadata]) writes exactly the oracle's file."""
    st = _st()

    tensors, metadata = _save_input(ctx, kind, dtype)
    path = ctx.path("out.safetensors")
    st.save_file(tensors, path, metadata=metadata)
    return _save_obs(_read(path), kind)


def _bad_input(torch, ctx, kind):
    if kind == "non-contiguous":
        return {"t": ctx.input(_spec("float32", (2, 3), views=(("transpose", 0, 1),)))}
    if kind == "shared-same-tensor":
        t = ctx.input(_spec("float32", (2, 3)))
        return {"a": t, "b": t}
    if kind == "shared-overlapping-views":
        t = ctx.input(_spec("float32", (3, 4)))
        return {"a": t[0:2], "b": t[1:3]}
    if kind == "sparse":
        return {"t": ctx.input(_spec("float32", (2, 3))).to_sparse()}
    if kind == "non-tensor":
        return {"t": [1, 2, 3]}
    raise ValueError(kind)


_ERRORS = ["non-contiguous", "shared-same-tensor", "shared-overlapping-views", "sparse", "non-tensor"]


@case(SAVE, SAVE, [param(k, kind=k) for k in _ERRORS], name="save_error")
def save_error(torch, ctx, kind):
    """save() refuses a non-contiguous tensor, tensors sharing memory, a sparse (non-strided) tensor
    and a non-tensor value with the oracle's exception class (a target without to_sparse is MISSING)."""
    st = _st()

    return {"bytes": st.save(_bad_input(torch, ctx, kind)).hex()}


@case(SAVE_FILE, SAVE_FILE, [param(k, kind=k) for k in _ERRORS], name="save_file_error")
def save_file_error(torch, ctx, kind):
    """save_file() refuses the same inputs with the same exception class and leaves no file behind
    where the oracle leaves none."""
    import os

    st = _st()

    path = ctx.path("out.safetensors")
    try:
        st.save_file(_bad_input(torch, ctx, kind), path)
    finally:
        exists = os.path.exists(path)
    return {"file_written": exists}


# -- the loading-strategy matrix --------------------------------------------------------------------

PATHS = {
    "load": ("safetensors.torch.load", LOAD),
    "load_file-mmap": ("safetensors.torch.load_file(backend=mmap)", LOAD_FILE),
    "load_file-pread": ("safetensors.torch.load_file(backend=pread)", LOAD_FILE),
    "safe_open-pt": ("safe_open(pt).get_tensor", SAFE_OPEN_PT),
    "safe_open-numpy": ("safe_open(numpy)+torch.from_numpy", SAFE_OPEN_NP),
}
MATRIX_CASE = "load_path"


def _load_via(torch, path_kind: str, path: str, names: list[str]):
    """The tensors named ``names`` loaded from ``path`` along one loading path (dict name -> tensor),
    or an ``unsupported`` observation."""
    import safetensors

    # A user of safe_open never imports safetensors.torch: neither do its paths here.
    if path_kind == "safe_open-pt":
        with safetensors.safe_open(path, framework="pt") as f:
            return {n: f.get_tensor(n) for n in names}
    if path_kind == "safe_open-numpy":
        with safetensors.safe_open(path, framework="numpy") as f:
            return {n: torch.from_numpy(f.get_tensor(n)) for n in names}
    st = _st()
    if path_kind == "load":
        return st.load(_read(path))
    if path_kind == "load_file-mmap":
        return st.load_file(path)
    if path_kind == "load_file-pread":
        if not accepts(st.load_file, "backend"):
            return unsupported("load_file(backend='pread') (added in safetensors 0.8.0)")
        return st.load_file(path, backend="pread")
    raise ValueError(path_kind)


@case("safetensors loading path", "loading-strategy matrix",
      [param(f"{p}-{d}", path_kind=p, dtype=d, requires_dtypes=(d,)) for p in PATHS for d in DTYPE_NAMES],
      name=MATRIX_CASE)
def load_path(torch, ctx, path_kind, dtype):
    """One cell of the loading matrix: a kit-written file with one [2, 3] tensor of special values,
    loaded along one path, gives the oracle's dtype, shape, strides and bytes."""
    path = write_st(ctx.path("in.safetensors"), [_entry("t", dtype)])
    got = _load_via(torch, path_kind, path, ["t"])
    if NOT_IN_THIS_SAFETENSORS in got:
        return got
    obs = {"keys": sorted(got), "t": ctx.tensor(got["t"])}
    if path_kind == "safe_open-numpy":
        _blame_from_numpy(ctx, path, dtype, obs["t"])
    return obs


def _blame_from_numpy(ctx, path: str, dtype: str, seen: dict) -> None:
    """On the numpy path the only torch call is from_numpy(array): when the array (read without torch)
    holds the file's tensor and the tensor does not, from_numpy is the first call that diverged."""
    import safetensors

    with safetensors.safe_open(path, framework="numpy") as f:
        arr = f.get_tensor("t")
    if seen.get("dtype") != dtype or seen.get("bytes") != arr.tobytes().hex():
        ctx.cause = {"api": "torch.from_numpy", "phase": "chain",
                     "evidence": f"safe_open(numpy) gave the file's {dtype} array; torch.from_numpy(array) gave a "
                                 f"{seen.get('dtype')} tensor with other bytes"}


# -- load / load_file beyond one tensor -------------------------------------------------------------

_MULTI = [("w", "float32", (2, 3)), ("b", "bfloat16", (3,)), ("i", "int64", (2, 2)), ("m", "bool", (5,)),
          ("s", "float16", ()), ("e", "float32", (0, 4)), ("u", "uint8", (7,))]


def _multi_file(ctx, metadata=None) -> str:
    return write_st(ctx.path("multi.safetensors"), [_entry(n, d, s) for n, d, s in _MULTI], metadata)


_LOADERS = [("load", LOAD), ("load_file-mmap", LOAD_FILE), ("load_file-pread", LOAD_FILE)]


@case("safetensors.torch.load/load_file", LOAD_FILE, [param(f"{p}-seven-tensors", path_kind=p) for p, _ in _LOADERS],
      name="load_multi")
def load_multi(torch, ctx, path_kind):
    """A kit-written file with seven tensors (mixed dtypes, 0-d, zero-size, odd byte offsets and
    metadata): every tensor comes back with its own bytes, the key set is exact."""
    path = _multi_file(ctx, {"format": "pt"})
    got = _load_via(torch, path_kind, path, [n for n, _, _ in _MULTI])
    if NOT_IN_THIS_SAFETENSORS in got:
        return got
    return _tensors(ctx, got)


@case("safetensors.torch.load/load_file", LOAD_FILE,
      [param(f"{p}-write-into-loaded", path_kind=p) for p in ("load", "load_file-mmap", "load_file-pread",
                                                               "safe_open-pt")], name="load_no_writeback")
def load_no_writeback(torch, ctx, path_kind):
    """Data safety: loading never changes the file (sha256 before/after), also after writing into a
    tensor loaded from it (mmap maps it copy-on-write); a second load sees the original bytes."""
    path = write_st(ctx.path("in.safetensors"), [_entry("t", "float32", (2, 3), "ordinary")])
    before = sha256(path)
    got = _load_via(torch, path_kind, path, ["t"])
    if NOT_IN_THIS_SAFETENSORS in got:
        return got
    unchanged_by_load = sha256(path) == before
    t = got["t"]
    t.fill_(0)
    again = _load_via(torch, path_kind, path, ["t"])["t"]
    return {"unchanged_by_load": unchanged_by_load, "unchanged_after_write": sha256(path) == before,
            "written": ctx.tensor(t), "reloaded": ctx.tensor(again)}


# -- safe_open(framework="pt") -----------------------------------------------------------------------

def _backend_kw(backend: str):
    if backend == "mmap":
        return {}
    if not pread_supported():
        return None
    return {"backend": backend}


@case("safetensors.safe_open(pt)", SAFE_OPEN_PT, [param(b, backend=b) for b in ("mmap", "pread")],
      name="safe_open_pt_overview")
def safe_open_pt_overview(torch, ctx, backend):
    """safe_open(path, framework="pt"): keys (sorted), metadata, get_slice(name).get_shape() /
    get_dtype() and get_tensor(name) for each of seven tensors."""
    import safetensors

    kw = _backend_kw(backend)
    if kw is None:
        return unsupported("safe_open(backend='pread') (added in safetensors 0.8.0)")
    path = _multi_file(ctx, {"format": "pt"})
    with safetensors.safe_open(path, framework="pt", **kw) as f:
        keys = sorted(f.keys())
        return {"keys": keys, "metadata": f.metadata(),
                "shapes": {k: list(f.get_slice(k).get_shape()) for k in keys},
                "dtypes": {k: f.get_slice(k).get_dtype() for k in keys},
                "tensors": {k: ctx.tensor(f.get_tensor(k)) for k in keys}}


@case("safe_open(pt).get_tensors", SAFE_OPEN_PT, [param(b, backend=b) for b in ("mmap", "pread")],
      name="safe_open_pt_get_tensors")
def safe_open_pt_get_tensors(torch, ctx, backend):
    """get_tensors() (safetensors 0.8.0+): every tensor at once, same bytes as get_tensor."""
    import safetensors

    kw = _backend_kw(backend)
    if kw is None:
        return unsupported("safe_open(backend='pread') (added in safetensors 0.8.0)")
    path = _multi_file(ctx)
    with safetensors.safe_open(path, framework="pt", **kw) as f:
        if not hasattr(f, "get_tensors"):
            return unsupported("safe_open.get_tensors (added in safetensors 0.8.0)")
        return _tensors(ctx, f.get_tensors())


_SLICES = {"[1:3]": slice(1, 3), "[:,1:3]": (slice(None), slice(1, 3)), "[...,0:2]": (E, slice(0, 2)),
           "[2]": 2, "[:,:,4]": (slice(None), slice(None), 4), "[...]": E, "[0:0]": slice(0, 0)}


@case("safe_open(pt).get_slice[...]", SAFE_OPEN_PT,
      [param(f"{b}-{k}", backend=b, index=ix) for b in ("mmap", "pread") for k, ix in _SLICES.items()],
      name="safe_open_pt_slice")
def safe_open_pt_slice(torch, ctx, backend, index):
    """get_slice(name)[index] of a [3, 4, 5] float32 tensor stored after another tensor: the selected
    bytes, shape and strides (or the oracle's exception class)."""
    import safetensors

    kw = _backend_kw(backend)
    if kw is None:
        return unsupported("safe_open(backend='pread') (added in safetensors 0.8.0)")
    path = write_st(ctx.path("in.safetensors"), [_entry("pad", "int8", (5,)), _entry("t", "float32", (3, 4, 5))])
    with safetensors.safe_open(path, framework="pt", **kw) as f:
        return ctx.tensor(f.get_slice("t")[index])


@case("safetensors.safe_open(numpy)", SAFE_OPEN_NP, name="safe_open_numpy_overview")
def safe_open_numpy_overview(torch, ctx):
    """safe_open(framework="numpy") then torch.from_numpy: the tensors numpy can hold, same bytes."""
    import safetensors

    path = _multi_file(ctx, {"format": "np"})
    with safetensors.safe_open(path, framework="numpy") as f:
        keys = sorted(f.keys())
        return {"keys": keys, "metadata": f.metadata(),
                "tensors": {k: ctx.attempt(lambda k=k: torch.from_numpy(f.get_tensor(k))) for k in keys}}


# -- save_model / load_model with tied weights --------------------------------------------------------

def tied_model(torch, extra: bool = False):
    """Embedding(4, 3) tied to the output Linear(3, 4) (and a bias-free Linear(2, 2) with ``extra``): the
    model of the save_model/load_model cases, and of the surface tracer's runs of them."""
    importlib.import_module("torch.nn")     # a submodule: imported here, never assumed (order independence)
    nn = torch.nn

    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(4, 3)
            self.head = nn.Linear(3, 4)
            self.head.weight = self.emb.weight
            if extra:
                self.extra = nn.Linear(2, 2, bias=False)

    return Tied()


def _tied_model(torch, ctx, extra: bool = False, fill: str = "special"):
    """The tied model, weights set from bytes with copy_."""
    m = tied_model(torch, extra)
    with torch.no_grad():
        if fill == "zeros":
            m.emb.weight.fill_(0)
            m.head.bias.fill_(0)
        else:
            m.emb.weight.copy_(ctx.input(_spec("float32", (4, 3), fill)))
            m.head.bias.copy_(ctx.input(_spec("float32", (4,), fill)))
        if extra:
            m.extra.weight.copy_(ctx.input(_spec("float32", (2, 2), "ordinary")))
    return m


def _state(ctx, model) -> dict:
    sd = model.state_dict()
    return {"keys": sorted(sd), "tensors": {k: ctx.tensor(v.detach()) for k, v in sorted(sd.items())},
            "still_tied": model.head.weight is model.emb.weight
            or model.head.weight.data_ptr() == model.emb.weight.data_ptr()}


@case(SAVE_MODEL, SAVE_MODEL, [param("tied", metadata=None), param("tied-with-metadata", metadata={"format": "pt"})],
      name="save_model_bytes")
def save_model_bytes(torch, ctx, metadata):
    """save_model(model, path) on an embedding tied to the output layer: one copy of the shared weight,
    the dropped name recorded in __metadata__, the exact bytes of the oracle's file."""
    st = _st()

    model = _tied_model(torch, ctx)
    path = ctx.path("model.safetensors")
    st.save_model(model, path, metadata=None if metadata is None else dict(metadata))
    return _save_obs(_read(path), "metadata-two-keys" if metadata else "")


# The file save_model writes for _tied_model (the kit writes it without torch).
def _tied_file(ctx, name="model.safetensors", drop_bias=False, unexpected=False) -> str:
    entries = [_entry("emb.weight", "float32", (4, 3)), _entry("head.bias", "float32", (4,))]
    if drop_bias:
        entries = entries[:1]
    if unexpected:
        entries.append(_entry("surplus", "float32", (2,)))
    return write_st(ctx.path(name), entries, {"head.weight": "emb.weight"})


def _load_model_params():
    out = [param(f"tied-strict-{b}", file="tied", strict=True, extra=False, backend=b) for b in ("mmap", "pread")]
    out += [param("missing-key-strict", file="no-bias", strict=True, extra=False, backend="mmap"),
            param("missing-key-non-strict", file="no-bias", strict=False, extra=False, backend="mmap"),
            param("unexpected-key-strict", file="surplus", strict=True, extra=False, backend="mmap"),
            param("unexpected-key-non-strict", file="surplus", strict=False, extra=False, backend="mmap"),
            param("model-has-extra-non-strict", file="tied", strict=False, extra=True, backend="mmap")]
    return out


@case(LOAD_MODEL, LOAD_MODEL, _load_model_params(), name="load_model")
def load_model(torch, ctx, file, strict, extra, backend):
    """load_model(model, path, strict=) into a zeroed tied model: the loaded weights, the tie kept,
    and the (missing, unexpected) lists (sorted); strict=True raises on either."""
    st = _st()

    if backend != "mmap" and not accepts(st.load_model, "backend"):
        return unsupported("load_model(backend='pread') (added in safetensors 0.8.0)")
    path = _tied_file(ctx, drop_bias=file == "no-bias", unexpected=file == "surplus")
    model = _tied_model(torch, ctx, extra=extra, fill="zeros")
    kw = {} if backend == "mmap" else {"backend": backend}
    missing, unexpected = st.load_model(model, path, strict=strict, **kw)
    return {"missing": sorted(missing), "unexpected": sorted(unexpected), "model": _state(ctx, model)}


@case(LOAD_MODEL, LOAD_MODEL, [param("tied-write-into-loaded")], name="load_model_no_writeback")
def load_model_no_writeback(torch, ctx):
    """Data safety: load_model then an in-place update of the loaded weights never changes the file."""
    st = _st()

    path = _tied_file(ctx)
    before = sha256(path)
    model = _tied_model(torch, ctx, fill="zeros")
    st.load_model(model, path)
    with torch.no_grad():
        model.emb.weight.fill_(0)
    return {"file_unchanged": sha256(path) == before}


# -- the nn.Module API save_model/load_model rely on ----------------------------------------------------

@case("nn.Module.state_dict", SAVE_MODEL, [param("tied")], name="module_state_dict")
def module_state_dict(torch, ctx):
    """state_dict() of the tied model lists both names (sorted here) for one shared weight."""
    model = _tied_model(torch, ctx)
    return _state(ctx, model)


@case("nn.Module.load_state_dict", LOAD_MODEL,
      [param("strict-false-partial", strict=False, names=("emb.weight", "surplus")),
       param("strict-false-all", strict=False, names=("emb.weight", "head.weight", "head.bias")),
       param("strict-true-surplus", strict=True, names=("emb.weight", "head.weight", "head.bias", "surplus"))],
      name="module_load_state_dict")
def module_load_state_dict(torch, ctx, strict, names):
    """load_state_dict(dict, strict=) copies the given tensors in and returns (missing_keys,
    unexpected_keys); strict=True raises RuntimeError on a surplus key."""
    model = _tied_model(torch, ctx, fill="zeros")
    shapes = {"emb.weight": (4, 3), "head.weight": (4, 3), "head.bias": (4,), "surplus": (2,)}
    sd = {n: ctx.input(_spec("float32", shapes[n], "ordinary")) for n in names}
    res = model.load_state_dict(sd, strict=strict)
    return {"missing": sorted(res[0]), "unexpected": sorted(res[1]), "model": _state(ctx, model)}
