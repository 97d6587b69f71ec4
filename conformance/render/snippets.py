"""Standalone snippets: a few lines of `import torch` that show a cause's difference when run under the target.

A snippet is generated from a case's data, never written per case id: its parameters (dtype, shape,
view operations from conformance/inputs.py, bit patterns from conformance/dtypes.py), the cause's
API and the diff's fields. Each printed line starts with a label naming what it shows (``values``,
``stride``, ``shape``, ``dtype``, ``bytes``, ``aliasing``, ``raises``), so the output under the
target differs from PyTorch's exactly on the lines of the fields the cause names. Inputs are made
with ``torch.arange`` where only their layout matters, so a snippet needs no other API that might
be broken; bytes are built from the dtype's bit patterns only where the values themselves matter.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from math import prod
from typing import Any

from ..backends import identity
from ..dtypes import DTYPES
from ..inputs import TensorInput, _describe_view

MAX_ELEMENTS = 64          # larger inputs make no snippet a reader can follow
# Fields of a diff -> the label of the line that shows them.
LABELS = {"bytes": "values", "values": "values", "stride": "stride", "shape": "shape", "dtype": "dtype",
          "aliasing": "aliasing", "raises": "raises"}
_ARANGE_DTYPES = {"float64", "float32", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8"}
_TENSOR_METHODS = {"contiguous", "is_contiguous", "numpy", "data_ptr", "nelement", "numel", "element_size",
                   "storage_offset", "clone", "stride", "dim", "tolist", "untyped_storage", "cpu"}
_TENSOR_PROPERTIES = {"shape", "dtype", "device", "layout", "device.type", "nbytes", "itemsize", "ndim"}


@dataclass(frozen=True)
class Snippet:
    code: str
    shows: tuple[str, ...]     # labels of the lines whose output differs on the target
    case_id: str               # the case it was generated from ("" for a probe of the API alone)


def _tensor(spec: TensorInput, base_name: str = "base") -> list[str]:
    """Lines that build ``x``: the input's dtype, shape and views, with arange values."""
    n = prod(spec.shape)
    if spec.dtype in _ARANGE_DTYPES:
        make = f"torch.arange({n}, dtype=torch.{spec.dtype})"
    elif spec.dtype == "bool":
        make = f"torch.arange({n}) % 2 == 1"
    else:
        make = f"torch.arange({n}).to(torch.{spec.dtype})"
    views = "".join(_describe_view(op) for op in spec.views)
    return [f"{base_name} = {make}", f"x = {base_name}.reshape({list(spec.shape)}){views}   # {spec.describe()}"]


def _prints(var: str, labels: list[str], base: str | None = None) -> list[str]:
    out = []
    for label in labels:
        if label == "values":
            out.append(f'print("values", {var}.tolist())')
        elif label == "stride":
            out.append(f'print("stride", tuple({var}.stride()))')
        elif label == "shape":
            out.append(f'print("shape", tuple({var}.shape))')
        elif label == "dtype":
            out.append(f'print("dtype", {var}.dtype)')
        elif label == "aliasing" and base:
            out += [f"before = {var}.tolist()", f"{base}.fill_(7)",
                    f'print("aliasing", {var}.tolist() != before)   # does it share memory with its input?']
    return out


def _guarded(call: list[str], after: list[str]) -> list[str]:
    """The call, then what it printed; an exception is printed as its class and message."""
    return (["try:"] + ["    " + line for line in call] + ['    print("raises", None)']
            + ["except Exception as e:", '    print("raises", type(e).__name__, " ".join(str(e).split()))',
               "    raise SystemExit"] + after)


def _spec_of(params: dict[str, Any], case: Any) -> TensorInput | None:
    dtype = params.get("dtype")
    if not isinstance(dtype, str) or dtype not in DTYPES:
        return None
    if "shape" in params:
        shape = tuple(params["shape"])
        return TensorInput(dtype, shape, (), tuple(params.get("views") or ()))
    if "layout" in params and case is not None:
        make = getattr(__import__(case.fn.__module__, fromlist=["_spec"]), "_spec", None)
        if callable(make):
            try:
                spec = make(dtype, params["layout"])
            except Exception:     # a layout the module's helper does not know: no snippet
                return None
            return spec if isinstance(spec, TensorInput) else None
    return None


