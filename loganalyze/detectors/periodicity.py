"""PD001 epoch-periodicity and PD002 schedule-periodicity: cycles locked to the epoch or the LR.

The statistics: remove the trend with a centered moving average exactly one epoch wide (it
cancels any component with the epoch's period and keeps the trend), fold the residual by the
position within the epoch, and ask (1) how much of the residual variance the phase explains,
(2) whether odd and even epochs show the same profile. Then the shape of the profile, where its
extremes sit, how it grows, and what else is logged (LR, evaluation steps) rank the causes.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Mapping

import numpy as np

from .. import derived, numstats
from ..align import split_of
from ..evidence import finite_sorted
from ..model import AlignedRun, Cause, EpochAxis, Finding
from ..stats import mad, rank_sum_greater, rolling_median
from . import detector
from ._curves import scaled


@dataclass(frozen=True)
class Fold:
    """A series folded by position within the epoch."""

    step: np.ndarray  # the folded points' steps (those inside the epoch axis)
    value: np.ndarray  # their (log-)values before detrending
    epoch: np.ndarray  # epoch index per point
    phase: np.ndarray  # 0..1 position within its epoch per point
    last_in_epoch: np.ndarray  # bool: the last point of its epoch
    residual: np.ndarray  # detrended value per point
    bins: int
    profile: np.ndarray  # mean residual per phase bin
    per_epoch: np.ndarray  # (epochs, bins) mean residual, NaN where empty
    eta2: float  # variance explained by phase
    f_stat: float  # one-way ANOVA F of residual by phase bin (inf: the phase explains all of it)
    f_df: tuple[int, int]  # and its degrees of freedom
    split_half: float  # correlation of odd-epoch and even-epoch profiles
    points_per_epoch: float

    @cached_property
    def f_p(self) -> float:
        """The ANOVA p-value, computed when a rule asks: it needs scipy, which most runs never import."""
        if not np.isfinite(self.f_stat):
            return 0.0
        from scipy import stats as sps

        return float(sps.f.sf(self.f_stat, *self.f_df))


def fold(step: np.ndarray, y: np.ndarray, epochs: EpochAxis, max_bins: int = 20) -> Fold | None:
    starts = epochs.starts
    if len(starts) < 3 or len(y) < 24:
        return None
    lengths = np.diff(starts)
    typical = float(numstats.median(lengths))
    bounds = np.concatenate([starts, [starts[-1] + typical]])
    ep = np.searchsorted(bounds, step, side="right")
    ep -= 1  # (in place, here and below: at 2M points each temporary is 16 MB more at the peak)
    inside = (ep >= 0) & (ep < len(starts))
    if not inside.all():  # (all inside: the arrays themselves, not copies)
        step, y, ep = step[inside], y[inside], ep[inside]
    counts = np.bincount(ep, minlength=len(starts))
    full = counts >= max(4, 0.5 * numstats.median(counts[counts > 0])) if counts.any() else counts > 0
    ppe = float(numstats.median(counts[full])) if full.any() else 0.0
    if full.sum() < 3 or ppe < 6:
        return None
    width = max(3, int(round(ppe)))
    resid = numstats.uniform_filter1d(y, size=width, mode="nearest")  # the trend, then y minus it
    np.subtract(y, resid, out=resid)
    half = width // 2  # the moving average is biased at the ends
    core = np.zeros(len(y), dtype=bool)
    core[half: len(y) - half] = True
    core &= full[ep]
    at = bounds[ep]
    phase = bounds[ep + 1]
    phase -= at  # the epoch's length
    np.subtract(step, at, out=at)  # the offset into it
    np.divide(at, phase, out=phase)
    del at
    np.clip(phase, 0, 0.999999, out=phase)
    last = np.zeros(len(y), dtype=bool)
    last[:-1] = ep[1:] != ep[:-1]
    last[-1] = True
    bins = int(min(max_bins, max(4, width)))
    b = (phase * bins).astype(int)
    np.minimum(b, bins - 1, out=b)
    r, bb, ee = resid[core], b[core], ep[core]
    used = numstats.unique(ee)  # the epochs with core points
    if len(r) < 3 * bins or len(used) < 3:
        return None
    sums = np.bincount(bb, weights=r, minlength=bins)
    cnt = np.bincount(bb, minlength=bins)
    profile = np.where(cnt > 0, sums / np.maximum(cnt, 1), 0.0)
    total = float(np.sum((r - r.mean()) ** 2))
    between = float(np.sum(cnt * (profile - r.mean()) ** 2))
    eta2 = between / total if total > 0 else 0.0
    k = int(np.count_nonzero(cnt))
    df1, df2 = max(k - 1, 1), max(len(r) - k, 1)
    f = (between / df1) / ((total - between) / df2) if total > between else np.inf
    n_ep = len(starts)
    per = np.full((n_ep, bins), np.nan)
    key = ee * bins + bb
    s2 = np.bincount(key, weights=r, minlength=n_ep * bins)
    c2 = np.bincount(key, minlength=n_ep * bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        per = (s2 / c2).reshape(n_ep, bins)
    per = per[used.min(): used.max() + 1]
    odd, even = _phase_means(per[1::2]), _phase_means(per[0::2])
    ok = np.isfinite(odd) & np.isfinite(even)
    split = float(np.corrcoef(odd[ok], even[ok])[0, 1]) if ok.sum() >= 3 and np.std(odd[ok]) > 0 and np.std(even[ok]) > 0 else 0.0
    return Fold(step, y, ep, phase, last, resid, bins, profile, per, eta2, float(f), (df1, df2), split, ppe)


def is_epoch_locked(steps: np.ndarray, epochs: EpochAxis, tolerance: int = 1) -> np.ndarray:
    """For each step, whether its offset from its epoch's end recurs in at least half the epochs.

    The spikes rule asks this so that an outlier at the end of every epoch is reported once, by
    PD001 as a small last batch, and not again as a string of spikes.
    """
    steps = np.asarray(steps, dtype=np.int64)
    if not epochs.known or len(steps) == 0 or epochs.count < 3:
        return np.zeros(len(steps), dtype=bool)
    starts = epochs.starts
    ep = epochs.epoch_of(steps)
    nxt = np.append(starts[1:], starts[-1] + int(numstats.median(np.diff(starts))))
    from_end = nxt[np.maximum(ep, 0)] - steps
    from_start = steps - starts[np.maximum(ep, 0)]
    locked = np.zeros(len(steps), dtype=bool)
    for offsets in (from_end, from_start):
        for i, off in enumerate(offsets):
            near = np.abs(offsets - off) <= tolerance
            if len(numstats.unique(ep[near])) >= max(3, epochs.count // 2):
                locked[i] = True
    return locked


def epoch_ends(f: Fold) -> np.ndarray:
    """The points that end an epoch: each epoch's last point, but not the run's final point when it ends a
    partial epoch (that is not an epoch's last step)."""
    last = f.last_in_epoch.copy()
    if np.count_nonzero(f.epoch == f.epoch[-1]) < f.points_per_epoch:
        last[np.nonzero(last)[0][-1]] = False
    return last


def last_point_outlier(f: Fold, p_from_z: float = 0.0) -> tuple[float, float, int, float]:
    """How far the last point of each epoch sits from the rest: (median |distance| in robust
    spreads, share of epochs where it is over 3 spreads out, direction +1/-1 or 0 when mixed,
    binomial p-value of that many epochs being over 3 spreads by chance; NaN when the median
    distance is under `p_from_z`, where the callers do not look at it and it would cost a scipy import).

    Sign-agnostic on purpose: a tiny last batch gives a noisier loss, above the rest in some
    epochs and below in others; a mis-weighted one (sum / nominal batch size) is always below.
    """
    last_r = f.residual[epoch_ends(f)]
    other = f.residual[~f.last_in_epoch]
    if len(last_r) < 3 or len(other) < 3:
        return 0.0, 0.0, 0, 1.0
    spread = mad(other) or 1e-12
    z = np.abs(last_r) / spread
    outside = int(np.sum(z > 3))
    chance = max(float(np.mean(np.abs(other) / spread > 3)), 0.05)  # the rest's own tail, at least 5%
    if outside == 0:
        p = 1.0  # P(X >= 0): what binom.sf(-1, ...) returns, without importing scipy for it
    elif float(numstats.median(z)) < p_from_z:
        p = float("nan")  # the caller decides on z first: no need to import scipy for this run
    else:
        from scipy import stats as sps  # on first use: importing it costs more than a small run

        p = float(sps.binom.sf(outside - 1, len(z), chance))
    up = float(np.mean(last_r > 0))
    direction = 1 if up >= 0.75 else -1 if up <= 0.25 else 0
    return float(numstats.median(z)), outside / len(z), direction, p


def last_point_rank_p(f: Fold) -> float:
    """One-sided rank-sum p that the epochs' last points sit farther from the trend than the other points: the
    test that keeps its power over a handful of epochs, where counting the epochs beyond 3 spreads (the binomial)
    needs nearly all of them there."""
    last = epoch_ends(f)
    far, other = np.abs(f.residual[last]), np.abs(f.residual[~last])
    if len(far) < 3 or len(other) < 3:
        return 1.0
    if len(other) > 5000:  # evenly thinned by position, not by value: the test stays valid and cheap
        other = other[np.linspace(0, len(other) - 1, 5000).astype(int)]
    return rank_sum_greater(far, other)


def small_last_batch(f: Fold, params: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether the last point of each epoch is an outlier, and the evidence in words."""
    z, share, direction, p = last_point_outlier(f, float(params["last_batch_z"]))
    side = {1: "above", -1: "below"}.get(direction, "away from")
    if z >= float(params["last_batch_z"]) and p <= float(params["last_batch_p"]):
        return True, (f"the last point of each epoch sits a median {z:.1f} spreads {side} the rest (over 3 spreads "
                      f"in {share:.0%} of epochs, binomial p = {p:.1e})")
    if z >= float(params["last_batch_rank_z"]):
        rank_p = last_point_rank_p(f)
        if rank_p <= float(params["last_batch_rank_p"]):
            return True, (f"the last point of each epoch sits a median {z:.1f} spreads {side} the rest, farther "
                          f"than the other points (rank-sum p = {rank_p:.1e} over {int(f.epoch.max()) + 1} epochs)")
    return False, ""


def cumulative_mean_shape(f: Fold) -> tuple[float, float]:
    """(early/late step-to-step change, boundary jump/late change) within epochs.

    A running mean reset each epoch moves by ~1/k at the k-th step of the epoch: big moves
    early, almost none late, and a jump at every boundary. A per-step loss moves the same
    amount everywhere.
    """
    ep, y = f.epoch, f.value
    same = ep[1:] == ep[:-1]
    d = np.abs(np.diff(y))
    k = np.zeros(len(y), dtype=np.int64)
    starts = np.concatenate([[0], np.nonzero(~same)[0] + 1])
    for a, b in zip(starts, np.append(starts[1:], len(y))):
        k[a:b] = np.arange(b - a)
    kd = k[1:][same]
    dd = d[same]
    ppe = f.points_per_epoch
    early = dd[(kd >= 1) & (kd <= max(2, int(0.1 * ppe)))]
    late = dd[kd >= 0.5 * ppe]
    bound = d[~same]
    if len(early) < 3 or len(late) < 3 or len(bound) < 2:
        return 1.0, 1.0
    late_m = float(numstats.median(late)) or 1e-12
    return float(numstats.median(early) / late_m), float(numstats.median(bound) / late_m)


def _phase_means(per: np.ndarray) -> np.ndarray:
    """Each phase bin's mean over epochs, NaN for a bin no epoch reached (`np.nanmean` would warn)."""
    have = ~np.isnan(per)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(have, per, 0.0).sum(axis=0) / have.sum(axis=0)


def _repeated_detail(f: Fold) -> tuple[float, float]:
    """Odd/even agreement of the profile's bin-to-bin detail (profile minus its 3-bin smooth),
    and the detail's share of the profile's variance (a smooth shape with one kink has little)."""
    per = f.per_epoch
    odd, even = _phase_means(per[1::2]), _phase_means(per[0::2])
    if not (np.isfinite(odd).all() and np.isfinite(even).all()) or len(odd) < 6:
        return 0.0, 0.0
    hp_o = odd - numstats.uniform_filter1d(odd, 3, mode="nearest")
    hp_e = even - numstats.uniform_filter1d(even, 3, mode="nearest")
    if np.std(hp_o) == 0 or np.std(hp_e) == 0:
        return 0.0, 0.0
    hp = f.profile - numstats.uniform_filter1d(f.profile, 3, mode="nearest")
    share = float(np.var(hp) / np.var(f.profile)) if np.var(f.profile) > 0 else 0.0
    return float(np.corrcoef(hp_o, hp_e)[0, 1]), share


def _epoch_means(f: Fold) -> np.ndarray:
    """Mean of the fold's points per epoch, in epoch order (one slice each: the fold is in step order)."""
    ids, first, counts = np.unique(f.epoch, return_index=True, return_counts=True)
    if np.any(np.diff(f.epoch) < 0):  # not in step order: gather each epoch's points
        return np.array([np.mean(f.value[f.epoch == e]) for e in ids])
    return np.array([np.mean(f.value[a:a + c]) for a, c in zip(first, counts)])


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
        return 0.0
    return numstats.spearman_rho(x, y)


def _amplitude_growth(per: np.ndarray, profile: np.ndarray) -> tuple[float, list[float]]:
    """Each epoch's profile projected on the mean profile: >1 stronger than average."""
    denom = float(np.dot(profile, profile))
    if denom == 0:
        return 1.0, []
    amps = []
    for row in per:
        ok = np.isfinite(row)
        amps.append(float(np.dot(np.where(ok, row, 0), profile) / denom) if ok.sum() >= len(row) // 2 else np.nan)
    a = np.asarray(amps)
    a_ok = a[np.isfinite(a)]
    if len(a_ok) < 4:
        return 1.0, amps
    h = len(a_ok) // 2
    first, second = np.mean(a_ok[:h]), np.mean(a_ok[h:])
    return (float(second / first) if first > 1e-9 else 1.0), amps


def _lr_locked(run: AlignedRun, max_bins: int) -> float:
    """Variance of the (log) LR explained by the epoch phase: high for per-epoch cyclic schedules."""
    lr = run.get(run.roles.lr)
    if lr is None or lr.points < 24:
        return 0.0
    step, y, _ = scaled(lr)
    f = fold(step, y, run.epochs, max_bins)
    return f.eta2 if f is not None and np.std(y) > 1e-9 else 0.0


def _causes(run: AlignedRun, f: Fold, growth: float, lr_eta: float, params: Mapping[str, Any]) -> list[Cause]:
    p = f.profile
    bins = f.bins
    # an up-down alternation from one logged point to the next (OS001's: a swing every other log) makes the
    # profile turn at every bin and repeats whenever an even number of points fits in an epoch; it is not
    # the epoch's shape, so the shape tests below look through it
    d0 = np.diff(p)
    turns0 = float(np.mean(np.sign(d0[1:]) != np.sign(d0[:-1]))) if len(d0) > 2 else 0.0
    detail0 = p - numstats.uniform_filter1d(p, size=3, mode="nearest")
    alternating = (bins >= 6 and turns0 >= float(params["alternation_turns"])
                   and float(np.corrcoef(detail0[:-1], detail0[1:])[0, 1]) <= -float(params["alternation_r"]))
    if alternating:
        p = numstats.uniform_filter1d(p, size=3, mode="nearest")
    amp = float(p.max() - p.min())
    x = (np.arange(bins) + 0.5) / bins
    rho = _spearman(x, p)
    argmin = int(np.argmin(p))
    causes: list[Cause] = []

    # small last batch: an outlier at the last point of each epoch, the rest flat
    rest = np.delete(p, [bins - 1])
    last_batch, last_ev = small_last_batch(f, params)
    if last_batch:
        flat_rest = float(rest.max() - rest.min()) < 0.5 * abs(p[-1] - numstats.median(rest))
        causes.append(Cause("small_last_batch", 0.85 if flat_rest else 0.6,
                            last_ev + (" while the rest of the epoch is flat" if flat_rest else "")
                            + ": the final, smaller batch has a noisier (or differently weighted) loss"))

    # running mean reset each epoch: big moves early in the epoch, almost none late, a jump at the boundary
    decay, jump = cumulative_mean_shape(f)
    # the 1/k shape needs points inside the epoch to show: with a handful per epoch (a log every few
    # hundred steps) the first move after a boundary is the boundary's own drop
    rm = float(params["running_mean_ratio"])
    if decay >= rm and jump >= rm and f.points_per_epoch >= float(params["min_points_per_epoch_running_mean"]):
        causes.append(Cause("running_mean_reset", min(0.95, 0.6 + 0.05 * min(decay, 7)),
                            f"inside each epoch the step-to-step change shrinks from early to late by {decay:.0f}× and "
                            f"the value jumps {jump:.0f}× the late-epoch change at every boundary: the shape of a "
                            "cumulative mean reset each epoch (running_loss / (i + 1)), not of the per-step loss"))

    # memorization: drop at epoch start, slow rise, growing amplitude
    start_low = float(np.mean(p[bins // 2:]) - p[argmin]) / amp if amp > 0 else 0.0
    # interior turns that matter (a quarter of the swing or more): a memorization rise has none
    prom = float(params["turn_prominence"]) * amp
    from scipy import signal  # only here, for a candidate's profile

    extrema = (len(signal.find_peaks(p, prominence=prom)[0])
               + len(signal.find_peaks(-p, prominence=prom)[0])) if amp > 0 else 0
    # (a noisy profile may turn a few times on the way up; a rise that dominates, Spearman ≥ 0.85, still is one)
    shape_known = f.points_per_epoch >= float(params["min_points_per_epoch_running_mean"])
    if ((decay < rm or not shape_known) and argmin <= max(1, bins // 4)
            and start_low >= float(params["memorization_start_low"]) and rho >= float(params["memorization_min_rise"])
            and (extrema <= 1 or rho >= float(params["memorization_dominant_rise"]))):
        conf = 0.45 + 0.2 * min(1.0, rho) + (0.2 if growth >= 1.2 else 0.0)
        ev = (f"the loss is lowest at the start of each epoch (phase bin {argmin + 1} of {bins}) and rises through it "
              f"(Spearman {rho:+.2f}); the amplitude {'grows' if growth >= 1.2 else 'changes'} "
              f"{growth:.2f}× from the first to the second half of training")
        gap = _gap_trend(run)
        if gap is not None:
            ev += f"; the train/val gap {'widens' if gap > 0 else 'does not widen'} ({gap:+.2g} per epoch)"
            conf += 0.1 if gap > 0 else -0.1
        ev += ": after an epoch the model has memorized samples it sees again at the start of the next"
        causes.append(Cause("memorization", min(conf, 0.9), ev))

    # unshuffled data: a jagged profile repeated nearly identically every epoch
    if f.bins >= 8:
        d = np.diff(p)
        turns = float(np.mean(np.sign(d[1:]) != np.sign(d[:-1]))) if len(d) > 2 else 0.0
        detail, share = _repeated_detail(f)
        # an up-down alternation from one logged point to the next (OS001's) also makes a jagged profile that
        # repeats whenever an even number of points fits in an epoch: that is not the order of the batches
        if (f.split_half >= float(params["unshuffled_split_half"]) and turns >= float(params["unshuffled_turns"])
                and detail >= float(params["unshuffled_detail_r"])
                and (share >= float(params["unshuffled_detail_share"]) or extrema >= 2) and not alternating):
            causes.append(Cause("unshuffled_data", 0.5 + 0.4 * min(1.0, (detail - 0.7) / 0.25),
                                f"the within-epoch profile is jagged ({turns:.0%} of bins turn direction, {extrema} large "
                                f"interior turns) and its "
                                f"bin-to-bin detail repeats in odd and even epochs (r = {detail:.2f}; whole profile "
                                f"r = {f.split_half:.2f}): the batches come in the same order every epoch"))

    # evaluation side effects: a jump right after each evaluation step
    val = run.get(run.roles.val_loss)
    if val is not None and val.points >= 3:
        ev_steps = numstats.unique(val.step)
        k = max(2, int(f.points_per_epoch) // 8)
        # an evaluation at an epoch's end is confounded with the boundary itself: only mid-epoch
        # evaluations can show this cause
        nxt = np.searchsorted(run.epochs.starts, ev_steps, side="right")
        to_end = np.where(nxt < len(run.epochs.starts), run.epochs.starts[np.minimum(nxt, len(run.epochs.starts) - 1)]
                          - ev_steps, np.inf)
        ev_steps = ev_steps[to_end > 2 * k]  # at epoch ends a jump is the boundary's own
        jumps = []
        st, yy = f.step, f.residual
        for e in ev_steps:
            i = int(np.searchsorted(st, e, side="right"))
            if k <= i <= len(st) - k:
                jumps.append(float(np.mean(yy[i: i + k]) - np.mean(yy[i - k: i])))
        jumps = np.asarray(jumps)
        if len(jumps) >= 3:
            # in standard errors of a difference of two k-point means
            jz = float(numstats.median(jumps) / ((mad(np.diff(yy)) / np.sqrt(2) or 1e-12) * np.sqrt(2 / k)))
            share = float(max(np.mean(jumps > 0), np.mean(jumps < 0)))
            if abs(jz) >= float(params["eval_jump_se"]) and share >= float(params["eval_jump_share"]):
                causes.append(Cause("eval_side_effect", 0.75,
                                    f"right after {share:.0%} of the {len(jumps)} evaluation steps the loss jumps "
                                    f"{'up' if jz > 0 else 'down'} by {abs(jz):.1f} standard errors ({k}-point means before/after)"
                                    + ": evaluation leaves the model changed (model.eval() not undone, BatchNorm "
                                      "statistics updated on validation data)"))
            else:
                at = _profile_step_at(f, run.epochs, ev_steps, float(params["eval_step_dominance"]))
                if at is not None and share >= float(params["eval_jump_share"]):
                    phase, size = at
                    causes.append(Cause("eval_side_effect", 0.7,
                                        f"the epoch's phase profile takes its largest step ({size:+.0%}) at {phase:.0%} "
                                        f"into the epoch, where the mid-epoch evaluation runs, in the same direction "
                                        f"after {share:.0%} of the {len(jumps)} evaluations: evaluation leaves the model "
                                        "changed until the epoch ends (model.eval() not undone, BatchNorm statistics "
                                        "updated on validation data)"))

    if lr_eta >= float(params["lr_locked_variance"]):
        causes.append(Cause("lr_schedule", 0.9, f"the logged learning rate cycles with the same period: the epoch "
                                                f"phase explains {lr_eta:.0%} of its variance (a per-epoch schedule "
                                                "such as cyclic LR or warm restarts)"))
    if not causes:
        causes.append(Cause("unknown", 0.3, "the cycle is significant, but its shape matches none of the known "
                                            "signatures clearly"))
    causes.sort(key=lambda c: -c.confidence)
    if (len(causes) >= 2 and causes[0].confidence - causes[1].confidence < float(params["tie_margin"])
            and causes[0].cause != "lr_schedule"):
        top = causes[0]
        causes[0] = Cause(top.cause, top.confidence, top.evidence + f" (but the evidence for {causes[1].cause} is "
                                                                   "nearly as strong: insufficient to tell them apart)")
    return causes


def _profile_step_at(f: Fold, epochs: EpochAxis, ev_steps: np.ndarray, dominance: float) -> tuple[float, float] | None:
    """(phase, size) when the phase profile's largest bin-to-bin step (the epoch boundary's wrap excluded) sits
    at the mid-epoch evaluations' common phase (±1 bin) and is `dominance`× the next largest: the level shift a
    model left in eval mode makes until the epoch ends, seen with the power of every epoch folded together."""
    if not len(ev_steps) or f.bins < 6:
        return None
    starts = epochs.starts
    idx = np.clip(np.searchsorted(starts, ev_steps, side="right") - 1, 0, len(starts) - 1)
    length = float(numstats.median(np.diff(starts))) if len(starts) > 1 else 0.0
    if length <= 0:
        return None
    phases = (ev_steps - starts[idx]) / length
    bins = np.round(phases * f.bins).astype(int)  # the step between bin b-1 and b lies at phase b / bins
    common = int(np.bincount(np.clip(bins, 0, f.bins)).argmax())
    d = np.diff(f.profile)  # d[j] is the step from bin j to bin j+1, at phase (j + 1) / bins
    order = np.argsort(-np.abs(d))
    top = int(order[0])
    if abs(top + 1 - common) > 1 or abs(d[order[1]]) * dominance > abs(d[top]):
        return None
    return (top + 1) / f.bins, float(np.expm1(d[top]))


def _gap_trend(run: AlignedRun) -> float | None:
    """Slope per epoch of (val − train) at the evaluation steps, in the loss's own units."""
    tr, va = run.get(run.roles.train_loss), run.get(run.roles.val_loss)
    if tr is None or va is None or va.points < 4:
        return None
    ok = np.isfinite(va.value)
    vs, vv = va.step[ok], va.value[ok]
    t_ok = np.isfinite(tr.value)
    ts, tv = tr.step[t_ok], tr.value[t_ok]
    if len(ts) < 4:
        return None
    t_at = np.interp(vs, ts, numstats.uniform_filter1d(tv, size=max(1, len(tv) // max(len(vs), 1))))
    gap = vv - t_at
    return numstats.theil_slopes(gap, np.arange(len(gap)))[0]


def _epoch_finding(run: AlignedRun, params: Mapping[str, Any]) -> Finding | None:
    s = run.get(run.roles.train_loss)
    if s is None or not run.epochs.known:
        return None
    step, y, is_log = scaled(s)
    if run.epochs.count < int(params["min_epochs"]):
        return None
    f = fold(step, y, run.epochs, int(params["bins"]))
    if f is None:
        return _sparse_last_batch(run, s, step, y, is_log, params)

    def is_significant(f: Fold) -> bool:
        return (f.eta2 >= float(params["min_variance_explained"]) and f.split_half >= float(params["min_split_half"])
                and f.f_p <= float(params["max_p"]))

    def has_signature(f: Fold) -> bool:
        decay, jump = cumulative_mean_shape(f)
        rm = float(params["running_mean_ratio"])
        return small_last_batch(f, params)[0] or (decay >= rm and jump >= rm)

    significant, signature = is_significant(f), has_signature(f)
    faded = False
    if not (significant or signature) and run.epochs.count >= 2 * int(params["min_epochs"]) + 1:
        # a cycle that fades as the loss converges (a memorization staircase ends once the training set is
        # fitted) is diluted by the quiet epochs after it: judge the first half of the epochs on their own
        half = int(run.epochs.starts[run.epochs.count // 2])
        g = fold(step[step < half], y[step < half], run.epochs, int(params["bins"]))
        if g is not None and is_significant(g):
            f, significant, faded = g, True, True
            step, y = step[step < half], y[step < half]
    amp = float(f.profile.max() - f.profile.min())
    if not (significant or signature) or amp <= 0:
        return None
    rel_amp = float(np.exp(amp) - 1) if is_log else amp / max(abs(float(numstats.median(s.value[np.isfinite(s.value)]))), 1e-12)
    if rel_amp < float(params["min_relative_amplitude"]) and not signature:
        return None
    growth, amps = _amplitude_growth(f.per_epoch, f.profile)
    lr_eta = _lr_locked(run, int(params["bins"]))
    causes = _causes(run, f, growth, lr_eta, params)
    ppe = int(round(float(numstats.median(np.diff(run.epochs.starts)))))
    lo, hi = int(np.argmin(f.profile)), int(np.argmax(f.profile))
    where = (f"lowest {lo / f.bins:.0%}–{(lo + 1) / f.bins:.0%} into the epoch, highest "
             f"{hi / f.bins:.0%}–{(hi + 1) / f.bins:.0%}")
    # the trend's change over one epoch, to compare the cycle against
    ep_means = _epoch_means(f)
    trend_per_epoch = float(numstats.median(np.abs(np.diff(ep_means)))) if len(ep_means) > 1 else 0.0
    if run.epochs.provenance == "loss_cycle":
        # the epoch was inferred from this very cycle: the causes rest on that reading, so they say so
        causes = [Cause(c.cause, round(max(0.1, c.confidence - 0.15), 3),
                        c.evidence + " (the epoch length is inferred from this cycle itself: if it is not the "
                                     "epoch, set steps_per_epoch)") for c in causes]
    severity = "info" if causes[0].cause == "lr_schedule" else ""
    per_epoch = f.per_epoch[-50:]
    summary = (f"'{s.tag}' cycles with every epoch ({ppe:,} steps): a {rel_amp:.0%} swing, {where}; "
               f"the phase explains {f.eta2:.0%} of the detrended variance and odd/even epochs agree (r = {f.split_half:.2f})")
    return Finding(
        rule="", family="periodicity", severity=severity, tags=(s.tag,),
        step_range=(int(run.epochs.starts[0]), int(step[-1])),
        ranges=tuple((int(a), int(a)) for a in run.epochs.starts[1:200]),
        summary=summary,
        stats={"period_steps": ppe, "epochs": int(len(f.per_epoch)) if faded else int(run.epochs.count),
               "judged_on": "first half of the epochs (the cycle fades later)" if faded else "every epoch",
               "epoch_provenance": run.epochs.provenance,
               "points_per_epoch": round(f.points_per_epoch, 1), "variance_explained": round(f.eta2, 4),
               "anova_p": float(f"{f.f_p:.3g}"), "split_half_r": round(f.split_half, 4),
               "relative_amplitude": round(rel_amp, 4), "trend_change_per_epoch": round(trend_per_epoch, 5),
               "amplitude_vs_trend": round(amp / trend_per_epoch, 3) if trend_per_epoch > 0 else None,
               "phase_of_min": round((lo + 0.5) / f.bins, 3), "phase_of_max": round((hi + 0.5) / f.bins, 3),
               "amplitude_growth": round(growth, 3), "lr_phase_variance_explained": round(lr_eta, 4),
               "scale": "log" if is_log else "linear",
               "phase_profile": [round(float(v), 5) for v in f.profile],
               "epoch_profiles": [[None if not np.isfinite(v) else round(float(v), 5) for v in row] for row in per_epoch],
               "epoch_profiles_first_epoch": int(len(f.per_epoch) - len(per_epoch)),
               "epoch_amplitudes": [None if not np.isfinite(a) else round(a, 3) for a in amps[-50:]],
               "thresholds": {k: params[k] for k in ("min_variance_explained", "min_split_half", "max_p",
                                                      "min_relative_amplitude")}},
        causes=tuple(causes))


def _sparse_last_batch(run: AlignedRun, s, step: np.ndarray, y: np.ndarray, is_log: bool,
                       params: Mapping[str, Any]) -> Finding | None:
    """Too few points per epoch to fold (a log every 10 steps of a 26-step epoch), but some land on an epoch's
    final step: those points alone carry the last batch. They are compared with the others, each against a
    running median of the series."""
    starts = run.epochs.starts
    at_end = np.isin(step, starts[1:] - 1)
    if int(at_end.sum()) < 3 or len(y) - int(at_end.sum()) < 3:
        return None
    resid = y - rolling_median(y, int(params["sparse_median_window"]))
    spread = mad(resid[~at_end]) or 1e-12
    z = np.abs(resid) / spread
    z_end = float(numstats.median(z[at_end]))
    p = rank_sum_greater(z[at_end], z[~at_end])
    if z_end < float(params["last_batch_rank_z"]) or p > float(params["last_batch_rank_p"]):
        return None
    below = float(np.mean(resid[at_end] < 0))
    side = "below" if below >= 0.75 else "above" if below <= 0.25 else "away from"
    swing = float(numstats.median(np.abs(resid[at_end])))
    rel = float(np.exp(swing) - 1) if is_log else swing  # on a log scale: the factor off, minus one
    ends = step[at_end]
    ppe = int(round(float(numstats.median(np.diff(starts)))))
    ev = (f"the {len(ends)} points logged at an epoch's final step ({', '.join(f'{int(t):,}' for t in ends[:5])}"
          f"{' …' if len(ends) > 5 else ''}) sit a median {z_end:.0f} spreads {side} the running median, farther "
          f"than the other points (rank-sum p = {p:.1e}): the final, smaller batch has a noisier (or differently "
          "weighted) loss")
    return Finding(
        rule="", family="periodicity", severity="", tags=(s.tag,), step_range=(int(ends[0]), int(ends[-1])),
        ranges=tuple((int(t), int(t)) for t in ends[:200]),
        summary=(f"'{s.tag}' is off at every logged epoch end ({len(ends)} of them, {ppe:,}-step epochs): a median "
                 + (f"{rel + 1:.3g}× {side}" if is_log else f"{swing:.3g} {side}") + " its running median"),
        stats={"period_steps": ppe, "epochs": int(run.epochs.count), "epoch_provenance": run.epochs.provenance,
               "points_at_epoch_end": int(len(ends)), "median_spreads": round(z_end, 2), "rank_sum_p": float(f"{p:.3g}"),
               "relative_amplitude": round(rel, 4), "judged_on": "points at the epochs' final steps (too few per epoch to fold)",
               "thresholds": {k: params[k] for k in ("last_batch_rank_z", "last_batch_rank_p", "sparse_median_window")}},
        causes=(Cause("small_last_batch", 0.8, ev),))


@detector("PD001")
def epoch_periodicity(run: AlignedRun, params: Mapping[str, Any]) -> list[Finding]:
    finding = _epoch_finding(run, params)
    return ([finding] if finding else []) + _validation_batches(run, params)


def _validation_batches(run: AlignedRun, params: Mapping[str, Any]) -> list[Finding]:
    """A validation loss logged per batch (Lightning's `val_loss_step`) next to the per-evaluation one: when it
    holds a whole number k of points per evaluation and folding it by k repeats pass after pass, each point is
    a fixed validation batch evaluated in the same order every pass. Periodic by construction, and harmless:
    said (info) so the saw-tooth of that chart is read for what it is."""
    val = run.get(run.roles.val_loss)
    if val is None:
        return []
    evals = int(np.count_nonzero(np.isfinite(val.value)))
    if evals < int(params["min_epochs"]):
        return []
    found: list[tuple[str, int, Fold]] = []
    for tag, higher in sorted(run.roles.higher_is_better.items()):
        s = run.series.get(tag)
        if higher or tag == val.tag or s is None or split_of(tag) != "val":
            continue
        _, y, is_log = scaled(s)
        n = len(y)
        k = n // evals
        if k < int(params["min_batches_per_pass"]) or n != k * evals:
            continue
        idx = np.arange(n, dtype=np.int64)
        f = fold(idx, y, EpochAxis(idx[::k], "config"), int(params["bins"]))
        if f is None or f.eta2 < float(params["min_variance_explained"]) or \
                f.split_half < float(params["min_split_half"]) or f.f_p > float(params["max_p"]):
            continue
        found.append((tag, k, f))
    if not found:
        return []
    # one finding for all such series (a loss and its terms logged per batch repeat together)
    tag, k, f = max(found, key=lambda t: (round(t[2].eta2, 3), -len(t[0])))  # (the plainest name on a tie)
    s = run.series[tag]
    others = [t for t, _, _ in found if t != tag]
    return [Finding(
            rule="", family="periodicity", severity="info", tags=(tag, *others),
            step_range=(int(s.step.min()), int(s.step.max())),
            summary=(f"'{tag}' repeats with every validation pass ({k} points a pass, {evals} passes, as many as "
                     f"'{val.tag}' has): the pass's position explains {f.eta2:.0%} of its detrended variance and odd/even "
                     f"passes agree (r = {f.split_half:.2f})"),
            stats={"points_per_pass": k, "passes": evals, "variance_explained": round(f.eta2, 4),
                   "split_half_r": round(f.split_half, 4), "f_p": float(f"{f.f_p:.3g}"),
                   "thresholds": {k_: params[k_] for k_ in ("min_batches_per_pass", "min_variance_explained",
                                                             "min_split_half", "max_p")}},
            causes=(Cause("unshuffled_data", 0.7,
                          f"each of the {k} points of a pass is one validation batch, evaluated in the same order every "
                          "pass: their values differ by how hard each batch is, the same in every pass. Normal for a "
                          f"validation loader (shuffle=False); read '{val.tag}' for the trend"
                          + (f"; {', '.join(repr(t) for t in others)} repeat(s) the same way" if others else "")),))]


def cycle_agreement(f: Fold, min_r: float = 0.3) -> float:
    """Share of the cycles whose own profile follows the mean profile (correlation ≥ min_r).

    Odd/even agreement can come from two or three large events that fall into one half each; a cycle is
    something most periods show.
    """
    good = total = 0
    for row in f.per_epoch:
        ok = np.isfinite(row)
        if ok.sum() < max(3, f.bins // 2):
            continue
        total += 1
        a, b = row[ok], f.profile[ok]
        if np.std(a) > 0 and np.std(b) > 0 and float(np.corrcoef(a, b)[0, 1]) >= min_r:
            good += 1
    return good / total if total else 0.0


def _refine_period(step: np.ndarray, y: np.ndarray, period_steps: int, spacing: float, n: int, bins: int) -> int:
    p_pts = period_steps / spacing
    k = n / p_pts  # the peak's frequency bin
    if k >= 20:
        return period_steps  # with 20+ cycles a bin is within 5% of the period: not worth 25 folds
    lo, hi = n / (k + 1), n / max(k - 1, 0.5)  # the neighbouring bins' periods, in points
    cands = numstats.unique(np.round(np.linspace(lo, hi, 25) * spacing).astype(int))
    best, best_eta = period_steps, -1.0
    for c in cands[cands >= 2]:
        starts = np.arange(int(step[0]), int(step[-1]) + 1, int(c), dtype=np.int64)
        f = fold(step, y, EpochAxis(starts, "config"), bins)
        if f is not None and f.eta2 > best_eta:
            best, best_eta = int(c), f.eta2
    return best


def amplitude_consistency(f: Fold) -> float:
    """The median cycle's swing over the largest one: near 1 when every period swings alike, small when
    one or two events (a step-down of the LR) make all of the swing."""
    amps = [float(np.nanmax(row) - np.nanmin(row)) for row in f.per_epoch if np.isfinite(row).sum() >= 3]
    if not amps or max(amps) <= 0:
        return 0.0
    return float(numstats.median(amps) / max(amps))


def dominant_period(y: np.ndarray, min_period: int = 4) -> tuple[int, float]:
    """The strongest period (in points) of a detrended series and its power over the median power."""
    n = len(y)
    if n < 4 * min_period:
        return 0, 0.0
    # a rolling median keeps level shifts (an LR step-down and the drop it causes) in the trend, where a
    # moving average would turn each into a bump the periodogram could take for a cycle
    trend = numstats.median_filter(y, size=max(3, n // 8) | 1, mode="nearest")
    r = y - trend
    r = r - r.mean()
    spec = np.abs(np.fft.rfft(r * derived.memo(np.hanning, n))) ** 2  # (the loss and the LR: one window)
    freqs = np.fft.rfftfreq(n)
    valid = (freqs > 0) & (freqs <= 1.0 / min_period) & (freqs >= 3.0 / n)
    if not valid.any():
        return 0, 0.0
    idx = np.nonzero(valid)[0]
    k = idx[int(np.argmax(spec[idx]))]
    ratio = float(spec[k] / (numstats.median(spec[idx]) or 1e-300))
    return int(round(1.0 / freqs[k])), ratio


def lr_cycle_steps(run: AlignedRun, min_peak_ratio: float) -> float | None:
    """The period, in steps, of the logged LR when it cycles (its periodogram peak `min_peak_ratio`× its median
    power), else None."""
    lr = run.get(run.roles.lr)
    if lr is None or lr.points < 24:
        return None
    ls, ly, _ = scaled(lr)
    lp, power = dominant_period(ly)
    if not lp or power < min_peak_ratio:
        return None
    return lp * (float(numstats.median(np.diff(ls))) if len(ls) > 1 else 1.0)


@detector("PD002")
def schedule_periodicity(run: AlignedRun, params: Mapping[str, Any]) -> list[Finding]:
    """A cycle with a period other than the epoch, or any cycle when the epoch axis is unknown."""
    s = run.get(run.roles.train_loss)
    if s is None:
        return []
    step, y, is_log = scaled(s)
    found = _spectral(run, s, step, y, is_log, params) if len(y) >= int(params["min_points"]) else []
    if not found:
        found = _restart_locked(run, s, step, y, is_log, params)
    return found


def lr_restarts(lr: np.ndarray, factor: float) -> list[int]:
    """Indices where the LR rises ≥ `factor`× over the point before after having decayed since the last restart.

    A point is a fall (below the one before) or a rise (≥ factor× it, and positive); a fall wins where both
    hold. A rise is a restart when a fall came after the previous rise: between two rises, the count of falls
    must have grown."""
    if len(lr) < 2:
        return []
    prev, here = lr[:-1], lr[1:]
    fall = here < prev
    rise = (here >= factor * prev) & (factor * prev > 0) & ~fall
    falls = np.cumsum(fall)
    at = np.flatnonzero(rise)
    seen = falls[at]  # falls up to each rise (a rise is never a fall)
    new = np.diff(seen, prepend=0) > 0
    return (at[new] + 1).tolist()


def _restart_locked(run: AlignedRun, s, step: np.ndarray, y: np.ndarray, is_log: bool,
                    params: Mapping[str, Any]) -> list[Finding]:
    """The loss jumps up where the logged LR restarts (rises after a decay) and not elsewhere: a cyclic schedule
    seen in a log too short for a periodogram (16 epochs of warm restarts), or with restarts that are not
    evenly spaced (SGDR's growing cycles)."""
    lr = run.get(run.roles.lr)
    if lr is None or len(y) < 4:
        return []
    ls, lv = finite_sorted(lr)
    if len(ls) < 4:
        return []
    if len(ls) == len(step) and np.array_equal(ls, step) and bool((ls[1:] > ls[:-1]).all()):
        lr_at = lv  # logged at the loss's steps, each once: the LR in force at each loss point is the one logged there
    else:
        at = np.searchsorted(ls, step, side="right") - 1  # the LR in force at each loss point
        ok = at >= 0
        step, y, lr_at = step[ok], y[ok], lv[at[ok]]
    factor = float(params["restart_factor"])
    restarts = lr_restarts(lr_at, factor)
    if len(restarts) < int(params["min_restarts"]):
        return []
    d = np.diff(y)
    # the rise may land one interval late: the loss logged at the restart step was computed before the new LR
    # moved anything, and a windowed logger (detectron2's 20-iteration median) lags by a window. Both readings are
    # tested; the better one counts twice (Bonferroni), so trying two costs its share of significance
    best = (1.0, d[:0], 0)
    for lag in (0, 1):
        idx = np.array(restarts) - 1 + lag
        idx = idx[idx < len(d)]
        if len(idx) < int(params["min_restarts"]):
            continue
        q = rank_sum_greater(d[idx], np.delete(d, idx))
        if q < best[0]:
            best = (q, d[idx], lag)
    p, jump, lag = min(1.0, 2 * best[0]), best[1], best[2]
    if not len(jump):
        return []
    if p > float(params["max_restart_p"]) or numstats.median(jump) <= 0:
        return []
    swing = float(numstats.median(np.exp(jump) - 1)) if is_log else float(numstats.median(jump))
    where = ", ".join(f"{int(step[i]):,}" for i in restarts[:6]) + (" …" if len(restarts) > 6 else "")
    return [Finding(
        rule="", family="periodicity", severity="info", tags=(s.tag,), step_range=(int(step[0]), int(step[-1])),
        summary=(f"'{s.tag}' jumps up at each of the {len(restarts)} learning-rate restarts (steps {where}; median "
                 f"{swing:+.0%}) and falls between them: it cycles with the schedule"),
        stats={"restart_steps": [int(step[i]) for i in restarts], "median_jump": round(swing, 4),
               "rank_sum_p": float(f"{p:.3g}"), "points": int(len(y)), "rise_lag_points": lag,
               "thresholds": {k: params[k] for k in ("restart_factor", "min_restarts", "max_restart_p")}},
        causes=(Cause("lr_schedule", 0.9, f"the logged learning rate restarts {len(restarts)} times (rises ≥ "
                                          f"{factor:g}× after decaying) and the loss rises at those points more than "
                                          f"at any other (rank-sum p = {p:.2g}): warm restarts or a cyclic "
                                          "schedule; expected, not a problem"),))]


def _spectral(run: AlignedRun, s, step: np.ndarray, y: np.ndarray, is_log: bool,
              params: Mapping[str, Any]) -> list[Finding]:
    period_pts, power = dominant_period(y)
    if period_pts == 0:
        return []
    # steps per point over the run: duplicate steps (several writers) make the median gap 0
    spacing = float(step[-1] - step[0]) / (len(step) - 1) if len(step) > 1 and step[-1] > step[0] else 1.0
    period_steps = int(round(period_pts * spacing))
    if period_steps < 2:
        return []
    n_cycles = len(y) / period_pts
    if power < min(float(params["min_peak_ratio_lr_locked"]), float(params["min_peak_ratio"])) or \
            n_cycles < float(params["min_cycles"]):
        return []  # too weak a peak or too few cycles whatever the LR does: its periodogram is not needed
    lr_match = None
    lr_period = lr_cycle_steps(run, float(params["min_lr_peak_ratio"]))
    if lr_period is not None and abs(lr_period - period_steps) <= float(params["lr_period_tolerance"]) * period_steps:
        lr_match = int(round(lr_period))
    # a logged LR with the same period is independent evidence: the loss's own peak may then stand out less
    if power < float(params["min_peak_ratio_lr_locked" if lr_match else "min_peak_ratio"]):
        return []
    # the periodogram's bins are n/k points apart: refine the period on the fold itself, among the periods
    # within one bin of the peak, by the variance the phase explains
    period_steps = _refine_period(step, y, period_steps, spacing, len(y), int(params["bins"]))
    starts = np.arange(int(step[0]), int(step[-1]) + 1, period_steps, dtype=np.int64)
    f = fold(step, y, EpochAxis(starts, "config"), int(params["bins"]))
    # a logged LR with the same period is independent evidence: odd and even cycles may then agree less
    min_split = float(params["min_split_half_lr_locked" if lr_match else "min_split_half"])
    min_eta = float(params["min_variance_explained_lr_locked" if lr_match else "min_variance_explained"])
    if f is None or f.eta2 < min_eta or f.split_half < min_split:
        return []
    agreement = cycle_agreement(f)
    consistency = amplitude_consistency(f)
    if agreement < float(params["min_cycle_agreement"]) or consistency < float(params["min_amplitude_consistency"]):
        return []  # a few events (LR step-downs, a restart) that the fold lines up, not a cycle that repeats
    if run.epochs.known and run.epochs.count >= 2:
        epoch_len = float(numstats.median(np.diff(run.epochs.starts)))
        ratio = period_steps / epoch_len
        if abs(ratio - round(ratio)) < 0.1 and round(ratio) == 1:
            return []  # the epoch's own period: PD001's
        harmonic = epoch_len / period_steps
        if harmonic >= 1.5 and abs(harmonic - round(harmonic)) < 0.1:
            ef = fold(step, y, run.epochs, 20)
            if ef is not None and ef.eta2 >= float(params["min_variance_explained"]) \
                    and ef.split_half >= float(params["min_split_half"]):
                return []  # a sub-epoch part of a repeating epoch profile (e.g. class blocks): PD001's
    val = run.get(run.roles.val_loss)
    cadence = None
    if val is not None and val.points >= 3:
        cadence = int(numstats.median(np.diff(numstats.unique(val.step))))
    matches_val = cadence is not None and abs(cadence - period_steps) <= 0.1 * period_steps
    causes = []
    if lr_match:
        causes.append(Cause("lr_schedule", 0.9, f"the logged learning rate has the same period ({lr_match:,} steps): "
                                                "warm restarts or a cyclic schedule; expected, not a problem"))
    if matches_val:
        causes.append(Cause("eval_side_effect", 0.5, f"the period matches the validation cadence ({cadence:,} steps): "
                                                     "something at each evaluation changes the training loss"))
    if not run.epochs.known:
        causes.append(Cause("unknown", 0.35, "the epoch length is unknown: if it is "
                                             f"{period_steps:,} steps this is an epoch-locked cycle (set "
                                             "steps_per_epoch to get its causes ranked)"))
    if not causes:
        causes.append(Cause("unknown", 0.3, "a regular cycle that matches neither the epoch, the LR, nor validation"))
    amp = float(f.profile.max() - f.profile.min())
    rel_amp = float(np.exp(amp) - 1) if is_log else amp
    severity = "info" if lr_match else ""
    return [Finding(
        rule="", family="periodicity", severity=severity, tags=(s.tag,), step_range=(int(step[0]), int(step[-1])),
        summary=(f"'{s.tag}' repeats every {period_steps:,} steps ({n_cycles:.0f} cycles, {rel_amp:.0%} swing)"
                 + (", in step with the learning rate" if lr_match else "")
                 + (", matching the validation cadence" if matches_val else "")),
        stats={"period_steps": period_steps, "cycles": round(n_cycles, 1), "peak_power_ratio": round(power, 2),
               "variance_explained": round(f.eta2, 4), "split_half_r": round(f.split_half, 4),
               "cycle_agreement": round(agreement, 3), "amplitude_consistency": round(consistency, 3),
               "relative_amplitude": round(rel_amp, 4), "lr_period_steps": lr_match, "validation_cadence": cadence,
               "phase_profile": [round(float(v), 5) for v in f.profile],
               "epoch_profiles": [[None if not np.isfinite(v) else round(float(v), 5) for v in row] for row in f.per_epoch[-50:]],
               "thresholds": {k: params[k] for k in ("min_peak_ratio", "min_variance_explained", "min_split_half",
                                                      "min_split_half_lr_locked")}},
        causes=tuple(sorted(causes, key=lambda c: -c.confidence)))]
