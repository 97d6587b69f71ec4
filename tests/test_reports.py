"""The reports rendered from results: deterministic bytes, escaping, the entry-point table, the CLI.

These use small hand-made results (every outcome, hostile backend strings, an origin the
entry-point table does not know); tests/test_report_browser.py renders real results in Chromium.
"""
from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conformance import render, results as res
from conformance.outcomes import OUTCOMES
from conformance.registry import load_catalog
from conformance.render import checklist, entry_points, html, junit, model
from records import judged

REPO = Path(__file__).resolve().parents[1]
EVIL = "<script>window.__pwned=1</script><img src=x onerror=window.__pwned=1> & `tick` | [x](y) *b* _i_"


def header(target: str, version: str | None, st: str = "0.8.0", how: str = "kit alias") -> dict:
    return {"target": target, "how": how, "module": target, "file": f"/site/{target}/__init__.py",
            "version": version, "version_type": "str", "uses_real_torch": target == "torch",
            "python": "3.11.7", "numpy": "2.4.6", "safetensors": st}


def rec(cid: str, api: str, origin: str, outcome: str, summary: str = "", raw: str | None = None, **kw) -> dict:
    r = {"id": cid, "api": api, "origin": origin, "module": kw.pop("module", "view2torch"), "target": "t",
         "outcome": outcome, "raw_outcome": raw or outcome, "summary": summary, "note": "", "diffs": [],
         "expectation": None, "oracle": {"value": 1}, "observed": {"value": 1}, "ms": 1.5}
    r.update(kw)
    return judged(r)


def sample(target: str = "badtorch", version: str | None = "0.1", st: str = "0.8.0", evil: str = EVIL) -> dict:
    bytes_diff = {"path": "value.result.bytes", "kind": "bytes", "first_offset": 3, "oracle_len": 14, "target_len": 14,
                  "excerpt_start": 0, "oracle_hex": "c1 7f 81 ff 00 80", "target_hex": "c1 7f 81 00 00 81",
                  "detail": "bytes differ at offset 3"}
    records = [
        rec("frombuffer[float32]", "torch.frombuffer", "_view2torch", "PASS"),
        rec("frombuffer[bfloat16]", "torch.frombuffer", "_view2torch", "FAIL", "value.result.bytes: bytes differ",
            diffs=[bytes_diff]),
        rec("rust_asarray[0:16]", "torch.asarray", "rust:safe_open(pt)", "MISSING", f"AttributeError: {evil}",
            module="rust_safe_open", observed={"raises": "AttributeError", "type": "builtins.AttributeError",
                                                 "message": evil},
            diffs=[{"path": "raises", "oracle": "no exception", "target": "AttributeError", "target_message": evil}]),
        rec("rust_view[uint8]", "Tensor.view(dtype)", "rust:safe_open(pt)", "PASS", module="rust_safe_open"),
        rec("empty[int16-0]", "torch.empty", "_view2torch", "CRASH", "worker died (killed by SIGSEGV)\x00",
            observed=None, diffs=[{"path": "process", "detail": "worker died\nSIGSEGV"}]),
        rec("contiguous[f32]", "Tensor.contiguous", "_tobytes/_to_ndarray", "TIMEOUT", "no answer within 5 s",
            module="to_ndarray", observed=None),
        rec("dtype[f32]", "Tensor.dtype", "_tobytes/_to_ndarray, _flatten", "ERROR", "oracle could not run the case",
            module="to_ndarray"),
        rec("numpy[bf16]", "Tensor.numpy", "_tobytes/_to_ndarray", "XFAIL", "value: oracle 1, target 2", raw="FAIL",
            module="to_ndarray", note=f"known: {evil}",
            expectation={"pattern": "numpy[*", "line": 3, "reason": evil},
            diffs=[{"path": "value", "oracle": 1, "target": 2}]),
        rec("numpy[f32]", "Tensor.numpy", "_tobytes/_to_ndarray", "XPASS", "", raw="PASS", module="to_ndarray",
            note="the expectations file says FAIL"),
        rec("dtype_object[float4]", "torch.<dtype>", "_view2torch", "SKIP", "the oracle's torch has no dtype float4"),
        rec("brand_new[x]", "torch.brand_new", "brand-new origin", "FAIL", "value: oracle 1, target 2",
            module="brand_new", diffs=[{"path": "value", "oracle": 1, "target": 2}]),
    ]
    for r in records:
        r["target"] = target
    run = {"target": target, "oracle": header("torch", "2.13.0+cpu", st, "real PyTorch"),
           "target_env": header(target, version, st, how=f"hook {evil}"), "catalog": "0123456789abcdef",
           "cases_in_catalog": len(records), "expectations": "exp.txt", "gate_problems": [f"stale entry {evil}"],
           "interrupted": False}
    return res.build(run, records)


