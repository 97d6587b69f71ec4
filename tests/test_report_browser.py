"""The rendered report of real results, opened in headless Chromium.

Real results: the oracle's own recording run (--target torch) and pyborch on a slice of the
catalog, with one expectations entry so that known failures (XFAIL) are there too. The browser is
Debian's /usr/bin/chromium driven through /usr/bin/chromedriver; nothing is ever downloaded
(Selenium Manager is disabled for the whole module). The screenshot goes to $CONFORMANCE_ARTIFACTS
(default tests/artifacts/).
"""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.outcomes import OUTCOMES
from conformance.registry import catalog_digest
from conformance.reports.model import anchor
from kitrun import REPO, run_kit

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(os.environ.get("CONFORMANCE_ARTIFACTS") or REPO / "tests" / "artifacts")
SLICE = "frombuffer or rust_asarray"    # pytest -k: quick; FAIL, MISSING and PASS on pyborch (XFAIL with KNOWN)
KNOWN = "frombuffer[bfloat16-*  FAIL,MISSING  pyborch has no bfloat16 (an XFAIL for the report test)\n"
EVIL = "<script>window.__pwned=1</script><img src=x onerror=window.__pwned=1>"


def _listed(r: dict) -> bool:
    return OUTCOMES[r["outcome"]].is_failure or r["outcome"] == "XFAIL"


def _report(out: Path, *results: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "conformance", "report", "--out", str(out)]
    for r in results:
        cmd += ["--results", str(r)]
    p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    return p


@pytest.fixture(scope="module")
def torch_run(request, tmp_path_factory) -> tuple[Path, Path]:
    """(oracle cache, results.json of --target torch): the session's recording run (the `oracle`
    fixture of tests/conftest.py) where there is one, else a run of our own."""
    try:
        oracle = request.getfixturevalue("oracle")
    except pytest.FixtureLookupError:
        base = tmp_path_factory.mktemp("report-oracle")
        run = run_kit("torch", base / "torch", base / "oracle-cache")
        assert run.returncode == 0, run.output[-4000:]
        return base / "oracle-cache", base / "torch" / "results.json"
    return oracle.cache, oracle.report_dir / "results.json"


@pytest.fixture(scope="module")
def real(torch_run, tmp_path_factory) -> dict:
    cache, torch_results = torch_run
    base = tmp_path_factory.mktemp("report-real")
    exp = base / "pyborch-known.txt"
    exp.write_text(KNOWN)
    run = run_kit("pyborch", base / "pyborch", cache, "-k", SLICE, "--expectations", str(exp))
    pyborch = run.results
    outcomes = {r["outcome"] for r in pyborch["cases"]}
    assert outcomes & {"FAIL", "MISSING"} and "XFAIL" in outcomes and "PASS" in outcomes, outcomes
    _report(base / "report", torch_results, base / "pyborch" / "results.json")

    # A copy whose backend strings try to run script in the page.
    evil = json.loads((base / "pyborch" / "results.json").read_text())
    victim = next(r for r in evil["cases"] if OUTCOMES[r["outcome"]].is_failure)
    victim["summary"] = f"{EVIL} {victim['summary']}"
    victim["observed"] = {"raises": "ValueError", "type": f"borch.{EVIL}", "message": EVIL}
    victim["diffs"] = [{"path": "raises", "oracle": "no exception", "target": "ValueError", "target_message": EVIL},
                       {"path": f"value.{EVIL}", "oracle": EVIL, "target": {"k": EVIL}}]
    evil["run"]["target_env"]["how"] = EVIL
    (base / "evil").mkdir()
    (base / "evil" / "results.json").write_text(json.dumps(evil, sort_keys=True))
    _report(base / "evil-report", base / "evil" / "results.json")
    return {"base": base, "run": run, "results": {"torch": json.loads(torch_results.read_text()), "pyborch": pyborch},
            "page": base / "report" / "index.html", "evil_page": base / "evil-report" / "index.html",
            "victim": victim["id"]}


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (Debian: apt-get install chromium chromium-driver); "
                    "the report's browser test needs them")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.selenium_manager import SeleniumManager

    def no_download(*a, **k):
        raise AssertionError("Selenium Manager was asked for a browser or driver; the test must use Debian's")

    options = Options()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1400,1000",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(arg)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(SeleniumManager, "binary_paths", no_download)
        driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
        try:
            yield driver
        finally:
            driver.quit()


