"""Robust statistics shared by detectors. Pure functions on numpy arrays."""
from __future__ import annotations

import math

import numpy as np
from scipy import ndimage, stats


def finite(step: np.ndarray, value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ok = np.isfinite(value)
    return step[ok], value[ok]


def log_loss(value: np.ndarray) -> np.ndarray | None:
    """log of a loss when it is strictly positive (multiplicative changes matter); else None."""
    v = value[np.isfinite(value)]
    if len(v) == 0 or np.min(v) <= 0:
        return None
    return np.log(value)


def mad(x: np.ndarray) -> float:
    """Median absolute deviation scaled to σ for Gaussian noise."""
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return float("nan")
    return float(1.4826 * np.median(np.abs(x - np.median(x))))


def rolling_median(x: np.ndarray, window: int) -> np.ndarray:
    window = max(1, int(window) | 1)
    return ndimage.median_filter(x, size=window, mode="reflect")


def rolling_mad(x: np.ndarray, window: int) -> np.ndarray:
    med = rolling_median(x, window)
    return 1.4826 * rolling_median(np.abs(x - med), window)


def theil_sen(x: np.ndarray, y: np.ndarray, max_points: int = 2000) -> tuple[float, float]:
    """Robust slope and intercept; long series are thinned evenly (the slope is a median anyway)."""
    if len(x) > max_points:
        idx = np.linspace(0, len(x) - 1, max_points).astype(int)
        x, y = x[idx], y[idx]
    res = stats.theilslopes(y, x)
    return float(res[0]), float(res[1])


def mann_kendall(y: np.ndarray, max_points: int = 2000) -> tuple[float, float]:
    """Monotonic-trend test: (Kendall's tau against time, two-sided p-value)."""
    if len(y) > max_points:
        idx = np.linspace(0, len(y) - 1, max_points).astype(int)
        y = y[idx]
    if len(y) < 4:
        return 0.0, 1.0
    tau, p = stats.kendalltau(np.arange(len(y)), y)
    if math.isnan(tau):
        return 0.0, 1.0
    return float(tau), float(p)


def group_means(groups: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of `values` per distinct group id (e.g. epoch index): (group ids, means)."""
    ids, inv = np.unique(groups, return_inverse=True)
    sums = np.bincount(inv, weights=values)
    counts = np.bincount(inv)
    return ids, sums / counts


def rank_sum_greater(a: np.ndarray, b: np.ndarray) -> float:
    """Exact one-sided p-value that the values of `a` rank above those of `b` (Wilcoxon rank sum / Mann–Whitney,
    ties by mid-rank and counted against `a`): the share of the ways to draw len(a) of the pooled ranks whose sum
    is at least the observed one. Exact, so it stays right for the handful of events a short log holds."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    m, n = len(a), len(b)
    if m == 0 or n == 0:
        return 1.0
    pooled = np.concatenate([a, b])
    order = np.argsort(pooled, kind="mergesort")
    ranks = np.empty(len(pooled))
    ranks[order] = np.arange(1, len(pooled) + 1)
    for v in np.unique(pooled):  # mid-ranks for ties
        tie = pooled == v
        if tie.sum() > 1:
            ranks[tie] = ranks[tie].mean()
    # doubled ranks are integers even with mid-ranks; count subsets of size m by their doubled-rank sum
    r2 = np.rint(2 * ranks).astype(int)
    observed = int(r2[:m].sum())
    total = int(r2.sum())
    ways = np.zeros((m + 1, total + 1))
    ways[0, 0] = 1.0
    for r in r2:
        ways[1:, r:] += ways[:-1, : total + 1 - r].copy()
    count = ways[m]
    return float(count[observed:].sum() / count.sum())
