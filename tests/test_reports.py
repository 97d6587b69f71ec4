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

from conformance import reports, results as res
from conformance.outcomes import OUTCOMES
from conformance.registry import load_catalog
from conformance.reports import checklist, entry_points, html, junit, model

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
    return r


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
    written = reports.write_all(reports.from_results(results, date=date), out)
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
    from_file = reports.load([tmp_path / "results.json"])
    for name, render in reports.RENDERERS.items():
        assert render(from_file) == render(reports.from_results([data])), name


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
    report = reports.from_results([sample()])
    keys = [s.entry.key for s in report.entry_points(report.runs[0])]
    assert keys == ["load(bytes)", "safe_open(pt)", "save", 'load_file(backend="pread")', "brand-new origin"]
    assert '<code>brand-new origin</code>' in files["index.html"].decode()


def test_checklist_names_what_blocks_safe_open(tmp_path):
    text = render_all([sample()], tmp_path)["checklist.md"].decode()
    assert ('**`safe_open(framework="pt") / load_file`, and so transformers\' `from_pretrained`, is blocked by '
            '1 of its 2 APIs:** `torch.asarray`.') in text
    ok = sample()
    ok["cases"] = [r for r in ok["cases"] if r["origin"] != "rust:safe_open(pt)" or r["outcome"] == "PASS"]
    text = checklist.render(reports.from_results([ok]))
    assert "works on this backend" in text
    # broken entry points, fewest failing APIs first; then working ones; then origins the table lacks
    headings = re.findall(r"^### \d+\. `([^`]+)`", text, re.M)
    assert headings == ["safetensors.torch.load(bytes)", "safetensors.torch.save / save_file",
                        'safe_open(framework="pt") / load_file', "brand-new origin"]


def test_a_report_keys_runs_by_target_and_versions(tmp_path):
    a, b = sample("t", "1.0", "0.7.0"), sample("t", "1.0", "0.8.0")
    report = reports.from_results([b, a])
    assert [(r.key.safetensors, r.slug) for r in report.runs] == [("0.7.0", "r0"), ("0.8.0", "r1")]
    with pytest.raises(model.ReportError, match="two results for target 't'"):
        reports.from_results([a, copy.deepcopy(a)])


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
    text = html.render(reports.from_results([sample()]))
    assert '<span class="first">ff</span>' in text and '<span class="first">00</span>' in text
    assert "bytes differ at offset 3" in text
    xml = junit.render(reports.from_results([sample()]))
    assert "value.result.bytes" in xml
