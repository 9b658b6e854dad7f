"""Compare a run with its baseline: which findings are new, and did the curves get worse.

A pre-merge gate must fail on what a change made worse, not on what was already there. Two
questions, answered per run:

* findings: `new`, `unchanged` or `absent` (resolved). A new finding matches a baseline one when
  the rule is the same, the tags share one, and the step ranges overlap once each is widened by
  `STEP_SLACK` of the run's span — never by message text, so a reworded summary or a finding that
  moved a few steps is still the same finding.
* curves: for each loss and metric, the final level (median of the last stretch), the best value
  of the smoothed curve, the step at which the baseline's final level is first reached, and the
  mean gap between the smoothed curves on the common step range (the area between them divided
  by its width). Each is held against a tolerance drawn from the logs' own noise σ (the spread of
  the baseline's last stretch around its straight-line trend): the final level may move by
  `TOL_SIGMAS`·σ/√stretch, best and mean gap by `TOL_SIGMAS`·σ/√window (one smoothed point: two
  seeds wander apart by more than independent noise allows over a whole run), and the step by that
  level tolerance over the curve's slope where it crosses, but at least `SEED_STEPS` of itself —
  seeds of one healthy run reach a level up to ~40 % of the steps apart, which no single run's
  noise shows. When the baseline holds repeats of the run (`smoke/seed0`, `smoke/seed1`, …) each
  measure is held to `TOL_SIGMAS` standard deviations across the repeats where that is wider.
  Point counts are counted as independent ones, n (1 − ρ)/(1 + ρ) with ρ the lag-1 autocorrelation
  of the stretch, so a logged running mean (each point mostly the previous one) is not taken for
  fifty independent draws. `tolerance` (a fraction of the baseline's value) replaces all of it.

Pure functions on numpy arrays and the model's dataclasses; reading logs and JSON lives in
`loganalyze.gate`.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np

from . import numstats
from .model import SEVERITY_RANK, AlignedRun, Finding, Series

STRETCH = 0.10  # the last stretch: this share of the points (at least STRETCH_MIN) gives the final level and the noise
STRETCH_MIN = 5
SMOOTH = 0.05  # the curve compared point by point is a trailing mean over this share of the points
CURVE_POINTS = 256  # the smoothed curve is kept at this many points (also in the JSON report)
TOL_SIGMAS = 3.0
SEED_STEPS = 0.5  # a single baseline run: the step to reach its level may move by this share of it (see below)
STEP_SLACK = 0.05  # step ranges are widened by this share of the run's span before they must overlap
MEASURES = ("final", "best", "steps_to_level", "area")
REPEAT = re.compile(r"(?:^|[/_.-])(?:seed|rep|repeat|run)[-_=]?\d+$", re.IGNORECASE)


class CompareError(Exception):
    """The two sides cannot be compared (no run in common, an empty side); the CLI exits 2."""


# ---------------------------------------------------------------- curves

@dataclass(frozen=True, eq=False)
class Curve:
    """What a later comparison needs of one loss or metric: its levels, its noise, its smoothed course."""

    tag: str
    higher_is_better: bool
    points: int  # finite points
    final: float  # median of the last stretch
    best: float  # best value of the smoothed curve
    noise: float  # standard deviation of one point in the last stretch, its linear trend removed
    autocorrelation: float  # lag-1, of the last stretch around its trend, in [0, 0.99]
    stretch: int  # points in the last stretch
    window: int  # points in the smoothing window
    step: np.ndarray  # the smoothed curve, at most CURVE_POINTS points
    value: np.ndarray

    def worse(self, new: float, base: float) -> float:
        """How much worse `new` is than `base` (negative: better)."""
        return base - new if self.higher_is_better else new - base


def _trailing_mean(value: np.ndarray, w: int) -> np.ndarray:
    if w <= 1:
        return value.copy()
    c = np.concatenate(([0.0], np.cumsum(value)))
    i = np.arange(1, len(value) + 1)
    lo = np.maximum(0, i - w)
    return (c[i] - c[lo]) / (i - lo)


def _noise(step: np.ndarray, value: np.ndarray) -> tuple[float, float]:
    """Spread of the points around their straight-line trend (a still-falling tail is not noise), and the
    lag-1 (rank) autocorrelation of what is left: a running-mean loss moves point to point far less than
    it spreads."""
    if len(value) < 3:
        return 0.0, 0.0
    x = step.astype(np.float64) - float(step[0])
    if np.ptp(x) == 0:
        resid = value - value.mean()
        dof = len(value) - 1
    else:
        slope, icpt = np.polyfit(x, value, 1)
        resid = value - (slope * x + icpt)
        dof = len(value) - 2
    sigma = math.sqrt(float(np.sum(resid ** 2)) / dof)
    # on ranks, so that the one-batch jump at an epoch start does not hide how smooth the rest is
    a = np.argsort(np.argsort(resid[:-1])).astype(np.float64)
    b = np.argsort(np.argsort(resid[1:])).astype(np.float64)
    a -= a.mean()
    b -= b.mean()
    den = math.sqrt(float(np.sum(a * a) * np.sum(b * b)))
    rho = float(np.sum(a * b)) / den if den > 0 else 0.0
    return sigma, min(max(rho, 0.0), 0.99)


def independent(points: int, rho: float) -> float:
    """How many independent points `points` autocorrelated ones are worth (AR(1): n (1 − ρ) / (1 + ρ))."""
    return max(1.0, points * (1 - rho) / (1 + rho))


def summarize(series: Series, higher_is_better: bool) -> Curve | None:
    """The comparison summary of one series; None when it has fewer than two finite points."""
    step, value = series.step, series.value
    finite = np.isfinite(value)
    if not finite.all():
        step, value = step[finite], value[finite]
    n = len(value)
    if n < 2:
        return None
    if np.any(np.diff(step) < 0):
        order = np.argsort(step, kind="stable")
        step, value = step[order], value[order]
    k = min(n, max(STRETCH_MIN, math.ceil(n * STRETCH)))
    w = max(1, int(n * SMOOTH))
    smooth = _trailing_mean(value, w)
    keep = numstats.unique(np.linspace(0, n - 1, min(n, CURVE_POINTS)).round().astype(np.int64))
    noise, rho = _noise(step[-k:], value[-k:])
    return Curve(
        tag=series.tag,
        higher_is_better=higher_is_better,
        points=n,
        final=float(numstats.median(value[-k:])),
        best=float(smooth.max() if higher_is_better else smooth.min()),
        noise=noise,
        autocorrelation=rho,
        stretch=k,
        window=w,
        step=step[keep].astype(np.int64),
        value=smooth[keep],
    )


def compared_tags(run: AlignedRun) -> dict[str, bool]:
    """Every loss and metric of a run, with its direction: the roles' losses, the pairs, the named metrics."""
    r = run.roles
    out: dict[str, bool] = {}
    for tag in (r.train_loss, r.val_loss):
        if tag:
            out[tag] = False
    for p in r.pairs:
        for tag in (p.train, p.val):
            if tag:
                out[tag] = p.higher_is_better
    for tag, hib in r.higher_is_better.items():
        out.setdefault(tag, bool(hib))
    skip = {r.lr, r.grad_norm, r.epoch}
    return {t: hib for t, hib in sorted(out.items()) if t not in skip and t in run.series}


