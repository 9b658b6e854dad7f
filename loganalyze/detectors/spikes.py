"""SP001 loss-spikes: isolated jumps far outside the local spread that recover within a few steps."""
from __future__ import annotations

from bisect import bisect_right
from typing import Any, Mapping

import numpy as np

from .. import numstats
from ..evidence import card_levels, chance_match, dies_at, finite_sorted, huge_from_the_start, lr_raised, share_at_high_lr
from ..model import AlignedRun, Cause, Finding
from ..stats import rolling_mad, rolling_mad_at, rolling_median
from . import detector
from ._curves import scaled
from .periodicity import is_epoch_locked


def robust_z(y: np.ndarray, window: int, floor_fraction: float,
             med: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(z, rolling median, rolling spread): distance from the local median in local spreads.
    `med`: `rolling_median(y, window)` when the caller has it already.

    The spread is floored at `floor_fraction` of its typical value, so a locally flat stretch does
    not turn a small step into a huge z, and a stretch where most values repeat exactly (a loss
    printed with few decimals) still has a spread to measure a spike in.
    """
    med = rolling_median(y, window) if med is None else med
    spread = rolling_mad(y, window, med)
    floor = numstats.median(spread[spread > 0]) if np.any(spread > 0) else 0.0
    spread = np.maximum(spread, floor_fraction * floor) if floor > 0 else spread
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(spread > 0, (y - med) / spread, 0.0)
    return z, med, spread


def find_spikes(y: np.ndarray, window: int, min_z: float, min_jump: float, max_width: int,
                recovery: int, dip_ratio: float, floor_fraction: float,
                rz: tuple | None = None) -> list[tuple[int, int, float, float, int]]:
    """(first index, width, robust z, jump above the local median, recovery points) for each spike.
    `rz`: `robust_z(y, window, floor_fraction)` when the caller has it already (three rolling medians)."""
    n = len(y)
    if n < window:
        return []
    z, med, spread = robust_z(y, window, floor_fraction) if rz is None else rz
    # heavy-tailed noise is symmetric in log space; spikes go up only: they must stand out from the
    # deepest dips too, or they are just the tail of the noise
    threshold = max(min_z, dip_ratio * float(np.max(-z)))
    hot = (z >= threshold) & ((y - med) >= min_jump)
    out = []
    hot_at = np.flatnonzero(hot).tolist()  # the loop visits these only: a step through every point costs ~0.2 µs each
    h = 0
    while h < len(hot_at):
        i = j = hot_at[h]
        while True:
            while j + 1 < n and hot[j + 1]:
                j += 1
            # points over the threshold that the curve never came back down between belong to one
            # excursion: noise on a wide hump must not split it into "isolated" spikes
            k = j + 1
            while k < n and not hot[k] and y[k] > med[j] + 3 * spread[j]:
                k += 1
            if k > j + 1 and k < n and hot[k]:
                j = k
                continue
            break
        width = j - i + 1
        after = y[j + 1: j + 1 + recovery]
        back = np.nonzero(after <= med[j] + 3 * spread[j])[0]
        if width <= max_width and len(back) and i >= window // 2:  # the first points have no baseline
            peak = i + int(np.argmax(z[i: j + 1]))
            out.append((i, width, float(z[peak]), float(y[peak] - med[peak]), int(back[0]) + 1))
        h = bisect_right(hot_at, j, h)  # on from the first hot point after this excursion
    return out


def _no_spike_possible(y: np.ndarray, med: np.ndarray, window: int, min_jump: float, min_z: float) -> bool:
    """Whether no point can be a spike whatever the rolling spread elsewhere, read from the points `min_jump`
    (> 0) above their local median alone: a spike is one of them, and its z is at least min_z. Its z divides
    by its local spread floored from below, so the unfloored spread at those few points bounds it from above
    (the floor is a median over every point: the full rolling MAD, a second filter over the run, is then
    spared). With too many such points (or a zero spread among them) the answer is no: the caller computes."""
    jump = y - med
    at = np.flatnonzero(jump >= min_jump)
    if len(at) == 0:
        return True
    if len(at) > len(y) // 64 or len(at) * window > numstats.SLIDING_LIMIT:  # (each point's window is copied)
        return False
    spread = rolling_mad_at(y, window, med, at)
    return bool(np.all(spread > 0)) and bool(np.all(jump[at] / spread < min_z))


def find_coarse_spikes(y: np.ndarray, min_jump: float, min_noise_multiple: float,
                       neighbours: int = 3) -> list[tuple[int, float, float]]:
    """(index, jump above the neighbours' median, jump in typical point-to-point moves) for each point
    that stands far above the points around it and is left at once: the spike of an epoch-level curve,
    where a rolling window has nothing to roll over. `y` is a log-loss."""
    n = len(y)
    if n < 4:
        return []
    moves = np.abs(np.diff(y))
    typical = float(numstats.median(moves)) + 1e-12
    out = []
    for i in range(1, n - 1):
        before, after = y[max(0, i - neighbours): i], y[i + 1: i + 1 + neighbours]
        base = float(numstats.median(np.concatenate([before, after])))
        jump = float(y[i] - base)
        if jump < min_jump or jump < min_noise_multiple * typical:
            continue
        # above what comes before it as well as after: on a steep descent the later points pull the pooled
        # median down, and a point still on the way down would read as a spike above them
        if float(y[i] - numstats.median(before)) < min_jump / 2:
            continue
        # left at once: the next point is back at least half-way (in log space) to the neighbours
        if y[i + 1] > base + jump / 2 or y[i] <= max(y[i - 1], y[i + 1]):
            continue
        out.append((i, jump, jump / typical))
    return out


def _spike_tags(run: AlignedRun, params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The curves a spike matters on: the losses (train, validation, their terms) and the gradient norm."""
    tags = [(t, "loss") for t in (run.roles.train_loss, run.roles.val_loss) if t]
    if params["loss_terms"]:
        tags += [(t, "loss") for t, hib in run.roles.higher_is_better.items() if not hib and t not in dict(tags)]
    if run.roles.grad_norm:
        tags.append((run.roles.grad_norm, "grad_norm"))
    return [(t, kind) for t, kind in tags if t in run.series]


@detector("SP001")
def loss_spikes(run: AlignedRun, params: Mapping[str, Any]) -> list[Finding]:
    out = []
    for tag, kind in _spike_tags(run, params):
        f = _spikes_on(run, run.series[tag], kind, params)
        if f is not None:
            out.append(f)
    jumps = _validation_jumps(run, params)
    if jumps is not None:
        # the repeated jumps describe the validation curve whole: they replace its few rolling-window spikes
        out = [f for f in out if f.tags[0] != run.roles.val_loss] + [jumps]
    return out


def _validation_jumps(run: AlignedRun, params: Mapping[str, Any]) -> Finding | None:
    """Validation that normally tracks training but jumps far above it again and again, each time coming back.

    Judged on the ratio to the training loss at the same step, not on the validation curve alone: in an
    unstable stretch most evaluations are off, so a rolling median of validation sits up there with them and
    sees no spike."""
    train, val = run.get(run.roles.train_loss), run.get(run.roles.val_loss)
    if train is None or val is None:
        return None
    ts, tv = finite_sorted(train)
    vs, vv = finite_sorted(val)
    if len(vv) < int(params["val_jump_min_evaluations"]) or len(tv) < 4 or tv.min() <= 0 or vv.min() <= 0:
        return None
    t_at = np.exp(np.interp(vs, ts, np.log(tv)))
    r = np.log(vv / t_at)
    usual = float(numstats.median(r))
    if usual > np.log(float(params["val_jump_max_usual_ratio"])):
        return None  # validation does not track training here (overfitting, a shift): the ratio says nothing
    factor = float(params["val_jump_factor"])
    hi = r > usual + np.log(factor)
    first = np.nonzero(hi & ~np.r_[False, hi[:-1]])[0]
    back = [int(i) for i in first if (~hi[i:]).any()]  # each excursion returns below the line afterwards
    if len(back) < int(params["val_jump_min_episodes"]):
        return None
    ratio = np.exp(r - usual)
    steps_ = [int(vs[i]) for i in back]
    off = int(hi.sum())
    peak = float(ratio.max())
    ev = (f"'{val.tag}' normally sits at {np.exp(usual):.2f}× '{train.tag}' but jumps to ≥ {factor:g}× that in "
          f"{len(back)} separate stretches ({off} of {len(vv)} evaluations, up to {peak:.0f}×) and comes back each "
          "time while training stays smooth: the model the evaluation sees swings between evaluations — BatchNorm "
          "running statistics far from the batch statistics (high momentum, small batches), or an LR so high that "
          "the weights at an evaluation are far from where the epoch's average loss was measured")
    return Finding(
        rule="", family="spikes", severity="", tags=(val.tag, train.tag), step_range=(steps_[0], int(vs[np.nonzero(hi)[0][-1]])),
        ranges=tuple((st, st) for st in steps_[:100]),
        summary=(f"'{val.tag}' jumps to {factor:g}–{peak:.0f}× its usual ratio to '{train.tag}' {len(back)} times "
                 f"(first at step {steps_[0]:,}; {off} of {len(vv)} evaluations) and comes back"),
        stats={"mode": "validation_ratio", "count": len(back), "steps": steps_[:100], "evaluations_off": off,
               "usual_ratio": round(float(np.exp(usual)), 4), "max_ratio_to_usual": round(peak, 3),
               "thresholds": {k: params[k] for k in ("val_jump_factor", "val_jump_max_usual_ratio",
                                                     "val_jump_min_episodes", "val_jump_min_evaluations")}},
        causes=(Cause("noisy_validation", 0.55, ev),))


def _spikes_on(run: AlignedRun, s, kind: str, params: Mapping[str, Any]) -> Finding | None:
    step, y, is_log = scaled(s)
    window = int(params["window"])
    ratio_param = "grad_min_ratio" if kind == "grad_norm" else "min_ratio"
    if len(y) < 3 * window:
        if not is_log or len(y) < int(params["coarse_min_points"]):
            return None
        ratio = float(params["grad_min_ratio"] if kind == "grad_norm" else params["coarse_min_ratio"])
        found = find_coarse_spikes(y, float(np.log(ratio)), float(params["coarse_min_moves"]))
        if not found:
            return None
        spikes = [(i, 1, round(m, 1), jump, 1) for i, jump, m in found]
        return _spike_finding(run, s, step, y, is_log, spikes, 0, params, "coarse")
    min_jump = float(np.log(params[ratio_param])) if is_log else 0.0
    floor = float(params["spread_floor_fraction"])
    med = rolling_median(y, window)
    if min_jump > 0 and _no_spike_possible(y, med, window, min_jump, float(params["min_z"])):
        return None
    rz = robust_z(y, window, floor, med)  # once: the spikes, then the epoch lock below
    spikes = find_spikes(y, window, float(params["min_z"]), min_jump, int(params["max_width"]),
                         int(params["recovery_points"]), float(params["dip_ratio"]), floor, rz)
    if not spikes:
        return None
    spike_steps = np.asarray([step[i] for i, *_ in spikes], dtype=np.int64)
    # an outlier at the end of every epoch crosses the full threshold in only some epochs when it is near
    # min_ratio: the rest of the epochs' outliers, elevated by half the threshold, count towards the lock
    z = rz[0]
    elevated = step[z >= 0.5 * float(params["min_z"])].astype(np.int64)
    locked = is_epoch_locked(np.concatenate([spike_steps, elevated]), run.epochs)[: len(spike_steps)]
    spikes = [sp for sp, lk in zip(spikes, locked) if not lk]
    if len(spikes) < int(params["min_spikes"]):
        return None
    return _spike_finding(run, s, step, y, is_log, spikes, int(np.count_nonzero(locked)), params, "rolling")


def _material(s, step, y, is_log, spikes, params) -> list:
    """Spikes that matter on the curve as plotted and that the curve comes back from.

    A loss that converged near 0 makes every rounding step a big factor in log space; a jump smaller
    than `min_range_fraction` of the curve's range is invisible on its chart and changes nothing. A jump
    followed by NaN/Inf is an explosion (NF001, DV001), not a spike that recovered.
    """
    value = np.exp(y) if is_log else y
    lo, hi = np.quantile(value, [0.01, 0.99]) if len(value) else (0.0, 0.0)
    scale = float(hi - lo)
    bad_steps = s.step[~np.isfinite(s.value)]
    out = []
    for sp in spikes:
        i, width, _, jump, rec = sp
        base = float(np.exp(y[i] - jump)) if is_log else float(y[i] - jump)
        if scale > 0 and float(value[i]) - base < float(params["min_range_fraction"]) * scale:
            continue
        j = min(i + width + rec, len(step) - 1)
        if len(bad_steps) and np.any((bad_steps > step[i]) & (bad_steps <= step[j])):
            continue
        out.append(sp)
    return out


def _loss_setback(run: AlignedRun, at_steps: list[int], factor: float) -> str | None:
    """Whether the training loss is worse after a gradient burst than before it: the medians of the tenth of the
    run on either side of the first burst, in words, or None."""
    train = run.get(run.roles.train_loss)
    if train is None:
        return None
    ts, tv = finite_sorted(train)
    if len(tv) < 20:
        return None
    w = max(5, len(tv) // 10)
    i = int(np.searchsorted(ts, at_steps[0], side="right"))
    before, after = tv[max(0, i - w): i], tv[i: i + w]
    if len(before) < 5 or len(after) < 5:
        return None
    b, a = float(numstats.median(before)), float(numstats.median(after))
    return f"median loss {b:.4g} before, {a:.4g} after" if b > 0 and a >= factor * b else None


def _spike_finding(run, s, step, y, is_log, spikes, locked: int, params, mode: str) -> Finding | None:
    spikes = _material(s, step, y, is_log, spikes, params)
    train = run.get(run.roles.train_loss)
    dead = dies_at(train) if train is not None and train.tag != s.tag else None
    if dead is not None:
        spikes = [sp for sp in spikes if step[sp[0]] < dead]
    if len(spikes) < int(params["min_spikes"]):
        return None
    window = int(params["window"])
    steps_ = [int(step[i]) for i, *_ in spikes]
    ratios = [float(np.exp(jump)) if is_log else None for _, _, _, jump, _ in spikes]
    heights = [round(z, 1) for _, _, z, _, _ in spikes]
    recov = [r for *_, r in spikes]

    causes = []
    high = share_at_high_lr(run, steps_) if len(spikes) >= 2 else None
    if high is not None:
        at_high, q75 = high
        if at_high >= float(params["lr_share_at_high"]):
            causes.append(Cause("lr_too_high", 0.7, f"{at_high:.0%} of the spikes happen while the LR is in its top "
                                                    f"quarter (≥ {q75:.3g}): steps too large for the loss surface"))
    grad = run.get(run.roles.grad_norm)
    if grad is not None and grad.tag != s.tag and grad.points >= 3 * window:
        gs, gy, _ = scaled(grad)
        g_found = find_spikes(gy, window, float(params["min_z"]), 0.0, 5, len(gy), float(params["dip_ratio"]),
                              float(params["spread_floor_fraction"]))
        g_spikes = {int(gs[i]) for i, *_ in g_found}
        with_grad = sum(1 for st in steps_ if any(abs(st - g) <= 2 for g in g_spikes))
        if with_grad >= max(1, len(steps_) // 2):
            causes.append(Cause("lr_too_high", 0.6, f"{with_grad} of {len(steps_)} spikes coincide with a gradient-norm "
                                                    "spike: unstable updates (Adam with a high LR or a small epsilon)"))
    # spikes out of a loss that sits at a chance level: the network predicts the prior (it collapsed), and
    # what still kicks it is an update too large for it — a batch cannot be "unlike the rest" to a model
    # that ignores its input
    levels = card_levels(params)
    local = [float(np.exp(y[i] - jump)) if is_log else float(y[i] - jump) for i, _, _, jump, _ in spikes]
    at_chance = [chance_match(v, float(params["chance_tolerance"]), levels) for v in local]
    # (a chance level is a loss's: a gradient norm that happens to sit near 1.0 says nothing about the prior)
    if s.tag != run.roles.grad_norm and sum(m is not None for m in at_chance) * 2 >= len(spikes) and not causes:
        name = next(m for m in at_chance if m is not None)
        causes.append(Cause("lr_too_high", 0.6,
                            f"the loss around the spikes sits at {name}: the network predicts the prior (it "
                            "collapsed or never learned) and still jumps — updates too large for it, not batches "
                            "unlike the rest"))
    # spikes after the logged LR was raised well above where it had mostly been: the raise is the cause, the
    # burst (of the loss or the gradient norm) its symptom
    raised = lr_raised(run, steps_[0], float(params["lr_raised_factor"]))
    if raised:
        causes.append(Cause("lr_too_high", 0.8, raised))
    # spikes of the first steps out of a loss that was huge before the first update: the inputs, not the LR
    huge = huge_from_the_start(run, float(params["huge_start_factor"]), card_levels(params),
                               float(params["chance_tolerance"]))
    if huge is not None and steps_[0] <= int(step[0]) + max(10, len(step) // 10):
        causes.append(Cause("unnormalized_inputs", 0.75, huge.describe(run.roles.train_loss)))
    harmless = False
    if run.roles.grad_norm == s.tag:
        # a burst of the gradient norm itself is an update many times the usual size: an exploding gradient,
        # whatever set it off; whether it did harm shows in the loss right after it
        setback = _loss_setback(run, steps_, float(params["setback_factor"]))
        ev = (f"the gradient norm jumps to {max(ratios):.0f}× its local median at step {steps_[0]:,}"
              + (f" ({len(spikes)} bursts)" if len(spikes) > 1 else "")
              + (f" and the loss is set back after it ({setback})" if setback else
                 ", and the loss shows no lasting setback (if gradients are clipped, the clip absorbed it)")
              + ": an update that size throws the weights far — clip the gradient norm (clip_grad_norm_), "
                "lower the LR, or find the batch that set it off")
        causes.append(Cause("exploding_gradients", 0.75 if setback else 0.55, ev))
        harmless = setback is None and run.get(run.roles.train_loss) is not None
    # single points that are back at once, with nothing in the LR or gradient norm to explain them: the
    # batch was different, not the model — a few corrupted or mislabelled samples (or a data-loader bug)
    isolated = all(w == 1 for _, w, *_ in spikes) and max(recov) <= int(params["bad_batch_recovery"])
    if not causes and isolated:
        causes.append(Cause("corrupt_samples", 0.5,
                            f"{len(spikes)} single-point spike(s), each back at the next point, with no LR or "
                            "gradient-norm evidence of instability: the batches at those steps held samples unlike "
                            "the rest (corrupted rows, wrong units, mislabelled examples) — look them up by step"))
    causes.append(Cause("unknown", 0.45 if not causes else 0.3,
                        f"{len(spikes)} isolated spike(s) that recover within {max(recov)} point(s): outlier or "
                        "corrupted batches if they are rare and unrelated to the LR"))
    causes = sorted({c.cause: c for c in sorted(causes, key=lambda c: c.confidence)}.values(), key=lambda c: -c.confidence)
    big = max(ratios) if is_log else None
    unit = "local spreads" if mode == "rolling" else "typical point-to-point moves"
    summary = (f"'{s.tag}' spikes {len(spikes)} time(s), up to {max(heights):.0f} {unit}"
               + (f" ({big:.1f}× the local median)" if big else "")
               + f", first at step {steps_[0]:,}, recovering within {max(recov)} point(s)")
    # a gradient burst the loss does not feel (a clipped update, a step the optimizer damped) is worth knowing,
    # not a warning
    return Finding(
        rule="", family="spikes", severity="info" if harmless else "", tags=(s.tag,),
        step_range=(steps_[0], steps_[-1]), ranges=tuple((st, st) for st in steps_[:100]), summary=summary,
        stats={"mode": mode, "count": len(spikes), "steps": steps_[:100], "heights": heights[:100],
               "height_unit": unit,
               "ratios_to_local_median": [round(r, 3) for r in ratios[:100]] if is_log else None,
               "recovery_points": recov[:100], "epoch_locked_dropped": locked,
               "thresholds": {k: params[k] for k in ("window", "min_z", "min_ratio", "max_width", "coarse_min_ratio",
                                                     "coarse_min_moves")}},
        causes=tuple(causes))
