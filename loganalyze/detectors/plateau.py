"""PL001 not-learning and PL002 early-stall: a loss that never leaves its level, or stalls early."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from scipy import ndimage

from ..model import AlignedRun, Cause, Finding
from ..stats import mad
from . import detector

# losses a model produces when it predicts nothing: uniform over C classes, a constant 0.5 under MSE
CHANCE_LEVELS = [(f"ln {c} (uniform over {c} classes)", float(np.log(c))) for c in
                 (2, 3, 4, 5, 6, 8, 10, 16, 20, 32, 100, 1000)] + [("0.25 (MSE of always predicting 0.5 on 0/1 targets)", 0.25)]


def chance_match(level: float, tolerance: float) -> str | None:
    for name, value in CHANCE_LEVELS:
        if abs(level - value) <= tolerance * value:
            return name
    return None


def _series(run: AlignedRun):
    s = run.get(run.roles.train_loss)
    if s is None:
        return None
    ok = np.isfinite(s.value)
    order = np.argsort(s.step[ok], kind="stable")
    return s, s.step[ok][order], s.value[ok][order]


@detector("PL001")
def not_learning(run: AlignedRun, params: Mapping[str, Any]) -> list[Finding]:
    got = _series(run)
    if got is None:
        return []
    s, step, v = got
    n = len(v)
    if n < int(params["min_points"]):
        return []
    head = max(3, n // 10)
    start, end = float(np.median(v[:head])), float(np.median(v[-head:]))
    scale = max(abs(start), 1e-12)
    improvement = (start - end) / scale
    spread = mad(v) / scale
    level = float(np.median(v))
    tol = float(params["chance_tolerance"])
    match = chance_match(level, tol)
    # judged on a running median: per-batch noise of a few percent must not hide a pinned level
    sm = ndimage.median_filter(v, size=max(3, n // 100) | 1, mode="nearest")
    near = float(np.mean(np.abs(sm - level) <= max(tol * abs(level), 1e-12))) if match else 0.0
    flat = abs(improvement) < float(params["min_improvement"])  # a loss that got worse is DV001's
    pinned = match is not None and near >= float(params["min_fraction_at_chance"])
    if not (flat or pinned):
        return []
    # a loss that started low because it resumed from a good checkpoint is not "not learning": only judge
    # runs that are flat from a level they could have left (chance level, or no movement at all)
    if not pinned and spread > 0.25:
        return []
    severity = "error" if pinned and near >= 0.9 else ""
    evid = (f"the loss stays at {level:.4g} for {near:.0%} of the run" if pinned else
            f"the loss moves {improvement:+.1%} from start ({start:.4g}) to end ({end:.4g})")
    causes = [Cause("unknown", 0.6 if pinned else 0.5,
                    evid + (f", which is {match}: the model predicts the same thing for every input" if match else "")
                    + ". Check that the loss is connected to the trained parameters, that the LR is not 0 or far "
                      "too low, that labels match the outputs, and for dead ReLUs or vanishing gradients")]
    if pinned:
        # it learned, then fell back to chance: the network died (dead ReLUs, saturated outputs)
        low_i = int(np.argmin(ndimage.uniform_filter1d(v, size=max(3, n // 50), mode="nearest")))
        low = float(np.median(v[max(0, low_i - n // 100): low_i + n // 100 + 1]))
        if low < level * (1 - 3 * tol) and low_i < n // 2:
            causes.insert(0, Cause("lr_too_high", 0.7,
                                   f"the loss first fell to {low:.4g} (step {int(step[low_i]):,}) and then returned "
                                   f"to {match} and stayed: training collapsed rather than never started — updates "
                                   "too large for the network (a too-high LR or unnormalized inputs) kill units or "
                                   "saturate the outputs"))
    lr = run.get(run.roles.lr)
    if lr is not None and lr.points and np.nanmax(lr.value) <= 1e-7:
        causes.insert(0, Cause("unknown", 0.8, f"the logged learning rate never exceeds {np.nanmax(lr.value):.1g}"))
    summary = (f"'{s.tag}' never leaves its initial level: {improvement:+.1%} over {n:,} points"
               if not pinned else f"'{s.tag}' is pinned at {level:.4g} = {match} for {near:.0%} of the run")
    return [Finding(
        rule="", family="plateau", severity=severity, tags=(s.tag,), step_range=(int(step[0]), int(step[-1])),
        summary=summary,
        stats={"level": round(level, 6), "start": round(start, 6), "end": round(end, 6),
               "relative_improvement": round(improvement, 5), "relative_spread": round(spread, 5),
               "chance_level": match, "fraction_at_level": round(near, 4),
               "thresholds": {k: params[k] for k in ("min_improvement", "chance_tolerance", "min_fraction_at_chance")}},
        causes=tuple(causes))]


@detector("PL002")
def early_stall(run: AlignedRun, params: Mapping[str, Any]) -> list[Finding]:
    got = _series(run)
    if got is None:
        return []
    s, step, v = got
    n = len(v)
    if n < int(params["min_points"]) or v.min() <= 0:
        return []
    y = np.log(v)
    buckets = 40
    edges = np.linspace(0, n, buckets + 1).astype(int)
    med = np.array([np.median(y[a:b]) for a, b in zip(edges[:-1], edges[1:])])
    best = float(med.min())
    noise = mad(np.diff(med)) / np.sqrt(2) + 1e-12
    gap = float(np.log(params["min_gap_factor"]))
    # the longest stretch from the start whose buckets barely move, sitting far above the best; noise widens
    # "barely", but never to half the gap: a noisy curve that falls 2× in that stretch is descending, not stalled
    tolerance = max(min(3 * noise, gap / 2), float(params["flat_tolerance"]))
    flat = 0
    for i in range(1, buckets):
        if abs(med[i] - med[0]) <= tolerance and med[i] - best >= gap:
            flat = i
        else:
            break
    if flat + 1 < int(params["min_stall_fraction"] * buckets):
        return []
    stall_end = int(step[min(edges[flat + 1], n - 1)])
    lr = run.get(run.roles.lr)
    if lr is not None and lr.points >= 2:
        ok = np.isfinite(lr.value)
        ls, lv = lr.step[ok], lr.value[ok]
        near = lv[(ls >= stall_end - (step[-1] - step[0]) * 0.05) & (ls <= stall_end + (step[-1] - step[0]) * 0.05)]
        if len(near) >= 2 and near[-1] < 0.7 * near[0]:
            return []  # the stall ended with an LR step-down: ordinary step decay
    factor = float(np.exp(med[0] - best))
    return [Finding(
        rule="", family="plateau", severity="", tags=(s.tag,), step_range=(int(step[0]), stall_end),
        summary=(f"'{s.tag}' stalls at {np.exp(med[0]):.4g} for the first {(flat + 1) / buckets:.0%} of the run "
                 f"(to step {stall_end:,}), {factor:.1f}× above the best it reaches later"),
        stats={"stall_level": round(float(np.exp(med[0])), 6), "best_level": round(float(np.exp(best)), 6),
               "stall_fraction": round((flat + 1) / buckets, 3), "stall_end_step": stall_end,
               "factor_above_best": round(factor, 3),
               "thresholds": {k: params[k] for k in ("min_gap_factor", "min_stall_fraction", "flat_tolerance")}},
        causes=(Cause("unknown", 0.5, "a long flat start that ends suddenly: poor initialization, a too-low LR or a "
                                      "too-long warm-up, or a symmetry the model needs time to break"),))]
