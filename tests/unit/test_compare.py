"""The verdict on one case (conformance/compare.py): byte-exact comparison of the target's observation with the
oracle's, what each kind of difference is called, who is blamed, and how the recorded verdict is settled."""
from __future__ import annotations

import numpy as np
import pytest

from conformance import compare
from conformance.dtypes import DTYPES
from conformance.compare import KIT, diff, judge, same_api, settle
from conformance.observe import BLOCKED, DISPLAY, DTYPE_ABSENT, KIT_ERROR, NOT_IN_THIS_ENVIRONMENT


def target(obs: dict, **extra) -> dict:
    return {"obs": obs, **extra}


def approx(*values: float, dtype="float64") -> dict:
    raw = np.asarray(values, dtype=np.dtype(DTYPES[dtype].numpy).newbyteorder("<")).tobytes()
    return {"approx": {"dtype": dtype, "shape": [len(values)], "bytes": raw.hex()}}


def test_equal_observations_pass_without_a_cause():
    v = judge({"value": {"bytes": "0001"}}, target({"value": {"bytes": "0001"}}), api="torch.x")
    assert (v.outcome, v.cause, v.diffs) == ("PASS", None, [])


def test_a_differing_byte_is_located_with_hex_context():
    a, b = bytes(range(32)), bytes(range(20)) + b"\xff" + bytes(range(21, 32))
    v = judge({"value": {"bytes": a.hex()}}, target({"value": {"bytes": b.hex()}}), api="torch.x")
    assert v.outcome == "FAIL"
    (d,) = v.diffs
    assert (d["path"], d["kind"], d["first_offset"], d["excerpt_start"]) == ("value.bytes", "bytes", 20,
                                                                           20 - compare.HEX_CONTEXT)
    assert d["oracle_hex"].split()[compare.HEX_CONTEXT] == "14" and d["target_hex"].split()[compare.HEX_CONTEXT] == "ff"
    # no recorded call diverged: the row's own call is blamed, and the cause says it is not isolated
    assert (v.cause["api"], v.cause["phase"], v.cause["isolated"]) == ("torch.x", "call", False)
    assert "not isolated: no torch call of the case was recorded" in v.cause["evidence"]
    assert "bytes differ at offset 20" in v.summary


def test_a_shorter_buffer_differs_where_it_ends():
    d = compare.bytes_diff("b", "000102", "0001")
    assert (d["first_offset"], d["oracle_len"], d["target_len"]) == (2, 3, 2)


def test_diff_compares_types_and_keys_not_only_values():
    assert diff({"a": 1}, {"a": True}) == [{"path": "a", "oracle": 1, "target": True}], "1 and True are two values"
    assert diff({"a": 1}, {"b": 1}) == [{"path": "a", "oracle": 1, "target": "<absent>"},
                                        {"path": "b", "oracle": "<absent>", "target": 1}]
    assert diff([1, 2], [1, 2, 3]) == [{"path": "value", "oracle": [1, 2], "target": [1, 2, 3]}]
    assert diff({"l": [1, 2]}, {"l": [1, 3]}) == [{"path": "l[1]", "oracle": 2, "target": 3}]


def test_an_exceptions_words_are_shown_never_compared():
    o = {"raises": "ValueError", "message": "bad size", "type": "ValueError"}
    t = {"raises": "ValueError", "message": "size is wrong", "type": "builtins.ValueError"}
    assert judge(o, target(t), api="torch.x").outcome == "PASS"
    assert judge({"value": {"message": "a"}}, target({"value": {"message": "b"}}), api="torch.x").outcome == "FAIL"


def test_display_and_inputs_are_not_compared_as_the_value():
    o = {"value": 1, DISPLAY: {"where": "a"}}
    assert judge(o, target({"value": 1, DISPLAY: {"where": "b"}}), api="torch.x").outcome == "PASS"


@pytest.mark.parametrize("tol, values, outcome", [
    (None, (1.0, 2.0), "PASS"),
    (None, (1.0, 2.0000001), "FAIL"),                       # no tolerance: exact
    ({"rtol": 1e-6, "atol": 0.0}, (1.0, 2.000001), "PASS"),
    ({"rtol": 1e-9, "atol": 0.0}, (1.0, 2.000001), "FAIL"),
    ({"rtol": 0.0, "atol": 1e-5}, (1.0, 2.000001), "PASS"),   # |t - o| <= atol + rtol * |o|
])
def test_approx_values_are_compared_within_the_tolerance(tol, values, outcome):
    v = judge(approx(1.0, 2.0), target(approx(*values)), tolerance=tol, api="torch.x")
    assert v.outcome == outcome, v.summary
    if outcome == "FAIL":
        (d,) = v.diffs
        assert (d["kind"], d["first_index"], d["n_outside"]) == ("approx", 1, 1)


