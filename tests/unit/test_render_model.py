"""The report's data model (conformance/render/model.py): runs ordered by target and natural version, one run
per (target, safetensors, torch), cells coloured by their worst outcome, and rows listed when they fail the
gate or fail as expected."""
from __future__ import annotations

import pytest

from records import judged

from conformance import results
from conformance.render import model


def row(id: str, raw: str, final: str | None = None, api="torch.x", origin="_view2torch") -> dict:
    return judged({"id": id, "api": api, "origin": origin, "module": "m", "raw_outcome": raw,
                   "outcome": final or raw, "summary": "s"})


def run(target: str, version: str, *rows, safetensors="0.8.0") -> dict:
    return results.build({"target": target, "target_env": {"version": version, "safetensors": safetensors}},
                         list(rows))


def test_versions_sort_naturally():
    assert sorted(["0.10.0", "0.9.1", None, "0.9"], key=model.natural) == [None, "0.9", "0.9.1", "0.10.0"]
    report = model.from_results([run("mt", "0.10.0"), run("mt", "0.9.1"), run("a", "1")])
    assert [(r.key.target, r.key.torch) for r in report.runs] == [("a", "1"), ("mt", "0.9.1"), ("mt", "0.10.0")]


def test_two_results_of_one_target_and_versions_are_refused_in_one_line():
    with pytest.raises(model.ReportError, match="two results for target 'mt' with safetensors 0.8.0 and torch 1"):
        model.from_results([run("mt", "1"), run("mt", "1")])


def test_a_cell_shows_its_worst_outcome_failures_first():
    assert model.worst(["PASS", "XFAIL", "FAIL"]) == "FAIL"
    assert model.worst(["PASS", "XPASS"]) == "XPASS", "an XPASS fails the gate"
    assert model.worst(["SKIP", "PASS"]) == "PASS" and model.worst([]) == "SKIP"


def test_listed_rows_fail_the_gate_or_fail_as_expected():
    report = model.from_results([run("t", "1", row("a[1]", "FAIL"), row("b[1]", "FAIL", "XFAIL"), row("c[1]", "PASS"),
                                     row("d[1]", "PASS", "XPASS"))])
    failing, known = report.listed_cases()
    assert [v.id for v in failing] == ["a[1]", "d[1]"] and [v.id for v in known] == ["b[1]"]


def test_the_matrix_counts_shown_outcomes_per_origin_and_api():
    blocked = judged({**row("b[1]", "FAIL"), "cause": {"api": "torch.y", "phase": "input", "evidence": "e"}})
    report = model.from_results([run("t", "1", row("a[1]", "PASS"), row("a[2]", "FAIL"), blocked)])
    ((origin, rows),) = report.matrix()
    (cell,) = rows
    assert origin == "_view2torch" and dict(cell.cells["r0"]) == {"PASS": 1, "FAIL": 1, "BLOCKED": 1}
    assert cell.first_listed == {"r0": "a[2]"}


def test_every_entry_point_of_the_table_is_listed_even_without_cases():
    from conformance.render.entry_points import ENTRY_POINTS

    report = model.from_results([run("t", "1", row("a[1]", "PASS", origin="brand_new_origin"))])
    keys = [st.entry.key for st in report.entry_points(report.runs[0])]
    assert keys == [ep.key for ep in ENTRY_POINTS] + ["brand_new_origin"]


def test_an_anchor_has_no_whitespace():
    assert model.anchor("load[a b\tc]") == "case-load[a_b_c]"
