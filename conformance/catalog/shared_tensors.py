"""``safetensors.torch._find_shared_tensors`` and its helpers ``storage_ptr``, ``storage_size``, ``_end_ptr``.

Before saving, safetensors groups tensors by ``(device, untyped_storage().data_ptr(),
untyped_storage().nbytes())``, skipping meta tensors (``device == torch.device("meta")``) and
empty storages, then splits each group by the byte ranges ``[data_ptr(), _end_ptr)``, where
``_end_ptr`` is ``view(-1)[-1].data_ptr() + itemsize``. ``_remove_duplicate_names`` keeps, per
group, a name that covers its whole storage.

Pointers are observed only as offsets from a storage's start or as equalities, never as
addresses. The last cases call the real safetensors helpers: in a target process
``safetensors.torch`` imports the target as ``torch``, so they run on the target's tensors.
"""
from __future__ import annotations

import ctypes

from ..dtypes import DTYPE_NAMES, DTYPES
from ..inputs import TensorInput
from ..observe import pointer_offset
from ..registry import case, param
from ._st_support import safetensors_torch

ORIGIN = "_find_shared_tensors"
ORIGIN_HELPERS = "storage_ptr/storage_size/_end_ptr"

_ALL = slice(None)


def _input(ctx, dtype: str, shape: tuple[int, ...], value_set: str = "special"):
    return ctx.input(TensorInput(dtype, shape, tuple(DTYPES[dtype].value_sets[value_set])))


# Derivations applied to a base tensor in the target: ("index", tuple), ("transpose",), ("flat",) is
# view(-1), ("as", dtype_name) is view(dtype), ("clone",) is clone().
def _derive(ctx, t, ops):
    for op in ops:
        kind = op[0]
        if kind == "index":
            t = t[op[1]]
        elif kind == "transpose":
            t = t.transpose(0, 1)
        elif kind == "flat":
            t = t.view(-1)
        elif kind == "as":
            t = t.view(ctx.dtype(op[1]))
        elif kind == "clone":
            t = t.clone()
        else:
            raise ValueError(f"unknown derivation {op!r}")
    return t


_VIEWS = {
    "base": (),
    "row-1": (("index", (1,)),),
    "rows-1:": (("index", (slice(1, None),)),),
    "element-2-3": (("index", (2, 3)),),
    "column-2": (("index", (_ALL, 2)),),
    "cols-::2": (("index", (_ALL, slice(None, None, 2))),),
    "cols-1::2": (("index", (_ALL, slice(1, None, 2))),),
    "size1-col": (("index", (_ALL, slice(1, 2))),),
    "transposed": (("transpose",),),
    "flat": (("flat",),),
    "as-uint8": (("as", "uint8"),),
    "zero-size-slice": (("index", (_ALL, slice(4, None))),),
    "clone": (("clone",),),
    "clone-of-row-1": (("index", (1,)), ("clone",)),
    "clone-of-cols-::2": (("index", (_ALL, slice(None, None, 2))), ("clone",)),
    "clone-of-transposed": (("transpose",), ("clone",)),
}


def _view_params(names, dtype="float32", extra=()):
    out = [param(f"{dtype}-{n}", dtype=dtype, view=n) for n in names]
    out += [param(f"{d}-{n}", dtype=d, view=n) for d, n in extra]
    return out


def _nbytes(dtype: str, shape) -> int:
    n = DTYPES[dtype].itemsize
    for s in shape:
        n *= s
    return n


def _sptr(t) -> int:
    return t.untyped_storage().data_ptr()


def _storage_bytes(t) -> bytes:
    s = t.untyped_storage()
    return ctypes.string_at(s.data_ptr(), s.nbytes())




# -- Tensor.untyped_storage / UntypedStorage.data_ptr / UntypedStorage.nbytes ------------------

@case("Tensor.untyped_storage", ORIGIN_HELPERS, _view_params(
    ["base", "row-1", "transposed", "cols-1::2"], extra=[("bfloat16", "row-1"), ("int64", "column-2")]))
