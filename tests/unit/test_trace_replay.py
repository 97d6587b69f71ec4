"""The replay engine's pure parts (conformance/trace/replay.py): how a recorded API name becomes a call (operators
through Python's, reflected ones with their operands swapped, Tensor methods looked up on the instance), when a
callee is MISSING, how two float buffers are compared within a tolerance, which layouts a call is replayed in, and
the one-line texts a chain's divergences are shown as. No torch: a namespace stands in for the module, numpy
arrays and small classes for its tensors."""
from __future__ import annotations

import hashlib
import operator
import types

import numpy as np
import pytest

from conformance.trace import replay, rules, store


def T(shape, stride=None, offset=0, k="tensor", dtype="float32", tid=0):
    return {"k": k, "dtype": dtype, "shape": list(shape), "tid": tid,
            "stride": list(store.contiguous_layout(list(shape)) if stride is None else stride), "offset": offset}


def call(*args, **kwargs):
    return {"api": "torch.add", "args": list(args), "kwargs": kwargs}


def f32(*values) -> bytes:
    return np.asarray(values, dtype=np.float32).tobytes()


# -- _operator / resolve -------------------------------------------------------------------------------------

def test_a_dunder_operator_is_pythons_own():
    assert replay._operator("__add__") is operator.__add__
    assert replay._operator("__getitem__") is operator.__getitem__
    assert replay._operator("__iadd__") is operator.__iadd__
    # these have a builtin, not an operator function: x in t, len(t), bool(t) go through the language
    assert replay._operator("__len__") is len and replay._operator("__bool__") is bool
    assert replay._operator("__contains__") is operator.contains
    assert replay._operator("__iter__")(np.arange(3)) == [0, 1, 2]


def test_a_reflected_operator_swaps_its_operands():
    assert replay._operator("__rsub__")(3, 10) == 7          # 10 - 3
    assert replay._operator("__rtruediv__")(2, 8) == 4
    assert replay._operator("__rpow__")(2, 3) == 9
    # __rshift__ is an operator of its own, not a reflected "__shift__"; __rrshift__ is the reflected one
    assert replay._operator("__rshift__")(8, 1) == 4
    assert replay._operator("__rrshift__")(1, 8) == 4


def test_a_name_that_is_no_operator_has_none():
    for name in ("reshape", "add", "__round__", "__deepcopy__", "__rfoo__"):
        assert replay._operator(name) is None, name


def test_a_tensor_method_is_looked_up_on_the_instance_when_called():
    class Tensor:
        def scale(self, by, *, bias=0):
            return ("class", by, bias)
    t, u = Tensor(), Tensor()
    u.scale = lambda by, bias=0: ("instance", by, bias)      # a backend may keep methods on the instance
    fn = replay.resolve(types.SimpleNamespace(), "torch.Tensor.scale")
    assert fn([t, 2], {"bias": 1}) == ("class", 2, 1)
    assert fn([u, 3], {}) == ("instance", 3, 0)


def test_a_property_is_read_and_written_on_the_tensor():
    t = types.SimpleNamespace(shape=(2, 3), data=None)
    assert replay.resolve(None, "torch.Tensor.shape.__get__")([t], {}) == (2, 3)
    replay.resolve(None, "torch.Tensor.data.__set__")([t, "new"], {})
    assert t.data == "new"


def test_a_tensor_operator_goes_through_python_reflected_ones_swapped():
    a = np.array([1.0, 2.0])
    assert replay.resolve(None, "torch.Tensor.__sub__")([a, 10.0], {}).tolist() == [-9.0, -8.0]
    assert replay.resolve(None, "torch.Tensor.__rsub__")([a, 10.0], {}).tolist() == [9.0, 8.0]
    assert replay.resolve(None, "torch.Tensor.__getitem__")([a, 1], {}) == 2.0
    assert replay.resolve(None, "torch.Tensor.__len__")([a], {}) == 2


def test_a_module_function_is_found_by_its_dotted_path_and_called_with_args_and_kwargs():
    def linear(x, w, bias=None):
        return ("linear", x, w, bias)
    torch = types.SimpleNamespace(nn=types.SimpleNamespace(functional=types.SimpleNamespace(linear=linear)))
    assert replay.resolve(torch, "torch.nn.functional.linear")([1, 2], {"bias": 3}) == ("linear", 1, 2, 3)


