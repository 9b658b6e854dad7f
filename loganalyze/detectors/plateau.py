"""The plateau family: PL001 not learning, PL002 early stall, PL003 validation stall, PL004 converged early."""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

import numpy as np

from .. import numstats
from ..align import HIGHER_WORDS, LOSS_WORDS, split_of, tokens
from ..evidence import card_levels, chance_match, finite_sorted, lr_context, metric_tags, no_transfer, zero_for_nan
from ..model import AlignedRun, Cause, Finding
from ..stats import mad, mann_kendall
from . import detector
from .anticorrelation import worsening


def _level_is(level: float, match: str) -> str:
    """`1.605 = ln 5 (…)`, but `0.25 (…)` rather than `0.25 = 0.25 (…)` when the level reads as its name."""
    shown = f"{level:.4g}"
    try:
        same = float(match.split(" ", 1)[0]) == float(shown)
    except ValueError:  # "ln 5 (…)"
        same = False
    return match if same else f"{shown} = {match}"


def _series(run: AlignedRun, tag: str | None = None):
    s = run.get(run.roles.train_loss if tag is None else tag)
    if s is None:
        return None
    step, value = finite_sorted(s)
    return s, step, value


@detector("PL001")
def not_learning(run: AlignedRun, params: Mapping[str, Any]) -> list[Finding]:
    """Not learning, however it shows: a loss pinned at a chance level (train or validation), a train
    loss that never leaves its first level, a metric that is the same number at every evaluation."""
    found: list[Finding] = []
    judged: set[str] = set()
    for tag, is_train in ((run.roles.train_loss, True), (run.roles.val_loss, False)):
        got = _series(run, tag) if tag else None
        if got is None:
            continue
        f = _judge_loss(run, *got, params, is_train)
        if f is not None:
            found.append(f)
            judged.add(tag)
    if (len(found) == 2 and found[0].stats["kind"] == found[1].stats["kind"] in ("pinned", "collapsed")
            and found[0].stats["chance_level"] == found[1].stats["chance_level"]):
        # training and validation at the same chance level are one finding: the model predicts the prior
        tr, va = found
        found = [replace(tr, tags=tr.tags + va.tags,
                         summary=tr.summary + f"; validation ('{va.tags[0]}') sits there too "
                                              f"({va.stats['level']:.4g}, {va.stats['fraction_at_level']:.0%})",
                         stats={**tr.stats, "val_level": va.stats["level"],
                                "val_fraction_at_level": va.stats["fraction_at_level"]})]
    # a loss term (one head of several) that sits at its chance level learns nothing, whatever the total does
    for tag, higher in sorted(run.roles.higher_is_better.items()):
        if higher or tag in judged or tag in (run.roles.train_loss, run.roles.val_loss):
            continue
        got = _series(run, tag)
        f = _judge_loss(run, *got, params, is_train=False, term=True) if got is not None else None
        if f is not None and f.stats["kind"] == "pinned":
            judged.add(tag)
            same = next((i for i, g in enumerate(found) if g.stats.get("kind") == "pinned"
                         and g.stats["chance_level"] == f.stats["chance_level"]
                         and g.tags[0] in (run.roles.train_loss, run.roles.val_loss)), None)
            if same is not None:  # a copy of a loss already reported there (Keras' `mse` beside `loss`)
                found[same] = replace(found[same], tags=found[same].tags + (tag,))
            else:
                found.append(f)
    if not found:
        never = _never_improved(run, params)
        if never is not None:
            found.append(never)
    found += _constant_metrics(run, params, judged)
    constant = {t for f in found for t in f.tags}
    found += _accuracy_at_chance(run, params, constant)
    return found


