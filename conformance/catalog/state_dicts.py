"""What safetensors relies on around state dicts and meta tensors.

``load_model`` hands the loaded tensors to ``model.load_state_dict(state_dict, strict=False)``, then unpacks
its ``(missing, unexpected)`` and takes the tied names out of ``missing``: so the copy semantics (the
parameters keep their own memory; writing to a loaded tensor afterwards changes nothing), the key lists
with tied weights and the named tuple it returns are safetensors' contract with torch. ``save`` moves a
tensor off another device with ``to("cpu")`` before reading its memory, so saving a meta tensor must raise
there, as torch's does; ``_find_shared_tensors`` skips meta tensors, whose storage ``data_ptr()`` is 0.
"""
from __future__ import annotations

import importlib

from ..dtypes import DTYPES
from ..inputs import TensorInput
from ..observe import Blocked
from ..registry import case, param
from ._st_support import safetensors_torch
from .st_entrypoints import LOAD_MODEL, SAVE, SAVE_FILE, _file_obs, tied_model

LOAD_STATE_DICT = "nn.Module.load_state_dict"


def _input(ctx, dtype: str, shape: tuple[int, ...], value_set: str = "ordinary"):
    return ctx.input(TensorInput(dtype, shape, tuple(DTYPES[dtype].value_sets[value_set])))


def _nn(torch):
    importlib.import_module("torch.nn")     # a submodule: imported here, never assumed (order independence)
    return torch.nn


def _bytes(ctx, p) -> dict:
    return ctx.tensor(p.detach())


# -- load_state_dict copies in ----------------------------------------------------------------------

def _linear(torch, ctx):
    m = _nn(torch).Linear(3, 2)
    return m, {"weight": m.weight, "bias": m.bias}


def _tied(torch, ctx):
    m = tied_model(torch)
    return m, {"emb.weight": m.emb.weight, "head.bias": m.head.bias}


_SOURCES = {   # variant -> (model maker, {key: (dtype, shape)} of the state dict given)
    "linear-float32": (_linear, {"weight": ("float32", (2, 3)), "bias": ("float32", (2,))}),
    "linear-from-bfloat16": (_linear, {"weight": ("bfloat16", (2, 3)), "bias": ("bfloat16", (2,))}),
    "tied-one-name": (_tied, {"emb.weight": ("float32", (4, 3)), "head.bias": ("float32", (4,))}),
}


@case(LOAD_STATE_DICT, LOAD_MODEL, [param(v, variant=v) for v in _SOURCES], name="load_state_dict_copies",
      reads={"source_write_took": "Tensor.fill_", "shares_memory_with_source": "Tensor.data_ptr"})
def load_state_dict_copies(torch, ctx, variant):
    """load_state_dict(sd, strict=False), as load_model calls it, copies the given tensors into the model's own
    parameters (converting a bfloat16 source to their float32): the same Parameter objects, memory of their
    own; filling the source afterwards changes no parameter, and filling a parameter changes no source."""
    make, keys = _SOURCES[variant]
    model, params = make(torch, ctx)
    sd = {k: _input(ctx, d, s) for k, (d, s) in keys.items()}
    model.load_state_dict(sd, strict=False)
    obs = {"loaded": {k: _bytes(ctx, p) for k, p in params.items()},
           "same_parameters": all(_getattr_path(model, k) is p for k, p in params.items()),
           "shares_memory_with_source": ctx.attempt(
               lambda: any(p.data_ptr() == sd[k].data_ptr() for k, p in params.items())),
           "requires_grad": [bool(p.requires_grad) for p in params.values()]}
    before = {k: ctx.raw_bytes(v) for k, v in sd.items()}
    for v in sd.values():
        v.fill_(0)
    obs["source_write_took"] = all(ctx.raw_bytes(v) != before[k] for k, v in sd.items())
    obs["after_source_write"] = {k: _bytes(ctx, p) for k, p in params.items()}
    with torch.no_grad():
        for p in params.values():
            p.fill_(7)
    obs["source_after_parameter_write"] = {k: ctx.tensor(v) for k, v in sd.items()}
    return obs


def _getattr_path(model, dotted: str):
    for part in dotted.split("."):
        model = getattr(model, part)
    return model


# -- missing and unexpected keys with tied weights ---------------------------------------------------------