def test_a_submodule_not_imported_yet_is_imported(monkeypatch):
    asked = []

    def import_module(name):
        asked.append(name)
        if name == "torch.nn.functional":
            return types.SimpleNamespace(gelu=lambda x: x * 2)
        raise ImportError(name)
    monkeypatch.setattr(replay, "importlib", types.SimpleNamespace(import_module=import_module))
    torch = types.SimpleNamespace(nn=types.SimpleNamespace())       # no functional attribute yet
    assert replay.resolve(torch, "torch.nn.functional.gelu")([3], {}) == 6
    assert asked == ["torch.nn.functional"]


def test_a_name_that_does_not_exist_raises_attribute_error_naming_it(monkeypatch):
    asked = []

    def import_module(name):
        asked.append(name)
        raise ModuleNotFoundError(name)
    monkeypatch.setattr(replay, "importlib", types.SimpleNamespace(import_module=import_module))
    torch = types.SimpleNamespace(nn=types.SimpleNamespace())
    with pytest.raises(AttributeError, match=r"^module 'torch.nn' has no attribute 'nope'$") as e:
        replay.resolve(torch, "torch.nn.nope")
    assert e.value.name == "nope" and e.value.obj is torch.nn and asked == ["torch.nn.nope"]
    with pytest.raises(AttributeError, match=r"^module 'torch' has no attribute 'missing_op'$"):
        replay.resolve(torch, "torch.missing_op")


# -- absent ----------------------------------------------------------------------------------------------------

class Bare:
    """A target tensor with only __add__: Python would fall back from 5 + t to nothing of its own."""
    def __add__(self, other):
        return "sum"


def test_a_missing_method_or_property_of_the_target_tensor_is_named():
    c = {"api": "torch.Tensor.masked_fill"}
    assert replay.absent(c, [Bare(), 0]) == "masked_fill"
    assert replay.absent(c, [np.zeros(2)]) == "masked_fill"
    assert replay.absent({"api": "torch.Tensor.reshape"}, [np.zeros(2)]) is None
    assert replay.absent({"api": "torch.Tensor.shape.__get__"}, [Bare()]) == "shape"
    assert replay.absent({"api": "torch.Tensor.shape.__get__"}, [np.zeros(2)]) is None


def test_a_reflected_or_in_place_operator_is_the_tensors_own_or_missing():
    assert replay.absent({"api": "torch.Tensor.__radd__"}, [Bare(), 5]) == "__radd__"
    assert replay.absent({"api": "torch.Tensor.__iadd__"}, [Bare(), 5]) == "__iadd__"
    assert replay.absent({"api": "torch.Tensor.__radd__"}, [np.zeros(2), 5]) is None


def test_an_operator_python_has_a_fallback_for_is_never_missing():
    # a forward operator and `in` (which iterates where there is no __contains__) are judged by what they give
    assert replay.absent({"api": "torch.Tensor.__sub__"}, [Bare(), 5]) is None
    assert replay.absent({"api": "torch.Tensor.__contains__"}, [Bare(), 5]) is None


def test_a_module_function_or_a_call_without_arguments_is_never_missing():
    assert replay.absent({"api": "torch.nn.functional.linear"}, [Bare()]) is None
    assert replay.absent({"api": "torch.Tensor.masked_fill"}, []) is None


# -- float_facts -----------------------------------------------------------------------------------------------

def test_equal_buffers_differ_nowhere_and_are_within_any_tolerance():
    f = replay.float_facts("float32", f32(1, -2, 3), f32(1, -2, 3))
    assert (f["within"], f["n_differ"], f["n"], f["max_ulp"], f["max_abs_diff"]) == (True, 0, 3, 0, 0.0)
    assert f["max_abs_recorded"] == 3.0 and f["check"]({"atol": 0.0, "rtol": 0.0})


