"""Synthetic training curves for the rules' statistics: healthy shapes and planted phenomena."""
import numpy as np

from loganalyze.align import from_arrays
from loganalyze.config import Config
from loganalyze.engine import run_rules

# The detectors were developed and tuned on these seeds of `healthy` (and the cards' "0 of 200"
# come from them); a rate a test states as a bound is measured on HELDOUT_SEEDS instead. The
# second, independent family of healthy shapes is tests/curves_heldout.py.
TUNING_SEEDS = range(0, 200)
HELDOUT_SEEDS = range(30_000, 30_200)


def healthy(kind: str, seed: int, n: int = 2000, epochs: int = 10, noise: float = 0.05):
    """A healthy run: {tag: (steps, values)} with train loss, LR, epoch, and a validation loss."""
    rng = np.random.default_rng(seed)
    s = np.arange(n)
    lr = np.full(n, 1e-3)
    if kind == "decay":
        base = 2.0 * np.exp(-s / (n / 5)) + 0.2
    elif kind == "warmup_cosine":
        warm = n // 10
        lr = np.where(s < warm, 1e-3 * (s + 1) / warm, 1e-3 * 0.5 * (1 + np.cos(np.pi * (s - warm) / (n - warm))))
        base = 2.0 * np.exp(-np.cumsum(lr) / (n * 2e-4)) + 0.2
    elif kind == "step_decay":
        k = n // epochs
        lr = 1e-2 * 0.1 ** (s // (n // 2) // 1)
        base = 1.5 * np.exp(-s / (n / 6)) + 0.4 - 0.25 * (s >= (n // 2) // k * k)
    elif kind == "plateau":  # converged early, flat to the end
        base = 2.0 * np.exp(-s / (n / 20)) + 0.3
    elif kind == "reduce_on_plateau":
        lr = np.where(s < n // 2, 1e-3, 1e-4)
        base = 1.5 * np.exp(-s / (n / 6)) + 0.5 - 0.15 * (s >= n // 2) * (1 - np.exp(-(s - n // 2) / 50.0))
    else:
        raise ValueError(kind)
    y = base * np.exp(noise * rng.standard_normal(n))
    per = n // epochs
    val_steps = s[per - 1::per]
    val = base[val_steps] * 1.1 * np.exp(0.02 * rng.standard_normal(len(val_steps)))
    return {"train/loss": (s, y), "val/loss": (val_steps, val), "lr": (s, lr), "epoch": (s, s // per)}


HEALTHY_KINDS = ("decay", "warmup_cosine", "step_decay", "plateau", "reduce_on_plateau")


def findings(curves, select=None, **config):
    run = from_arrays("run", curves, Config(select=(select,) if select else ("ALL",), **config))
    return run_rules(run, Config(select=(select,) if select else ("ALL",), **config)).findings


def false_positive_rate(select: str, seeds: int = 200, **kw) -> tuple[float, list]:
    """Share of healthy runs on which the selected rules report a warning or an error (on TUNING_SEEDS)."""
    hits = []
    for seed in range(seeds):
        kind = HEALTHY_KINDS[seed % len(HEALTHY_KINDS)]
        bad = [f for f in findings(healthy(kind, seed, **kw), select) if f.severity in ("warning", "error")]
        if bad:
            hits.append((kind, seed, bad[0].rule, bad[0].summary))
    return len(hits) / seeds, hits
