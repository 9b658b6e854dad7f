"""The pre-merge gate: `loganalyze compare BASE NEW` and `analyze NEW --baseline BASE`.

Real logs from the reference trainer: the fixtures (seed 0) where they hold the pair, and a few
runs trained here once per session (other seeds of healthy_mlp and running_mean, and healthy_mlp
at a lower LR), each copied into `<side>/smoke/` so that both sides name the run alike.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from loganalyze.cli import cli
from loganalyze.compare import (STRETCH_MIN, TOL_SIGMAS, Curve, RunSide, Side, compare, curve_checks,
                                independent, match_findings, pair_runs, repeat_key, same_finding, summarize, CompareError)
from loganalyze.model import Finding, Series
from loganalyze.trainer import cli as train_cli
from test_report_browser import INK, browser, open_report  # noqa: F401 — the real headless Chromium fixture

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
needs_torch = pytest.mark.skipif(not train_cli._torch_available(), reason="the train extra (torch) is not installed")


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args) -> Result:
    """The command line in this process (a subprocess per call costs seconds of imports on a shared machine)."""
    try:
        runner = CliRunner(mix_stderr=False)  # click 8.1
    except TypeError:
        runner = CliRunner()  # click >= 8.2 keeps stderr apart
    r = runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return Result(r.exit_code, r.stdout, r.stderr)


def side(root: Path, name: str, run_dir: Path) -> Path:
    """`root/name/` holding the event files of `run_dir` (not its csv/): one run named `name`."""
    (root / name).mkdir(parents=True, exist_ok=True)
    for f in run_dir.glob("events.out.tfevents.*"):
        shutil.copy(f, root / name / f.name)
    return root


# ---------------------------------------------------------------- runs trained once per session

def _train(out: Path, scenario: str, seed: int, lr: float | None = None) -> Path:
    import torch

    from loganalyze.trainer.core import Context, fit, seed_everything
    from loganalyze.trainer.runlog import RunLog, clear_run_dir
    from loganalyze.trainer.scenarios import healthy_mlp_plan, run_scenario

    ctx = Context(out, torch.device("cpu"), seed=seed, csv=False)
    if lr is None:
        run_scenario(scenario, ctx)
        return out
    # healthy_mlp (the same plan, data and model) at another learning rate
    seed_everything(seed, ctx.device)
    clear_run_dir(out)
    log = RunLog(out, write_csv=False)
    try:
        plan = healthy_mlp_plan(ctx, lr=lr)
        log.hparams(dict(plan.hparams), ("val/loss",))
        fit(plan, ctx, log)
    finally:
        log.close()
    return out


TRAINED = Path(__file__).resolve().parents[1] / ".cache" / "test_compare" / "v2"  # gitignored; kept between sessions (v2: healthy_mlp 6,400 samples, 8 epochs)


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> dict[str, Path]:
    runs = {"healthy_seed1": ("healthy_mlp", 1, None), "healthy_seed2": ("healthy_mlp", 2, None),
            "healthy_lr3e-4": ("healthy_mlp", 0, 3e-4), "running_mean_seed1": ("running_mean", 1, None),
            "running_mean_seed2": ("running_mean", 2, None)}
    out = {}
    for name, (scenario, seed, lr) in runs.items():
        out[name] = TRAINED / name
        if not any(out[name].glob("events.out.tfevents.*")):
            tmp = _train(tmp_path_factory.mktemp("trained") / name, scenario, seed, lr)
            shutil.rmtree(out[name], ignore_errors=True)
            out[name].parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(tmp, out[name])
    return out


# ---------------------------------------------------------------- (a)–(d) on real logs

@pytest.mark.slow
@needs_torch
def test_a_same_scenario_another_seed_passes_with_nothing_new(trained, tmp_path):
    base = side(tmp_path / "base", "smoke", FIXTURES / "healthy_mlp")
    new = side(tmp_path / "new", "smoke", trained["healthy_seed2"])
    r = run_cli("compare", base, new, "--json", tmp_path / "c.json", "--fail-on", "warning")
    assert r.returncode == 0, r.stdout + r.stderr
    run = json.loads((tmp_path / "c.json").read_text())["runs"][0]
    assert run["baseline"]["verdict"] == "pass"
    assert [f for f in run["findings"] if f["baseline_state"] == "new"] == []
    assert not [c for c in run["baseline"]["checks"] if c["regressed"]], run["baseline"]["checks"]
    assert {c["measure"] for c in run["baseline"]["checks"]} == {"final", "best", "steps_to_level", "area"}


def test_b_too_high_lr_against_its_healthy_twin_fails_with_new_findings_and_regressions(tmp_path):
    base = side(tmp_path / "base", "smoke", FIXTURES / "lr_sane")
    new = side(tmp_path / "new", "smoke", FIXTURES / "lr_too_high")
    r = run_cli("compare", base, new, "--json", tmp_path / "c.json", "--sarif", tmp_path / "c.sarif")
    assert r.returncode == 1, r.stdout + r.stderr
    run = json.loads((tmp_path / "c.json").read_text())["runs"][0]
    new_rules = {f["rule"] for f in run["findings"] if f["baseline_state"] == "new"}
    assert "PL001" in new_rules  # the collapse to chance (the healthy twin has no finding at all)
    regressed = {(c["tag"], c["measure"]) for c in run["baseline"]["checks"] if c["regressed"]}
    assert ("train/loss", "final") in regressed and ("val/loss", "final") in regressed
    final = next(c for c in run["baseline"]["checks"] if (c["tag"], c["measure"]) == ("train/loss", "final"))
    assert final["new"] > 1.5 > 0.7 > final["baseline"]  # collapsed to ln 5 against a converged 0.57
    assert "new" in r.stdout and "regression" in r.stdout
    states = {x["ruleId"]: x["baselineState"] for x in json.loads((tmp_path / "c.sarif").read_text())["runs"][0]["results"]}
    assert {rule for rule, state in states.items() if state == "new"} == new_rules
    gh = run_cli("compare", base, new, "--format", "github").stdout.splitlines()
    assert any(line.startswith("::error") and "curve regression train/loss" in line for line in gh), gh
    assert {line.split("title=")[1].split(" ")[0] for line in gh if "curve regression" not in line} == new_rules


def test_b_running_mean_against_its_healthy_twin_is_a_new_finding(tmp_path):
    base = side(tmp_path / "base", "smoke", FIXTURES / "healthy_mlp")
    new = side(tmp_path / "new", "smoke", FIXTURES / "running_mean")
    r = run_cli("compare", base, new, "--fail-on", "warning", "--format", "github")
    assert r.returncode == 1, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert any(line.startswith("::warning") and "PD001" in line for line in lines), r.stdout
    # the same run compared with itself: nothing new, so nothing to annotate
    same = run_cli("compare", new, new, "--fail-on", "warning", "--format", "github")
    assert same.returncode == 0 and same.stdout == "", same.stdout + same.stderr


@pytest.mark.slow
@needs_torch
def test_c_slower_converging_variant_fails_on_the_curves_alone(trained, tmp_path):
    base = side(tmp_path / "base", "smoke", FIXTURES / "healthy_mlp")
    new = side(tmp_path / "new", "smoke", trained["healthy_lr3e-4"])
    alone = run_cli(new, "--fail-on", "info")
    assert alone.returncode == 0, alone.stdout  # no rule fires on the slower run by itself
    r = run_cli(new, "--baseline", base, "--fail-on", "info", "--json", tmp_path / "c.json", "--format", "markdown")
    assert r.returncode == 1, r.stdout + r.stderr
    run = json.loads((tmp_path / "c.json").read_text())["runs"][0]
    assert run["findings"] == []
    regressed = {(c["tag"], c["measure"]) for c in run["baseline"]["checks"] if c["regressed"]}
    assert ("train/loss", "final") in regressed and ("train/loss", "steps_to_level") in regressed
    assert ("val/loss", "area") in regressed
    assert "| `smoke` | ❌ fail | none |" in r.stdout and "train/loss final" in r.stdout
    # an explicit, looser tolerance lets it through
    loose = run_cli(new, "--baseline", base, "--fail-on", "info", "--tolerance", "2")
    assert loose.returncode == 0, loose.stdout


@pytest.mark.slow
@needs_torch
def test_d_a_finding_the_baseline_already_has_is_unchanged_and_passes(trained, tmp_path):
    # The logged running mean averages the batch noise away, so one run's noise says little about how
    # far another seed's curve may land; two repeats in the baseline say it.
    base = tmp_path / "base"
    side(base, "smoke/seed0", FIXTURES / "running_mean")
    side(base, "smoke/seed1", trained["running_mean_seed1"])
    new = side(tmp_path / "new", "smoke", trained["running_mean_seed2"])
    alone = run_cli(new, "--fail-on", "warning")
    assert alone.returncode == 1  # the absolute gate fails on the known PD001
    r = run_cli("compare", base, new, "--fail-on", "warning", "--json", tmp_path / "c.json")
    assert r.returncode == 0, r.stdout + r.stderr
    run = json.loads((tmp_path / "c.json").read_text())["runs"][0]
    states = {f["rule"]: f["baseline_state"] for f in run["findings"]}
    assert states.get("PD001") == "unchanged", states
    assert "new" not in states.values(), states


@pytest.mark.slow
@needs_torch
def test_repeats_in_the_baseline_give_the_tolerance(trained, tmp_path):
    base = tmp_path / "base"
    side(base, "smoke/seed0", FIXTURES / "healthy_mlp")
    side(base, "smoke/seed1", trained["healthy_seed1"])
    new = side(tmp_path / "new", "smoke", trained["healthy_seed2"])
    r = run_cli("compare", base, new, "--json", tmp_path / "c.json")
    assert r.returncode == 0, r.stdout + r.stderr
    run = json.loads((tmp_path / "c.json").read_text())["runs"][0]
    assert run["baseline"]["runs"] == ["smoke/seed0", "smoke/seed1"]
    assert "repeats" in {c["tolerance_from"] for c in run["baseline"]["checks"]}
    slow = side(tmp_path / "slow", "smoke", trained["healthy_lr3e-4"])
    assert run_cli("compare", base, slow).returncode == 1


def test_a_json_report_is_a_baseline(tmp_path):
    base = side(tmp_path / "base", "smoke", FIXTURES / "lr_sane")
    new = side(tmp_path / "new", "smoke", FIXTURES / "lr_too_high")
    assert run_cli(base, "--json", tmp_path / "base.json", "--fail-on", "never").returncode == 0
    from_json = run_cli("compare", tmp_path / "base.json", new, "--json", tmp_path / "a.json")
    from_logs = run_cli("compare", base, new, "--json", tmp_path / "b.json")
    assert from_json.returncode == from_logs.returncode == 1
    a = json.loads((tmp_path / "a.json").read_text())["runs"][0]["baseline"]
    b = json.loads((tmp_path / "b.json").read_text())["runs"][0]["baseline"]
    assert a["checks"] == b["checks"] and a["absent"] == b["absent"]


def test_a_baseline_of_logs_is_analyzed_once_then_read_from_the_cache(tmp_path, monkeypatch):
    from loganalyze import engine

    base = side(tmp_path / "base", "smoke", FIXTURES / "lr_sane")
    new = side(tmp_path / "new", "smoke", FIXTURES / "lr_too_high")
    off = run_cli("compare", base, new, "--json", tmp_path / "off.json", "--format", "markdown")
    monkeypatch.setenv("LOGANALYZE_CACHE", str(tmp_path / "cache"))
    pairs = []
    real_pair = engine.analyze_pair
    monkeypatch.setattr(engine, "analyze_pair", lambda *a, **k: pairs.append(a[0]) or real_pair(*a, **k))
    runs = [run_cli("compare", base, new, "--json", tmp_path / f"on{i}.json", "--format", "markdown") for i in (1, 2)]
    assert len(pairs) == 1 and len(list((tmp_path / "cache").glob("*.json"))) == 1  # the second read the cache
    assert off.returncode == runs[0].returncode == runs[1].returncode == 1
    assert off.stdout == runs[0].stdout == runs[1].stdout  # the same table, figures and all
    assert (tmp_path / "off.json").read_text() == (tmp_path / "on1.json").read_text() == (tmp_path / "on2.json").read_text()
    assert run_cli(new, "--baseline", base, "--format", "markdown").stdout == off.stdout and len(pairs) == 1

    (event,) = (base / "smoke").glob("events.out.tfevents.*")
    event.write_bytes(event.read_bytes()[:-9])  # the baseline changed: analyzed again (and its damage seen)
    changed = run_cli("compare", base, new, "--format", "markdown")
    assert len(pairs) == 2 and changed.stdout != off.stdout
    (tmp_path / "loganalyze.toml").write_text("fail_on = \"never\"\n")
    run_cli("compare", base, new, "--config", tmp_path / "loganalyze.toml")  # another config: analyzed again
    assert len(pairs) == 3
    for f in (tmp_path / "cache").glob("*.json"):
        f.write_text("{ damaged")  # a cache entry that does not read back is a miss
    assert run_cli("compare", base, new, "--format", "markdown").stdout == changed.stdout and len(pairs) == 4
    from loganalyze import basecache

    assert basecache.usable([str(base)]) and not basecache.usable(["s3://bucket/base"])  # a URL has no stamp


# ---------------------------------------------------------------- errors: exit 2, said clearly

def test_mismatched_run_names_are_an_error_naming_both_sides(tmp_path):
    base = tmp_path / "base"
    side(base, "alpha", FIXTURES / "healthy_mlp")
    side(base, "beta", FIXTURES / "lr_sane")
    new = tmp_path / "new"
    side(new, "alpha", FIXTURES / "healthy_mlp")
    side(new, "gamma", FIXTURES / "lr_sane")
    r = run_cli("compare", base, new)
    assert r.returncode == 2
    assert "only in" in r.stderr and "gamma" in r.stderr and "beta" in r.stderr, r.stderr


def test_an_empty_side_is_an_error(tmp_path):
    base = side(tmp_path / "base", "smoke", FIXTURES / "healthy_mlp")
    (tmp_path / "empty").mkdir()
    r = run_cli("compare", base, tmp_path / "empty")
    assert r.returncode == 2 and "no readable run" in r.stderr and "empty" in r.stderr, r.stderr
    r = run_cli("compare", tmp_path / "empty", base)
    assert r.returncode == 2 and "baseline" in r.stderr and "no readable run" in r.stderr, r.stderr


def test_a_baseline_json_of_another_schema_version_is_refused(tmp_path):
    base = side(tmp_path / "base", "smoke", FIXTURES / "healthy_mlp")
    run_cli(base, "--json", tmp_path / "base.json", "--fail-on", "never")
    doc = json.loads((tmp_path / "base.json").read_text())
    doc["schema_version"] = 3
    (tmp_path / "v3.json").write_text(json.dumps(doc))
    r = run_cli("compare", tmp_path / "v3.json", base)
    assert r.returncode == 2 and "v3.json" in r.stderr and "schema_version 3" in r.stderr, r.stderr


def test_markdown_and_tolerance_need_a_baseline(tmp_path):
    r = run_cli(FIXTURES / "healthy_mlp", "--format", "markdown")
    assert r.returncode == 2 and "--baseline" in r.stderr


# ---------------------------------------------------------------- JSON: schema 2 is version 1 plus keys

V1_KEYS = {  # the version-1 schema, from its docstring: every object's keys
    "report": {"schema_version", "tool", "summary", "runs", "problems"},
    "run": {"name", "format", "sources", "members", "series", "problems", "hparams", "epochs", "roles", "findings",
            "notes"},
    "series": {"tag", "points", "first_step", "last_step", "nonfinite", "role"},
    "finding": {"rule", "name", "family", "severity", "tags", "step_range", "ranges", "summary", "stats", "causes"},
}


def read_as_v1(doc: dict) -> list[tuple]:
    """What a version-1 reader does: walk the v1 keys, check their types, ignore anything else."""
    assert doc["schema_version"] >= 1
    out = []
    for run in doc["runs"]:
        assert isinstance(run["name"], str) and isinstance(run["series"], list)
        for s in run["series"]:
            assert isinstance(s["points"], int)
        for f in run["findings"]:
            assert isinstance(f["step_range"], list) and isinstance(f["causes"], list)
            out.append((run["name"], f["rule"], f["severity"], tuple(f["step_range"])))
    return out


def test_schema_2_adds_keys_and_a_v1_reader_still_reads_it(tmp_path):
    base = side(tmp_path / "base", "smoke", FIXTURES / "lr_sane")
    new = side(tmp_path / "new", "smoke", FIXTURES / "lr_too_high")
    run_cli("compare", base, new, "--json", tmp_path / "c.json")
    run_cli(new, "--json", tmp_path / "plain.json", "--fail-on", "never")
    compared = json.loads((tmp_path / "c.json").read_text())
    plain = json.loads((tmp_path / "plain.json").read_text())
    for doc in (compared, plain):
        assert doc["schema_version"] == 2
        assert V1_KEYS["report"] <= set(doc)
        for run in doc["runs"]:
            assert V1_KEYS["run"] <= set(run)
            assert all(V1_KEYS["series"] <= set(s) for s in run["series"])
            assert all(V1_KEYS["finding"] <= set(f) for f in run["findings"])
    assert read_as_v1(compared) == read_as_v1(plain) != []
    # stripped of what version 2 added, the compared report is the plain one
    def strip(doc):
        doc = {k: v for k, v in doc.items() if k != "baseline"}
        doc["runs"] = [{k: v for k, v in r.items() if k != "baseline"} for r in doc["runs"]]
        for r in doc["runs"]:
            r["findings"] = [{k: v for k, v in f.items() if k != "baseline_state"} for f in r["findings"]]
        return doc
    assert strip(compared) == plain


def test_a_version_1_baseline_compares_its_findings(tmp_path):
    base = side(tmp_path / "base", "smoke", FIXTURES / "running_mean")
    run_cli(base, "--json", tmp_path / "v2.json", "--fail-on", "never")
    doc = json.loads((tmp_path / "v2.json").read_text())
    doc["schema_version"] = 1  # what version 1 wrote: the same minus the v2 keys
    for run in doc["runs"]:
        del run["curves"]
    (tmp_path / "v1.json").write_text(json.dumps(doc))
    r = run_cli("compare", tmp_path / "v1.json", base, "--fail-on", "warning", "--json", tmp_path / "c.json")
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads((tmp_path / "c.json").read_text())
    assert {f["baseline_state"] for f in out["runs"][0]["findings"]} == {"unchanged"}
    assert out["runs"][0]["baseline"]["checks"] == []
    assert "schema-1" in r.stdout


# ---------------------------------------------------------------- HTML

def test_html_draws_the_baseline_and_says_what_it_was_compared_with(tmp_path):
    base = side(tmp_path / "base", "smoke", FIXTURES / "lr_sane")
    new = side(tmp_path / "new", "smoke", FIXTURES / "lr_too_high")
    run_cli("compare", base, new, "--html", tmp_path / "r.html")
    html = (tmp_path / "r.html").read_text()
    assert "compared with" in html
    data = json.loads(html.split('<script type="application/json" id="report-data">')[1].split("</script>")[0])
    baseline = data["runs"][0]["baseline"]
    assert set(baseline) >= {"train/loss", "val/loss"}
    (curve,) = baseline["train/loss"]
    assert curve["s"][-1] >= 740 and len(curve["s"]) == len(curve["v"]) <= 256


# ---------------------------------------------------------------- matching findings

def finding(rule="PD001", tags=("train/loss",), steps=(0, 500), summary="the loss cycles with every epoch"):
    return Finding(rule=rule, family="periodicity", severity="warning", tags=tags, step_range=steps, summary=summary)


def test_a_reworded_summary_or_a_shifted_step_still_matches():
    base = finding(steps=(470, 470), summary="one spike at step 470")
    assert same_finding(finding(steps=(482, 482), summary="a single spike near step 482"), base, slack=25)
    assert not same_finding(finding(steps=(482, 482)), base, slack=5)
    assert not same_finding(finding(rule="SP001", steps=(470, 470)), base, slack=25)
    assert not same_finding(finding(tags=("val/loss",), steps=(470, 470)), base, slack=25)
    assert same_finding(finding(tags=("val/loss", "train/loss"), steps=(470, 470)), base)


def test_findings_are_new_unchanged_or_absent():
    pd = finding()
    sp = replace(finding(rule="SP001", steps=(300, 300)), stats={"profile": np.arange(5.0)})  # arrays, as PD001 has
    pl = finding(rule="PL001", steps=(0, 999))
    new, unchanged, absent = match_findings([pd, sp], [finding(summary="reworded", steps=(10, 490)), pl], slack=10)
    assert new == (sp,) and unchanged == (pd,) and [f.rule for f in absent] == ["PL001"]


def test_repeats_pair_with_one_new_run():
    assert repeat_key("smoke/seed3") == repeat_key("smoke_seed12") == repeat_key("smoke") == "smoke"
    assert repeat_key("seed3") == "seed3"
    base = Side("b", tuple(RunSide(n, (), {}) for n in ("a/seed0", "a/seed1", "b")))
    new = Side("n", (RunSide("a", (), {}), RunSide("b", (), {})))
    assert [(n.name, [x.name for x in m]) for n, m in pair_runs(base, new)] == [("a", ["a/seed0", "a/seed1"]),
                                                                               ("b", ["b"])]
    with pytest.raises(CompareError, match="only in n: c"):
        pair_runs(base, Side("n", (RunSide("a", (), {}), RunSide("b", (), {}), RunSide("c", (), {}))))


# ---------------------------------------------------------------- tolerance from the noise

def noisy_curve(seed: int, sigma: float, shift: float = 0.0, n: int = 2000, rate: float = 1 / 300) -> Curve:
    steps = np.arange(n)
    rng = np.random.default_rng(seed)
    value = 0.3 + np.exp(-steps * rate) + shift + rng.normal(0, sigma, n)
    return summarize(Series.from_lists("train/loss", steps, value), higher_is_better=False)


def by_measure(checks):
    return {c.measure: c for c in checks}


def test_the_tolerance_follows_the_noise_of_the_last_stretch():
    for sigma in (0.01, 0.1):
        base = noisy_curve(0, sigma)
        k = max(STRETCH_MIN, 200)
        assert base.stretch == k
        assert abs(base.noise - sigma) < 0.15 * sigma  # the trend is not counted as noise
        assert base.autocorrelation < 0.15  # independent draws
        final = by_measure(curve_checks(noisy_curve(1, sigma), [base]))["final"]
        assert final.tolerance == pytest.approx(TOL_SIGMAS * base.noise / np.sqrt(independent(k, base.autocorrelation)))
        assert not final.regressed  # another draw of the same curve
        worse = by_measure(curve_checks(noisy_curve(1, sigma, shift=2 * final.tolerance), [base]))
        assert worse["final"].regressed and worse["area"].worse_by > 0


def test_an_autocorrelated_log_counts_fewer_independent_points():
    """A loss logged as a running mean: each point mostly the one before, so its tail proves less."""
    steps = np.arange(2000)
    rng = np.random.default_rng(0)
    raw = 0.3 + np.exp(-steps / 300) + rng.normal(0, 0.1, 2000)
    running = np.array([raw[max(0, i - 19):i + 1].mean() for i in range(2000)])
    iid = summarize(Series.from_lists("train/loss", steps, raw), higher_is_better=False)
    smooth = summarize(Series.from_lists("train/loss", steps, running), higher_is_better=False)
    assert smooth.autocorrelation > 0.8 > 0.15 > iid.autocorrelation
    assert independent(smooth.stretch, smooth.autocorrelation) < smooth.stretch / 5
    tol = by_measure(curve_checks(smooth, [smooth]))["final"].tolerance
    assert tol > TOL_SIGMAS * smooth.noise / np.sqrt(smooth.stretch) * 2


def test_a_slower_curve_is_late_to_the_baseline_level():
    base = noisy_curve(0, 0.02)
    slow = by_measure(curve_checks(noisy_curve(1, 0.02, rate=1 / 600), [base]))
    same = by_measure(curve_checks(noisy_curve(2, 0.02), [base]))
    assert slow["steps_to_level"].regressed and slow["area"].regressed
    assert not same["steps_to_level"].regressed and not same["area"].regressed


def test_repeats_widen_the_tolerance_when_they_spread_more_than_the_noise():
    repeats = [noisy_curve(s, 0.02, shift=d) for s, d in ((0, 0.0), (1, 0.05), (2, -0.05))]
    final = by_measure(curve_checks(noisy_curve(3, 0.02, shift=0.06), repeats))["final"]
    assert final.tolerance_from == "repeats"
    assert final.tolerance == pytest.approx(TOL_SIGMAS * np.std([r.final for r in repeats], ddof=1))
    assert not final.regressed
    assert by_measure(curve_checks(noisy_curve(3, 0.02, shift=0.06), repeats[:1]))["final"].regressed


def test_an_explicit_tolerance_is_a_fraction_of_the_baseline_value():
    base = noisy_curve(0, 0.01)
    checks = by_measure(curve_checks(noisy_curve(1, 0.01, shift=0.02), [base], tolerance=0.1))
    assert checks["final"].tolerance == pytest.approx(0.1 * base.final)
    assert checks["final"].tolerance_from == "override" and not checks["final"].regressed


def test_higher_is_better_metrics_regress_downwards():
    steps = np.arange(500)
    rng = np.random.default_rng(0)
    acc = 0.9 - 0.5 * np.exp(-steps / 100) + rng.normal(0, 0.01, 500)
    base = summarize(Series.from_lists("val/acc", steps, acc), higher_is_better=True)
    up = summarize(Series.from_lists("val/acc", steps, acc + 0.05), higher_is_better=True)
    down = summarize(Series.from_lists("val/acc", steps, acc - 0.05), higher_is_better=True)
    assert by_measure(curve_checks(up, [base]))["final"].improved
    assert by_measure(curve_checks(down, [base]))["final"].regressed


def test_compare_of_sides_gives_the_verdict():
    base = Side("b", (RunSide("r", (finding(),), {"train/loss": noisy_curve(0, 0.01)}, (0, 1999)),))
    same = Side("n", (RunSide("r", (finding(summary="other words"),), {"train/loss": noisy_curve(1, 0.01)}, (0, 1999)),))
    c = compare(base, same, fail_on="warning")
    assert c.exit_code == 0 and c.runs[0].unchanged and not c.runs[0].new
    worse = Side("n", (RunSide("r", (finding(rule="NF001"),), {"train/loss": noisy_curve(1, 0.01)}, (0, 1999)),))
    assert compare(base, worse, fail_on="warning").exit_code == 1
    assert compare(base, worse, fail_on="error").exit_code == 0


# ---------------------------------------------------------------- pre-commit, for real

@pytest.mark.slow
def test_pre_commit_hooks_run_in_a_repository(tmp_path):
    """The hook definitions of this checkout, installed by the real pre-commit from a git repository."""
    if shutil.which("pre-commit") is None and shutil.which("git") is None:
        pytest.skip("pre-commit or git is not installed")
    repo_root = Path(__file__).resolve().parents[1]
    hooks = tmp_path / "hookrepo"
    hooks.mkdir()
    for name in ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml"):
        shutil.copy(repo_root / name, hooks / name)
    for name in ("loganalyze", "rules"):
        shutil.copytree(repo_root / name, hooks / name, ignore=shutil.ignore_patterns("__pycache__"))
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q"], cwd=hooks, check=True)
    subprocess.run(["git", "add", "-A"], cwd=hooks, check=True)
    subprocess.run([*git, "commit", "-qm", "hooks"], cwd=hooks, check=True)
    rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=hooks, check=True, capture_output=True, text=True).stdout.strip()

    user = tmp_path / "user"
    side(user / "logs", "smoke", FIXTURES / "running_mean")
    side(user / "base", "smoke", FIXTURES / "running_mean")
    (user / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {hooks.as_uri()}\n  rev: {rev}\n  hooks:\n"
        "  - id: loganalyze-compare\n    args: [base, logs, --fail-on, warning]\n"
        "  - id: loganalyze\n    args: [logs, --fail-on, warning]\n")
    subprocess.run(["git", "init", "-q"], cwd=user, check=True)
    subprocess.run(["git", "add", "-A"], cwd=user, check=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PRE_COMMIT_HOME"] = str(tmp_path / "pre-commit-home")
    r = subprocess.run([sys.executable, "-m", "pre_commit", "run", "--all-files"], cwd=user, env=env,
                       capture_output=True, text=True, timeout=900)
    out = r.stdout + r.stderr
    # the known PD001 passes the compare hook and fails the absolute one
    assert r.returncode == 1, out
    assert "loganalyze compare (against a baseline)" in out and "Passed" in out
    assert "loganalyze (training logs)" in out and "Failed" in out and "PD001" in out


@pytest.mark.browser
def test_the_baseline_curve_is_drawn_behind_in_chromium(browser, tmp_path):
    base = side(tmp_path / "base", "smoke", FIXTURES / "lr_sane")
    new = side(tmp_path / "new", "smoke", FIXTURES / "lr_too_high")
    run_cli("compare", base, new, "--html", tmp_path / "r.html")
    page, problems = open_report(browser, tmp_path / "r.html")
    assert page.locator("p.compared").first.inner_text().startswith("compared with")
    assert "baseline" in page.locator("figure.panel .legend").first.inner_text()
    loss = page.locator("canvas.chart[data-panel='0']").first
    with_baseline = loss.evaluate(INK)
    # the same chart with the baseline taken out of the page's data: less ink
    loss.evaluate("c => { c._chart.run.baseline = {}; c._chart.draw(); }")
    assert with_baseline > loss.evaluate(INK) > 0
    assert not problems, problems
