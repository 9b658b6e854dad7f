"""End to end: `loganalyze fixtures/` finds exactly what fixtures/manifest.toml says.

Each fixture is real training from the reference trainer, in two formats (event files and a
Lightning CSV); both must give the same findings. A phenomenon no rule detects yet is listed
under `missing` and is a strict expected failure here, never a deleted expectation.
"""
from __future__ import annotations

import tomllib

import numpy as np
import pytest

from loganalyze.config import Config
from loganalyze.engine import analyze
from loganalyze.model import FAMILIES
from loganalyze.trainer.catalog import SCENARIOS

from conftest import FIXTURES

MANIFEST = tomllib.loads((FIXTURES / "manifest.toml").read_text())
FORMATS = {"tfevents": "", "csv": "/csv/metrics.csv"}


@pytest.fixture(scope="module")
def report():
    rep = analyze([str(FIXTURES)], Config())
    return {r.run.name: r for r in rep.runs}


def run_of(report, scenario, fmt):
    name = scenario + FORMATS[fmt]
    assert name in report, f"no run {name!r} under fixtures/ (regenerate: loganalyze train --all --out fixtures)"
    return report[name]


def test_every_scenario_has_a_fixture_and_a_manifest_entry():
    assert set(MANIFEST) == set(SCENARIOS)
    for name in SCENARIOS:
        assert any((FIXTURES / name).glob("events.out.tfevents.*")), name
        assert (FIXTURES / name / "csv" / "metrics.csv").is_file(), name


def _matches(finding, exp, last_step):
    tol = max(2, round(0.02 * last_step))
    lo, hi = exp["steps"]
    return (finding.rule == exp["rule"] and finding.family == exp["family"]
            and finding.causes and finding.causes[0].cause == exp["cause"]
            and abs(finding.step_range[0] - lo) <= tol and abs(finding.step_range[1] - hi) <= tol
            and finding.severity == exp.get("severity", finding.severity))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("scenario", MANIFEST)
def test_fixture_yields_exactly_the_manifest_findings(report, scenario, fmt):
    rr = run_of(report, scenario, fmt)
    last = max(int(s.step.max()) for s in rr.run.series.values() if s.points)
    expected = MANIFEST[scenario]["expect"]
    unmatched = [e for e in expected if not any(_matches(f, e, last) for f in rr.findings)]
    unexpected = [f for f in rr.findings if not any(_matches(f, e, last) for e in expected)]
    describe = [(f.rule, f.severity, f.causes[0].cause if f.causes else None, f.step_range) for f in unexpected]
    assert not unmatched, f"{scenario} [{fmt}]: expected but not found: {unmatched}; found: {describe}"
    assert not unexpected, f"{scenario} [{fmt}]: findings the manifest does not list: {describe}"


def _missing_cases():
    for scenario, entry in MANIFEST.items():
        for m in entry.get("missing", []):
            yield pytest.param(scenario, m["family"], id=f"{scenario}-{m['family']}",
                               marks=pytest.mark.xfail(strict=True, reason=m["reason"]))


@pytest.mark.parametrize("scenario,family", list(_missing_cases()))
def test_not_yet_detected_phenomena(report, scenario, family):
    assert family in FAMILIES
    for fmt in FORMATS:
        assert family in {f.family for f in run_of(report, scenario, fmt).findings}


def test_healthy_baselines_have_no_findings(report):
    for scenario in [s for s in MANIFEST if s.startswith("healthy_")] + ["lr_sane", "bce_logits"]:
        for fmt in FORMATS:
            assert [f.rule for f in run_of(report, scenario, fmt).findings] == [], (scenario, fmt)


def test_periodicity_evidence_points_at_the_epoch(report):
    """The saw-tooth fixtures are found for the right reason: an epoch-long period, a profile
    that repeats in odd and even epochs, and an epoch axis read from the logged `epoch`."""
    for scenario in ("memorization", "running_mean", "unshuffled", "eval_side_effect", "small_last_batch"):
        (f,) = [f for f in run_of(report, scenario, "tfevents").findings if f.rule == "PD001"]
        st = f.stats
        assert st["epoch_provenance"] == "epoch_tag"
        steps = run_of(report, scenario, "tfevents").run.epochs.starts
        assert st["period_steps"] == int(steps[1] - steps[0])
        assert len(st["phase_profile"]) == 20 and len(st["epoch_profiles"]) == st["epochs"]
    mem = [f for f in run_of(report, "memorization", "tfevents").findings if f.rule == "PD001"][0]
    assert mem.stats["phase_of_min"] < 0.25 < 0.75 < mem.stats["phase_of_max"]
    rr = run_of(report, "bce_nan", "tfevents")
    loss = rr.run.series["train/loss"]
    (nan,) = [f for f in rr.findings if f.rule == "NF001"]
    assert nan.step_range[0] == int(loss.step[~np.isfinite(loss.value)][0])
