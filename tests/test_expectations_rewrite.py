"""`python -m conformance expectations` round-trips its own output.

A file the kit wrote from some results, rewritten from those very results, changes nothing: no change is
listed (an entry's cause is read back from the reason the kit wrote, with or without its "all N cases;
e.g." prefix) and the text is byte for byte the same, `# BLOCKED by ...` headings included. Rows BLOCKED by
one API are one `cause=API BLOCKED` entry. Hand-made results here; the real pyborch run's round trip is in
tests/test_report_browser.py's module, which makes it.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conformance import results as res
from conformance.expectations import Expectations
from conformance.expectations_update import machine_reason, update, written_for
from records import judged

REPO = Path(__file__).resolve().parents[1]


def rec(i: str, raw: str, cause: str | None = None, summary: str = "it differs") -> dict:
    r = {"id": i, "raw_outcome": raw, "outcome": raw, "module": "m", "summary": summary, "target": "t",
         "api": "torch.x", "origin": "o"}
    if cause:
        r["cause"] = {"api": cause, "phase": "input", "evidence": summary}
    return judged(r)


# Three root causes over prefixes and exact ids; a summary whose 160-character cut ends on a blank.
RESULTS = ([rec(f"load[{d}-{n}]", "BLOCKED", "torch.frombuffer") for d in ("f32", "bf16") for n in range(3)]
           + [rec("save[f32]", "BLOCKED", "torch.frombuffer"), rec("save[bf16]", "PASS")]
           + [rec(f"view[{d}]", "FAIL", "Tensor.view", "x" * 159 + " tail") for d in ("f32", "i8")]
           + [rec("view[u8]", "PASS"), rec("size[0]", "MISSING", "torch.Size"), rec("ok[1]", "PASS")])
CATALOG = [r["id"] for r in RESULTS]


def first_file(records=RESULTS) -> str:
    """The file as the kit writes it when it takes every failure in (`--accept-new` on an empty file)."""
    return update(records, Expectations.empty(), "t", ["## a note"], catalog_ids=CATALOG).text


def entries(text: str) -> list[list[str]]:
    """(pattern, outcomes) of every entry of a file's text."""
    return [line.split()[:2] for line in text.splitlines() if line.strip() and not line.startswith(("#", "include"))]


def test_a_rewrite_from_the_same_results_changes_nothing_and_keeps_the_headings():
    text = first_file()
    assert "# BLOCKED by torch.frombuffer: 7 rows" in text and "# FAIL in Tensor.view: 2 rows" in text
    # the 7 rows blocked by torch.frombuffer are one cause entry; rows failing on their own API keep id entries
    assert entries(text) == [["cause=torch.frombuffer", "BLOCKED"], ["view[f32]", "FAIL"], ["view[i8]", "FAIL"],
                             ["size[0]", "MISSING"]], text
    assert "\ncause=torch.frombuffer  BLOCKED  TRIAGE: blocked by torch.frombuffer: it differs\n" in text
    again = update(RESULTS, Expectations.parse(text, "f"), "t", ["## a note"], catalog_ids=CATALOG)
    assert [str(c) for c in again.changes] == []
    assert again.text == text
    assert not any(line != line.rstrip() for line in text.splitlines()), "no trailing blank to lose on reading"


def test_the_cause_is_read_back_from_every_reason_the_kit_writes():
    for r in RESULTS:
        for prefix in ("", "all 12 cases; e.g. "):
            assert written_for(machine_reason(r, prefix)) == (r.get("cause") or {}).get("api"), (r["id"], prefix)
    assert written_for("person: blocked by torch.x: a note") is None, "a person's reason names no kit cause"


def test_a_cause_that_really_changed_is_one_change_and_the_headings_follow():
    text = first_file()
    moved = [dict(r, cause={"api": "Tensor.view(dtype)", "phase": "call", "evidence": "e"})
             if r["id"] in ("view[f32]", "view[i8]") else r for r in RESULTS]
    up = update(moved, Expectations.parse(text, "f"), "t", catalog_ids=CATALOG)
    assert [(c.kind, c.pattern) for c in up.changes] == [("cause changed", "view[f32]"), ("cause changed", "view[i8]")]
    assert "no cause recorded" not in str(up.changes[0])
    assert "Tensor.view -> Tensor.view(dtype)" in str(up.changes[0])
    # The heading counts the rows that still fail as it says; the moved rows stand under it no more.
    assert "# FAIL in Tensor.view:" not in up.text


