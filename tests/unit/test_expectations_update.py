"""Rewriting an expectations file from results (conformance/expectations_update.py): only rows that ran change;
a person's reasons are kept, the kit's (TRIAGE:) refreshed when the cause changes; new failures grouped under
their root cause; rows BLOCKED by one API folded into one cause entry; a file that includes another holds only
where this target differs from it."""
from __future__ import annotations

from records import judged

from conformance.expectations import Expectations
from conformance.expectations_update import heading_cause, machine_reason, update, written_for


def row(id: str, raw: str, api: str | None = None, phase: str = "input", summary: str = "s") -> dict:
    return judged({"id": id, "api": "torch.x", "raw_outcome": raw, "outcome": raw, "summary": summary,
                   **({"cause": {"api": api, "phase": phase, "evidence": "e"}} if api else {})})


def entries(text: str) -> list[tuple[str, str, str]]:
    """(pattern, outcomes, reason) of each entry line of a rewritten file."""
    out = []
    for line in text.splitlines():
        if line.strip() and not line.startswith(("#", "include ")):
            p, o, r = line.split(None, 2)
            out.append((p, o, r))
    return out


OLD = """x[*  FAIL  a person's reason
y[1]  FAIL  fixed now
z[*  FAIL  partly fixed
nr[1]  MISSING  did not run
"""
RECORDS = [row("x[1]", "FAIL"), row("x[2]", "FAIL"), row("y[1]", "PASS"), row("z[a]", "PASS"), row("z[b]", "FAIL"),
           row("n[a]", "MISSING", summary="no n"), row("n[b]", "MISSING", summary="no n"),
           row("b[1]", "BLOCKED", "torch.q"), row("c[1]", "BLOCKED", "torch.q")]


def _rewrite():
    return update(RECORDS, Expectations.parse(OLD, "f"), "t", catalog_ids=[r["id"] for r in RECORDS] + ["nr[1]"])


def test_entries_that_hold_or_did_not_run_are_kept_as_written():
    u = _rewrite()
    got = entries(u.text)
    assert ("x[*", "FAIL", "a person's reason") in got
    assert ("nr[1]", "MISSING", "did not run") in got and u.kept_not_run == 1


def test_a_fixed_entry_goes_and_a_partly_fixed_prefix_is_narrowed_to_ids():
    u = _rewrite()
    got = entries(u.text)
    assert not any(p == "y[1]" for p, _, _ in got)
    assert ("z[b]", "FAIL", "partly fixed") in got and not any(p == "z[*" for p, _, _ in got)
    kinds = {(c.kind, c.pattern) for c in u.changes}
    assert {("fixed", "y[1]"), ("narrowed", "z[*")} <= kinds


def test_new_failures_share_a_prefix_under_a_heading_of_their_root_cause():
    u = _rewrite()
    assert ("n[*", "MISSING", "TRIAGE: all 2 cases; e.g. fails in torch.x: no n") in entries(u.text)
    assert "# MISSING in torch.x: 2 rows" in u.text.splitlines()
    assert [c.pattern for c in u.new_failures] == ["b[1]", "c[1]", "n[*"]


def test_rows_blocked_by_one_api_fold_into_one_cause_entry():
    u = _rewrite()
    got = entries(u.text)
    assert ("cause=torch.q", "BLOCKED", "TRIAGE: blocked by torch.q: s") in got
    assert not any(p in ("b[1]", "c[1]") for p, _, _ in got), "the kit's id entries make way for it"
    assert "# BLOCKED by torch.q: 2 rows" in u.text.splitlines()
    again = update(RECORDS, Expectations.parse(u.text, "f"), "t", catalog_ids=[r["id"] for r in RECORDS] + ["nr[1]"])
    assert again.text == u.text and again.changes == [], "a rewrite of a rewrite changes nothing"


def test_a_single_blocked_row_stays_an_id_entry():
    u = update([row("b[1]", "BLOCKED", "torch.q")], Expectations.empty(), "t")
    assert [p for p, _, _ in entries(u.text)] == ["b[1]"]


def test_the_kits_reason_is_refreshed_when_the_cause_changes_a_persons_never():
    old = Expectations.parse("m[1]  FAIL  TRIAGE: blocked by torch.p: old\nh[1]  FAIL  a person: p is broken\n", "f")
    u = update([row("m[1]", "FAIL", "torch.q", "call", "new"), row("h[1]", "FAIL", "torch.q", "call")], old, "t")
    assert entries(u.text) == [("m[1]", "FAIL", "TRIAGE: fails in torch.q: new"),
                               ("h[1]", "FAIL", "a person: p is broken")]
    assert [(c.kind, c.pattern) for c in u.changes] == [("cause changed", "m[1]")]


def test_an_including_file_holds_only_where_this_target_differs(tmp_path):
    (tmp_path / "base.txt").write_text("a[*  FAIL  base says a fails\nb[1]  FAIL  base says b fails\n")
    (tmp_path / "top.txt").write_text("include base.txt\nb[1]  PASS  passes here, a person wrote\n"
                                      "k[1]  FAIL  kept, did not run\n")
    recs = [row("a[1]", "FAIL"), row("a[2]", "PASS"), row("b[1]", "PASS"), row("c[1]", "FAIL")]
    u = update(recs, Expectations.load(tmp_path / "top.txt"), "t", catalog_ids=[r["id"] for r in recs] + ["k[1]"])
    assert "\ninclude base.txt\n" in u.text
    assert entries(u.text) == [("k[1]", "FAIL", "kept, did not run"),
                               ("a[2]", "PASS", "TRIAGE: passes here, unlike what base.txt expects"),
                               ("b[1]", "PASS", "passes here, a person wrote"),
                               ("c[1]", "FAIL", "TRIAGE: fails in torch.x: s")]
    assert {(c.kind, c.pattern) for c in u.changes} == {("fixed", "a[2]"), ("new", "c[1]")}


def test_machine_reasons_read_back_their_cause():
    r = row("a", "BLOCKED", "torch.frombuffer", summary="  many\n words  ")
    assert machine_reason(r) == "TRIAGE: blocked by torch.frombuffer: many words"
    assert written_for(machine_reason(r, "all 3 cases; e.g. ")) == "torch.frombuffer"
    # a row failing in its own call is not "blocked" by it; both spellings read back
    own = row("b", "FAIL", "Tensor.view", summary="strides")
    assert machine_reason(own) == "TRIAGE: fails in Tensor.view: strides"
    assert written_for(machine_reason(own)) == "Tensor.view"
    assert written_for("TRIAGE: blocked by torch.x: written before 'fails in'") == "torch.x"
    assert written_for("a person wrote: blocked by torch.x: e") is None
    assert heading_cause("# BLOCKED by torch.q: 4 rows") == ("BLOCKED", "torch.q")
    assert heading_cause("# a person's comment: 4 rows") is None