def render_all(results: list[dict], out: Path, date: str | None = None) -> dict[str, bytes]:
    written = render.write_all(render.from_results(results, date=date), out)
    return {name: p.read_bytes() for name, p in written.items()}


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k == "id":
                self.ids.append(v)
            if k in ("src", "href") and v:
                self.urls.append(v)


def parse_html(text: str) -> _Ids:
    p = _Ids()
    p.feed(text)
    return p


# -- determinism ----------------------------------------------------------------------------------

def test_same_results_give_the_same_bytes(tmp_path):
    results = [sample(), sample("other", "2.0")]
    first = render_all(results, tmp_path / "a")
    second = render_all(copy.deepcopy(results[::-1]), tmp_path / "b")   # input order does not matter
    assert set(first) == {"index.html", "checklist.md", "junit.xml"}
    for name in first:
        assert first[name] == second[name], f"{name} differs between two renderings of the same results"


def test_saved_results_render_like_the_in_memory_ones(tmp_path):
    """The plugin renders from the dict it holds; `report` from results.json: same bytes."""
    data = sample()
    res.write(tmp_path / "results.json", data)
    from_file = render.load([tmp_path / "results.json"])
    # the plugin renders every file from one model, one after another (its causes worked out once)
    render.write_all(render.from_results([data]), tmp_path / "held")
    for name, renderer in render.RENDERERS.items():
        assert renderer(from_file) == (tmp_path / "held" / name).read_text(encoding="utf-8"), name


def test_no_date_unless_asked(tmp_path):
    plain = render_all([sample()], tmp_path / "plain")
    dated = render_all([sample()], tmp_path / "dated", date="2031-02-03 04:05 UTC")
    for name in plain:
        assert b"2031-02-03" not in plain[name]
        assert not re.search(rb"20\d\d-\d\d-\d\d", plain[name]), f"{name} carries a date nobody asked for"
        assert b"2031-02-03 04:05 UTC" in dated[name], name


# -- escaping -------------------------------------------------------------------------------------

def test_html_escapes_backend_strings_and_loads_nothing_external(tmp_path):
    text = render_all([sample()], tmp_path)["index.html"].decode()
    assert "<script>window.__pwned" not in text and "<img src=x" not in text
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in text
    assert text.count("<script>") == 1, "only the page's own filter script"
    page = parse_html(text)
    assert all(u.startswith("#") for u in page.urls), f"external or relative resources: {page.urls}"
    assert len(page.ids) == len(set(page.ids)), "duplicate element ids"
    assert "Content-Security-Policy" in text


def test_checklist_escapes_backend_strings(tmp_path):
    text = render_all([sample()], tmp_path)["checklist.md"].decode()
    for raw in ("<script>", "<img", "`tick`", "[x](y)"):
        assert not re.search(r"(?<!\\)" + re.escape(raw), text), f"{raw!r} reached checklist.md unescaped"
    assert r"\<script\>window.\_\_pwned=1\</script\>" in text
    assert checklist.md("a_b <c> [d]") == r"a\_b \<c\> \[d\]"
    assert checklist.md_code("x`y") == "``x`y``"


def test_junit_parses_and_keeps_the_message_verbatim(tmp_path):
    data = sample()
    raw = render_all([data], tmp_path)["junit.xml"]
    root = ET.fromstring(raw)          # a NUL byte in a summary must not break the XML
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == sorted(
        (r["origin"], r["id"]) for r in data["cases"]) + [("torch-conformance", "gate")]   # it has a gate problem
    by_name = {c.get("name"): c for c in cases}
    assert by_name["gate"].find("error").get("message").startswith("GATE: stale entry")
    assert by_name["rust_asarray[0:16]"].find("failure").get("message") == f"MISSING: AttributeError: {EVIL}"
    assert by_name["empty[int16-0]"].find("error").get("message").endswith("SIGSEGV)\\x00")
    kinds = {o: set() for o in OUTCOMES}
    for r in data["cases"]:
        kinds[r["outcome"]] |= {child.tag for child in by_name[r["id"]]}
    assert kinds["PASS"] == set() and kinds["FAIL"] == kinds["MISSING"] == kinds["XPASS"] == {"failure"}
    assert kinds["CRASH"] == kinds["TIMEOUT"] == kinds["ERROR"] == {"error"}
    assert kinds["SKIP"] == kinds["XFAIL"] == {"skipped"}
    totals = tuple(suite.get(k) for k in ("tests", "failures", "errors", "skipped"))
    assert totals == ("12", "4", "4", "2")        # the cases, plus the gate's one error