def test_rows_whose_cause_moved_to_another_api_are_new_failures_under_a_cause_entry_of_their_own():
    text = first_file()
    moved = [dict(r, cause={"api": "torch.asarray", "phase": "input", "evidence": "e"})
             if r["id"].startswith("load[") else r for r in RESULTS]
    up = update(moved, Expectations.parse(text, "f"), "t", catalog_ids=CATALOG)
    assert [(c.kind, c.pattern) for c in up.changes] == [("new", "load[*"), ("folded", "cause=torch.asarray")]
    assert ["cause=torch.asarray", "BLOCKED"] in entries(up.text)
    # The heading counts the rows that still fail as it says; the moved rows stand under it no more.
    assert "# BLOCKED by torch.frombuffer: 1 rows" in up.text and "# BLOCKED by torch.asarray: 6 rows" in up.text


def test_headings_and_comments_stay_above_what_replaces_their_entries():
    text = first_file()
    text = text.replace("# MISSING in torch.Size: 1 rows", "# MISSING in torch.Size: 1 rows\n# a person's note")
    fixed = [rec("size[0]", "PASS") if r["id"] == "size[0]" else r for r in RESULTS]
    up = update(fixed, Expectations.parse(text, "f"), "t", catalog_ids=CATALOG)
    assert [(c.kind, c.pattern) for c in up.changes] == [("fixed", "size[0]")]
    assert "# MISSING in torch.Size" not in up.text, "a heading whose rows all pass goes"
    assert "# a person's note" in up.text, "a comment a person wrote stays"
    # A -k run (only view[f32] ran) keeps every heading and entry as it was.
    partial = update([r for r in RESULTS if r["id"] == "view[f32]"], Expectations.parse(text, "f"), "t",
                     ["## a note"], catalog_ids=CATALOG)
    assert partial.changes == [] and partial.text == text


def test_new_failures_join_the_heading_of_their_cause():
    first = [r for r in RESULTS if r["id"] != "view[i8]"]
    text = first_file(first)
    assert "# FAIL in Tensor.view: 1 rows" in text
    up = update(RESULTS, Expectations.parse(text, "f"), "t", catalog_ids=CATALOG)
    assert [(c.kind, c.pattern) for c in up.changes] == [("new", "view[i8]")]
    assert up.text.count("# FAIL in Tensor.view") == 1 and "# FAIL in Tensor.view: 2 rows" in up.text
    section = up.text.split("# FAIL in Tensor.view: 2 rows\n", 1)[1].split("\n\n", 1)[0]
    assert "view[i8]" in section


def test_a_new_row_blocked_by_a_known_gap_is_expected_by_its_cause_entry():
    text = first_file([r for r in RESULTS if r["id"] != "save[f32]"])
    assert "# BLOCKED by torch.frombuffer: 6 rows" in text and "cause=torch.frombuffer" in text
    up = update(RESULTS, Expectations.parse(text, "f"), "t", ["## a note"], catalog_ids=CATALOG)
    assert up.changes == [] and up.new_failures == []
    assert up.text == text.replace("torch.frombuffer: 6 rows", "torch.frombuffer: 7 rows"), "only the count moves"


def test_a_persons_reason_stays_as_an_id_entry_and_a_group_of_one_is_not_a_cause_entry():
    text = first_file().replace("cause=torch.frombuffer  BLOCKED  TRIAGE: blocked by torch.frombuffer: it differs",
                                "load[*                  BLOCKED  frombuffer is issue 7")
    rows = RESULTS + [rec("pick[0]", "BLOCKED", "Tensor.__getitem__")]
    up = update(rows, Expectations.parse(text, "f"), "t", catalog_ids=CATALOG + ["pick[0]"])
    # save[f32] is the only row of torch.frombuffer left without an entry: a group of one, an id entry
    assert [(c.kind, c.pattern) for c in up.changes] == [("new", "pick[0]"), ("new", "save[f32]")], up.changes
    assert ["load[*", "BLOCKED"] in entries(up.text) and "frombuffer is issue 7" in up.text
    assert not any(p.startswith("cause=") for p, _ in entries(up.text)), up.text
    # once written, a cause entry stays while one row is its own
    text = first_file()
    one = [r for r in RESULTS if not r["id"].startswith("load[")] + [rec(f"load[{d}-{n}]", "PASS")
                                                                      for d in ("f32", "bf16") for n in range(3)]
    up = update(one, Expectations.parse(text, "f"), "t", catalog_ids=CATALOG)
    assert up.changes == [] and ["cause=torch.frombuffer", "BLOCKED"] in entries(up.text)
    assert "# BLOCKED by torch.frombuffer: 1 rows" in up.text


