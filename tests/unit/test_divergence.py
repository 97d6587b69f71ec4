"""The one blame rule over two call logs (conformance/divergence.py). Entries: [api, result, given, depth]."""
from __future__ import annotations

import random

from conformance.calls import MISSING, READ
from conformance.divergence import first_divergence, unmatched

T = "T float32 [2] [1] 0 "


def test_the_first_call_whose_inputs_agree_and_result_differs():
    oracle = [["torch.frombuffer", T + "aaaa", "B8#1", 0], ["Tensor.reshape", T + "bbbb", T + "aaaa", 0]]
    target = [["torch.frombuffer", T + "ffff", "B8#1", 0], ["Tensor.reshape", T + "eeee", T + "ffff", 0]]
    found = first_divergence(oracle, target)
    assert found["api"] == "torch.frombuffer" and found["index"] == 0
    assert "aaaa" in found["how"] and "ffff" in found["how"]


def test_a_call_given_what_no_oracle_call_was_given_is_never_blamed():
    oracle = [["Tensor.reshape", T + "bbbb", T + "aaaa", 0]]
    target = [["Tensor.reshape", T + "eeee", T + "ffff", 0]]
    assert first_divergence(oracle, target) is None
    assert "first call given what no oracle call of its API was given: #1 Tensor.reshape" in unmatched(oracle, target)


def test_raising_where_the_oracle_did_not_and_a_missing_attribute():
    oracle = [["Tensor.view(dtype)", T + "a", T + "a, dtype=dt:uint8", 0], ["torch.frombuffer", T + "c", "B8", 0]]
    assert first_divergence(oracle, [["Tensor.view(dtype)", "raises TypeError", T + "a, dtype=dt:uint8", 0]])["api"] \
        == "Tensor.view(dtype)"
    assert first_divergence(oracle, [["torch.frombuffer", MISSING, READ, 0]])["api"] == "torch.frombuffer"
    # an attribute the oracle's run never reached either: no evidence against it
    assert first_divergence(oracle, [["torch.float8_e5m2", MISSING, READ, 0]]) is None


def test_views_of_different_kinds_are_different_apis():
    oracle = [["Tensor.view(dtype)", T + "a", T + "x, dt:int16", 0]]
    target = [["Tensor.view(shape)", T + "b", T + "x, dt:int16", 0]]
    assert first_divergence(oracle, target) is None


def test_the_blame_descends_to_the_deepest_diverging_call():
    oracle = [["safetensors.x", "1", "", 0], ["torch.nn.Module.load_state_dict", "t(l[], l[])", "module M", 0],
              ["Tensor.copy_", T + "good =a0", T + "zero, " + T + "good", 1]]
    target = [["safetensors.x", "1", "", 0], ["torch.nn.Module.load_state_dict", "o Broken", "module M", 0],
              ["Tensor.copy_", T + "bad =a0", T + "zero, " + T + "good", 1],
              ["Tensor.add_", T + "whatever", T + "never seen", 1]]
    assert first_divergence(oracle, target)["api"] == "Tensor.copy_"
    target[2][1] = T + "good =a0"           # the inner call agrees: the method itself went wrong
    assert first_divergence(oracle, target)["api"] == "torch.nn.Module.load_state_dict"


def test_order_and_extra_calls_do_not_matter():
    """Order follows the hash seed; a backend's Python code makes calls the oracle's C code does not."""
    oracle = [["Tensor.dtype", f"dt:{n}", f"T {n} x", 0] for n in ("float32", "int8", "bfloat16", "uint8")]
    for seed in range(5):
        target = [list(e) for e in oracle] + [["Tensor.dtype", "dt:float32", "T float32 x", 1]] * 3
        random.Random(seed).shuffle(target)
        assert first_divergence(oracle, target) is None
    target = [list(e) for e in oracle]
    target[2][1] = "dt:float16"
    random.Random(7).shuffle(target)
    assert first_divergence(oracle, target)["api"] == "Tensor.dtype"


def test_unreadable_fields_are_no_evidence():
    oracle = [["Tensor.reshape", "T float32 [2] [1] 0 abcd", "T float32 [2] [1] 0 abcd, l[2]", 0]]
    target = [["Tensor.reshape", "T float32 [2] [1] ? abcd", "T float32 [2] [1] ? abcd, l[2]", 0]]
    assert first_divergence(oracle, target) is None
    target[0][1] = "T float32 [2] [2] ? abcd"
    assert first_divergence(oracle, target)["api"] == "Tensor.reshape"


def test_a_relation_one_side_could_not_read_is_no_evidence():
    """``~?``: the result holds memory whose place the kit could not read (a data_ptr that raises)."""
    oracle = [["Tensor.untyped_storage", "S 24 ? ~a0", "T float32 [2,3] [3,1] 0 ?", 0]]
    target = [["Tensor.untyped_storage", "S 24 ? ~?", "T float32 [2,3] [3,1] 0 ?", 0]]
    assert first_divergence(oracle, target) is None
    target[0][1] = "S 12 ? ~?"                       # what it could read still counts
    assert first_divergence(oracle, target)["api"] == "Tensor.untyped_storage"
    target[0][1] = "S 24 ?"                          # a relation read as none is evidence
    assert first_divergence(oracle, target)["api"] == "Tensor.untyped_storage"


