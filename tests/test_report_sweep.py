"""The HTML report of a sweep: small curves for quiet runs, full ones where there are findings, drawn when
scrolled to, and an overview that sorts and filters."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from loganalyze.summary import FULL_CHART_POINTS, HANDFUL, SWEEP_CHART_POINTS
from test_report_browser import INK, browser, open_report  # noqa: F401 — the fixture is used by name

RUNS, STEPS, DIVERGING = 24, 3000, (5, 17)


def short(name: str) -> str:
    """lr_05 of `lr_05/metrics.csv`."""
    return next(part for part in name.split("/") if part.startswith("lr_"))


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """Lightning CSVLogger `metrics.csv` files: a loss every step, validation every 100; two runs diverge."""
    root = tmp_path_factory.mktemp("sweep")
    rng = np.random.default_rng(0)
    s = np.arange(STEPS)
    for i in range(RUNS):
        loss = 2.0 * np.exp(-s / 600) + 0.2 + 0.02 * rng.standard_normal(STEPS)
        if i in DIVERGING:
            loss[2000:] *= np.exp((s[2000:] - 2000) / 150)
        lines = ["epoch,step,train_loss,val_loss"]
        for k in s:
            lines.append(f"{k // 300},{k},{loss[k]:.6g},")
            if k % 100 == 99:
                lines.append(f"{k // 300},{k},,{loss[k] * 1.1:.6g}")
        d = root / f"lr_{i:02d}"
        d.mkdir()
        (d / "metrics.csv").write_text("\n".join(lines) + "\n")
    html = tmp_path_factory.mktemp("html") / "sweep.html"
    r = subprocess.run([sys.executable, "-m", "loganalyze", str(root), "--html", str(html), "--format", "none", "-j", "2"],
                       capture_output=True, text=True)
    assert r.returncode in (0, 1), r.stderr
    return root, html


def _data(html: Path) -> dict:
    block = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html.read_text(), re.S)
    return json.loads(block.group(1))


def test_quiet_runs_are_drawn_from_fewer_points_and_runs_with_findings_keep_theirs(sweep):
    data = _data(sweep[1])
    assert len(data["runs"]) == RUNS > HANDFUL
    with_findings = [r for r in data["runs"] if any(f["severity"] != "info" for f in r["findings"])]
    quiet = [r for r in data["runs"] if not r["findings"]]
    assert len(with_findings) >= len(DIVERGING) and len(quiet) >= RUNS - 2 * len(DIVERGING)
    for r in quiet:
        loss = r["series"]["train_loss"]
        assert loss["n"] == STEPS and loss["decimated"] and len(loss["s"]) <= SWEEP_CHART_POINTS
    for r in with_findings:
        loss = r["series"]["train_loss"]
        assert loss["n"] == STEPS and len(loss["s"]) == STEPS <= FULL_CHART_POINTS  # every point kept
    assert all("epoch" not in r["series"] for r in data["runs"])  # drawn as boundary lines, not as a curve


@pytest.mark.browser
def test_later_runs_are_drawn_when_scrolled_to(browser, sweep):  # noqa: F811
    page, problems = open_report(browser, sweep[1])
    sections = page.locator("section.run")
    assert sections.count() == RUNS
    last = sections.nth(RUNS - 1)
    assert "lazy" in last.get_attribute("class") and "lazy" not in sections.nth(0).get_attribute("class")
    chart = last.locator("canvas.chart").first
    assert chart.evaluate(INK) == 0  # not drawn while far below
    chart.scroll_into_view_if_needed()
    page.wait_for_function("c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
                           " for (let i = 3; i < d.length; i += 4) if (d[i]) return true; return false; }",
                           arg=chart.element_handle())
    assert chart.evaluate(INK) > 500
    assert not problems, problems


@pytest.mark.browser
def test_the_overview_filters_and_sorts(browser, sweep):  # noqa: F811
    page, problems = open_report(browser, sweep[1])
    rows = page.locator("table.overview tbody tr")
    shown = lambda: [r.get_attribute("data-name") for r in rows.all() if r.is_visible()]  # noqa: E731
    assert len(shown()) == RUNS

    page.select_option("#severity-filter", "none")
    quiet = shown()
    assert 0 < len(quiet) < RUNS and not {short(n) for n in quiet} & {f"lr_{i:02d}" for i in DIVERGING}
    page.select_option("#severity-filter", "")
    page.select_option("#family-filter", "divergence")
    diverging = shown()
    assert {f"lr_{i:02d}" for i in DIVERGING} <= {short(n) for n in diverging}
    assert page.locator("#filter-count").inner_text() == f"{len(diverging)} of {RUNS} runs"
    page.select_option("#family-filter", "")
    page.fill("#run-filter", "lr_17")
    assert [short(n) for n in shown()] == ["lr_17"]
    page.fill("#run-filter", "")

    header = page.locator("table.overview thead th[data-sort='name'] button")
    header.click()  # the page's order (worst first) ...
    header.click()  # ... then A to Z
    names = [r.get_attribute("data-name") for r in rows.all()]
    assert names == sorted(names)
    page.locator("table.overview thead th[data-sort='divergence'] button").click()
    first = [short(r.get_attribute("data-name")) for r in rows.all()][:len(DIVERGING)]
    assert set(first) == {f"lr_{i:02d}" for i in DIVERGING}
    assert not problems, problems