_RETURNS_TENSOR = {"reshape", "contiguous", "clone", "cpu", "to"}
_CALL_ARGS = {"to": '"cpu"'}        # the argument safetensors passes, for methods that need one


def _same_numbers(record: dict[str, Any]) -> bool:
    """Whether the oracle's and the target's results hold the same numbers, each read in its own dtype."""
    import numpy as np
    got = []
    for side in ("oracle", "observed"):
        r = ((record.get(side) or {}).get("value") or {}).get("result")
        spec = DTYPES.get(str(r.get("dtype"))) if isinstance(r, dict) else None
        if spec is None or not spec.numpy or not isinstance(r.get("bytes"), str):
            return False
        try:
            got.append(np.frombuffer(bytes.fromhex(r["bytes"]), dtype=spec.numpy).tolist())
        except ValueError:
            return False
    return got[0] == got[1]


def generate(record: dict[str, Any], case: Any, fields: list[str], group: str) -> Snippet | None:
    """A snippet for ``record`` (whose own call differs), or None when its inputs are not simple."""
    if group == "crash":
        return None
    params = dict(case.params.values) if case is not None and case.params else {}
    api, fn = record["api"], getattr(getattr(case, "fn", None), "__name__", "")
    labels = ["raises"] if group == "error" else sorted({LABELS[f] for f in fields if f in LABELS})
    if "values" in labels and "dtype" in labels and _same_numbers(record):
        labels.remove("values")       # the bytes differ only because the dtype's width does
    lines = None
    # Recipes for the case functions whose whole input is (dtype, bit patterns or a byte count);
    # other functions get one only when their input is a TensorInput and the API a plain Tensor call.
    if api == "torch.frombuffer" and fn in ("frombuffer", "frombuffer_error", "pread_frombuffer"):
        lines = _frombuffer(params, labels, keyword=fn.startswith("pread"))
    elif api == "torch.from_numpy" and fn == "from_numpy":
        lines = _from_numpy(params, labels)
    elif api in ("torch.empty", "torch.zeros") and fn in ("empty_zero_size", "pread_zeros"):
        lines = _factory(api, params, labels)
    elif record.get("module") == "replay":
        return replay(record, labels, group)
    elif api.startswith("Tensor."):
        lines, labels = _tensor_call(api[len("Tensor."):], params, case, labels, group)
    if not lines or not labels:
        return None
    return Snippet("\n".join(["import torch"] + lines) + "\n", tuple(labels), record["id"])


def _tensor_call(name: str, params: dict[str, Any], case: Any, labels: list[str],
                 group: str) -> tuple[list[str] | None, list[str]]:
    """A Tensor method or property on the case's input, rebuilt with arange values."""
    spec = _spec_of(params, case)
    if spec is None or prod(spec.shape) > MAX_ELEMENTS:
        return None, labels
    if name == "reshape" and "to" in params:
        call = f"y = x.reshape({list(params['to'])})"
    elif name in _TENSOR_METHODS or name in _CALL_ARGS:
        call = f"y = x.{name}({_CALL_ARGS.get(name, '')})"
    elif name in _TENSOR_PROPERTIES:
        call = f"y = x.{name}"
    else:
        return None, labels
    if group == "error":
        after: list[str] = []
    elif name in _RETURNS_TENSOR:
        if not labels:
            return None, labels
        after = _prints("y", labels, "base")
    else:                     # a scalar, a dtype, a device: print it whole
        labels, after = ["result"], ['print("result", y)']
    body = _guarded([call], after) if group == "error" else [call] + after
    return _tensor(spec) + body, labels


