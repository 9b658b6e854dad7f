"""NF001 nonfinite-values: NaN/±Inf in a series — when it starts, whether it recovers, what came before."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .. import numstats
from ..evidence import zero_for_nan
from ..model import AlignedRun, Cause, Finding, Series
from . import detector


def bursts(bad: np.ndarray) -> list[tuple[int, int]]:
    """Runs of consecutive True as (first index, length)."""
    if not bad.any():
        return []
    d = np.diff(np.concatenate([[0], bad.astype(np.int8), [0]]))
    starts = np.nonzero(d == 1)[0]
    ends = np.nonzero(d == -1)[0]
    return [(int(s), int(e - s)) for s, e in zip(starts, ends)]


def _before(s: Series | None, step: int, window: int) -> np.ndarray:
    if s is None:
        return np.zeros(0)
    m = (s.step < step) & np.isfinite(s.value)
    return s.value[m][-window:]


def _rise(values: np.ndarray) -> float:
    """How much the last few values exceed the median of the window before them (ratio)."""
    if len(values) < 6:
        return 1.0
    base = numstats.median(np.abs(values[: len(values) // 2])) or 1e-12
    return float(np.max(np.abs(values[-3:])) / base)


@detector("NF001")
def nonfinite_values(run: AlignedRun, params: Mapping[str, Any]) -> list[Finding]:
    affected = [s for s in run.series.values() if s.points and s.nonfinite]
    if not affected:
        return []
    loss_tags = {run.roles.train_loss, run.roles.val_loss} - {None}
    headline = min(affected, key=lambda s: (s.tag != run.roles.train_loss, s.tag not in loss_tags,
                                            int(s.step[~np.isfinite(s.value)][0]), s.tag))
    bad = ~np.isfinite(headline.value)
    runs_ = bursts(bad)
    first_idx = runs_[0][0]
    first_step = int(headline.step[first_idx])
    permanent = bool(bad[-1]) and runs_[-1][0] + runs_[-1][1] == len(bad)
    lengths = [n for _, n in runs_]
    if permanent and len(runs_) >= int(params["min_recovered_bursts"]) + 1 and max(lengths) <= int(params["short_burst"]):
        # short bursts that recovered again and again, the last one cut by the end of the log: the same
        # isolated overflows, not a NaN that stuck (a windowed writer turns each into a NaN window)
        permanent = False
    n_inf = int(np.count_nonzero(np.isinf(headline.value)))
    window = int(params["lookback_points"])

    hidden = zero_for_nan(run, run.roles.train_loss) if run.roles.train_loss else None
    # what came before the NaN is read before it began: where a logger's 0.0 already stood in for it, if earlier
    onset = min(first_step, hidden.from_step) if hidden else first_step
    loss = run.get(run.roles.train_loss) or headline
    history = len(_before(loss, onset, window))  # finite loss points before the first non-finite one
    loss_rise = _rise(_before(loss, onset, window))
    grad_rise = _rise(_before(run.get(run.roles.grad_norm), onset, window))
    lr_before = _before(run.get(run.roles.lr), onset, 10**9)
    lr_ratio = float(lr_before[-1] / lr_before[0]) if len(lr_before) >= 2 and lr_before[0] > 0 else 1.0
    rise_t = float(params["rise_ratio"])
    preceded = []
    if loss_rise >= rise_t:
        preceded.append(f"the loss rose {loss_rise:.1f}× in the {window} points before")
    if grad_rise >= rise_t:
        preceded.append(f"the gradient norm rose {grad_rise:.1f}× just before")
    lr_rose = lr_ratio >= float(params["lr_rise_ratio"])
    if lr_rose:
        preceded.append(f"the learning rate had risen {lr_ratio:.1f}× since the start")
    amp = any(str(k).lower() in ("fp16", "amp", "mixed_precision", "half") and v not in (False, 0, "no", "")
              for k, v in run.hparams.items())

    causes = []
    short_recovering = not permanent and max(lengths) <= int(params["short_burst"])
    # a gradient spike alone, under an LR that never changed and a loss still falling: the model trained fine at
    # that LR until then, so the spike came from the loss's own arithmetic (a log of 0, a division), not the LR
    lr_steady = len(lr_before) >= 2 and float(np.min(lr_before)) > 0 and \
        float(np.max(lr_before)) <= 1.5 * float(np.min(lr_before))
    grad_only = grad_rise >= rise_t and loss_rise < rise_t and lr_steady and history >= 6
    if preceded:
        causes.append(Cause("lr_too_high", 0.5 if grad_only else 0.75 if lr_rose or grad_rise >= rise_t else 0.6,
                            "non-finite values came after instability: " + "; ".join(preceded)
                            + ". A learning rate too high for this model blows the weights up."))
    if grad_only:
        causes.append(Cause("unstable_loss", 0.65,
                            f"the gradient norm rose {grad_rise:.1f}× just before step {onset}, but the loss was still "
                            f"falling and the LR ('{run.roles.lr}') had not changed since the start: the model trained "
                            "at that LR until then, so the blow-up came from the loss's own arithmetic — typical of "
                            "log(0) or a division in a hand-written loss (clamp its input, or use the fused "
                            "with-logits form)"))
    if short_recovering:
        causes.append(Cause("fp16_overflow", 0.8 if (n_inf or amp) else 0.6,
                            f"{len(runs_)} short burst(s) (longest {max(lengths)} point(s)) that recover"
                            + (f", {n_inf} of them ±Inf" if n_inf else "")
                            + (", mixed precision in the hyperparameters" if amp else "")
                            + ": the signature of fp16 overflow skipped by a loss scaler."))
    if not preceded and history < 6:  # nothing, or too little, before it to call steady
        causes.append(Cause("unstable_loss", 0.6 if permanent else 0.4,
                            (f"non-finite from the first logged point (step {onset})" if history == 0 else
                             f"only {history} finite point(s) before step {onset}, too few to see a rise")
                            + ": typical of log(0) or a division in a hand-written loss, or of NaN in the "
                              "inputs or the initial weights."))
    elif not preceded:
        causes.append(Cause("unstable_loss", 0.8 if permanent else 0.5,
                            f"the loss was steady before step {onset} (last points within "
                            f"{loss_rise:.2f}× of the window median, no gradient-norm rise"
                            + (", LR constant" if run.roles.lr else ", LR not logged")
                            + ") and then turned non-finite at once: typical of log(0) or a division in a "
                            "hand-written loss."))
    if not causes:
        causes.append(Cause("unknown", 0.3, "no preceding rise and no recovery pattern that names a cause"))
    causes.sort(key=lambda c: -c.confidence)

    others = sorted((s for s in affected if s is not headline), key=lambda s: s.tag)
    per_tag = []
    for s in [headline, *others][:12]:
        b = ~np.isfinite(s.value)
        br = bursts(b)
        per_tag.append({"tag": s.tag, "first_step": int(s.step[b][0]), "count": int(b.sum()),
                        "bursts": len(br), "permanent": bool(b[-1])})
    is_loss = headline.tag in loss_tags
    severity = "error" if permanent and is_loss else "warning"
    state = "and never recovers" if permanent else f"in {len(runs_)} burst(s) that recover"
    summary = (f"'{headline.tag}' becomes NaN/Inf at step {first_step:,} {state} "
               f"({int(bad.sum()):,} of {len(bad):,} points non-finite)")
    if others:
        summary += f"; {len(others)} other tag(s) too"
    if hidden:
        # Hugging Face's logging_nan_inf_filter: NaN steps are left out of the logged mean, so the training loss
        # reads 0.0 once every step is NaN; the user sees a perfect loss, not the NaN
        summary += (f"; '{run.roles.train_loss}' reads exactly 0 from step {hidden.from_step:,}: the logger leaves NaN steps "
                    "out of its mean (Hugging Face's logging_nan_inf_filter), so the training loss is NaN there too")
    last = int(headline.step[runs_[-1][0] + runs_[-1][1] - 1])
    ranges = tuple((int(headline.step[i]), int(headline.step[i + n - 1])) for i, n in runs_[:50])
    return [Finding(
        rule="", family="nonfinite", severity=severity, tags=(headline.tag, *[s.tag for s in others]),
        step_range=(first_step, last), summary=summary,
        stats={"first_nonfinite_step": first_step, "nonfinite_points": int(bad.sum()), "points": int(len(bad)),
               "bursts": len(runs_), "longest_burst": max(lengths), "permanent": permanent, "inf_points": n_inf,
               "loss_rise_before": round(loss_rise, 3), "grad_norm_rise_before": round(grad_rise, 3),
               "lr_ratio_since_start": round(lr_ratio, 3), "rise_ratio_threshold": rise_t, "tags": per_tag},
        causes=tuple(causes), ranges=ranges)]
