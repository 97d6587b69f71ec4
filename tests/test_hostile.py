"""Reliability (issue 14): hostile targets and hostile situations, one test (or more) per point.

1 the expectations rewrite keeps what did not run and refuses what it cannot judge; 2 every way a run
ends leaves complete, renderable reports; 3 one run per report folder, no cache record lost; 4 no
process or temp folder left; 5 the kit's own state is checked; 6 the worker channel survives a target
writing into it; 7 every user mistake is one line and exit code 4; 8 a target that cannot start shows
everywhere; 9 matching by index gives what matching entry by entry gives. Also: environment problems
are never cached (issue 11) and the red gate prints the rewrite command (issue 12).

The hostile targets live in tests/hostile/ (see its README).
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conformance import channel, guard
from conformance.expectations import Expectations, ExpectationsError
from conformance.expectations_update import update
from conformance.oracle_cache import OracleCache
from conformance import results as res
from kitrun import HOSTILE, MUTANTS, REPO, kit_env, hostile_env as env_with
from records import judged

USAGE = 4


def kit(args: list[str], cache: Path | None, *, env: dict | None = None, cwd: Path = REPO,
        timeout: float = 600) -> subprocess.CompletedProcess:
    """``python -m conformance ARGS`` as a user runs it (run: with the shared oracle cache)."""
    cmd = [sys.executable, "-m", "conformance", *args]
    if cache is not None:
        cmd += ["--oracle-cache", str(cache)]
    return subprocess.run(cmd, cwd=cwd, env=env or env_with(), capture_output=True, text=True, timeout=timeout)


def out(p: subprocess.CompletedProcess) -> str:
    return p.stdout + p.stderr


def one_clear_line(p: subprocess.CompletedProcess) -> None:
    text = out(p)
    assert p.returncode == USAGE, text[-3000:]
    assert "Traceback" not in text and "INTERNALERROR" not in text, text[-3000:]


def junit_totals(path: Path) -> dict[str, int]:
    (suite,) = ET.parse(path).getroot().findall("testsuite")
    return {k: int(suite.get(k)) for k in ("tests", "failures", "errors", "skipped")}


def assert_junit_matches_results(report_dir: Path) -> None:
    """junit.xml counts are results.json's: cases by outcome, plus one error for the gate's problems."""
    from conformance.outcomes import OUTCOMES

    results = json.loads((report_dir / "results.json").read_text())
    c, gate = results["run"]["counts"], bool(results["run"]["gate_problems"])

    def kind(k: str) -> int:
        return sum(n for o, n in c.items() if OUTCOMES[o].junit == k)

    assert junit_totals(report_dir / "junit.xml") == {
        "tests": results["run"]["cases_run"] + gate, "failures": kind("failure"),
        "errors": kind("error") + gate, "skipped": kind("skipped")}


def no_temp_left(report_dir: Path) -> None:
    assert not [p.name for p in report_dir.iterdir() if p.name.endswith(".tmp")]


def processes_with(text: str) -> list[str]:
    ps = subprocess.run(["ps", "-eo", "pid,stat,args"], capture_output=True, text=True).stdout
    return [line for line in ps.splitlines() if text in line and "ps -eo" not in line]


def case_folders(tmp: Path) -> list[str]:
    return [p.name for p in tmp.iterdir() if p.name.startswith(("conformance-case-", "conformance-worker-"))]


def results_file(path: Path, cases: list[dict], **run) -> Path:
    res.write(path, res.build({"target": "t", "gate_problems": [], "interrupted": False, **run}, cases))
    return path


def rec(i: str, raw: str, summary: str = "it differs", cause: str | None = None) -> dict:
    r = {"id": i, "raw_outcome": raw, "outcome": raw, "module": "m", "summary": summary, "target": "t",
         "api": "torch.x", "origin": "o"}
    if cause:
        r["cause"] = {"api": cause, "phase": "call", "evidence": summary}
    return judged(r)


# -- 1 and B: the expectations rewrite ------------------------------------------------------------------

OLD = textwrap.dedent("""\
    ## kept note
    a[*      FAIL     person: a copies (issue 1)
    b[1]     CRASH    person: segfault (issue 2)
    c[1]     FAIL     TRIAGE: blocked by torch.one: it differs
    d[*      MISSING  person: no d (issue 4)
    """)
CATALOG = ["a[1]", "a[2]", "b[1]", "c[1]", "d[1]", "d[2]", "d[3]", "e[1]", "e[2]"]


def test_rewrite_changes_only_the_rows_that_ran():
    old = Expectations.parse(OLD, "f")
    up = update([rec("a[1]", "FAIL")], old, "t", catalog_ids=CATALOG)       # a -k run: only a[1] ran
    assert up.changes == [] and up.kept_not_run == 3      # b, c and d: none of their cases ran
    assert [(e.pattern, e.outcomes, e.reason) for e in Expectations.parse(up.text, "g").entries] == [
        (e.pattern, e.outcomes, e.reason) for e in old.entries]


def test_rewrite_lists_every_change_and_keeps_reasons_a_person_wrote():
    old = Expectations.parse(OLD, "f")
    ran = [rec("a[1]", "FAIL"), rec("a[2]", "FAIL"),                      # holds
           rec("b[1]", "PASS"),                                            # fixed
           rec("c[1]", "FAIL", "now this", cause="torch.two"),             # cause changed: kit's reason refreshed
           rec("d[1]", "PASS"), rec("d[2]", "MISSING"),                    # d[3] did not run: narrowed
           rec("e[1]", "TIMEOUT", "no answer within 30 s")]                # new
    up = update(ran, old, "t", ["## kept note"], catalog_ids=CATALOG)
    kinds = {(c.kind, c.pattern) for c in up.changes}
    assert kinds == {("fixed", "b[1]"), ("cause changed", "c[1]"), ("narrowed", "d[*"), ("new", "e[1]")}
    assert [c.pattern for c in up.new_failures] == ["e[1]"]
    got = {e.pattern: (e.outcomes, e.reason) for e in Expectations.parse(up.text, "g").entries}
    assert got == {"a[*": (("FAIL",), "person: a copies (issue 1)"),
                   "c[1]": (("FAIL",), "TRIAGE: fails in torch.two: now this"),
                   "d[2]": (("MISSING",), "person: no d (issue 4)"),
                   "d[3]": (("MISSING",), "person: no d (issue 4)"),       # not run: still covered
                   "e[1]": (("TIMEOUT",), "TRIAGE: fails in torch.x: no answer within 30 s")}
    assert "## kept note" in up.text
    # a person's reason is never rewritten, even when the cause moved
    person = Expectations.parse("c[1]  FAIL  person: c is off by one\n", "f")
    up = update([rec("c[1]", "FAIL", cause="torch.three")], person, "t", catalog_ids=CATALOG)
    assert up.changes == [] and "person: c is off by one" in up.text


def test_rewrite_with_a_blocked_outcome_and_records_without_cause():
    old = Expectations.parse("a[1]  BLOCKED  TRIAGE: blocked by torch.x: step failed\n", "f") \
        if "BLOCKED" in __import__("conformance.outcomes").outcomes.EXPECTABLE else None
    if old is None:
        pytest.skip("this tree has no BLOCKED outcome yet")
    up = update([rec("a[1]", "BLOCKED", cause="torch.x")], old, "t", catalog_ids=["a[1]"])
    assert up.changes == []


def test_expectations_command_refuses_what_it_cannot_judge(tmp_path):
    exp = tmp_path / "exp.txt"
    exp.write_text(OLD)
    before = exp.read_bytes()
    interrupted = results_file(tmp_path / "i.json", [rec("a[1]", "PASS")], interrupted=True)
    p = kit(["expectations", "--results", str(interrupted), "--file", str(exp)], None)
    one_clear_line(p)
    assert "did not finish" in p.stderr and "--force" in p.stderr and exp.read_bytes() == before
    empty = results_file(tmp_path / "e.json", [])
    p = kit(["expectations", "--results", str(empty), "--file", str(exp)], None)
    one_clear_line(p)
    assert "holds no case results" in p.stderr and exp.read_bytes() == before
    p = kit(["expectations", "--results", str(empty), "--file", str(exp), "--force"], None)
    assert p.returncode == 0 and "kept 4 entries whose cases did not run" in p.stdout, out(p)
    assert len(Expectations.load(exp).entries) == 4


def test_expectations_command_prints_changes_and_takes_new_failures_only_when_asked(tmp_path):
    exp = tmp_path / "exp.txt"
    exp.write_text(OLD)
    before = exp.read_bytes()
    results = results_file(tmp_path / "r.json", [rec("b[1]", "PASS"), rec("e[1]", "FAIL", "bytes differ")])
    p = kit(["expectations", "--results", str(results), "--file", str(exp)], None)
    one_clear_line(p)
    assert "fixed: b[1]" in p.stdout and "new: e[1]" in p.stdout and "--accept-new" in p.stderr
    assert exp.read_bytes() == before
    p = kit(["expectations", "--results", str(results), "--file", str(exp), "--accept-new"], None)
    assert p.returncode == 0, out(p)
    assert "fixed: b[1]" in p.stdout and "new: e[1]" in p.stdout and "2 change(s)" in p.stdout
    assert {e.pattern for e in Expectations.load(exp).entries} == {"a[*", "c[1]", "d[*", "e[1]"}


# -- 9: matching scales (the benchmark measures the time; this checks the index is right) ----------------------

def test_indexed_matching_is_what_entry_by_entry_matching_gives():
    rnd = random.Random(7)
    names = ["frombuffer", "from", "f", "reshape", "reshape_x"]
    ids = [f"{rnd.choice(names)}[{rnd.choice(['int8', 'int', 'bfloat16'])}-{rnd.randint(0, 3)}]" for _ in range(300)]
    patterns = set()
    for _ in range(120):
        i = rnd.choice(ids)
        cut = rnd.randint(0, len(i))
        patterns.add(rnd.choice([i, i[:cut] + "*", i[:cut] + "*]" if cut < len(i) else i]))
    exp = Expectations.parse("".join(f"{p}  FAIL  r\n" for p in sorted(patterns)), "f")

    def naive(cid):
        exact = [e for e in exp.entries if not e.is_prefix and e.pattern == cid]
        if exact:
            return exact[0]
        hits = [e for e in exp.entries if e.is_prefix and e.matches(cid)]
        return max(hits, key=lambda e: (len(e.prefix), -e.line)) if hits else None

    for cid in set(ids) | {"fx", "", "frombuffer["}:
        assert exp.match(cid) is naive(cid), cid
    assert {e.line for e in exp.unmatched(ids)} == {e.line for e in exp.entries
                                                   if not any(e.matches(i) for i in ids)}


# -- 7: expectations files in other encodings -------------------------------------------------------------

def test_expectations_encodings(tmp_path):
    f = tmp_path / "exp.txt"
    f.write_bytes("\ufeffa[1]  FAIL  a BOM from an editor\n".encode("utf-8"))
    assert Expectations.load(f).entries[0].pattern == "a[1]"
    f.write_bytes("a[1]  FAIL  caf\u00e9\n".encode("latin-1"))
    with pytest.raises(ExpectationsError, match=r"exp\.txt:1: not UTF-8 .*save it again as UTF-8"):
        Expectations.load(f)
    f.write_bytes("a[1]  FAIL  x\n".encode("utf-16"))
    with pytest.raises(ExpectationsError, match=r"is UTF-16 .* must be UTF-8"):
        Expectations.load(f)


# -- 2: reports from every way a run ends --------------------------------------------------------------

def test_report_renders_a_jsonl_whose_last_line_was_cut(tmp_path):
    lines = [json.dumps({**rec(f"a[{i}]", "PASS"), "outcome": "PASS"}, sort_keys=True) for i in range(3)]
    jl = tmp_path / "results.jsonl"
    jl.write_text("\n".join(lines) + "\n" + lines[0][:25])
    p = kit(["report", "--results", str(jl)], None)
    assert p.returncode == 0, out(p)
    assert f"{jl}:4: dropped the last line" in p.stderr and "3 case records read" in p.stderr
    assert (tmp_path / "index.html").is_file() and junit_totals(tmp_path / "junit.xml")["tests"] == 3
    jl.write_text(lines[0] + "\n{broken\n" + lines[1] + "\n")       # damage before the end is an error
    p = kit(["report", "--results", str(jl)], None)
    one_clear_line(p)
    assert f"{jl}:2 is not a case record" in p.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_terminated_run_writes_complete_reports(tmp_path, oracle, sig):
    report = tmp_path / "r"
    env = env_with()
    env["PYTHONPATH"] += os.pathsep + str(MUTANTS)
    proc = subprocess.Popen([sys.executable, "-m", "conformance", "run", "--target", "module:mutant_empty_float32_hang",
                             "--report-dir", str(report), "--oracle-cache", str(oracle.cache), "--case-timeout", "600",
                             "-k", "empty_zero_size"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    jl = report / "results.jsonl"
    deadline = time.monotonic() + 300
    while not (jl.is_file() and jl.read_text().count("\n") >= 1) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)        # the hanging case is in flight now
    proc.send_signal(sig)
    stdout, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2, stdout[-3000:]             # pytest's "interrupted"
    results = json.loads((report / "results.json").read_text())
    assert results["run"]["interrupted"] is True and results["run"]["cases_run"] >= 1
    assert (report / "index.html").is_file() and (report / "checklist.md").is_file()
    assert_junit_matches_results(report)
    no_temp_left(report)
    assert not processes_with(f"report-dir {report} ")        # the run is gone ...
    assert not [p for p in processes_with("conformance.worker")                # ... and its workers
                if _environ_mark(p) == f"CONFORMANCE_RUNNER={proc.pid}"]


def _environ_mark(ps_line: str) -> str:
    try:
        with open(f"/proc/{ps_line.split()[0]}/environ", "rb") as f:
            env = f.read().split(b"\0")
    except OSError:
        return ""
    return next((e.decode() for e in env if e.startswith(b"CONFORMANCE_RUNNER=")), "")


def test_any_string_a_target_produces_is_rendered(tmp_path, oracle):
    report = tmp_path / "r"
    p = kit(["run", "--target", "module:hostile_strings", "--report-dir", str(report), "-k", "frombuffer"], oracle.cache)
    assert p.returncode == 1, out(p)[-3000:]
    assert "INTERNALERROR" not in out(p) and "UnicodeEncodeError" not in out(p)
    results = json.loads((report / "results.json").read_text())
    bad = [c for c in results["cases"] if c["outcome"] != "PASS"]
    assert bad and all("\ud800" in json.dumps(c["diffs"], ensure_ascii=False) for c in bad)
    assert "\\ud800" in (report / "index.html").read_text()        # spelled out, not a broken page
    assert_junit_matches_results(report)
    no_temp_left(report)
    again = tmp_path / "again"
    p = kit(["report", "--results", str(report / "results.json"), "--out", str(again)], None)
    assert p.returncode == 0 and (again / "index.html").stat().st_size > 0, out(p)


# -- 3: one run per report folder; concurrent cache appends ---------------------------------------------------

def test_a_second_run_into_the_same_report_dir_is_refused(tmp_path, oracle):
    report = tmp_path / "r"
    report.mkdir()
    held = guard.lock_report_dir(report)                   # as a first run holds it
    try:
        p = kit(["run", "--target", "pyborch", "--report-dir", str(report), "-k", "frombuffer"], oracle.cache)
        one_clear_line(p)
        assert f"another run (pid {os.getpid()}) is writing into --report-dir {report}" in p.stderr
        assert not (report / "results.json").exists()
    finally:
        held.close()
    p = kit(["run", "--target", "pyborch", "--report-dir", str(report), "-k", "frombuffer"], oracle.cache)
    assert (report / "results.json").is_file(), out(p)[-3000:]


def test_runs_recording_one_cache_at_once_lose_no_record(tmp_path):
    # Records of up to 1 MB: a reader can see another process's large write half done (the file grows page
    # by page), which the unlocked append took for a record cut by a kill and truncated (220 of 240 kept).
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from conformance.oracle_cache import OracleCache
        c = OracleCache(Path({str(tmp_path)!r}), {{"torch": "t", "safetensors": "s"}})
        for i in range(80):
            c.append(f"{{sys.argv[1]}}[{{i}}]", {{"value": "x" * (150000 * (i % 8))}})
        """)
    procs = [subprocess.Popen([sys.executable, "-c", script, name], env=kit_env()) for name in "abc"]
    try:
        assert [p.wait(timeout=300) for p in procs] == [0, 0, 0]
        records, _ = OracleCache(tmp_path, {"torch": "t", "safetensors": "s"}).load()
        assert len(records) == 240
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)      # about 120 MB