def _frombuffer(params: dict[str, Any], labels: list[str], keyword: bool) -> list[str] | None:
    dtype = params.get("dtype")
    if dtype not in DTYPES:
        return None
    if "nbytes" in params:
        return _guarded([f"torch.frombuffer(bytearray({int(params['nbytes'])}), dtype=torch.{dtype})"], [])
    spec = DTYPES[dtype]
    bits = spec.value_sets.get(params.get("value_set") or "ordinary") or spec.value_sets.get("ordinary")
    if not bits:
        return None
    raw = spec.pack(list(bits)).hex()
    build = [f'buf = bytearray.fromhex("{raw}")   # {dtype} {params.get("value_set", "ordinary")} values, as stored',
             f"t = torch.frombuffer({'buffer=' if keyword else ''}buf, dtype=torch.{dtype})"]
    after = []
    if "values" in labels:
        after.append('print("values", bytes(t.view(torch.uint8).tolist()).hex())   # the raw bytes it reads')
    if "aliasing" in labels:
        # Every bit of the buffer flipped (bool: its one bit), so every element changes and none stays a NaN;
        # read back through tolist only (view(dtype) may be what the backend breaks) and compared as text,
        # since NaN != NaN would make a copy look changed.
        flip = "0x01" if dtype == "bool" else "0xff"
        after += ["before = str(t.tolist())", f"buf[:] = bytes(b ^ {flip} for b in buf)   # write into the buffer",
                  'print("aliasing", str(t.tolist()) != before)   # does the tensor see it?']
    if "shape" in labels or "dtype" in labels:
        after.append('print("shape", tuple(t.shape))' if "shape" in labels else 'print("dtype", t.dtype)')
    return build[:1] + (_guarded(build[1:], after) if "raises" in labels else build[1:] + after)


def _from_numpy(params: dict[str, Any], labels: list[str]) -> list[str] | None:
    dtype = params.get("dtype")
    spec = DTYPES.get(dtype)
    if spec is None or not spec.numpy:
        return None
    build = ["import numpy as np   # the route under test takes a numpy array",
             f'a = np.arange(6).astype("{spec.numpy}").reshape(2, 3)', "t = torch.from_numpy(a)"]
    after = []
    if "values" in labels:
        after.append('print("values", t.tolist())')
    if "aliasing" in labels:
        after += ["a[0, 0] = 1 - a[0, 0]", 'print("aliasing", t[0, 0].item() == a[0, 0].item())   # shares memory?']
    if "dtype" in labels:
        after.append('print("dtype", t.dtype)')
    if "shape" in labels or "stride" in labels:
        after.append('print("shape", tuple(t.shape), "stride", tuple(t.stride()))')
    return build[:2] + (_guarded(build[2:], after) if "raises" in labels else build[2:] + after)


def _factory(api: str, params: dict[str, Any], labels: list[str]) -> list[str] | None:
    dtype, shape = params.get("dtype"), params.get("shape")
    if dtype not in DTYPES or shape is None:
        return None
    call = [f"t = {api}({list(shape)}, dtype=torch.{dtype})"]
    after = _prints("t", [lb for lb in labels if lb in ("shape", "stride", "dtype")])
    return _guarded(call, after) if "raises" in labels else call + after


_MODULE_ATTR = re.compile(r"^torch(\.[A-Za-z_]\w*)+$")
_TENSOR_ATTR = re.compile(r"^Tensor\.([A-Za-z_]\w*)$")
_TENSOR_DTYPE_CALL = re.compile(r"^Tensor\.([A-Za-z_]\w*)\(dtype\)$")
_NO_MODULE = re.compile(r"ModuleNotFoundError|No module named")
_MISSING = re.compile(r"AttributeError|has no attribute|has no torch\.|missing", re.I)


def probe(api: str, evidence: str) -> Snippet | None:
    """A snippet for a cause known only from the rows it blocks: touch the API itself, built from its name.

    A missing ``torch.X`` or ``Tensor.X`` (the evidence names an AttributeError) is looked up; a
    ``Tensor.m(dtype)`` is called with ``dtype=`` on a uint8 tensor. Anything else has no probe."""
    if _MODULE_ATTR.match(api) and _NO_MODULE.search(evidence):
        call = f"import {api}"        # a submodule the workload imports
    elif _MODULE_ATTR.match(api) and _MISSING.search(evidence):
        call = f"_ = {api}"
    elif _TENSOR_ATTR.match(api) and _MISSING.search(evidence):
        call = f"_ = torch.zeros(4).{_TENSOR_ATTR.match(api).group(1)}"
    elif _TENSOR_DTYPE_CALL.match(api):
        call = f"_ = torch.zeros(4, dtype=torch.uint8).{_TENSOR_DTYPE_CALL.match(api).group(1)}(dtype=torch.float32)"
    else:
        return None
    return Snippet("\n".join(["import torch"] + _guarded([call], [])) + "\n", ("raises",), "")


