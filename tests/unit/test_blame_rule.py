"""compare.judge applies the one blame rule to the recorded calls, says when a cause is not isolated, and
names the call a dead or hung worker was in (its breadcrumb). Synthetic observations: no torch needed."""
from __future__ import annotations

from conformance.compare import judge

T = "T float32 [2] [1] 0 "
SAVE = "safetensors.torch.save_file"


def _obs(value, calls, **display):
    return {"value": value, "display": {"calls": calls, **display}}


def test_an_earlier_call_that_diverges_blocks_the_entry_point():
    oracle = _obs({"bytes": "00"}, [["Tensor.layout", "lay:torch.strided", T + "aa", 0], ["Tensor.data_ptr", "ptr+0", T + "aa", 0]])
    target = _obs({"bytes": "01"}, [["Tensor.layout", "'torch.strided'", T + "aa", 0], ["Tensor.data_ptr", "ptr+0", T + "aa", 0]])
    v = judge(oracle, {"obs": target}, api=SAVE)
    assert v.outcome == "BLOCKED" and v.cause["api"] == "Tensor.layout" and v.cause["phase"] == "chain"
    assert v.cause["isolated"] is True and "'torch.strided'" in v.cause["evidence"]


def test_the_rows_own_api_diverging_is_a_fail_on_it():
    oracle = _obs({"bytes": "00"}, [["torch.frombuffer", T + "aa ~a0", "B2#1, dtype=dt:float32", 0]])
    target = _obs({"bytes": "01"}, [["torch.frombuffer", T + "ab ~a0", "B2#1, dtype=dt:float32", 0]])
    v = judge(oracle, {"obs": target}, api="torch.frombuffer")
    assert v.outcome == "FAIL" and v.cause["api"] == "torch.frombuffer" and v.cause["isolated"] is True


def test_no_diverging_call_is_not_isolated_with_evidence():
    calls = [["torch.frombuffer", T + "aa", "B2#1", 0]]
    v = judge(_obs({"bytes": "00"}, calls), {"obs": _obs({"bytes": "01"}, calls)}, api=SAVE)
    assert v.outcome == "FAIL" and v.cause["api"] == SAVE and v.cause["isolated"] is False
    assert "not isolated: 1 target calls and 1 oracle calls recorded" in v.cause["evidence"]


def test_an_exception_on_a_value_a_call_returned_blames_that_call():
    """The call's inputs match no oracle call, so nothing says its value was right: the exception blames it."""
    oracle = _obs({"bytes": "00"}, [["Tensor.device", "dev:cpu", T + "aa", 0]])
    target = {"raises": "AttributeError", "type": "builtins.AttributeError", "message": "'X' has no attribute 'type'",
              "display": {"calls": [["Tensor.device", "o X", T + "zz", 0]], "raised_on": 0}}
    v = judge(oracle, {"obs": target}, api=SAVE)
    assert v.cause["api"] == "Tensor.device" and v.outcome == "BLOCKED" and v.cause["isolated"] is True


def test_a_value_the_oracle_returned_too_is_not_blamed_for_an_attribute_its_class_lacks():
    """mindtorch_v2 master's Tensor has no data_ptr. safetensors reads it first on one tensor or another as the
    hash seed orders a set: on a tensor the case made with t[1] (a recorded call), or on one the kit built. The
    cause is the missing attribute either way, not the call that returned the (right) tensor."""
    calls = [["Tensor.__getitem__", T + "aa", T + "bb, 1", 0]]
    oracle = _obs({"bytes": "00"}, calls)
    message = "'Tensor' object has no attribute 'data_ptr'"
    for on in (0, None):
        display = {"calls": calls, "torch_api": "Tensor.data_ptr", "called_at": "safetensors/torch.py:61"}
        if on is not None:
            display["raised_on"] = on
        target = {"raises": "AttributeError", "type": "builtins.AttributeError", "message": message,
                  "display": display}
        v = judge(oracle, {"obs": target}, api="safetensors.torch._find_shared_tensors")
        assert (v.outcome, v.cause["api"]) == ("BLOCKED", "Tensor.data_ptr"), (on, v.cause)
    # inputs the kit could not read, a result some oracle call of the API gave: right as far as can be seen
    target["display"] = {"calls": [["Tensor.__getitem__", T + "aa", "unreadable (TypeError)", 0]], "raised_on": 0,
                         "torch_api": "Tensor.data_ptr"}
    v = judge(oracle, {"obs": target}, api="safetensors.torch._find_shared_tensors")
    assert v.cause["api"] == "Tensor.data_ptr"