# -- content --------------------------------------------------------------------------------------

def test_every_listed_case_has_an_anchor_and_every_checklist_link_resolves(tmp_path):
    data = [sample(), sample("other", "2.0")]
    files = render_all(data, tmp_path)
    ids = set(parse_html(files["index.html"].decode()).ids)
    listed = {r["id"] for d in data for r in d["cases"] if model.listed(r)}
    assert {model.anchor(i) for i in listed} <= ids
    links = re.findall(r"\(index\.html#([^)]+)\)", files["checklist.md"].decode())
    assert links
    from urllib.parse import unquote
    assert {unquote(link) for link in links} <= ids


def test_entry_points_group_origins_and_unknown_origins_show_under_their_own_name(tmp_path):
    assert [e.key for e in entry_points.entry_points_of("_view2torch")] == ["load(bytes)"]
    assert [e.key for e in entry_points.entry_points_of("rust:safe_open(pt) pread")] == ['load_file(backend="pread")']
    for o in ("_tobytes/_to_ndarray", "_flatten", "_find_shared_tensors", "_tobytes/_to_ndarray, _flatten"):
        assert [e.key for e in entry_points.entry_points_of(o)] == ["save"], o
    unknown = entry_points.entry_points_of("brand-new origin")
    assert [(e.key, e.known) for e in unknown] == [("brand-new origin", False)]
    files = render_all([sample()], tmp_path)
    assert "brand-new origin" in files["checklist.md"].decode()
    report = render.from_results([sample()])
    keys = [s.entry.key for s in report.entry_points(report.runs[0])]
    assert keys == ["load(bytes)", "safe_open(pt)", "save", 'load_file(backend="pread")', "brand-new origin"]
    assert '<code>brand-new origin</code>' in files["index.html"].decode()


def _e2e(cid, api, origin, outcome, summary="", **kw):
    return rec(cid, api, origin, outcome, summary, module="st_entrypoints", **kw)


def verdict_sample() -> dict:
    """Entry points judged by their own end-to-end rows: load(bytes) works although a per-API row fails,
    safe_open(pt) is blocked by two causes, transformers is skipped, a row off the loading path does not count."""
    frombuffer = {"api": "torch.frombuffer", "phase": "chain", "evidence": "AttributeError: no frombuffer"}
    view = {"api": "Tensor.view(dtype)", "phase": "chain", "evidence": "TypeError: view() got dtype"}
    records = [
        _e2e("load_bytes[float32]", "safetensors.torch.load", "safetensors.torch.load", "PASS"),
        _e2e("load_bytes[bfloat16]", "safetensors.torch.load", "safetensors.torch.load", "PASS"),
        rec("frombuffer[float32]", "torch.frombuffer", "_view2torch", "XFAIL", "the oracle's bytes differ",
            raw="FAIL", diffs=[{"path": "value.result.stride[0]", "oracle": 1, "target": 2}],
            observed={"value": {"result": 1}}, cause={"api": "torch.frombuffer", "phase": "call", "evidence": "x"}),
        _e2e("load_file[a]", "safetensors.torch.load/load_file", "safetensors.torch.load_file", "XFAIL", "AttributeError",
             raw="BLOCKED", cause=frombuffer, observed={"raises": "AttributeError", "message": "no frombuffer"}),
        _e2e("load_file[b]", "safetensors.torch.load/load_file", "safetensors.torch.load_file", "XFAIL", "AttributeError",
             raw="BLOCKED", cause=frombuffer, observed={"raises": "AttributeError", "message": "no frombuffer"}),
        _e2e("get_tensor[a]", "safe_open(pt).get_tensor", "safetensors.safe_open(pt)", "XFAIL", "TypeError",
             raw="BLOCKED", cause=view, observed={"raises": "TypeError", "message": "dtype"}),
        _e2e("get_tensor[storage]", "safe_open(pt).get_tensor", "safetensors.safe_open(pt)", "XFAIL", "TypeError",
             raw="BLOCKED", cause=view, off_path="needed only if torch.__version__ >= 1.11",
             observed={"raises": "TypeError", "message": "dtype"}),
        _e2e("save_bytes[float32]", "safetensors.torch.save", "safetensors.torch.save", "PASS"),
        _e2e("save_bytes[int8]", "safetensors.torch.save", "safetensors.torch.save", "XFAIL", "off the path",
             raw="BLOCKED", cause=view, off_path="needed only if torch.__version__ >= 1.11"),
        rec("transformers[bert-load]", "transformers.AutoModel.from_pretrained", "transformers.from_pretrained", "SKIP",
            "not available in this environment: transformers not installed", module="transformers_e2e"),
        rec("transformers[gpt2-load]", "transformers.AutoModel.from_pretrained", "transformers.from_pretrained", "SKIP",
            "not available in this environment: transformers not installed", module="transformers_e2e"),
    ]
    for r in records:
        r["target"] = "t"
    run = {"target": "t", "oracle": header("torch", "2.13.0+cpu"), "target_env": header("t", "0.1.0"),
           "catalog": "0", "cases_in_catalog": len(records), "expectations": "e.txt", "gate_problems": []}
    return res.build(run, records)


