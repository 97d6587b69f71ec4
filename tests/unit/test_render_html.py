"""index.html (conformance/render/html.py): every backend string reaches the page escaped, the only script the
Content-Security-Policy allows is the page's own (by hash), and the page holds no date unless asked for one."""
from __future__ import annotations

import base64
import hashlib
import re

import pytest

from records import judged

from conformance import render, results
from conformance.render import html, sources

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>"


@pytest.fixture(autouse=True)
def no_live_catalog(monkeypatch):
    monkeypatch.setattr(sources, "load_catalog", lambda: {})
    monkeypatch.setattr(sources, "catalog_digest", lambda: None)


def page(date: str | None = None) -> str:
    r = judged({"id": "x[1]", "api": "torch.x", "origin": "_view2torch", "module": "tensors", "target": "t",
                "raw_outcome": "FAIL", "outcome": "FAIL", "summary": HOSTILE,
                "oracle": {"value": 1}, "observed": {"raises": "TypeError", "type": "TypeError", "message": HOSTILE}})
    data = results.build({"target": "t" + HOSTILE, "target_env": {"version": HOSTILE}, "cases_in_catalog": 1}, [r])
    return html.render(render.from_results([data], date=date))


def test_backend_strings_reach_the_page_as_text():
    text = page()
    assert "<img" not in text and "onerror=alert(2)>" not in text
    assert text.count("<script") == 1, "the page's own script only"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_the_policy_allows_only_the_pages_own_script_by_its_hash():
    text = page()
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', text).group(1)
    assert "default-src 'none'" in policy and "unsafe-inline'; script-src 'sha256-" in policy
    (script,) = re.findall(r"<script>(.*?)</script>", text, re.S)
    digest = "sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src '{digest}'" in policy, "the hash is of the script the page holds"


def test_no_date_unless_asked_for_one():
    assert page() == page(), "the same results, the same page"
    assert "2026-01-02T03:04" in page(date="2026-01-02T03:04")
    assert "2026-01-02T03:04" not in page()


def test_hex_bytes_mark_the_first_difference():
    tokens = html._hex_tokens("00 01 02", "00 ff 02", start=4, first=5)
    assert tokens == [("00", ""), ("01", "first"), ("02", "")]
    assert html._hex_tokens("00 01", "00", start=0, first=1) == [("00", ""), ("01", "first")]