SNIPPET_FILE = "snippet.py"
_SITE_DIRS = ("site-packages", "dist-packages")


def backend_path(header: dict[str, Any]) -> str | None:
    """The folder the run put on the target's sys.path, from results.json's run header: its recorded
    ``backend_path`` when there is one, else the folder holding the module ``import torch`` gave (none
    for the oracle, or a module installed into site-packages, which any Python finds)."""
    recorded = (header.get("target_spec") or {}).get("backend_path") or header.get("backend_path")
    if isinstance(recorded, list):
        recorded = recorded[0] if recorded else None
    if isinstance(recorded, str) and recorded:
        return recorded
    env = header.get("target_env") or {}
    module, file = str(env.get("module") or ""), str(env.get("file") or "")
    if not module or not file or env.get("uses_real_torch") or module == "torch":
        return None
    from pathlib import PurePath
    p = PurePath(file)
    root = p.parent if p.name == "__init__.py" else p
    for _ in module.split("."):
        root = root.parent
    return None if root.name in _SITE_DIRS else str(root)


def exec_words(header: dict[str, Any]) -> list[str] | None:
    """``python -m conformance exec --target T [--backend-path D] ...`` for the run's target, as words up to
    the ``--`` that precedes the command it runs (None when the header names no target)."""
    target = header.get("target") or (header.get("target_env") or {}).get("target")
    if not target:
        return None
    path = backend_path(header)
    spec = header.get("target_spec") or {}
    uses_torch = str(target).startswith("module:") and spec.get("declared_uses_real_torch")
    sources = identity.token(spec.get("sources"))
    return (["python", "-m", "conformance", "exec", "--target", str(target)]
            + (["--backend-path", path] if path else []) + (["--target-uses-torch"] if uses_torch else [])
            + (["--sources", sources] if sources else []))


def exec_command(header: dict[str, Any], script: str = SNIPPET_FILE) -> str | None:
    """``python -m conformance exec --target T [--backend-path D] -- python snippet.py`` for the run's target."""
    import shlex
    words = exec_words(header)
    return None if words is None else shlex.join([*words, "--", "python", script])


# -- replay rows: the recorded call, on inputs built the way the kit builds them ------------------------

_CALL_INDEX = re.compile(r"^value\.calls\[(\d+)\]")
_REPLAY_ID = re.compile(r"^replay\[([^-\]]+)-")


_RECORDINGS: dict[tuple[str, float], Any] = {}


def _recording(Recording, folder):
    """One read of each recording per report: the fix list is made for the checklist and the page, and every
    replay row's snippet looks its call up (reading and checking a trace.json took 0.09 s, 56 times a run)."""
    key = (str(folder), (folder / "trace.json").stat().st_mtime)
    if key not in _RECORDINGS:
        _RECORDINGS[key] = Recording(folder)
    return _RECORDINGS[key]


def _recorded_call(model: str, entry: dict[str, Any], api: str):
    """(recording, call) for a replayed call: the recording of ``model`` already on disk (never made here)
    whose call of that index has that API and caller line, the one this kit's replay rows use first (another
    kit version's, newer on disk, holds other calls at those indexes), then the others newest first; (None,
    None) when none has."""
    try:
        from ..catalog import _hf_models
        from ..trace import cache
        from ..trace.store import Recording
        folders = sorted((p for p in _hf_models.root().glob(f"trace-{model}_*") if (p / "trace.json").is_file()),
                         key=lambda p: -p.stat().st_mtime)
    except Exception:      # no transformers, no models folder: no snippet
        return None, None
    try:
        mine = cache.folder(model)
    except Exception:      # no torch version to key it by (a report rendered elsewhere): newest first
        mine = None
    folders.sort(key=lambda p: p != mine)
    for folder in folders:
        try:
            rec = _recording(Recording, folder)
            call = next((c for c in rec.calls if c.get("i") == entry.get("call")), None)
        except Exception:  # an unreadable or older recording
            continue
        caller = call.get("caller") or {} if call else {}
        if call and call.get("api", "").endswith(api.removeprefix("torch.")) \
                and f"{caller.get('file', '?')}:{caller.get('line', '?')}" == entry.get("at"):
            return rec, call
    return None, None


