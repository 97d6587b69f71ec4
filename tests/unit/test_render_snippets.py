"""conformance/render/snippets.py, its pure parts: a snippet is valid Python that starts with ``import torch``,
prints one line per label it claims to show (and only those), is generated from the case's data (dtype,
shape, views, bit patterns), refuses inputs a reader could not follow, and puts backend strings into Python
and shell source only quoted. The snippets are parsed here, never run: no torch needed."""
from __future__ import annotations

import ast
import shlex
from types import SimpleNamespace

import pytest

from conformance.dtypes import DTYPES
from conformance.render.snippets import (MAX_ELEMENTS, _literal, backend_path, blocked_input, exec_command,
                                         generate, probe)


def _case(fn: str, **params):
    def f():
        pass
    f.__name__ = fn
    return SimpleNamespace(fn=f, params=SimpleNamespace(values=params))


def _record(api: str, **extra):
    return {"id": f"{api}-case", "api": api, "module": "tensor", **extra}


def _printed_labels(code: str) -> list[str]:
    """The first argument of every print(...) in the snippet: the labels its output lines start with."""
    return [node.args[0].value for node in ast.walk(ast.parse(code))
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print"
            and node.args and isinstance(node.args[0], ast.Constant)]


def _torch_calls(code: str) -> set[str]:
    """Every ``torch.X`` the snippet names: what it relies on besides the API under test."""
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "torch":
            names.add(node.attr)
    return names


def test_a_tensor_method_snippet_prints_exactly_the_labels_it_claims():
    case = _case("contiguous_case", dtype="float32", shape=[2, 3], views=[("transpose", 0, 1)])
    s = generate(_record("Tensor.contiguous"), case, ["stride", "bytes", "not_a_field"], "diff")
    assert s.shows == ("stride", "values") and s.case_id == "Tensor.contiguous-case"
    assert s.code.startswith("import torch\n")
    assert sorted(_printed_labels(s.code)) == ["stride", "values"]
    # built from the case's data: arange of its dtype, its shape, its view
    assert "torch.arange(6, dtype=torch.float32)" in s.code and ".reshape([2, 3]).transpose(0, 1)" in s.code
    assert _torch_calls(s.code) <= {"arange", "float32"}      # no other API that might be broken
    assert "y = x.contiguous()" in s.code


def test_aliasing_writes_into_the_input_and_compares():
    case = _case("clone_case", dtype="int32", shape=[4])
    s = generate(_record("Tensor.clone"), case, ["aliasing"], "diff")
    assert s.shows == ("aliasing",) and _printed_labels(s.code) == ["aliasing"]
    assert "base.fill_(7)" in s.code


def test_values_that_differ_only_by_the_dtypes_width_are_not_claimed():
    import numpy as np

    def result(dtype, numbers):
        stored = np.array(numbers, dtype=DTYPES[dtype].numpy).tobytes()
        return {"value": {"result": {"dtype": dtype, "bytes": stored.hex()}}}
    case = _case("to_case", dtype="float32", shape=[2])
    same = _record("Tensor.cpu", oracle=result("float32", [1, 2]), observed=result("float64", [1, 2]))
    assert generate(same, case, ["bytes", "dtype"], "diff").shows == ("dtype",)
    other = _record("Tensor.cpu", oracle=result("float32", [1, 2]), observed=result("float64", [1, 3]))
    assert generate(other, case, ["bytes", "dtype"], "diff").shows == ("dtype", "values")


def test_an_error_row_shows_only_what_it_raises_and_stops_there():
    case = _case("contiguous_case", dtype="float32", shape=[2, 2])
    s = generate(_record("Tensor.contiguous"), case, ["stride"], "error")
    assert s.shows == ("raises",) and _printed_labels(s.code) == ["raises", "raises"]
    tree = ast.parse(s.code)
    assert any(isinstance(n, ast.Try) for n in tree.body) and "raise SystemExit" in s.code


def test_a_scalar_result_is_printed_whole():
    s = generate(_record("Tensor.numel"), _case("numel_case", dtype="int64", shape=[3]), ["values"], "diff")
    assert s.shows == ("result",) and _printed_labels(s.code) == ["result"]


@pytest.mark.parametrize("why,api,params,group", [
    ("a crash has no snippet", "Tensor.contiguous", {"dtype": "float32", "shape": [2]}, "crash"),
    ("too many elements to follow", "Tensor.contiguous", {"dtype": "float32", "shape": [MAX_ELEMENTS + 1]}, "diff"),
    ("a dtype the kit does not know", "Tensor.contiguous", {"dtype": "float7", "shape": [2]}, "diff"),
    ("a method no recipe covers", "Tensor.unfold", {"dtype": "float32", "shape": [2]}, "diff"),
    ("an API that is no Tensor call", "torch.nn.functional.relu", {"dtype": "float32", "shape": [2]}, "diff"),
])
def test_inputs_a_reader_could_not_follow_get_no_snippet(why, api, params, group):
    assert generate(_record(api), _case("some_case", **params), ["stride"], group) is None, why


def test_a_snippet_at_most_max_elements_is_made():
    case = _case("contiguous_case", dtype="float32", shape=[MAX_ELEMENTS])
    assert generate(_record("Tensor.contiguous"), case, ["stride"], "diff") is not None


