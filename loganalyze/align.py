"""Alignment: which tag is which (metric roles), which runs form one experiment, where epochs start.

Detectors rely on this and never guess for themselves: a rule that needs epochs asks
`run.epochs.known`, and the provenance says how much to trust the boundaries.
"""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Iterable, Mapping, Sequence

import numpy as np

from . import numstats
from .config import Config
from .model import AlignedRun, EpochAxis, MetricPair, Roles, Run, Series

TRAIN_WORDS = {"train", "training"}
VAL_WORDS = {"val", "valid", "validation", "eval", "evaluation", "test", "dev", "holdout"}
LOSS_WORDS = {"loss", "nll", "mse", "mae", "rmse", "error", "err", "perplexity", "ppl", "cer", "wer", "objective"}
HIGHER_WORDS = {
    "acc", "accuracy", "top1", "top5", "f1", "f1score", "auc", "auroc", "roc", "map", "precision", "recall",
    "iou", "miou", "dice", "bleu", "rouge", "rouge1", "rouge2", "rougel", "r2", "hr", "ndcg", "mrr", "hit",
    "hits", "psnr", "ssim", "score", "reward", "return", "ap", "ap50", "ap75", "sensitivity", "specificity",
}
LR_NAMES = re.compile(r"^(lr|learning[ _-]?rate)([ _/-].*)?$|(^|[/_-])(lr|learning_rate)$", re.IGNORECASE)
GRAD_NAMES = re.compile(r"grad(ient)?[ _-]?norm|^gnorm$|total_norm", re.IGNORECASE)
SPLIT_DIRS = {"train": "train", "training": "train", "validation": "val", "val": "val", "valid": "val",
              "eval": "val", "test": "val"}


def tokens(tag: str) -> list[str]:
    return [t for t in re.split(r"[/_\-. :]+", tag.lower()) if t]


def split_of(tag: str) -> str | None:
    toks = tokens(tag)
    if any(t in VAL_WORDS for t in toks):
        return "val"
    if any(t in TRAIN_WORDS for t in toks):
        return "train"
    return None


def quantity_of(tag: str) -> str:
    """The metric a tag measures with its split and logging-granularity words removed."""
    toks = [t for t in tokens(tag) if t not in TRAIN_WORDS | VAL_WORDS | {"step", "epoch", "metrics", "metric"}]
    return "_".join(toks) or tag.lower()


def direction(tag: str) -> bool | None:
    """True when higher is better, False when lower is, None when the name does not say."""
    toks = set(tokens(tag))
    bare = {re.sub(r"@\d+$", "", t) for t in toks}
    if toks & LOSS_WORDS or bare & LOSS_WORDS:
        return False
    if toks & HIGHER_WORDS or bare & HIGHER_WORDS:
        return True
    return None


def _is_lr(tag: str) -> bool:
    """lr, learning_rate, lr-AdamW (Lightning's LearningRateMonitor), lr_0 / lr/pg0 (param groups),
    x/lr0 (YOLOv5), pg0 (a parameter group's LR, as YOLOv8 names it), train/learning_rate (HF),
    optimizer/lr, LearningRate."""
    t = tag.lower()
    return (bool(LR_NAMES.search(t)) or t.startswith("lr-") or t.endswith("/lr") or "learning_rate" in t
            or bool(re.search(r"(^|[/_-])lr\d+$", t)) or bool(re.fullmatch(r"pg\d+", t)))


def _loss_score(tag: str, series: Series, want: str) -> float | None:
    """How plausible `tag` is as the main train or val loss; None when not a candidate."""
    toks = tokens(tag)
    if "loss" not in toks and quantity_of(tag) not in {"nll", "objective"}:
        return None
    split = split_of(tag)
    if want == "val" and split != "val":
        return None
    if want == "train" and split == "val":
        return None
    rest = [t for t in toks if t not in TRAIN_WORDS | VAL_WORDS | {"loss", "epoch", "step", "total", "avg", "mean"}]
    score = 0.0
    score += 2.0 if split == want else 1.0
    score += 2.0 if not rest else 0.0  # the loss itself, not a component like loss_cls
    score += 1.0 if "total" in toks else 0.0
    score -= 0.5 if "epoch" in toks and want == "train" else 0.0  # prefer per-step over epoch means
    score -= 5.0 if series.points < 3 else 0.0  # a one-off summary value (HF's final train_loss)
    score += min(series.points, 10**7) / 10**8  # tie-break: more points
    return score


def _axis_score(val: Series, train: Series) -> float:
    """A validation loss worth comparing with training lives on training's step axis. Per-batch validation
    values (Lightning's `val_loss_step`) count validation batches on their own counter from 0: their steps
    cover a sliver of the training run, and a curve over them is the validation set's batch order."""
    if val.points == 0 or train.points == 0:
        return 0.0
    t_lo, t_hi = int(train.step.min()), int(train.step.max())
    v_lo, v_hi = int(val.step.min()), int(val.step.max())
    span = max(t_hi - t_lo, 1)
    covered = max(0, min(v_hi, t_hi) - max(v_lo, t_lo)) / span
    return -3.0 if covered < 0.5 and t_hi > 2 * max(v_hi, 1) else 0.0