def test_entry_points_are_judged_by_their_end_to_end_rows(tmp_path):
    report = render.from_results([verdict_sample()])
    verdicts = {v.entry.key: v for v in report.verdicts(report.runs[0])}
    assert verdicts["load(bytes)"].state == "works"           # its per-API frombuffer row fails, its e2e rows pass
    assert verdicts["load(bytes)"].leaning == [("torch.frombuffer", 1, 1)]
    so = verdicts["safe_open(pt)"]
    assert so.state == "blocked"
    assert so.causes == [("torch.frombuffer", 2), ("Tensor.view(dtype)", 1)]    # ranked by rows blocked
    assert so.label == "blocked by torch.frombuffer, Tensor.view(dtype)"
    assert [r["id"] for r in so.off_path] == ["get_tensor[storage]"]
    assert verdicts["save"].state == "works", "a row off the loading path never counts against an entry point"
    only_off = copy.deepcopy(verdict_sample())
    only_off["cases"] = [r for r in only_off["cases"] if r["id"] != "save_bytes[float32]"]
    report_off = render.from_results([only_off])
    save = {v.entry.key: v for v in report_off.verdicts(report_off.runs[0])}["save"]
    assert save.state == "not tested" and "loading path this backend does not take" in save.why
    tf = verdicts["transformers.from_pretrained"]
    assert tf.state == "not tested" and "transformers not installed" in tf.label   # never "works" on SKIP
    files = render_all([verdict_sample()], tmp_path)
    text = files["checklist.md"].decode()
    assert "`safetensors.torch.load(bytes)`: **works**" in text
    assert '**blocked by** `torch.frombuffer` (2), `Tensor.view(dtype)` (1)' in text
    assert "**not tested** (not available in this environment: transformers not installed)" in text
    page = files["index.html"].decode()
    assert page.count('data-verdict="works"') == 2 and page.count('data-verdict="not tested"') == 1
    assert "blocked by" in page and "on a loading path this backend does not take" in page


def cause_sample() -> dict:
    """One silent bug, one crash, and a missing API that blocks three rows besides its own."""
    missing = {"api": "torch.frombuffer", "phase": "call", "evidence": "no frombuffer"}
    blocked = {"api": "torch.frombuffer", "phase": "input", "evidence": "AttributeError: no frombuffer"}
    records = [
        rec("reshape[float32-transposed-to6]", "Tensor.reshape", "_view2torch", "XFAIL", "bytes differ", raw="FAIL",
            oracle={"value": {"result": {"dtype": "float32", "bytes": "00000000000040400000803f00008040000000400000a040"}}},
            observed={"value": {"result": {"dtype": "float32", "bytes": "000000000000803f0000004000004040000080400000a040"}}},
            cause={"api": "Tensor.reshape", "phase": "call", "evidence": "bytes"},
            diffs=[{"path": "value.result.bytes", "kind": "bytes", "first_offset": 4, "oracle_len": 24, "target_len": 24,
                    "excerpt_start": 0, "oracle_hex": "00 00 00 00 00 00 40 40", "target_hex": "00 00 00 00 00 00 80 3f"}]),
        rec("empty_zero_size[int16-0]", "torch.empty", "_view2torch", "CRASH", "worker died", observed=None,
            cause={"api": "torch.empty", "phase": "call", "evidence": "worker died"}),
        rec("frombuffer[float32-ordinary]", "torch.frombuffer", "_view2torch", "XFAIL", "no frombuffer", raw="MISSING",
            observed={"raises": "AttributeError", "message": "no frombuffer"}, cause=missing),
    ] + [rec(f"numpy[{d}]", "Tensor.numpy", "_tobytes/_to_ndarray", "XFAIL", "blocked", raw="BLOCKED", cause=blocked,
             module="to_ndarray", observed={"raises": "AttributeError", "message": "no frombuffer"})
         for d in ("float32", "int8", "uint8")]
    run = {"target": "t", "oracle": header("torch", "2.13.0+cpu"), "target_env": header("t", "2.1.0"),
           "catalog": "0", "cases_in_catalog": len(records), "expectations": "e.txt", "gate_problems": []}
    return res.build(run, records)