def test_approx_nan_only_where_the_oracle_has_nan_and_fields_are_exact():
    nan, inf = float("nan"), float("inf")
    loose = {"rtol": 1.0, "atol": 1.0}
    assert judge(approx(nan, inf), target(approx(nan, inf)), tolerance=loose).outcome == "PASS"
    assert judge(approx(1.0), target(approx(nan)), tolerance=loose).outcome == "FAIL"
    assert judge(approx(inf), target(approx(-inf)), tolerance=loose).outcome == "FAIL"
    assert judge(approx(1.0), target(approx(1.0, dtype="float32")), tolerance=loose).outcome == "FAIL"
    assert judge(approx(1.0), target(approx(1.0, 1.0)), tolerance=loose).outcome == "FAIL"


def test_a_passing_approx_row_says_how_close_it_was():
    v = judge(approx(1.0), target(approx(1.5)), tolerance={"rtol": 1.0, "atol": 0.0})
    assert v.outcome == "PASS" and "largest absolute difference 0.5" in v.summary


def _approx_diff(o, t, tolerance):
    stats: list = []
    return diff(approx(*o), approx(*t), tolerance=tolerance, approx=stats), stats


def test_approx_figures_count_every_value_outside_and_the_largest_differences():
    nan, tiny = float("nan"), 5e-324
    rel = {"rtol": 1e-6, "atol": 0.0}
    # a zero oracle value the target missed makes the relative difference infinite; NaN and -0.0 agree
    (d,), stats = _approx_diff([1.0, 0.0, 2.0, nan, -0.0, tiny], [1.0 + 1e-9, 1e-12, 2.5, nan, 0.0, 0.0], rel)
    assert (d["n"], d["n_outside"], d["first_index"], d["max_abs_diff"], d["max_rel_diff"]) == (6, 3, 1, "0.5", "inf")
    assert (d["oracle"], d["target"]) == ((0.0).hex(), (1e-12).hex())
    assert (stats[0]["max_abs"], stats[0]["max_rel"]) == (0.5, float("inf"))
    (d,), _ = _approx_diff([2.0, tiny, 3.0], [2.5, 0.0, 3.0], rel)      # a subnormal: relative 1.0
    assert (d["n_outside"], d["first_index"], d["max_abs_diff"], d["max_rel_diff"]) == (2, 0, "0.5", "1.0")
    (d,), _ = _approx_diff([1.0, nan, 4.0], [1.0, 1.0, 4.5], {"rtol": 0.0, "atol": 1.0})   # a NaN lost: inf
    assert (d["n_outside"], d["first_index"], d["max_abs_diff"], d["max_rel_diff"]) == (1, 1, "inf", "inf")
    d = (2.0 + 1e-7) - 2.0                 # within: the figures are float64's, to the last bit
    assert _approx_diff([1.0, 2.0], [1.0, 2.0 + 1e-7], rel) == ([], [{"path": "approx", "n": 2, "max_abs": d,
                                                                        "max_rel": d / 2.0}])


def test_unreadable_approx_values_say_why():
    ok = approx(1.0, 2.0)
    (d,) = diff(ok, {"approx": {**ok["approx"], "bytes": "zz" * 16}})
    assert d["path"] == "approx.values" and d["target"].startswith("unreadable: non-hexadecimal number")
    (d,) = diff(ok, {"approx": {**ok["approx"], "bytes": ok["approx"]["bytes"][:-2]}})     # 15 bytes: no float64s
    assert d["path"] == "approx.values" and d["target"].startswith("unreadable: ")
    (d,) = diff(ok, {"approx": {**ok["approx"], "bytes": ok["approx"]["bytes"] * 2}})      # more values than its shape
    assert (d["oracle"], d["target"]) == ("2 values", "4 values")


def test_approx_values_of_float16_and_float32_are_read_at_their_own_width():
    assert judge(approx(1.0, 0.1, dtype="float16"), target(approx(1.0, 0.1, dtype="float16"))).outcome == "PASS"
    v = judge(approx(1.0, 0.1, dtype="float32"), target(approx(1.0, 0.100001, dtype="float32")))
    (d,) = v.diffs
    assert d["oracle"] == float(np.float32(0.1)).hex() and d["target"] == float(np.float32(0.100001)).hex()


def test_a_dead_or_hung_worker_is_blamed_on_the_call_it_was_in():
    v = judge({"value": 1}, {"crash": "Segmentation fault\nmore", "last_call": "Tensor.add"}, api="torch.x")
    assert (v.outcome, v.summary) == ("CRASH", "Segmentation fault")
    assert v.cause["api"] == "Tensor.add" and v.cause["phase"] == "input" and v.cause["isolated"] is True
    v = judge({"value": 1}, {"timeout": 5, "last_call": "after Tensor.add"}, api="torch.x")
    assert v.outcome == "TIMEOUT"
    assert (v.cause["api"], v.cause["phase"], v.cause["isolated"]) == ("torch.x", "call", False)
    assert "Tensor.add, had returned" in v.cause["evidence"]


def test_a_case_the_oracle_could_not_run_is_the_kits_error():
    for oracle in (None, {KIT_ERROR: "boom"}, {BLOCKED: {"api": "a", "phase": "input", "evidence": "e"}}):
        v = judge(oracle, target({"value": 1}), api="torch.x")
        assert v.outcome == "ERROR" and v.cause["api"] == KIT, oracle


