"""A sweep analyzed by a pool of workers reports exactly what one process reports."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from loganalyze import engine
from loganalyze.engine import POOL_MIN_RUNS, analyze, analyze_pair, worker_count
from loganalyze.report.jsonout import finding_json
from loganalyze.summary import SeriesSummary

from conftest import REALWORLD, REALWORLD_DEV, shared_dir

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "loganalyze", *args], capture_output=True, text=True, cwd=ROOT)


@pytest.mark.parametrize("logs", [ROOT / "fixtures", REALWORLD, REALWORLD_DEV], ids=["fixtures", "realworld", "realworld-dev"])
def test_two_workers_write_the_same_reports_as_one(logs, tmp_path):
    if logs != ROOT / "fixtures":
        shared_dir(logs, "real-world logs")  # (LOGANALYZE_SHARED honoured; under CI=1 a missing folder fails)
    out = {}
    for j in ("1", "2"):
        r = _cli(str(logs), "-j", j, "--json", str(tmp_path / f"j{j}.json"), "--html", str(tmp_path / f"j{j}.html"),
                 "--format", "none")
        assert r.returncode in (0, 1), r.stderr
        out[j] = ((tmp_path / f"j{j}.json").read_text(), (tmp_path / f"j{j}.html").read_text())
    report = json.loads(out["1"][0])
    assert report["summary"]["runs"] >= POOL_MIN_RUNS  # enough runs that -j 2 really starts a pool
    assert sum(report["summary"]["findings"].values()) > 0
    assert out["1"][0] == out["2"][0]
    assert out["1"][1] == out["2"][1]


def test_summarized_runs_keep_counts_and_charts_but_no_points():
    full = analyze([ROOT / "fixtures" / "memorization"], jobs=1)
    slim = analyze([ROOT / "fixtures" / "memorization"], jobs=1, summarize=True, charts=True)
    for a, b in zip(full.runs, slim.runs):
        assert [finding_json(f) for f in a.findings] == [finding_json(f) for f in b.findings]
        for tag, s in a.run.series.items():
            t = b.run.series[tag]
            assert isinstance(t, SeriesSummary) and len(t.step) == 0 and len(t.value) == 0
            assert (t.points, t.nonfinite, t.first_step, t.last_step) == (s.points, s.nonfinite, s.first_step, s.last_step)
            assert t.chart is not None and t.chart["n"] == s.points
        assert all(not r.series for r in b.run.runs)
    no_charts = analyze([ROOT / "fixtures" / "memorization"], jobs=1, summarize=True, charts=False)
    assert all(s.chart is None for rr in no_charts.runs for s in rr.run.series.values())


def test_no_pool_for_a_handful_and_none_on_a_busy_machine():
    assert worker_count(8, POOL_MIN_RUNS - 1) == 1  # a handful: never a pool, whatever was asked
    assert worker_count(2, 500) == 2  # asked for: honoured
    assert worker_count(4, 10) == 4 and worker_count(64, 10) == 10
    assert worker_count(None, 500, cores=2, load=0.1) == 2  # idle: every core
    assert worker_count(None, 500, cores=2, load=1.2) == 1  # one core busy: serial, not oversubscribed
    assert worker_count(None, 500, cores=8, load=5.0) == 3
    assert worker_count(None, 500, cores=1, load=0.0) == 1
    assert worker_count(None, 2, cores=2, load=0.1, heavy=True) == 2  # a big run and its baseline: two cores
    assert worker_count(None, 2, cores=2, load=1.2, heavy=True) == 1
    assert worker_count(2, 1, heavy=True) == 1  # one experiment: nothing to share


def test_a_baseline_and_new_logs_in_one_pool_report_what_two_analyses_report(monkeypatch):
    monkeypatch.setattr(engine, "HEAVY_BYTES", 1)  # the fixtures are small: call them heavy so the pool starts
    base_paths, new_paths = [ROOT / "fixtures" / "memorization"], [ROOT / "fixtures" / "healthy_mlp"]
    tasks, _ = engine._plan(base_paths + new_paths, engine.Config(), True, False)
    assert engine.is_heavy(tasks) and engine.worker_count(2, len(tasks), heavy=True) == 2
    base, new = analyze_pair(base_paths, new_paths, jobs=2, charts=True)
    for paired, alone, charts in ((base, analyze(base_paths, jobs=1, summarize=True, charts=False), False),
                                  (new, analyze(new_paths, jobs=1, summarize=True, charts=True), True)):
        assert [rr.run.name for rr in paired.runs] == [rr.run.name for rr in alone.runs] and paired.runs
        for a, b in zip(alone.runs, paired.runs):
            assert [finding_json(f) for f in a.findings] == [finding_json(f) for f in b.findings]
            assert {t: (s.points, s.span, s.final) for t, s in a.run.series.items()} == \
                {t: (s.points, s.span, s.final) for t, s in b.run.series.items()}
            assert all((s.chart is not None) == charts for s in b.run.series.values() if s.points)