# -- 4: nothing left behind ----------------------------------------------------------------------------

def test_no_process_or_temp_folder_outlives_a_hostile_run(tmp_path, oracle):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    mark = str(86000 + os.getpid() % 1000)        # `sleep <mark>`: the hostile target's children
    report = tmp_path / "r"
    p = kit(["run", "--target", "module:hostile_children", "--report-dir", str(report), "--case-timeout", "5",
             "-k", "rust_from_file and nbytes"], oracle.cache, env=env_with(TMPDIR=str(tmp), HOSTILE_SLEEP=mark))
    outcomes = {c["id"]: c["outcome"] for c in json.loads((report / "results.json").read_text())["cases"]}
    assert outcomes == {"rust_from_file[nbytes-larger]": "PASS", "rust_from_file[nbytes-equal]": "CRASH",
                        "rust_from_file[nbytes-smaller]": "TIMEOUT"}, out(p)[-3000:]
    left = processes_with(f"sleep {mark}")
    folders = case_folders(tmp)
    print(f"after the hostile run: {len(left)} `sleep {mark}` processes, {len(folders)} case folders in {tmp}")
    assert left == [] and folders == []


def test_crashes_in_the_second_target_process_lose_no_case_and_run_none_twice(tmp_path, oracle):
    """The shared tail (conformance/lanes.py): the cases a dead second process held run in a new one."""
    report = tmp_path / "r"
    p = kit(["run", "--target", "module:hostile_lane_crash", "--report-dir", str(report),
             "-k", "replay or import_safetensors"], oracle.cache)
    cases = json.loads((report / "results.json").read_text())["cases"]
    ids = [c["id"] for c in cases]
    assert len(ids) == len(set(ids)) and len(ids) > 100, out(p)[-3000:]
    crashed = {c["id"]: c for c in cases if c["outcome"] == "CRASH"}
    assert "replay[bert-torch.nn.functional.gelu-float32-3d]" in crashed, sorted(crashed)
    assert all((c.get("cause") or {}).get("api") == "torch.nn.functional.gelu" for c in crashed.values())
    assert {c["outcome"] for c in cases if c["id"] not in crashed} == {"PASS"}, out(p)[-3000:]
    assert len({c["process"] for c in crashed.values()}) == len(crashed), "each crash ends its process"
    assert any(c["process"].startswith("main-slow#") for c in crashed.values()), "the second process ran some"


