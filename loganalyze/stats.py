"""Robust statistics shared by detectors. Pure functions on numpy arrays."""
from __future__ import annotations

import math

import numpy as np

from . import numstats


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
    ok = np.isfinite(x)
    if not ok.all():  # (most series are finite throughout: no copy of them then)
        x = x[ok]
    if len(x) == 0:
        return float("nan")
    return float(1.4826 * numstats.median(np.abs(x - numstats.median(x))))


def rolling_median(x: np.ndarray, window: int) -> np.ndarray:
    window = max(1, int(window) | 1)
    return numstats.median_filter(x, size=window, mode="reflect")


def rolling_mad(x: np.ndarray, window: int, med: np.ndarray | None = None) -> np.ndarray:
    """Rolling MAD scaled to σ; `med`: `rolling_median(x, window)` when the caller has it already."""
    med = rolling_median(x, window) if med is None else med
    return 1.4826 * rolling_median(np.abs(x - med), window)


def rolling_mad_at(x: np.ndarray, window: int, med: np.ndarray, at: np.ndarray) -> np.ndarray:
    """`rolling_mad(x, window, med)[at]` for a finite series at least `window` long, at those points only."""
    window = max(1, int(window) | 1)
    return 1.4826 * numstats.median_filter_at(np.abs(x - med), window, "reflect", at)


def theil_sen(x: np.ndarray, y: np.ndarray, max_points: int = 2000) -> tuple[float, float]:
    """Robust slope and intercept; long series are thinned evenly (the slope is a median anyway)."""
    if len(x) > max_points:
        idx = np.linspace(0, len(x) - 1, max_points).astype(int)
        x, y = x[idx], y[idx]
    slope, intercept = numstats.theil_slopes(y, x)
    return slope, intercept


def mann_kendall(y: np.ndarray, max_points: int = 2000) -> tuple[float, float]:
    """Monotonic-trend test: (Kendall's tau against time, two-sided p-value)."""
    if len(y) > max_points:
        idx = np.linspace(0, len(y) - 1, max_points).astype(int)
        y = y[idx]
    if len(y) < 4:
        return 0.0, 1.0
    tau, p = numstats.kendalltau(np.arange(len(y)), y)
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
    """One-sided p-value that the values of `a` rank above those of `b` (Wilcoxon rank sum / Mann–Whitney U).

    Exact while min(m, n) × (m + n) ≤ 200,000 (its cost), so it stays right for the handful of events a short
    log holds (3 restarts among 16 epochs; 6 epochs' last batches among 300 steps): U's distribution is the
    coefficient list of the Gaussian binomial [m+n choose m]. Ties get mid-ranks and U is rounded down, which
    only makes p larger. Beyond, the normal approximation (tie- and continuity-corrected)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    m, n = len(a), len(b)
    if m == 0 or n == 0:
        return 1.0
    pooled = np.concatenate([a, b])
    _, inverse, counts = np.unique(pooled, return_inverse=True, return_counts=True)
    below = np.concatenate([[0], np.cumsum(counts)[:-1]])
    ranks = below[inverse] + (counts[inverse] + 1) / 2  # mid-ranks
    u = float(ranks[:m].sum()) - m * (m + 1) / 2
    if min(m, n) * (m + n) > 200_000:
        var = m * n / 12 * ((m + n + 1) - float(np.sum(counts ** 3 - counts)) / ((m + n) * (m + n - 1)))
        return 1.0 if var <= 0 else float(0.5 * math.erfc((u - m * n / 2 - 0.5) / math.sqrt(2 * var)))
    k = min(m, n)
    poly = np.ones(1)  # Gaussian binomial: prod_{i=1..k} (1 - q^(m+n-k+i)) / (1 - q^i)
    for i in range(1, k + 1):
        poly = np.concatenate([poly, np.zeros(m + n - k + i)])
        poly[m + n - k + i:] -= poly[: len(poly) - (m + n - k + i)].copy()
        pad = -len(poly) % i  # divide by (1 - q^i): a running sum with stride i
        poly = np.cumsum(np.concatenate([poly, np.zeros(pad)]).reshape(-1, i), axis=0).ravel()
        poly = poly[: min(len(poly) - pad, k * (m + n - k) + 1)]
    tail = poly[int(math.floor(u)):].sum()
    return float(min(1.0, tail / poly.sum()))