GUARDED_READS = [["torch.float8_e4m3fn", "dt:float8_e4m3fn", "<read>", 0]]


def _fp8(result):
    return [["torch.float8_e4m3fnuz", result, "<read>", 0]]


def test_a_miss_the_program_survived_yields_to_the_attribute_it_died_of():
    """safetensors.torch reads getattr(torch, "float8_e4m3fnuz", None) and goes on; the case then fails on a
    Tensor without data_ptr: that is the cause, not the guarded read."""
    from conformance.calls import GUARDED
    oracle = _obs({"bytes": "00"}, GUARDED_READS + _fp8("dt:float8_e4m3fnuz"))
    target = {"raises": "AttributeError", "type": "builtins.AttributeError",
              "message": "'Tensor' object has no attribute 'data_ptr'",
              "display": {"calls": GUARDED_READS + _fp8(GUARDED), "torch_api": "Tensor.data_ptr"}}
    v = judge(oracle, {"obs": target}, api="safetensors.torch._find_shared_tensors")
    assert v.cause["api"] == "Tensor.data_ptr"


def test_a_survived_miss_is_the_cause_only_where_nothing_else_diverges():
    from conformance.calls import GUARDED
    later = [["Tensor.view(dtype)", T + "bad", T + "aa, dt:uint8", 0]]
    oracle = _obs({"bytes": "00"}, _fp8("dt:float8_e4m3fnuz") + [["Tensor.view(dtype)", T + "ok", T + "aa, dt:uint8", 0]])
    v = judge(oracle, {"obs": _obs({"bytes": "01"}, _fp8(GUARDED) + later)}, api=SAVE)
    assert v.cause["api"] == "Tensor.view(dtype)"       # the later call that diverged explains it better
    alone = judge(oracle, {"obs": _obs({"bytes": "01"}, _fp8(GUARDED) + oracle["display"]["calls"][1:])}, api=SAVE)
    assert alone.cause["api"] == "torch.float8_e4m3fnuz" and alone.cause["isolated"] is False     # a suspect
    assert "went on without it" in alone.cause["evidence"]
    # a miss the program died of (not survived) is a divergence like any other, also before a later one
    died = judge(oracle, {"obs": _obs({"bytes": "01"}, _fp8("missing") + later)}, api=SAVE)
    assert died.cause["api"] == "torch.float8_e4m3fnuz" and died.cause["isolated"] is True


def test_a_crash_names_the_call_it_died_in():
    v = judge({"value": 1}, {"crash": "worker died (killed by SIGSEGV)", "last_call": "Tensor.data_ptr"}, api=SAVE)
    assert v.outcome == "CRASH" and v.cause["api"] == "Tensor.data_ptr" and v.cause["isolated"] is True
    v = judge({"value": 1}, {"timeout": 20, "last_call": "after Tensor.data_ptr"}, api=SAVE)
    assert v.outcome == "TIMEOUT" and v.cause["api"] == SAVE and v.cause["isolated"] is False
    v = judge({"value": 1}, {"crash": "worker died", "last_call": None}, api="torch.empty")
    assert v.cause["api"] == "torch.empty" and v.cause["isolated"] is False


def test_a_passing_row_drops_its_call_log():
    calls = [["torch.frombuffer", T + "aa", "B2#1", 0]]
    result = {"obs": _obs({"bytes": "00"}, calls)}
    assert judge(_obs({"bytes": "00"}, calls), result, api="torch.frombuffer").outcome == "PASS"
    assert "calls" not in result["obs"]["display"]