# -- 5: the kit's own state ---------------------------------------------------------------------------

def _copy_cache(oracle, dest: Path) -> Path:
    shutil.copytree(oracle.cache, dest)
    (key_dir,) = [d for d in dest.iterdir() if d.is_dir()]
    return key_dir / "records.jsonl"


def test_a_cache_record_changed_after_it_was_written_is_recorded_again(tmp_path, oracle):
    records = _copy_cache(oracle, tmp_path / "cache")
    lines = records.read_text().splitlines()
    n, line = next((n, l) for n, l in enumerate(lines) if '"case": "frombuffer[int8-ordinary]"' in l)
    rec_ = json.loads(line)
    text = json.dumps(rec_["obs"], sort_keys=True)
    flipped = text.replace('"bytes": "', '"bytes": "f', 1) if '"bytes": "' in text else text.replace("true", "fals")
    assert flipped != text
    rec_["obs"] = json.loads(flipped)             # one changed value: still valid JSON
    lines[n] = json.dumps(rec_, sort_keys=True)
    records.write_text("\n".join(lines) + "\n")
    report = tmp_path / "r"
    p = kit(["run", "--target", "torch", "--report-dir", str(report), "-k", "frombuffer and int8"],
            tmp_path / "cache")
    assert p.returncode == 0, out(p)[-3000:]
    assert f"1 oracle cache record(s) in {records} (line {n + 1}) does not match its checksum" in p.stdout
    case = {c["id"]: c for c in json.loads((report / "results.json").read_text())["cases"]}["frombuffer[int8-ordinary]"]
    assert case["outcome"] == "PASS"                 # not blamed on the target