def test_a_cause_entry_goes_when_its_rows_pass_and_stays_in_a_partial_run():
    text = first_file()
    fixed = [rec(r["id"], "PASS") if (r.get("cause") or {}).get("api") == "torch.frombuffer" else r for r in RESULTS]
    up = update(fixed, Expectations.parse(text, "f"), "t", catalog_ids=CATALOG)
    assert [(c.kind, c.pattern) for c in up.changes] == [("fixed", "cause=torch.frombuffer")]
    assert "frombuffer" not in up.text
    partial = update([r for r in fixed if r["id"] == "load[f32-0]"], Expectations.parse(text, "f"), "t",
                     ["## a note"], catalog_ids=CATALOG)
    assert partial.changes == [] and partial.text == text, "a -k run cannot tell whether the gap is gone"


def test_a_row_of_the_cause_failing_otherwise_gets_an_id_entry_that_wins():
    text = first_file()
    other = [dict(r, raw_outcome="FAIL", outcome="FAIL", cause={**r["cause"], "phase": "call"})
             if r["id"] == "save[f32]" else r for r in RESULTS]
    up = update(other, Expectations.parse(text, "f"), "t", catalog_ids=CATALOG)
    assert [(c.kind, c.pattern) for c in up.changes] == [("outcome changed", "save[f32]")]
    assert up.new_failures, "a row the cause entry decides that fails otherwise is a new failure"
    new = Expectations.parse(up.text, "f")
    assert new.match("save[f32]", "torch.frombuffer").outcomes == ("FAIL",)
    assert new.match("load[f32-0]", "torch.frombuffer").pattern == "cause=torch.frombuffer"


def test_an_id_entry_that_is_an_exception_to_a_shorter_prefix_stays():
    rows = RESULTS + [rec("cast[a]", "FAIL", "Tensor.to"), rec("cast[b]", "FAIL", "Tensor.to"),
                      rec("cast[c]", "BLOCKED", "torch.frombuffer")]
    text = first_file() + ("cast[*   FAIL     casts are issue 9\n"
                           "cast[c]  BLOCKED  TRIAGE: blocked by torch.frombuffer: it differs\n")
    up = update(rows, Expectations.parse(text, "f"), "t", catalog_ids=[r["id"] for r in rows])
    assert up.changes == [], "without cast[c], cast[* would decide it (and expect FAIL)"
    assert ["cast[c]", "BLOCKED"] in entries(up.text) and ["cause=torch.frombuffer", "BLOCKED"] in entries(up.text)


def test_a_kit_prefix_over_rows_of_several_causes_goes_once_each_cause_has_its_entry():
    rows = [rec("dt[u16]", "BLOCKED", "torch.uint16"), rec("dt[f8]", "BLOCKED", "torch.float8_e5m2"),
            rec("zeros[u16]", "BLOCKED", "torch.uint16"), rec("zeros[f8]", "BLOCKED", "torch.float8_e5m2")]
    text = ("dt[*     BLOCKED  TRIAGE: all 2 cases; e.g. blocked by torch.uint16: it differs\n"
            "zeros[*  BLOCKED  TRIAGE: all 2 cases; e.g. blocked by torch.uint16: it differs\n")
    up = update(rows, Expectations.parse(text, "f"), "t", catalog_ids=[r["id"] for r in rows])
    assert sorted(entries(up.text)) == [["cause=torch.float8_e5m2", "BLOCKED"], ["cause=torch.uint16", "BLOCKED"]]
    assert sorted((c.kind, c.pattern) for c in up.changes if c.kind == "folded") == [
        ("folded", "cause=torch.float8_e5m2"), ("folded", "cause=torch.uint16")]
    new = Expectations.parse(up.text, "f")
    assert all(new.match(r["id"], r["cause"]["api"]).pattern == "cause=" + r["cause"]["api"] for r in rows)