def test_causes_rank_silent_data_then_failures_by_entry_points_and_count_what_they_block(tmp_path):
    from conformance.render import causes
    report = render.from_results([cause_sample()])
    ranked = report.causes(report.runs[0])
    # a crash and an error are both "fails outright": the one that breaks more entry points first
    assert [(c.section, c.group, c.api) for c in ranked] == [("wrong", "silent", "Tensor.reshape"),
                                                             ("broken", "error", "torch.frombuffer"),
                                                             ("broken", "crash", "torch.empty")]
    fb = ranked[1]
    assert len(fb.own) == 1 and sorted(r["id"] for r in fb.blocked) == ["numpy[float32]", "numpy[int8]", "numpy[uint8]"]
    assert [ep.key for ep in fb.entry_points()] == ["load(bytes)", "save"]
    numpy_row = next(r for r in cause_sample()["cases"] if r["id"] == "numpy[int8]")
    assert causes.shown_outcome(numpy_row) == "BLOCKED"
    # Older results have no cause: a failing row is its own API's, in the call phase.
    old = rec("x[1]", "torch.x", "_view2torch", "FAIL", "differs")
    assert causes.cause_of(old) == {"api": "torch.x", "phase": "call", "evidence": "differs"}
    text = render_all([cause_sample()], tmp_path)["checklist.md"].decode()
    first = [text.index(s) for s in ("`Tensor.reshape`: wrong bytes", "`torch.frombuffer`: missing", "`torch.empty`:")]
    assert first == sorted(first), "silent data first, then what fails outright, most entry points first"
    assert "; 4 name it: 1 failing in its own call, 3 blocked by it)" in text and "A fix unblocks** up to " in text
    assert "x = base.reshape([2, 3]).transpose(0, 1)" in text and "y = x.reshape([6])" in text
    # the silent bug in words: the values torch gives and the ones the target gives
    assert "holding \\[0.0, 3.0, 1.0, 4.0, 2.0, 5.0\\]" in text and "returns \\[0.0, 1.0, 2.0, 3.0, 4.0, 5.0\\]" in text
    page = render_all([cause_sample()], tmp_path / "p")["index.html"].decode()
    assert page.index('id="causes"') < page.index('id="failing"') < page.index('id="summary"')
    assert 'class="badge BLOCKED known"' in page and 'class="badge MISSING known"' in page


def _items(page: str) -> list[str]:
    """The "What to fix first" items of index.html, in order."""
    return re.findall(r'<li class="[^"]*cause" id="fix-.*?</li>', page, re.S)


def test_the_page_shows_each_items_weight_and_the_command_that_runs_its_snippet(tmp_path):
    from markupsafe import escape     # as the page's Jinja2 autoescape writes it

    from conformance.render import fixes
    from conformance.render.causes import SECTIONS
    results = cause_sample()
    report = render.from_results([results])
    run = report.runs[0]
    found = fixes.fixes(report.causes(run), run.label, load_catalog(), run.header)
    items = _items(render_all([results], tmp_path)["index.html"].decode())
    assert len(items) == len(found) == 3
    for f, item in zip(found, items):
        w = f.cause.weight
        # what users lose: the tier, the entry points and workloads it breaks, its rows
        assert f"<b>Weight:</b> {escape(SECTIONS[f.cause.section])}: {escape(w.text())}" in item, item
        assert w.uses and all(f"<code>{escape(t)}</code>" in item for t in w.uses.values()), item
        if f.snippet is not None:
            assert escape(f.snippet.code) in item and f'<pre class="cmd run-snippet">{escape(f.run_snippet)}</pre>' in item
    shown = [f for f in found if f.snippet is not None]
    assert shown and shown[0].run_snippet == "python -m conformance exec --target t --backend-path /site -- python snippet.py"