def run_curves(run: AlignedRun) -> dict[str, Curve]:
    out = {}
    for tag, hib in compared_tags(run).items():
        s = run.series[tag]
        # a run summarized where it was analyzed (summary.SeriesSummary) brings its curve along;
        # values near the float limit (a diverged run) overflow in sums and squares: the summary holds inf/nan
        with np.errstate(over="ignore", invalid="ignore"):
            c = s.curve if hasattr(s, "curve") else summarize(s, hib)
        if c is not None:
            out[tag] = c
    return out


# ---------------------------------------------------------------- the two sides

@dataclass(frozen=True, eq=False)
class RunSide:
    """One run as a comparison sees it: its findings and its curve summaries."""

    name: str
    findings: tuple[Finding, ...]
    curves: Mapping[str, Curve]
    span: tuple[int, int] | None = None  # first and last step of any series


@dataclass(frozen=True)
class Side:
    label: str  # the path(s) it was read from
    runs: tuple[RunSide, ...]
    notes: tuple[str, ...] = ()  # e.g. a JSON report of schema 1 carries no curves


def repeat_key(name: str) -> str:
    """The run a repeat belongs to: `smoke/seed3`, `smoke_seed3` and `smoke-rep2` are repeats of `smoke`."""
    return REPEAT.sub("", name) or name