def test_records_of_another_schema_are_never_compared(tmp_path):
    c = OracleCache(tmp_path, {"torch": "t", "safetensors": "s"})
    c.append("a", {"value": 1})
    with open(c.records_path, "a") as f:
        f.write(json.dumps({"case": "b", "obs": {"value": 2}}) + "\n")                       # before checksums
        f.write(json.dumps({"case": "c", "obs": {"value": 3}, "schema": 0, "sum": "x"}) + "\n")
    records, _ = c.load()
    assert records == {"a": {"value": 1}}
    assert len(c.warnings) == 2 and all("recording them again" in w for w in c.warnings)


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf"])
def test_case_timeout_must_be_a_positive_finite_number(value, tmp_path):
    p = kit(["run", "--target", "pyborch", "--case-timeout", value], tmp_path / "c")
    one_clear_line(p)
    assert "--case-timeout must be a positive, finite number of seconds" in p.stderr
    p = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "conformance/catalog", "--target",
                        "pyborch", "--case-timeout", value, "--oracle-cache", str(tmp_path / "c")], cwd=REPO,
                       env=kit_env(), capture_output=True, text=True, timeout=300)
    one_clear_line(p)
    assert not (tmp_path / "c").exists()          # nothing ran, nothing was recorded


# -- 6: the worker channel -----------------------------------------------------------------------------

