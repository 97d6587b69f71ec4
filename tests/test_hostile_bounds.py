"""Issue 20, items 2 to 5 (not the sandbox): the runner writes safely, bounds what a worker answers, dies with
nothing left behind, and gives crafted inputs one line and exit code 4. One test (or more) per try of the
issue; the tries that take minutes (a 400 MB log, a million stale entries) are in
benchmarks/reliability_tries.py. The hostile targets are in tests/hostile/ (see its README).
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

from conformance import channel
from conformance import results as res
from conformance.oracle_cache import CacheError, OracleCache
from conformance.trace import schema
from conformance.trace.store import SCHEMA as TRACE_SCHEMA, Recording, TraceError
from kitrun import REPO, hostile_env as env_with
from records import judged

USAGE = 4


def kit(args: list[str], cache: Path | None = None, *, env: dict | None = None,
        timeout: float = 600) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "conformance", *args] + (["--oracle-cache", str(cache)] if cache else [])
    return subprocess.run(cmd, cwd=REPO, env=env or env_with(), capture_output=True, text=True, timeout=timeout)


def one_clear_line(p: subprocess.CompletedProcess) -> str:
    text = p.stdout + p.stderr
    assert p.returncode == USAGE, text[-3000:]
    assert "Traceback" not in text and "INTERNALERROR" not in text, text[-3000:]
    errors = [line for line in p.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, p.stderr[-3000:]
    return errors[0]


def pipe_with(data: bytes) -> int:
    r, w = os.pipe()
    threading.Thread(target=lambda: (os.write(w, data), os.close(w)), daemon=True).start()
    return r


# == item 4: bounded answers ===========================================================================

def test_a_frame_header_above_the_limit_is_refused_while_the_pipe_is_kept_full():
    """Try: a 1 GiB frame header with the pipe kept full; the case timeout never fired."""
    r, w = os.pipe()
    stop = threading.Event()

    def flood():
        os.write(w, b"CF1 %d %s\n" % (1 << 30, b"0" * 16))
        while not stop.is_set():
            try:
                os.write(w, b"x" * 65536)
            except OSError:
                return
    threading.Thread(target=flood, daemon=True).start()
    try:
        with pytest.raises(channel.FrameTooLarge, match=r"above the frame limit of 33554432 bytes"):
            channel.Reader(r).read(30)
    finally:
        stop.set()
        os.close(r)


def test_the_case_deadline_holds_while_bytes_keep_arriving():
    """Try: a 64 MB answer trickling in; the deadline was looked at only when the pipe went quiet."""
    r, w = os.pipe()
    done = threading.Event()
    data = channel.frame({"case": "a", "obs": {"value": "x" * (20 << 20)}})

    def trickle():
        for i in range(0, len(data), 4096):
            if done.is_set():
                break
            os.write(w, data[i:i + 4096])
            time.sleep(0.001)
        done.set()
    threading.Thread(target=trickle, daemon=True).start()
    reader = channel.Reader(r)
    got = reader.read(0.3)
    still_sending = not done.is_set()
    done.set()
    assert got is None and not reader.eof
    assert still_sending        # it returned at its deadline, not when the writer stopped
    os.close(r)


def test_frames_are_read_into_one_growing_buffer_and_many_frames_in_a_row():
    frames = b"".join(channel.frame({"case": str(i), "obs": {"value": i}}) for i in range(3000))
    reader = channel.Reader(pipe_with(frames))
    got = [reader.read(5)["case"] for _ in range(3000)]
    assert got == [str(i) for i in range(3000)] and reader.read(1) is None and reader.eof
    assert isinstance(reader.buf, bytearray)


def test_an_observation_above_the_size_limit_is_kept_as_its_digest_with_a_note():
    """Try: a 64 MB answer was kept whole in results.json."""
    obs = {"value": {"bytes": "ab" * (3 << 20)}}
    msg = channel.Reader(pipe_with(channel.frame({"case": "a", "obs": obs}))).read(30)
    text = channel.encode(obs).encode()
    assert msg["obs"]["oversized"] == {"bytes": len(text), "sha256": hashlib.sha256(text).hexdigest()}
    assert "kept as its sha256" in msg["obs"]["display"]["note"]
    small = {"value": {"bytes": "ab"}}
    assert channel.Reader(pipe_with(channel.frame({"case": "a", "obs": small}))).read(5)["obs"] == small


def test_nesting_is_limited_on_both_sides():
    """Try: an exception whose display is nested 5000 deep: RecursionError in the runner's decoder."""
    deep = top = {}
    for _ in range(5000):
        deep["a"] = {}
        deep = deep["a"]
    framed = channel.frame({"case": "a", "obs": {"display": top}})      # the worker's side: cut, not an error
    msg = channel.Reader(pipe_with(framed)).read(5)
    assert json.dumps(msg).count("{") <= channel.MAX_DEPTH + 1 and channel.CUT.format(channel.MAX_DEPTH) in json.dumps(msg)
    payload = b'{"case": "a", "obs": {"display": ' + b'[' * 800 + b']' * 800 + b'}}'       # a hostile worker's own
    raw = b"CF1 %d %s\n" % (len(payload), channel._digest(payload).encode()) + payload + b"\n"
    msg = channel.Reader(pipe_with(raw)).read(5)
    assert msg["case"] == "a" and json.dumps(msg).count("[") <= channel.MAX_DEPTH
    payload = b'{"case": "a", "obs": ' + b'[' * 200000 + b']' * 200000 + b'}'
    raw = b"CF1 %d %s\n" % (len(payload), channel._digest(payload).encode()) + payload + b"\n"
    assert channel.Reader(pipe_with(raw)).read(5) == {"too_deep": True, "bytes": len(payload)}