def test_the_command_round_trips_a_file_it_wrote(tmp_path):
    results = tmp_path / "results.json"
    res.write(results, res.build({"target": "t", "gate_problems": [], "interrupted": False}, RESULTS))
    exp = tmp_path / "exp.txt"
    exp.write_text("")

    def rewrite(*extra):
        p = subprocess.run([sys.executable, "-m", "conformance", "expectations", "--results", str(results),
                            "--file", str(exp), *extra], cwd=REPO, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stdout + p.stderr
        return p.stdout

    assert "new: " in rewrite("--accept-new")
    written = exp.read_bytes()
    out = rewrite()
    assert out.splitlines()[0].startswith("wrote ") and " 0 change(s)" in out, out
    assert exp.read_bytes() == written


@pytest.mark.parametrize("lines", [["# just a comment"], ["## a note only"]])
def test_a_file_of_comments_only_keeps_them(lines):
    text = "\n".join(lines) + "\n"
    old = Expectations.parse(text, "f")
    assert old.entries == []
    up = update([rec("ok[1]", "PASS")], old, "t", [line for line in lines if line.startswith("## ")])
    assert all(line in up.text for line in lines)


# -- a file that includes another (two targets sharing most of their gaps) ---------------------------

def _other_target() -> list[dict]:
    """RESULTS as another target sees them: save[f32] (blocked by torch.frombuffer in base.txt) and view[f32]
    pass there, size[0] fails otherwise, view[u8] fails."""
    other = [dict(r) for r in RESULTS]
    for r in other:
        if r["id"] in ("save[f32]", "view[f32]"):
            r["raw_outcome"] = r["outcome"] = "PASS"
            r.pop("cause", None)
        elif r["id"] == "size[0]":
            r["raw_outcome"] = r["outcome"] = "FAIL"
        elif r["id"] == "view[u8]":
            r.update(raw_outcome="FAIL", outcome="FAIL", cause={"api": "Tensor.view", "phase": "call", "evidence": "e"})
    return [judged(r) for r in other]


def test_an_including_file_holds_only_what_differs_and_round_trips(tmp_path):
    base = tmp_path / "base.txt"
    base.write_text(first_file())
    other = _other_target()
    mine = tmp_path / "mine.txt"
    mine.write_text("include base.txt\n")
    up = update(other, Expectations.load(mine), "t2", catalog_ids=CATALOG)
    assert sorted(c.pattern for c in up.new_failures) == ["size[0]", "view[u8]"]
    mine.write_text(up.text)
    # save[f32] passing needs no entry: base.txt's cause entry decides only rows blocked by its cause
    assert sorted(entries(up.text)) == [["size[0]", "FAIL"], ["view[f32]", "PASS"], ["view[u8]", "FAIL"]], up.text
    loaded = Expectations.load(mine)
    # every case decided as it came out: a failure by an entry naming its outcome, a pass by none
    assert {r["id"]: (m.outcomes if (m := loaded.match(r["id"], (r.get("cause") or {}).get("api"))) else None)
            for r in other} == {
        r["id"]: ((r["raw_outcome"],) if r["raw_outcome"] != "PASS" else None) for r in other}
    again = update(other, loaded, "t2", catalog_ids=CATALOG)
    assert [str(c) for c in again.changes] == [] and again.text == up.text
    shared = loaded.match("load[f32-0]", "torch.frombuffer")
    assert shared.source == str(base) and shared.where == f"{base}:{shared.line}", "a shared gap stays in base.txt"
    # the person's reason of an entry that still holds is kept
    mine.write_text(up.text.replace("TRIAGE: passes here", "cheap on this target, see PR 12"))
    assert "cheap on this target, see PR 12" in update(other, Expectations.load(mine), "t2", catalog_ids=CATALOG).text


def test_include_errors_are_one_line_each(tmp_path):
    from conformance.expectations import ExpectationsError

    (tmp_path / "base.txt").write_text("x[1]  FAIL  r\n")
    for name, text, message in [
            ("loop.txt", "include loop2.txt\n", "circle of includes"),
            ("alone.txt", "x[1]  PASS  r\n", "includes none"),
            ("late.txt", "x[1]  FAIL  r\ninclude base.txt\n", "must come before every entry"),
            ("gone.txt", "include no_such.txt\n", "does not exist")]:
        (tmp_path / name).write_text(text)
        (tmp_path / "loop2.txt").write_text("include loop.txt\n")
        with pytest.raises(ExpectationsError, match=message) as e:
            Expectations.load(tmp_path / name)
        assert "\n" not in str(e.value)


def test_a_pass_that_matches_no_case_is_stale(tmp_path):
    (tmp_path / "base.txt").write_text("view[*  FAIL  r\n")
    (tmp_path / "mine.txt").write_text("include base.txt\ngone[1]  PASS  passes here\n")
    stale = Expectations.load(tmp_path / "mine.txt").unmatched(CATALOG)
    assert [(e.pattern, e.outcomes, Path(e.source).name) for e in stale] == [("gone[1]", ("PASS",), "mine.txt")]