def test_a_replayed_call_whose_result_differs_on_the_recordings_inputs_is_isolated():
    """A replay row feeds each call of its API the recording's inputs, as PyTorch was fed: a differing
    result is that call's own divergence, not a guess (the checklist ranks it as an item)."""
    from conformance.compare import judge

    def row(stride, inputs=(1,)):
        return {"value": {"api": "Tensor.view", "calls": [{"inputs": list(inputs), "result": {
            "dtype": "float32", "shape": [2], "stride": [stride], "bytes": "00"}}]}}

    v = judge(row(1), {"obs": row(2)}, api="Tensor.view")
    assert (v.outcome, v.cause["api"], v.cause["isolated"]) == ("FAIL", "Tensor.view", True)
    other = judge({"value": {"x": 1}}, {"obs": {"value": {"x": 2}}}, api="torch.x")    # nothing recorded
    assert other.cause["isolated"] is False


def test_a_class_that_is_a_function_fails_its_own_row_and_blocks_the_rows_that_lean_on_it():
    """A backend whose torch.dtype and torch.device are functions (tests/mutants/user_world): the read of the
    class diverges. On torch.device's and torch.dtype's own rows that is a FAIL of their own call; on the dtype
    constants' rows (torch.<dtype>: the constants are fine, isinstance(dt, torch.dtype) is what breaks) it is
    torch.dtype's fault, BLOCKED by it and that fault alone; never the constant's own call."""
    from conformance.compare import DTYPE_ROWS, same_api
    for api in ("torch.device", "torch.dtype"):
        oracle = _obs({"kind": f"{api} is a class"}, [[api, "class", "<read>", 0]])
        target = _obs({"kind": f"{api} is a function, not a class"}, [[api, "o function", "<read>", 0]])
        v = judge(oracle, {"obs": target}, api=api)
        assert (v.outcome, v.cause["api"], v.cause["phase"], v.cause["isolated"]) == ("FAIL", api, "call", True)
    constants = [["torch.float32", "dt:float32", "<read>", 0], ["torch.int8", "dt:int8", "<read>", 0]]
    oracle = _obs({"is_dtype": True}, constants + [["torch.dtype", "class", "<read>", 0]])
    target = _obs({"is_dtype": {"raises": "TypeError"}}, constants + [["torch.dtype", "o function", "<read>", 0]])
    v = judge(oracle, {"obs": target}, api=DTYPE_ROWS)
    assert (v.outcome, v.cause["api"], v.sole) == ("BLOCKED", "torch.dtype", "torch.dtype"), (v.outcome, v.cause)
    assert not same_api(DTYPE_ROWS, "torch.dtype") and same_api(DTYPE_ROWS, "torch.float32")


def test_an_exception_out_of_torchs_import_code_blames_the_attribute_it_read_wrong():
    """torch/_inductor/config.py tests `"dev" in torch.__version__` while imported: a version object that is no
    str raises there, outside any recorded call. Its reads come with the exception (calls.import_reads) and are
    held against the oracle's attributes (its hello's recorder.reads): the first that differs is the cause."""
    reads = {"torch.float32": "dt:float32", "torch.__version__": "version:storage"}
    target = {"raises": "TypeError", "type": "builtins.TypeError", "message": "argument of type 'Version' is not iterable",
              "display": {"calls": [], "raised_in": {"module": "torch._inductor.config", "function": "<module>"},
                          "import_reads": [["torch.float32", "dt:float32"], ["torch.__version__", "o Version"]]}}
    oracle = _obs({"present": True}, [])
    v = judge(oracle, {"obs": target}, api="torch._dynamo", oracle_reads=reads)
    assert v.cause["api"] == "torch.__version__" and v.cause["isolated"] is True, v.cause
    assert "torch._inductor.config" in v.cause["evidence"] and "o Version" in v.cause["evidence"]
    # reads that agree with the oracle's, or an oracle that did not say: nothing isolated
    for same in ({**reads, "torch.__version__": "o Version"}, None):
        v = judge(oracle, {"obs": target}, api="torch._dynamo", oracle_reads=same)
        assert v.cause["api"] != "torch.__version__" and v.cause["isolated"] is False, (same, v.cause)