def untyped_storage(torch, ctx, dtype, view):
    """A view's untyped_storage() is its base's whole buffer: nbytes() bytes at its data_ptr() are the
    base's bytes, and writes to the base show in it."""
    spec = TensorInput(dtype, (3, 4), tuple(DTYPES[dtype].value_sets["special"]))
    base_np = spec.numpy_base()
    base = ctx.input_from(spec, base_np)
    v = _derive(ctx, base, _VIEWS[view])
    return {"view": ctx.tensor(v), "storage_is_base_bytes": _storage_bytes(v) == ctx.raw_bytes(base),
            "base_writes_show": ctx.follows_writes(base, base_np, lambda: _storage_bytes(v))}


@case("UntypedStorage.data_ptr", ORIGIN, _view_params(
    ["base", "row-1", "element-2-3", "column-2", "transposed", "cols-1::2", "flat", "as-uint8", "clone",
     "clone-of-row-1"],
    extra=[("bfloat16", "row-1"), ("int64", "element-2-3"), ("float8_e5m2", "row-1")]), name="storage_data_ptr",
    reads={"offset_in_storage": "Tensor.data_ptr", "base_offset_in_storage": "Tensor.data_ptr"})
def storage_data_ptr(torch, ctx, dtype, view):
    """Views report their base's storage data_ptr() (clones do not); a tensor's data_ptr() is its
    storage's plus storage_offset * itemsize."""
    base = _input(ctx, dtype, (3, 4))
    other = _input(ctx, dtype, (3, 4), "ordinary")
    v = _derive(ctx, base, _VIEWS[view])
    return {"same_storage_as_base": _sptr(v) == _sptr(base), "same_storage_as_other": _sptr(v) == _sptr(other),
            "offset_in_storage": pointer_offset(v.data_ptr() - _sptr(v), _nbytes(dtype, (3, 4))),
            "base_offset_in_storage": pointer_offset(base.data_ptr() - _sptr(base), _nbytes(dtype, (3, 4))),
            "repeat_is_stable": _sptr(v) == _sptr(v)}


@case("UntypedStorage.nbytes", ORIGIN_HELPERS,
      [param(f"{d}-2x3", dtype=d, shape=(2, 3), view="base") for d in DTYPE_NAMES]
      + [param(f"float32-{n}", dtype="float32", shape=(3, 4), view=n) for n in
         ["row-1", "element-2-3", "transposed", "as-uint8", "zero-size-slice",
          "clone-of-row-1", "clone-of-cols-::2", "clone-of-transposed"]]
      + [param("bfloat16-row-1", dtype="bfloat16", shape=(3, 4), view="row-1"),
         param("float32-scalar", dtype="float32", shape=(), view="base"),
         param("float32-zero-size", dtype="float32", shape=(0, 3), view="base"),
         param("bfloat16-zero-size", dtype="bfloat16", shape=(0,), view="base")],
      name="storage_nbytes")
def storage_nbytes(torch, ctx, dtype, shape, view):
    """nbytes() is the size of the whole storage in bytes: the base's for any view, a clone's own size."""
    base = _input(ctx, dtype, shape)
    v = _derive(ctx, base, _VIEWS[view])
    n = v.untyped_storage().nbytes()
    return {"nbytes": n, "is_int": type(n) is int}


# -- _end_ptr: view(-1)[-1] ---------------------------------------------------------------------

@case("Tensor.view(-1)", ORIGIN_HELPERS, _view_params(
    ["base", "row-1", "rows-1:", "element-2-3", "column-2", "cols-::2", "size1-col", "transposed",
     "zero-size-slice"],
    extra=[("bfloat16", "row-1"), ("float8_e4m3fn", "element-2-3"), ("complex64", "base"), ("int64", "rows-1:")]),
    name="end_ptr", reads={"start_offset": "Tensor.data_ptr", "end_offset": "Tensor.data_ptr",
                           "end_from_data_ptr": "Tensor.data_ptr"})
