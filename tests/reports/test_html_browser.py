"""The HTML report in a real headless browser (Debian's chromium, driven by selenium through
Debian's chromedriver): what it shows, what the filters hide, that it loads nothing from the
network, and that hostile model output stays text. Saves screenshots for a person to look at
(under $EVALSPEC_SCREENSHOTS when set, else pytest's temporary directory).
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from evalspec.reports import build_report
from evalspec.reports import html as html_report

from ._data import HOSTILE, result

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (apt-get install -y chromium chromium-driver; "
           ".ci/run installs both)")

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1400,1000")


@pytest.fixture(scope="module")
def driver():
    # Imported here: with chromium absent the module is skipped before selenium is needed.
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromedriver = shutil.which("chromedriver")
    assert chromedriver, ("chromium is installed but chromedriver is not: "
                          "apt-get install -y chromium-driver")
    profile = tempfile.mkdtemp(prefix="evalspec-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={profile}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(chromedriver), options=opts)
    drv.set_page_load_timeout(30)
    try:
        yield drv
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    where = os.environ.get("EVALSPEC_SCREENSHOTS")
    path = Path(where) if where else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _open(driver, tmp_path: Path, doc: dict[str, Any], name: str = "report.html") -> None:
    page = tmp_path / name
    page.write_text(html_report.render(build_report([doc])), encoding="utf-8")
    driver.get(page.as_uri())


def _full_screenshot(driver, path: Path) -> None:
    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = metrics["cssContentSize"]
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 16000),
                 "scale": 1}})
    path.write_bytes(base64.b64decode(shot["data"]))


def _visible_cases(driver) -> list[str]:
    return driver.execute_script(
        "return [...document.querySelectorAll('article.case')]"
        ".filter(a => a.offsetParent !== null).map(a => a.dataset.case)")


def _click_filter(driver, group: str, value: str) -> None:
    box = driver.find_element("css selector", f"#f-{group} input[value='{value}']")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", box)
    box.click()


ALL_CASES = ["math/S1", "math/S2", "code/S3", "tool_use/S4", "tool_use/S5", "extraction/S6",
             "extraction/S7", "writing/S8"]


def test_page_shows_overview_charts_and_every_case(driver, seed, tmp_path, shots):
    _open(driver, tmp_path, seed)
    assert driver.title == "specs/seed.eval: llama vs gpt4o"
    verdict = driver.find_element("id", "verdict").text
    assert "gpt4o ahead, but no significant difference" in verdict
    assert "too few discordant pairs (2)" in verdict
    # The overview matrix: one row per suite plus the header and "All".
    rows = driver.find_elements("css selector", "#matrix tr")
    assert [r.find_element("css selector", "th").text for r in rows[1:]] == [
        "math", "code", "tool_use", "extraction", "writing", "All"]
    assert "5/8" in rows[-1].text and "7/8" in rows[-1].text
    # Two inline SVG charts with one bar per group × model (5 suites + All, 2 models).
    charts = driver.find_elements("css selector", "svg.chart")
    assert len(charts) == 2
    assert len(charts[0].find_elements("css selector", "rect[rx='2'][fill]")) >= 12
    assert _visible_cases(driver) == ALL_CASES
    assert driver.find_element("id", "count").text == "8 of 8 cases shown"
    # Evidence is on the page: judge reasoning, the tool-call trace, the code run's verdict.
    body = driver.find_element("tag name", "body").text
    assert "calculate_gcd(a=10, b=8) → 2" in body
    assert "the display did not respond" in body
    assert "No KEYDOWN events are handled" in body
    # Self-contained: nothing fetched, no script error.
    assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    _full_screenshot(driver, shots / "report-full.png")
    driver.save_screenshot(str(shots / "report-top.png"))


def test_status_filter_hides_cases_where_every_model_passed(driver, seed, tmp_path, shots):
    _open(driver, tmp_path, seed)
    _click_filter(driver, "status", "pass")
    assert _visible_cases(driver) == ["math/S1", "code/S3", "tool_use/S5"]
    assert driver.find_element("id", "count").text == "3 of 8 cases shown"
    # In a shown case the model that passed stays visible for comparison, dimmed.
    s1 = driver.find_element("css selector", "article[data-case='math/S1']")
    gpt = s1.find_element("css selector", ".cell[data-model='gpt4o']")
    assert gpt.is_displayed() and "dim" in gpt.get_attribute("class")
    llama = s1.find_element("css selector", ".cell[data-model='llama']")
    assert "dim" not in llama.get_attribute("class")
    driver.execute_script("window.scrollTo(0, 0)")
    _full_screenshot(driver, shots / "report-failures-only.png")
    _click_filter(driver, "status", "pass")
    assert _visible_cases(driver) == ALL_CASES


def test_model_and_suite_filters(driver, seed, tmp_path):
    _open(driver, tmp_path, seed)
    _click_filter(driver, "model", "llama")
    cells = driver.find_elements("css selector", ".cell[data-model='llama']")
    assert cells and not any(c.is_displayed() for c in cells)
    assert all(c.is_displayed() for c in driver.find_elements("css selector",
                                                              ".cell[data-model='gpt4o']"))
    # gpt4o alone with failures only: the one case it failed.
    _click_filter(driver, "status", "pass")
    assert _visible_cases(driver) == ["tool_use/S5"]
    _click_filter(driver, "status", "pass")
    _click_filter(driver, "model", "llama")
    _click_filter(driver, "suite", "math")
    _click_filter(driver, "suite", "tool_use")
    assert _visible_cases(driver) == ["code/S3", "extraction/S6", "extraction/S7", "writing/S8"]


def test_search_box_filters_by_text(driver, seed, tmp_path):
    _open(driver, tmp_path, seed)
    box = driver.find_element("id", "search")
    box.send_keys("alpenglow")
    assert _visible_cases(driver) == ["writing/S8"]
    box.clear()
    box.send_keys("NO SUCH TEXT")
    assert _visible_cases(driver) == []
    assert driver.find_element("id", "empty").is_displayed()


def test_hostile_output_renders_as_text(driver, seed, tmp_path, shots):
    r = result(seed, "math/S1", "llama")
    r["response"]["text"] = HOSTILE
    r["checks"][0]["reason"] = HOSTILE
    r["checks"][0]["evidence"]["sentence"] = HOSTILE
    _open(driver, tmp_path, seed, "hostile.html")
    assert driver.execute_script("return window.__pwned === undefined")
    cell = driver.find_element("css selector",
                               "article[data-case='math/S1'] .cell[data-model='llama']")
    cell.find_element("css selector", "details.answer summary").click()
    answer = cell.find_element("css selector", "pre.answer").text
    assert "<script>window.__pwned = 1</script>" in answer
    assert cell.find_elements("css selector", "script, img") == []
    # The page structure survived: still 8 cases, filters still work.
    assert len(_visible_cases(driver)) == 8
    _click_filter(driver, "status", "fail")
    assert "math/S1" in _visible_cases(driver)
    driver.execute_script("arguments[0].scrollIntoView()", cell)
    cell.screenshot(str(shots / "report-hostile-cell.png"))
