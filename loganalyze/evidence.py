"""Evidence that several rules weigh when they rank causes, computed in one place and one unit.

A detector says what it sees (a step range on a tag); the functions here say what the rest of the
run shows around it: the learning rate there, a gradient-norm burst before it, whether a level is
the loss of a constant prediction. Each returns numbers a reader can check, never a verdict alone.
Pure functions of an `AlignedRun` and steps; the thresholds come from the calling rule's card.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from . import numstats
from .derived import finite_sorted  # noqa: F401 — the rules import it from here
from .model import AlignedRun, Series


# ---- chance levels --------------------------------------------------------------------------------

def chance_levels(classes: Sequence[int], extra: Sequence[tuple[str, float]] = ()) -> list[tuple[str, float]]:
    """The loss of a model that predicts the same thing for every input.

    ln C: cross-entropy of the uniform prediction over C classes. 0.25: the MSE (Brier score) of
    predicting 0.5 for 0/1 labels. 1.0: the MSE of predicting the mean of a standardized target.
    """
    levels = [(f"ln {c} (uniform over {c} classes)", float(np.log(c))) for c in classes]
    return levels + list(extra)


DEFAULT_EXTRA_LEVELS = (
    ("0.25 (MSE of always predicting 0.5 on 0/1 targets)", 0.25),
    ("1.0 (MSE of predicting the mean of a standardized target)", 1.0),
)


def card_levels(params) -> list[tuple[str, float]]:
    """The chance levels of a rule whose card lists `chance_classes`."""
    return chance_levels([int(c) for c in params["chance_classes"]], DEFAULT_EXTRA_LEVELS)


def chance_match(level: float, tolerance: float, levels: Sequence[tuple[str, float]],
                 above: float | None = None) -> str | None:
    """The named chance level within `tolerance` (relative) of `level`, or None. `above`, when given, widens
    the band upward only: a constant prediction scores at or above the chance level, never below it (the
    cross-entropy of a constant q is H(prior) + KL(prior || q); an MSE, the variance plus the squared bias),
    so a collapsed network whose outputs still shake sits a little above it."""
    for name, value in levels:
        if value * (1 - tolerance) <= level <= value * (1 + max(tolerance, above or 0.0)):
            return name
    return None


# ---- learning rate around a step ------------------------------------------------------------------

@dataclass(frozen=True)
class LRContext:
    tag: str
    at: float  # LR at the step (interpolated)
    start: float  # LR at the first logged point
    peak: float  # highest LR logged up to the step
    constant: bool  # the LR never changes over the run
    rising: bool  # the LR at the step is well above where it started (warm-up or an increase)

    def describe(self) -> str:
        if self.constant:
            return f"the LR ('{self.tag}') is constant at {self.at:.3g}"
        return f"the LR ('{self.tag}') is {self.at:.3g} there (started at {self.start:.3g}, peak so far {self.peak:.3g})"


def lr_context(run: AlignedRun, step: int) -> LRContext | None:
    lr = run.get(run.roles.lr)
    if lr is None:
        return None
    ok = np.isfinite(lr.value)
    ls, lv = lr.step[ok], lr.value[ok]
    if len(lv) == 0:
        return None
    order = np.argsort(ls, kind="stable")
    ls, lv = ls[order], lv[order]
    at = float(np.interp(step, ls, lv))
    upto = lv[ls <= step]
    peak = float(upto.max()) if len(upto) else float(lv[0])
    constant = bool(np.ptp(lv) <= 1e-12 * max(abs(float(lv.max())), 1e-300))
    rising = (not constant) and at > 1.5 * float(lv[0])
    return LRContext(lr.tag, at, float(lv[0]), peak, constant, rising)


def lr_raised(run: AlignedRun, step: int, factor: float) -> str | None:
    """The LR in force at `step` against the median LR logged before it: `factor`× or more is a raise (a
    warm-up's LR is mostly near its peak by then; a raise mid-run leaves the median at the old level)."""
    lr = run.get(run.roles.lr)
    if lr is None:
        return None
    ls, lv = finite_sorted(lr)
    before = lv[ls < step]
    if len(before) < 3:
        return None
    at = float(lv[max(0, int(np.searchsorted(ls, step, side="right")) - 1)])
    usual = float(numstats.median(before))
    if usual <= 0 or at < factor * usual:
        return None
    raised_at = int(ls[int(np.argmax(lv > factor * usual))])
    return (f"the logged LR ('{run.roles.lr}') is {at:.3g} at step {step:,}, {at / usual:.0f}× the {usual:.3g} it mostly "
            f"was before (raised from step {raised_at:,}): steps that large throw the weights — the raise is the cause")


def share_at_high_lr(run: AlignedRun, steps, quantile: float = 0.75) -> tuple[float, float] | None:
    """(share of `steps` at which the logged LR is in its top quarter, that quartile), or None when no LR
    varies: events that cluster where the LR is highest point at the LR."""
    lr = run.get(run.roles.lr)
    if lr is None or lr.points < 3:
        return None
    ok = np.isfinite(lr.value)
    if not ok.any():
        return None
    q = float(np.quantile(lr.value[ok], quantile))
    if q <= float(np.min(lr.value[ok])):
        return None
    order = np.argsort(lr.step[ok], kind="stable")
    at = np.interp(np.asarray(steps, dtype=float), lr.step[ok][order], lr.value[ok][order])
    return float(np.mean(at >= q)), q


# ---- gradient-norm bursts -------------------------------------------------------------------------

@dataclass(frozen=True)
class GradBurst:
    tag: str
    step: int  # where the largest gradient norm before the event was logged
    peak: float
    typical: float  # median gradient norm over the run

    @property
    def ratio(self) -> float:
        return self.peak / self.typical if self.typical > 0 else float("inf")

    def describe(self) -> str:
        return (f"the gradient norm ('{self.tag}') reached {self.peak:.3g} at step {self.step:,}, "
                f"{self.ratio:.0f}× its median {self.typical:.3g}")


def grad_burst(run: AlignedRun, lo: int, hi: int, min_ratio: float) -> GradBurst | None:
    """The largest gradient norm logged in [lo, hi] when it is ≥ min_ratio × the run's median."""
    g = run.get(run.roles.grad_norm)
    if g is None or g.points < 3:
        return None
    ok = np.isfinite(g.value)
    gs, gv = g.step[ok], g.value[ok]
    typical = float(numstats.median(gv)) if len(gv) else 0.0
    m = (gs >= lo) & (gs <= hi)
    if not np.any(m) or typical <= 0:
        # a non-finite gradient norm in the window is the largest burst there is
        bad = (~np.isfinite(g.value)) & (g.step >= lo) & (g.step <= hi)
        if np.any(bad) and typical > 0:
            return GradBurst(g.tag, int(g.step[bad][0]), float("inf"), typical)
        return None
    i = int(np.argmax(gv[m]))
    peak = float(gv[m][i])
    if peak < min_ratio * typical:
        return None
    return GradBurst(g.tag, int(gs[m][i]), peak, typical)


# ---- when a series dies ---------------------------------------------------------------------------

def dies_at(s: Series) -> int | None:
    """The step from which the series is NaN/Inf for good, or None: after it, every jump of another
    curve is a consequence."""
    order = np.argsort(s.step, kind="stable")
    ok = np.isfinite(s.value[order])
    if len(ok) == 0 or ok.all() or ok[-1]:
        return None
    good = np.nonzero(ok)[0]
    return int(s.step[order][good[-1] + 1]) if len(good) else int(s.step[order][0])


# ---- series by role -------------------------------------------------------------------------------

def metric_tags(run: AlignedRun) -> list[str]:
    """Every tag whose direction is known (losses, errors, accuracy-like), LR/epoch/grad excluded."""
    special = {run.roles.lr, run.roles.epoch, run.roles.grad_norm}
    return [t for t in run.roles.higher_is_better if t not in special and t in run.series]


# ---- nothing transfers: validation never leaves where training started ---------------------------------------

@dataclass(frozen=True)
class NoTransfer:
    train_start: float  # the training loss over its first points
    train_end: float  # over its last points
    val_best: float  # the lowest validation loss

    def describe(self, train_tag: str, val_tag: str) -> str:
        return (f"'{train_tag}' fell from {self.train_start:.4g} to {self.train_end:.4g} while '{val_tag}' never got "
                f"below {self.val_best:.4g}, where training started: the model fits the training samples one by one "
                "and nothing of it carries over to new ones — random or mostly wrong labels, or a validation set from "
                "another task or pipeline")


def no_transfer(run: AlignedRun, tolerance: float, min_fall: float) -> NoTransfer | None:
    """The training loss falls `min_fall`× below its start while the validation loss never gets below that start
    (by `tolerance`): what training learned does not transfer at all. Overfitting transfers first (validation
    improves, then worsens), so this is the signature of memorization."""
    train, val = run.get(run.roles.train_loss), run.get(run.roles.val_loss)
    if train is None or val is None:
        return None
    _, tv = finite_sorted(train)
    _, vv = finite_sorted(val)
    if len(tv) < 4 or len(vv) < 3:
        return None
    k = max(1, min(3, len(tv) // 3), len(tv) // 20)
    start, end = float(numstats.median(tv[:k])), float(numstats.median(tv[-k:]))
    best = float(np.min(vv))
    if start <= 0 or end <= 0 or start / end < min_fall or best < start * (1 - tolerance):
        return None
    return NoTransfer(start, end, best)


# ---- the loss before any update: what the inputs do to an untrained network ---------------------------------

@dataclass(frozen=True)
class HugeStart:
    step: int  # the first logged step (0 or 1: the first batch, before its update)
    first: float  # the loss there
    settled: float  # the median of the run's second half

    @property
    def ratio(self) -> float:
        return self.first / self.settled

    def describe(self, tag: str) -> str:
        return (f"'{tag}' is already {self.first:.3g} at step {self.step}, before any update could act "
                f"({self.ratio:.0f}× the chance level {self.settled:.3g} it settles at): the untrained network's outputs are "
                "huge, which the scale of its inputs does and a learning rate cannot (it has not been applied "
                "yet) — standardize the input features")


def huge_from_the_start(run: AlignedRun, factor: float, levels: Sequence[tuple[str, float]],
                        tolerance: float) -> HugeStart | None:
    """The training loss of the very first batch is `factor`× or more above the chance level the run settles at.

    Only a per-step log that starts at step 0 or 1 shows the first batch alone: its loss was computed
    before the optimizer moved anything, so an LR cannot be the cause — unnormalized inputs can (a
    feature on a 10^3 scale makes every logit huge). A too-high LR starts at the chance level and blows
    up only after its first updates. Windowed and per-epoch logs average the first updates in: no
    evidence either way from them. The reference is a chance level (the run settles there, predicting
    the prior: what an untrained network with sane inputs starts near); a run that learns falls far below
    its first loss anyway, and says nothing about the inputs."""
    s = run.get(run.roles.train_loss)
    if s is None:
        return None
    step, v = finite_sorted(s)
    if len(v) < 8 or int(step[0]) > 1 or int(step[1]) - int(step[0]) != 1:
        return None
    settled = float(numstats.median(v[len(v) // 2:]))
    if settled <= 0 or v[0] < factor * settled or chance_match(settled, tolerance, levels) is None:
        return None
    return HugeStart(int(step[0]), float(v[0]), settled)


@dataclass(frozen=True)
class ZeroForNan:
    other: str  # the loss with no finite value from there on
    from_step: int  # where `tag` starts reading exactly 0


def zero_for_nan(run: AlignedRun, tag: str) -> ZeroForNan | None:
    """Another loss of the run that has no finite value from where `tag` starts reading exactly 0: the zeros
    stand in for a NaN. Hugging Face's Trainer (logging_nan_inf_filter, on by default) drops NaN/Inf step
    losses from the logged mean, so once every step is NaN the logged `loss` is 0.0 while `eval_loss` is
    NaN. The other tag and where the zeros begin, or None."""
    s = run.get(tag)
    if s is None:
        return None
    step, v = finite_sorted(s)
    zero = np.flatnonzero(v == 0)
    if not len(zero):
        return None
    first = int(step[zero[0]])
    for other, higher in sorted(run.roles.higher_is_better.items()):
        if higher or other == tag or other not in run.series:
            continue
        o = run.series[other]
        later = o.step >= first
        if later.any() and not np.isfinite(o.value[later]).any():
            return ZeroForNan(other, first)
    return None