def test_the_channel_reads_whole_frames_and_detects_damage():
    def reader_of(data: bytes) -> channel.Reader:
        r, w = os.pipe()
        os.write(w, data)
        os.close(w)
        return channel.Reader(r)

    good = channel.frame({"case": "a", "obs": {"value": 1}})
    r = reader_of(good + good)
    assert r.read(1) == r.read(1) == {"case": "a", "obs": {"value": 1}}
    assert r.read(1) is None and r.eof
    flipped = good.replace(b'"value": 1', b'"value": 7')
    for damaged in (b"garbage\n" + good, flipped, good[:-1] + b"x", b'{"case": "a", "obs": {}}\n'):
        with pytest.raises(channel.ChannelDamage):
            reader_of(damaged).read(1)


def test_a_target_writing_into_the_channel_costs_only_its_own_cases(tmp_path, oracle):
    report = tmp_path / "r"
    p = kit(["run", "--target", "module:hostile_channel", "--report-dir", str(report), "-k", "frombuffer"],
            oracle.cache)
    assert p.returncode == 1, out(p)[-3000:]
    results = json.loads((report / "results.json").read_text())
    by_outcome: dict[str, set] = {}
    for c in results["cases"]:
        by_outcome.setdefault(c["outcome"], set()).add(c["id"])
    assert by_outcome["ERROR"] == {"frombuffer[int8-ordinary]", "frombuffer[int8-special]", "pread_frombuffer[int8]"}
    assert all("the target wrote into the kit's channel" in c["summary"] for c in results["cases"]
               if c["outcome"] == "ERROR")
    selected = int(p.stdout.split(" deselected")[0].rsplit(", ", 1)[-1]) if " deselected" in p.stdout else 0
    assert results["run"]["cases_run"] == results["run"]["cases_in_catalog"] - selected == len(
        {c["id"] for c in results["cases"]})                       # every selected case, exactly once
    assert_junit_matches_results(report)
    # B: a red gate says how to take the results in
    assert (f"python -m conformance expectations --results {report / 'results.json'} --file" in p.stdout)