def end_ptr(torch, ctx, dtype, view):
    """_end_ptr: view(-1)[-1].data_ptr() + itemsize, observed as an offset from the storage start and from
    data_ptr(). view(-1) works whenever the strides can be merged (also some non-contiguous views) and raises
    otherwise; it never copies."""
    base = _input(ctx, dtype, (3, 4))
    v = _derive(ctx, base, _VIEWS[view])
    ptr = v.data_ptr()
    item = DTYPES[dtype].itemsize
    limit = _nbytes(dtype, (3, 4))

    def from_storage(p: int):
        return pointer_offset(p - _sptr(v), limit)
    return {"nelement": v.nelement(), "start_offset": ctx.attempt(lambda: from_storage(ptr)) if ptr else "null",
            "flat": ctx.attempt(lambda: ctx.tensor(v.view(-1))),
            "flat_same_storage": ctx.attempt(lambda: _sptr(v.view(-1)) == _sptr(v)),
            "end_from_data_ptr": ctx.attempt(lambda: pointer_offset(v.view(-1)[-1].data_ptr() + item - ptr, limit)),
            "end_offset": ctx.attempt(lambda: from_storage(v.view(-1)[-1].data_ptr() + item))}


# -- devices -------------------------------------------------------------------------------------

_DEVICE_PAIRS = [("cpu", "cpu"), ("meta", "meta"), ("cpu", "meta"), ("meta", "cpu"), ("cpu", "cpu:0")]


@case("torch.device", ORIGIN, [param(f"{a}-vs-{b}".replace(":", "_"), a=a, b=b) for a, b in _DEVICE_PAIRS],
      name="device_compare")
def device_compare(torch, ctx, a, b):
    """torch.device compares by type and index (so "cpu" != "cpu:0"); equal devices hash equal, which is what
    grouping by (device, ptr, size) and `v.device != torch.device("meta")` rely on."""
    da, db = torch.device(a), torch.device(b)
    eq = bool(da == db)
    return {"eq": eq, "ne": bool(da != db), "equal_implies_same_hash": (not eq) or hash(da) == hash(db),
            "set_size": len({da, db}), "dict_lookup": {da: "found"}.get(db),
            "str": [str(da), str(db)], "type": [da.type, db.type], "index": [da.index, db.index]}


@case("Tensor.device", ORIGIN, name="device_grouping")
def device_grouping(torch, ctx):
    """A CPU tensor's device is != torch.device("meta"); tensors on one device give one set element, and
    (device, n, m) tuples of different tensors collide as dict keys."""
    a = _input(ctx, "float32", (2, 3))
    b = _input(ctx, "bfloat16", (4,))
    meta = ctx.attempt(lambda: str(torch.empty([2], device="meta").device))
    obs = {"cpu_ne_meta": bool(a.device != torch.device("meta")), "cpu_eq_meta": bool(a.device == torch.device("meta")),
           "set_size_cpu": len({a.device, b.device}),
           "key_collides": len({(a.device, 1, 2): 0, (b.device, 1, 2): 1}) == 1, "meta_device": meta}

    def with_meta():
        m = torch.empty([2], device="meta")
        return {"set_size": len({a.device, m.device}), "meta_eq_meta": bool(m.device == torch.device("meta")),
                "meta_ne_meta": bool(m.device != torch.device("meta"))}
    obs["with_meta"] = ctx.attempt(with_meta)
    return obs


_META = [("float32", [2, 3]), ("bfloat16", [2, 3]), ("int64", []), ("float8_e4m3fn", [4]), ("float32", [0, 3]),
         ("complex64", [3])]


@case("torch.empty(device=meta)", ORIGIN,
      [param(f"{d}-{'x'.join(map(str, s)) or 'scalar'}", dtype=d, shape=s) for d, s in _META], name="meta_tensor",
      reads={"data_ptr_is_zero": "Tensor.data_ptr", "storage_data_ptr_is_zero": "UntypedStorage.data_ptr"})
def meta_tensor(torch, ctx, dtype, shape):
    """A meta tensor has shape and dtype but no data: device.type "meta", data_ptr() 0, and a storage whose
    data_ptr() is 0 (safetensors skips such tensors when looking for shared storage)."""
    m = torch.empty(shape, dtype=ctx.dtype(dtype), device="meta")
    return {"device_type": m.device.type, "device_str": str(m.device),
            "eq_meta": bool(m.device == torch.device("meta")), "shape": [int(s) for s in m.shape],
            "dtype": ctx.dtype_name(m.dtype), "nelement": m.nelement(), "is_meta": ctx.attempt(lambda: m.is_meta),
            "data_ptr_is_zero": ctx.attempt(lambda: m.data_ptr() == 0),
            "storage_data_ptr_is_zero": ctx.attempt(lambda: m.untyped_storage().data_ptr() == 0),
            "storage_nbytes": ctx.attempt(lambda: m.untyped_storage().nbytes())}


