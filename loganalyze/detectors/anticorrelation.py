"""AC001 overfitting and AC002 train-val-anticorrelation: validation moving against training."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .. import numstats
from ..evidence import finite_sorted
from ..model import AlignedRun, Cause, Finding, MetricPair, Series
from ..stats import mad
from . import detector


def _train_at(train: Series, at_steps: np.ndarray) -> np.ndarray:
    """The train metric averaged over each evaluation interval (prev eval, eval]; where training logs less
    often than validation and an interval holds no training point, the value read off the training curve
    there (interpolated between its neighbours)."""
    ts, tv = finite_sorted(train)
    out = np.full(len(at_steps), np.nan)
    # ts is sorted: the interval (lo, s] is one slice, found by bisection (linear in points overall)
    ends = np.searchsorted(ts, at_steps, side="right")
    begins = np.concatenate([[0], np.searchsorted(ts, at_steps[:-1], side="right")])
    # the intervals of one length are rows of a matrix, averaged at once: the same sums as one mean per
    # interval (a row's pairwise sum), without a Python step per evaluation; ~1M values gathered at a time
    lengths = ends - begins
    for n in numstats.unique(lengths[lengths > 0]).tolist():
        rows = np.flatnonzero(lengths == n)
        for part in np.array_split(rows, -(-len(rows) * n // 2**20)):
            out[part] = sliding_window_view(tv, n)[begins[part]].mean(axis=1)
    empty = np.isnan(out) & (np.asarray(at_steps) >= ts[0]) if len(ts) else np.zeros(len(out), dtype=bool)
    if empty.any() and len(ts) >= 2:
        out[empty] = np.interp(np.asarray(at_steps)[empty], ts, tv)
    return out


def _detrend(y: np.ndarray) -> np.ndarray:
    x = np.arange(len(y), dtype=float)
    return y - np.polyval(np.polyfit(x, y, 2), x) if len(y) >= 5 else y - numstats.median(y)


@dataclass(frozen=True)
class Worsening:
    """How a lower-is-better validation curve moves after its best evaluation."""

    end: float  # median of the last (up to) three evaluations
    rise: float  # (end - best) / |best|
    noise: float  # evaluation-to-evaluation noise, relative to |best| (before the best when it has 5+ points)
    tau: float  # Kendall tau from the best to the end

    def clear(self, min_rise: float, min_rise_noise: float, min_tau: float) -> bool:
        return self.rise >= min_rise and self.rise >= min_rise_noise * self.noise and self.tau > min_tau


def worsening(y: np.ndarray) -> Worsening:
    """The statistics AC001 decides on; PL003 asks the same question before it calls a flat stretch a stall."""
    best = int(np.argmin(y))
    after = len(y) - 1 - best
    end = float(numstats.median(y[-min(3, after):])) if after else float(y[best])
    scale = max(abs(float(y[best])), 1e-12)
    noise = mad(np.diff(y[: best + 1])) / np.sqrt(2) / scale if best >= 4 else mad(np.diff(y)) / np.sqrt(2) / scale
    tau = float(numstats.kendalltau(np.arange(after + 1), y[best:])[0]) if after >= 3 else 0.0
    return Worsening(end, (end - float(y[best])) / scale, float(noise), tau if np.isfinite(tau) else 0.0)


def _pair(run: AlignedRun) -> MetricPair | None:
    r = run.roles
    if r.train_loss and r.val_loss:
        return MetricPair("loss", r.train_loss, r.val_loss, False)
    return next((p for p in r.pairs if p.train and p.val), None)


@detector("AC001")
def overfitting(run: AlignedRun, params: Mapping[str, Any]) -> list[Finding]:
    pair = _pair(run)
    if pair is None:
        return []
    val, train = run.series[pair.val], run.series[pair.train]
    vs, vv = finite_sorted(val)
    if len(vv) < int(params["min_evals"]):
        return []
    sign = -1.0 if pair.higher_is_better else 1.0  # work on "lower is better"
    y = sign * vv
    best = int(np.argmin(y))
    after = len(y) - 1 - best
    if after < int(params["min_evals_after_best"]):
        return []
    w = worsening(y)
    end, rise_rel, noise, tau = w.end, w.rise, w.noise, w.tau
    worse = int(np.count_nonzero(y[best + 1:] > y[best]))
    if not w.clear(float(params["min_rise"]), float(params["min_rise_noise"]), float(params["min_val_tau"])):
        return []
    tr = _train_at(train, vs) * sign
    t_best = float(tr[best]) if np.isfinite(tr[best]) else np.nan
    if not np.isfinite(t_best):
        # training logs less often than validation and starts after the best evaluation (a row every 50 steps,
        # evaluations every 8): its first point after the best stands in — the fall since the best is then, if
        # anything, understated
        later = np.nonzero(np.isfinite(tr[best:]))[0]
        t_best = float(tr[best + later[0]]) if len(later) else np.nan
    t_end = float(np.nanmedian(tr[-min(3, after):]))
    if not (np.isfinite(t_best) and np.isfinite(t_end)):
        return []
    train_fall = (t_best - t_end) / max(abs(t_best), 1e-12)
    if train_fall < float(params["min_train_improvement"]):
        return []
    # "training keeps improving" must be a trend, not two noisy end points: the training loss at the
    # evaluations after the best falls with a Kendall tau of at most -min_train_tau
    t_after = tr[best:]
    t_after = t_after[np.isfinite(t_after)]
    train_tau = float(numstats.kendalltau(np.arange(len(t_after)), t_after)[0]) if len(t_after) >= 3 else -1.0
    if not train_tau <= -float(params["min_train_tau"]):
        return []
    best_step = int(vs[best])
    gap_best = float(sign * (y[best] - t_best))
    gap_end = float(sign * (end - t_end))
    word = "falls" if not pair.higher_is_better else "drops"
    summary = (f"'{val.tag}' is best at step {best_step:,} ({sign * y[best]:.4g}) and worse at {worse} of the {after} "
               f"evaluations after it ({rise_rel:+.0%} by the end) while '{train.tag}' keeps improving "
               f"({train_fall:.0%} better): stop at step {best_step:,}")
    return [Finding(
        rule="", family="anticorrelation", severity="", tags=(val.tag, train.tag),
        step_range=(best_step, int(vs[-1])), summary=summary,
        stats={"best_step": best_step, "best_value": float(sign * y[best]), "end_value": float(sign * end),
               "evals_after_best": after, "worse_than_best": worse, "val_change_since_best": round(float(rise_rel), 4),
               "train_improvement_since_best": round(float(train_fall), 4),
               "train_kendall_tau_after_best": round(train_tau, 4), "kendall_tau_after_best": round(float(tau), 4),
               "gap_at_best": round(gap_best, 6), "gap_at_end": round(gap_end, 6),
               "val_noise_relative": round(float(noise), 4), "higher_is_better": pair.higher_is_better,
               "thresholds": {"min_rise": params["min_rise"], "min_train_improvement": params["min_train_improvement"]}},
        causes=tuple(_overfit_causes(params, pair, vv, train, after, best_step, train_fall, gap_best, gap_end,
                                     word)))]


def _overfit_causes(params, pair: MetricPair, val: np.ndarray, train_series: Series, after: int, best_step: int,
                    train_fall: float, gap_best: float, gap_end: float, word: str) -> list[Cause]:
    """Overfitting, or validation that was never measuring the same thing as training.

    Overfitting needs a validation loss that first improves with training and then leaves it. A
    validation loss whose best is still many times what the training loss was at the very start of the
    run never improved with training at all: the two sets differ (a distribution shift, preprocessing or
    evaluation-mode difference, a bug in the evaluation). Judged on positive losses only.
    """
    over = Cause("overfitting", 0.85,
                 f"validation worsens over {after} evaluations after step {best_step:,} while training "
                 f"improves {train_fall:.0%}; the train/val gap grows from {gap_best:.3g} to {gap_end:.3g}. "
                 f"Training {word} on what it memorizes, not on what generalizes.")
    ts, tv = finite_sorted(train_series)
    if pair.higher_is_better or len(tv) == 0 or np.min(val) <= 0 or np.min(tv) <= 0:
        return [over]
    if ts[0] > best_step:
        return [over]  # training's first logged point comes after the best: it is no "start of the run"
    start = float(numstats.median(tv[: max(1, len(tv) // 20)]))
    ratio = float(np.min(val)) / start
    if ratio >= float(params["mismatch_ratio"]):
        mismatch = Cause("train_val_mismatch", 0.65,
                         f"the best validation loss ({np.min(val):.4g}) is {ratio:.1f}× the training loss at the "
                         f"start of the run ({start:.4g}): validation never improved with training, so the sets "
                         "(or how they are evaluated) differ — a distribution shift, preprocessing or augmentation "
                         "applied to one side only, model.eval()/BatchNorm statistics, or a bug in the evaluation")
        return [mismatch, Cause("overfitting", 0.45, over.evidence)]
    return [over]


@detector("AC002")
def train_val_anticorrelation(run: AlignedRun, params: Mapping[str, Any]) -> list[Finding]:
    out = []
    pairs = [p for p in run.roles.pairs if p.train and p.val]
    for pair in pairs:
        val, train = run.series[pair.val], run.series[pair.train]
        vs, vv = finite_sorted(val)
        if len(vv) < int(params["min_evals"]):
            continue
        ts, _ = finite_sorted(train)
        # the train metric must be logged more often than validation to be averaged between evals
        if len(ts) < 2 * len(vs):
            continue
        tr = _train_at(train, vs)
        ok = np.isfinite(tr)
        if ok.sum() < int(params["min_evals"]):
            continue
        # moves against each other around each curve's own trend: a quadratic takes out the
        # train-falls-while-val-turns-up shape of plain overfitting (AC001's business)
        dt, dv = np.diff(_detrend(tr[ok])), np.diff(_detrend(vv[ok]))
        if np.std(dt) == 0 or np.std(dv) == 0:
            continue
        rho = numstats.spearman_rho(dt, dv)
        if not rho <= -float(params["min_anticorrelation"]):
            continue
        from scipy import stats as sps  # only for a candidate: importing it costs more than a small run

        p = float(sps.spearmanr(dt, dv)[1])
        if not p <= float(params["max_p"]):
            continue
        against = int(np.count_nonzero(np.sign(dt) == -np.sign(dv)))
        steps = vs[ok]
        # does the train metric shift right after each evaluation? Compared over a tenth of the interval on
        # either side, so the trend between evaluations does not count as a shift
        tsv, tvv = finite_sorted(train)
        k = max(2, int(numstats.median(np.diff(steps))) // 10) if len(steps) > 1 else 2
        jumps = []
        for s in steps[:-1]:
            lo, mid, hi = np.searchsorted(tsv, [s - k, s, s + k], side="right")  # tsv is sorted
            before, after = tvv[lo:mid], tvv[mid:hi]
            if len(before) and len(after):
                jumps.append(after.mean() - before.mean())
        jumps = np.asarray(jumps)
        spread = mad(np.diff(tvv)) or 1e-12
        share = float(params["side_effect_min_share"])
        consistent = (len(jumps) >= int(params["side_effect_min_evaluations"])
                      and max(np.mean(jumps > 0), np.mean(jumps < 0)) >= share)
        size = float(numstats.median(np.abs(jumps))) / spread if len(jumps) else 0.0
        causes = []
        if consistent and size >= float(params["side_effect_min_shift"]):
            direction = "up" if np.mean(jumps > 0) >= share else "down"
            causes.append(Cause("eval_side_effect", 0.7,
                                f"the train metric shifts {direction} right after {max(np.mean(jumps > 0), np.mean(jumps < 0)):.0%} "
                                f"of the evaluations (median shift {size:.1f}× its step-to-step spread): evaluation "
                                "changes the model or its statistics (model.eval()/train() not restored, BatchNorm "
                                "statistics updated on validation data)"))
        evpe = run.epochs.evals_per_epoch
        causes.append(Cause("unknown", 0.4,
                            f"train and validation move in opposite directions at {against} of {len(dt)} evaluations "
                            + (f"(validation runs {evpe}× per epoch; " if evpe else "(")
                            + "a train metric that jumps at the first evaluation of each epoch while validation dips "
                              "points to per-epoch memorization or a too-high learning rate)"))
        out.append(Finding(
            rule="", family="anticorrelation", severity="", tags=(pair.train, pair.val),
            step_range=(int(steps[0]), int(steps[-1])), ranges=(),
            summary=(f"'{pair.train}' and '{pair.val}' move against each other from one evaluation to the next "
                     f"(Spearman ρ = {rho:.2f} over {len(dt)} evaluations, opposite at {against})"),
            stats={"spearman_rho": round(float(rho), 4), "p_value": float(f"{p:.3g}"), "evaluations": int(len(dt) + 1),
                   "opposite_moves": against, "evals_per_epoch": evpe,
                   "thresholds": {"min_anticorrelation": params["min_anticorrelation"], "max_p": params["max_p"]}},
            causes=tuple(sorted(causes, key=lambda c: -c.confidence))))
    return out
