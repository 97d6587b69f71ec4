"""Unit tests of the kit's own parts: compare, expectations, oracle cache, worker client, backends.

Nothing here imports torch; the few tests that need a process of their own (usage errors, the
import alias) run one.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from conformance import backends
from conformance.client import TAIL_BYTES, WorkerClient
from conformance.compare import bytes_diff, diff, judge
from conformance.expectations import Expectations, ExpectationsError, apply
from conformance.expectations_update import update
from conformance.logtail import LogTail
from conformance.oracle_cache import CacheError, OracleCache, cache_key
from conformance.registry import catalog_digest
from kitrun import REPO, kit_env, run_pytest

ENV_VAR = backends.declared("mindtorch_v2").sources.env


def find_sources(explicit: list[str]) -> str | None:
    return backends.find_sources("mindtorch_v2", explicit)


def tensor_obs(hex_bytes: str, **kw) -> dict:
    return {"value": {"dtype": "float32", "shape": [len(hex_bytes) // 8], "stride": [1], "bytes": hex_bytes, **kw}}


def exc(cls: str, message: str = "", qualname: str | None = None) -> dict:
    return {"raises": cls, "type": qualname or f"builtins.{cls}", "message": message}


# -- compare -----------------------------------------------------------------------------------------

class TestCompare:
    def test_bytes_diff_gives_first_offset_and_hex_excerpts(self):
        a = bytes(range(32))
        b = bytearray(a)
        b[20] ^= 0xFF
        d = bytes_diff("value.bytes", a.hex(), bytes(b).hex())
        assert d["kind"] == "bytes" and d["path"] == "value.bytes"
        assert d["first_offset"] == 20
        assert d["excerpt_start"] == 12                    # 8 bytes of context before
        assert d["oracle_hex"] == "0c 0d 0e 0f 10 11 12 13 14 15 16 17 18 19 1a 1b"
        assert d["target_hex"] == "0c 0d 0e 0f 10 11 12 13 eb 15 16 17 18 19 1a 1b"
        assert d["oracle_len"] == d["target_len"] == 32

    def test_bytes_diff_at_start_and_on_length(self):
        d = bytes_diff("b", "00112233", "01112233")
        assert (d["first_offset"], d["excerpt_start"], d["oracle_hex"], d["target_hex"]) == (0, 0, "00 11 22 33",
                                                                                              "01 11 22 33")
        d = bytes_diff("b", "001122", "0011")             # a common prefix: the first missing byte
        assert (d["first_offset"], d["oracle_len"], d["target_len"]) == (2, 3, 2)

    def test_judge_pass_on_identical_and_fail_with_bytes_summary(self):
        o = tensor_obs("0000803f000020c0")
        assert judge(o, {"obs": json.loads(json.dumps(o))}).outcome == "PASS"
        v = judge(o, {"obs": tensor_obs("0000803f010020c0")})
        assert v.outcome == "FAIL"
        assert "value.bytes: bytes differ at offset 4" in v.summary
        assert [d["path"] for d in v.diffs] == ["value.bytes"] and v.diffs[0]["first_offset"] == 4

    def test_nested_difference_named_by_path(self):
        v = judge(tensor_obs("00000000"), {"obs": tensor_obs("00000000", stride=[2])})
        assert v.outcome == "FAIL"
        assert v.diffs == [{"path": "value.stride[0]", "oracle": 1, "target": 2}]

    def test_python_types_are_compared_too(self):
        assert diff({"x": 1}, {"x": True}) == [{"path": "x", "oracle": 1, "target": True}]
        assert diff({"x": [1, 2]}, {"x": [1, 2, 3]})[0]["path"] == "x"

    def test_exception_class_is_compared_but_not_its_message(self):
        oracle = exc("ValueError", "buffer length (3 bytes) must be a multiple of element size (2)")
        same_class = exc("ValueError", "something else entirely", "mindtorch.errors.ShapeError")
        assert judge(oracle, {"obs": same_class}).outcome == "PASS"
        v = judge(oracle, {"obs": exc("TypeError", "buffer length must be a multiple")})
        assert v.outcome == "FAIL"
        assert v.diffs[0]["path"] == "raises"
        assert (v.diffs[0]["oracle"], v.diffs[0]["target"]) == ("ValueError", "TypeError")
        assert v.diffs[0]["target_message"] == "buffer length must be a multiple"   # shown, not compared

    def test_raised_where_the_oracle_did_not_and_the_reverse(self):
        v = judge(tensor_obs("00000000"), {"obs": exc("RuntimeError", "boom")})
        assert v.outcome == "FAIL" and v.summary.startswith("raised RuntimeError (boom) where the oracle did not")
        v = judge(exc("ValueError", "no"), {"obs": tensor_obs("00000000")})
        assert v.outcome == "FAIL" and v.summary.startswith("did not raise; the oracle raised ValueError")

    def test_attribute_error_is_missing_unless_the_oracle_raises_it_too(self):
        missing = {"obs": exc("AttributeError", "module 'torch' has no attribute 'frombuffer'")}
        v = judge(tensor_obs("00000000"), missing, api="torch.frombuffer")
        assert v.outcome == "MISSING" and "frombuffer" in v.summary
        assert v.cause == {"api": "torch.frombuffer", "phase": "call", "evidence": v.summary, "isolated": True}
        assert judge(exc("AttributeError", "a"), {"obs": exc("AttributeError", "b")}).outcome == "PASS"

    def test_another_apis_absence_blocks_the_row_and_names_that_api(self):
        missing = {"obs": exc("AttributeError", "module 'mindtorch_v2' has no attribute 'frombuffer'")}
        v = judge(tensor_obs("00000000"), missing, api="safetensors.torch.load")   # an entry point: a chain
        assert v.outcome == "BLOCKED" and v.cause["api"] == "torch.frombuffer" and v.cause["phase"] == "chain"
        v = judge(tensor_obs("00000000"), {"obs": exc("AttributeError", "'Tensor' object has no attribute 'data_ptr'")},
                  api="UntypedStorage.nbytes")                                       # a unit case's prerequisite
        assert v.outcome == "BLOCKED" and v.cause["api"] == "Tensor.data_ptr" and v.cause["phase"] == "input"
        # an AttributeError inside the backend's own code (not a torch API) is the call's own failure
        v = judge(tensor_obs("00000000"), {"obs": exc("AttributeError", "'NoneType' object has no attribute 'shape'")},
                  api="Tensor.reshape")
        assert v.outcome == "FAIL" and v.cause["api"] == "Tensor.reshape" and v.cause["phase"] == "call"

    def test_an_exception_raised_by_another_torch_api_blocks_the_row(self):
        raised = {**exc("TypeError", "from_file() got an unexpected keyword argument 'nbytes'"),
                  "display": {"torch_api": "torch.UntypedStorage.from_file", "called_at": "x.py:3"}}
        v = judge(tensor_obs("00000000"), {"obs": raised}, api="safe_open(pt).get_tensor")
        assert v.outcome == "BLOCKED" and v.cause["api"] == "torch.UntypedStorage.from_file"
        assert "x.py:3" in v.cause["evidence"]
        v = judge(tensor_obs("00000000"), {"obs": raised}, api="torch.UntypedStorage.from_file")
        assert v.outcome == "FAIL" and v.cause["phase"] == "call"

    def test_a_blocked_observation_is_blocked_unless_it_names_the_rows_own_api(self):
        blocked = {"blocked": {"api": "Tensor.view(dtype)", "phase": "input", "evidence": "no route built it"}}
        v = judge(tensor_obs("00000000"), {"obs": blocked}, api="Tensor.reshape")
        assert v.outcome == "BLOCKED" and v.cause["api"] == "Tensor.view(dtype)" and "blocked by" in v.summary
        v = judge(tensor_obs("00000000"), {"obs": blocked}, api="Tensor.view(dtype)")
        assert v.outcome == "FAIL" and v.cause["phase"] == "call"
        assert judge(blocked, {"obs": tensor_obs("00000000")}).outcome == "ERROR"     # the oracle never blocks

    def test_a_cases_own_cause_wins(self):
        obs = {"value": 2, "display": {"cause": {"api": "torch.nn.functional.linear", "phase": "chain",
                                                 "evidence": "first divergence at model.py:7"}}}
        v = judge({"value": 1}, {"obs": obs}, api="replay[albert-chained]")
        assert v.outcome == "BLOCKED" and v.cause["api"] == "torch.nn.functional.linear"

    def test_missing_and_skipped_dtypes(self):
        v = judge(tensor_obs("00000000"), {"obs": {"dtype_absent": "float8_e5m2"}}, api="torch.frombuffer")
        assert v.outcome == "BLOCKED" and v.cause["api"] == "torch.float8_e5m2" and v.cause["phase"] == "input"
        assert judge(tensor_obs("00000000"), {"obs": {"dtype_absent": "float8_e5m2"}}, api="torch.<dtype>").outcome \
            == "MISSING"
        assert judge({"dtype_absent": "float4_e2m1fn_x2"}, {"obs": {"dtype_absent": "float4_e2m1fn_x2"}}).outcome == "SKIP"

    def test_crash_and_timeout(self):
        v = judge(tensor_obs("00"), {"crash": "worker died (killed by SIGSEGV); last output:\nSegmentation fault"})
        assert v.outcome == "CRASH" and v.summary == "worker died (killed by SIGSEGV); last output:"
        assert v.diffs[0]["path"] == "process" and "Segmentation fault" in v.diffs[0]["detail"]
        v = judge(tensor_obs("00"), {"timeout": 5.0})
        assert v.outcome == "TIMEOUT" and "5.0 s" in v.summary
        assert judge(None, {"crash": "x"}).outcome == "CRASH"    # even without an oracle record

    def test_kit_problems_are_errors(self):
        assert judge(None, {"obs": tensor_obs("00")}).outcome == "ERROR"
        assert judge({"kit_error": "oracle crashed"}, {"obs": tensor_obs("00")}).outcome == "ERROR"
        assert judge(tensor_obs("00"), {"obs": {"kit_error": "real torch was imported"}}).outcome == "ERROR"

    def test_wrong_input_in_the_target_blocks_the_row(self):
        good = {"input": "float32[1]", "expected": {"bytes": "00000000"}, "observed": {"bytes": "00000000"}}
        bad = {"input": "float32[1]", "expected": {"bytes": "00000000"}, "observed": {"bytes": "00000080"}}
        oracle = {**tensor_obs("00000000"), "inputs": [good]}
        v = judge(oracle, {"obs": {**tensor_obs("00000000"), "inputs": [bad]}})
        assert v.outcome == "BLOCKED" and "the input given to the case was already wrong" in v.summary
        assert v.cause["phase"] == "input"
        assert "input float32[1]" in v.summary and v.diffs[0]["first_offset"] == 3
        assert judge({**tensor_obs("00000000"), "inputs": [bad]}, {"obs": oracle}).outcome == "ERROR"


# -- expectations --------------------------------------------------------------------------------------

class TestExpectations:
    @pytest.mark.parametrize("line, problem", [
        ("frombuffer[bfloat16-*]  FAIL", "the reason is required"),
        ("frombuffer[bfloat16-*]  BROKEN  flips a bit", "unknown outcome 'BROKEN'"),
        ("frombuffer[*-special]  FAIL  stars inside", "'*' is only allowed at the end of a pattern"),
        ("reshape[float32-6to2x3]  PASS  a pass is not a gap", "PASS only says a case passes here although an "
                                                                "included file expects it to fail"),
    ])
    def test_malformed_line_names_file_line_and_problem(self, line, problem):
        text = f"# known gaps\n\nempty_zero_size[int16-0]  CRASH  segfaults\n{line}\n"
        with pytest.raises(ExpectationsError) as e:
            Expectations.parse(text, "exp/mindtorch_v2.txt")
        assert str(e.value).startswith("exp/mindtorch_v2.txt:4: ")
        assert problem in str(e.value)

    def test_duplicate_pattern_names_both_lines(self):
        with pytest.raises(ExpectationsError, match=r"^x\.txt:3: 'a\[1\]' is already listed on line 1"):
            Expectations.parse("a[1]  FAIL  one\n\na[1]  MISSING  two\n", "x.txt")

    def test_load_of_a_missing_file_says_how_to_create_it(self, tmp_path):
        with pytest.raises(ExpectationsError, match="does not exist; create it"):
            Expectations.load(tmp_path / "nope.txt")

    def test_parse_keeps_reason_outcomes_and_line(self):
        exp = Expectations.parse("# c\nfrombuffer[*  fail,missing   bf16 reads float32 (issue 12)  \n", "f")
        (e,) = exp.entries
        assert (e.pattern, e.outcomes, e.reason, e.line) == ("frombuffer[*", ("FAIL", "MISSING"),
                                                              "bf16 reads float32 (issue 12)", 2)

    def test_longest_prefix_wins_and_exact_beats_prefix(self):
        exp = Expectations.parse(textwrap.dedent("""\
            frombuffer*                    FAIL     any frombuffer
            frombuffer[bfloat16-*          MISSING  bf16 absent
            frombuffer[bfloat16-special]*  CRASH    longer prefix than the exact id below
            frombuffer[bfloat16-special]   TIMEOUT  the exact id
            """), "f")
        assert exp.match("frombuffer[int8-ordinary]").line == 1
        assert exp.match("frombuffer_error[ragged-int64]").line == 1
        assert exp.match("frombuffer[bfloat16-ordinary]").line == 2
        assert exp.match("frombuffer[bfloat16-special]").line == 4      # exact, despite a longer prefix
        assert exp.match("frombuffer[bfloat16-special]x").line == 3
        assert exp.match("reshape[float32-6to2x3]") is None
        assert [e.line for e in exp.unmatched(["frombuffer[int8-ordinary]"])] == [2, 3, 4]

    def test_bracketed_prefix_form_of_the_readme(self):
        exp = Expectations.parse("frombuffer[*]  MISSING  no frombuffer\n"
                                 "empty_zero_size[bfloat16-*]  FAIL  bf16 cannot be viewed as int16\n", "f")
        assert exp.match("frombuffer[int8-special]").line == 1
        assert exp.match("frombuffer_error[ragged-int64]") is None
        assert exp.match("empty_zero_size[bfloat16-0x3x4]").line == 2
        assert exp.match("empty_zero_size[float32-2x0]") is None

    def test_apply(self):
        e = Expectations.parse("a[1]  FAIL,MISSING  known gap\n", "exp.txt").entries[0]
        assert apply("FAIL", e) == ("XFAIL", "known gap")
        assert apply("MISSING", e) == ("XFAIL", "known gap")
        final, note = apply("PASS", e)
        assert final == "XPASS" and "'a[1]' (exp.txt:1) expects FAIL/MISSING: known gap" in note
        final, note = apply("CRASH", e)                 # a different failure than the one expected
        assert final == "CRASH" and note == "expected FAIL/MISSING (known gap), got CRASH"
        assert apply("SKIP", e) == ("SKIP", "")
        assert apply("FAIL", None) == ("FAIL", "")
        assert apply("PASS", None) == ("PASS", "")

    @staticmethod
    def _rec(i: str, raw: str, module: str = "view2torch", summary: str = "it differs") -> dict:
        return {"id": i, "raw_outcome": raw, "module": module, "summary": summary}

    def test_rewrite_keeps_reasons_of_entries_that_still_hold(self):
        old = Expectations.parse(textwrap.dedent("""\
            frombuffer[*                   FAIL     frombuffer copies (issue 7)
            frombuffer[bfloat16-special]   MISSING  no bf16 NaN payloads (issue 9)
            reshape[float32-6to2x3]        FAIL     fixed since
            empty_zero_size[int16-0]       CRASH    segfault (issue 3)
            """), "exp.txt")
        records = [self._rec("frombuffer[int8-ordinary]", "FAIL"), self._rec("frombuffer[int8-special]", "FAIL"),
                   # decided by the exact entry, so it does not break the prefix entry above
                   self._rec("frombuffer[bfloat16-special]", "MISSING"),
                   self._rec("reshape[float32-6to2x3]", "PASS"),
                   self._rec("empty_zero_size[int16-0]", "TIMEOUT", summary="no answer within 30 s"),
                   self._rec("from_numpy[int8]", "FAIL", summary="value.bytes:\n   differ")]
        text = update(records, old, "mindtorch_v2").text
        entries = Expectations.parse(text, "new.txt").entries
        got = {e.pattern: (e.outcomes, e.reason) for e in entries}
        assert got == {
            "frombuffer[*": (("FAIL",), "frombuffer copies (issue 7)"),
            "frombuffer[bfloat16-special]": (("MISSING",), "no bf16 NaN payloads (issue 9)"),
            "empty_zero_size[int16-0]": (("TIMEOUT",), "TRIAGE: no answer within 30 s"),
            "from_numpy[int8]": (("FAIL",), "TRIAGE: value.bytes: differ"),
        }
        assert text.startswith("# Expected failures of target 'mindtorch_v2'")
        # every kept or new entry makes the records XFAIL again
        rewritten = Expectations.parse(text, "new.txt")
        for r in records:
            if r["raw_outcome"] != "PASS":
                assert apply(r["raw_outcome"], rewritten.match(r["id"]))[0] == "XFAIL", r["id"]


# -- oracle cache -----------------------------------------------------------------------------------------

KEY = {"torch": "2.13.0", "safetensors": "0.8.0", "numpy": "2", "python": "3.11", "catalog": "abc"}


def _filled_cache(tmp_path: Path, n: int = 3) -> OracleCache:
    c = OracleCache(tmp_path, KEY)
    c.save_hello({"module": "torch", "version": "2.13.0"})
    for i in range(n):
        c.append(f"case[{i}]", {"value": i})
    return c


class TestOracleCache:
    def test_round_trip(self, tmp_path):
        c = _filled_cache(tmp_path)
        records, hello = c.load()
        assert records == {"case[0]": {"value": 0}, "case[1]": {"value": 1}, "case[2]": {"value": 2}}
        assert hello == {"module": "torch", "version": "2.13.0"}
        assert OracleCache(tmp_path, {**KEY, "catalog": "other"}).dir != c.dir

    def test_corrupt_line_names_file_line_and_the_fix(self, tmp_path):
        c = _filled_cache(tmp_path)
        lines = c.records_path.read_text().splitlines()
        lines[1] = lines[1][:-3] + "xx}"
        c.records_path.write_text("\n".join(lines) + "\n")
        with pytest.raises(CacheError) as e:
            c.load()
        msg = str(e.value)
        assert f"{c.records_path}:2 " in msg
        assert "--rebuild-oracle" in msg and f"Delete {c.dir}" in msg

    def test_record_without_case_key_is_corrupt(self, tmp_path):
        c = _filled_cache(tmp_path)
        with open(c.records_path, "a") as f:
            f.write('{"obs": {}}\n')
        with pytest.raises(CacheError, match=r"records\.jsonl:4 \(KeyError"):
            c.load()

    def test_corrupt_meta_names_the_file(self, tmp_path):
        c = _filled_cache(tmp_path)
        c.meta_path.write_text("{not json")
        with pytest.raises(CacheError, match=r"meta\.json \(JSONDecodeError.*--rebuild-oracle"):
            c.load()

    def test_truncated_last_line_is_tolerated_and_recorded_again(self, tmp_path):
        c = _filled_cache(tmp_path)
        data = c.records_path.read_bytes()
        c.records_path.write_bytes(data[:-7])           # a kill in the middle of writing case[2]
        records, _ = c.load()
        assert set(records) == {"case[0]", "case[1]"}
        c.append("case[2]", {"value": 2})               # what the next run does for the missing case
        c.append("case[3]", {"value": 3})
        records, _ = c.load()
        assert records == {f"case[{i}]": {"value": i} for i in range(4)}
        assert len(c.records_path.read_text().splitlines()) == 4

    def test_clear_is_what_rebuild_oracle_does(self, tmp_path):
        c = _filled_cache(tmp_path)
        c.records_path.write_text("garbage\n" + c.records_path.read_text())
        with pytest.raises(CacheError):
            c.load()
        c.clear()
        assert c.load() == ({}, None)

    def test_recording_lanes_split_slow_cases_and_keep_catalog_order(self, monkeypatch):
        from types import SimpleNamespace

        from conformance import balance

        monkeypatch.setattr(balance.os, "cpu_count", lambda: 2)
        cases = {f"c{i}": SimpleNamespace(slow=i in (3, 7)) for i in range(10)}

        def split(ids, cs):
            return balance.two_lanes(ids, lambda c: cs[c].slow)
        lanes = split(list(cases), cases)
        assert len(lanes) == 2 and sorted(sum(lanes, [])) == sorted(cases)   # every case, once
        assert [sum(cases[c].slow for c in lane) for lane in lanes] == [1, 1]
        assert all(lane == sorted(lane, key=lambda c: int(c[1:])) for lane in lanes)
        assert abs(len(lanes[0]) - len(lanes[1])) <= 2
        fast_only = {c: SimpleNamespace(slow=False) for c in ("a", "b")}
        assert split(["a", "b"], fast_only) == [["a", "b"]]     # not worth a second start
        monkeypatch.setattr(balance.os, "cpu_count", lambda: 1)
        assert len(split(list(cases), cases)) == 1

    def test_an_oracle_that_cannot_start_is_a_usage_error_naming_the_fix(self, tmp_path):
        broken = tmp_path / "site" / "torch"
        broken.mkdir(parents=True)
        (broken / "__init__.py").write_text('raise ImportError("this torch is broken on purpose")\n')
        env = kit_env()
        env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "site"), env["PYTHONPATH"]])
        p = run_pytest(["conformance/catalog", "--target", "pyborch", "--oracle-cache", str(tmp_path / "cache"),
                        "-q"], cwd=REPO, env=env)
        out = p.stdout + p.stderr
        assert p.returncode == 4, out
        assert "the oracle (real PyTorch) could not start" in out and "this torch is broken on purpose" in out
        assert "pip install torch==2.13.0" in out
        assert "Traceback" not in out and "INTERNALERROR" not in out

    def test_run_with_a_corrupt_cache_is_a_usage_error_naming_the_fix(self, tmp_path):
        cache = OracleCache(tmp_path / "cache", cache_key(catalog_digest()))
        cache.save_hello({"module": "torch"})
        cache.records_path.write_text('{"case": "x", "obs": {}}\n{broken\n{"case": "y", "obs": {}}\n')
        p = run_pytest(["conformance/catalog", "--target", "torch", "--oracle-cache", str(tmp_path / "cache"), "-q"],
                       cwd=REPO)
        assert p.returncode == 4, p.stdout + p.stderr
        out = p.stdout + p.stderr
        assert f"{cache.records_path}:2" in out and "--rebuild-oracle" in out
        assert "Traceback" not in out


# -- the second target process for slow cases ----------------------------------------------------------

def test_slow_cases_are_split_so_both_target_processes_end_together():
    from types import SimpleNamespace

    from conformance.items import CaseItem
    from conformance.lanes import slow_lane_share as _slow_lane_share

    def item(cid: str, slow: bool) -> CaseItem:
        it = CaseItem.__new__(CaseItem)      # only .case is read
        it.case = SimpleNamespace(id=cid, slow=slow)
        return it

    items = [item(f"f{i}", False) for i in range(934)] + [item("s0", True), item("s1", True)]
    def share(start): return _slow_lane_share(SimpleNamespace(target_startup=start), items)
    assert share(0.4) == ["s0", "s1"]        # starting one more is cheap: it takes every slow case
    assert share(2.5) == ["s0"]              # torch: one each, or the second start would be the longer
    assert share(None) == []                 # the first process never started
    assert _slow_lane_share(SimpleNamespace(target_startup=0.4), items[-2:]) == []   # only slow cases


# -- worker client: crash versus timeout -------------------------------------------------------------------

# Frames each line the script prints on stdout, as a worker frames its answers (conformance.channel).
_FRAMED_STDOUT = """\
import json as _json, sys as _sys
from conformance import channel as _channel
class _Framed:
    def write(self, text):
        for line in text.splitlines():
            if line.strip():
                _channel.write(1, _json.loads(line))
    def flush(self):
        pass
_sys.stdout = _Framed()
"""


def _client_with(script: str, timeout: float) -> WorkerClient:
    """A WorkerClient driving ``script`` instead of a real worker: requests are one JSON line each on its
    stdin; each JSON line it prints is framed as the worker frames its answers."""
    from conformance import channel

    c = WorkerClient([], timeout=timeout)
    log_r, log_w = os.pipe()
    c.proc = subprocess.Popen([sys.executable, "-c", _FRAMED_STDOUT + textwrap.dedent(script)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=log_w, start_new_session=True, env=kit_env())
    os.close(log_w)
    c._log = LogTail(log_r, TAIL_BYTES)
    proc = c.proc
    c._reader = channel.Reader(os.dup(proc.stdout.fileno()), alive=lambda: proc.poll() is None)
    c.hello = {}
    c.starts = 1
    return c


class TestWorkerClient:
    def test_answer(self):
        c = _client_with("""
            import json, sys
            for line in sys.stdin:
                print(json.dumps({"case": json.loads(line)["case"], "obs": {"value": 1}, "ms": 0.5}), flush=True)
            """, timeout=30)
        try:
            assert c.run("a[1]") == {"obs": {"value": 1}, "ms": 0.5, "process": 1}
        finally:
            c.close()

    def test_case_sent_ahead_is_answered_in_order_and_only_once(self):
        c = _client_with("""
            import json, sys
            seen = []
            for line in sys.stdin:
                seen.append(json.loads(line)["case"])
                print(json.dumps({"case": seen[-1], "obs": {"value": list(seen)}}), flush=True)
            """, timeout=30)
        try:
            assert c.run("a")["obs"] == {"value": ["a"]}
            c.submit("b")
            c.submit("b")            # already in flight: not sent twice
            assert c.run("b")["obs"] == {"value": ["a", "b"]}
            assert c.run("c")["obs"] == {"value": ["a", "b", "c"]}
        finally:
            c.close()

    def test_the_next_case_is_queued_before_waiting_and_runs_once(self):
        # The worker answers "a" only once "b" is already in its input: run(a, then=b) sent b first.
        c = _client_with("""
            import json, os, select
            buf, seen = b"", []
            while True:
                while b"\\n" not in buf:
                    chunk = os.read(0, 65536)
                    if not chunk:
                        raise SystemExit
                    buf += chunk
                line, buf = buf.split(b"\\n", 1)
                seen.append(json.loads(line)["case"])
                queued = b"\\n" in buf or bool(select.select([0], [], [], 0.5)[0])
                print(json.dumps({"case": seen[-1], "obs": {"value": [list(seen), queued]}}), flush=True)
            """, timeout=30)
        try:
            assert c.run("a", then=["b"])["obs"] == {"value": [["a"], True]}
            assert c.run("b", then=["c", "d"])["obs"] == {"value": [["a", "b"], True]}
            assert c.run("c", then=["d"])["obs"] == {"value": [["a", "b", "c"], True]}   # d: not sent twice
            assert c.run("d")["obs"] == {"value": [["a", "b", "c", "d"], False]}
        finally:
            c.close()

    def test_cases_queued_while_the_process_starts_wait_for_its_hello(self):
        # The slow lane queues its cases right after starting the process: the hello is read first.
        c = _client_with("""
            import json, sys, time
            time.sleep(0.3)
            print(json.dumps({"hello": {"module": "fake"}}), flush=True)
            for line in sys.stdin:
                print(json.dumps({"case": json.loads(line)["case"], "obs": {"value": 2}}), flush=True)
            """, timeout=30)
        c.hello = None
        try:
            c.submit("a")
            c.submit("b")
            assert c.run("a")["obs"] == {"value": 2} and c.hello == {"module": "fake"}
            assert c.run("b")["obs"] == {"value": 2}
        finally:
            c.close()

    def test_crash_of_a_case_sent_ahead_shows_only_its_own_output(self):
        # "b" is sent ahead and kills the process while the runner is still busy with "a": b is CRASH
        # with b's last words, not a's.
        c = _client_with("""
            import json, os, sys
            for line in sys.stdin:
                case = json.loads(line)["case"]
                sys.stderr.write(f"output of {case}\\n"); sys.stderr.flush()
                if case == "b":
                    os._exit(7)
                print(json.dumps({"case": case, "obs": {"value": 1}}), flush=True)
            """, timeout=30)
        assert "obs" in c.run("a")
        c.submit("b")
        time.sleep(0.5)     # b has died before the runner asks for it: still b's CRASH, not a rerun
        got = c.run("b")
        assert got["crash"].startswith("worker died (exit code 7)"), got
        assert "output of b" in got["crash"] and "output of a" not in got["crash"]
        assert c.proc is None

    def test_a_case_sent_ahead_that_hangs_is_a_timeout(self):
        c = _client_with("""
            import json, sys, time
            for line in sys.stdin:
                case = json.loads(line)["case"]
                if case == "b":
                    time.sleep(600)
                print(json.dumps({"case": case, "obs": {"value": 1}}), flush=True)
            """, timeout=0.5)
        assert "obs" in c.run("a")
        c.submit("b")
        time.sleep(1.0)               # the runner is slow to ask: b's clock runs from when it could start
        start = time.monotonic()
        assert c.run("b") == {"timeout": 0.5}
        assert time.monotonic() - start < 0.4

    def test_closed_pipe_is_a_crash_even_before_the_process_is_gone(self):
        # The worker closes its protocol pipe and takes a moment to exit: EOF means it is dying, so this is
        # CRASH (with its exit code), never TIMEOUT.
        c = _client_with("""
            import os, sys, time
            sys.stdin.readline()
            sys.stderr.write("dying now\\n"); sys.stderr.flush()
            os.close(1)
            time.sleep(1)
            os._exit(3)
            """, timeout=20)
        got = c.run("a[1]")
        assert "crash" in got, got
        assert got["crash"].startswith("worker died (exit code 3)") and "dying now" in got["crash"]
        assert c.proc is None

    def test_hang_is_a_timeout_and_the_process_is_killed(self):
        c = _client_with("""
            import sys, time
            sys.stdin.readline()
            time.sleep(600)
            """, timeout=0.5)
        pid = c.proc.pid
        got = c.run("a[1]")
        assert got == {"timeout": 0.5}
        assert c.proc is None
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


# -- backends ------------------------------------------------------------------------------------------

def test_real_torch_watch_reports_each_module_from_the_torch_folder_once(tmp_path, monkeypatch):
    from conformance.backends.base import RealTorchWatch

    fake_torch = tmp_path / "site" / "faketorch"     # stands for real torch's folder
    fake_torch.mkdir(parents=True)
    (fake_torch / "__init__.py").write_text("")
    (fake_torch / "late.py").write_text("")
    (tmp_path / "site" / "elsewhere.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    watch = RealTorchWatch(str(fake_torch))
    assert watch.new_modules() == []                 # nothing from that folder is loaded yet
    import elsewhere  # noqa: F401
    import faketorch  # noqa: F401
    assert watch.new_modules() == ["faketorch"]      # only what comes from the folder
    assert watch.new_modules() == []                 # and only once
    import faketorch.late  # noqa: F401
    assert watch.new_modules() == ["faketorch.late"]  # loaded between two looks: still seen
    for name in ("faketorch.late", "faketorch", "elsewhere"):
        sys.modules.pop(name, None)


class TestBackends:
    def test_unknown_target_lists_the_known_ones(self):
        with pytest.raises(backends.BackendError) as e:
            backends.resolve("mindtorch")
        assert "unknown target 'mindtorch'" in str(e.value)
        for name in ("torch", "pyborch", "mindtorch_v2", "module:NAME"):
            assert name in str(e.value)
        with pytest.raises(backends.BackendError, match="needs a module name"):
            backends.resolve("module:")

    def test_unknown_target_is_a_clean_usage_error(self, tmp_path):
        p = run_pytest(["conformance/catalog", "--target", "no_such_backend", "--oracle-cache", str(tmp_path)],
                       cwd=REPO)
        assert p.returncode == 4
        assert "ERROR: unknown target 'no_such_backend'. Known targets: " in p.stderr
        assert "Traceback" not in p.stdout + p.stderr
        assert not any(tmp_path.iterdir()), "nothing was recorded"

    def test_module_target_that_cannot_be_imported(self, tmp_path):
        p = run_pytest(["conformance/catalog", "--target", "module:no_such_module_xyz", "--oracle-cache",
                        str(tmp_path)], cwd=REPO)
        assert p.returncode == 4
        assert "no importable module 'no_such_module_xyz'" in p.stderr and "Traceback" not in p.stderr

    def test_catalog_without_target_is_a_usage_error(self):
        p = run_pytest(["conformance/catalog", "-q"], cwd=REPO, env=kit_env())
        assert p.returncode not in (0, 5)          # an error, not a pass nor "no tests"
        assert "conformance cases need a target: pass --target" in p.stdout + p.stderr
        assert " passed" not in p.stdout

    def test_malformed_expectations_file_is_a_usage_error(self, tmp_path):
        bad = tmp_path / "exp.txt"
        bad.write_text("frombuffer[*  FAIL  ok\nreshape[*  FIAL  typo\n")
        p = run_pytest(["conformance/catalog", "--target", "torch", "--expectations", str(bad),
                        "--oracle-cache", str(tmp_path / "c")], cwd=REPO)
        assert p.returncode == 4
        assert f"malformed expectations file: {bad}:2: unknown outcome 'FIAL'" in p.stderr
        assert "Traceback" not in p.stderr

    def test_mindtorch_v2_without_sources_names_the_env_var(self, tmp_path):
        if importlib.util.find_spec("mindtorch_v2") is not None:
            pytest.skip("mindtorch_v2 is installed here, so it is always found")
        cwd = tmp_path / "work"                       # ../mindnlp/src does not exist from here
        cwd.mkdir()
        env = kit_env()
        env.pop(ENV_VAR, None)
        p = run_pytest(["-p", "conformance.plugin", "--target", "mindtorch_v2", "--oracle-cache", str(tmp_path / "c")],
                       cwd=cwd, env=env)
        assert p.returncode == 4, p.stdout + p.stderr
        assert "ERROR: mindtorch_v2 not found" in p.stderr
        assert f"export {ENV_VAR}=/path/to/mindnlp/src" in p.stderr
        assert str(tmp_path / "mindnlp" / "src") in p.stderr      # where it looked
        assert "Traceback" not in p.stdout + p.stderr

    def test_mindtorch_v2_sources_are_found_by_env_var_then_sibling(self, tmp_path, monkeypatch):
        src = tmp_path / "elsewhere" / "src"
        (src / "mindtorch_v2").mkdir(parents=True)
        (src / "mindtorch_v2" / "__init__.py").write_text("")
        monkeypatch.setenv(ENV_VAR, str(src))
        monkeypatch.chdir(tmp_path)
        assert find_sources([]) == str(src.resolve())
        monkeypatch.delenv(ENV_VAR)
        sibling = tmp_path / "mindnlp" / "src" / "mindtorch_v2"
        sibling.mkdir(parents=True)
        (sibling / "__init__.py").write_text("")
        (tmp_path / "kit").mkdir()
        monkeypatch.chdir(tmp_path / "kit")
        assert find_sources([]) == str(sibling.parent.resolve())
        assert find_sources([str(src)]) == str(src.resolve())      # --backend-path comes first

    def test_alias_resolves_attribute_submodules(self, tmp_path):
        """A backend whose ``nn`` is an attribute (not a submodule), as pyborch's is: with the kit's alias,
        ``import torch.nn`` and ``from torch.nn.functional import relu`` work; a bare
        ``sys.modules["torch"] = mod`` does not."""
        pkg = tmp_path / "fakebackend"
        pkg.mkdir()
        (pkg / "__init__.py").write_text(textwrap.dedent("""\
            import types
            nn = types.ModuleType("fakebackend_nn")     # an attribute, not the submodule fakebackend.nn
            nn.Linear = "linear"
            nn.functional = types.SimpleNamespace(relu="relu")
            __version__ = "0.1"
            """))
        (pkg / "real_sub.py").write_text("VALUE = 42\n")
        script = textwrap.dedent("""\
            import importlib, json, sys
            out = {}
            import fakebackend
            sys.modules["torch"] = fakebackend                # bare alias: the submodule import fails
            try:
                import torch.nn
                out["bare"] = "imported"
            except ImportError as e:
                out["bare"] = type(e).__name__
            del sys.modules["torch"]
            from conformance.backends.alias import install_alias
            install_alias("fakebackend")
            import torch
            import torch.nn
            from torch.nn import Linear
            from torch.nn.functional import relu
            import torch.real_sub
            out.update(same=torch is fakebackend, nn=torch.nn is fakebackend.nn, linear=Linear, relu=relu,
                       real_sub=torch.real_sub.VALUE, real_sub_is=sys.modules["torch.real_sub"] is
                       importlib.import_module("fakebackend.real_sub"))
            try:
                import torch.no_such_thing
            except ImportError as e:
                out["absent"] = type(e).__name__
            print(json.dumps(out))
            """)
        env = kit_env(PYTHONPATH=f"{REPO}:{tmp_path}")
        p = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=120)
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout) == {"bare": "ModuleNotFoundError", "same": True, "nn": True, "linear": "linear",
                                        "relu": "relu", "real_sub": 42, "real_sub_is": True,
                                        "absent": "ModuleNotFoundError"}

    def test_module_named_torch_is_used_as_is(self, tmp_path):
        """A ``module:NAME`` whose module replaces itself by (patched) real torch needs no alias hook."""
        pkg = tmp_path / "selfaliased.py"
        pkg.write_text("import sys, types\nm = types.ModuleType('torch')\nm.marker = 1\nsys.modules[__name__] = m\n")
        script = ("import sys; from conformance.backends.alias import install_alias, TorchAliasFinder\n"
                  "m = install_alias('selfaliased')\n"
                  "print(m.marker, any(isinstance(f, TorchAliasFinder) for f in sys.meta_path), 'torch' in sys.modules)")
        p = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=kit_env(PYTHONPATH=f"{REPO}:{tmp_path}"),
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        assert p.stdout.split() == ["1", "False", "False"]