def test_every_selected_case_is_in_the_results_exactly_once():
    from types import SimpleNamespace

    from conformance.gathering import complete as _complete

    def r(i, outcome):
        return {"id": i, "outcome": outcome}

    state = SimpleNamespace(selected={"a", "b", "c"}, records=[r("a", "FAIL"), r("a", "PASS"), r("b", "PASS")],
                            gate_problems=[], backend=SimpleNamespace(name="t"))
    _complete(state, None, ended_early=False)
    got = {x["id"]: x for x in state.records}
    assert sorted(got) == ["a", "b", "c"] and len(state.records) == 3
    assert got["a"]["outcome"] == "PASS"                                   # the last record of a duplicate
    assert got["c"]["outcome"] == got["c"]["raw_outcome"] == "ERROR"
    assert "the kit lost this case's result" in got["c"]["summary"]
    assert any("recorded twice" in p for p in state.gate_problems)
    assert any("1 selected case(s) had no result" in p for p in state.gate_problems)
    state = SimpleNamespace(selected={"a", "b"}, records=[r("a", "PASS")], gate_problems=[],
                            backend=SimpleNamespace(name="t"))
    _complete(state, None, ended_early=True)                 # interrupted: what did not run is simply absent
    assert [x["id"] for x in state.records] == ["a"] and state.gate_problems == []


