"""The numpy statistics give scipy's answers, bit for bit, on random inputs with and without ties."""
from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
from scipy import ndimage, stats

from loganalyze import numstats


def _inputs(seed: int, count: int = 300):
    """Random series of every shape the rules meet: short and long, rounded (many ties), constant runs."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        n = int(rng.integers(1, 120))
        x = rng.standard_normal(n) * 10.0 ** float(rng.integers(-3, 5))
        kind = rng.integers(0, 4)
        if kind == 1:
            x = np.round(x)  # ties
        elif kind == 2:
            x = np.round(rng.standard_normal(n))  # many ties
        elif kind == 3:
            x = np.cumsum(rng.standard_normal(n))  # a trend
        yield rng, x


@pytest.mark.parametrize("mode", ["nearest", "reflect"])
def test_uniform_filter_is_scipys(mode):
    for rng, x in _inputs(1):
        size = int(rng.integers(1, 2 * len(x) + 3))
        assert np.array_equal(numstats.uniform_filter1d(x, size, mode=mode),
                              ndimage.uniform_filter1d(x, size, mode=mode)), (len(x), size)


@pytest.mark.parametrize("mode", ["nearest", "reflect"])
def test_median_filter_is_scipys(mode):
    for rng, x in _inputs(2):
        size = int(rng.integers(1, 2 * len(x) + 3))
        assert np.array_equal(numstats.median_filter(x, size, mode=mode),
                              ndimage.median_filter(x, size=size, mode=mode)), (len(x), size)


def test_median_filter_falls_back_to_scipy_for_big_windows_and_nan():
    x = np.random.default_rng(3).standard_normal(20_000)
    assert np.array_equal(numstats.median_filter(x, 301, "nearest"), ndimage.median_filter(x, size=301, mode="nearest"))
    x[5] = np.nan
    assert np.array_equal(numstats.median_filter(x, 5, "nearest"), ndimage.median_filter(x, size=5, mode="nearest"),
                          equal_nan=True)


@pytest.mark.parametrize("mode", ["nearest", "reflect"])
def test_median_filter_at_some_positions_is_the_full_filter_there(mode):
    for rng, x in _inputs(12):
        size = int(rng.integers(1, len(x) + 1))
        at = np.flatnonzero(rng.random(len(x)) < 0.3)
        assert np.array_equal(numstats.median_filter_at(x, size, mode, at), numstats.median_filter(x, size, mode)[at])
    x = np.random.default_rng(4).standard_normal(300_000)  # a long series: the full filter runs the rank filter
    at = np.array([0, 1, 7, 150_000, 299_990, 299_999])
    assert np.array_equal(numstats.median_filter_at(x, 31, mode, at), numstats.median_filter(x, 31, mode)[at])


def test_median_of_a_few_constant_stretches_is_scipys():
    """A step schedule's LR: the rolling median read from its stretches, with ties between stretches, windows
    of every width up to the series (odd and even) and both edge modes, is ndimage's element for element."""
    rng = np.random.default_rng(11)
    used = 0
    for _ in range(600):
        n = int(rng.integers(1, 600))
        cuts = np.sort(rng.integers(0, n, int(rng.integers(0, 30))))
        levels = rng.integers(0, 6, len(cuts) + 1) * 10.0 ** float(rng.integers(-6, 2))  # equal levels recur
        x = np.repeat(levels, np.diff(np.concatenate([[0], cuts, [n]])))
        size = int(rng.integers(1, n + 1))
        for mode in ("nearest", "reflect"):
            got = numstats._median_of_runs(x, size, mode)
            if got is not None:
                used += 1
                assert np.array_equal(got, ndimage.median_filter(x, size=size, mode=mode)), (n, size, mode)
    assert used > 1000
    # too many stretches, or a non-finite value: left to the rank filter
    assert numstats._median_of_runs(np.arange(200.0), 51, "nearest") is None
    assert numstats._median_of_runs(np.array([1.0, np.nan, 1.0, 2.0]), 3, "nearest") is None
    # the public filter takes this path for a wide window over a long step series, with the same answer
    x = np.repeat([1e-3, 5e-4, 1e-3, 2.5e-4], [30_000, 20_000, 25_000, 25_000])
    assert np.array_equal(numstats.median_filter(x, 12_501, "nearest"), ndimage.median_filter(x, size=12_501, mode="nearest"))