def test_what_an_environment_lacks_is_a_skip_not_a_failure():
    assert judge({DTYPE_ABSENT: "float8"}, target({"value": 1})).outcome == "SKIP"
    v = judge({"value": 1}, target({"value": {NOT_IN_THIS_ENVIRONMENT: "transformers not installed"}}))
    assert (v.outcome, v.cause) == ("SKIP", None) and "for the target" in v.summary


def test_a_dtype_the_target_lacks_is_missing_and_blocks_other_rows():
    v = judge({"value": 1}, target({DTYPE_ABSENT: "bfloat16"}), api="torch.<dtype>")
    assert (v.outcome, v.cause["api"], v.cause["phase"]) == ("MISSING", "torch.bfloat16", "call")
    v = judge({"value": 1}, target({DTYPE_ABSENT: "bfloat16"}), api="torch.x")
    assert (v.outcome, v.cause["api"], v.cause["phase"]) == ("BLOCKED", "torch.bfloat16", "input")


def test_a_blocker_is_blamed_on_its_api_and_the_row_is_blocked_unless_it_is_the_rows_own():
    blocker = {"api": "Tensor.numpy", "phase": "read", "evidence": "no numpy"}
    v = judge({"value": 1}, target({BLOCKED: blocker}), api="torch.x")
    assert (v.outcome, v.cause["api"], v.cause["phase"]) == ("BLOCKED", "Tensor.numpy", "read")
    v = judge({"value": 1}, target({BLOCKED: blocker}), api="torch.Tensor.numpy")
    assert (v.outcome, v.cause["phase"]) == ("FAIL", "call")


def test_an_absent_attribute_of_the_rows_own_api_is_missing():
    t = {"raises": "AttributeError", "message": "module 'torch' has no attribute 'frombuffer'"}
    v = judge({"value": 1}, target(t), api="torch.frombuffer")
    assert (v.outcome, v.cause["api"], v.cause["phase"], v.cause["isolated"]) == ("MISSING", "torch.frombuffer",
                                                                                   "call", True)
    v = judge({"value": 1}, target(t), api="torch.x")
    assert (v.outcome, v.cause["api"], v.cause["phase"]) == ("BLOCKED", "torch.frombuffer", "input")


def test_the_exception_of_another_torch_api_blocks_the_row():
    t = {"raises": "TypeError", "message": "bad", DISPLAY: {"torch_api": "Tensor.reshape", "called_at": "f.py:3"}}
    v = judge({"value": 1}, target(t), api="torch.x")
    assert (v.outcome, v.cause["api"], v.cause["isolated"]) == ("BLOCKED", "Tensor.reshape", False)
    assert "f.py:3" in v.cause["evidence"]


def test_differences_read_only_through_another_api_are_blamed_on_the_read():
    o, t = {"value": {"shape": [2], "data": "00"}}, {"value": {"shape": [2], "data": "01"}}
    v = judge(o, target(t), api="torch.x", reads={"data": "Tensor.numpy"})
    assert (v.outcome, v.cause["api"], v.cause["phase"]) == ("BLOCKED", "Tensor.numpy", "read")
    v = judge(o, target(t), api="torch.x", reads={"shape": "Tensor.numpy"})
    assert (v.outcome, v.cause["api"]) == ("FAIL", "torch.x"), "a diff outside the reads is the row's own"


def test_a_passing_row_drops_its_call_log():
    t = {"value": 1, DISPLAY: {"calls": [["a", "b"]], "where": "w"}}
    judge({"value": 1}, target(t))
    assert t[DISPLAY] == {"where": "w"}


def test_same_api_spellings():
    assert same_api("torch.frombuffer", "frombuffer") and same_api("Tensor.view(dtype)", "torch.Tensor.view")
    assert not same_api("Tensor.view(dtype)", "Tensor.view(-1)"), "two uses of one method are two rows"
    assert same_api("torch.<dtype>", "torch.float32") and not same_api("torch.<dtype>", "torch.zeros")


def test_settle_spells_the_cause_as_the_catalog_does_and_says_what_was_reached_around():
    v = judge({"value": 1}, target({"value": 2}), api="torch.Tensor.add")
    settle(v, "torch.Tensor.add", {"value": 2}, {"Tensor.add": "Tensor.add"}, None)
    assert v.cause["api"] == "Tensor.add" and v.cause[compare.ONLY_CAUSE] is True
    v = judge({"value": 1}, target({"value": 2}), api="torch.x")
    settle(v, "torch.x", {"value": 2}, {}, ["torch.y failed"])
    assert v.cause["reached_around"] == "torch.y failed" and v.cause[compare.ONLY_CAUSE] is False


def test_settle_blames_torch_version_for_a_refused_open():
    from conformance.loading_path import REFUSAL

    obs = {"raises": "ValueError", "message": REFUSAL}
    v = judge({"value": 1}, target(obs), api="safetensors.safe_open")
    settle(v, "safetensors.safe_open", obs, {}, None)
    assert (v.outcome, v.cause["api"], v.cause["phase"]) == ("BLOCKED", "torch.__version__", "chain")