def pair_runs(base: Side, new: Side) -> list[tuple[RunSide, tuple[RunSide, ...]]]:
    """Each new run with its baseline run(s); a CompareError naming the runs found on one side only.

    Runs match by name, then by the name without a repeat suffix (a baseline's `smoke/seed*`
    are repeats of the new `smoke`). One run on each side is compared whatever the names.
    """
    if not base.runs:
        raise CompareError(f"the baseline {base.label} holds no readable run")
    if not new.runs:
        raise CompareError(f"{new.label} holds no readable run to compare")
    by_name = {r.name: r for r in base.runs}
    groups: dict[str, list[RunSide]] = {}
    for r in base.runs:
        groups.setdefault(repeat_key(r.name), []).append(r)
    if len(new.runs) == 1 and len(groups) == 1:
        return [(new.runs[0], tuple(base.runs))]
    pairs, used, missing = [], set(), []
    for r in new.runs:
        if r.name in by_name and len(groups.get(repeat_key(r.name), ())) <= 1:
            match = (by_name[r.name],)
        else:
            match = tuple(groups.get(repeat_key(r.name), ()))
        if not match:
            missing.append(r.name)
            continue
        used.update(m.name for m in match)
        pairs.append((r, match))
    only_base = sorted(set(by_name) - used)
    if missing or only_base:
        parts = []
        if missing:
            parts.append(f"only in {new.label}: {', '.join(missing)}")
        if only_base:
            parts.append(f"only in the baseline {base.label}: {', '.join(only_base)}")
        raise CompareError("runs do not match by name (" + "; ".join(parts) + "); compare the same runs, "
                           "or point both sides at one run each")
    return pairs


# ---------------------------------------------------------------- findings

def _slack(runs: Iterable[RunSide]) -> float:
    spans = [r.span for r in runs if r.span]
    if not spans:
        return 0.0
    return STEP_SLACK * (max(b for _, b in spans) - min(a for a, _ in spans))


def same_finding(a: Finding, b: Finding, slack: float = 0.0) -> bool:
    """Same rule, a tag in common, step ranges that overlap once widened by `slack` steps."""
    if a.rule != b.rule or not set(a.tags) & set(b.tags):
        return False
    return a.step_range[0] - slack <= b.step_range[1] + slack and b.step_range[0] - slack <= a.step_range[1] + slack


def match_findings(new: Sequence[Finding], base: Sequence[Finding], slack: float = 0.0
                   ) -> tuple[tuple[Finding, ...], tuple[Finding, ...], tuple[Finding, ...]]:
    """(new, unchanged, absent): new findings with no baseline twin, those with one, baseline ones with none."""
    twin = [any(same_finding(f, g, slack) for g in base) for f in new]
    fresh = tuple(f for f, t in zip(new, twin) if not t)
    kept = tuple(f for f, t in zip(new, twin) if t)
    gone: list[Finding] = []
    for g in base:
        if not any(same_finding(g, f, slack) for f in new) and not any(same_finding(g, h, slack) for h in gone):
            gone.append(g)
    return fresh, kept, tuple(gone)


# ---------------------------------------------------------------- curve regressions

@dataclass(frozen=True)
class Check:
    """One measure of one curve against the baseline. `worse_by` > `tolerance` is a regression."""

    tag: str
    measure: str  # one of MEASURES
    baseline: float | None
    new: float | None  # None: the new curve never reached the baseline's level
    worse_by: float | None  # in the measure's units; negative when better; None when not reached
    tolerance: float
    tolerance_from: str  # "noise", "repeats" or "override"

    @property
    def regressed(self) -> bool:
        if self.worse_by is None:
            return self.new is None and self.baseline is not None
        return self.worse_by > self.tolerance

    @property
    def improved(self) -> bool:
        return self.worse_by is not None and -self.worse_by > self.tolerance


def _first_at_level(c: Curve, step: np.ndarray, value: np.ndarray, level: float) -> int | None:
    ok = value >= level if c.higher_is_better else value <= level
    i = np.flatnonzero(ok)
    return int(step[i[0]]) if len(i) else None


