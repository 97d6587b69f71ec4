"""Progress between two runs (conformance/render/progress.py): rows compared by raw outcome and cause, so an
expectations rewrite is never progress; rows that changed the same way are one line."""
from __future__ import annotations

from records import judged

from conformance.render import progress


def row(id: str, raw: str, cause: dict | None = None, outcome: str | None = None) -> dict:
    return judged({"id": id, "api": "torch.x", "raw_outcome": raw, "outcome": outcome or raw,
                   **({"cause": cause} if cause else {})})


def run(*rows, target="t", version="1.0") -> dict:
    return {"run": {"target": target, "target_env": {"version": version}}, "cases": list(rows)}


BY_Y = {"api": "torch.y", "phase": "input", "evidence": "e"}


def test_fixed_newly_failing_and_cause_changed():
    old = run(row("a", "FAIL"), row("b", "PASS"), row("c", "FAIL"), row("d", "FAIL"), row("gone", "FAIL"))
    new = run(row("a", "PASS"), row("b", "FAIL"), row("c", "FAIL", BY_Y), row("d", "FAIL"), row("n", "CRASH"))
    p = progress.compare(old, new)
    assert [c.id for c in p.fixed] == ["a"] and [c.id for c in p.newly_failing] == ["b", "n"]
    assert p.cause_changed == [progress.Change("c", "FAIL", "BLOCKED by torch.y (input)")]
    assert p.only_old == 1 and p.summary() == "1 fixed, 2 newly failing, 1 with another cause"
    assert p.newly_failing[1].old == "absent"


def test_an_expectations_rewrite_is_not_progress():
    old = run(row("a", "FAIL"), row("b", "PASS"), row("c", "FAIL", outcome="XFAIL"))
    new = run(row("a", "FAIL", outcome="XFAIL"), row("b", "PASS"), row("c", "FAIL"))
    assert progress.compare(old, new).empty


def test_a_row_that_works_in_both_runs_never_changed_cause():
    assert progress.compare(run(row("a", "PASS")), run(row("a", "SKIP"))).empty


def test_a_cause_in_another_apis_call_is_named():
    assert progress.describe(row("a", "FAIL", {"api": "torch.y", "phase": "call", "evidence": ""})) == \
        "FAIL by torch.y (call)"
    assert progress.describe(row("a", "FAIL")) == "FAIL" and progress.describe(None) == "absent"


def test_rows_that_changed_the_same_way_are_one_line():
    old = run(*(row(f"load[{i}]", "FAIL", BY_Y) for i in range(3)), row("save", "FAIL"))
    new = run(*(row(f"load[{i}]", "PASS") for i in range(3)), row("save", "PASS"))
    p = progress.compare(old, new, "before", "after")
    assert progress.transitions(p.fixed) == [("BLOCKED by torch.y (input)", "PASS", ["load[0]", "load[1]", "load[2]"]),
                                             ("FAIL", "PASS", ["save"])]
    out = progress.text(p, limit=2)
    assert out.splitlines() == ["t 1.0 (before) -> t 1.0 (after): 4 fixed, 0 newly failing, 0 with another cause",
                                "fixed (4 rows, 2 transitions):",
                                "  3 rows: BLOCKED by torch.y (input) -> PASS: load[0 · 1], ... and 1 more",
                                "  save: FAIL -> PASS"]


def test_results_path_takes_a_report_dir_or_a_file(tmp_path):
    assert progress.results_path(tmp_path) == tmp_path / "results.json"
    assert progress.results_path(tmp_path / "r.jsonl") == tmp_path / "r.jsonl"
