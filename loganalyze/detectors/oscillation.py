"""OS001 loss-oscillation: sustained up-and-down swings, large against the trend and the noise."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .. import numstats
from ..model import AlignedRun, Cause, Finding
from ..stats import mad, mann_kendall
from . import detector
from ._curves import scaled
from .periodicity import fold, lr_cycle_steps


def autocorrelation(r: np.ndarray, max_lag: int) -> np.ndarray:
    """Sample autocorrelation at lags 1..max_lag."""
    r = r - r.mean()
    n = len(r)
    # zero-padded to n + max_lag or more, the circular correlation wraps nothing into lags 0..max_lag; a length
    # made of 2s, 3s and 5s above that is transformed 1.5-4x faster than twice the series
    size = numstats.fast_length(n + max(int(max_lag), 0))
    f = np.fft.rfft(r, size)
    del r  # (at 2M points: 16 MB less while the spectrum is squared)
    acf = np.fft.irfft(f * np.conj(f), size)[: max_lag + 1]
    return acf[1:] / acf[0] if acf[0] > 0 else np.zeros(max_lag)


def period_from_acf(acf: np.ndarray, trough_lag: int, n: int) -> int:
    """The lag of the first positive peak after a negative lobe: one full cycle.

    The deepest trough is a poor guide: a periodic residual has equally deep troughs at every odd
    multiple of the half-period, and noise picks one of them at random.
    """
    se = 1.0 / np.sqrt(n)  # the standard error of an autocorrelation of independent noise
    for k in range(2, len(acf)):
        here, before, after = acf[k - 1], acf[k - 2], acf[k]
        if here > se and here >= before and here >= after and np.min(acf[: k - 1]) < -se:
            return k
    return 2 * trough_lag


def _epoch_locked_period(run: AlignedRun, period_steps: float, tolerance: float) -> bool:
    if not run.epochs.known or run.epochs.count < 3:
        return False
    epoch_len = float(numstats.median(np.diff(run.epochs.starts)))
    return abs(period_steps - epoch_len) <= tolerance * epoch_len


def _epoch_profile_explains(run: AlignedRun, step: np.ndarray, y: np.ndarray, params: Mapping[str, Any]) -> bool:
    """The swings are the epoch's own profile: the phase explains much of the detrended variance
    and odd and even epochs agree (the ACF's period estimate can miss this on a noisy curve)."""
    if not run.epochs.known or run.epochs.count < 3:
        return False
    f = fold(step, y, run.epochs)
    return (f is not None and f.eta2 >= float(params["defer_variance_explained"])
            and f.split_half >= float(params["defer_split_half"]))


def _on_the_lr_cycle(run: AlignedRun, period_steps: float, params: Mapping[str, Any]) -> bool:
    """The logged LR cycles (a clear periodogram peak) on the same scale as the swings (within a factor
    `lr_cycle_period_factor`): the schedule drives them, PD002 reports that. The ACF's period of a slow,
    asymmetric cycle is rough (121 points for a 150-step schedule), hence a factor, not a tolerance; a
    ringing of a few steps under a cyclic LR is far off its scale and stays OS001's."""
    lr_period = lr_cycle_steps(run, float(params["lr_cycle_min_peak_ratio"]))
    if lr_period is None:
        return False
    factor = float(params["lr_cycle_period_factor"])
    return lr_period / factor <= period_steps <= lr_period * factor


def _stopped_improving(last_two_thirds: np.ndarray, swing: float, params: Mapping[str, Any]) -> bool:
    """Its last two thirds move less than `max_late_progress` swings (first vs last third medians) and show
    no monotonic trend (Mann–Kendall). Only asked of a validation zig-zag, so the test costs nothing on the
    per-step losses of long runs."""
    k = max(2, len(last_two_thirds) // 3)
    late_progress = abs(float(numstats.median(last_two_thirds[:k]) - numstats.median(last_two_thirds[-k:])))
    if late_progress >= float(params["max_late_progress"]) * swing:
        return False
    _, late_p = mann_kendall(last_two_thirds)
    return late_p > float(params["min_trend_p"])


def _first_ringing(acf: np.ndarray, ring: float, first_lag: int, max_lag: int) -> tuple[int, float] | None:
    """(lag, value) of the first trough at or below −ring between `first_lag` and `max_lag`, when the cycle comes
    round again (a peak at or above +ring within two more half-periods). The first trough, not the deepest: a
    cycle's troughs are as deep at every odd multiple of its half-period, and noise picks one of them."""
    below = np.nonzero(acf[first_lag - 1: max(first_lag, max_lag)] <= -ring)[0]
    if not len(below):
        return None
    i = int(below[0]) + first_lag - 1
    while i + 1 < len(acf) and acf[i + 1] < acf[i]:
        i += 1
    after = acf[i + 1: min(len(acf), 3 * (i + 1) + 1)]
    return (i + 1, float(acf[i])) if len(after) and float(after.max()) >= ring else None


def _ringing_in_moves(d: np.ndarray, ring: float, max_lag: int) -> tuple[int, float] | None:
    """A cycle of a few steps in the moves themselves: their autocorrelation dips to −ring at some lag ≥ 2
    and comes back to +ring within two more half-periods. (Lag 1 is left out: independent noise around a
    level puts the moves' lag-1 autocorrelation at −0.5 by itself; at lags ≥ 2 it is 0.)"""
    if len(d) < 8:
        return None
    acf = autocorrelation(d, min(max_lag, len(d) // 2))
    return _first_ringing(acf, ring, 2, len(acf)) if len(acf) >= 3 else None


def _ringing_within(y: np.ndarray, ring: float, window: int) -> tuple[int, float, np.ndarray] | None:
    """A ringing of a few steps that batch noise and a wander both hide: the moves carry the noise's full
    high-frequency power (a noisy small-batch loss drowns a period-8 ringing there), and the wide trend leaves
    the wander in. The residual from a running median `window` points wide keeps cycles up to a third of the
    window and drops the wander. Only troughs up to a sixth of the window count (a cycle up to a third of it):
    a narrow detrend turns red noise into a false cycle on the window's own scale, never well inside it.
    (lag, trough, acf) or None."""
    if window < 7 or len(y) < 4 * window:
        return None
    r = y - numstats.median_filter(y, size=window | 1, mode="nearest")
    acf = autocorrelation(r, window // 2)
    hit = _first_ringing(acf, ring, 2, window // 6)
    return (hit[0], hit[1], acf) if hit is not None else None


def _lag1(d: np.ndarray) -> float:
    """Lag-1 autocorrelation of the point-to-point moves: −0.5 for independent jumps around a level,
    near 0 for a random walk, positive for a smooth curve."""
    if len(d) < 4 or np.std(d) == 0:
        return 0.0
    return float(np.corrcoef(d[:-1], d[1:])[0, 1])


@detector("OS001")
def loss_oscillation(run: AlignedRun, params: Mapping[str, Any]) -> list[Finding]:
    out = []
    for tag in dict.fromkeys(t for t in (run.roles.train_loss, run.roles.val_loss) if t):
        s = run.series[tag]
        step, y, is_log = scaled(s)
        n = len(y)
        if n < int(params["min_points"]):
            continue
        # a wide moving average: a narrow one would eat the noise and fake an alternation
        window = min(max(7, n // 4), 501) | 1
        r = numstats.uniform_filter1d(y, size=window, mode="nearest")  # the trend, then y minus it
        np.subtract(y, r, out=r)
        max_lag = max(2, n // 4)
        acf = autocorrelation(r, max_lag)
        del r
        lag = int(np.argmin(acf)) + 1
        trough = float(acf[lag - 1])
        bound = max(float(params["min_anticorrelation"]), 3.5 / np.sqrt(n))  # the minimum over many lags
        d = np.diff(y)
        swing = float(numstats.median(np.abs(d)))
        progress = abs(float(numstats.median(y[: max(2, n // 10)]) - numstats.median(y[-max(2, n // 10):]))) / n
        third = max(2, n // 3)
        early, late = numstats.median(np.abs(d[:third])), numstats.median(np.abs(d[-third:]))
        sustained = late >= float(params["min_sustain"]) * early if early > 0 else True
        scale_ok = swing >= float(params["min_swing"]) if is_log else swing >= float(params["min_swing"]) * max(abs(float(numstats.median(y))), 1e-12)
        periodic = trough <= -bound
        ring = max(float(params["ringing_anticorrelation"]), 3.5 / np.sqrt(n))  # never inside sampling noise
        if not periodic:
            # a ringing that noise blurs: a shallower first trough at a short lag, then the cycle coming round
            blurred = _first_ringing(acf, ring, 1, max(1, int(float(params["ringing_max_lag"]) * n)))
            if blurred is not None:
                periodic, (lag, trough) = True, blurred
        # a cycle on the moving average's own scale is what detrending red noise (a slow wander) makes of it: it
        # counts only well inside the window (the reads below look for shorter ones)
        # (a short curve's window is a few points wide: its cycles are read as they were)
        periodic = periodic and (window < int(params["ringing_window"])
                                 or period_from_acf(acf, lag, n) <= window * float(params["max_period_in_window"]))
        # a ringing of a few steps on top of a slow wander or swell: the wander lifts the residual's ACF above
        # zero at every short lag and hides the ringing's negative lobe, and a swell the moving average leaves
        # in puts the residual's deepest trough at half the swell's period; the point-to-point moves drop both
        # and keep the ringing, whose period is then read from them
        # (read on the last moves_max_points moves: a ringing sustained to the end shows there, and a long run's
        # full-length transform would cost more than the rest of the rule)
        tail = np.diff(y[-int(params["moves_max_points"]) - 1:])
        moves = _ringing_in_moves(tail, ring, max(3, int(float(params["ringing_max_lag"]) * len(tail))))
        if moves is not None:
            moves_acf = autocorrelation(tail, max(2, len(tail) // 4))
            in_moves = period_from_acf(moves_acf, moves[0], len(tail))
            factor = float(params["moves_period_factor"])
            if not periodic or not in_moves / factor <= period_from_acf(acf, lag, n) <= in_moves * factor:
                periodic, lag, trough, acf = True, moves[0], moves[1], moves_acf
        elif not periodic:
            within = _ringing_within(y[-int(params["moves_max_points"]):], ring, int(params["ringing_window"]))
            if within is not None:
                periodic, (lag, trough, acf) = True, within
        # evaluation-level curves (each point averages a whole validation set or epoch) are not expected to
        # jump by a large factor from one point to the next: sustained zig-zags there are instability even
        # without a regular period. Per-step batch losses are noisy by nature and must show the period.
        # It must also have stopped improving: over its last two thirds the medians of its first and last thirds
        # differ by less than half a typical swing and there is no significant monotonic trend (Mann–Kendall).
        # A noisy validation curve that still falls is a small validation set, not instability.
        evaluation_level = tag == run.roles.val_loss
        zigzag = _lag1(d) <= -float(params["min_zigzag"])
        erratic = (evaluation_level and zigzag and is_log and swing >= float(params["min_swing_erratic"])
                   and _stopped_improving(y[n // 3:], swing, params))
        if not ((periodic and scale_ok) or erratic) or not (swing >= 3 * progress and sustained):
            continue
        sign_changes = float(np.mean(np.sign(d[1:]) != np.sign(d[:-1]))) if len(d) > 2 else 0.0
        period = period_from_acf(acf, lag, n) if periodic else 2
        period_steps = period * float(numstats.median(np.diff(step)))
        if (_epoch_locked_period(run, period_steps, float(params["epoch_period_tolerance"]))
                or _epoch_profile_explains(run, step, y, params) or _on_the_lr_cycle(run, period_steps, params)):
            # a cycle with the epoch's period, or swings that the epoch's own phase profile explains (the class
            # blocks of sorted data: five 20-step swings, at the same phase in every epoch), are PD001's to report
            # and explain. A ringing of a few points has no fixed phase in the epoch: the profile does not
            # explain it, whatever its period
            continue
        ratio = float(np.exp(swing)) if is_log else None
        causes = [Cause("lr_too_high", 0.6,
                        f"the curve swings {'±' + format(ratio - 1, '.0%') if ratio else format(swing, '.3g')} from one "
                        f"point to the next around a trend that moves far less (swing {swing / max(progress, 1e-12):.0f}× "
                        f"the average progress per point), with a regular period of ~{period} points: the optimizer "
                        "overshoots back and forth across a valley")]
        lr = run.get(run.roles.lr)
        if lr is not None and lr.points >= 3:
            ok = np.isfinite(lr.value)
            if np.nanmax(lr.value) > 1.5 * np.nanmin(lr.value[ok]):
                lr_at = np.interp(step[1:], lr.step[ok], lr.value[ok])
                # split halfway between the lowest and highest LR: the median of a step schedule is one of
                # its levels, which would leave one side empty
                mid = 0.5 * (float(lr_at.min()) + float(lr_at.max()))
                hi = np.abs(d)[lr_at > mid]
                lo = np.abs(d)[lr_at <= mid]
                if len(hi) > 3 and len(lo) > 3 and numstats.median(hi) > float(params["lr_swing_ratio"]) * numstats.median(lo):
                    causes[0] = Cause("lr_too_high", 0.8, causes[0].evidence + f"; swings at the higher LR are "
                                      f"{numstats.median(hi) / numstats.median(lo):.1f}× those at the lower LR")
        if not periodic:
            # only validation zig-zags, irregularly: is the model unstable, or is the measurement noisy? A training loss that
            # moves far less from point to point says the weights change smoothly, so the evaluation is the noise
            train = run.get(run.roles.train_loss)
            t_swing = None
            if train is not None:
                _, ty, t_log = scaled(train)
                # its jitter around its own trend (the spread of its moves), not the trend's steady fall
                t_swing = mad(np.diff(ty)) if t_log and len(ty) > 3 else None
            if t_swing is not None and t_swing * float(params["smooth_train_ratio"]) <= swing:
                causes.insert(0, Cause("noisy_validation", 0.65,
                                       f"the training loss jitters only ±{np.exp(t_swing) - 1:.0%} per point against "
                                       f"±{np.exp(swing) - 1:.0%} for validation: the weights change smoothly, so the "
                                       "validation measurement is what jumps — a small, unrepresentative or "
                                       "re-sampled validation set (or a non-deterministic evaluation)"))
        causes.append(Cause("unknown", 0.3, "a noisy or alternating data stream (e.g. alternating data sources, "
                                            "validation on a tiny or shifting set) can swing the same way"))
        out.append(Finding(
            rule="", family="oscillation", severity="", tags=(tag,), step_range=(int(step[0]), int(step[-1])),
            summary=(f"'{tag}' oscillates: a typical move of {'±' + format(ratio - 1, '.0%') if ratio else format(swing, '.3g')} "
                     + (f"per point with period ~{period} points (autocorrelation {trough:.2f} at lag {lag}), "
                        if periodic else f"per point, zig-zagging between evaluations (lag-1 correlation of the "
                                         f"moves {_lag1(d):.2f}), ")
                     + "sustained to the end"),
            stats={"mode": "periodic" if periodic else "erratic", "median_swing": round(swing, 5),
                   "moves_lag1_correlation": round(_lag1(d), 4), "swing_factor": round(ratio, 4) if ratio else None,
                   "acf_min": round(trough, 4), "acf_lag": lag, "period_points": period,
                   "sign_change_rate": round(sign_changes, 4),
                   "swing_vs_progress": round(swing / max(progress, 1e-12), 2),
                   "late_vs_early_swing": round(float(late / early), 3) if early > 0 else None,
                   "points": n, "scale": "log" if is_log else "linear",
                   "thresholds": {"min_anticorrelation": bound, "min_swing": params["min_swing"],
                                  "min_sustain": params["min_sustain"], "min_zigzag": params["min_zigzag"],
                                  "min_swing_erratic": params["min_swing_erratic"]}},
            causes=tuple(sorted(causes, key=lambda c: -c.confidence))))
    return out
