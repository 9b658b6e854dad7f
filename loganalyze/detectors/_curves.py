"""Curve preparation shared by the trend rules: the right scale and the right granularity."""
from __future__ import annotations

import numpy as np

from .. import derived, numstats
from ..model import AlignedRun, Series


def resolution(value: np.ndarray) -> float | None:
    """The decimal step a log rounded its values to (1e-4 for Hugging Face's 4 decimals), or None.

    Only claimed when every value is a multiple of it and the values span many multiples: a loss
    printed with 4 decimals that falls to 0.0001 has almost no digits left, and its log there is
    the rounding, not the loss.
    """
    v = value[np.isfinite(value)]
    if len(v) < 8:
        return None
    def multiples(x: np.ndarray, q: float) -> bool:
        for a in range(0, len(x), 1 << 16):  # a block at a time: the first value that is no multiple ends it
            r = x[a: a + (1 << 16)] / q
            if not np.all(np.abs(r - np.round(r)) <= 1e-6 * np.maximum(np.abs(r), 1.0)):
                return False
        return True

    head = v[:1000]  # a float32 loss fails on its first values: the whole series is read only to confirm
    for k in range(1, 7):
        q = 10.0 ** -k
        if multiples(head, q) and multiples(v, q):
            return q if np.max(np.abs(v)) >= 100 * q else None
    return None


def scaled(s: Series) -> tuple[np.ndarray, np.ndarray, bool]:
    """Finite (step, value) in step order, with log applied when the values are all positive (losses move
    by factors). Values within ten rounding steps of 0 are floored there before the log (see `resolution`).
    Computed once per run and shared by the rules (`derived.memo`): read-only.
    """
    return derived.memo(_scaled, s)


def _scaled(s: Series) -> tuple[np.ndarray, np.ndarray, bool]:
    step, value = derived.finite_sorted(s)
    if len(value) and value.min() > 0:
        q = resolution(value)
        return step, np.log(np.maximum(value, 10 * q) if q else value), True
    return step, value, False


def aggregate(run: AlignedRun, step: np.ndarray, y: np.ndarray, max_buckets: int = 60) -> tuple[np.ndarray, np.ndarray, str]:
    """Per-epoch medians when epochs are known and hold several points; else medians of even buckets.

    Aggregating at epoch scale keeps an intra-epoch saw-tooth from looking like a trend.
    `step` is in increasing order, as `scaled` returns it.
    """
    if run.epochs.known and len(step):
        ep = run.epochs.epoch_of(step)
        ids, counts = np.unique(ep[ep >= 0], return_counts=True)
        if len(ids) >= 4 and numstats.median(counts) >= 2:
            # step is sorted, so each epoch is one slice of it
            first = np.searchsorted(ep, ids, side="left")
            xs = step[first]
            ys = np.asarray([numstats.median(y[a:b]) for a, b in zip(first, first + counts)])
            return xs, ys, "epoch"
    return aggregate_buckets(step, y, max_buckets)


def aggregate_buckets(step: np.ndarray, y: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Medians of `buckets` even runs of points (the points themselves when there are fewer)."""
    n = len(y)
    if n <= buckets:
        return step, y, "point"
    edges = np.linspace(0, n, buckets + 1).astype(int)
    xs = np.asarray([step[a] for a in edges[:-1]])
    ys = np.asarray([numstats.median(y[a:b]) for a, b in zip(edges[:-1], edges[1:])])
    return xs, ys, "bucket"
