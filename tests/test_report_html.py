"""The HTML report without a browser: self-contained, escaped, deterministic, and extremes survive decimation."""
import json
import math
import re

import numpy as np
import pytest
from markupsafe import escape

from loganalyze.engine import analyze
from loganalyze.model import AlignedRun, Cause, EpochAxis, Finding, Problem, Report, Roles, Run, RunReport, Series
from loganalyze.report.html import decimate, render_html, stat_rows, write_html

EVIL = "<script>alert(1)</script>"
E, P = 12, 100  # epochs, steps per epoch of the saw-tooth run


def write_logs(root):
    """Three runs written by torch's SummaryWriter: an epoch saw-tooth, a NaN burst, and a run named like a script tag.

    The saw-tooth (the loss drops at each epoch start and rises through it, more each epoch)
    gives PD001; the NaN run gives NF001.
    """
    tb = pytest.importorskip("torch.utils.tensorboard")
    rng = np.random.default_rng(0)
    s = np.arange(E * P)
    phase = (s % P) / P
    trend = 2.0 * np.exp(-s / 500) + 0.5
    saw = trend * np.exp((0.04 + 0.02 * (s // P)) * np.minimum(3 * phase, 1))
    saw *= np.exp(0.05 * rng.standard_normal(len(s)))
    w = tb.SummaryWriter(str(root / "sawtooth"))
    for i in s:
        w.add_scalar("train/loss", saw[i], i)
        w.add_scalar("epoch", i // P, i)
        w.add_scalar("lr", 1e-3, i)
        if i % P == P - 1:
            w.add_scalar("val/loss", trend[i] * 1.1, i)
            w.add_scalar("val/acc", 1 - trend[i] / 3, i)
    w.close()

    broken = 2.0 * np.exp(-np.arange(400) / 120) + 0.1 + 0.01 * rng.standard_normal(400)
    broken[300:] = math.nan
    w = tb.SummaryWriter(str(root / "nan_burst"))
    for i, v in enumerate(broken):
        w.add_scalar("train/loss", v, i)
        w.add_scalar("grad_norm", 1.0 + 0.1 * rng.standard_normal(), i)
    w.close()

    w = tb.SummaryWriter(str(root / "<script>alert(1)<" / "script>"))  # the run's name is its relative path
    for i in range(200):
        w.add_scalar(EVIL, 1.0 / (1 + i), i)
    w.close()
    return root


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    return write_logs(tmp_path_factory.mktemp("logs"))


@pytest.fixture(scope="module")
def report(logs):
    return analyze([logs], jobs=1)


@pytest.fixture(scope="module")
def page(report):
    return render_html(report)


def esc(text: str) -> str:
    """The text as jinja2's autoescape writes it."""
    return str(escape(text))


def embedded_data(text: str) -> dict:
    m = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', text, re.S)
    assert m, "no data block"
    return json.loads(m.group(1))


def test_analysis_has_the_findings_the_page_must_show(report):
    rules = {rr.run.name: {f.rule for f in rr.findings} for rr in report.runs}
    assert "PD001" in rules["sawtooth"] and "NF001" in rules["nan_burst"]
    assert EVIL in rules


def test_every_run_and_finding_summary_is_in_the_page(report, page):
    for rr in report.runs:
        assert esc(rr.run.name.split("/")[-1]) in page
        for f in rr.findings:
            assert esc(f.summary) in page, f.rule
            assert f'href="#card-{f.rule}"' in page and f'id="card-{f.rule}"' in page
            for c in f.causes:
                assert esc(c.evidence) in page
    assert page.count('class="foldchart"') == sum(1 for f in report.findings if "phase_profile" in f.stats)


def test_no_external_resources(page):
    targets = re.findall(r"""\b(?:src|href|action|srcset)\s*=\s*["']?([^"'\s>]*)""", page, re.I)
    assert targets and all(t.startswith("#") for t in targets), [t for t in targets if not t.startswith("#")]
    assert not re.search(r"<(link|iframe|img|object|embed)\b", page, re.I)
    assert "@import" not in page and not re.search(r"url\(", page)
    assert re.findall(r"<script\b[^>]*>", page) == ['<script type="application/json" id="report-data">', "<script>"]


def test_names_from_the_logs_are_text_not_markup(page):
    assert EVIL not in page
    assert "&lt;script&gt;alert(1)&lt;/" in page
    data = embedded_data(page)
    assert any(EVIL in run["series"] for run in data["runs"])  # the JSON block holds it, escaped as \u003c


def test_hostile_strings_everywhere():
    evil = '</script><img src=x onerror=alert(1)>"\'&'
    s = Series.from_lists(evil, range(50), np.linspace(1, 0.1, 50))
    run = Run(evil, (evil,), {evil: s}, problems=(Problem("bad_value", evil, evil),))
    aligned = AlignedRun(evil, (run,), {evil: s}, Roles(train_loss=evil), EpochAxis.unknown())
    f = Finding("NF001", "nonfinite", "error", (evil,), (3, 9), evil, {evil: evil, "n": 3},
                (Cause("unknown", 0.5, evil),), name=evil)
    text = render_html(Report((RunReport(aligned, (f,), (evil,)),), (Problem("unreadable", evil, evil),)))
    assert "</script><img" not in text and "onerror=alert(1)>" not in text
    assert text.count("</script>") == 2
    embedded_data(text)


def test_output_is_deterministic(logs, page):
    again = render_html(analyze([logs], jobs=1))
    assert again == page
    assert render_html(analyze([logs], jobs=1), generated="2024-01-01") != page


def test_stats_table_shows_scalars_and_skips_arrays():
    rows, omitted = stat_rows({"period_steps": 1200, "variance_explained": 0.41234, "permanent": True,
                               "phase_profile": list(range(20)), "thresholds": {"max_p": 0.001}, "first": [1, 2]})
    assert dict(rows) == {"period_steps": "1,200", "variance_explained": "0.4123", "permanent": "yes",
                          "thresholds.max_p": "0.001", "first": "1, 2"}
    assert omitted == ["phase_profile (20)"]


def million_point_report():
    n = 1_000_000
    rng = np.random.default_rng(1)
    step = np.arange(n, dtype=np.int64) * 2
    value = 2.0 * np.exp(-np.arange(n) / 2e5) + 0.3 + 0.02 * rng.standard_normal(n)
    value[654_321] = 1e3  # one spike
    value[100] = math.nan
    value[500_000:500_011] = math.nan  # a burst
    value[777_777] = math.inf
    value[999_999] = math.nan
    s = Series(tag="train/loss", step=step, value=value, wall_time=np.full(n, np.nan))
    lr = Series.from_lists("lr", step[::10], np.full(n // 10, 1e-3))
    run = Run("big", ("big",), {"train/loss": s, "lr": lr})
    aligned = AlignedRun("big", (run,), run.series, Roles(train_loss="train/loss", lr="lr"),
                         EpochAxis(step[::100_000].copy(), "config", "100,000 steps per epoch"))
    f = Finding("NF001", "nonfinite", "error", ("train/loss",), (200, 1_999_998), "non-finite values in train/loss",
                {"nonfinite_points": 14})
    return Report((RunReport(aligned, (f,)),), ()), s


def test_decimation_keeps_the_spike_and_every_nonfinite_point_of_a_million_points(tmp_path):
    report, s = million_point_report()
    path = tmp_path / "big.html"
    write_html(report, path)
    size = path.stat().st_size
    assert size < 5_000_000, size
    d = embedded_data(path.read_text(encoding="utf-8"))["runs"][0]["series"]["train/loss"]
    assert d["n"] == 1_000_000 and d["decimated"] and len(d["s"]) <= 4100
    finite = [v for v in d["v"] if v is not None]
    assert max(finite) == 1e3 and d["s"][d["v"].index(1e3)] == 654_321 * 2
    assert min(finite) == pytest.approx(float(np.nanmin(s.value[np.isfinite(s.value)])), rel=1e-6)
    assert d["s"] == sorted(d["s"])
    # every non-finite step lies in a marker, the counts add up, and the line breaks at each burst
    bad = s.step[~np.isfinite(s.value)]
    assert sum(g[2] for g in d["nf"]) == len(bad)
    assert all(any(a <= b_ <= b for a, b, _, _ in d["nf"]) for b_ in bad)
    assert [g[3] for g in d["nf"]] == ["nan", "nan", "+inf", "nan"]
    assert [g[0] for g in d["nf"]] == [200, 1_000_000, 1_555_554, 1_999_998]
    gaps = [st for st, v in zip(d["s"], d["v"]) if v is None]
    assert gaps == [200, 1_000_000, 1_555_554, 1_999_998]


def test_decimation_of_a_flickering_series_stays_bounded():
    n = 200_000
    v = np.where(np.arange(n) % 2 == 0, np.nan, 1.0)
    d = decimate(Series.from_lists("x", np.arange(n), v))
    assert len(d["nf"]) <= 2000 and sum(g[2] for g in d["nf"]) == n // 2
    assert len(d["s"]) <= 4000 + 2000


def test_short_series_are_not_decimated():
    d = decimate(Series.from_lists("x", [3, 1, 2], [0.5, math.inf, -1.0]))
    assert d["s"] == [1, 2, 3] and d["v"] == [None, -1.0, 0.5] and d["nf"] == [[1, 1, 1, "+inf"]]
    assert not d["decimated"]


def _ema(values, w):
    """TensorBoard's debiased EMA, as the page's script computes it."""
    out, last, n = [], 0.0, 0
    for x in values:
        if x is None:
            out.append(None)
            continue
        last = last * w + (1 - w) * x
        n += 1
        out.append(last / (1 - w ** n))
    return out


@pytest.mark.parametrize("w", [0.6, 0.9, 0.99])
def test_smoothing_a_decimated_series_follows_the_raw_curve(w):
    """Smoothing the kept min/max points would ride the top of the noise; bucket means do not."""
    rng = np.random.default_rng(0)
    step = np.arange(200_000)
    value = (2 * np.exp(-step / 40_000) + 0.3) * np.exp(0.3 * rng.standard_normal(len(step)))
    d = decimate(Series("loss", step, value, np.full(len(step), np.nan)))
    assert d["decimated"] and len(d["m"]) == len(d["s"])
    size = int(2 * d["k"])
    full = np.asarray(_ema(value.tolist(), w))  # the smoothed line at full resolution...
    per_bucket = full[: len(full) // size * size].reshape(-1, size).mean(axis=1)  # ...as a pixel column shows it
    kept = np.asarray(d["s"])
    ok = kept // size < len(per_bucket)
    target = per_bucket[kept[ok] // size]
    from_means = np.asarray(_ema(d["m"], w ** d["k"]))[ok]
    from_extremes = np.asarray(_ema(d["v"], w))[ok]
    assert np.median(np.abs(from_means / target - 1)) < 0.03
    assert np.median(np.abs(from_extremes / target - 1)) > 0.05  # what the page drew before