_SHAPES = {"emb.weight": (4, 3), "head.weight": (4, 3), "head.bias": (4,), "surplus": (2,), "head.extra": (3,),
           "model.emb.weight": (4, 3), "model.head.bias": (4,)}
_KEY_SETS = {
    "tied-first-name": ("emb.weight", "head.bias"),
    "tied-second-name": ("head.weight", "head.bias"),
    "tied-both-names": ("emb.weight", "head.weight", "head.bias"),
    "tied-missing-and-unexpected": ("emb.weight", "surplus", "head.extra"),
    "prefixed": ("model.emb.weight", "model.head.bias"),
}


def _given(ctx, key: str):
    """The tensor given for ``key``: head.weight's values differ from emb.weight's, to show which one wins."""
    ordinary = tuple(DTYPES["float32"].value_sets["ordinary"])
    bits = (0x40000000, 0x40400000, 0xBF800000) if key == "head.weight" else ordinary
    return ctx.input(TensorInput("float32", _SHAPES[key], bits))


def _keys_params():
    out = [param(f"{k}-non-strict", keys=k, strict=False) for k in _KEY_SETS]
    out += [param("tied-first-name-strict", keys="tied-first-name", strict=True),
            param("tied-both-names-strict", keys="tied-both-names", strict=True)]
    return out


@case(LOAD_STATE_DICT, LOAD_MODEL, _keys_params(), name="load_state_dict_keys")
def load_state_dict_keys(torch, ctx, keys, strict):
    """load_state_dict(sd, strict=) on an embedding tied to the output layer: the missing and unexpected keys
    (a tied name not given is missing, although its weight was loaded under the other name), the weights it
    ends with (with both names given, the later module's wins) and the tie kept; strict=True raises
    RuntimeError on a missing key."""
    model = tied_model(torch)
    with torch.no_grad():
        model.emb.weight.fill_(0)
        model.head.bias.fill_(0)
    sd = {k: _given(ctx, k) for k in _KEY_SETS[keys]}
    res = model.load_state_dict(sd, strict=strict)
    return {"missing": sorted(res.missing_keys), "unexpected": sorted(res.unexpected_keys),
            "emb.weight": _bytes(ctx, model.emb.weight), "head.bias": _bytes(ctx, model.head.bias),
            "still_tied": model.head.weight is model.emb.weight}


_RESULTS = {"mismatch-non-strict": (("emb.weight", "surplus"), False),
            "all-match-non-strict": (("emb.weight", "head.weight", "head.bias"), False),
            "all-match-strict": (("emb.weight", "head.weight", "head.bias"), True)}


@case(LOAD_STATE_DICT, LOAD_MODEL, [param(k, case_keys=k) for k in _RESULTS], name="load_state_dict_result")
def load_state_dict_result(torch, ctx, case_keys):
    """What load_state_dict returns behaves like torch's named tuple: a tuple of two lists, also named
    missing_keys and unexpected_keys, that unpacks as `missing, unexpected = ...` (as load_model does) and
    equals the plain tuple of its lists."""
    names, strict = _RESULTS[case_keys]
    model = tied_model(torch)
    res = model.load_state_dict({k: _input(ctx, "float32", _SHAPES[k]) for k in names}, strict=strict)
    a = ctx.attempt

    def unpacked():
        missing, unexpected = res      # as load_model unpacks it
        return [sorted(missing), sorted(unexpected)]
    return {"is_tuple": isinstance(res, tuple), "len": a(lambda: len(res)),
            "fields": a(lambda: list(res._fields)),
            "missing_keys": a(lambda: sorted(res.missing_keys)),
            "unexpected_keys": a(lambda: sorted(res.unexpected_keys)),
            "unpacked": a(unpacked),
            "index_is_field": a(lambda: res[0] is res.missing_keys and res[1] is res.unexpected_keys),
            "lists": a(lambda: [type(res.missing_keys).__name__, type(res.unexpected_keys).__name__]),
            "equals_plain_tuple": a(lambda: bool(res == (list(res.missing_keys), list(res.unexpected_keys))))}


# -- meta tensors -------------------------------------------------------------------------------------

META_EMPTY = "torch.empty(device=meta)"     # the rows of shared_tensors.meta_tensor