def infer_roles(series: Mapping[str, Series], overrides: Mapping[str, str] | None = None,
                higher: Sequence[str] = (), lower: Sequence[str] = ()) -> Roles:
    overrides = {k: v for k, v in (overrides or {}).items() if v in series}  # a run without it: inferred
    tags = sorted(series)

    def best(want: str, axis: Series | None = None) -> str | None:
        scored = [(s + (_axis_score(series[t], axis) if axis is not None else 0.0), t) for t in tags
                  if (s := _loss_score(t, series[t], want)) is not None]
        return max(scored)[1] if scored else None

    train_loss = overrides.get("train_loss") or best("train")
    val_loss = overrides.get("val_loss") or best("val", series.get(train_loss) if train_loss else None)
    lr_tags = [t for t in tags if _is_lr(t)]
    lr = overrides.get("lr") or (max(lr_tags, key=lambda t: (series[t].points, t == "lr")) if lr_tags else None)
    grad_tags = [t for t in tags if GRAD_NAMES.search(t)]
    grad_norm = overrides.get("grad_norm") or (grad_tags[0] if grad_tags else None)
    epoch_tags = [t for t in tags if tokens(t)[-1:] == ["epoch"] and len(tokens(t)) <= 2 and "loss" not in tokens(t)]
    epoch = overrides.get("epoch") or (min(epoch_tags, key=len) if epoch_tags else None)

    hib: dict[str, bool] = {}
    special = {lr, grad_norm, epoch}
    for t in tags:
        if t in special:
            continue
        d = True if t in higher else False if t in lower else direction(t)
        if d is not None:
            hib[t] = d

    # pair train/val tags of the same quantity
    by_q: dict[str, dict[str, str]] = {}
    for t in hib:
        by_q.setdefault(quantity_of(t), {}).setdefault(split_of(t) or "none", t)
    pairs = []
    for q, d in sorted(by_q.items()):
        tr = d.get("train") or (d.get("none") if "val" in d else None)
        va = d.get("val")
        if tr or va:
            pairs.append(MetricPair(q, tr, va, hib[tr or va]))
    return Roles(train_loss, val_loss, lr, grad_norm, epoch, tuple(pairs), hib)


def _sorted_finite(s: Series) -> tuple[np.ndarray, np.ndarray]:
    """The finite points by step (ties in the order written); the series' own arrays when they are that already
    (a stable sort of sorted steps changes nothing: at 2M points the copies were 64 MB)."""
    ok = np.isfinite(s.value)
    steps, vals = (s.step, s.value) if ok.all() else (s.step[ok], s.value[ok])
    if len(steps) < 2 or bool(np.all(steps[1:] >= steps[:-1])):
        return steps, vals
    order = np.argsort(steps, kind="stable")
    return steps[order], vals[order]


def _irregularity(starts: np.ndarray) -> float:
    """Mean absolute deviation of the whole epochs' lengths from their median (the first epoch may start
    at the first log, so it is left out)."""
    lengths = np.diff(starts)[1:]
    return float(np.mean(np.abs(lengths - numstats.median(lengths)))) if len(lengths) else 0.0


def _logging_grid(steps: np.ndarray) -> tuple[int, int] | None:
    """(spacing, residue) of the regular cadence most writes follow (Lightning: every 50 steps at 49, 99, …)."""
    ustep = numstats.unique(steps)
    gaps = np.diff(ustep)
    if len(gaps) < 2:
        return None
    vals, counts = np.unique(gaps, return_counts=True)
    g = int(vals[np.argmax(counts)])
    if g < 1 or counts.max() < 0.5 * len(gaps):
        return None
    res, rc = np.unique(ustep % g, return_counts=True)
    return g, int(res[np.argmax(rc)])


def _epoch_from_index(tag: str, steps: np.ndarray, idx: np.ndarray) -> EpochAxis:
    """Epoch starts from an integer epoch index; idx: the first write of each new epoch.

    The boundary lies after the last step written with the previous epoch and at or before the first
    step written with the new one. Where that last write is off the logging cadence, or written twice,
    it is an epoch-end write (Lightning logs its `*_epoch` metrics at the epoch's last step) and the
    boundary is exact; elsewhere it is taken at the first write with the new epoch.
    """
    first = int(steps[0])
    if len(idx) == 0:
        return EpochAxis(np.asarray([first], dtype=np.int64), "epoch_tag", f"from the '{tag}' series (1 epoch)")
    after_last = numstats.unique(np.concatenate([[first], steps[idx - 1] + 1]).astype(np.int64))
    first_with = numstats.unique(np.concatenate([[first], steps[idx]]).astype(np.int64))
    irr_after, irr_first = _irregularity(after_last), _irregularity(first_with)
    if irr_after < irr_first and irr_after <= 0.5:
        # the last write of every epoch is its last step: epochs are regular that way and only that way
        return EpochAxis(after_last, "epoch_tag",
                         f"from the '{tag}' series ({len(after_last)} epochs; each starts right after the last step "
                         "written with the previous epoch's number — epoch lengths are regular that way, so the "
                         "boundaries are exact)")
    gaps = steps[idx] - steps[idx - 1]
    once = len(numstats.unique(steps)) == len(idx) + 1  # one write per epoch (several at one step count as one)
    period = int(numstats.median(np.diff(first_with))) if len(first_with) > 1 else 0
    if once and period > 1 and abs(first + 1 - period) <= 1:
        # written once per epoch at its last step (Lightning's epoch-end rows alone, first at step N - 1)
        starts_a = numstats.unique(np.concatenate([[max(first - period + 1, 0)], after_last[1:]]).astype(np.int64))
        return EpochAxis(starts_a, "epoch_tag",
                         f"from the '{tag}' series ({len(starts_a)} epochs; written once per epoch, at its last "
                         "step, so each epoch starts right after the write before it)")
    grid = _logging_grid(steps)
    twice = set(steps[1:][steps[1:] == steps[:-1]].tolist())
    starts, exact, spans = [first], 0, []
    for i, gap in zip(idx, gaps):
        last_prev, first_new = int(steps[i - 1]), int(steps[i])
        if gap <= 1:
            starts.append(first_new)
            exact += 1
            continue
        # an epoch-end write: off the logging cadence, or written twice — and never a whole epoch away
        end_write = gap < 0.5 * period and (
            last_prev in twice or (grid is not None and last_prev % grid[0] != grid[1]))
        if end_write:
            starts.append(last_prev + 1)
            exact += 1
        else:
            starts.append(first_new)
            spans.append(first_new - last_prev)
    starts_a = numstats.unique(np.asarray(starts, dtype=np.int64))
    detail = f"from the '{tag}' series ({len(starts_a)} epochs"
    if spans and exact:
        detail += (f"; {exact} boundaries follow an epoch-end write and are exact, the other {len(spans)} are "
                   f"exact to ±{int(np.max(spans))} steps")
    elif spans:
        detail += (f"; logged every ~{int(numstats.median(spans))} steps, so boundaries are exact to "
                   f"±{int(np.max(spans))} steps")
    elif exact and any(int(steps[i]) - int(steps[i - 1]) > 1 for i in idx):
        detail += "; each boundary follows an epoch-end write, so boundaries are exact"
    return EpochAxis(starts_a, "epoch_tag", detail + ")")