def _literal(enc: Any, tensors: list[dict[str, Any]]) -> str | None:
    """Python source for a recorded argument; a tensor becomes ``x<n>`` (built before the call)."""
    k = enc.get("k") if isinstance(enc, dict) else None
    if k == "tensor":
        tensors.append(enc)
        return f"x{len(tensors) - 1}"
    if k == "none":
        return "None"
    if k in ("bool", "int", "str"):
        return repr(enc["v"])
    if k == "float":
        return repr(float.fromhex(enc["v"]))
    if k in ("tuple", "list", "size"):
        items = [_literal(x, tensors) if k != "size" else repr(x) for x in enc["v"]]
        if any(i is None for i in items):
            return None
        body = ", ".join(items) + ("," if k == "tuple" and len(items) == 1 else "")
        return f"({body})" if k == "tuple" else f"[{body}]" if k == "list" else f"torch.Size([{body}])"
    if k in ("dtype", "memory_format", "layout"):
        return f"torch.{enc['v']}"
    if k == "device":
        return f"torch.device({enc['v']!r})"
    if k == "slice":
        parts = [_literal(x, tensors) for x in enc["v"]]
        return None if any(p is None for p in parts) else f"slice({', '.join(parts)})"
    if k == "ellipsis":
        return "..."
    return None


def _build_lines(name: str, spec: dict[str, Any], data: bytes) -> list[str] | None:
    """``name`` built as the kit's replay builds it (conformance/trace/store.build_tensor): ``from_numpy`` of a
    numpy view with the recorded strides (an offset through ``as_strided``). Its values are the recorded
    bytes when they are few, else ``arange`` stand-ins of the same dtype and layout."""
    d = DTYPES.get(spec["dtype"])
    if d is None or d.numpy is None:
        return None
    shape, stride, offset = list(spec["shape"]), list(spec["stride"]), int(spec["offset"])
    n = len(data) // d.storage_numpy.itemsize
    if n <= MAX_ELEMENTS:
        base = f'np.frombuffer(bytearray.fromhex("{data.hex()}"), dtype="{d.storage_numpy.str}")   # the recorded bytes'
    else:
        base = f'np.arange({n}).astype("{d.storage_numpy.str}")   # {n} stand-in values, the recorded layout'
    item = d.storage_numpy.itemsize
    lines = [f"{name}_storage = {base}"]
    if offset == 0:
        lines += [f"{name} = torch.from_numpy(np.lib.stride_tricks.as_strided({name}_storage, shape={tuple(shape)}, "
                  f"strides={tuple(s * item for s in stride)}))"]
    else:
        lines += [f"{name} = torch.from_numpy({name}_storage).as_strided({shape}, {stride}, {offset})"]
    return lines


