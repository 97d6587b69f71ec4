"""checklist.md (conformance/render/checklist.py): every backend-provided string Markdown-escaped on one line,
code spans that survive backticks, and each entry point's verdict in words."""
from __future__ import annotations

import re

from records import judged

from conformance import render, results
from conformance.render import causes, checklist, sources
from conformance.render.entry_points import ENTRY_POINTS

LOAD = ENTRY_POINTS[0]


def row(id: str, raw: str = "FAIL", *, api="torch.x", module="st_entrypoints", **kw) -> dict:
    return judged({"id": id, "api": api, "origin": "_view2torch", "module": module, "raw_outcome": raw,
                   "outcome": raw, "summary": kw.pop("summary", "s"), "target": "t", **kw})


def test_md_escapes_markup_and_html_and_keeps_one_line():
    assert checklist.md("<script>*x*</script>") == r"\<script\>\*x\*\</script\>"
    assert checklist.md("a\n\n  b|c") == r"a b\|c"
    assert checklist.md("bell\x07") == r"bell\\x07", "a control character is shown, never written"


def test_md_code_survives_backticks():
    assert checklist.md_code("a") == "`a`"
    assert checklist.md_code("x ``y`` z") == "```x ``y`` z```", "a fence longer than any run inside"
    assert checklist.md_code("`start") == "`` `start ``"
    assert checklist.md_code("") == "`  `"


def test_a_case_link_points_at_its_row_in_index_html():
    assert checklist.case_link("load[a b]") == r"[load\[a b\]](index.html#case-load%5Ba_b%5D)"


def test_verdict_lines_say_what_each_entry_point_was_judged_by():
    ok = causes.verdict(LOAD, [row("l[1]", "PASS")], ["st_entrypoints"])
    assert checklist._verdict_line(ok) == f"- [x] `{LOAD.title}`: **works**: its 1 end-to-end row pass."
    bad = causes.verdict(LOAD, [row("l[1]"), row("l[2]"), row("p[1]", module="tensors", api="torch.p")],
                         ["st_entrypoints"])
    assert checklist._verdict_line(bad) == (f"- [ ] `{LOAD.title}`: **blocked by** `torch.x` (2): 2 of its 2 "
                                            "end-to-end rows fail. Leans on `torch.p` (1 of 1 failing).")
    per_api = causes.verdict(LOAD, [row("p[1]", "SKIP", module="tensors", summary="no <dtype>")], ["st_entrypoints"])
    assert checklist._verdict_line(per_api) == (f"- [ ] `{LOAD.title}`: **not tested** (no \\<dtype\\>): all its 1 "
                                                "per-API row (no end-to-end case) were skipped.")


def test_the_rendered_checklist_escapes_what_the_backend_said(monkeypatch):
    monkeypatch.setattr(sources, "_LIVE", None)
    monkeypatch.setattr(sources, "load_catalog", lambda: {})
    monkeypatch.setattr(sources, "catalog_digest", lambda: None)
    hostile = row("x[1]", module="tensors", observed={"raises": "TypeError", "type": "TypeError",
                                                     "message": "<img src=x onerror=alert(1)> `rm -rf`"})
    data = results.build({"target": "t<b>", "target_env": {"version": "1"}, "cases_in_catalog": 1}, [hostile])
    text = checklist.render(render.from_results([data]))
    assert text.startswith("# Backend checklist: t\\<b\\>")
    assert re.search(r"(?<!\\)<img", text) is None and "\\<img src=x onerror=alert(1)\\> \\`rm -rf\\`" in text
    assert "### What to fix first (1 cause)" in text