def _epoch_from_tag(s: Series) -> EpochAxis | None:
    """Epoch starts from an epoch series (integer or HF-style fractional), interpolated between logs."""
    steps, vals = _sorted_finite(s)
    if len(steps) < 2:
        return None
    integer = bool(np.all(vals == np.round(vals)))
    lo = int(np.floor(vals.min()))
    # an epoch index (Lightning, Keras) names the epoch a step is in; a fractional progress value (HF)
    # counts the epochs done, so a last value of exactly k closes epoch k - 1 and opens none
    hi = int(vals.max()) if integer else int(np.ceil(vals.max())) - 1
    if hi <= lo:
        return None
    ustep = numstats.unique(steps)
    res = int(numstats.median(np.diff(ustep))) if len(ustep) > 1 else 1
    mono = np.maximum.accumulate(vals)
    idx = np.searchsorted(mono, np.arange(lo + 1, hi + 1), side="left")
    idx = idx[(idx > 0) & (idx < len(steps))]
    if integer:
        return _epoch_from_index(s.tag, steps, idx)
    starts = [int(steps[0])]
    rate = (vals[-1] - vals[0]) / (steps[-1] - steps[0]) if steps[-1] > steps[0] else 0.0
    if lo >= 1 and rate > 0:
        # the first log is already past epoch 0 (HF logging every 500 steps, 315-step epochs): progress is
        # linear in the step, so the earlier boundaries are extrapolated and epochs keep their numbers
        starts = [max(int(round(steps[0] - (vals[0] - k) / rate)), 0) for k in range(lo + 1)]
    for k, i in zip(range(lo + 1, hi + 1), np.searchsorted(mono, np.arange(lo + 1, hi + 1), side="left")):
        if i <= 0 or i >= len(steps):
            continue
        # HF logs a fractional epoch every few steps: place the boundary where it crosses k
        s0, s1, v0, v1 = steps[i - 1], steps[i], mono[i - 1], mono[i]
        starts.append(int(round(s0 + (k - v0) * (s1 - s0) / (v1 - v0))) if v1 > v0 else int(s1))
    starts_a = numstats.unique(np.asarray(starts, dtype=np.int64))
    detail = f"from the '{s.tag}' series ({len(starts_a)} epochs"
    if res > 1:
        # progress that grows linearly with the step places a boundary far better than the logging interval
        unc = res
        if rate > 0 and len(steps) >= 3:
            resid = np.abs(vals - (vals[0] + rate * (steps - steps[0])))
            unc = int(min(res, max(1, np.ceil((resid.max() + 0.005) / rate))))
        detail += (f"; logged every ~{res} steps and interpolated between logs, so boundaries are exact to "
                   f"±{unc} step{'s' if unc > 1 else ''})")
    else:
        detail += ")"
    return EpochAxis(starts_a, "epoch_tag", detail)


def _keras_epoch_tag(tag: str) -> bool:
    return [t for t in tokens(tag) if t not in TRAIN_WORDS | VAL_WORDS][:1] == ["epoch"]