def test_framing_does_not_use_json_or_hashlib_as_a_target_left_them(monkeypatch):
    """Try: a target that only patches hashlib: "the target could not start ... wrote into the kit's channel"."""
    def broken(*a, **k):
        raise RuntimeError("patched by the target")

    good = channel.frame({"case": "a", "obs": {"value": [1, "\ud800"]}})
    for mod, name in ((hashlib, "blake2b"), (hashlib, "sha256"), (json, "dumps"), (json, "loads"),
                      (json.JSONEncoder, "encode"), (json.JSONEncoder, "iterencode"), (json.JSONDecoder, "decode"),
                      (json.JSONDecoder, "raw_decode")):
        monkeypatch.setattr(mod, name, broken)
    assert channel.frame({"case": "a", "obs": {"value": [1, "\ud800"]}}) == good
    assert channel.Reader(pipe_with(good)).read(5) == {"case": "a", "obs": {"value": [1, "\ud800"]}}
    assert channel.decode('{"case": "b"}\n') == {"case": "b"}


def test_the_frame_limit_is_configurable_with_a_clear_default(monkeypatch):
    monkeypatch.delenv(channel.MAX_FRAME_ENV, raising=False)
    assert channel.max_frame() == channel.DEFAULT_MAX_FRAME == 32 << 20
    monkeypatch.setenv(channel.MAX_FRAME_ENV, "64M")
    assert channel.max_frame() == 64 << 20
    for bad in ("lots", "0", "12"):
        monkeypatch.setenv(channel.MAX_FRAME_ENV, bad)
        with pytest.raises(ValueError, match=r"CONFORMANCE_MAX_FRAME=.* is not a size"):
            channel.max_frame()


