"""The few scipy statistics and filters the rules use, in numpy, so a run starts without scipy.

Importing scipy.stats, scipy.signal or scipy.ndimage costs 0.5–1.3 s: more than analyzing a small
log, and paid again by every worker of a sweep. Each function here returns what its scipy
namesake returns for the inputs the rules give it, computed the same way so the floating-point
results are the same bits (tests/test_numstats.py compares them on random inputs with ties).
The one exception is a normal tail probability: scipy evaluates it with its own erfc, this module
with the C library's, and the two agree to about 1e-13 relative. Where no short numpy equivalent
exists (the F and binomial tails, peak prominence) or an input is too big for a sliding window,
the caller's scipy is imported on first use.
"""
from __future__ import annotations

import math

import numpy as np

SLIDING_LIMIT = 4_000_000  # elements of a sliding-window view we are willing to materialize


def unique(a) -> np.ndarray:
    """np.unique(a): the sorted distinct values. Integers go through a sort, because numpy 2.3+
    hashes them instead, which costs about a second per 200,000 distinct steps (15 s at 2M)."""
    a = np.asarray(a)
    if a.dtype.kind not in "iub" or a.size < 2:
        return np.unique(a)
    s = a.ravel()
    if not (s[1:] >= s[:-1]).all():  # (an epoch index per point is in order already: a sort of it costs 40 ms at 2M)
        s = np.sort(s)
    keep = np.empty(len(s), dtype=bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


def median(a):
    """np.median(a) (every element, no axis), computed as numpy computes it: the same bits, NaN when any value
    is NaN. np.median's check for NaN asks whether its result is a masked array, which imports numpy.ma on its
    first call: 30-80 ms of every run's start-up, for a module no rule uses. Empty, 0-d and subclassed inputs
    are handed to np.median itself."""
    a = np.asanyarray(a)
    if type(a) is not np.ndarray or a.ndim == 0 or a.size == 0 or a.dtype.kind not in "biuf":
        return np.median(a)
    n = a.size
    kth = [n // 2 - 1, n // 2] if n % 2 == 0 else [(n - 1) // 2]
    nans = a.dtype.kind == "f"
    if nans:
        kth.append(-1)  # (numpy moves a NaN to the end, where its check looks for one)
    part = np.partition(a, kth, axis=None)
    mid = n // 2
    out = np.mean(part[mid: mid + 1] if n % 2 else part[mid - 1: mid + 1], axis=0)
    if nans and np.isnan(part[-1]):
        return part[-1]
    return out


def fast_length(target: int) -> int:
    """The smallest 2^a 3^b 5^c at least `target`: a length numpy's FFT transforms fast (scipy.fft.next_fast_len's
    answer for a real transform, whose factors also admit 7 and 11). A length with a large prime factor costs
    many times more: 20x for 2,500,001 points against 2,500,000."""
    if target <= 6:
        return max(1, int(target))
    best = 1 << (int(target) - 1).bit_length()  # the next power of two
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            q = -(-target // p35)  # the power of two that brings p35 to the target
            v = p35 << (q - 1).bit_length()
            best = min(best, v)
            p35 *= 3
        p5 *= 5
    return best


def _extend(x: np.ndarray, size: int, mode: str) -> np.ndarray:
    """`x` padded as scipy.ndimage pads it: size // 2 before, the rest after."""
    before = size // 2
    after = size - before - 1
    if mode == "nearest":
        return np.pad(x, (before, after), mode="edge")
    if mode == "reflect":
        return np.pad(x, (before, after), mode="symmetric")
    raise ValueError(f"mode {mode!r} not supported")


def uniform_filter1d(x, size: int, mode: str = "reflect") -> np.ndarray:
    """scipy.ndimage.uniform_filter1d of a 1-D float array: a running sum, divided by `size` at the end."""
    x = np.asarray(x, dtype=np.float64)
    size = int(size)
    n = len(x)
    if size < 1:
        raise ValueError("size must be at least 1")
    if n == 0:
        return x.copy()
    ext = _extend(x, size, mode)
    # the first window is summed element by element, then each step adds the new point and drops the
    # old one: the same order of operations as ndimage's running sum (cumsum adds sequentially)
    steps = np.empty(n, dtype=np.float64)
    steps[0] = np.cumsum(ext[:size])[-1]
    np.subtract(ext[size:size + n - 1], ext[:n - 1], out=steps[1:])
    del ext
    np.cumsum(steps, out=steps)  # in place: one array of n, not three, at the peak
    steps /= size
    return steps


def median_filter(x, size: int, mode: str = "reflect") -> np.ndarray:
    """scipy.ndimage.median_filter of a 1-D array (the element of rank size // 2 in each window)."""
    x = np.asarray(x)
    size = int(size)
    n = len(x)
    if n == 0 or size <= 1:
        return x.copy()
    # (a window wider than the series reflects more than once at the edges: left to ndimage)
    if n * size > SLIDING_LIMIT or size > n or (x.dtype.kind == "f" and not np.isfinite(x).all()):
        if size <= n and mode in ("nearest", "reflect"):
            few = _median_of_runs(x, size, mode)  # a step schedule's LR: a few levels, exactly, in O(n)
            if few is not None:
                return few
        return _ndimage_median(x, size, mode)
    windows = np.lib.stride_tricks.sliding_window_view(_extend(x, size, mode), size)
    k = size // 2
    return np.partition(windows, k, axis=1)[:, k].astype(x.dtype, copy=False)


def median_filter_at(x, size: int, mode: str, at) -> np.ndarray:
    """median_filter(x, size, mode)[at] for a finite 1-D series and size <= len(x), computed at those positions
    only: the element of rank size // 2 of each of their windows, as the full filter (any of its paths) gives it."""
    x = np.asarray(x)
    size = int(size)
    if size <= 1:
        return x[at].copy()
    windows = np.lib.stride_tricks.sliding_window_view(_extend(x, size, mode), size)[at]
    return np.partition(windows, size // 2, axis=1)[:, size // 2].astype(x.dtype, copy=False)


MAX_RUNS = 64  # constant stretches of a series whose rolling median is found from the stretches


def _median_of_runs(x: np.ndarray, size: int, mode: str) -> np.ndarray | None:
    """The rolling median of a series made of fewer than MAX_RUNS constant stretches (a step-decay LR), or None.

    Between two positions where an end of the window crosses from one stretch into the next, the window
    gains a point of one stretch and loses one of another at each step, so the number of points at or
    below each value moves by a constant −1, 0 or +1 per step, and passes the middle rank at a position
    found by one subtraction. The median is constant between those positions: it is read there, from the
    stretches' values in order and the points each puts in the window, and repeated in between. The same
    element of rank size // 2 as a sort of each window, without sorting a window."""
    if x.ndim != 1 or x.dtype.kind not in "fiu" or (x.dtype.kind == "f" and not np.isfinite(x).all()):
        return None
    if np.count_nonzero(x[1:] != x[:-1]) >= MAX_RUNS:
        return None
    n, k = len(x), size // 2
    ext = _extend(x, size, mode)  # window i is ext[i: i + size]
    first = np.flatnonzero(ext[1:] != ext[:-1]) + 1  # where each stretch after the first starts
    if len(first) >= MAX_RUNS:
        return None
    starts = np.concatenate([[0], first])
    ends = np.concatenate([first, [len(ext)]])
    values = ext[starts]
    order = np.argsort(values, kind="stable")
    starts, ends, values = starts[order], ends[order], values[order]

    def below(at: np.ndarray) -> np.ndarray:
        """(positions, stretches in value order): points of that stretch or a lower one in the window at each."""
        inside = np.minimum(ends[None, :], at[:, None] + size) - np.maximum(starts[None, :], at[:, None])
        np.maximum(inside, 0, out=inside)
        return np.cumsum(inside, axis=1)

    # the window gains a stretch's first point at i = start - size + 1 and loses the one before it at i = start
    at = np.concatenate([[0], first - size + 1, first])
    at = unique(at[(at >= 0) & (at < n)])
    nxt = np.append(at[1:], n)[:, None]
    counts = below(at)
    # where a count passes rank k between two of those positions: rising, at at + k + 1 - count; falling, at
    # at + count - k (a position that turns out to change nothing only repeats the median)
    cross = np.concatenate([at[:, None] + k + 1 - counts, at[:, None] + counts - k], axis=1)
    cross = cross[(cross > at[:, None]) & (cross < nxt)]
    at = unique(np.concatenate([at, cross]))
    rank = np.argmax(below(at) > k, axis=1)  # the first value whose count passes the middle rank
    return np.repeat(values[rank], np.diff(np.append(at, n))).astype(x.dtype, copy=False)


_FILTER_MODES = {"nearest": 0, "wrap": 1, "reflect": 2, "mirror": 3, "constant": 4}  # ndimage's codes for them
_rank_1d = None  # scipy.ndimage's compiled 1-D rank filter, once loaded (False: not to be had)


def _ndimage_median(x: np.ndarray, size: int, mode: str) -> np.ndarray:
    """ndimage.median_filter(x, size, mode=mode), through the compiled 1-D rank filter it calls
    itself for a 1-D float64 array whose window fits it (scipy >= 1.15), without importing scipy.ndimage.

    That import costs ~0.25 s of CPU (its array-API layer imports numpy.f2py and more): several
    times the filter itself over a million points, on every run. The compiled module is loaded
    from its file, and checked once against the numpy path on a small series with ties and both
    edge modes; when it is not there or answers otherwise, scipy.ndimage is imported as before."""
    rank = _rank_filter_1d()
    # the conditions under which ndimage takes this path: an odd window (rank neither 0 nor the last)
    # no wider than the series past its centre, a float64 series, one of the modes it names
    if (rank is None or x.dtype != np.float64 or x.ndim != 1 or size < 3 or size % 2 == 0
            or len(x) - (size - 1) // 2 < 0 or mode not in _FILTER_MODES):
        from scipy import ndimage

        return ndimage.median_filter(x, size=size, mode=mode)
    out = np.zeros(len(x), dtype=np.float64)
    rank(np.ascontiguousarray(x), size // 2, size, out, _FILTER_MODES[mode], 0.0, 0)
    return out


def load_median_filter() -> None:
    """Load and check the compiled rank filter now (a pool's parent, so that forked workers inherit it)."""
    _rank_filter_1d()


def _rank_filter_1d():
    """scipy.ndimage._rank_filter_1d.rank_filter, loaded without running scipy.ndimage's __init__, or None."""
    global _rank_1d
    if _rank_1d is None:
        _rank_1d = False
        try:
            _rank_1d = _load_rank_filter() or False
        except Exception:  # noqa: BLE001 — another scipy layout: the public import does the work
            _rank_1d = False
    return _rank_1d or None


def _load_rank_filter():
    import importlib.machinery
    import importlib.util
    import os
    import sys

    name = "scipy.ndimage._rank_filter_1d"
    module = sys.modules.get(name)
    if module is None:
        top = importlib.util.find_spec("scipy")  # finds the package without importing it
        if top is None or not top.submodule_search_locations:
            return None
        folder = os.path.join(next(iter(top.submodule_search_locations)), "ndimage")
        files = [os.path.join(folder, "_rank_filter_1d" + s) for s in importlib.machinery.EXTENSION_SUFFIXES]
        path = next((f for f in files if os.path.isfile(f)), None)
        if path is None:
            return None
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module  # scipy.ndimage, when imported later, takes this one (an extension loads once)
    fn = module.rank_filter
    # the same answers as the sliding-window partition on a series with ties, both modes, odd windows
    probe = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0, 8.0, 9.0, 7.0, 9.0, 3.0, 2.0])
    for mode in ("nearest", "reflect"):
        for size in (3, 5, 7):
            out = np.zeros(len(probe))
            fn(probe, size // 2, size, out, _FILTER_MODES[mode], 0.0, 0)
            want = np.partition(np.lib.stride_tricks.sliding_window_view(_extend(probe, size, mode), size),
                                size // 2, axis=1)[:, size // 2]
            if not np.array_equal(out, want):
                return None
    return fn


def rankdata(a) -> np.ndarray:
    """scipy.stats.rankdata(a) (method "average"): ties share the mean of their ranks."""
    a = np.asarray(a)
    order = np.argsort(a, kind="mergesort")
    s = a[order]
    new = np.r_[True, s[1:] != s[:-1]]
    dense = np.cumsum(new)
    starts = np.r_[np.flatnonzero(new), len(a)]
    # a tie group occupying ordinal ranks i+1..j gets (i + 1 + j) / 2
    avg = 0.5 * (starts[1:] + starts[:-1] + 1)
    out = np.empty(len(a), dtype=np.float64)
    out[order] = avg[dense - 1]
    return out


def _discordant(y_ranks: np.ndarray) -> int:
    """Pairs i < j with y_i > y_j (inversions), in blocks so no n×n matrix is built at once."""
    n = len(y_ranks)
    total = 0
    block = max(1, 2_000_000 // max(n, 1))
    for a in range(0, n, block):
        rows = y_ranks[a:a + block]
        later = np.arange(a, min(a + block, n))[:, None] < np.arange(n)[None, :]
        total += int(np.count_nonzero((rows[:, None] > y_ranks[None, :]) & later))
    return total


def _tie_counts(ranks: np.ndarray) -> tuple[int, int, int]:
    cnt = np.bincount(ranks).astype("int64", copy=False)
    cnt = cnt[cnt > 1]
    return (int((cnt * (cnt - 1) // 2).sum()),
            int((cnt * (cnt - 1.) * (cnt - 2)).sum()),
            int((cnt * (cnt - 1.) * (2 * cnt + 5)).sum()))


def _kendall_p_exact(n: int, c: int) -> float:
    """Two-sided exact p-value of c concordant pairs among n untied points (Kendall 1970)."""
    c = int(min(c, (n * (n - 1)) // 2 - c))
    if n <= 2:
        return 1.0
    if c == 0:
        return 2.0 / math.factorial(n) if n < 171 else 0.0
    if c == 1:
        return 2.0 / math.factorial(n - 1) if n < 172 else 0.0
    if 4 * c == n * (n - 1):
        return 1.0
    new = np.zeros(c + 1)
    new[0:2] = 1.0
    if n < 171:
        for j in range(3, n + 1):
            new = np.cumsum(new)
            if j <= c:
                new[j:] -= new[:c + 1 - j]
        prob = 2.0 * np.sum(new) / math.factorial(n)
    else:
        for j in range(3, n + 1):
            new = np.cumsum(new) / j
            if j <= c:
                new[j:] -= new[:c + 1 - j]
        prob = np.sum(new)
    return float(np.clip(prob, 0, 1))


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal (C library erfc; scipy's ndtr agrees to ~1e-13 relative)."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def kendalltau(x, y) -> tuple[float, float]:
    """scipy.stats.kendalltau(x, y): tau-b and its two-sided p-value ("auto": exact when small, untied)."""
    x = np.asarray(x).ravel()
    y = np.asarray(y).ravel()
    if x.size != y.size:
        raise ValueError("x and y must have the same length")
    if x.size == 0 or np.isnan(x).any() or np.isnan(y).any():
        return float("nan"), float("nan")
    size = x.size
    perm = np.argsort(y)
    x, y = x[perm], y[perm]
    y = np.r_[True, y[1:] != y[:-1]].cumsum(dtype=np.intp)
    perm = np.argsort(x, kind="mergesort")
    x, y = x[perm], y[perm]
    x = np.r_[True, x[1:] != x[:-1]].cumsum(dtype=np.intp)

    dis = _discordant(y)
    obs = np.r_[True, (x[1:] != x[:-1]) | (y[1:] != y[:-1]), True]
    cnt = np.diff(np.nonzero(obs)[0]).astype("int64", copy=False)
    ntie = int((cnt * (cnt - 1) // 2).sum())
    xtie, x0, x1 = _tie_counts(x)
    ytie, y0, y1 = _tie_counts(y)
    tot = (size * (size - 1)) // 2
    if xtie == tot or ytie == tot:
        return float("nan"), float("nan")
    con_minus_dis = tot - xtie - ytie + ntie - 2 * dis
    tau = con_minus_dis / np.sqrt(tot - xtie) / np.sqrt(tot - ytie)
    tau = float(np.minimum(1., max(-1., tau)))
    if xtie == 0 and ytie == 0 and (size <= 33 or min(dis, tot - dis) <= 1):
        return tau, _kendall_p_exact(size, tot - dis)
    m = size * (size - 1.)
    var = ((m * (2 * size + 5) - x1 - y1) / 18 + (2 * xtie * ytie) / m + x0 * y0 / (9 * m * (size - 2)))
    z = con_minus_dis / np.sqrt(var)
    return tau, 2 * normal_sf(abs(float(z)))


def spearman_rho(x, y) -> float:
    """The statistic of scipy.stats.spearmanr(x, y) (NaN for a constant or NaN-holding input)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if len(x) < 2 or (x[0] == x).all() or (y[0] == y).all() or np.isnan(x).any() or np.isnan(y).any():
        return float("nan")
    return float(np.corrcoef(np.vstack([rankdata(x), rankdata(y)]), rowvar=True)[1, 0])


def theil_slopes(y, x) -> tuple[float, float]:
    """(slope, intercept) of scipy.stats.theilslopes(y, x): the median pairwise slope, and
    median(y) − slope · median(x). Built row block by row block instead of as two n×n matrices."""
    y = np.asarray(y, dtype=np.float64).ravel()
    x = np.asarray(x, dtype=np.float64).ravel()
    if len(x) != len(y):
        raise ValueError("x and y must have the same length")
    if len(x) < 2:
        raise ValueError("x and y must have length at least 2")
    parts = []
    block = max(1, 2_000_000 // len(x))
    for a in range(0, len(x), block):
        dx = x[a:a + block, None] - x
        dy = y[a:a + block, None] - y
        pos = dx > 0
        parts.append(dy[pos] / dx[pos])
    slopes = np.concatenate(parts)
    slopes.sort()
    med = float(median(slopes))
    return med, float(median(y) - med * median(x))