def _meta(torch, ctx, dtype: str = "float32", shape=(2, 3)):
    """A meta tensor, the case's input: a target that cannot make one blocks the row (so that its exception is
    never taken for the one to("cpu") or save must raise)."""
    dt = ctx.dtype(dtype)
    try:
        return torch.empty(list(shape), dtype=dt, device="meta")
    except Exception as e:
        raise Blocked(META_EMPTY, "input", f"{type(e).__name__}: {str(e)[:300]}") from None


_SAVE_META = {"float32-2x3": ("float32", False), "bfloat16-2x3": ("bfloat16", False),
              "float32-2x3-beside-a-cpu-tensor": ("float32", True)}


def _meta_dict(torch, ctx, variant):
    dtype, with_cpu = _SAVE_META[variant]
    sd = {"m": _meta(torch, ctx, dtype)}
    if with_cpu:
        sd["c"] = _input(ctx, "float32", (2, 3))
    return sd


@case(SAVE, "_to_ndarray", [param(v, variant=v) for v in _SAVE_META], name="save_meta")
def save_meta(torch, ctx, variant):
    """save() of a meta tensor raises where torch's does (`to("cpu")` of a tensor without data:
    NotImplementedError), instead of writing a file of its shape."""
    return {"bytes": safetensors_torch().save(_meta_dict(torch, ctx, variant)).hex()}


@case(SAVE_FILE, "_to_ndarray", [param(v, variant=v) for v in _SAVE_META], name="save_file_meta")
def save_file_meta(torch, ctx, variant):
    """save_file() of a meta tensor raises as torch's does."""
    path = ctx.path("meta.safetensors")
    safetensors_torch().save_file(_meta_dict(torch, ctx, variant), path)
    with open(path, "rb") as f:
        return _file_obs(f.read())


def _where(ctx, t) -> dict:
    return {"device_type": t.device.type, "dtype": ctx.dtype_name(t.dtype), "shape": [int(s) for s in t.shape],
            "is_meta": ctx.attempt(lambda: t.is_meta)}


_META_TO = {
    "meta-to-cpu": lambda torch, ctx: _meta(torch, ctx).to("cpu"),
    "meta-to-cpu-device": lambda torch, ctx: _meta(torch, ctx).to(torch.device("cpu")),
    "meta-to-float16": lambda torch, ctx: _meta(torch, ctx).to(torch.float16),
    "cpu-to-meta": lambda torch, ctx: _input(ctx, "float32", (2, 3)).to("meta"),
}


@case("Tensor.to", "_to_ndarray", [param(v, variant=v) for v in _META_TO], name="meta_to")
def meta_to(torch, ctx, variant):
    """to("cpu") of a meta tensor raises NotImplementedError (it has no data to copy), as safetensors' save
    relies on; to(dtype) keeps it meta; to("meta") of a CPU tensor makes one."""
    return _where(ctx, _META_TO[variant](torch, ctx))


def _meta_storage_of(torch, ctx, variant):
    if variant == "parameter":
        return _nn(torch).Linear(3, 2, device="meta").weight
    if variant == "row-1-view":
        return _meta(torch, ctx)[1]
    if variant == "zero-size":
        return _meta(torch, ctx, "float32", (0, 3))
    return _meta(torch, ctx, variant, (2, 3))


@case("UntypedStorage.data_ptr", "_find_shared_tensors",
      [param(v, variant=v) for v in ("float32", "bfloat16", "float8_e4m3fn", "row-1-view", "zero-size", "parameter")],
      name="meta_storage_data_ptr", reads={"storage_device_type": "UntypedStorage.device"})
def meta_storage_data_ptr(torch, ctx, variant):
    """A meta tensor's untyped_storage().data_ptr() is 0, an int, for views and meta parameters too (what
    storage_ptr returns, and why _find_shared_tensors never groups meta tensors)."""
    t = _meta_storage_of(torch, ctx, variant)
    s = t.untyped_storage()

    def data_ptr():        # observed, not raised: a storage whose data_ptr() raises is this row's finding
        ptr = s.data_ptr()
        return {"zero": ptr == 0, "is_int": type(ptr) is int}
    return {"data_ptr": ctx.attempt(data_ptr), "storage_device_type": ctx.attempt(lambda: s.device.type)}
