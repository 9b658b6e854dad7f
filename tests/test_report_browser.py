"""The HTML report in headless Chromium: it runs without errors, draws, and its controls work."""
import os
from pathlib import Path

import pytest
from markupsafe import escape

from loganalyze.engine import analyze
from loganalyze.report.html import write_html
from test_report_html import EVIL, write_logs

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

# Non-transparent pixels of a canvas: the chart draws on a transparent background.
INK = """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }"""


@pytest.fixture(scope="module")
def browser():
    missing = None
    if not CHROMIUM.exists():
        missing = f"{CHROMIUM} not found: install it (apt-get install -y chromium) to run the browser tests"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = missing or "playwright is not installed: pip install -e '.[test]'"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(missing + " (CI is set, so this fails instead of skipping)")
        pytest.skip(missing)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def analysis(tmp_path_factory):
    root = write_logs(tmp_path_factory.mktemp("logs"))
    report = analyze([root], jobs=1)
    path = tmp_path_factory.mktemp("html") / "report.html"
    write_html(report, path)
    return report, path


def open_report(browser, path, scheme="light", fragment=""):
    page = browser.new_page(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
    problems = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.on("request", lambda r: None if r.url.startswith(("file:", "data:")) else problems.append(f"request: {r.url}"))
    page.goto(path.as_uri() + fragment)
    page.wait_for_function("document.documentElement.dataset.ready === '1'")
    return page, problems


def test_report_loads_and_shows_every_run_and_finding(browser, analysis):
    report, path = analysis
    page, problems = open_report(browser, path)
    headings = page.locator("section.run > h2").all_inner_texts()
    for rr in report.runs:
        assert any(h.startswith(rr.run.name) for h in headings), rr.run.name
        for f in rr.findings:
            assert page.locator("article.finding .summary", has_text=f.summary).count() >= 1, f.summary
    assert page.locator("article.finding").count() == len(report.findings)
    assert page.get_by_text(EVIL, exact=False).count() >= 1  # shown as text
    assert page.evaluate("document.querySelectorAll('section.run script').length") == 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    assert not problems, problems


def test_every_run_has_a_chart_with_ink(browser, analysis):
    report, path = analysis
    page, problems = open_report(browser, path)
    for section in page.locator("section.run").all():
        charts = section.locator("canvas.chart")
        assert charts.count() >= 1
        assert charts.first.evaluate(INK) > 500
    fold = page.locator("canvas.foldchart")
    assert fold.count() >= 1 and fold.first.evaluate(INK) > 500
    assert not problems, problems


def _chart_of(page, run_name):
    section = page.locator("section.run", has=page.locator("h2", has_text=run_name)).first
    chart = section.locator("canvas.chart").first
    chart.scroll_into_view_if_needed()
    return section, chart


def test_hover_shows_the_values_under_the_cursor(browser, analysis):
    page, problems = open_report(browser, analysis[1])
    _, chart = _chart_of(page, "sawtooth")
    box = chart.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    tip = page.locator("#tooltip")
    assert tip.is_visible()
    text = tip.inner_text()
    assert "step" in text and "train/loss" in text
    page.mouse.move(0, 0)
    assert not tip.is_visible()
    assert not problems, problems


def test_nonfinite_values_are_named_in_the_tooltip(browser, analysis):
    page, problems = open_report(browser, analysis[1])
    _, chart = _chart_of(page, "nan_burst")
    box = chart.bounding_box()
    # steps 0..399 span the plot (64 px left pad, 12 px right): step 350 sits in the NaN burst
    x = box["x"] + 64 + (box["width"] - 76) * 350 / 399
    page.mouse.move(x, box["y"] + 60)
    assert "NAN" in page.locator("#tooltip").inner_text()
    assert not problems, problems


def test_log_scale_zoom_and_smoothing_redraw_the_chart(browser, analysis):
    page, problems = open_report(browser, analysis[1])
    section, chart = _chart_of(page, "sawtooth")
    pixels = lambda: chart.evaluate("c => c.toDataURL()")  # noqa: E731
    page.mouse.move(0, 0)
    linear = pixels()
    section.locator("input.logy").first.check()
    assert chart.get_attribute("data-log") == "1" and pixels() != linear
    section.locator("input.logy").first.uncheck()
    assert pixels() == linear

    box = chart.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.3, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=4)
    page.mouse.up()
    page.mouse.move(0, 0)
    zoomed = pixels()
    assert zoomed != linear
    section.locator("button.reset").first.click()
    page.mouse.move(0, 0)
    assert pixels() == linear

    page.locator("#smoothing").fill("0")
    page.mouse.move(0, 0)
    assert pixels() != linear
    assert not problems, problems


def test_dark_scheme_draws_too(browser, analysis):
    page, problems = open_report(browser, analysis[1], scheme="dark")
    bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert bg != "rgb(255, 255, 255)"
    assert page.locator("canvas.chart").first.evaluate(INK) > 500
    page.emulate_media(media="print")
    assert not page.locator("#smoothing").is_visible()
    assert not problems, problems


def test_escaped_names_match_the_page_source(analysis):
    _, path = analysis
    text = path.read_text(encoding="utf-8")
    assert EVIL not in text and str(escape(EVIL)) in text


def test_a_malformed_link_fragment_still_draws_every_chart(browser, analysis):
    page, problems = open_report(browser, analysis[1], fragment="#50%")
    assert page.locator("canvas.chart").first.evaluate(INK) > 500
    assert not problems, problems