def _accuracy_at_chance(run: AlignedRun, params: Mapping[str, Any], done: set[str]) -> list[Finding]:
    """A validation accuracy that stays at 1/C while training learns and nothing transfers.

    C comes from the validation loss: when it never gets below where training started (`no_transfer`),
    its best is the cross-entropy of a prediction no better than uniform, ln C, so exp(best) ≈ C (the
    loss of a model at init over-estimates C, which only makes the band narrower). An accuracy
    within `chance_accuracy_factor` / C at every evaluation has learned nothing, even when it is
    0 at most evaluations and one sample right at another (not one constant number).
    """
    nothing = no_transfer(run, float(params["transfer_tolerance"]), float(params["min_train_fall"]))
    if nothing is None:
        return []
    classes = float(np.exp(min(nothing.val_best, 50.0)))
    if classes < float(params["min_classes_accuracy"]):
        return []
    out = []
    for tag in metric_tags(run):
        if tag in done or split_of(tag) != "val" or not run.roles.higher_is_better.get(tag, False) \
                or not any(t.startswith("acc") for t in tokens(tag)):
            continue
        step, v = finite_sorted(run.series[tag])
        if len(v) < int(params["min_points_constant"]) or v.min() < 0 or v.max() > 100:
            continue
        scale = 100.0 if v.max() > 1 else 1.0
        band = float(params["chance_accuracy_factor"]) / classes
        # the mean pools every evaluation (one sample right in 500 is 2/C for C = 1000); the last half's mean
        # keeps out an accuracy that starts at chance and then learns
        if max(float(v.mean()), float(v[len(v) // 2:].mean())) / scale > band:
            continue
        first = int(step[0])
        out.append(Finding(
            rule="", family="plateau", severity="", tags=(tag,), step_range=(first, int(step[-1])),
            summary=(f"'{tag}' stays at chance: {v.mean():.3g} on average over its {len(v)} evaluations (at most "
                     f"{v.max():.3g}), within {params['chance_accuracy_factor']:g}× the 1/C = {scale / classes:.3g} of "
                     f"the ≈{classes:.0f} classes its validation loss implies (best {nothing.val_best:.4g} = ln "
                     f"{classes:.0f})"),
            stats={"kind": "accuracy_at_chance", "mean": float(v.mean()), "max": float(v.max()), "points": int(len(v)),
                   "classes_implied": round(classes, 1), "chance_accuracy": round(scale / classes, 6),
                   "thresholds": {k: params[k] for k in ("chance_accuracy_factor", "min_classes_accuracy",
                                                          "transfer_tolerance", "min_train_fall")}},
            causes=(Cause("memorization", 0.65, f"'{tag}' never leaves chance and " + nothing.describe(
                run.roles.train_loss, run.roles.val_loss)),)))
    return out


def _never_improved(run: AlignedRun, params: Mapping[str, Any]) -> Finding | None:
    """Neither the training nor the validation loss ever gets below its first logged value: whatever the curves
    do in between, the run made the model no better than where it started."""
    got = []
    for tag in (run.roles.train_loss, run.roles.val_loss):
        s = run.get(tag) if tag else None
        if s is None:
            return None
        step, v = finite_sorted(s)
        if len(v) < int(params["min_points_never_improved"]):
            return None
        if float(np.min(v[1:])) < v[0] * (1 - float(params["chance_tolerance"])):
            return None
        got.append((s.tag, step, v))
    (tt, ts, tv), (vt, vs, vv) = got
    worse = [f"'{t}' from {v[0]:.4g} to {v[-1]:.4g} ({v[-1] / v[0] - 1:+.0%}; best later {np.min(v[1:]):.4g})"
             for t, _, v in got]
    start = int(min(ts[0], vs[0]))
    causes = [Cause("unknown", 0.5, "no update made the model better on either split: check the LR (too high from "
                                    "the first steps), that the loss is wired to the outputs, and the data pipeline")]
    ctx = lr_context(run, int(max(ts[-1], vs[-1])))
    if ctx is not None and not ctx.constant and ctx.peak >= float(params["lr_rise_factor"]) * ctx.start:
        causes.insert(0, Cause("lr_too_high", 0.7,
                               f"the LR ('{ctx.tag}') rises from {ctx.start:.3g} to {ctx.peak:.3g} while neither loss "
                               "ever improves on its first value: steps that large undo what the first ones learned"))
    return Finding(
        rule="", family="plateau", severity="", tags=(tt, vt), step_range=(start, int(max(ts[-1], vs[-1]))),
        summary=(f"neither loss ever improves on its first logged value: {worse[0]}; {worse[1]} over "
                 f"{len(vv)} evaluations"),
        stats={"kind": "never_improved", "train_first": round(float(tv[0]), 6), "train_best_later": round(float(np.min(tv[1:])), 6),
               "val_first": round(float(vv[0]), 6), "val_best_later": round(float(np.min(vv[1:])), 6),
               "train_points": int(len(tv)), "val_points": int(len(vv)),
               "thresholds": {k: params[k] for k in ("min_points_never_improved", "chance_tolerance")}},
        causes=tuple(sorted(causes, key=lambda c: -c.confidence)))


def floor_levels(classes) -> list[tuple[int, float]]:
    """The lowest value a C-class cross-entropy reaches when it is fed probabilities instead of logits (a softmax
    in the model, then CrossEntropyLoss's own): with inputs in [0, 1] the best margin is 1, so the loss cannot
    go below -log(e / (e + C - 1)) = log(1 + (C - 1)/e) — 0.3133 for two classes, 1.4611 for ten."""
    return [(int(c), float(np.log1p((c - 1) / np.e))) for c in classes]


def _at_floor(run: AlignedRun, s, step: np.ndarray, v: np.ndarray, params: Mapping[str, Any]) -> Finding | None:
    """A training loss that comes down to log(1 + (C-1)/e) and sits there, never below it, without noise."""
    n = len(v)
    tol = float(params["floor_tolerance"])
    k = max(3, int(float(params["min_fraction_at_floor"]) * n))
    end_level = float(numstats.median(v[-k:]))
    match = next(((c, lv) for c, lv in floor_levels(params["chance_classes"]) if abs(end_level - lv) <= tol * lv),
                 None)
    if match is None:
        return None
    classes, floor = match
    # the stretch at the floor: from the earliest point after which most points sit on it (the others above
    # it: a batch the model still gets wrong costs more, never less)
    on = np.abs(v - floor) <= tol * floor
    share_on = np.cumsum(on[::-1])[::-1] / np.arange(n, 0, -1)
    i = int(np.argmax(share_on >= float(params["min_share_at_floor"])))
    run_len = n - i
    held = v[i:]
    # a floor is a bound: nothing goes below it; and once every sample is saturated the batches all cost the
    # same, so the points there have (almost) no noise
    if run_len < k or float(np.min(v)) < floor * (1 - tol) or float(numstats.median(np.abs(held - floor))) > tol * floor:
        return None
    what = f"log(1 + {classes - 1}/e)"
    ev = (f"'{s.tag}' has sat at {floor:.4f} = {what} since step {int(step[i]):,} and never goes below it: the "
          f"lowest a {classes}-class cross-entropy can reach when it is fed probabilities — a softmax at the end of "
          "the model and CrossEntropyLoss's own on top (a double softmax), so even a perfect prediction costs "
          "that much and the gradient fades; remove the model's softmax, or use NLLLoss on log-probabilities")
    perfect = [t for t, higher in run.roles.higher_is_better.items() if higher and "val" not in t.lower()
               and (m := run.get(t)) is not None and m.points >= 3
               and np.nanmedian(m.value[-max(3, m.points // 4):]) >= 0.99]
    if perfect:
        ev += f"; '{perfect[0]}' is already 1.0 there"
    return Finding(
        rule="", family="plateau", severity="warning", tags=(s.tag,), step_range=(int(step[i]), int(step[-1])),
        summary=(f"'{s.tag}' sits at {floor:.4f} = {what} from step {int(step[i]):,} ({run_len / n:.0%} of the "
                 f"run) and never below: the floor of a {classes}-class cross-entropy fed probabilities"),
        stats={"kind": "floor", "level": round(float(numstats.median(held)), 6), "floor": round(floor, 6),
               "classes": classes, "floor_start_step": int(step[i]), "fraction_at_floor": round(run_len / n, 4),
               "min": round(float(np.min(v)), 6),
               "thresholds": {k_: params[k_] for k_ in ("floor_tolerance", "min_fraction_at_floor",
                                                        "min_share_at_floor")}},
        causes=(Cause("probabilities_as_logits", 0.8, ev),))


def _judge_loss(run: AlignedRun, s, step: np.ndarray, v: np.ndarray, params: Mapping[str, Any],
                is_train: bool, term: bool = False) -> Finding | None:
    n = len(v)
    if n < int(params["min_points_at_chance"]):
        return None
    if is_train:
        floor = _at_floor(run, s, step, v, params)
        if floor is not None:
            return floor
    head = max(1, min(3, n // 3), n // 10)
    start, end = float(numstats.median(v[:head])), float(numstats.median(v[-head:]))
    scale = max(abs(start), 1e-12)
    improvement = (start - end) / scale
    spread = mad(v) / scale
    level = float(numstats.median(v))
    tol = float(params["chance_tolerance"])
    levels = _task_levels(run, params)
    match = chance_match(level, tol, levels)
    # judged on a running median: per-batch noise of a few percent must not hide a pinned level. Only a level
    # that matches a chance level can be pinned, and only a pinned one reads `at` below: no filter otherwise
    sm = at = None
    if match is not None:
        sm = numstats.median_filter(v, size=max(3, n // 100) | 1, mode="nearest")
        at = np.abs(sm - level) <= max(tol * abs(level), 1e-12)
    near = float(np.mean(at)) if match else 0.0
    # a loss that got worse is DV001's; "flat from the start" needs enough points to tell from noise,
    # and is judged on the training loss only (a validation loss may rightly stay put while training fits)
    flat = is_train and n >= int(params["min_points"]) and abs(improvement) < float(params["min_improvement"])
    pinned = match is not None and near >= float(params["min_fraction_at_chance"])
    late = None
    if not pinned:
        # collapsed late: the last stretch sits at a chance level after the loss had been well below it (a raised
        # LR or a blow-up killed the network); the median over the whole run is not that level, so look at the end
        k = max(3, int(float(params["min_fraction_collapsed"]) * n))
        end_level = float(numstats.median(v[-k:]))
        end_match = chance_match(end_level, tol, levels, above=float(params["chance_tolerance_above"]))
        if end_match is not None:
            run_len = _run_at_level(v, end_level, 3 * tol)
            # the level it fell from is one the loss held, judged on the same twentieths: one deep point of a
            # heavy-tailed noise is not a stretch of learning
            w = max(1, n // 20)
            before = [float(numstats.median(v[i:i + w])) for i in range(0, n - run_len, w)]
            if run_len >= k and before and min(before) < end_level * (1 - 3 * tol) and \
                    mad(v[n - run_len:]) / end_level <= float(params["max_pinned_noise"]):
                late = (n - run_len, end_level, end_match)
    if (late is not None or pinned) and not is_train and not term and \
            _train_learns(run, tol, late[1] if late is not None else level, float(params["explode_factor"]),
                          levels):
        # a validation loss at (or climbing to) a chance level while training learns is a mismatch or
        # overfitting, not a dead model
        late, pinned = None, False
    if late is not None:
        return _late_collapse(run, s, step, v, late, params)
    if pinned and n >= 8:
        # a model that predicts a constant has almost no batch-to-batch noise (the uniform prediction's
        # cross-entropy is ln C whatever the batch holds); a model that converged near ln C by coincidence
        # still has its batch noise
        quiet = float(mad(v[at] - sm[at]) / max(abs(level), 1e-12))
        pinned = quiet <= float(params["max_pinned_noise"])
    if not (flat or pinned):
        return _barely_below_chance(run, s, step, v, start, end, levels, params) if is_train and late is None else None
    # a loss that started low because it resumed from a good checkpoint is not "not learning": only judge
    # runs that are flat from a level they could have left (chance level, or no movement at all)
    if not pinned and spread > float(params["max_flat_spread"]):
        return None
    collapse = None
    if pinned:
        explode = float(params["explode_factor"])
        # it learned, then fell back to chance: the network died (dead ReLUs, saturated outputs)
        low_i = int(np.argmin(numstats.uniform_filter1d(v, size=max(3, n // 50), mode="nearest")))
        low = float(numstats.median(v[max(0, low_i - n // 100): low_i + n // 100 + 1]))
        # fell back: after its low the loss sits at the level again for a tenth of the run or more (a low at
        # the very end is learning that started late, not a collapse)
        back = int(np.count_nonzero(at[low_i:]))
        if low < level * (1 - 3 * tol) and back >= max(2, n // 10):
            collapse = (low, low_i)
        elif not at[: max(1 if is_train else 2, n // 10)].any() and not (
                abs(end - level) <= tol * abs(level) and float(np.max(v[: max(3, n // 10)])) >= explode * level):
            # (a validation series starts after an epoch of training: one off first evaluation is not a stall)
            # pinned later but not from the start: a stall, PL002's, or a run that converged near a level that
            # happens to be a chance level (a language model's loss at 3.0 = ln 20). Unless its first updates
            # exploded (explode_factor × the level) and it then sat at chance to the end: huge first updates killed
            # the network, which never learned beyond the prior (the unnormalized-inputs cause below says so)
            pinned = False
            if not flat:
                return None
    severity = "error" if pinned and near >= float(params["error_fraction_at_chance"]) else ""
    evid = (f"the loss stays at {level:.4g} for {near:.0%} of the run" if pinned else
            f"the loss moves {improvement:+.1%} from start ({start:.4g}) to end ({end:.4g})")
    causes = [Cause("unknown", 0.6 if pinned else 0.5,
                    evid + (f", which is {match}: the model predicts the same thing for every input" if match else "")
                    + ". Check that the loss is connected to the trained parameters, that the LR is not 0 or far "
                      "too low, that labels match the outputs, and for dead ReLUs or vanishing gradients")]
    if collapse is not None:
        low, low_i = collapse
        causes.insert(0, Cause("lr_too_high", 0.7,
                               f"the loss first fell to {low:.4g} (step {int(step[low_i]):,}) and then returned "
                               f"to {match} and stayed: training collapsed rather than never started — updates "
                               "too large for the network (a too-high LR or unnormalized inputs) kill units or "
                               "saturate the outputs"))
    if pinned:
        # it exploded in its first steps and then settled at chance: the first updates were huge, which is
        # what features on wildly different scales (or a far too high LR) do to a freshly initialized net
        # (for validation, the same model's training loss shows the first steps: evaluations come later)
        hs, hv = (step, v) if is_train or term else finite_sorted(run.get(run.roles.train_loss)) \
            if run.get(run.roles.train_loss) is not None else (step, v)
        head_n = max(3, len(hv) // 10)
        peak_i = int(np.argmax(hv[:head_n]))
        if hv[peak_i] >= float(params["explode_factor"]) * level and peak_i < head_n - 1:
            causes.insert(0, Cause("unnormalized_inputs", 0.65,
                                   f"the {'' if is_train or term else 'training '}loss first exploded to "
                                   f"{hv[peak_i]:.3g} (step {int(hs[peak_i]):,}, "
                                   f"{hv[peak_i] / level:.0f}× the chance level) and then settled at {match}: huge "
                                   "first updates killed the network — typical of unnormalized input features "
                                   "(scales far from 1), or of an LR far too high for the first steps"))
    lr_max = _lr_max(run)
    if lr_max is not None and lr_max <= float(params["max_dead_lr"]):
        causes.insert(0, Cause("unknown", 0.8, f"the logged learning rate never exceeds {lr_max:.1g}"))
    elif collapse is None and len(causes) == 1 and (pinned or flat):
        # never moved from where it started, and nothing blew up: the optimizer's steps are too small to
        # matter, or the network starts in a state it cannot leave
        if lr_max is not None and lr_max <= float(params["max_low_lr"]):
            causes.insert(0, Cause("lr_too_low", 0.7,
                                   f"the logged learning rate never exceeds {lr_max:.1g} and the loss never leaves "
                                   f"{start:.4g}: steps that small cannot move this model — raise the LR (a range test "
                                   "finds where the loss starts to fall)"))
        elif pinned and improvement >= float(params["min_improvement"]) and (trend := _steady_descent(v, params)):
            # (a trend that moved the loss: over thousands of points a τ of −0.07 is significant and moves it 0.0%)
            causes.insert(0, _small_steps(0.65, trend, f"the loss sits near {match} but falls steadily",
                                          f"{improvement:+.1%} from start to end", lr_max))
        elif pinned:
            first_at = int(np.argmax(at))
            since = ("from its first points" if at[: max(1, n // 10)].any() else
                     f"from step {int(step[first_at]):,} on (its first {first_at} points are "
                     f"{'above' if v[0] > level else 'below'} it)")
            causes.insert(0, Cause("bad_initialization", 0.65,
                                   f"the loss sits at {match} {since} and never leaves it"
                                   + (f", under an LR of {lr_max:.3g}" if lr_max is not None else "")
                                   + ": the network starts predicting the prior and gets no gradient to leave it — "
                                     "dead ReLUs or saturated units at initialization, a zero or tiny init, a "
                                     "detached loss"))
    what = "" if is_train else "loss term " if term else "validation loss "
    summary = (f"{what}'{s.tag}' never leaves its initial level: {improvement:+.1%} over {n:,} points"
               if not pinned else f"{what}'{s.tag}' is pinned at {_level_is(level, match)} for {near:.0%} of the run")
    return Finding(
        rule="", family="plateau", severity=severity, tags=(s.tag,), step_range=(int(step[0]), int(step[-1])),
        summary=summary,
        stats={"kind": "pinned" if pinned else "flat", "level": round(level, 6), "start": round(start, 6),
               "end": round(end, 6), "points": n,
               "relative_improvement": round(improvement, 5), "relative_spread": round(spread, 5),
               "chance_level": match, "fraction_at_level": round(near, 4),
               "thresholds": {k: params[k] for k in ("min_improvement", "chance_tolerance", "min_fraction_at_chance")}},
        causes=tuple(sorted(causes, key=lambda c: -c.confidence)))


def _first_points(v: np.ndarray) -> float:
    """The median of a loss's first three points (fewer on a tiny log): where the model started, which a first
    tenth would mix with the learning of a fast model."""
    return float(numstats.median(v[: max(1, min(3, len(v) // 3))]))


def _lr_max(run: AlignedRun) -> float | None:
    """The highest finite LR logged, or None."""
    lr = run.get(run.roles.lr)
    return float(np.nanmax(lr.value)) if lr is not None and lr.points and np.isfinite(lr.value).any() else None


def _task_levels(run: AlignedRun, params: Mapping[str, Any]) -> list[tuple[str, float]]:
    """The chance levels that can be this run's. When the training loss starts at an ln C (its first three points),
    it is a cross-entropy and the MSE levels are not its: a 5-class classifier that starts at ln 5 and learns down
    to 1.0 sits where a model that learned something happens to be, not at the 1.0 of an MSE on standardized
    targets."""
    levels = card_levels(params)
    train = _series(run)
    if train is None or len(train[2]) < int(params["min_points_at_chance"]):
        return levels
    v = train[2]
    name = chance_match(_first_points(v), float(params["chance_tolerance"]), levels)
    # a cross-entropy's levels only: a start at ln C names the loss (a dead network may start at another ln C by
    # coincidence of its initial logits and die at its own, so no ln C is dropped)
    return [(n, x) for n, x in levels if n.startswith("ln ")] if name is not None and name.startswith("ln ") else levels


def _barely_below_chance(run: AlignedRun, s, step: np.ndarray, v: np.ndarray, start: float, end: float,
                         levels: list[tuple[str, float]], params: Mapping[str, Any]) -> Finding | None:
    """A training loss that starts at a chance level and ends barely below it, never having been lower: over the
    whole run the model learned almost nothing of its inputs. Whatever a run learns takes its loss well below the
    chance level (a classifier that learns anything ends far below ln C); "flat" (under min_improvement) misses a
    loss that creeps 3% in a run. How it moves tells causes apart: a slow, steady descent is steps too small to
    move the model (a too-low LR); no descent at all, the dead network of the flat/pinned reads."""
    tol = float(params["chance_tolerance"])
    n = len(v)
    # an untrained classifier starts at its chance level: its first points sit there, and nothing of the first tenth
    # is above it (a loss that falls through a level on its way down only passes it)
    first = _first_points(v)
    name = chance_match(first, tol, levels)
    if name is None or end > start:  # (a loss that got worse is DV001's)
        return None
    chance = dict(levels)[name]
    if float(np.max(v[: max(1, n // 10)])) > chance * (1 + float(params["chance_tolerance_above"])):
        return None
    gain = (chance - end) / chance
    w = max(1, n // 20)
    lowest = min(float(numstats.median(v[i:i + w])) for i in range(0, n, w))
    max_gain = float(params["max_gain_below_chance"])
    if gain >= max_gain or lowest < chance * (1 - max_gain):  # it learned, or it had learned and came back
        return None
    trend = _steady_descent(v, params)
    tau, p = trend if trend is not None else mann_kendall(v[n // 2:])  # (both: the second half's)
    steady = trend is not None
    causes = [Cause("unknown", 0.5, f"the loss starts at {name} and ends {gain:.1%} below it after {n:,} points: "
                                    "whatever a run learns takes its loss well below its chance level. Check that the "
                                    "loss is connected to the trained parameters, that labels match the outputs, and "
                                    "the LR (a loss near ln C by coincidence, e.g. a fine-tune's, can look like this)")]
    lr_max = _lr_max(run)
    if steady:
        causes.insert(0, _small_steps(0.6, trend, "the loss falls steadily", f"only {gain:.1%} below {name}", lr_max))
    # info: a loss near ln C by coincidence (a fine-tune's 2.3 = ln 10) that improves a few percent looks the same
    return Finding(
        rule="", family="plateau", severity="info", tags=(s.tag,), step_range=(int(step[0]), int(step[-1])),
        summary=f"'{s.tag}' barely leaves {_level_is(chance, name)}: from {start:.4g} to {end:.4g}, {gain:.1%} below "
                f"it after {n:,} points",
        stats={"kind": "barely_below_chance", "level": round(chance, 6), "start": round(first, 6),
               "end": round(end, 6), "points": n, "gain_below_chance": round(gain, 5), "chance_level": name,
               "lowest_twentieth": round(lowest, 6), "kendall_tau": round(tau, 4), "kendall_p": p,
               "thresholds": {k: params[k] for k in ("max_gain_below_chance", "chance_tolerance",
                                                     "steady_descent_p")}},
        causes=tuple(sorted(causes, key=lambda c: -c.confidence)))


def _small_steps(confidence: float, trend: tuple[float, float], falls: str, moved: str, lr_max: float | None) -> Cause:
    """lr_too_low from a slow, steady descent (`_steady_descent`'s τ and p over the second half)."""
    tau, p = trend
    return Cause("lr_too_low", confidence,
                 f"{falls} (Mann–Kendall τ = {tau:.2f}, p = {p:.2g} over its second half; {moved})"
                 + (f" under an LR never above {lr_max:.3g}" if lr_max is not None else "")
                 + ": the model does learn, with steps far too small to get anywhere (a dead network does not descend "
                   "at all) — raise the LR; a range test shows where the loss starts to fall")


def _steady_descent(v: np.ndarray, params: Mapping[str, Any]) -> tuple[float, float] | None:
    """(Kendall's τ, p) of the second half when the loss still falls there steadily (τ < 0, p < steady_descent_p),
    else None. A too-low LR descends slowly all the way; a dead network's output bias reaches the prior early and the
    loss then stays put (its descent over the whole run is significant too, so the whole run cannot tell them)."""
    tau, p = mann_kendall(v[len(v) // 2:])
    return (tau, p) if tau < 0 and p < float(params["steady_descent_p"]) else None


def _train_learns(run: AlignedRun, tol: float, level: float, descent: float, levels) -> bool:
    """Training ends well below the chance level validation sits at: it learned something (a fall from a
    first-steps explosion back to the prior is not learning). Or it fell `descent`× from its very first
    logged point, its highest, to an end that is itself no chance level: a regression on unscaled features
    that starts at an MSE of 25 and reaches its noise floor, 0.27, while validation's sits at 0.255 by
    coincidence. (A network that an explosion killed ends at the chance level itself, even when the writer's
    first point, an epoch's mean, already holds the explosion.)"""
    train = run.get(run.roles.train_loss)
    if train is None:
        return False
    _, tv = finite_sorted(train)
    k = max(1, len(tv) // 10)
    if len(tv) < 4:
        return False
    end = float(numstats.median(tv[-k:]))
    return bool(end < (1 - 3 * tol) * level) or bool(tv[0] >= tv.max() and tv[0] >= descent * max(end, 1e-12)
                                                     and chance_match(end, tol, levels) is None)


def _run_at_level(v: np.ndarray, level: float, band: float) -> int:
    """How many trailing points stay at `level`, judged on medians of twentieths of the run: a collapsed
    network's loss still wanders with its batches, so single points (or a short running median) leave a
    tight band by chance while the stretch as a whole has not moved."""
    n = len(v)
    w = max(1, n // 20)
    run = 0
    for end in range(n, 0, -w):
        if abs(float(numstats.median(v[max(0, end - w):end])) - level) > band * abs(level):
            break
        run += min(w, end)
    return run


def _late_collapse(run: AlignedRun, s, step: np.ndarray, v: np.ndarray, late: tuple, params) -> Finding:
    i, level, match = late
    low_i = int(np.argmin(v[:i]))
    ctx = lr_context(run, int(step[i]))
    ev = (f"the loss had reached {v[low_i]:.4g} (step {int(step[low_i]):,}) and has sat at {_level_is(level, match)} "
          f"since step {int(step[i]):,}: the network collapsed to predicting the prior — updates too large for it "
          "(a too-high or raised LR, unnormalized inputs) kill units or saturate the outputs")
    if ctx is not None and not ctx.constant and ctx.peak > 1.5 * ctx.start:
        ev += f"; {ctx.describe()}"
    return Finding(
        rule="", family="plateau", severity="", tags=(s.tag,), step_range=(int(step[i]), int(step[-1])),
        summary=f"'{s.tag}' collapsed to {_level_is(level, match)} at step {int(step[i]):,} and stays there "
                f"({(len(v) - i) / len(v):.0%} of the run)",
        stats={"kind": "collapsed", "level": round(level, 6), "chance_level": match, "collapse_step": int(step[i]),
               "best_before": round(float(v[low_i]), 6), "fraction_at_level": round((len(v) - i) / len(v), 4),
               "thresholds": {k: params[k] for k in ("min_fraction_collapsed", "chance_tolerance")}},
        causes=(Cause("lr_too_high", 0.7, ev),))


def _metric_group(tag: str) -> tuple[str | None, str]:
    """Tags that measure the same kind of thing on the same split: eval_T007_f1 and eval_T020_f1."""
    toks = tokens(tag)
    kind = next((t for t in reversed(toks) if t in HIGHER_WORDS or t in LOSS_WORDS), toks[-1] if toks else tag)
    return split_of(tag), kind


def _constant_metrics(run: AlignedRun, params: Mapping[str, Any], judged: set[str]) -> list[Finding]:
    """A loss or metric that is one and the same number at (nearly) every log point: a model whose
    output does not depend on its input, a metric computed on an empty or constant prediction, or a
    loss term that is disconnected. Perfect scores (accuracy 1.0 / 100) are saturation, not this."""
    min_pts = int(params["min_points_constant"])
    constant: dict[str, tuple] = {}
    groups: dict[tuple, list[str]] = {}
    for tag in metric_tags(run):
        step, v = finite_sorted(run.series[tag])
        groups.setdefault(_metric_group(tag), []).append(tag)
        if len(v) < min_pts:
            continue
        value = float(v[-1])
        same = np.abs(v - value) <= 1e-9 * max(abs(value), 1e-12)
        if float(np.mean(same)) >= float(params["min_fraction_constant"]):
            constant[tag] = (step, v, value, same)
    out = []
    for tag, (step, v, value, same) in constant.items():
        if tag in judged:
            continue
        # one per-class or per-size metric of many that stays put while most of its siblings move is a
        # class with no predictions or no examples (a rare class, COCO's -1 for "no small objects"), not a
        # model that ignores its input
        group = groups[_metric_group(tag)]
        higher = run.roles.higher_is_better.get(tag, False)
        if higher and len(group) > 2 and sum(t in constant for t in group) <= len(group) // 2:
            continue  # (a loss term frozen at one exact value is a dead network whatever its siblings do)
        n, share = len(v), float(np.mean(same))
        if higher and value in (1.0, 100.0):
            continue
        if not higher and value == 0 and zero_for_nan(run, tag) is not None:
            continue  # a logger's 0.0 for NaN steps: the NaN is NF001's to report, not a disconnected loss
        first = int(step[np.argmax(same)])
        kind = ("a loss of exactly 0: the term is disconnected or trivially satisfied" if not higher and value == 0
                else "the same value at every evaluation: the predictions do not depend on the input, or the "
                     "metric is computed on an empty or constant prediction")
        causes = [Cause("unknown", 0.6, f"'{tag}' shows {kind}")]
        nothing = no_transfer(run, float(params["transfer_tolerance"]), float(params["min_train_fall"])) \
            if higher and split_of(tag) == "val" else None
        if nothing is not None:
            causes.insert(0, Cause("memorization", 0.65, f"'{tag}' never moves and " + nothing.describe(
                run.roles.train_loss, run.roles.val_loss)))
        out.append(Finding(
            rule="", family="plateau", severity="", tags=(tag,), step_range=(first, int(step[-1])),
            summary=f"'{tag}' is exactly {value:.6g} at {int(same.sum())} of its {n} points",
            stats={"kind": "constant", "value": value, "points": n, "fraction_constant": round(share, 4),
                   "thresholds": {k: params[k] for k in ("min_points_constant", "min_fraction_constant")}},
            causes=tuple(causes)))
    return out


@detector("PL002")
def early_stall(run: AlignedRun, params: Mapping[str, Any]) -> list[Finding]:
    got = _series(run)
    if got is None:
        return []
    s, step, v = got
    n = len(v)
    if n < int(params["min_points"]) or v.min() < 0 or v.max() <= 0:
        return []
    # a loss that reaches exactly 0 (or the 4-decimal floor of a log) is floored, not skipped: the stall
    # before it is what matters
    y = np.log(np.maximum(v, float(params["log_floor"]) * v.max()))
    buckets = min(40, n)  # a short log (one row per epoch, a row every 25 steps) is read point by point
    edges = np.linspace(0, n, buckets + 1).astype(int)
    med = np.array([numstats.median(y[a:b]) for a, b in zip(edges[:-1], edges[1:])])
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
    # a stall is flatter than the fall that ends it; a healthy decay falls fastest at its start, and its first
    # buckets only look level within the tolerance when the noise is as large as its per-bucket fall
    k = min(flat, buckets - 1 - flat)
    fall_in = max(float(med[0] - med[flat]), 0.0) / max(flat, 1)
    fall_out = float(med[flat] - med[flat + k]) / k if k else 0.0
    if fall_out < float(params["min_fall_ratio"]) * fall_in:
        return []
    stall_end = int(step[min(edges[flat + 1], n - 1)])
    span = float(step[-1] - step[0])
    ctx = lr_context(run, stall_end)
    lr = run.get(run.roles.lr)
    if lr is not None and lr.points >= 2:
        ok = np.isfinite(lr.value)
        ls, lv = lr.step[ok], lr.value[ok]
        w = float(params["step_down_window"]) * span
        near = lv[(ls >= stall_end - w) & (ls <= stall_end + w)]
        if len(near) >= 2 and near[-1] < float(params["step_down_ratio"]) * near[0]:
            return []  # the stall ended with an LR step-down: ordinary step decay
    level = float(np.exp(med[0]))
    factor = float(np.exp(med[0] - best))
    match = chance_match(level, float(params["chance_tolerance"]), card_levels(params))
    causes = []
    # which start it was, from what the log shows: an LR still rising when the stall ends is a warm-up that
    # outlasted the need; a stall at chance level under a constant LR is a symmetry or an initialization
    # the model takes time to escape; with nothing logged, the three cannot be told apart
    if ctx is not None and not ctx.constant and ctx.at > float(params["warmup_lr_ratio"]) * ctx.start:
        causes.append(Cause("lr_too_low", 0.6,
                            f"the stall ends at step {stall_end:,} as the LR rises ({ctx.describe()}): the LR was "
                            "too low to make progress until the warm-up brought it up — a shorter warm-up or a "
                            "higher starting LR saves that stretch"))
    if match is not None:
        causes.append(Cause("bad_initialization", 0.55 if not causes else 0.4,
                            f"the stall sits at {_level_is(level, match)}: the model predicts the prior until it "
                            "breaks a symmetry — typical of an initialization with tiny or saturated outputs, or a "
                            "deep/recurrent net whose gradients vanish at the start"))
    causes.append(Cause("unknown", 0.45 if not causes else 0.3,
                        "a long flat start that ends suddenly: poor initialization, a too-low LR or a too-long "
                        "warm-up, or a symmetry the model needs time to break"
                        + ("" if ctx else " (no learning rate is logged to tell them apart)")))
    causes.sort(key=lambda c: -c.confidence)
    return [Finding(
        rule="", family="plateau", severity="", tags=(s.tag,), step_range=(int(step[0]), stall_end),
        summary=(f"'{s.tag}' stalls at {level:.4g}" + (f" (= {match.split(' (')[0]})" if match else "")
                 + f" for the first {(flat + 1) / buckets:.0%} of the run "
                 f"(to step {stall_end:,}), {factor:.1f}× above the best it reaches later"),
        stats={"stall_level": round(level, 6), "best_level": round(float(np.exp(best)), 6),
               "stall_fraction": round((flat + 1) / buckets, 3), "stall_end_step": stall_end,
               "factor_above_best": round(factor, 3), "chance_level": match,
               "lr_at_stall_end": ctx.at if ctx else None,
               "thresholds": {k: params[k] for k in ("min_gap_factor", "min_stall_fraction", "flat_tolerance")}},
        causes=tuple(causes))]


def _log_or_linear(v: np.ndarray) -> np.ndarray:
    return np.log(v) if len(v) and v.min() > 0 else v


@detector("PL003")
def validation_stall(run: AlignedRun, params: Mapping[str, Any]) -> list[Finding]:
    """Validation stopped improving long ago while training keeps improving: the rest of the run fits the
    training set only. A validation loss that rises instead is AC001's overfitting."""
    val, train = run.get(run.roles.val_loss), run.get(run.roles.train_loss)
    if val is None or train is None:
        return []
    vs, vv = finite_sorted(val)
    ts, tv = finite_sorted(train)
    if len(vv) < int(params["min_evaluations"]) or len(tv) < 4 or vv.min() <= 0 or tv.min() <= 0:
        return []
    tol = float(params["stall_tolerance"])
    best = float(vv.min())
    # the first evaluation from which validation never again gets more than `tol` better
    later_min = np.minimum.accumulate(vv[::-1])[::-1]
    s0 = int(np.argmax(later_min >= vv * (1 - tol)))
    span = float(vs[-1] - vs[0])
    stall = float(vs[-1] - vs[s0])
    if span <= 0 or stall < float(params["min_stall_fraction"]) * span or len(vv) - s0 < int(params["min_stall_evaluations"]):
        return []
    tail = vv[s0 + (len(vv) - s0) * 2 // 3:]
    if float(numstats.median(tail)) > best * (1 + 2 * tol) and worsening(vv).clear(
            float(params["defer_min_rise"]), float(params["defer_rise_noise"]), float(params["defer_min_tau"])):
        return []  # it rises, and clearly (AC001's own statistics): overfitting, AC001's
    m = ts >= vs[s0]
    if np.count_nonzero(m) < 4:
        return []
    seg = tv[m]
    k = max(1, len(seg) // 10)
    t_start, t_end = float(numstats.median(seg[:k])), float(numstats.median(seg[-k:]))
    if t_end <= 0 or t_start / t_end < float(params["min_train_gain"]):
        return []
    gain = t_start / t_end
    return [Finding(
        rule="", family="plateau", severity="", tags=(val.tag, train.tag), step_range=(int(vs[s0]), int(vs[-1])),
        summary=(f"'{val.tag}' has not improved by more than {tol:.0%} since step {int(vs[s0]):,} "
                 f"({len(vv) - s0} evaluations, {stall / span:.0%} of the run) while '{train.tag}' fell "
                 f"{gain:.1f}× over the same stretch"),
        stats={"stall_start_step": int(vs[s0]), "val_at_stall_start": round(float(vv[s0]), 6),
               "val_best": round(best, 6), "evaluations_in_stall": len(vv) - s0,
               "stall_fraction": round(stall / span, 3), "train_gain": round(gain, 3),
               "thresholds": {k: params[k] for k in ("stall_tolerance", "min_stall_fraction", "min_train_gain")}},
        causes=_stall_causes(run, gain, tol, float(vv[s0]), int(vs[s0]), params))]


def _stall_causes(run: AlignedRun, gain: float, tol: float, level: float, at: int, params) -> tuple[Cause, ...]:
    causes = [Cause("overfitting", 0.5,
                    f"training keeps improving ({gain:.1f}× lower) while validation never gets more than {tol:.0%} "
                    f"better than {level:.4g}: the extra steps fit the training set only — early stopping at step "
                    f"{at:,} gives the same validation loss or a better one")]
    nothing = no_transfer(run, float(params["transfer_tolerance"]), float(params["min_train_fall"]))
    if nothing is not None:
        causes.insert(0, Cause("memorization", 0.6, nothing.describe(run.roles.train_loss, run.roles.val_loss)))
    return tuple(causes)


@detector("PL004")
def converged_early(run: AlignedRun, params: Mapping[str, Any]) -> list[Finding]:
    """The loss reached its final level early and the rest of the run moved it by less than the tolerance:
    compute a post-mortem can save, or an LR schedule that stopped being useful."""
    out = []
    for tag in dict.fromkeys(t for t in (run.roles.train_loss, run.roles.val_loss) if t):
        s = run.get(tag)
        step, v = finite_sorted(s)
        n = len(v)
        if n < int(params["min_points"]) or zero_for_nan(run, tag) is not None:
            continue  # (flat at a logger's 0.0 for NaN steps is no convergence)
        y = _log_or_linear(v)
        is_log = len(v) and v.min() > 0
        buckets = min(40, max(4, n // 5))  # medians of at least 5 points: one spike does not move a bucket
        edges = np.linspace(0, n, buckets + 1).astype(int)
        med = np.array([numstats.median(y[a:b]) for a, b in zip(edges[:-1], edges[1:])])
        final = med[-1]
        tol = float(np.log1p(params["flat_tolerance"])) if is_log else float(params["flat_tolerance"]) * abs(final)
        # a noisy curve's bucket medians wander by their own noise: "flat" widens to twice that, never past
        # the cap (a curve still falling that much is not flat)
        tail_noise = mad(np.diff(med[buckets // 2:])) / np.sqrt(2) if buckets >= 8 else 0.0
        # with few buckets, their own wander cannot be measured: a bucket median's noise follows from the
        # points' (σ·1.25/√k for the median of k points; 35 epochs at ±15% make 7 medians that wander ±8%)
        point_noise = mad(np.diff(y[n // 2:])) / np.sqrt(2)
        tail_noise = max(tail_noise, 1.2533 * point_noise / np.sqrt(n / buckets))
        cap = float(np.log1p(params["max_flat_tolerance"])) if is_log else float(params["max_flat_tolerance"]) * abs(final)
        tol = min(max(tol, 2 * tail_noise), max(tol, cap))
        off = np.abs(med - final) > tol
        if not off.any():
            continue  # never left its level: PL001's
        # the earliest bucket from which nearly all (a stray bucket, a rounding step aside) stay within it
        share_on = np.cumsum((~off)[::-1])[::-1] / np.arange(buckets, 0, -1)
        flat_from = np.nonzero(share_on >= float(params["min_share_within"]))[0]
        first_flat = int(flat_from[0]) if len(flat_from) else buckets
        if first_flat >= buckets or off[-3:].any():
            continue
        start_step = int(step[edges[first_flat]])
        frac = float(step[-1] - start_step) / max(float(step[-1] - step[0]), 1.0)
        # fallen from where it started: the first points, not the first bucket (a wide bucket over a steep
        # start hides the descent in its median)
        head = max(1, min(3, n // 3), n // 10)
        descent = float(max(med[0], numstats.median(y[:head])) - final)
        if frac < float(params["min_flat_fraction"]) or descent < (np.log(params["min_descent"]) if is_log
                                                                   else (params["min_descent"] - 1) * abs(final)):
            continue
        level = float(np.exp(final)) if is_log else float(final)
        tail = v[edges[first_flat]:]
        if (chance_match(level, float(params["chance_tolerance"]), card_levels(params))
                and mad(tail) / max(abs(level), 1e-12) <= float(params["max_pinned_noise"])):
            continue  # flat at a chance level without batch noise: a dead model, PL001's, not convergence
        ctx = lr_context(run, start_step)
        out.append(Finding(
            rule="", family="plateau", severity="", tags=(tag,), step_range=(start_step, int(step[-1])),
            summary=(f"'{tag}' has been flat at {level:.4g} (within {params['flat_tolerance']:.0%}) since step "
                     f"{start_step:,}: the last {frac:.0%} of the run changed it by less than its tolerance"),
            stats={"flat_start_step": start_step, "flat_fraction": round(frac, 3), "level": round(level, 6),
                   "lr_at_flat_start": ctx.at if ctx else None,
                   "thresholds": {k: params[k] for k in ("flat_tolerance", "min_flat_fraction", "min_descent")}},
            causes=(Cause("unknown", 0.5,
                          f"converged by step {start_step:,}" + (f"; {ctx.describe()}" if ctx else "")
                          + ": training could stop there (early stopping), or needs a larger model or a schedule "
                            "that still moves it"),)))
    return out
