"""Exact binomial (Clopper–Pearson) bounds for rates measured on a fixed number of synthetic runs.

A false-alarm count k out of n runs is a sample, not the rate. The tests that measure one state
two numbers:

* the claim they hold the rule to — a target rate T (the design's 1%, or the rate a card
  documents) — and the largest count that does not refute it, `max_count_for_rate(n, T)`: the
  largest k whose one-sided 95% lower bound is still ≤ T, i.e. a count that a rule whose rate
  were exactly T reaches at least 5% of the time;
* what the sample itself shows: k of n and `clopper_pearson_upper(k, n)`, the one-sided 95%
  upper bound of the rate (the rate is below it with 95% confidence).

One-sided throughout: the question is always "is the rate too high?". The upper end of the
two-sided 95% interval is `clopper_pearson_upper(k, n, 0.975)`.
"""
from __future__ import annotations

from scipy.stats import beta, binom


def clopper_pearson_upper(k: int, n: int, conf: float = 0.95) -> float:
    """One-sided upper confidence bound of a binomial rate after k successes in n trials."""
    if not 0 <= k <= n or n <= 0:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    return 1.0 if k == n else float(beta.ppf(conf, k + 1, n - k))


def clopper_pearson_lower(k: int, n: int, conf: float = 0.95) -> float:
    """One-sided lower confidence bound of a binomial rate after k successes in n trials."""
    if not 0 <= k <= n or n <= 0:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    return 0.0 if k == 0 else float(beta.ppf(1 - conf, k, n - k + 1))


def max_count_for_rate(n: int, rate: float, conf: float = 0.95) -> int:
    """The largest count out of n that is consistent (at `conf`) with a true rate of at most `rate`."""
    k = 0
    while k < n and clopper_pearson_lower(k + 1, n, conf) <= rate:
        k += 1
    return k


def describe(k: int, n: int, conf: float = 0.95) -> str:
    """'k of n (p%; one-sided 95% upper bound u%)' for assertion messages and reports."""
    upper = clopper_pearson_upper(k, n, conf)
    return f"{k} of {n} ({100 * k / n:.1f}%; one-sided {100 * conf:.0f}% upper bound {100 * upper:.2f}%)"


def chance_of_at_least(k: int, n: int, rate: float) -> float:
    """P(count ≥ k) for n runs at a true rate `rate` — how surprising a count is under the claim."""
    return float(binom.sf(k - 1, n, rate))