def test_a_snippet_the_run_measured_to_print_the_same_is_dropped_for_the_repro_command(tmp_path):
    """run.snippet_checks decides: a snippet measured to reproduce is shown as measured, one measured to print
    the same under both is not shown (the item says why and gives its repro command), an unmeasured one is
    shown as not run."""
    from conformance.render import fixes
    from conformance.snippet_check import digest
    results = cause_sample()
    report = render.from_results([results])
    run = report.runs[0]
    found = fixes.fixes(report.causes(run), run.label, load_catalog(), run.header)
    reshape = next(f for f in found if f.cause.api == "Tensor.reshape")
    assert reshape.snippet is not None and reshape.checked is None
    same = {"shows": list(reshape.snippet.shows), "differ": [], "reproduces": False,
            "why": "its values line printed the same under PyTorch and the target"}
    for verdict, shown in ((same, False), ({**same, "differ": same["shows"], "reproduces": True, "why": ""}, True)):
        measured = copy.deepcopy(results)
        measured["run"]["snippet_checks"] = {"command": "python -m conformance exec --target t -- python snippet.py",
                                             "checked": {digest(reshape.snippet.code): verdict}}
        files = render_all([measured], tmp_path / str(shown))
        text, page = files["checklist.md"].decode(), files["index.html"].decode()
        item = next(i for i in _items(page) if "<code>Tensor.reshape</code>" in i)
        section = text[text.index("`Tensor.reshape`: wrong"):text.index("`torch.frombuffer`: missing")]
        if shown:
            assert "y = x.reshape([6])" in section and "(measured when this report was made)" in section
            assert "(measured when this report was made)" in item and "No snippet" not in item
        else:
            assert "```python" not in section and "y = x.reshape" not in item
            assert ("No snippet: what was generated for it did not show the difference when the run measured it "
                    "(its values line printed the same under PyTorch and the target)") in section
            assert "python -m conformance.repro --target t" in section and "No snippet" in item
    # results that measured nothing show the snippet, saying so
    assert "(not run when this report was made)" in render_all([results], tmp_path / "plain")["checklist.md"].decode()


def test_fail_missing_and_blocked_have_their_own_colours():
    from conformance.outcomes import OUTCOMES as table
    colours = {o: table[o].colour for o in ("FAIL", "MISSING", "BLOCKED", "XFAIL")}
    assert len(set(colours.values())) == 4
    css = html._css_colours()
    for o, c in colours.items():
        assert f".{o}{{--c:{c}}}" in css


def test_identical_evidence_is_one_line_with_a_count(tmp_path):
    page = render_all([cause_sample()], tmp_path)["index.html"].decode()
    lines = re.findall(r'<tr class="g" id="(ev-\d+)" data-o="([^"]+)" data-n="(\d+)"', page)
    assert ("r0:BLOCKED:known", "3") in [(o, n) for _, o, n in lines]
    assert sum(int(n) for _, _, n in lines) == 6
    ids = set(parse_html(page).ids)
    assert {model.anchor(r["id"]) for r in cause_sample()["cases"]} <= ids, "every failing row keeps its anchor"


def test_loading_path_is_in_every_headline(tmp_path):
    from conformance.render import loading_path
    old = {"target_env": {"version": "0.1.0"}}
    assert loading_path.of(old)["path"] == "frombuffer"
    assert loading_path.of({"target_env": {"version": "2.7.1+dev"}})["path"] == "storage"
    assert loading_path.of({"target_env": {"version": "2.13"}})["path"] == "none"
    given = {"loading_path": {"path": "storage", "why": "recorded by the run", "version": "9.9.9"},
             "target_env": {"version": "0.1.0"}}
    assert loading_path.of(given)["why"] == "recorded by the run (parsed as 9.9.9)", "the run's own record wins"
    files = render_all([verdict_sample()], tmp_path)
    for name in ("index.html", "checklist.md"):
        assert "Rust mmap + torch.frombuffer path" in files[name].decode(), name
        text = files[name].decode().replace("\\_", "_")
        assert "would need" in text and "UntypedStorage.from_file" in text, name