def test_frombuffer_reads_the_dtypes_own_bit_patterns():
    spec = DTYPES["float16"]
    case = _case("frombuffer", dtype="float16", value_set="special")
    s = generate(_record("torch.frombuffer"), case, ["bytes", "aliasing"], "diff")
    assert s.shows == ("aliasing", "values") and sorted(_printed_labels(s.code)) == ["aliasing", "values"]
    assert f'bytearray.fromhex("{spec.pack(list(spec.value_sets["special"])).hex()}")' in s.code
    assert "torch.frombuffer(buf, dtype=torch.float16)" in s.code
    keyword = generate(_record("torch.frombuffer"), _case("pread_frombuffer", dtype="float16"), ["bytes"], "diff")
    assert "torch.frombuffer(buffer=buf, dtype=torch.float16)" in keyword.code


def test_frombuffer_of_a_byte_count_shows_what_it_raises():
    s = generate(_record("torch.frombuffer"), _case("frombuffer_error", dtype="int32", nbytes=3), ["raises"], "error")
    assert s.shows == ("raises",) and "torch.frombuffer(bytearray(3), dtype=torch.int32)" in s.code
    ast.parse(s.code)


def test_a_factory_prints_only_its_layout_labels():
    s = generate(_record("torch.zeros"), _case("pread_zeros", dtype="bfloat16", shape=[0, 3]),
                 ["shape", "stride", "bytes"], "diff")
    assert "t = torch.zeros([0, 3], dtype=torch.bfloat16)" in s.code
    assert sorted(_printed_labels(s.code)) == ["shape", "stride"]


@pytest.mark.parametrize("api,evidence,line", [
    ("torch.nn.attention", "ModuleNotFoundError: No module named 'x'", "    import torch.nn.attention"),
    ("torch.compiler.disable", "AttributeError: module has no attribute", "    _ = torch.compiler.disable"),
    ("Tensor.untyped_storage", "AttributeError: 'Tensor' object has no attribute",
     "    _ = torch.zeros(4).untyped_storage"),
    ("Tensor.view(dtype)", "RuntimeError: x", "    _ = torch.zeros(4, dtype=torch.uint8).view(dtype=torch.float32)"),
])
def test_a_probe_touches_the_api_itself(api, evidence, line):
    s = probe(api, evidence)
    assert s.shows == ("raises",) and s.case_id == "" and line in s.code.splitlines()
    ast.parse(s.code)


@pytest.mark.parametrize("api,evidence", [
    ("torch.nn.attention", "RuntimeError: wrong values"),                     # not missing: nothing to probe
    ("torch.x; import os", "AttributeError: has no attribute"),               # no API name: never pasted
    ("Tensor.view(dtype); __import__('os')", "AttributeError"),
    ("torch.nn.Linear.forward", "ValueError"),
])
def test_a_probe_only_for_a_missing_name_or_a_dtype_call(api, evidence):
    assert probe(api, evidence) is None


@pytest.mark.parametrize("value", ["it's \"quoted\"", "line\nbreak\\", "\x00\u2028", 3, True, None, -0.0, 1e300, 1 / 3])
def test_a_recorded_argument_becomes_the_python_literal_of_its_value(value):
    kinds = {type(None): "none", bool: "bool", int: "int", str: "str", float: "float"}
    e = {"k": kinds[type(value)], "v": float.hex(value) if isinstance(value, float) else value}
    src = _literal(e, [])
    assert repr(ast.literal_eval(src)) == repr(value)


def test_recorded_containers_and_tensors_become_source():
    tensors: list = []
    enc = {"k": "tuple", "v": [{"k": "tensor", "blob": "b0"}]}
    assert _literal(enc, tensors) == "(x0,)" and tensors == [{"k": "tensor", "blob": "b0"}]
    assert _literal({"k": "size", "v": [2, 3]}, []) == "torch.Size([2, 3])"
    assert _literal({"k": "list", "v": [{"k": "int", "v": 1}, {"k": "mystery"}]}, []) is None   # unknown: no snippet
    assert _literal({"k": "slice", "v": [{"k": "none"}, {"k": "int", "v": 2}, {"k": "none"}]}, []) == \
        "slice(None, 2, None)"


def test_a_blocked_input_is_built_with_its_recorded_layout():
    rec = {"id": "replay[gpt2-x]", "module": "replay", "cause": {
        "phase": "input", "evidence": "call 4 arg 0 (transposed layout): float32 [2, 3] strides [1, 2] offset 1 "
                                      "built as {'stride': (3, 1)}"}}
    s = blocked_input(rec)
    assert s.shows == ("stride",) and _printed_labels(s.code) == ["stride", "raises", "raises"]
    assert "as_strided([2, 3], [1, 2], 1)" in s.code
    rec["cause"]["phase"] = "call"
    assert blocked_input(rec) is None


def test_backend_path_is_the_recorded_one_or_the_folder_above_the_package():
    assert backend_path({"target_spec": {"backend_path": ["/src/a", "/src/b"]}}) == "/src/a"
    env = {"module": "mindtorch_v2", "file": "/w/src/mindtorch_v2/__init__.py"}
    assert backend_path({"target_env": env}) == "/w/src"
    assert backend_path({"target_env": {"module": "pkg.torch", "file": "/w/src/pkg/torch/__init__.py"}}) == "/w/src"
    assert backend_path({"target_env": {**env, "file": "/py/site-packages/mindtorch_v2/__init__.py"}}) is None
    assert backend_path({"target_env": {**env, "uses_real_torch": True}}) is None


def test_exec_command_quotes_what_the_run_header_says():
    header = {"target": "module:mt", "target_spec": {"backend_path": "/w/my src; rm -rf x"}}
    words = shlex.split(exec_command(header, "snip pet.py"))
    assert words == ["python", "-m", "conformance", "exec", "--target", "module:mt",
                     "--backend-path", "/w/my src; rm -rf x", "--", "python", "snip pet.py"]
    assert exec_command({}) is None