def test_wide_median_filter_runs_ndimages_own_filter_without_importing_ndimage():
    # the compiled 1-D rank filter is loaded alone (importing scipy.ndimage costs ~0.25 s); what it gives is
    # what ndimage.median_filter gives, imported afterwards, for ties, NaN, inf, both modes, windows wider than the series
    code = """
import sys
import numpy as np
from loganalyze import numstats
rng = np.random.default_rng(7)
cases = []
for n, size, mode in [(50_000, 1001, "nearest"), (50_000, 31, "reflect"), (9_000, 8_999, "nearest"),
                      (9_000, 17_001, "reflect"), (3, 5, "nearest")]:
    x = np.round(rng.standard_normal(n), 1)
    x[::97] = np.nan
    x[::101] = np.inf
    cases.append((x, size, mode, numstats.median_filter(x, size, mode)))
print("ndimage" if "scipy.ndimage" in sys.modules else "alone")
from scipy import ndimage
print(all(np.array_equal(got, ndimage.median_filter(x, size=size, mode=mode), equal_nan=True)
          for x, size, mode, got in cases))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[1] == "True"
    if numstats._rank_filter_1d() is not None:  # scipy's layout as this code knows it: loaded alone
        assert out[0] == "alone"


def test_rankdata_is_scipys():
    for _, x in _inputs(4):
        assert np.array_equal(numstats.rankdata(x), stats.rankdata(x))


def test_kendalltau_is_scipys():
    exact = asymptotic = 0
    for rng, y in _inputs(5, 400):
        x = np.arange(len(y)) if rng.random() < 0.7 else np.round(rng.standard_normal(len(y)) * 3)
        tau, p = numstats.kendalltau(x, y)
        ref = stats.kendalltau(x, y)
        if np.isnan(ref.statistic):
            assert np.isnan(tau) and np.isnan(p)
            continue
        assert tau == ref.statistic
        untied = len(np.unique(x)) == len(x) and len(np.unique(y)) == len(y)
        if untied and len(y) <= 33:
            exact += 1
            assert p == ref.pvalue
        else:
            asymptotic += 1
            # normal tail: the C library's erfc against scipy's own
            assert p == pytest.approx(ref.pvalue, rel=1e-12, abs=1e-300)
    assert exact > 20 and asymptotic > 20


def test_kendalltau_long_series():
    y = np.cumsum(np.random.default_rng(6).standard_normal(2000))
    tau, p = numstats.kendalltau(np.arange(2000), y)
    ref = stats.kendalltau(np.arange(2000), y)
    assert tau == ref.statistic and p == pytest.approx(ref.pvalue, rel=1e-12, abs=1e-300)


def test_spearman_rho_is_scipys():
    for rng, x in _inputs(7):
        y = x * rng.choice([-1.0, 1.0]) + np.round(rng.standard_normal(len(x)))
        ref = stats.spearmanr(x, y).statistic if len(x) > 1 else np.nan
        rho = numstats.spearman_rho(x, y)
        assert (np.isnan(rho) and np.isnan(ref)) or rho == ref


def test_theil_slopes_is_scipys():
    for rng, y in _inputs(8):
        if len(y) < 2:
            continue
        x = np.arange(len(y), dtype=float) if rng.random() < 0.5 else np.round(rng.standard_normal(len(y)) * 4)
        if len(np.unique(x)) < 2:
            continue
        ref = stats.theilslopes(y, x)
        slope, intercept = numstats.theil_slopes(y, x)
        assert slope == ref.slope and intercept == ref.intercept


def test_unique_is_numpys():
    rng = np.random.default_rng(9)
    for a in [rng.integers(-5, 50, 1000), np.arange(300)[::-1] * 7, np.repeat(np.arange(-3, 40), 5),  # in order already
              np.repeat(np.arange(6), 4).reshape(4, 6), rng.integers(0, 2, 10).astype(bool),
              np.array([], dtype=np.int64), np.array([3]), rng.standard_normal(50).round(1), np.array([1.0, np.nan, np.nan])]:
        want, got = np.unique(a), numstats.unique(a)
        assert got.dtype == want.dtype and np.array_equal(got, want, equal_nan=a.dtype.kind == "f")


def test_importing_the_rules_does_not_import_scipy():
    code = ("import sys, loganalyze.engine, loganalyze.detectors as d; d.all_detectors(); "
            "print(sorted(m for m in sys.modules if m.startswith('scipy')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_cli_and_the_cards_do_not_import_numpy():
    """`loganalyze --help`, `rules` and `explain` answer without loading numpy (or scipy, or jinja2)."""
    code = ("import sys, loganalyze.cli; from loganalyze.cards import find_card, load_cards; load_cards(); "
            "find_card('PD001').text(); print(sorted(m for m in ('numpy', 'scipy', 'jinja2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_median_is_numpys_bit_for_bit():
    """np.median without its numpy.ma import: the same value and type on every kind of input the rules give it."""
    rng = np.random.default_rng(13)
    cases = [[3.0, 1.0, 2.0], [1, 2, 3, 4], np.array([True, False, True]), np.arange(10).reshape(2, 5) * 1.5,
             np.array([1.0, np.nan, 3.0]), np.array([np.inf, -np.inf, 1.0, 2.0]), np.array([np.nan] * 4),
             np.array([], dtype=float), np.float64(2.5), np.array([1.5, 2.5], dtype=np.float32), [7]]
    for rng_, x in _inputs(14):
        cases += [x, x.astype(np.float32), np.round(x).astype(np.int64), x[: len(x) // 2]]
    cases += [rng.standard_normal(100_001), rng.standard_normal(100_000) * 1e-300, rng.integers(0, 3, 5000)]
    for x in cases:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want, got = np.median(x), numstats.median(x)
        assert type(got) is type(want) and np.array_equal(got, want, equal_nan=True), x
    # its first call imports no numpy.ma (np.median's does)
    code = "import sys, numpy as np; from loganalyze import numstats; numstats.median(np.array([1.0, 3.0, np.nan, 2.0])); print('numpy.ma' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