# -- clone ---------------------------------------------------------------------------------------

@case("Tensor.clone", ORIGIN, _view_params(
    ["base", "row-1", "transposed", "cols-::2", "element-2-3", "zero-size-slice"],
    extra=[("bfloat16", "base"), ("float8_e5m2", "transposed")]))
def clone(torch, ctx, dtype, view):
    """clone() copies into a storage of its own (same bytes; strides kept for dense layouts such as a
    transpose, C order otherwise); writes to the original do not show in the clone."""
    spec = TensorInput(dtype, (3, 4), tuple(DTYPES[dtype].value_sets["special"]))
    base_np = spec.numpy_base()
    base = ctx.input_from(spec, base_np)
    v = _derive(ctx, base, _VIEWS[view])
    c = v.clone()
    obs = {"clone": ctx.tensor(c), "same_object": c is v, "storage_nbytes": c.untyped_storage().nbytes()}
    if c.nelement():
        obs["shares_storage"] = _sptr(c) == _sptr(v)
        obs["offset_in_storage"] = pointer_offset(c.data_ptr() - _sptr(c), _nbytes(dtype, (3, 4)))
        obs["original_writes_show"] = ctx.follows_writes(v, base_np, lambda: ctx.raw_bytes(c))
    return obs


# -- the real safetensors helpers, run on the target's tensors -------------------------------------

def _sd_tied(torch, ctx):
    w = _input(ctx, "float32", (3, 4))
    return {"a": w, "b": w}


def _sd_disjoint(torch, ctx):
    return {"a": _input(ctx, "float32", (3, 4)), "b": _input(ctx, "float32", (3, 4), "ordinary")}


def _sd_rows_disjoint(torch, ctx):
    w = _input(ctx, "float32", (3, 4))
    return {"r0": w[0], "r1": w[1], "r2": w[2]}


def _sd_rows_overlapping(torch, ctx):
    w = _input(ctx, "float32", (3, 4))
    return {"a": w[0:2], "b": w[1:3]}


def _sd_rows_adjacent(torch, ctx):
    w = _input(ctx, "float32", (3, 4))
    return {"a": w[0:2], "b": w[2:3]}


def _sd_full_and_row(torch, ctx):
    w = _input(ctx, "float32", (3, 4))
    return {"w": w, "w1": w[1]}


def _sd_full_and_flat(torch, ctx):
    w = _input(ctx, "float32", (3, 4))
    return {"w": w, "flat": w.view(-1)}


def _sd_dtype_view(torch, ctx):
    w = _input(ctx, "float32", (3, 4))
    return {"f": w, "u8": w.view(torch.uint8)}


def _sd_bf16_mixed(torch, ctx):
    w = _input(ctx, "bfloat16", (3, 4))
    return {"c": _input(ctx, "bfloat16", (3, 4), "ordinary"), "a": w, "b": w, "d": w[2]}


def _sd_interleaved(torch, ctx):
    w = _input(ctx, "float32", (3, 4))
    return {"even": w[:, ::2], "odd": w[:, 1::2]}


def _sd_transposed_tied(torch, ctx):
    w = _input(ctx, "float32", (3, 4))
    return {"w": w, "wt": w.t()}


def _sd_zero_size(torch, ctx):
    return {"a": _input(ctx, "float32", (3, 4)), "e": _input(ctx, "float32", (0, 3))}


def _sd_meta(torch, ctx):
    return {"a": _input(ctx, "float32", (3, 4)), "m": torch.empty([3, 4], device="meta")}


_STATE_DICTS = {
    "tied": _sd_tied, "disjoint": _sd_disjoint, "rows-disjoint": _sd_rows_disjoint,
    "rows-overlapping": _sd_rows_overlapping, "rows-adjacent": _sd_rows_adjacent,
    "full-and-row": _sd_full_and_row, "full-and-flat": _sd_full_and_flat, "dtype-view": _sd_dtype_view,
    "bfloat16-mixed": _sd_bf16_mixed, "interleaved-columns": _sd_interleaved,
    "transposed-tied": _sd_transposed_tied, "with-zero-size": _sd_zero_size, "with-meta": _sd_meta,
}


