"""Alignment: which tag is which (metric roles), which runs form one experiment, where epochs start.

Detectors rely on this and never guess for themselves: a rule that needs epochs asks
`run.epochs.known`, and the provenance says how much to trust the boundaries.
"""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Iterable, Mapping, Sequence

import numpy as np

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
    t = tag.lower()
    return bool(LR_NAMES.search(t)) or t.startswith("lr-") or t.endswith("/lr") or "learning_rate" in t


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


def infer_roles(series: Mapping[str, Series], overrides: Mapping[str, str] | None = None,
                higher: Sequence[str] = (), lower: Sequence[str] = ()) -> Roles:
    overrides = dict(overrides or {})
    tags = sorted(series)

    def best(want: str) -> str | None:
        scored = [(s, t) for t in tags if (s := _loss_score(t, series[t], want)) is not None]
        return max(scored)[1] if scored else None

    train_loss = overrides.get("train_loss") or best("train")
    val_loss = overrides.get("val_loss") or best("val")
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


def _epoch_from_tag(s: Series) -> EpochAxis | None:
    """Epoch starts from an epoch series (integer or HF-style fractional), interpolated between logs."""
    ok = np.isfinite(s.value)
    steps, vals = s.step[ok], s.value[ok]
    if len(steps) < 2:
        return None
    order = np.argsort(steps, kind="stable")
    steps, vals = steps[order], vals[order]
    lo, hi = int(np.floor(vals.min())), int(np.floor(vals.max()))
    if hi <= lo:
        return None
    integer = np.all(vals == np.round(vals))
    starts = []
    for k in range(lo, hi + 1):
        idx = int(np.searchsorted(np.maximum.accumulate(vals), k, side="left"))
        if idx >= len(steps):
            break
        if idx == 0 or integer:
            starts.append(int(steps[idx]))
        else:
            # HF logs a fractional epoch every few steps: place the boundary where it crosses k
            s0, s1, v0, v1 = steps[idx - 1], steps[idx], vals[idx - 1], vals[idx]
            starts.append(int(round(s0 + (k - v0) * (s1 - s0) / (v1 - v0))) if v1 > v0 else int(s1))
    starts_a = np.unique(np.asarray(starts, dtype=np.int64))
    gaps = np.diff(steps)
    res = int(np.median(gaps)) if len(gaps) else 1
    detail = f"from the '{s.tag}' series ({len(starts_a)} epochs"
    detail += f"; logged every ~{res} steps, so boundaries are exact to ±{res} steps)" if res > 1 else ")"
    return EpochAxis(starts_a, "epoch_tag", detail)


def _keras_epoch_tag(tag: str) -> bool:
    return [t for t in tokens(tag) if t not in TRAIN_WORDS | VAL_WORDS][:1] == ["epoch"]


def _epoch_from_cadence(train: Series | None, val: Series | None) -> EpochAxis | None:
    """Validation logged at a regular cadence, with many train steps between: one eval = one epoch."""
    if val is None or train is None or val.points < 3:
        return None
    vsteps = np.unique(val.step)
    gaps = np.diff(vsteps)
    if len(gaps) < 2:
        return None
    period = int(np.median(gaps))
    if period < 4 or np.mean(np.abs(gaps - period) <= max(1, period // 20)) < 0.8:
        return None
    per = np.count_nonzero((train.step > vsteps[0]) & (train.step <= vsteps[1]))
    if per < 4:
        return None
    first = int(train.step.min())
    starts = np.concatenate([[first], vsteps[vsteps >= first] + 1]).astype(np.int64)
    starts = np.unique(starts[starts <= train.step.max()])
    return EpochAxis(starts, "val_cadence",
                     f"validation ('{val.tag}') is logged every {period} steps; each evaluation is taken as an epoch end")


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
        axis = EpochAxis(np.unique(train.step).astype(np.int64), "epoch_tag",
                         f"'{train.tag}' is written once per epoch (Keras), step = epoch")
    if axis is None:
        axis = _epoch_from_cadence(train, val)
    if axis is None:
        return EpochAxis.unknown("no epoch series, no steps_per_epoch, and no regular validation cadence")
    if val is not None and axis.provenance != "val_cadence" and axis.count >= 2:
        per_epoch = _evals_per_epoch(axis, val)
        if per_epoch:
            axis = replace(axis, evals_per_epoch=per_epoch,
                           detail=axis.detail + f"; validation runs {per_epoch}× per epoch")
    return axis


def _evals_per_epoch(axis: EpochAxis, val: Series) -> int | None:
    ep = axis.epoch_of(np.unique(val.step))
    ep = ep[ep >= 0]
    if len(ep) == 0:
        return None
    counts = np.bincount(ep)[: max(axis.count - 1, 1)]
    counts = counts[counts > 0]
    if len(counts) == 0:
        return None
    med = int(np.median(counts))
    return med if med >= 1 and np.mean(counts == med) >= 0.7 else None


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


def align_runs(runs: Iterable[Run], config: Config | None = None) -> list[AlignedRun]:
    return [align(members, name, config) for name, members in group_experiments(runs)]


def from_arrays(name: str, curves: Mapping[str, tuple], config: Config | None = None) -> AlignedRun:
    """An aligned run from in-memory curves: {tag: (steps, values)} — for notebooks and tests."""
    series = {tag: Series.from_lists(tag, c[0], c[1], c[2] if len(c) > 2 else None) for tag, c in curves.items()}
    run = Run(name, (), dict(sorted(series.items())), format="memory")
    return align([("", run)], name, config)