def replay(record: dict[str, Any], labels: list[str], group: str) -> Snippet | None:
    """A snippet for a replay row: the first call whose result differs, with its recorded arguments and the
    input layout (variant) it failed on, inputs built as the kit built them."""
    m = _REPLAY_ID.match(record.get("id", ""))
    path = next((str(d.get("path")) for d in record.get("diffs") or [] if _CALL_INDEX.match(str(d.get("path")))), "")
    index = _CALL_INDEX.match(path)
    if not m or not index or group == "crash":
        return None
    calls = ((record.get("observed") or {}).get("value") or {}).get("calls") or []
    entry = calls[int(index.group(1))] if int(index.group(1)) < len(calls) else None
    if not isinstance(entry, dict):
        return None
    rec, call = _recorded_call(m.group(1), entry, record.get("api", ""))
    if call is None:
        return None
    tensors: list[dict[str, Any]] = []
    args = [_literal(a, tensors) for a in call["args"]]
    kwargs = {k: _literal(v, tensors) for k, v in call["kwargs"].items()}
    if any(a is None for a in args) or any(v is None for v in kwargs.values()):
        return None
    from ..trace.store import relaid
    build: list[str] = []
    for i, spec in enumerate(tensors):
        data = rec.blob(spec["blob"])
        if entry.get("variant", "recorded") != "recorded":
            try:
                spec, data = relaid(spec, data, entry["variant"])
            except ValueError:    # a layout variant this checkout's replay does not know
                return None
        lines = _build_lines(f"x{i}", spec, data)
        if lines is None:
            return None
        build += lines
    api = call["api"].removeprefix("torch.")
    argv = ", ".join(list(args) + [f"{k}={v}" for k, v in kwargs.items()])
    if api.startswith("Tensor.") and args:
        method = api[len("Tensor."):]
        expr = f"{args[0]}.{method}({', '.join(list(args[1:]) + [f'{k}={v}' for k, v in kwargs.items()])})"
        if method == "__contains__" and len(args) == 2:
            expr = f"{args[1]} in {args[0]}"
    elif "." not in api or api.startswith("nn.functional."):
        expr = f"torch.{api}({argv})"
    else:
        return None
    labels = ["raises"] if group == "error" else [lb for lb in labels if lb in ("values", "stride", "shape", "dtype")]
    if not labels:
        return None
    where = f"# call {call['i']} of {m.group(1)}'s forward pass ({entry.get('at')}), its inputs in the " \
            f"{entry.get('variant', 'recorded')} layout"
    show = ["ys = y if isinstance(y, (tuple, list)) else (y,)"]
    for lb in labels:
        if lb == "values":
            show.append('print("values", [t.tolist() for t in ys])')
        elif lb == "stride":
            show.append('print("stride", [tuple(t.stride()) for t in ys])')
        elif lb == "shape":
            show.append('print("shape", [tuple(t.shape) for t in ys])')
        elif lb == "dtype":
            show.append('print("dtype", [t.dtype for t in ys])')
    head = ["import numpy as np   # the kit builds replay inputs with from_numpy of a strided numpy view", where]
    if api.startswith("nn.functional."):    # as the model's code imports it: `import torch` alone need not bring it
        head.insert(0, "import torch.nn.functional")
    body = _guarded([f"y = {expr}"], []) if group == "error" else [f"y = {expr}"] + show
    return Snippet("\n".join(["import torch"] + head + build + body) + "\n", tuple(labels), record["id"])


_BLOCKED_INPUT = re.compile(r"^call (\d+) arg \d+ \((\w+) layout\): (\w+) \[([\d, ]*)\] strides \[([\d, -]*)\] offset (\d+)")


def blocked_input(record: dict[str, Any]) -> Snippet | None:
    """A snippet for a replay row blocked while the kit built its input: that input, built the kit's way
    (``from_numpy`` of a strided numpy view, ``as_strided`` for an offset), and its layout and values."""
    c = record.get("cause") or {}
    m = _BLOCKED_INPUT.match(str(c.get("evidence") or ""))
    if record.get("module") != "replay" or c.get("phase") != "input" or not m:
        return None
    dtype = m.group(3)
    shape, stride = ([int(x) for x in g.split(",") if x.strip()] for g in m.group(4, 5))
    offset = int(m.group(6))
    spec = DTYPES.get(dtype)
    if spec is None or spec.numpy is None or any(s < 0 for s in stride):
        return None
    n = offset + 1 + sum((d - 1) * s for d, s in zip(shape, stride) if d > 0)
    lines = _build_lines("x", {"dtype": dtype, "shape": shape, "stride": stride, "offset": offset},
                         b"\0" * max(n, MAX_ELEMENTS + 1) * spec.storage_numpy.itemsize)
    if lines is None:
        return None
    head = ["import numpy as np   # the kit builds replay inputs with from_numpy of a strided numpy view",
            f"# input of call {m.group(1)}, {m.group(2)} layout: {dtype} {shape} strides {stride} offset {offset}"]
    # the lines the evidence says came out wrong ("built as {'stride': ...}", or a build error)
    wrong = str(c.get("evidence")).partition(" built as ")[2]
    shows = ["raises"] if "build_error" in wrong else [lb for key, lb in (("'stride'", "stride"), ("'dtype'", "dtype"),
                                                                           ("'shape'", "shape"), ("bytes", "values"),
                                                                           ("sha256", "values")) if key in wrong]
    shows = list(dict.fromkeys(shows))
    if not shows:
        return None
    after = [line for lb, line in (("stride", 'print("stride", tuple(x.stride()), "offset", x.storage_offset())'),
                                   ("dtype", 'print("dtype", x.dtype)'), ("shape", 'print("shape", tuple(x.shape))'),
                                   ("values", 'print("values", x.flatten().tolist())')) if lb in shows]
    return Snippet("\n".join(["import torch"] + head + _guarded(lines, after)) + "\n", tuple(sorted(shows)),
                   record["id"])