def _cadence(steps: np.ndarray) -> tuple[float, int, int] | None:
    """(mean spacing, smallest, largest gap) of steps logged at a regular cadence, or None.

    A cadence that is not a whole number of steps is rounded by the writer: 4 evaluations in a
    250-step epoch land at 62, 125, 187, 250 (gaps 62 and 63). Gaps within ±1 step (or 5 %) of
    the median count as regular; the mean of the regular gaps is the cadence.
    """
    gaps = np.diff(numstats.unique(steps))
    if len(gaps) < 2:
        return None
    med = float(numstats.median(gaps))
    ok = np.abs(gaps - med) <= max(1.0, med // 20)
    if med < 1 or np.mean(ok) < 0.8:
        return None
    return float(gaps[ok].mean()), int(gaps[ok].min()), int(gaps[ok].max())


def _fmt_period(p: float) -> str:
    return f"{p:.0f}" if abs(p - round(p)) < 0.05 else f"{p:.1f}"


def _epoch_from_cadence(train: Series | None, val: Series | None) -> EpochAxis | None:
    """Validation logged at a regular cadence, with many train steps between: one eval = one epoch."""
    if val is None or train is None or val.points < 3:
        return None
    vsteps = numstats.unique(val.step)
    cad = _cadence(vsteps)
    if cad is None or cad[0] < 4:
        return None
    per = np.count_nonzero((train.step > vsteps[0]) & (train.step <= vsteps[1]))
    if per < 4:
        return None
    period, gmin, gmax = cad
    first = int(train.step.min())
    starts = np.concatenate([[first], vsteps[vsteps >= first] + 1]).astype(np.int64)
    starts = numstats.unique(starts[starts <= train.step.max()])
    every = f"every {_fmt_period(period)} steps"
    if gmax > gmin:
        every += f" on average (gaps {gmin}–{gmax}: a cadence rounded to whole steps)"
    return EpochAxis(starts, "val_cadence",
                     f"validation ('{val.tag}') is logged {every}; each evaluation is taken as an epoch end")


CYCLE_EVALS_TOLERANCE = 0.05  # the loss's cycle must span a whole number of evaluations within this share


def _cadence_within_cycle(axis: EpochAxis, train: Series | None, val: Series, lr: Series | None) -> EpochAxis:
    """Evaluations several times an epoch (Lightning's val_check_interval=0.25, HF's eval_steps) look like a
    cadence of short epochs; when the train loss's own dominant cycle spans a whole number k ≥ 2 of
    evaluations, the epoch is that cycle and each k-th evaluation closes one."""
    cyc = _epoch_from_loss_cycle(train, lr)
    cad = _cadence(numstats.unique(val.step))
    if cyc is None or cad is None or cyc.count < 3:
        return axis
    period = float(numstats.median(np.diff(cyc.starts)))
    k = int(round(period / cad[0]))
    if k < 2 or abs(period / cad[0] - k) > CYCLE_EVALS_TOLERANCE * k:
        return axis
    ends = axis.starts[1:]  # the step after each evaluation
    # which of the k evaluations closes an epoch: the one whose steps fall nearest the cycle's own boundaries
    miss = [numstats.median(np.min(np.abs(ends[r::k][:, None] - cyc.starts[None, 1:]), axis=1)) if len(ends[r::k]) else np.inf
            for r in range(k)]
    r = int(np.argmin(miss))
    starts = numstats.unique(np.concatenate([axis.starts[:1], ends[r::k]]).astype(np.int64))
    return EpochAxis(starts, "loss_cycle",
                     f"validation ('{val.tag}') is logged every {_fmt_period(cad[0])} steps and the loss's own "
                     f"{_fmt_period(period)}-step cycle spans {k} evaluations: an epoch is taken to be {k} "
                     f"evaluations, closed by the evaluation nearest the cycle's boundary ({cyc.detail})",
                     evals_per_epoch=k)


def _vs_iterations(tag: str) -> bool:
    toks = tokens(tag)
    return "evaluation" in toks and toks[-2:] == ["vs", "iterations"]


def _keras_iterations(series: Mapping[str, Series]) -> tuple[float, Series, np.ndarray, np.ndarray] | None:
    """Keras' TensorBoard callback writes each validation twice: `epoch_*` against the epoch index and
    `evaluation_*_vs_iterations` against the optimizer's iteration count. Evaluation k, after epoch
    e_k (0-based), logged at iteration i_k gives i_k / (e_k + 1) iterations per epoch.

    Returns (iterations per epoch, the iterations tag, its steps, the epochs they close), or None.
    """
    tags = sorted((t for t in series if _vs_iterations(t) and series[t].points >= 2),
                  key=lambda t: ("loss" not in tokens(t), t))
    for tag in tags:
        s = series[tag]
        order = np.argsort(s.step, kind="stable")
        its, vals = s.step[order], s.value[order]
        if len(numstats.unique(its)) != len(its):
            continue
        # its epoch-indexed twin: an epoch_* tag with the same values (validation every epoch or every n-th);
        # where runs share a directory, the twin may hold only the last run's evaluations: match the tail
        twin = None
        for t, e in series.items():
            if t != tag and _keras_epoch_tag(t) and 2 <= e.points <= s.points:
                eo = np.argsort(e.step, kind="stable")
                if np.allclose(e.value[eo], vals[len(vals) - e.points:], rtol=1e-6, equal_nan=True):
                    twin = e.step[eo]
                    its = its[len(its) - e.points:]
                    break
        epochs = twin if twin is not None else np.arange(len(its))
        per = its / (epochs + 1.0)
        spe = float(numstats.median(per))
        if spe < 1 or np.mean(np.abs(per - spe) <= max(1.0, 0.02 * spe)) < 0.8:
            continue
        return spe, s, its, epochs
    return None


def _iterations_detail(found: tuple[float, Series, np.ndarray, np.ndarray]) -> str:
    spe, s, its, epochs = found
    shown = ", ".join(str(int(i)) for i in its[:3])
    return (f"one epoch is {_fmt_period(spe)} iterations: '{s.tag}' is logged at iteration {shown}, … "
            f"after epoch {', '.join(str(int(e) + 1) for e in epochs[:3])}, …")


# ---- the epoch from the loss's own cycle, when nothing else says it ---------------------------------
CYCLE_MAX_POINTS = 1200  # longer logs are block-averaged for the period scan, then refined at full resolution
CYCLE_MIN_CYCLES = 4  # a period must repeat at least this often in the log
CYCLE_MIN_POINTS = 100  # fewer logged points cannot tell a cycle from noise
# an epoch of fewer logged points than this is not told from an oscillation (a too-high LR swinging every
# few steps) by the loss alone: such a cycle is left to OS001/PD002 and the axis stays unknown
CYCLE_MIN_PERIOD_POINTS = 24
CYCLE_MIN_RIVALS = 20  # the scan must hold this many unrelated periods to compare the best one with
CYCLE_MIN_SCORE = 0.10  # share of the detrended loss's variance the cycle's phase profile explains, above chance
CYCLE_DOMINANCE = 4.0  # ... at least this many times the median over the periods from half to twice it
CYCLE_RIVAL = 0.5  # no unrelated period (not a multiple, part, 3:2 or 4:3 of it, nor a near neighbour) ...
# ... may reach this share of its score, nor CYCLE_RIVAL_FEW of it when fewer than 8 cycles are seen
CYCLE_RIVAL_FEW = 0.35
CYCLE_AGREE_R = 0.3  # a whole cycle agrees when its profile correlates this well with the other cycles'
CYCLE_AGREE = 0.75  # share of the whole cycles that must agree
CYCLE_HALVES = 0.5  # correlation of the first half of the cycles' profile with the second half's
CYCLE_LR = 0.5  # a learning rate scoring this at the same period makes the cycle a schedule's


def _moving_average(y: np.ndarray, w: int) -> np.ndarray:
    """Centered running mean over w samples, which removes anything repeating every w samples.

    Within half a window of either end, where no centered window fits, the trend is extended
    linearly from the first (last) two whole windows, so a sloping start leaves no ramp behind.
    """
    n = len(y)
    w = int(min(max(w, 1), n))
    c = np.concatenate([[0.0], np.cumsum(y)])
    full = (c[w:] - c[:-w]) / w  # mean of y[j:j + w], centered at j + (w - 1) / 2
    i = np.arange(n)
    j = np.clip(i - w // 2, 0, n - w)
    out = full[j].copy()
    if n >= 2 * w:
        centre = (w - 1) / 2
        head, tail = i < w // 2, i > n - w + w // 2 - 1
        out[head] = full[0] + (full[w] - full[0]) / w * (i[head] - centre)
        out[tail] = full[-1] + (full[-1] - full[-1 - w]) / w * (i[tail] - (n - w + centre))
    return out


def _noise_scale(y: np.ndarray) -> float:
    """Robust step-to-step noise level (median absolute first difference, as a standard deviation)."""
    d = np.abs(np.diff(y))
    s = 1.4826 * float(numstats.median(d)) / np.sqrt(2)
    return s if s > 0 else float(np.mean(d)) / np.sqrt(2)


def _phase_bins(pos: np.ndarray, period: float, nbins: int) -> np.ndarray:
    return np.minimum((np.mod(pos, period) / period * nbins).astype(np.int64), nbins - 1)


def _fold(r: np.ndarray, bins: np.ndarray, nbins: int) -> tuple[float, np.ndarray]:
    """(excess eta², phase profile): the share of r's variance its phase means explain, above chance."""
    cnt = np.bincount(bins, minlength=nbins)
    tot = np.bincount(bins, weights=r, minlength=nbins)
    nz = cnt > 0
    prof = np.where(nz, tot / np.maximum(cnt, 1), np.nan)
    m = r.mean()
    ss = float(np.sum((r - m) ** 2))
    if ss <= 0:
        return 0.0, prof
    eta = (float(np.sum(tot[nz] ** 2 / cnt[nz])) - len(r) * m * m) / ss
    chance = (np.count_nonzero(nz) - 1) / max(len(r) - 1, 1)
    return (eta - chance) / (1 - chance), prof


def _detrended(y: np.ndarray, window: int, clip: float) -> np.ndarray:
    """y less its running mean over one candidate period, outliers clipped at ±clip."""
    return np.clip(y - _moving_average(y, window), -clip, clip)


def _cycle_score(y: np.ndarray, pos: np.ndarray, period: float, window: int, nbins: int, clip: float) -> float:
    return _fold(_detrended(y, window, clip), _phase_bins(pos, period, nbins), nbins)[0]


def _related(periods: np.ndarray, best: float, cycles: float) -> np.ndarray:
    """Periods a cycle of `best` also shows at: its multiples, its parts, the ratios a/b with a, b <= 4,
    and its own neighbourhood, as wide as the phase drift a fold tolerates over the cycles seen."""
    tol = max(0.05, 0.5 / max(cycles, 1.0))
    ratio = periods / best
    near = np.abs(ratio - np.maximum(np.round(ratio), 1)) <= tol * np.maximum(np.round(ratio), 1)
    inv = best / periods
    near |= (np.round(inv) >= 2) & (np.abs(inv - np.round(inv)) <= tol * np.round(inv))
    for a, b in ((3, 2), (2, 3), (4, 3), (3, 4)):
        near |= np.abs(ratio - a / b) <= tol * a / b
    return near


def _regular_log(s: Series) -> tuple[np.ndarray, np.ndarray, int] | None:
    """(steps, values, spacing) of a series logged at a regular step spacing, mostly finite; else None."""
    if s.points == 0 or s.nonfinite > 0.1 * s.points:
        return None
    steps, vals = _sorted_finite(s)
    last = np.concatenate([steps[1:] != steps[:-1], [True]])  # a step written twice: the later write
    steps, vals = steps[last], vals[last]
    if len(steps) < CYCLE_MIN_POINTS:
        return None
    gaps = np.diff(steps)
    d = int(numstats.median(gaps))
    if d < 1 or np.mean(gaps == d) < 0.9:
        return None
    return steps, vals, d


def _cycle_profiles(r: np.ndarray, pos: np.ndarray, period: float, nbins: int, cycles: int) -> np.ndarray:
    """Each whole cycle's phase profile (cycles × nbins, NaN where a cycle has no point in a bin)."""
    which = (pos // period).astype(np.int64)
    sel = which < cycles
    key = which[sel] * nbins + _phase_bins(pos[sel], period, nbins)
    cnt = np.bincount(key, minlength=cycles * nbins)
    tot = np.bincount(key, weights=r[sel], minlength=cycles * nbins)
    return np.where(cnt > 0, tot / np.maximum(cnt, 1), np.nan).reshape(cycles, nbins)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.std(a[ok]) == 0 or np.std(b[ok]) == 0:
        return 0.0
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def _epoch_from_loss_cycle(train: Series | None, lr: Series | None, why: dict | None = None) -> EpochAxis | None:
    """The period of a cycle that dominates the per-step train loss, taken as the epoch.

    Only for runs that log nothing else about the epoch. The loss (log-scaled when positive) is
    detrended by a running mean over one candidate period — which removes anything repeating with
    that period and leaves the slower trend out — and folded at that period; the score is the share
    of the detrended variance the phase means explain above chance. Every candidate period of a
    regularly logged series of at least 100 points is scored, and the best one is accepted only when
    it repeats at least 4 times, explains at least 10 % of that variance, scores 4× the median of the
    periods from half to twice it, no unrelated period (of at least 20) comes within half of it (a
    third under 8 cycles), its double scores alike where that can be seen, three quarters of the
    whole cycles and the two halves of the log agree on the profile, one cycle predicts the next
    (autocorrelation at the period), and the learning rate does not follow the same cycle (a cyclic
    schedule is not an epoch). `why`, when given, receives the numbers and the reason for a refusal.
    """
    why = {} if why is None else why
    if train is None:
        return None
    reg = _regular_log(train)
    if reg is None:
        why["refused"] = "not a regularly logged, mostly finite series long enough for 4 cycles"
        return None
    steps, vals, d = reg
    y = np.log(vals) if np.all(vals > 0) else vals.astype(np.float64)
    if np.ptp(y) == 0:
        why["refused"] = "constant"
        return None
    # ---- coarse scan over whole periods of the (block-averaged) log
    k = int(np.ceil(len(y) / CYCLE_MAX_POINTS))
    nb = len(y) // k
    yb = y[: nb * k].reshape(nb, k).mean(axis=1)
    clip_b = 6 * _noise_scale(yb)
    pmax = nb // CYCLE_MIN_CYCLES
    if pmax < 4 or clip_b <= 0:
        why["refused"] = "too short"
        return None
    idx = np.arange(nb, dtype=np.float64)
    periods = np.arange(4, pmax + 1)
    scores = np.array([_cycle_score(yb, idx, float(p), int(p), int(min(p, 16)), clip_b) for p in periods])
    best = int(periods[int(np.argmax(scores))])
    top = float(scores.max())
    # the fundamental: the shortest part of the best period that scores nearly as well
    for m in range(best // 4, 1, -1):
        cand = [p for p in (best // m, -(-best // m)) if 4 <= p <= pmax]
        if cand and max(scores[p - 4] for p in cand) >= 0.8 * top:
            best = max(cand, key=lambda p: scores[p - 4])
            top = float(scores[best - 4])
            break
    near = _related(periods.astype(np.float64), float(best), nb / best)
    window = (periods >= best / 2) & (periods <= 2 * best) & ~near
    background = float(numstats.median(scores[window])) if np.any(window) else 0.0
    rival = float(scores[~near].max()) if np.any(~near) else 0.0
    few = nb / best < 8
    why.update(period_logs=best * k, score=top, background=background, rival=rival)
    if np.count_nonzero(~near) < CYCLE_MIN_RIVALS:
        why["refused"] = "too few periods to compare"
        return None
    if top < CYCLE_MIN_SCORE:
        why["refused"] = "weak"
        return None
    if top < CYCLE_DOMINANCE * max(background, 0.02) or rival > (CYCLE_RIVAL_FEW if few else CYCLE_RIVAL) * top:
        why["refused"] = "not dominant"
        return None
    if 2 * best <= pmax and _cycle_score(yb, idx, 2.0 * best, 2 * best, int(min(2 * best, 32)), clip_b) < 0.5 * top:
        why["refused"] = "not seen at its double"
        return None
    # ---- refine the period in steps at full resolution; a period of a few logs may be a fraction of them
    pos = (steps - steps[0]).astype(np.float64)
    clip = 6 * _noise_scale(y)

    def refine(centre: float, half: float) -> tuple[float, float] | None:
        cands = numstats.unique(np.linspace(centre - half, centre + half, 41))
        found = [(_cycle_score(y, pos, float(T), max(int(round(T / d)), 1), int(min(16, max(4, round(T / d)))),
                               clip), float(T)) for T in cands[cands >= 4 * d]]
        return max(found) if found else None

    fine = refine(best * k * d, k * d)
    if fine is None:
        why["refused"] = "too short"
        return None
    score, period = fine
    if best < 40:
        for m in range(best // 4, 1, -1):  # the shortest part first
            part = refine(period / m, k * d / m)
            if part is not None and part[0] >= 0.8 * score:
                score, period = part
                break
    period = float(round(period))  # an epoch is a whole number of steps
    nbins = int(min(16, max(4, round(period / d))))
    cycles = int((pos[-1] + d) // period)
    lag = max(int(round(period / d)), 1)
    r = _detrended(y, lag, clip)
    why.update(period=period, fine_score=score, cycles=cycles)
    if score < (CYCLE_MIN_SCORE if k == 1 else CYCLE_MIN_SCORE / 2):
        why["refused"] = "weak at full resolution"
        return None
    if cycles < CYCLE_MIN_CYCLES:
        why["refused"] = "fewer than 4 whole cycles"
        return None
    if period / d < CYCLE_MIN_PERIOD_POINTS:
        why["refused"] = f"a cycle of {period / d:.0f} logged points is as likely an oscillation as an epoch"
        return None
    # ---- the whole cycles must look alike, and so must the two halves of the log
    profiles = _cycle_profiles(r, pos, period, nbins, cycles)
    agree = sum(_corr(profiles[c], np.nanmean(np.delete(profiles, c, axis=0), axis=0)) >= CYCLE_AGREE_R
                for c in range(cycles))
    halves = _corr(np.nanmean(profiles[: cycles // 2], axis=0), np.nanmean(profiles[cycles // 2:], axis=0))
    why.update(agree=int(agree), halves=halves)
    if agree < max(CYCLE_MIN_CYCLES, CYCLE_AGREE * cycles) or halves < CYCLE_HALVES:
        why["refused"] = "the cycles do not agree"
        return None
    # ---- a learning rate that cycles with it makes it a schedule, not an epoch
    if lr is not None:
        lreg = _regular_log(lr)
        if lreg is not None and np.ptp(lreg[1]) > 0.01 * np.max(np.abs(lreg[1])):
            ls, lv, ld = lreg
            lscore = _cycle_score(lv, (ls - ls[0]).astype(np.float64), period, max(int(round(period / ld)), 1),
                                  nbins, np.inf)
            why["lr_score"] = lscore
            if lscore >= CYCLE_LR:
                why["refused"] = "the learning rate follows the same cycle"
                return None
    ac = _corr(r[:-lag], r[lag:])
    why["ac"] = ac
    if ac < max(0.1, 0.5 * score):
        why["refused"] = "one cycle does not predict the next"
        return None
    # ---- phase: an epoch starts after the cycle's steepest drop
    pbins = int(min(24, max(4, round(period / d))))
    _, prof = _fold(r, _phase_bins(pos, period, pbins), pbins)
    prof = np.where(np.isfinite(prof), prof, np.nanmean(prof))
    drop = int(np.argmin(np.roll(prof, -1) - prof))
    offset = (drop + 1) % pbins * period / pbins
    first, last = int(steps[0]), int(steps[-1])
    bounds = np.round(first + offset + period * np.arange(int((last - first - offset) // period) + 1))
    starts = numstats.unique(np.concatenate([[first], bounds[(bounds > first) & (bounds <= last)]]).astype(np.int64))
    p = _fmt_period(period)
    return EpochAxis(starts, "loss_cycle",
                     f"inferred from the loss's own {p}-step cycle ('{train.tag}': autocorrelation {ac:.2f} at lag "
                     f"{p}, {cycles} cycles, {agree} alike; the cycle explains {score:.0%} of the detrended loss, "
                     f"{top / max(background, 0.02):.0f}× the periods around it); nothing else in the log says the "
                     f"epoch, and epochs are taken to start after the cycle's steepest drop "
                     f"(±{_fmt_period(period / pbins / 2)} steps)")


def epoch_axis(series: Mapping[str, Series], roles: Roles, steps_per_epoch: int | None = None) -> EpochAxis:
    train = series.get(roles.train_loss) if roles.train_loss else None
    val = series.get(roles.val_loss) if roles.val_loss else None
    axis: EpochAxis | None = None
    if steps_per_epoch:
        ref = train or next(iter(series.values()), None)
        if ref is not None and ref.points:
            first, last = int(ref.step.min()), int(ref.step.max())
            axis = EpochAxis(np.arange(first, last + 1, steps_per_epoch, dtype=np.int64), "config",
                             f"steps_per_epoch = {steps_per_epoch} from the configuration")
    if axis is None and roles.epoch and roles.epoch in series:
        axis = _epoch_from_tag(series[roles.epoch])
    if axis is None and train is not None and _keras_epoch_tag(train.tag) and train.points >= 2:
        # Keras' TensorBoard callback: epoch_* tags are written once per epoch at step = epoch
        detail = f"'{train.tag}' is written once per epoch (Keras), step = epoch"
        iters = _keras_iterations(series)
        if iters is not None:
            detail += "; " + _iterations_detail(iters)
        axis = EpochAxis(numstats.unique(train.step).astype(np.int64), "epoch_tag", detail)
    if axis is None and train is not None and train.points >= 2:
        # the train loss is logged per iteration: Keras' evaluations against iterations close the epochs
        iters = _keras_iterations(series)
        if iters is not None and train.step.max() >= iters[2][0]:
            spe, s, its, _ = iters
            first = int(train.step.min())
            starts = numstats.unique(np.concatenate([[first], its[(its > first) & (its <= train.step.max())]]))
            axis = EpochAxis(starts.astype(np.int64), "eval_iterations",
                             _iterations_detail(iters) + "; each such evaluation is taken as an epoch end")
    if axis is None:
        axis = _epoch_from_cadence(train, val)
        if axis is not None:
            with np.errstate(over="ignore", invalid="ignore"):
                axis = _cadence_within_cycle(axis, train, val, series.get(roles.lr) if roles.lr else None)
    if axis is None:
        with np.errstate(over="ignore", invalid="ignore"):  # values near the float limit: a score of inf/nan, no cycle
            axis = _epoch_from_loss_cycle(train, series.get(roles.lr) if roles.lr else None)
    if axis is None:
        return EpochAxis.unknown("no epoch series, no steps_per_epoch, no regular validation cadence, "
                                 "and no dominant cycle in the train loss")
    if val is not None and axis.provenance != "val_cadence" and axis.count >= 2:
        per_epoch = _evals_per_epoch(axis, val, train)
        if per_epoch:
            axis = replace(axis, evals_per_epoch=per_epoch,
                           detail=axis.detail + f"; validation runs {per_epoch}× per epoch")
    return axis


def _evals_per_epoch(axis: EpochAxis, val: Series, train: Series | None = None) -> int | None:
    vsteps = numstats.unique(val.step)
    lengths = np.diff(axis.starts)
    lengths = lengths[1:] if len(lengths) > 1 else lengths
    per_epoch: int | None = None
    cad = _cadence(vsteps)
    if cad is not None and len(lengths):
        # a regular evaluation cadence: epochs are a whole number of evaluations long (62.5 steps in 250)
        ratio = float(numstats.median(lengths)) / cad[0]
        if round(ratio) >= 1 and abs(ratio - round(ratio)) <= 0.02 * round(ratio):
            per_epoch = int(round(ratio))
    if per_epoch is None:
        ep = axis.epoch_of(vsteps)
        ep = ep[ep >= 0]
        if len(ep) == 0:
            return None
        # whole epochs from the first evaluated one on; an epoch without evaluation counts as 0
        counts = np.bincount(ep)[int(ep.min()): axis.count - 1]
        if len(counts) < 2:
            return None  # one whole epoch with evaluations makes no cadence
        med = int(numstats.median(counts))
        per_epoch = med if med >= 1 and np.mean(counts == med) >= 0.7 else None
    if per_epoch and train is not None and len(lengths):
        # evaluated more often than the train loss is logged: the val steps count something else
        # (Lightning's per-batch validation rows on their own counter)
        logged = np.count_nonzero((train.step >= axis.starts[0]) & (train.step < axis.starts[-1]))
        if per_epoch > max(logged / max(axis.count - 1, 1), 1):
            return None
    return per_epoch


def group_experiments(runs: Iterable[Run]) -> list[tuple[str, list[tuple[str, Run]]]]:
    """Keras-style sibling run dirs `X/train` + `X/validation` become one experiment `X`.

    Returns (experiment name, [(tag prefix, run)]) with prefix "" for ordinary runs.
    """
    runs = list(runs)
    by_parent: dict[str, dict[str, Run]] = {}
    for r in runs:
        parent, _, leaf = r.name.rpartition("/")
        if leaf.lower() in SPLIT_DIRS and r.format == "tfevents":
            by_parent.setdefault(parent, {})[leaf] = r
    grouped: set[str] = set()
    out: list[tuple[str, list[tuple[str, Run]]]] = []
    for parent, members in by_parent.items():
        splits = {SPLIT_DIRS[leaf.lower()] for leaf in members}
        if splits >= {"train", "val"}:
            out.append((parent or ".", [(leaf + "/", r) for leaf, r in sorted(members.items())]))
            grouped.update(r.name for r in members.values())
    out += [(r.name, [("", r)]) for r in runs if r.name not in grouped]
    return sorted(out, key=lambda x: x[0])


def align(run_group: Sequence[tuple[str, Run]], name: str, config: Config | None = None) -> AlignedRun:
    config = config or Config()
    series: dict[str, Series] = {}
    hparams: dict = {}
    for prefix, run in run_group:
        for tag, s in run.series.items():
            full = prefix + tag
            series[full] = s if not prefix else Series(full, s.step, s.value, s.wall_time)
        hparams.update(run.hparams)
    series = dict(sorted(series.items()))
    roles = infer_roles(series, config.roles, config.higher_is_better, config.lower_is_better)
    epochs = epoch_axis(series, roles, config.steps_per_epoch)
    return AlignedRun(name, tuple(r for _, r in run_group), series, roles, epochs, hparams)


def attempt_groups(members: Sequence[tuple[str, Run]], name: str) -> list[tuple[str, list[tuple[str, Run]]]]:
    """The earlier attempts of an experiment's members, as experiments of their own: attempt k of each member
    that has one, under the experiment's name for attempt k of n."""
    from .ingest.rewind import attempt_name

    n = 1 + max((len(r.attempts) for _, r in members), default=0)
    return [(attempt_name(name, k + 1, n), [(p, r.attempts[k]) for p, r in members if len(r.attempts) > k])
            for k in range(n - 1)]


def align_runs(runs: Iterable[Run], config: Config | None = None) -> list[AlignedRun]:
    return [align(members, name, config) for name, members in group_experiments(runs)]


def from_arrays(name: str, curves: Mapping[str, tuple], config: Config | None = None) -> AlignedRun:
    """An aligned run from in-memory curves: {tag: (steps, values)} — for notebooks and tests."""
    series = {tag: Series.from_lists(tag, c[0], c[1], c[2] if len(c) > 2 else None) for tag, c in curves.items()}
    run = Run(name, (), dict(sorted(series.items())), format="memory")
    return align([("", run)], name, config)