@case("safetensors.torch._find_shared_tensors", ORIGIN, [param(n, state_dict=n) for n in _STATE_DICTS],
      name="find_shared_tensors")
def find_shared_tensors(torch, ctx, state_dict):
    """The real _find_shared_tensors on the target's tensors: names grouped by shared, overlapping storage
    (observed as sorted lists of sorted names)."""
    st = safetensors_torch()
    groups = st._find_shared_tensors(_STATE_DICTS[state_dict](torch, ctx))
    return {"groups": sorted(sorted(g) for g in groups), "all_sets": all(isinstance(g, set) for g in groups)}


_REMOVE = {
    "tied": ("tied", {}),
    "tied-preferred-b": ("tied", {"preferred_names": ["b"]}),
    "tied-discard-a": ("tied", {"discard_names": ["a"]}),
    "disjoint": ("disjoint", {}),
    "full-and-rows": ("full-and-row", {}),
    "full-and-flat": ("full-and-flat", {}),
    "no-complete-name": ("rows-overlapping", {}),
}


@case("safetensors.torch._remove_duplicate_names", ORIGIN, [param(n, recipe=n) for n in _REMOVE],
      name="remove_duplicate_names")
def remove_duplicate_names(torch, ctx, recipe):
    """The real _remove_duplicate_names: per shared group, keep a name covering the whole storage (the
    preferred or non-discarded one first) and list the others; no such name raises RuntimeError."""
    st = safetensors_torch()
    sd_name, kwargs = _REMOVE[recipe]
    sd = _STATE_DICTS[sd_name](torch, ctx)
    if recipe == "full-and-rows":
        sd["rest"] = sd["w"][1:]
    out = st._remove_duplicate_names(sd, **kwargs)
    return {"to_remove": sorted([k, sorted(v)] for k, v in out.items())}


_HELPER_VIEWS = _view_params(["base", "row-1", "element-2-3", "cols-::2", "clone-of-row-1"],
                             extra=[("bfloat16", "row-1"), ("float8_e4m3fn", "base")])


@case("safetensors.torch.storage_ptr/storage_size/_end_ptr", ORIGIN_HELPERS, _HELPER_VIEWS, name="storage_helpers")
def storage_helpers(torch, ctx, dtype, view):
    """The real storage_ptr, storage_size, _end_ptr and _is_complete on a view of a base: offsets from the
    storage start, the storage's byte size, and whether the view covers all of it."""
    st = safetensors_torch()
    base = _input(ctx, dtype, (3, 4))
    v = _derive(ctx, base, _VIEWS[view])
    sp = st.storage_ptr(v)
    limit = _nbytes(dtype, (3, 4))
    return {"storage_ptr_is_base": sp == st.storage_ptr(base), "storage_ptr_nonzero": sp != 0,
            "storage_size": st.storage_size(v), "start_offset": pointer_offset(v.data_ptr() - sp, limit),
            "end_offset": ctx.attempt(lambda: pointer_offset(st._end_ptr(v) - sp, limit)),
            "is_complete": st._is_complete(v)}


@case("safetensors.torch.storage_ptr/storage_size/_end_ptr", ORIGIN_HELPERS,
      [param("meta-float32-3x4", kind="meta", dtype="float32"),
       param("meta-bfloat16-3x4", kind="meta", dtype="bfloat16"),
       param("zero-size-float32", kind="zero-size", dtype="float32")], name="storage_helpers_special")
def storage_helpers_special(torch, ctx, kind, dtype):
    """Meta tensors: storage_ptr 0, storage_size nelement * itemsize. Zero-size tensors: storage_size 0 and
    _end_ptr == data_ptr() == 0."""
    st = safetensors_torch()
    if kind == "meta":
        t = torch.empty([3, 4], dtype=ctx.dtype(dtype), device="meta")
    else:
        t = _input(ctx, dtype, (0, 3))
    limit = _nbytes(dtype, (3, 4))
    return {"storage_ptr_is_zero": ctx.attempt(lambda: st.storage_ptr(t) == 0) if kind == "meta" else None,
            "storage_size": ctx.attempt(lambda: st.storage_size(t)),
            "data_ptr_is_zero": t.data_ptr() == 0,
            "end_ptr_minus_data_ptr": ctx.attempt(lambda: pointer_offset(st._end_ptr(t) - t.data_ptr(), limit))}