def test_one_ulp_apart_is_within_the_kits_tolerance_and_not_within_none():
    one_up = np.nextafter(np.float32(2), np.float32(3))
    f = replay.float_facts("float32", f32(2, 5), f32(one_up, 5))
    assert f["max_ulp"] == 1 and f["n_differ"] == 1 and f["max_abs_diff"] == pytest.approx(2 ** -22)
    assert f["check"](rules.tolerance(f["max_abs_recorded"]))
    assert not f["check"]({"atol": 0.0, "rtol": 0.0})


def test_a_difference_beyond_the_tolerance_fails_the_check():
    f = replay.float_facts("float32", f32(1000, 1), f32(1000, 1.02))
    assert f["max_abs_recorded"] == 1000.0 and f["max_abs_diff"] == pytest.approx(0.02, rel=1e-4)
    # atol grows with the largest recorded magnitude (1e-5 * 1000), rtol is of each value (1, not 1000)
    assert rules.tolerance(1000.0)["atol"] == pytest.approx(0.01)
    assert not f["check"](rules.tolerance(f["max_abs_recorded"]))
    assert f["check"]({"atol": 0.03, "rtol": 0.0})


def test_the_relative_tolerance_is_of_each_recorded_value():
    f = replay.float_facts("float32", f32(1e6), f32(1e6 + 50))
    assert f["check"]({"atol": 0.0, "rtol": 1e-4}) and not f["check"]({"atol": 0.0, "rtol": 1e-5})


def test_nan_matches_nan_but_never_a_number_and_infinities_match_only_themselves():
    nan, inf = float("nan"), float("inf")
    f = replay.float_facts("float32", f32(nan, inf, -inf), f32(nan, inf, -inf))
    assert f["n_differ"] == 0 and f["check"]({"atol": 0.0, "rtol": 0.0}) and f["max_abs_recorded"] == 0.0
    huge = {"atol": 1e30, "rtol": 1.0}
    assert not replay.float_facts("float32", f32(nan), f32(1))["check"](huge)
    assert not replay.float_facts("float32", f32(1), f32(nan))["check"](huge)
    g = replay.float_facts("float32", f32(inf, 7), f32(-inf, 7))
    assert not g["check"](huge) and g["n_differ"] == 1 and g["max_abs_diff"] == 0.0   # no finite pair differs
    assert replay.float_facts("float32", f32(inf), f32(3e38))["check"](huge) is False


def test_ulp_distance_is_monotonic_across_the_sign():
    tiny = np.float16(np.finfo(np.float16).smallest_subnormal)
    f = replay.float_facts("float16", np.array([tiny], np.float16).tobytes(), np.array([-tiny], np.float16).tobytes())
    assert f["max_ulp"] == 2                  # +tiny -> +0 -> -tiny
    below = np.nextafter(np.float32(-1), np.float32(-2))
    assert replay.float_facts("float32", f32(-1), f32(below))["max_ulp"] == 1
    assert replay.float_facts("float32", f32(-1e-45), f32(1e-45))["max_ulp"] == 2
    z = replay.float_facts("float32", f32(0.0), f32(-0.0))
    assert z["max_ulp"] == 0 and z["n_differ"] == 0


def test_buffers_that_are_no_comparable_floats_have_no_facts():
    assert replay.float_facts("int32", b"\0" * 4, b"\1" + b"\0" * 3) == {"within": None}
    assert replay.float_facts("float8_e4m3fn", b"\x38", b"\x39") == {"within": None}   # numpy has no float8
    assert replay.float_facts("nonesuch", b"", b"") == {"within": None}
    assert replay.float_facts("float32", f32(1, 2), f32(1)) == {"within": None}


def test_empty_buffers_are_within_with_nothing_differing():
    f = replay.float_facts("float32", b"", b"")
    assert (f["within"], f["n"], f["n_differ"], f["max_ulp"], f["max_abs_diff"]) == (True, 0, 0, 0, 0.0)


# -- Replayer.differs: the tolerance applied to a tensor result ---------------------------------------------------