def _open_file_sizes(sizes: list[int], stop: threading.Event) -> None:
    """Every regular file this process holds open, sampled until ``stop``: their sizes into ``sizes``."""
    while not stop.is_set():
        for fd in os.listdir("/proc/self/fd"):
            try:
                st = os.stat(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                sizes.append(st.st_size)
        time.sleep(0.005)


def test_a_workers_output_is_kept_as_a_bounded_tail_in_bounded_memory(tmp_path):
    """Try: a case that writes 400 MB to stderr and crashes: the runner peaked at 852 MB to keep 1500 characters,
    and kept all of it on disk. Here 64 MB: the runner holds no file that grows with it, nor memory."""
    from conformance.client import TAIL_BYTES, WorkerClient

    c = WorkerClient(["--target", "module:hostile_answers"], timeout=120,
                     env=env_with(HOSTILE_DO="bigout", HOSTILE_MB="64", TMPDIR=str(tmp_path)))
    sizes: list[int] = []
    stop = threading.Event()
    watcher = threading.Thread(target=_open_file_sizes, args=(sizes, stop), daemon=True)
    try:
        c.start()
        watcher.start()
        tracemalloc.start()
        got = c.run("frombuffer[int8-ordinary]")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        stop.set()
        c.close()
    assert got["crash"].startswith("worker died (killed by SIGABRT)"), got
    assert got["crash"].endswith("the last words of hostile_answers"), got["crash"][-300:]
    assert peak < 4 * TAIL_BYTES + (1 << 20), peak        # the tail, not the 64 MB before it
    assert sizes and max(sizes) < (8 << 20), max(sizes)   # nor a log file of it on disk


# == item 2: writes that follow no symlink ===============================================================

def test_a_planted_temp_file_or_symlink_is_never_written_through(tmp_path):
    """Try: a target plants .results.json.<runner pid>.tmp as a symlink; the runner wrote through it."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    report = tmp_path / "r"
    report.mkdir()
    (report / f".results.json.{os.getpid()}.tmp").symlink_to(victim)
    res.write_atomic(report / "results.json", "{}\n")
    assert victim.read_text() == "precious" and (report / "results.json").read_text() == "{}\n"
    (report / "index.html").symlink_to(victim)                     # the file's own name as a symlink: replaced
    res.write_atomic(report / "index.html", "<html>")
    assert victim.read_text() == "precious" and not (report / "index.html").is_symlink()
    assert not [p.name for p in report.iterdir() if p.name.endswith(".tmp") and not p.is_symlink()]


def test_the_report_folders_lock_and_probe_follow_no_symlink(tmp_path):
    from conformance import guard

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    report = tmp_path / "r"
    report.mkdir()
    (report / guard.LOCK_NAME).symlink_to(victim)
    (report / f".conformance-probe-{os.getpid()}").symlink_to(victim)      # the probe's name before issue 20
    held = guard.lock_report_dir(guard.writable_dir(report, "--report-dir"))
    try:
        assert victim.read_text() == "precious" and (report / guard.LOCK_NAME).read_text() == str(os.getpid())
    finally:
        held.close()


def test_results_jsonl_is_made_afresh_and_put_back_when_replaced(tmp_path):
    """Try: the target can replace results.jsonl."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    jl = tmp_path / "results.jsonl"
    jl.symlink_to(victim)
    log = res.PartialLog(jl)
    log.write('{"id": "a"}\n')
    log.flush()
    assert victim.read_text() == "precious" and not jl.is_symlink()
    assert log.restore([{"id": "a"}]) is None
    jl.unlink()
    jl.write_text('{"id": "forged"}\n')                          # what a target writes in its place
    log.close()
    problem = log.restore([{"id": "a"}])
    assert "was replaced during the run" in problem and jl.read_text() == '{"id": "a"}\n'


def test_the_oracle_cache_never_appends_through_a_symlink(tmp_path):
    c = OracleCache(tmp_path, {"torch": "t", "safetensors": "s"})
    c.append("a", {"value": 1})
    elsewhere = tmp_path / "elsewhere.jsonl"
    c.records_path.rename(elsewhere)
    c.records_path.symlink_to(elsewhere)
    with pytest.raises(CacheError, match="is a symlink"):
        c.append("b", {"value": 2})
    assert elsewhere.read_text().count("\n") == 1
    victim = tmp_path / "victim"
    victim.write_text("precious")
    c.meta_path.symlink_to(victim)                               # meta.json planted as a symlink: replaced
    c.save_hello({"module": "torch"})
    assert victim.read_text() == "precious" and json.loads(c.meta_path.read_text())["hello"] == {"module": "torch"}


# == item 3: stale reports ==============================================================================

def test_an_unfinished_run_marks_the_reports_beside_it_stale(tmp_path):
    path = tmp_path / "results.json"
    res.write(path, res.build({"target": "t"}, []))
    marker = res.mark_incomplete(tmp_path)
    assert "has not finished" in marker.read_text()
    warnings: list[str] = []
    res.load(path, warn=warnings.append)
    assert warnings and "is from an earlier run" in warnings[0]
    res.mark_complete(tmp_path)
    warnings.clear()
    res.load(path, warn=warnings.append)
    assert not marker.exists() and warnings == []


# == item 5: crafted inputs =============================================================================

def _recording(folder: Path, blob: bytes = b"\0" * 16, **changes) -> Path:
    sha = hashlib.sha256(blob).hexdigest()
    (folder / "blobs").mkdir(parents=True, exist_ok=True)
    (folder / "blobs" / f"{sha}.bin").write_bytes(blob)
    t = {"k": "tensor", "tid": 0, "from": None, "dtype": "float32", "shape": [4], "stride": [1], "offset": 0,
         "blob": sha, "align": 0, "nbytes": 16}
    data = {"schema": TRACE_SCHEMA, "workload": "script:/x/my script.py", "torch": "2", "transformers": None,
            "calls": [{"i": 0, "phase": "run", "api": "torch.Tensor.add", "args": [t, {"k": "int", "v": 1}],
                       "kwargs": {}, "out": t}], "attributes": {}, **changes}
    (folder / "trace.json").write_text(json.dumps(data))
    return folder


def test_a_recording_is_checked_against_its_schema(tmp_path):
    """Try: --replay recordings that are not JSON, or lack keys: INTERNALERROR tracebacks."""
    rec = Recording(_recording(tmp_path / "ok"))
    assert rec.label == "script-my_script" and len(rec.blob(rec.calls[0]["out"]["blob"])) == 16
    bad = {"not JSON": None, "no calls": {"calls": None}, "a call without api": {"calls": [{"i": 0}]},
           "a bad dtype": {"calls": [{"i": 0, "phase": "run", "api": "torch.x", "kwargs": {},
                                      "args": [{"k": "tensor", "dtype": "float99"}]}]},
           "an api with a space": {"calls": [{"i": 0, "phase": "run", "api": "torch.x y", "args": [], "kwargs": {}}]},
           "too deep": {"calls": [{"i": 0, "phase": "run", "api": "torch.x", "kwargs": {},
                                   "args": [json.loads('{"k": "list", "v": [' * 100 + "]}" * 100)]}]}}
    for name, change in bad.items():
        folder = _recording(tmp_path / name.replace(" ", "_"), **(change or {}))
        if change is None:
            (folder / "trace.json").write_text("{not json")
        with pytest.raises(TraceError) as e:
            Recording(folder)
        assert "\n" not in str(e.value), name


@pytest.mark.parametrize("how", ["dotdot", "absolute", "devzero", "symlinked_blobs", "wrong_bytes"])
def test_blobs_are_plain_content_hashes_inside_the_recording_read_with_a_bound(tmp_path, how):
    """Tries: blob names with ../ or absolute paths were read from outside; a blob linked to /dev/zero: MemoryError."""
    folder = _recording(tmp_path / "rec")
    rec = Recording(folder)
    sha = rec.calls[0]["out"]["blob"]
    outside = tmp_path / "secret.bin"
    outside.write_bytes(b"secret")
    if how == "dotdot":
        name = "../../secret"
    elif how == "absolute":
        name = str(outside.with_suffix(""))
    else:
        name = sha
        blob = folder / "blobs" / f"{sha}.bin"
        if how == "devzero":
            blob.unlink()
            blob.symlink_to("/dev/zero")
        elif how == "symlinked_blobs":
            (tmp_path / "other").mkdir()
            os.rename(folder / "blobs", tmp_path / "other" / "blobs")
            (folder / "blobs").symlink_to(tmp_path / "other" / "blobs")
        else:
            blob.write_bytes(b"\1" * 16)
    with pytest.raises(TraceError) as e:
        rec.blob(name)
    assert "\n" not in str(e.value)


def test_replay_of_a_crafted_recording_is_one_line_and_exit_4(tmp_path):
    folder = _recording(tmp_path / "rec")
    (folder / "trace.json").write_text(json.dumps({"schema": TRACE_SCHEMA, "workload": "x"}))
    p = kit(["run", "--target", "torch", "--replay", str(folder)], tmp_path / "cache")
    assert "is not a recording: \"calls\" must be a list" in one_clear_line(p)
    folder = _recording(tmp_path / "zero")           # a blob linked to /dev/zero: INTERNALERROR from the catalog
    (blob,) = (folder / "blobs").iterdir()
    blob.unlink()
    blob.symlink_to("/dev/zero")
    p = kit(["run", "--target", "torch", "--replay", str(folder)], tmp_path / "cache")
    assert "lacks blob" in one_clear_line(p)


def test_case_ids_from_a_script_name_are_made_safe_for_the_expectations_grammar():
    """Try: `trace -- python "my script.py"` made case ids with a space."""
    assert schema.label("script:my script.py") == "script-my_script"
    assert schema.label("script:/a/b/x#1,2*[3].py") == "script-x_1_2_3"
    assert schema.label("script:plain_name.py") == "script-plain_name"
    assert not schema.ID_UNSAFE.search(schema.label("script:\u00e9t\u00e9 \t.py"))


def _results(path: Path, cases: list[dict]) -> Path:
    res.write(path, res.build({"target": "t", "gate_problems": [], "interrupted": False}, cases))
    return path


def _rec(i: str, outcome: str = "FAIL") -> dict:
    return judged({"id": i, "raw_outcome": outcome, "outcome": outcome, "module": "m", "summary": "it differs",
                   "target": "t", "api": "torch.x", "origin": "o", "note": "", "diffs": []})


def test_accept_new_never_writes_a_file_it_cannot_read(tmp_path):
    """Try: `expectations --accept-new` wrote a file it then refused to read."""
    exp = tmp_path / "exp.txt"
    exp.write_text("")
    results = _results(tmp_path / "r.json", [_rec("replay[script-my script-chained]")])
    p = kit(["expectations", "--results", str(results), "--file", str(exp), "--accept-new"])
    assert "would not read back" in one_clear_line(p) and exp.read_text() == ""


@pytest.mark.parametrize("command", ["report", "compare"])
@pytest.mark.parametrize("damage", ["bad_outcome", "no_id", "not_an_object"])
def test_report_and_compare_name_the_first_bad_record(tmp_path, command, damage):
    """Try: results.json with a bad outcome or without ids: KeyError tracebacks from report and compare."""
    good = _results(tmp_path / "good" / "results.json", [_rec("a[1]"), _rec("a[2]")])
    data = json.loads(good.read_text())
    if damage == "bad_outcome":
        data["cases"][1]["outcome"] = "BOGUS"
    elif damage == "no_id":
        del data["cases"][1]["id"]
    else:
        data["cases"][1] = 7
    bad = tmp_path / "bad" / "results.json"
    bad.parent.mkdir()
    bad.write_text(json.dumps(data))
    args = ["report", "--results", str(bad)] if command == "report" else ["compare", str(good), str(bad)]
    line = one_clear_line(kit(args))
    assert f"{bad}: case record 2" in line
    assert {"bad_outcome": "(id 'a[2]') has outcome 'BOGUS', not one of", "no_id": "has no 'id'",
            "not_an_object": "is int, not an object"}[damage] in line


def test_a_reason_is_stored_once_per_entry_not_in_every_row(tmp_path):
    """Try: one 2 MB reason on a prefix entry was copied into every matching row: results.json 160 MB."""
    from conformance.expectations import Expectations, apply

    reason = "r" * (2 << 20)
    exp = Expectations.parse(f"a[*  FAIL  {reason}\n", "f")
    rows = []
    for i, raw in enumerate(["FAIL"] * 40 + ["PASS", "CRASH"]):
        entry = exp.match(f"a[{i}]")
        final, note = apply(raw, entry)
        rows.append({**_rec(f"a[{i}]", raw), "outcome": final, "note": note,
                     "expectation": {"pattern": entry.pattern, "line": entry.line, "reason": entry.reason,
                                     "outcomes": list(entry.outcomes)}})
    path = _results(tmp_path / "results.json", rows)
    assert path.stat().st_size < 3 * len(reason)
    back = {c["id"]: c for c in res.load(path)["cases"]}
    assert all(back[r["id"]]["note"] == r["note"] and back[r["id"]]["expectation"] == r["expectation"] for r in rows)


def test_stale_entries_are_summarised_after_20():
    """Try: 1,000,000 stale expectation lines printed 1,000,000 GATE lines (the benchmark runs the million)."""
    lines = res.summarised(list(range(1000)), 20, lambda n: f"entry {n}", "... and {n} more")
    assert lines[:2] == ["entry 0", "entry 1"] and len(lines) == 21 and lines[-1] == "... and 980 more"
    assert res.summarised([1, 2], 20, str, "{n}") == ["1", "2"]