def test_compare_lists_fixed_newly_failing_and_changed_causes(tmp_path):
    from conformance.render import progress
    old, new = cause_sample(), copy.deepcopy(cause_sample())
    by_id = {r["id"]: r for r in new["cases"]}
    by_id["empty_zero_size[int16-0]"].update(outcome="PASS", raw_outcome="PASS", cause=None)      # fixed
    judged(by_id["empty_zero_size[int16-0]"])
    by_id["numpy[int8]"]["cause"] = {"api": "Tensor.view(dtype)", "phase": "read", "evidence": "TypeError"}
    judged(by_id["numpy[int8]"])
    new["cases"].append(rec("brand[new]", "torch.brand", "_view2torch", "FAIL", "differs"))        # newly failing
    p = progress.compare(old, new)
    assert [c.id for c in p.fixed] == ["empty_zero_size[int16-0]"]
    assert [c.id for c in p.newly_failing] == ["brand[new]"]
    assert [(c.id, c.old, c.new) for c in p.cause_changed] == [
        ("numpy[int8]", "BLOCKED by torch.frombuffer (input)", "BLOCKED by Tensor.view(dtype) (read)")]
    res.write(tmp_path / "old" / "results.json", old)
    res.write(tmp_path / "new" / "results.json", new)
    out = _cli("compare", str(tmp_path / "old"), str(tmp_path / "new" / "results.json"))
    assert out.returncode == 0, out.stderr
    assert "1 fixed, 1 newly failing, 1 with another cause" in out.stdout
    assert "numpy[int8]: BLOCKED by torch.frombuffer (input) -> BLOCKED by Tensor.view(dtype) (read)" in out.stdout
    missing = _cli("compare", str(tmp_path / "nowhere"), str(tmp_path / "new"))
    from conformance.cli import USAGE
    assert missing.returncode == USAGE and "no results at" in missing.stderr and "Traceback" not in missing.stderr
    rep = _cli("report", "--results", str(tmp_path / "new" / "results.json"), "--baseline", str(tmp_path / "old"),
               "--out", str(tmp_path / "out"))
    assert rep.returncode == 0, rep.stderr
    page = (tmp_path / "out" / "index.html").read_text()
    assert 'id="since"' in page and "1 fixed, 1 newly failing, 1 with another cause" in page
    assert "### Since baseline" in (tmp_path / "out" / "checklist.md").read_text()


def test_compare_groups_rows_that_changed_the_same_way_and_fails_on_new_when_asked(tmp_path):
    from conformance.cli import USAGE
    old, new = cause_sample(), copy.deepcopy(cause_sample())
    moved = {"api": "Tensor.view(dtype)", "phase": "read", "evidence": "TypeError"}
    for r in new["cases"]:
        if r["id"].startswith("numpy["):
            r["cause"] = moved                                          # three rows, one transition
            judged(r)
    res.write(tmp_path / "old" / "results.json", old)
    res.write(tmp_path / "new" / "results.json", new)
    out = _cli("compare", str(tmp_path / "old"), str(tmp_path / "new"), "--fail-on-new")
    assert out.returncode == 0, out.stdout + out.stderr              # nothing newly fails
    assert ("  3 rows: BLOCKED by torch.frombuffer (input) -> BLOCKED by Tensor.view(dtype) (read): "
            "numpy[float32 · int8 · uint8]") in out.stdout.splitlines()
    assert "numpy[int8]: " not in out.stdout, "one line for the transition, not one per row"
    assert _cli("compare", str(tmp_path / "old"), str(tmp_path / "new"), "--limit", "1").stdout.count(
        "numpy[float32], ... and 2 more") == 1
    # A row that newly fails: listed, and the exit code says so only with --fail-on-new.
    new["cases"].append(rec("brand[new]", "torch.brand", "_view2torch", "FAIL", "differs"))
    by_id = {r["id"]: r for r in new["cases"]}
    by_id["numpy[int8]"]["cause"] = {"api": "Tensor.numpy", "phase": "call", "evidence": "blocked"}   # its own API now
    judged(by_id["numpy[int8]"])
    res.write(tmp_path / "new" / "results.json", new)
    plain = _cli("compare", str(tmp_path / "old"), str(tmp_path / "new"))
    assert plain.returncode == 0 and "newly failing (1 row):" in plain.stdout, plain.stdout
    assert "cause changed (3 rows, 2 transitions):" in plain.stdout
    strict = _cli("compare", str(tmp_path / "old"), str(tmp_path / "new"), "--fail-on-new")
    assert strict.returncode == 1 and strict.stdout == plain.stdout
    assert "1 row(s) newly fail" in strict.stderr and "Traceback" not in strict.stderr
    bad = _cli("compare", str(tmp_path / "old"), str(tmp_path / "new"), "--limit", "-2")
    assert bad.returncode == USAGE and len(bad.stderr.strip().splitlines()) == 1 and "--limit" in bad.stderr