# -- 7: user mistakes -------------------------------------------------------------------------------------

def test_a_report_dir_or_cache_that_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    p = kit(["run", "--target", "pyborch", "--report-dir", str(f)], tmp_path / "c")
    one_clear_line(p)
    assert f"--report-dir {f} is a file, not a folder" in p.stderr
    p = kit(["run", "--target", "pyborch"], f)
    one_clear_line(p)
    assert f"--oracle-cache {f} is a file, not a folder" in p.stderr


def test_expectations_not_utf8_is_a_usage_error_and_a_bom_is_fine(tmp_path, oracle):
    exp = tmp_path / "exp.txt"
    exp.write_bytes("frombuffer[*  MISSING  caf\u00e9\n".encode("latin-1"))
    p = kit(["run", "--target", "pyborch", "--expectations", str(exp), "-k", "frombuffer and int8"], oracle.cache)
    one_clear_line(p)
    assert "not UTF-8" in p.stderr and "save it again as UTF-8" in p.stderr
    exp.write_bytes(b"\xef\xbb\xbf# a BOM, as Notepad writes\n")
    p = kit(["run", "--target", "pyborch", "--expectations", str(exp), "-k", "rust_version"], oracle.cache)
    assert "EXPECTED" not in out(p) and "unknown outcome" not in out(p), out(p)[-2000:]
    assert p.returncode in (0, 1), out(p)[-2000:]


def test_k_selecting_nothing_is_a_gate_line(tmp_path, oracle):
    report = tmp_path / "r"
    p = kit(["run", "--target", "pyborch", "--report-dir", str(report), "-k", "no_case_is_called_this"], oracle.cache)
    one_clear_line(p)
    assert "GATE: -k 'no_case_is_called_this' selected none of the" in p.stdout
    assert json.loads((report / "results.json").read_text())["run"]["gate_problems"]
    assert_junit_matches_results(report)


def test_a_relative_backend_path_means_the_callers_directory(tmp_path, oracle):
    caller, elsewhere = tmp_path / "caller", tmp_path / "elsewhere"
    (caller / "src").mkdir(parents=True)
    elsewhere.mkdir()
    (caller / "src" / "relbackend.py").write_text("import sys, torch\nsys.modules[__name__] = torch\n")
    env = env_with(CONFORMANCE_CALLER_DIR=str(caller))            # what tox.ini passes: the caller's $PWD
    p = kit(["run", "--target", "module:relbackend", "--backend-path", "src", "-k", "rust_version"], oracle.cache,
            env=env, cwd=elsewhere)
    assert p.returncode == 0, out(p)[-3000:]
    assert f"target sources: {caller / 'src'}" in p.stdout
    env.pop("MINDTORCH_V2_SRC", None)
    p = kit(["run", "--target", "mindtorch_v2"], oracle.cache, env={**env, "MINDTORCH_V2_SRC": "nowhere/src"},
            cwd=elsewhere)
    one_clear_line(p)
    assert f"{caller / 'nowhere' / 'src'} ($MINDTORCH_V2_SRC=nowhere/src, relative to {caller})" in p.stderr