def test_unmatched_says_what_the_logs_show():
    oracle = [["torch.frombuffer", "T", "B", 0]]
    text = unmatched(oracle, [["torch.frombuffer", "T", "B", 0], ["Tensor.secret", "1", "T", 0]])
    assert "2 target calls and 1 oracle calls" in text and "APIs only the target called: Tensor.secret" in text
    assert unmatched([], []) == "no torch call of the case was recorded"


def test_unmatched_names_the_bound_that_cut_a_log():
    """A transformers step's part is cut at its own bound (calls.CallLog.part), a case's log at calls.MAX_CALLS;
    the marker entries are no calls of the target's and no divergence."""
    from conformance.calls import CASE_BOUND, LOG_FULL, PART_BOUND
    call = ["torch.frombuffer", "T", "B", 0]
    step = [call, [LOG_FULL, "2000", PART_BOUND, 0]]
    text = unmatched([call], step + [call])
    assert "the target's log reached one part's bound of 2000 calls (calls.CallLog.part)" in text, text
    assert "MAX_CALLS" not in text and "oracle's log" not in text and "only the target called" not in text
    assert text.startswith("2 target calls and 1 oracle calls")
    assert first_divergence([call], step) is None
    text = unmatched([call, [LOG_FULL, "400", CASE_BOUND, 0]], [call])
    assert "the oracle's log reached its bound of 400 calls (calls.MAX_CALLS)" in text and "target's log" not in text
    many = [call] * 450     # a log of parts, none cut, is longer than a case's bound: no bound is named
    assert "bound" not in unmatched([call], many)


def test_diverging_apis_leaves_out_calls_wrong_only_through_an_inner_call():
    from conformance.divergence import diverging_apis
    oracle = [["torch.nn.Module.load_state_dict", "t(l[], l[])", "module M", 0],
              ["Tensor.copy_", T + "good =a0", T + "zero, " + T + "good", 1], ["Tensor.dtype", "dt:float32", T + "x", 0]]
    target = [["torch.nn.Module.load_state_dict", "o Broken", "module M", 0],
              ["Tensor.copy_", T + "bad =a0", T + "zero, " + T + "good", 1], ["Tensor.dtype", "dt:int8", T + "x", 0]]
    assert diverging_apis(oracle, target) == {"Tensor.copy_", "Tensor.dtype"}


def test_survived_misses_rank_below_every_other_divergence():
    from conformance.calls import GUARDED
    from conformance.divergence import diverging_apis
    oracle = [["torch.uint64", "dt:uint64", READ, 0], ["Tensor.view(dtype)", T + "a", T + "x, dt:int16", 0]]
    target = [["torch.uint64", GUARDED, READ, 0], ["Tensor.view(dtype)", T + "b", T + "x, dt:int16", 0]]
    found = first_divergence(oracle, target)
    assert (found["api"], found["guarded"]) == ("Tensor.view(dtype)", False)
    assert diverging_apis(oracle, target) == {"Tensor.view(dtype)"}
    target[1][1] = T + "a"
    found = first_divergence(oracle, target)
    assert (found["api"], found["guarded"]) == ("torch.uint64", True)
    assert diverging_apis(oracle, target) == {"torch.uint64"}
    # the other way round: the target has what the oracle's run went on without
    assert first_divergence([["torch.xpu", GUARDED, READ, 0]] + oracle[1:],
                            [["torch.xpu", "o module", READ, 0], ["Tensor.view(dtype)", T + "b", T + "x, dt:int16", 0]]
                            )["api"] == "Tensor.view(dtype)"


def test_what_a_record_keeps_of_the_oracle_log_is_all_the_rule_reads():
    """A record keeps, of the oracle's log, the entries of the APIs the target's log names (divergence.kept): the
    rule finds the same over them, and a passing row (no target log) keeps none (gathering.oracle_as_kept)."""
    from conformance.calls import CASE_BOUND, GUARDED, LOG_FULL
    from conformance.divergence import diverging_apis, kept
    from conformance.gathering import oracle_as_kept

    step = [[f"Tensor.op{i}", T + "%04x" % i, T + "aaaa", i % 2] for i in range(50)]      # a step's other calls
    oracle = step[:20] + [["torch.frombuffer", T + "aaaa", "B8#1", 0], ["torch.__version__", GUARDED, READ, 0],
                          ["Tensor.reshape", T + "bbbb", T + "aaaa", 0]] + step[20:] + [[LOG_FULL, "400", CASE_BOUND, 0]]
    target = [["torch.frombuffer", T + "aaaa", "B8#1", 0], ["torch.__version__", "'2.1'", READ, 0],
              ["Tensor.reshape", T + "eeee", T + "aaaa", 0]]
    small = kept(oracle, target)
    assert {e[0] for e in small} == {"torch.frombuffer", "torch.__version__", "Tensor.reshape", LOG_FULL}
    assert first_divergence(small, target) == first_divergence(oracle, target) is not None
    assert diverging_apis(small, target) == diverging_apis(oracle, target)
    obs = {"value": 1, "display": {"calls": oracle, "where": "x.py:1"}}
    record_side = oracle_as_kept(obs, {"raises": "TypeError", "display": {"calls": target}})
    assert record_side["display"] == {"calls": small, "where": "x.py:1"} and obs["display"]["calls"] is oracle
    assert oracle_as_kept({"value": 1, "display": {"calls": oracle}}, {"value": 1}) == {"value": 1}
