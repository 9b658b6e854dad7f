"""DV001 loss-divergence: the loss trends upward after its best, or explodes."""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

import numpy as np

from .. import numstats
from ..evidence import card_levels, chance_match, dies_at, grad_burst, lr_context
from ..model import AlignedRun, Cause, Finding
from ..stats import mad, mann_kendall, theil_sen
from . import detector
from ._curves import aggregate, aggregate_buckets, scaled


def unbounded_descent(value: np.ndarray, params: Mapping[str, Any]) -> dict | None:
    """A loss that is negative and keeps falling by orders of magnitude: an objective with no lower
    bound (a likelihood whose variance collapses, a sign error, an unbalanced negative term). A loss
    below 0 that stays bounded, like a WGAN critic's, is not this."""
    if len(value) < int(params["min_points"]) or value[-1] >= 0:
        return None
    k = max(2, len(value) // 5)
    start, end = float(numstats.median(value[:k])), float(numstats.median(value[-k:]))
    scale = max(abs(start), float(numstats.median(np.abs(value))) * 1e-3, 1e-12)
    growth = abs(end) / scale if end < 0 else 0.0
    tau, p = mann_kendall(value)
    if growth < float(params["explode_factor"]) or tau > -float(params["min_tau"]) or p > float(params["max_p"]):
        return None
    return {"start": start, "end": end, "growth": growth, "tau": tau, "p": p}


def _unbounded_finding(s, step: np.ndarray, d: dict) -> Finding:
    return Finding(
        rule="", family="divergence", severity="error", tags=(s.tag,), step_range=(int(step[0]), int(step[-1])),
        summary=(f"'{s.tag}' runs off to minus infinity: from {d['start']:.3g} to {d['end']:.3g} "
                 f"({d['growth']:.3g}× larger in magnitude, Mann–Kendall τ = {d['tau']:.2f})"),
        stats={"shape": "unbounded_descent", "start_value": d["start"], "end_value": d["end"],
               "magnitude_growth": round(d["growth"], 3), "kendall_tau": round(d["tau"], 4),
               "p_value": float(f"{d['p']:.3g}")},
        causes=(Cause("unbounded_loss", 0.7,
                      f"the loss is negative and its magnitude grows {d['growth']:.3g}× without levelling off: the "
                      "objective has no lower bound the model can reach — a log-likelihood of a continuous density "
                      "whose predicted variance collapses, a sign error, or a negative loss term that outweighs the "
                      "rest"),))


def explodes_into_nonfinite(s, params: Mapping[str, Any], died: int | None = None) -> dict | None:
    """A loss that explodes right where the training loss turns NaN/Inf for good (its own death, or the
    total's, when only the total died): the explosion itself, which per-epoch medians would hide."""
    died = dies_at(s) if died is None else died
    if died is None:
        return None
    order = np.argsort(s.step, kind="stable")
    step, v = s.step[order], s.value[order]
    ok = np.isfinite(v)
    gap = float(numstats.median(np.diff(step))) if len(step) > 1 else 1.0
    window = float(params["explosion_window"]) * gap  # the last logging intervals before the NaN
    before = ok & (step < died - window)
    at = ok & (step >= died - window) & (step <= died)
    if before.sum() < int(params["explosion_min_points"]) or not at.any():
        return None
    typical = float(numstats.median(np.abs(v[before][-max(10, int(before.sum()) // 5):])))
    i = int(np.argmax(np.where(at, np.abs(v), -np.inf)))
    peak = float(abs(v[i]))
    if typical <= 0 or peak < float(params["explode_factor"]) * typical:
        return None
    return {"start": int(step[i]), "peak": peak, "typical": typical, "nonfinite_from": died, "end": int(step[-1])}


@detector("DV001")
def loss_divergence(run: AlignedRun, params: Mapping[str, Any]) -> list[Finding]:
    """On the training (else validation) loss; on the other loss terms only explosions, which a total that
    turned NaN or a term that froze can hide from the main curve."""
    main = run.roles.train_loss or run.roles.val_loss
    if main is None:
        return []
    f = _divergence(run, run.series[main], params) if main in run.series else None
    if f is not None:
        return [f]
    out: list[Finding] = []
    booms: list[tuple[str, dict]] = []
    died = dies_at(run.series[main]) if main in run.series else None
    for tag, higher in sorted(run.roles.higher_is_better.items()):
        if higher or tag in (main, run.roles.val_loss) or tag not in run.series:
            continue
        boom = explodes_into_nonfinite(run.series[tag], params, died) if died is not None else None
        if boom is not None:
            booms.append((tag, boom))
            continue
        g = _divergence(run, run.series[tag], params)
        if g is not None and g.severity == "error":
            out.append(g)
    if booms:
        # the terms that blew up as the total turned NaN: one explosion, named by its largest term
        tag, boom = max(booms, key=lambda tb: tb[1]["peak"] / tb[1]["typical"])
        f = _explosion_finding(run, run.series[tag], boom, params, total=main)
        out.insert(0, replace(f, tags=tuple([tag] + [t for t, _ in booms if t != tag]),
                              stats={**f.stats, "terms": [t for t, _ in booms]}))
    return out


def _divergence(run: AlignedRun, s, params: Mapping[str, Any]) -> Finding | None:
    boom = explodes_into_nonfinite(s, params)
    if boom is not None:
        return _explosion_finding(run, s, boom, params)
    step, y, is_log = scaled(s)
    if len(y) < int(params["min_points"]):
        return None
    down = unbounded_descent(y, params) if not is_log else None
    if down is not None:
        return _unbounded_finding(s, step, down)
    xs, ys, unit = aggregate(run, step, y)
    epoch_ys = None
    if unit == "epoch" and len(ys) < int(params["min_epochs_to_aggregate"]):
        # a handful of epochs is too coarse to see a climb in (a short fine-tune, a 6-epoch run): even
        # buckets over the points instead, still wide enough to average the batch noise — but an intra-epoch
        # saw-tooth then shows too, so the epochs must agree (below)
        epoch_ys = ys
        xs, ys, unit = aggregate_buckets(step, y, _short_run_buckets(y, is_log, params))
    if len(ys) < 6:
        return None
    best = _best(ys, np.log(float(params["explode_factor"])) if is_log else None, float(params["explode_factor"]))
    low = float(ys[best])
    seg_x, seg_y = xs[best:], ys[best:]
    if len(seg_y) < max(4, int(params["min_rise_fraction"] * len(ys))):
        return None
    tau, p = mann_kendall(seg_y)
    end_level = float(numstats.median(seg_y[-3:]))
    rise = end_level - low
    noise = mad(np.diff(ys)) / np.sqrt(2) if len(ys) > 3 else 0.0
    if len(ys) < int(params["min_epochs_to_aggregate"]) and np.all(np.diff(ys[best:]) > 0):
        # (a climb that never comes back down: its moves are the trend; one that zig-zags keeps the whole noise)
        noise = min(noise, _noise_beside_the_climb(ys, best))
    min_rise = np.log(float(params["min_rise_factor"])) if is_log else float(params["min_rise_factor"] - 1) * abs(low)
    back_to_chance = _back_to_chance(low, end_level, is_log, params)
    if back_to_chance is not None:
        # the yardstick of a loss that climbed back to its chance level is what it had learned: giving back
        # collapse_share of the way from the best to the prior is a collapse, even when that is not 1.3× the best
        min_rise = min(min_rise, float(params["collapse_share"]) * back_to_chance[1])
        # and its noise is the scatter of the level it climbed back to: on a short run the bucket-to-bucket moves
        # over the whole curve are few, and the climb itself is one of them
        if len(seg_y) >= 5:
            noise = min(noise, mad(np.diff(seg_y[1:])) / np.sqrt(2))
    trend = tau >= float(params["min_tau"]) and p <= float(params["max_p"])
    # or a jump that stays: the last third of the points after the best all sit clearly above it
    # (a burst of bad updates throws the model to a worse level it never leaves)
    tail = max(int(params["level_shift_min_tail"]), int(float(params["level_shift_tail_share"]) * len(seg_y)))
    # (on a loss that cannot go below 0 — log-loss, or an MSE that touches 0 — only: a loss that goes
    # negative, such as a GAN's, has no "N× worse" level to stay at)
    # (and not from a best of exactly 0: "N× worse" than 0 means nothing — a loss logged as 0 is PL001's)
    bounded = is_log or bool(np.min(y) >= 0 and low > 0)
    k_noise = float(params["min_rise_noise"])
    stays_up = bounded and len(seg_y) >= tail + 1 and bool(np.all(seg_y[-tail:] - low >= max(min_rise, k_noise * noise)))
    if not ((trend or stays_up) and rise >= min_rise and rise >= k_noise * noise):
        return None
    if epoch_ys is not None:
        # a saw-tooth comes back down to its troughs every epoch; a collapse does not: the last epoch's low
        # points (its 10th percentile) must still sit above the best by the required rise
        ep = run.epochs.epoch_of(step)
        last = ep == ep[-1]
        if float(np.quantile(y[last], 0.1)) - low < min_rise:
            return None
        # and the last epoch as a whole is no better than the epoch that holds the best: when it is, the run
        # still improves from epoch to epoch and the best was a moment inside one (the first block of
        # class-sorted data is one class, easy to fit), not a level it fell from
        held = ep == run.epochs.epoch_of(seg_x[:1])[0]
        if held.any() and float(numstats.median(y[last])) < float(numstats.median(y[held])):
            return None
    # (a segment logged at one step only has no slope; scipy would warn)
    slope = theil_sen(seg_x.astype(float), seg_y)[0] if seg_x[0] != seg_x[-1] else float("nan")
    factor = float(np.exp(rise)) if is_log else float(end_level / low) if low else float("inf")
    tail_nonfinite = bool(s.points and not np.isfinite(s.value[-1]))
    exploding = tail_nonfinite or (is_log and factor >= float(params["explode_factor"]))
    start_step, end_step = int(seg_x[0]), int(s.step.max())

    causes = []
    lr = run.get(run.roles.lr)
    lr_ev = None
    if lr is not None and lr.points >= 3:
        lr_ok = np.isfinite(lr.value)
        lsteps, lvals = lr.step[lr_ok], lr.value[lr_ok]
        before = lvals[lsteps <= start_step]
        during = lvals[(lsteps >= start_step) & (lsteps <= end_step)]
        if len(before) and len(during):
            lr_at = float(before[-1])
            lr_peak = float(lvals.max())
            rising_into = len(before) >= 2 and before[-1] > before[0] * 1.5
            high = lr_at >= float(params["lr_high_share"]) * lr_peak
            varies = lr_peak > 1.05 * float(lvals.min())  # a constant LR says nothing about being too high
            raised = float(during.max()) >= float(params["lr_raise_factor"]) * lr_at
            if raised:
                at = int(lsteps[(lsteps >= start_step) & (lsteps <= end_step)][int(np.argmax(during))])
                lr_ev = (f"the LR is raised {during.max() / lr_at:.3g}× during the climb (from {lr_at:.3g} at the "
                         f"best, step {start_step:,}, to {during.max():.3g} by step {at:,})")
            elif varies and (rising_into or (high and during.max() >= lr_at)):
                lr_ev = (f"the rise starts at step {start_step:,} with the LR at {lr_at:.3g}"
                         + (f" after rising from {before[0]:.3g}" if rising_into else "")
                         + f" (peak {lr_peak:.3g}) and the LR does not come down while the loss climbs")
    grad = run.get(run.roles.grad_norm)
    grad_ev = None
    if grad is not None:
        g_ok = np.isfinite(grad.value) & (grad.step >= start_step)
        if g_ok.sum() >= 6:
            gt, gp = mann_kendall(grad.value[g_ok])
            if gt > float(params["grad_trend_tau"]) and gp < float(params["max_p"]):
                grad_ev = f"the gradient norm grows alongside (Kendall τ = {gt:.2f})"
    burst = False
    if grad is not None and grad_ev is None and grad.points >= 20:
        b = grad_burst(run, start_step, end_step, float(params["grad_burst_ratio"]))
        if b is not None:
            burst = True
            grad_ev = f"the gradient norm bursts: {b.describe()} — clip the gradient norm"
    end_value = float(np.exp(end_level)) if is_log else end_level
    chance = back_to_chance[0] if back_to_chance is not None else None
    if chance is not None and not lr_ev:
        # it climbed back to the loss of predicting the prior: the units died under updates too large for
        # them — the LR's doing, even when a gradient burst came with it
        causes.append(Cause("lr_too_high", 0.75,
                            f"the loss climbs back to {end_value:.4g} = {chance}: the network collapsed to predicting "
                            "the prior, which updates too large for it do (dead ReLUs, saturated outputs)"
                            + (f"; {grad_ev}" if grad_ev else "")))
    if lr_ev:
        causes.append(Cause("lr_too_high", 0.75, "; ".join(x for x in (lr_ev, grad_ev) if x)
                            + ". Updates too large for the curvature push the loss uphill."))
    if burst:
        # a burst of the gradient norm an order of magnitude over its median, under an LR that does not
        # explain it, is the gradient itself exploding (recurrent nets, no clipping)
        causes.append(Cause("exploding_gradients", 0.7 if not lr_ev else 0.6,
                            grad_ev + ". One oversized update throws the weights to a worse region; gradient "
                                      "clipping removes exactly these peaks."))
    elif grad_ev and not lr_ev:
        causes.append(Cause("lr_too_high", 0.55, grad_ev + ". Updates too large for the curvature push the loss "
                                                           "uphill."))
    causes.append(Cause("unknown", 0.3 if causes else 0.4,
                        ("no learning rate logged to tie it to" if lr is None else "the LR does not explain it alone")
                        + "; also check for a data-pipeline change, label noise, or a bug in a loss term"))
    severity = "error" if exploding else ""
    per_k = slope * 1000
    summary = (f"'{s.tag}' climbs from its best at step {start_step:,} to the end: "
               f"{factor:.2f}× {'higher' if factor >= 1 else ''} (Mann–Kendall τ = {tau:.2f}, p = {p:.1e})")
    if not trend:
        summary = (f"'{s.tag}' jumps from its best at step {start_step:,} to a level {factor:.2f}× higher and "
                   f"stays there (the last {tail} {unit}s all above the best)")
    if exploding:
        summary = f"'{s.tag}' explodes after step {start_step:,}: {factor:.3g}× its best" + (
            ", ending non-finite" if tail_nonfinite else "")
    return Finding(
        rule="", family="divergence", severity=severity, tags=(s.tag,), step_range=(start_step, end_step),
        summary=summary,
        stats={"best_step": start_step, "best_value": round(float(np.exp(low) if is_log else low), 6),
               "end_value": round(float(np.exp(end_level) if is_log else end_level), 6),
               "rise_factor": round(factor, 4), "kendall_tau": round(tau, 4), "p_value": float(f"{p:.3g}"),
               "theil_sen_slope_per_1k_steps": round(per_k, 6), "scale": "log" if is_log else "linear",
               "aggregated_by": unit, "points_in_rise": int(len(seg_y)),
               "shape": "trend" if trend else "level_shift",
               "thresholds": {"min_tau": params["min_tau"], "max_p": params["max_p"],
                              "min_rise_factor": params["min_rise_factor"]}},
        causes=_ranked(causes))


def _noise_beside_the_climb(ys: np.ndarray, best: int) -> float:
    """The point-to-point noise of a curve of a handful of points, its signal left out: the moves before the best
    and those after the jump off it, each side about its own median move (the descent to the best and the climb
    after it are trends, the jump is the event). Over a 6-point curve the whole curve's moves are mostly signal:
    0.93, 0.66, 0.62, then 1.08, 1.29, 1.56 under an LR raised 10× read as noise 3× the climb's own scatter."""
    sides = [np.diff(ys[: best + 1]), np.diff(ys[best + 1:])]
    centred = np.concatenate([d - numstats.median(d) for d in sides if len(d) >= 2])
    return float(mad(centred)) / np.sqrt(2) if len(centred) >= 3 else float("inf")


def _back_to_chance(low: float, end_level: float, is_log: bool, params: Mapping[str, Any]) -> tuple[str, float] | None:
    """The chance level the curve ends at, when its best was clearly below it (by 3 × chance_tolerance), and
    the distance from the best to that level in the curve's own units; None otherwise."""
    tol, levels = float(params["chance_tolerance"]), card_levels(params)
    value = (lambda y: float(np.exp(y))) if is_log else (lambda y: y)
    end, best = value(end_level), value(low)
    name = chance_match(end, tol, levels, above=float(params["chance_tolerance_above"]))
    if name is None:
        return None
    level = dict(levels)[name]
    if not best < level * (1 - 3 * tol):
        return None
    return name, (float(np.log(level)) - low) if is_log else level - low


def _short_run_buckets(y: np.ndarray, is_log: bool, params: Mapping[str, Any]) -> int:
    """How many buckets a run of a few epochs is read in: as many as keep a bucket median's noise
    (1.25·σ/√k for k points of noise σ) under the rise it must show divided by min_rise_noise, at least 2
    points each. A log of window means (Hugging Face every 10 steps) is already quiet and keeps a short dip
    that five-point buckets would average away; a noisy per-step log still gets wide buckets."""
    sigma = mad(np.diff(y)) / np.sqrt(2) if len(y) > 3 else 0.0
    rise = np.log(float(params["min_rise_factor"])) if is_log else (float(params["min_rise_factor"]) - 1) * \
        max(abs(float(numstats.median(y))), 1e-12)
    need = (1.25 * sigma * float(params["min_rise_noise"]) / rise) ** 2 if rise > 0 else 5.0
    k = int(min(5, max(2, np.ceil(need))))
    return min(60, max(6, len(y) // k))


def _best(ys: np.ndarray, log_factor: float | None, factor: float) -> int:
    """Where the curve was best, passing over a lone glitch: a point an explosion's factor below both its
    neighbours (a first evaluation logged as 1e-21, then 0.006) is no best to measure a climb from."""
    order = np.argsort(ys, kind="stable")
    for i in order[:3]:
        near = np.delete(ys[max(0, i - 1):i + 2], 1 if i > 0 else 0)  # (ys holds 6 points or more)
        gap = float(near.min() - ys[i]) if log_factor is not None else None
        glitch = gap >= log_factor if gap is not None else bool(ys[i] > 0 and near.min() >= factor * ys[i])
        if not glitch:
            return int(i)
    return int(order[0])


def _ranked(causes: list[Cause]) -> tuple[Cause, ...]:
    """Strongest first, one entry per cause (its strongest evidence)."""
    best: dict[str, Cause] = {}
    for c in causes:
        if c.cause not in best or c.confidence > best[c.cause].confidence:
            best[c.cause] = c
    return tuple(sorted(best.values(), key=lambda c: -c.confidence))


def _explosion_finding(run: AlignedRun, s, b: dict, params: Mapping[str, Any], total: str | None = None) -> Finding:
    ratio = b["peak"] / b["typical"]
    causes = []
    ctx = lr_context(run, b["start"])
    if ctx is not None and ctx.rising:
        causes.append(Cause("lr_too_high", 0.75, f"the explosion comes as {ctx.describe()}: updates too large "
                                                 "for the model blow the weights up"))
    burst = grad_burst(run, b["start"] - 1, b["nonfinite_from"], float(params["grad_burst_ratio"]))
    if burst is not None:
        causes.append(Cause("exploding_gradients", 0.65, burst.describe() + " just before: clip the gradient norm"))
    causes.append(Cause("unknown", 0.3 if causes else 0.4,
                        "an explosion into NaN/Inf without a rising LR or a logged gradient burst: also check for a "
                        "division or log in a loss term, and for bad inputs in that batch"))
    return Finding(
        rule="", family="divergence", severity="error", tags=(s.tag,), step_range=(b["start"], b["end"]),
        summary=(f"'{s.tag}' explodes to {b['peak']:.3g} ({ratio:.3g}× its typical {b['typical']:.3g}) at step "
                 f"{b['start']:,}" + (f" as '{total}' turns NaN/Inf for good" if total else
                                     f" and is non-finite from step {b['nonfinite_from']:,} on")),
        stats={"shape": "explodes_into_nonfinite", "peak": b["peak"], "typical": b["typical"],
               "rise_factor": round(ratio, 4), "nonfinite_from": b["nonfinite_from"],
               "thresholds": {"explode_factor": params["explode_factor"]}},
        causes=tuple(sorted(causes, key=lambda c: -c.confidence)))
