"""A second, independent family of healthy training curves, for false-positive rates the rules were not tuned on.

`tests/curves.py` makes the curves the detectors were developed against (its seeds 0–199, five
shapes, one noise model). This module shares none of its code or parameters: other shapes, other
logging cadences, other noise models, every parameter drawn per seed, and seeds from a range no
development work used. Nothing here is anomalous: a reader looking at any of these charts would
call the run healthy, so every warning a rule raises on them is a false alarm.

    TUNING_SEEDS   range(0, 200)         curves.py's seeds; never used by this module
    HELDOUT_SEEDS  range(50_000, 50_200) this module's seeds (10_000–10_199 were used while tuning SP001)

`heldout(shape, seed)` gives {tag: (steps, values)}; `HELDOUT_CASES` pairs every held-out seed
with a shape, round-robin, so the 200 curves are mixed over the shapes.
"""
from __future__ import annotations

import numpy as np

TUNING_SEEDS = range(0, 200)
HELDOUT_SEEDS = range(50_000, 50_200)
_SALT = 0x4E1D  # a different stream from np.random.default_rng(seed) even for the same number


def _rng(seed: int) -> np.random.Generator:
    if seed in TUNING_SEEDS:
        raise ValueError(f"seed {seed} is one of the tuning seeds {TUNING_SEEDS}; use HELDOUT_SEEDS")
    return np.random.default_rng([seed, _SALT])


def _lognoise(rng, n, sigma):
    return np.exp(sigma * rng.standard_normal(n))


def _decay(s, n, rng, start=(1.5, 4.0), floor=(0.05, 0.5), tau=(0.05, 0.3)):
    """A smooth exponential fall from a start level to a floor (a share of the start: at least a 2× fall),
    with a time constant given as a share of the run."""
    l0 = rng.uniform(*start)
    lf, t = l0 * rng.uniform(*floor), rng.uniform(*tau) * n
    return lf + (l0 - lf) * np.exp(-s / t)


def _val_every(rng, steps, base, every, gap, sigma):
    """A validation loss at the end of every `every` steps, `gap` above the training curve."""
    at = steps[every - 1::every]
    idx = np.searchsorted(steps, at)
    return at, base[idx] * (1 + gap) * _lognoise(rng, len(at), sigma)


def warmup_cosine(seed):
    """Linear warm-up of the LR then cosine decay to ~0; the loss follows the cumulative LR."""
    rng = _rng(seed)
    n = int(rng.integers(800, 3000))
    s = np.arange(n)
    warm = max(2, int(rng.uniform(0.03, 0.15) * n))
    peak = 10 ** rng.uniform(-4, -2.5)
    lr = np.where(s < warm, peak * (s + 1) / warm,
                  peak * (0.02 + 0.98 * 0.5 * (1 + np.cos(np.pi * (s - warm) / (n - warm)))))
    progress = np.cumsum(lr) / np.sum(lr)
    l0, lf = rng.uniform(2, 6), rng.uniform(0.1, 1.0)
    base = lf + (l0 - lf) * np.exp(-progress / rng.uniform(0.08, 0.3))
    y = base * _lognoise(rng, n, rng.uniform(0.02, 0.1))
    vs, vv = _val_every(rng, s, base, int(rng.integers(100, 300)), rng.uniform(0.02, 0.12), 0.01)
    return {"train/loss": (s, y), "lr": (s, lr), "val/loss": (vs, vv)}