def _open(driver, page: Path, fragment: str = "") -> None:
    driver.get(page.as_uri() + fragment)
    assert driver.execute_script("return document.readyState") == "complete"


def test_the_run_wrote_every_report_and_names_the_checklist(real):
    out = real["base"] / "pyborch"
    for name in ("results.json", "index.html", "checklist.md", "junit.xml"):
        assert (out / name).is_file(), name
    assert f"checklist: {out / 'checklist.md'}" in real["run"].output
    # Rendering the saved results again gives the plugin's bytes (index.html shows case sources, so
    # only while the catalog is the one the run used).
    _report(real["base"] / "again", out / "results.json")
    same_catalog = catalog_digest() == real["results"]["pyborch"]["run"]["catalog"]
    for name in ("index.html", "checklist.md", "junit.xml") if same_catalog else ("checklist.md", "junit.xml"):
        assert (real["base"] / "again" / name).read_bytes() == (out / name).read_bytes(), name


def test_summary_numbers_match_the_results(real, browser):
    _open(browser, real["page"])
    shown = browser.execute_script("""
        var out = {};
        document.querySelectorAll('#counts tr[data-target]').forEach(function (tr) {
          var c = {};
          tr.querySelectorAll('td[data-outcome]').forEach(function (td) { c[td.dataset.outcome] = +td.textContent; });
          var card = document.querySelector('.card[data-target="' + tr.dataset.target + '"]');
          c.card_pass = +card.querySelector('[data-count=PASS]').textContent;
          c.card_total = +card.querySelector('[data-count=total]').textContent;
          out[tr.dataset.target] = c;
        });
        return out;""")
    assert set(shown) == set(real["results"])
    for target, results in real["results"].items():
        got = shown[target]
        assert {o: n for o, n in got.items() if o in OUTCOMES and n} == results["run"]["counts"], target
        assert got["total"] == got["card_total"] == results["run"]["cases_run"], target
        assert got["card_pass"] == results["run"]["counts"].get("PASS", 0), target


def test_every_failing_case_has_its_row(real, browser):
    _open(browser, real["page"])
    listed = sorted({r["id"] for res in real["results"].values() for r in res["cases"] if _listed(r)})
    assert listed
    absent = browser.execute_script(
        "return arguments[0].filter(function (id) { return !document.getElementById(id); });",
        [anchor(i) for i in listed])
    assert absent == []
    # A link to a known failure opens its collapsed section.
    xfail = next(r["id"] for r in real["results"]["pyborch"]["cases"] if r["outcome"] == "XFAIL")
    _open(browser, real["page"], "#" + anchor(xfail))
    assert browser.find_element("id", anchor(xfail)).is_displayed()


def test_backend_strings_show_as_text_and_never_run(real, browser):
    _open(browser, real["evil_page"])
    assert browser.execute_script("return typeof window.__pwned") == "undefined"
    row = browser.find_element("id", anchor(real["victim"]))
    assert EVIL in row.text
    assert EVIL in browser.find_element("id", "processes").text
    assert browser.execute_script("return document.querySelectorAll('img').length") == 0
    assert browser.execute_script("return document.scripts.length") == 1, "only the page's own script"
    # The page's own script does run (allowed by hash under the page's CSP): the filters work.
    form = browser.find_element("id", "filters")
    assert form.is_displayed()
    form.find_element("name", "text").send_keys(real["victim"])
    assert browser.find_element("id", "shown").text.startswith("1 of ")
    assert row.is_displayed()
    assert browser.execute_script("return typeof window.__pwned") == "undefined"


def test_the_page_reads_without_javascript(real, browser):
    browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
    try:
        _open(browser, real["page"])
        assert not browser.find_element("id", "filters").is_displayed()
        first = next(r["id"] for r in real["results"]["pyborch"]["cases"] if OUTCOMES[r["outcome"]].is_failure)
        assert browser.find_element("id", anchor(first)).is_displayed()
        assert browser.find_element("id", "entries").is_displayed()
    finally:
        browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})


def test_screenshot_is_saved_as_an_artifact(real, browser):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    _open(browser, real["page"])
    shot = ARTIFACTS / "report.png"
    assert browser.save_screenshot(str(shot))
    _open(browser, real["page"], "#failing")
    assert browser.save_screenshot(str(ARTIFACTS / "report-failing.png"))
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= 800 and height >= 600, (width, height)
    assert len(data) > 30_000, f"{shot} is only {len(data)} bytes: a blank page?"
