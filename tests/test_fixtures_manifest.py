"""End to end: `loganalyze fixtures/` finds exactly what fixtures/manifest.toml says.

Each fixture is real training from the reference trainer, in two formats (event files and a
Lightning CSV); both must give the same findings. The expectations come from each scenario's
mechanism (written next to each one as `why`), and their step ranges from the raw logged series;
where the analysis does not agree yet, the expectation stays and is a strict expected failure.
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


OBSERVATIONS = {"PL003", "PL004"}  # info rules that describe a healthy run's course, not a fault


def _raw(rr, tag: str):
    """A tag's raw logged points, in step order: the truth side never goes through a detector."""
    s = rr.run.series[tag]
    order = np.argsort(s.step, kind="stable")
    return s.step[order], s.value[order]


def expected_range(rr, spec) -> tuple[str, tuple[int, int] | int]:
    """("exact", (lo, hi)) or ("covers", step): what the manifest's `steps` means on this run's raw data."""
    step, _ = _raw(rr, "train/loss")
    first, last = int(step[0]), int(step[-1])
    if isinstance(spec, list):
        return "exact", (int(spec[0]), int(spec[1]))
    if spec == "run":
        return "exact", (first, last)
    head, _, tail = spec.partition("..")
    assert tail == "end" or head.startswith("at("), spec
    kind, _, tag = head.partition("(")
    tag = tag.rstrip(")")
    if kind in ("covers", "at"):
        inner = tag.removeprefix("max(")
        ts, tv = _raw(rr, inner)
        at = int(ts[int(np.nanargmax(tv))])
        return ("covers", at) if kind == "covers" else ("exact", (at, at))
    ts, tv = _raw(rr, tag)
    if kind == "nonfinite":
        return "exact", (int(ts[~np.isfinite(tv)][0]), last)
    if kind == "argmin":
        return "exact", (int(ts[int(np.nanargmin(tv))]), last)
    raise AssertionError(f"unknown steps spec {spec!r}")


def _matches(rr, finding, exp) -> bool:
    if not (finding.rule == exp["rule"] and finding.family == exp["family"] and finding.causes
            and finding.causes[0].cause == exp["cause"] and finding.severity == exp.get("severity", finding.severity)):
        return False
    step, _ = _raw(rr, "train/loss")
    slack = int(np.median(np.diff(np.unique(step)))) if len(step) > 1 else 0  # one logging interval
    kind, want = expected_range(rr, exp["steps"])
    lo, hi = finding.step_range
    if kind == "covers":
        return lo <= want <= hi and abs(hi - int(step[-1])) <= slack
    return abs(lo - want[0]) <= slack and abs(hi - want[1]) <= slack


def _cases():
    for scenario, entry in MANIFEST.items():
        for fmt in FORMATS:
            yield pytest.param(scenario, fmt, id=f"{scenario}-{fmt}")


@pytest.mark.parametrize("scenario,fmt", list(_cases()))
def test_fixture_yields_the_findings_its_mechanism_predicts(report, scenario, fmt):
    rr = run_of(report, scenario, fmt)
    expected = [e for e in MANIFEST[scenario]["expect"] if not e.get("xfail")]
    unmatched = [e for e in expected if not any(_matches(rr, f, e) for f in rr.findings)]
    all_expected = MANIFEST[scenario]["expect"]
    unexpected = [f for f in rr.findings if not any(_matches(rr, f, e) for e in all_expected)
                  and not (f.severity == "info" and f.rule in OBSERVATIONS)
                  and not any(e.get("xfail") and e["rule"] == f.rule for e in all_expected)]
    describe = [(f.rule, f.severity, f.causes[0].cause if f.causes else None, f.step_range) for f in unexpected]
    assert not unmatched, f"{scenario} [{fmt}]: expected but not found: {unmatched}; found: {describe}"
    assert not unexpected, f"{scenario} [{fmt}]: findings the manifest does not list: {describe}"


def _xfail_cases():
    for scenario, entry in MANIFEST.items():
        for i, e in enumerate(entry["expect"]):
            if e.get("xfail"):
                yield pytest.param(scenario, i, id=f"{scenario}-{e['rule']}",
                                   marks=pytest.mark.xfail(strict=True, reason=e["why"]))


@pytest.mark.parametrize("scenario,index", list(_xfail_cases()))
def test_mechanism_the_analysis_does_not_see_yet(report, scenario, index):
    exp = MANIFEST[scenario]["expect"][index]
    assert exp["family"] in FAMILIES
    for fmt in FORMATS:
        rr = run_of(report, scenario, fmt)
        assert any(_matches(rr, f, exp) for f in rr.findings)


def test_every_expectation_says_why_from_the_mechanism():
    for scenario, entry in MANIFEST.items():
        for e in entry["expect"]:
            assert len(e.get("why", "")) >= 40, (scenario, e["rule"])


def test_healthy_baselines_have_no_findings(report):
    """Not a warning, not an error, and no info beyond the observations of a run's course."""
    for scenario in [s for s in MANIFEST if s.startswith("healthy_")] + ["lr_sane", "bce_logits"]:
        for fmt in FORMATS:
            found = run_of(report, scenario, fmt).findings
            assert [f.rule for f in found if not (f.severity == "info" and f.rule in OBSERVATIONS)] == [], \
                (scenario, fmt)


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