@pytest.mark.skipif(shutil.which("tox") is None, reason="tox is not installed (pip install tox)")
def test_tox_passes_the_callers_directory(tmp_path):
    """tox runs commands from its root; the kit learns where the user typed the command from tox.ini."""
    caller = tmp_path / "caller"
    caller.mkdir()
    p = subprocess.run(["tox", "-c", str(REPO / "tox.ini"), "--workdir", str(tmp_path / "tox"), "config", "-e",
                        "mindtorch", "-k", "set_env"], cwd=caller, env={**kit_env(), "PWD": str(caller)},
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, out(p)
    assert f"CONFORMANCE_CALLER_DIR={caller}" in p.stdout, p.stdout


def _namespace_ok() -> bool:
    try:
        return subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs tmpfs /mnt 2>/dev/null || "
                               "mount -t tmpfs tmpfs /tmp"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


needs_mounts = pytest.mark.skipif(not shutil.which("unshare") or not _namespace_ok(),
                                  reason="needs `unshare -rm` (user and mount namespaces) to make a read-only or "
                                         "full file system")


def in_namespace(setup: str, args: list[str], cache: Path) -> subprocess.CompletedProcess:
    """``python -m conformance ARGS`` in a mount namespace where ``setup`` (shell) made small or read-only
    file systems: a full disk and a read-only folder without being root on the machine."""
    cmd = " ".join(["exec", sys.executable, "-m", "conformance", *args, "--oracle-cache", str(cache)])
    return subprocess.run(["unshare", "-rm", "sh", "-c", f"set -e; {setup}; {cmd}"], cwd=REPO, env=env_with(),
                          capture_output=True, text=True, timeout=600)


@needs_mounts
def test_read_only_report_dir_and_read_only_empty_cache(tmp_path, oracle):
    ro = tmp_path / "ro"
    ro.mkdir()
    p = in_namespace(f"mount -t tmpfs tmpfs {ro} && mount -o remount,ro {ro}",
                     ["run", "--target", "pyborch", "--report-dir", str(ro / "r")], oracle.cache)
    one_clear_line(p)
    assert f"cannot make --report-dir {ro / 'r'}: Read-only file system" in p.stderr
    p = in_namespace(f"mount -t tmpfs tmpfs {ro} && mount -o remount,ro {ro}",
                     ["run", "--target", "pyborch", "-k", "rust_version"], ro)
    one_clear_line(p)
    assert "cannot write" in out(p) and str(ro) in out(p) and "--oracle-cache" in out(p)


@needs_mounts
def test_a_full_disk_names_the_path_and_keeps_what_was_written(tmp_path, oracle):
    full = tmp_path / "full"
    full.mkdir()
    p = in_namespace(f"mount -t tmpfs -o size=64k tmpfs {full}",
                     ["run", "--target", "pyborch", "--report-dir", str(full)], oracle.cache)
    one_clear_line(p)
    assert f"cannot write {full / 'results.json'}: No space left on device" in out(p)
    assert f"{full / 'results.jsonl'} keeps the records written before" in out(p)


# -- 8: a target that cannot start ----------------------------------------------------------------------

def test_a_target_that_cannot_start_shows_in_every_output(tmp_path, oracle):
    report = tmp_path / "r"
    p = kit(["run", "--target", "module:hostile_nostart", "--report-dir", str(report)], oracle.cache)
    one_clear_line(p)
    assert "hostile_nostart refuses to become torch" in p.stdout
    results = json.loads((report / "results.json").read_text())
    assert any("hostile_nostart refuses to become torch" in g for g in results["run"]["gate_problems"])
    (suite,) = ET.parse(report / "junit.xml").getroot().findall("testsuite")
    (err,) = suite.iter("error")
    assert "hostile_nostart refuses to become torch" in err.get("message") + (err.text or "")
    assert_junit_matches_results(report)
    assert "hostile_nostart refuses to become torch" in (report / "index.html").read_text()


# -- A: environment problems are never cached --------------------------------------------------------------

def test_environment_problems_are_never_cached_and_say_what_to_install(tmp_path, monkeypatch):
    from conformance import client, oracle_cache

    missing = {"raises": "ModuleNotFoundError", "type": "builtins.ModuleNotFoundError",
               "message": "No module named 'requests_not_here_xyz'"}

    class FakeOracle:
        def __init__(self, *a, **kw):
            pass

        def start(self):
            return {"module": "torch"}

        def run(self, cid, timeout=None, then=()):
            return {"obs": missing if cid == "needs_requests" else {"value": cid}}

        def close(self):
            pass

    monkeypatch.setattr(client, "WorkerClient", FakeOracle)
    monkeypatch.setattr("conformance.registry.load_catalog", lambda: {})
    cache = OracleCache(tmp_path, {"torch": "t", "safetensors": "s"})
    got, _ = oracle_cache.ensure_recorded(cache, ["plain", "needs_requests"], 5)
    assert got["needs_requests"] == missing            # this run still judges with it
    records, _ = OracleCache(tmp_path, cache.key).load()
    assert records == {"plain": {"value": "plain"}}    # ... but it is never a cached record
    assert any("pip install requests_not_here_xyz" in w for w in cache.warnings)
    assert "No module named" not in cache.records_path.read_text()


def test_the_shared_oracle_cache_holds_no_environment_problem(oracle):
    from conformance.compare import environment_problem

    for line in oracle.records.read_text().splitlines():
        assert environment_problem(json.loads(line)["obs"]) is None, line[:300]