def test_the_gate_verdict_and_its_problems_open_the_page(tmp_path):
    red = html.render(render.from_results([sample()]))
    head = red[red.index('<header class="top">'):red.index("</header>")]
    assert 'data-gate="fail"' in head and "<b>Gate fails</b>" in head
    failing = sum(n for o, n in sample()["run"]["counts"].items() if OUTCOMES[o].is_failure and o != "XPASS")
    assert f"{failing} rows fail that the expectations file does not list" in head
    assert "1 row passes although the expectations file says it fails" in head
    assert "stale entry &lt;script&gt;" in head, "the problem, escaped, on the first screen"
    many = sample()
    many["run"]["gate_problems"] = [f"problem {i}" for i in range(html.GATE_PROBLEMS_SHOWN + 3)]
    page = html.render(render.from_results([many]))
    assert "<summary>3 more</summary>" in page and "<li>problem 0</li>" in page
    green = sample()
    green["cases"] = [r for r in green["cases"] if not OUTCOMES[r["outcome"]].is_failure]
    green["run"]["gate_problems"] = []
    page = html.render(render.from_results([res.build(green["run"], green["cases"])]))
    assert 'data-gate="pass"' in page and "<b>Gate passes</b>" in page


def test_a_report_keys_runs_by_target_and_versions(tmp_path):
    a, b = sample("t", "1.0", "0.7.0"), sample("t", "1.0", "0.8.0")
    report = render.from_results([b, a])
    assert [(r.key.safetensors, r.slug) for r in report.runs] == [("0.7.0", "r0"), ("0.8.0", "r1")]
    with pytest.raises(model.ReportError, match="two results for target 't'"):
        render.from_results([a, copy.deepcopy(a)])


def test_counts_in_the_page_match_the_results(tmp_path):
    data = sample()
    text = render_all([data], tmp_path)["index.html"].decode()
    row = re.search(r'<tr data-run="r0" data-target="badtorch">(.*?)</tr>', text, re.S).group(1)
    shown = dict(re.findall(r'data-outcome="(\w+)">(\d+)<', row))
    assert {o: int(n) for o, n in shown.items() if o != "total" and int(n)} == data["run"]["counts"]
    assert int(shown["total"]) == data["run"]["cases_run"]


# -- command line ---------------------------------------------------------------------------------

def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "conformance", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300)


def test_report_command_renders_several_results_without_running_anything(tmp_path):
    res.write(tmp_path / "a" / "results.json", sample("badtorch"))
    res.write(tmp_path / "b" / "results.json", sample("other", "2.0"))
    p = _cli("report", "--results", str(tmp_path / "a" / "results.json"),
             "--results", str(tmp_path / "b" / "results.json"), "--out", str(tmp_path / "out"))
    assert p.returncode == 0, p.stderr
    for name in ("index.html", "checklist.md", "junit.xml"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    text = (tmp_path / "out" / "index.html").read_text()
    assert "badtorch" in text and "other" in text
    assert len(ET.parse(tmp_path / "out" / "junit.xml").getroot().findall("testsuite")) == 2
    p = _cli("report", "--results", str(tmp_path / "a" / "results.json"),
             "--results", str(tmp_path / "a" / "results.json"), "--out", str(tmp_path / "dup"))
    assert p.returncode == 4 and "two results for target 'badtorch'" in p.stderr


def test_repro_runs_one_case_in_this_process():
    cid = next(c.id for c in load_catalog().values() if c.origin == "_view2torch" and not c.params.requires_dtypes)
    p = subprocess.run([sys.executable, "-m", "conformance.repro", "--target", "torch", cid], cwd=REPO,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["torch"]["module"] == "torch" and out["cases"][0]["id"] == cid
    assert "value" in out["cases"][0]["obs"] or "raises" in out["cases"][0]["obs"]
    p = subprocess.run([sys.executable, "-m", "conformance.repro", "no-such-case[x]"], cwd=REPO,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and "unknown case id" in p.stderr


def test_renderers_format_bytes_diffs_side_by_side(tmp_path):
    text = html.render(render.from_results([sample()]))
    assert '<span class="first">ff</span>' in text and '<span class="first">00</span>' in text
    assert "bytes differ at offset 3" in text
    xml = junit.render(render.from_results([sample()]))
    assert "value.result.bytes" in xml