class FakeTensor:
    def __init__(self, a: np.ndarray):
        self.a, self.dtype, self.shape = a, str(a.dtype), a.shape

    def stride(self):
        return [s // self.a.itemsize for s in self.a.strides]


def replayer(data: bytes, reference=False):
    ctx = types.SimpleNamespace(torch=types.SimpleNamespace(Tensor=FakeTensor), dtype_name=str,
                                raw_bytes=lambda t: np.ascontiguousarray(t.a).tobytes())
    return replay.Replayer(ctx, types.SimpleNamespace(blob=lambda sha: data), reference)


def out_of(values, shape):
    data = f32(*values)
    return {**T(shape), "blob": hashlib.sha256(data).hexdigest()}, data


def test_a_tensor_result_within_tolerance_passes_only_where_tolerant():
    enc, data = out_of([1, 2, 3, 4], [2, 2])
    near = np.array([[1, 2], [3, np.nextafter(np.float32(4), np.float32(5))]], np.float32)
    how, facts = replayer(data).differs(FakeTensor(near), enc, "torch.add", tolerant=True)
    assert how is None and facts["tolerance"] == rules.tolerance(4.0) and facts["max_ulp"] == 1
    how, facts = replayer(data, True).differs(FakeTensor(near), enc, "torch.add", tolerant=False)
    assert how == "bytes" and facts["max_ulp"] == 1 and "check" not in facts
    how, facts = replayer(data).differs(FakeTensor(near + 1), enc, "torch.add", tolerant=True)
    assert how == "values" and facts["n_differ"] == 4 and "check" not in facts
    how, facts = replayer(data).differs(FakeTensor(near.reshape(2, 2)), enc, "torch.add", tolerant=True)
    assert how is None


def test_the_same_values_laid_out_otherwise_are_a_stride_difference():
    enc, data = out_of([1, 2, 3, 4], [2, 2])
    same = np.array([[1, 3], [2, 4]], np.float32).T          # values of the recording, strides (1, 2)
    assert replayer(data).differs(FakeTensor(same), enc, "torch.add", True) == \
        ("stride", {"recorded": [2, 1], "target": [1, 2]})
    assert replayer(data).differs(FakeTensor(np.zeros(4, np.float32)), enc, "torch.add", True) == \
        ("shape", {"recorded": [2, 2], "target": [4]})
    assert replayer(data).differs(FakeTensor(np.zeros((2, 2))), enc, "torch.add", True) == \
        ("dtype", {"recorded": "float32", "target": "float64"})


# -- layouts and variants ---------------------------------------------------------------------------------------

def test_a_layout_leaves_out_size_one_strides_and_an_empty_tensors_offset():
    assert replay._layout([2, 1, 3], [3, 3, 1], 5) == ((3, None, 1), 5)
    assert replay._layout([2, 0], [7, 1], 5) == ((None, None), 0)
    assert replay._layout([], [], 2) == ((), 2)


@pytest.mark.parametrize("shape", [[2, 3], [4], [], [1, 3], [2, 3, 4], [2, 0, 3]])
@pytest.mark.parametrize("how", store.VARIANTS)
def test_the_relaid_layout_is_the_one_store_relaid_builds(shape, how):
    n = int(np.prod(shape))
    spec = {**T(shape), "align": 0}
    new, _ = store.relaid(spec, f32(*range(n)), how)
    assert replay._relaid_layout(spec, how) == replay._layout(new["shape"], new["stride"], new["offset"])


def test_a_contiguous_matrix_is_replayed_in_every_other_layout():
    assert replay.variants("torch.add", call(T([2, 3]))) == ["recorded", "transposed", "stepped", "offset"]


def test_a_transposed_matrix_is_replayed_contiguous_but_not_transposed_again():
    assert replay.variants("torch.add", call(T([2, 3], [1, 2]))) == ["recorded", "contiguous", "stepped", "offset"]


def test_a_vector_or_a_row_has_no_transposed_layout_of_its_own():
    assert replay.variants("torch.add", call(T([4]))) == ["recorded", "stepped", "offset"]
    assert replay.variants("torch.add", call(T([1, 4]))) == ["recorded", "stepped", "offset"]


def test_a_scalar_tensor_differs_only_by_its_offset_and_an_empty_one_not_at_all():
    assert replay.variants("torch.add", call(T([]))) == ["recorded", "offset"]
    assert replay.variants("torch.add", call(T([], offset=3))) == ["recorded", "contiguous"]
    assert replay.variants("torch.add", call(T([2, 0, 3]))) == ["recorded"]


def test_a_call_without_arrays_is_replayed_once():
    assert replay.variants("torch.zeros", call({"k": "int", "v": 2}, dtype={"k": "dtype", "v": "float32"})) == \
        ["recorded"]


def test_arrays_nested_in_tuples_dicts_and_kwargs_and_numpy_arrays_count():
    nested = call({"k": "tuple", "v": [{"k": "int", "v": 1}, T([4])]})
    assert replay.variants("torch.cat", nested) == ["recorded", "stepped", "offset"]
    in_dict = call({"k": "dict", "v": [[{"k": "str", "v": "x"}, T([4], k="ndarray")]]})
    assert replay.variants("torch.add", in_dict) == ["recorded", "stepped", "offset"]
    # a vector and a matrix: transposed lays the matrix out anew, so it is replayed
    assert replay.variants("torch.add", call(T([4]), other=T([2, 3]))) == \
        ["recorded", "transposed", "stepped", "offset"]
    assert [e["shape"] for e in replay._arrays([T([1]), {"k": "list", "v": [T([2]), {"k": "list", "v": [T([3])]}]},
                                                T([4]), 7])] == [[1], [2], [3], [4]]


# -- plain, where_line, _facts_line and small helpers ------------------------------------------------------

def test_plain_gives_a_recorded_value_in_the_form_observe_gives():
    assert replay.plain({"k": "none"}) is None
    assert replay.plain({"k": "bool", "v": True}) is True
    assert replay.plain({"k": "int", "v": 3}) == 3 and replay.plain({"k": "str", "v": "x"}) == "x"
    assert replay.plain({"k": "float", "v": "0x1.8p+0"}) == {"float": "0x1.8p+0"}
    assert replay.plain({"k": "size", "v": [2, 3]}) == [2, 3]
    assert replay.plain({"k": "tuple", "v": [{"k": "int", "v": 1}, {"k": "list", "v": [{"k": "none"}]}]}) == \
        [1, [None]]
    assert replay.plain({"k": "dtype", "v": "float16"}) == {"dtype": "float16"}
    assert replay.plain({"k": "device", "v": "cpu"}) == {"device": "cpu"}
    assert replay.plain({"k": "slice", "v": []}) == {"object": "slice"}
    assert replay.plain({"k": "opaque", "type": "Generator"}) == {"object": "Generator"}


def div(call_i, api, at, kind="values", detail="d"):
    return {"call": call_i, "api": api, "at": at, "kind": kind, "detail": detail}


def test_where_line_gives_the_first_divergence_in_full_and_counts_repeats_at_a_line():
    assert replay.where_line([div(4, "torch.add", "m.py:3", detail="3 of 4 values differ")]) == \
        "first divergence: call 4 torch.add at m.py:3: 3 of 4 values differ"
    line = replay.where_line([div(1, "torch.add", "m.py:3"), div(2, "Tensor.view", "m.py:9", "stride"),
                              div(3, "torch.mul", "m.py:5"), div(5, "Tensor.view", "m.py:9", "stride")])
    assert line == ("first divergence: call 1 torch.add at m.py:3: d; then 3 more: "
                    "Tensor.view at m.py:9 (stride) x2, torch.mul at m.py:5 (values)")


def test_where_line_cuts_the_first_detail_and_the_places_it_has_no_room_for():
    assert len(replay.where_line([div(0, "torch.add", "m.py:1", detail="x" * 1000)])) == 300
    many = [div(0, "torch.add", "m.py:1")] + [div(i, "torch.mul", f"model/layer_{i:04d}.py:{i}") for i in range(1, 60)]
    line = replay.where_line(many)
    assert line.startswith("first divergence: call 0 torch.add at m.py:1: d; then 59 more: torch.mul at ")
    shown = line.count("(values)")
    assert 0 < shown < 59 and line.endswith(f", ... ({59 - shown} more places, all in display.diverging_calls)")
    assert len(line) <= replay.WHERE_CHARS + 80


def test_facts_line_says_how_a_result_differs():
    tol = {"rtol": 1e-4, "atol": 1e-5}
    assert replay._facts_line("values", {"n_differ": 2, "n": 8, "max_abs_diff": 0.012345, "tolerance": tol,
                                         "max_ulp": 77}) == \
        f"2 of 8 values differ, largest absolute difference 0.0123 outside {tol} (77 ulp)"
    assert replay._facts_line("bytes", {"max_ulp": 1, "max_abs_diff": 2.5e-8}) == \
        "bytes differ from torch's (1 ulp, largest absolute difference 2.5e-08)"
    assert replay._facts_line("bytes", {"exact": False}) == "bytes differ from torch's"
    assert replay._facts_line("shape", {"recorded": [2, 3], "target": [3, 2]}) == "shape: torch [2, 3], target [3, 2]"


def test_caller_of_and_the_builtin_exception_a_raise_is_judged_as():
    assert replay.caller_of({"caller": {"file": "m.py", "line": 7}}) == "m.py:7"
    assert replay.caller_of({"caller": None}) == "?:?" and replay.caller_of({}) == "?:?"

    class BackendError(KeyError):
        pass
    assert replay._builtin(BackendError()) == "KeyError" and replay._builtin(np.linalg.LinAlgError()) == "ValueError"


def test_bind_maps_recorded_tensor_ids_to_values_where_the_structure_matches():
    bound: dict = {}
    enc = {"k": "tuple", "v": [T([2], tid=1), {"k": "list", "v": [T([2], tid=2), {"k": "int", "v": 0}]}]}
    replay._bind(None, enc, ("a", ["b", 0]), bound)
    assert bound == {1: "a", 2: "b"}
    replay._bind(None, {"k": "tuple", "v": [T([2], tid=3)]}, ("x", "y"), bound)    # other length: nothing bound
    assert 3 not in bound


def test_out_dtype_and_ndarray_observation():
    assert replay._out_dtype({"out": {"k": "tuple", "v": [{"k": "int", "v": 1}, T([2], dtype="float16")]}}) == \
        "float16"
    assert replay._out_dtype({}) is None
    a = np.arange(6, dtype=np.int16).reshape(2, 3).T
    assert replay.ndarray_observation(a) == {"ndarray": "int16", "shape": [3, 2],
                                             "bytes": np.ascontiguousarray(a).tobytes().hex()}
    assert replay.ndarray_observation(a, "bfloat16")["ndarray"] == "bfloat16"


def test_bfloat16_and_complex_results_are_compared_within_a_tolerance_too():
    """numpy has no bfloat16: its values are the top half of a float32. They are held against the case's
    tolerance, as float32 ones are, not taken for a difference of bytes."""
    f = replay.float_facts("bfloat16", b"\x80\x3f", b"\x81\x3f")          # 1.0 and the next bfloat16
    assert f["within"] and f["max_ulp"] == 1 and f["n_differ"] == 1 and f["max_abs_diff"] == 2.0 ** -7
    assert f["check"]({"atol": 0.01, "rtol": 0.0}) and not f["check"]({"atol": 0.0, "rtol": 0.0})
    neg = replay.float_facts("bfloat16", b"\x80\xbf", b"\x80\x3f")         # -1.0 and 1.0
    assert neg["max_ulp"] == 2 * 0x3F80
    c = replay.float_facts("complex64", np.array([1 + 2j], "<c8").tobytes(), np.array([1 + 2.5j], "<c8").tobytes())
    assert c["within"] and c["n"] == 2 and c["n_differ"] == 1 and c["max_abs_diff"] == 0.5


def test_float64_ulp_distances_are_exact_across_the_sign_and_warn_nothing():
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = replay.float_facts("float64", np.array([1e300]).tobytes(), np.array([-1e300]).tobytes())
    bits = int(np.array([1e300]).view("<i8")[0])
    assert f["max_ulp"] == 2 * bits, "no int64 wrap-around"
    nan = replay.float_facts("float32", f32(float("nan")), np.array([-np.nan], "<f4").tobytes())
    assert nan["n_differ"] == 0 and nan["max_ulp"] == 0, "NaN against NaN differs nowhere"


def test_dunders_every_module_has_are_not_taken_for_operators():
    for name in ("__repr__", "__format__", "__hash__", "__reduce_ex__", "__dir__", "__rrepr__"):
        assert replay._operator(name) is None, name