def _crossing_tolerance(c: Curve, level: float, level_tol: float) -> float:
    """How many steps the crossing may move by noise alone: the smoothed curve's noise over its slope there."""
    i = np.flatnonzero((c.value >= level) if c.higher_is_better else (c.value <= level))
    resolution = float(np.ptp(c.step)) / max(1, len(c.step) - 1)
    if not len(i) or i[0] == 0:
        return 2 * resolution
    j = int(i[0])
    back = max(0, j - max(2, len(c.step) // 20))
    run = float(c.step[j] - c.step[back])
    slope = abs(float(c.value[back] - c.value[j])) / run if run else 0.0
    crossing = level_tol / slope if slope > 0 else float(np.ptp(c.step))
    return max(2 * resolution, crossing)


def _mean_curve(curves: Sequence[Curve]) -> tuple[np.ndarray, np.ndarray]:
    step = curves[0].step
    lo = max(int(c.step[0]) for c in curves)
    hi = min(int(c.step[-1]) for c in curves)
    step = step[(step >= lo) & (step <= hi)]
    if len(step) < 2:
        step = curves[0].step
    return step, np.mean([np.interp(step, c.step, c.value) for c in curves], axis=0)


def _mean_gap(new: Curve, b_step: np.ndarray, b_value: np.ndarray) -> tuple[float, float] | None:
    """Mean of (new − baseline) in the worse direction over the common step range, and the baseline's mean level there."""
    lo, hi = max(int(new.step[0]), int(b_step[0])), min(int(new.step[-1]), int(b_step[-1]))
    if hi <= lo:
        return None
    grid = np.union1d(new.step, b_step)
    grid = grid[(grid >= lo) & (grid <= hi)]
    gap = np.interp(grid, new.step, new.value) - np.interp(grid, b_step, b_value)
    if new.higher_is_better:
        gap = -gap
    base = np.interp(grid, b_step, b_value)
    area = float(np.trapezoid(gap, grid)) if hasattr(np, "trapezoid") else float(np.trapz(gap, grid))
    level = float(np.trapezoid(base, grid)) if hasattr(np, "trapezoid") else float(np.trapz(base, grid))
    return area / (hi - lo), level / (hi - lo)


def _tol(noise_tol: float, spread: Sequence[float], override: float | None, ref: float) -> tuple[float, str]:
    if override is not None:
        return override * abs(ref), "override"
    if len(spread) >= 2:
        rep = TOL_SIGMAS * float(np.std(spread, ddof=1))
        if rep > noise_tol:
            return rep, "repeats"
    return noise_tol, "noise"


def curve_checks(new: Curve, base: Sequence[Curve], tolerance: float | None = None) -> list[Check]:
    """The four measures of one curve against its baseline run, or the mean of its repeats."""
    tag = new.tag
    finals = [b.final for b in base]
    bests = [b.best for b in base]
    noise = float(numstats.median([b.noise for b in base]))
    rho = float(numstats.median([b.autocorrelation for b in base]))
    stretch = independent(min(b.stretch for b in base), rho)
    window = independent(min(b.window for b in base), rho)
    floor = 1e-9 * max(1.0, max(abs(b.final) for b in base))
    final_tol = max(TOL_SIGMAS * noise / math.sqrt(stretch), floor)
    level_tol = max(TOL_SIGMAS * noise / math.sqrt(window), floor)
    ref_final, ref_best = float(np.mean(finals)), float(np.mean(bests))
    if tolerance is not None:  # the level to reach is the final level within the user's tolerance
        final_tol = tolerance * abs(ref_final)
    checks = []
    tol, src = _tol(final_tol, finals, tolerance, ref_final)
    checks.append(Check(tag, "final", ref_final, new.final, new.worse(new.final, ref_final), tol, src))
    tol, src = _tol(level_tol, bests, tolerance, ref_best)
    checks.append(Check(tag, "best", ref_best, new.best, new.worse(new.best, ref_best), tol, src))

    # the step at which the baseline's final level (within its tolerance) is first reached
    level = ref_final - final_tol if new.higher_is_better else ref_final + final_tol
    reached = [_first_at_level(b, b.step, b.value, level) for b in base]
    if all(s is not None for s in reached):
        ref_step = float(np.mean(reached))
        new_step = _first_at_level(new, new.step, new.value, level)
        # Seeds of one healthy run reach a level at steps up to ~40% apart (healthy_mlp, seeds 0-2), a
        # wander no single run's noise shows: without repeats the step may move by half of itself.
        noise_steps = max(float(numstats.median([_crossing_tolerance(b, level, level_tol) for b in base])),
                          SEED_STEPS * ref_step if len(base) == 1 else 0.0)
        tol, src = _tol(noise_steps, reached, tolerance, ref_step)
        checks.append(Check(tag, "steps_to_level", ref_step, None if new_step is None else float(new_step),
                            None if new_step is None else new_step - ref_step, tol, src))

    b_step, b_value = _mean_curve(base) if len(base) > 1 else (base[0].step, base[0].value)
    gap = _mean_gap(new, b_step, b_value)
    if gap is not None:
        mean_gap, base_level = gap
        spread = []
        if len(base) > 1:
            spread = [g[0] for g in (_mean_gap(b, b_step, b_value) for b in base) if g is not None]
        tol, src = _tol(level_tol, spread, tolerance, base_level)
        checks.append(Check(tag, "area", base_level, base_level + (-mean_gap if new.higher_is_better else mean_gap),
                            mean_gap, tol, src))
    return checks


# ---------------------------------------------------------------- a whole comparison

@dataclass(frozen=True)
class RunComparison:
    name: str
    baseline_names: tuple[str, ...]
    new: tuple[Finding, ...]
    unchanged: tuple[Finding, ...]
    absent: tuple[Finding, ...]
    checks: tuple[Check, ...]
    notes: tuple[str, ...] = ()
    baseline_curves: Mapping[str, tuple[Curve, ...]] = field(default_factory=dict, compare=False)  # to draw

    @property
    def regressions(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.regressed)

    def failing(self, fail_on: str) -> tuple[Finding, ...]:
        threshold = SEVERITY_RANK[fail_on]
        return tuple(f for f in self.new if SEVERITY_RANK[f.severity] >= threshold)

    def verdict(self, fail_on: str) -> str:
        return "fail" if self.failing(fail_on) or self.regressions else "pass"

    def state_of(self, f: Finding) -> str:
        """SARIF's baselineState of one of the new run's findings."""
        return "unchanged" if any(f is g for g in self.unchanged) else "new"


@dataclass(frozen=True)
class Comparison:
    baseline: str  # what the baseline was read from
    runs: tuple[RunComparison, ...]
    fail_on: str
    tolerance: float | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def get(self, name: str) -> RunComparison | None:
        return next((r for r in self.runs if r.name == name), None)

    @property
    def verdict(self) -> str:
        return "fail" if any(r.verdict(self.fail_on) == "fail" for r in self.runs) else "pass"

    @property
    def exit_code(self) -> int:
        return 1 if self.verdict == "fail" else 0


def compare_run(new: RunSide, base: Sequence[RunSide], tolerance: float | None = None) -> RunComparison:
    slack = _slack([new, *base])
    pooled = [f for b in base for f in b.findings]
    fresh, kept, gone = match_findings(new.findings, pooled, slack)
    checks: list[Check] = []
    notes: list[str] = []
    for tag, curve in sorted(new.curves.items()):
        bc = [b.curves[tag] for b in base if tag in b.curves]
        if bc:
            checks += curve_checks(curve, bc, tolerance)
        elif any(b.curves for b in base):
            notes.append(f"{tag}: not in the baseline, not compared")
    if not any(b.curves for b in base):
        notes.append("the baseline carries no curves (a JSON report of schema 1, or no loss or metric): "
                     "only findings compared")
    drawn = {tag: tuple(b.curves[tag] for b in base if tag in b.curves) for tag in sorted({t for b in base for t in b.curves})}
    return RunComparison(new.name, tuple(b.name for b in base), fresh, kept, gone, tuple(checks), tuple(notes), drawn)


def side_from_report(report, label: str) -> Side:
    """The comparison's view of an analyzed `Report`: findings and curve summaries per run."""
    runs = []
    for rr in report.runs:
        if not rr.run.series:
            continue
        spans = [(s.first_step, s.last_step) for s in rr.run.series.values() if s.points]
        span = (min(a for a, _ in spans), max(b for _, b in spans)) if spans else None
        runs.append(RunSide(rr.run.name, rr.findings, run_curves(rr.run), span))
    return Side(label, tuple(runs))


def compare(base: Side, new: Side, fail_on: str = "error", tolerance: float | None = None) -> Comparison:
    """Every run of `new` against its baseline run(s). Raises CompareError when the runs do not pair up."""
    runs = tuple(compare_run(n, b, tolerance) for n, b in pair_runs(base, new))
    return Comparison(base.label, tuple(sorted(runs, key=lambda r: r.name)), fail_on, tolerance,
                      tuple(base.notes) + tuple(new.notes))