def step_decay(seed):
    """LR ×0.1 at two or three milestones; the loss drops to a lower level after each one and flattens."""
    rng = _rng(seed)
    epochs = int(rng.integers(12, 40))
    spe = int(rng.integers(40, 120))
    n = epochs * spe
    s = np.arange(n)
    k = int(rng.integers(2, 4))
    fracs = np.sort(rng.uniform(0.3, 0.9, k))
    miles = np.unique((fracs * epochs).astype(int) * spe)
    lr = 10 ** rng.uniform(-2, -0.7) * 0.1 ** np.searchsorted(miles, s, side="right")
    base = _decay(s, n, rng, floor=(0.2, 0.5), tau=(0.04, 0.12))
    drop = np.ones(n)
    for m in miles:  # each LR step lowers the floor by 20–50%, reached within a few dozen steps
        f = rng.uniform(0.5, 0.8)
        drop *= np.where(s < m, 1.0, f + (1 - f) * np.exp(-(s - m) / rng.uniform(5, 40)))
    base = base * drop
    sigma = rng.uniform(0.03, 0.08)
    quieter = np.where(s < miles[0], 1.0, 0.7)  # smaller steps, smaller step-to-step noise
    y = base * np.exp(sigma * quieter * rng.standard_normal(n))
    vs, vv = _val_every(rng, s, base, spe, rng.uniform(0.03, 0.15), 0.015)
    return {"train/loss": (s, y), "lr": (s, lr), "val/loss": (vs, vv), "epoch": (s, s // spe)}


def converged_plateau(seed):
    """A fast fall in the first few percent of the run, then a long flat noisy tail: converged, not stalled."""
    rng = _rng(seed)
    n = int(rng.integers(1000, 4000))
    s = np.arange(n)
    base = _decay(s, n, rng, start=(1.0, 5.0), floor=(0.02, 0.5), tau=(0.01, 0.05))
    y = base * _lognoise(rng, n, rng.uniform(0.02, 0.12))
    return {"train/loss": (s, y), "lr": (s, np.full(n, 10 ** rng.uniform(-4, -2)))}


def rl_returns(seed):
    """Episode returns (higher is better) rising slowly with heavy-tailed noise, logged per episode."""
    rng = _rng(seed)
    n = int(rng.integers(300, 2000))
    ep_len = rng.integers(100, 1000, n)
    steps = np.cumsum(ep_len)  # environment steps, irregular
    lo, hi = rng.uniform(-300, 0), rng.uniform(50, 500)
    mean = lo + (hi - lo) * (1 - np.exp(-np.arange(n) / (rng.uniform(0.2, 0.8) * n)))
    scale = rng.uniform(0.05, 0.15) * (hi - lo)
    y = mean + scale * rng.standard_t(3, n) / np.sqrt(3)
    return {"rollout/episode_return": (steps, y)}


def very_short(seed):
    """8–40 points, e.g. an evaluation-cadence log of a short fine-tune, with a validation curve."""
    rng = _rng(seed)
    n = int(rng.integers(8, 41))
    every = int(rng.choice([10, 50, 100]))
    s = (np.arange(n) + 1) * every
    base = _decay(np.arange(n), n, rng, tau=(0.15, 0.6))
    y = base * _lognoise(rng, n, rng.uniform(0.01, 0.06))
    val = base * (1 + rng.uniform(0.02, 0.1)) * _lognoise(rng, n, 0.02)
    return {"train/loss": (s, y), "val/loss": (s, val)}


def per_epoch(seed):
    """One row per epoch (Keras-style), 5–60 epochs; validation tracks training a little above it."""
    rng = _rng(seed)
    n = int(rng.integers(5, 61))
    e = np.arange(n)
    base = _decay(e, n, rng, tau=(0.1, 0.5))
    y = base * _lognoise(rng, n, rng.uniform(0.005, 0.03))
    gap = rng.uniform(0.03, 0.15)
    val = base * (1 + gap) * _lognoise(rng, n, rng.uniform(0.01, 0.04))
    return {"loss": (e, y), "val_loss": (e, val), "epoch": (e, e)}


def per_step_epoch_tag(seed):
    """Per-step loss with an epoch tag; mini-batch noise, mildly autocorrelated, nothing locked to the epoch."""
    rng = _rng(seed)
    epochs, spe = int(rng.integers(5, 30)), int(rng.integers(50, 300))
    n = epochs * spe
    s = np.arange(n)
    base = _decay(s, n, rng)
    rho, sigma = rng.uniform(0.0, 0.3), rng.uniform(0.03, 0.15)
    eps = rng.standard_normal(n)
    ar = np.empty(n)
    ar[0] = eps[0]
    for i in range(1, n):
        ar[i] = rho * ar[i - 1] + np.sqrt(1 - rho ** 2) * eps[i]
    y = base * np.exp(sigma * ar)
    return {"train/loss": (s, y), "epoch": (s, s // spe)}


def with_lr_and_grad_norm(seed):
    """Train and validation loss, a constant-then-linear-decay LR, and a noisy grad norm without bursts."""
    rng = _rng(seed)
    n = int(rng.integers(1000, 3000))
    s = np.arange(n)
    peak = 10 ** rng.uniform(-4, -3)
    hold = int(rng.uniform(0.2, 0.6) * n)
    lr = np.where(s < hold, peak, peak * (1 - 0.9 * (s - hold) / (n - hold)))
    base = _decay(s, n, rng)
    y = base * _lognoise(rng, n, rng.uniform(0.03, 0.1))
    g0 = 10 ** rng.uniform(-0.5, 1)
    gn = g0 * (0.5 + 0.5 * base / base[0]) * _lognoise(rng, n, rng.uniform(0.1, 0.25))
    vs, vv = _val_every(rng, s, base, int(rng.integers(100, 250)), rng.uniform(0.02, 0.12), 0.015)
    return {"train/loss": (s, y), "val/loss": (vs, vv), "lr": (s, lr), "train/grad_norm": (s, gn)}


def heteroscedastic(seed):
    """Additive Gaussian noise with a standard deviation proportional to the level (not log-normal)."""
    rng = _rng(seed)
    n = int(rng.integers(800, 3000))
    s = np.arange(n)
    base = _decay(s, n, rng)
    y = np.maximum(base * (1 + rng.uniform(0.03, 0.15) * rng.standard_normal(n)), 1e-3)
    return {"train/loss": (s, y)}


def t_noise(seed):
    """Mini-batch noise with occasional mild outliers: Student-t (ν = 5) in log space, std 2–6%."""
    rng = _rng(seed)
    n = int(rng.integers(800, 3000))
    s = np.arange(n)
    base = _decay(s, n, rng)
    t = rng.standard_t(5, n) / np.sqrt(5 / 3)
    y = base * np.exp(rng.uniform(0.02, 0.06) * t)
    return {"train/loss": (s, y), "lr": (s, np.full(n, 3e-4))}


SHAPES = {f.__name__: f for f in (warmup_cosine, step_decay, converged_plateau, rl_returns, very_short,
                                  per_epoch, per_step_epoch_tag, with_lr_and_grad_norm, heteroscedastic, t_noise)}
HELDOUT_CASES = tuple((list(SHAPES)[i % len(SHAPES)], seed) for i, seed in enumerate(HELDOUT_SEEDS))


def heldout(shape: str, seed: int) -> dict:
    """The healthy curves of one shape for one held-out seed: {tag: (steps, values)}."""
    return SHAPES[shape](seed)
