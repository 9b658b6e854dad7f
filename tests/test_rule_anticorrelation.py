"""AC001 overfitting and AC002 train/validation moving against each other."""
import numpy as np
import pytest

from curves import false_positive_rate, findings


def overfit(best_epoch=8, epochs=20, seed=0):
    rng = np.random.default_rng(seed)
    s = np.arange(epochs * 100)
    train = 2.0 * np.exp(-s / 400) + 0.05 + 0.01 * rng.standard_normal(len(s))
    ev = s[99::100]
    e = np.arange(epochs)
    val = 0.6 + 0.8 * np.exp(-e / 2.5) + 0.03 * np.maximum(e - best_epoch, 0) ** 1.3
    return {"train/loss": (s, train), "val/loss": (ev, val), "epoch": (s, s // 100)}, ev


def test_overfitting_names_the_best_evaluation():
    curves, ev = overfit()
    (f,) = findings(curves, "AC001")
    val = curves["val/loss"][1]
    best = int(np.argmin(val))
    assert f.stats["best_step"] == ev[best] and f.step_range == (int(ev[best]), int(ev[-1]))
    assert f.stats["evals_after_best"] == len(ev) - 1 - best
    assert f.stats["gap_at_end"] > f.stats["gap_at_best"]
    assert f.causes[0].cause == "overfitting"


def test_a_single_noisy_bump_is_not_overfitting():
    s = np.arange(2000)
    ev = s[99::100]
    val = 1.5 * np.exp(-np.arange(20) / 4) + 0.5
    val[12] *= 1.08
    curves = {"train/loss": (s, 2.0 * np.exp(-s / 400) + 0.1), "val/loss": (ev, val)}
    assert findings(curves, "AC001") == ()


def test_higher_is_better_validation_metric():
    s = np.arange(2000)
    ev = s[99::100]
    e = np.arange(20)
    acc = 0.9 - 0.4 * np.exp(-e / 2) - 0.01 * np.maximum(e - 8, 0)
    curves = {"train/acc": (s, 1 - 0.5 * np.exp(-s / 300)), "val/acc": (ev, acc)}
    (f,) = findings(curves, "AC001")
    assert f.stats["higher_is_better"] and f.stats["best_step"] == ev[int(np.argmax(acc))]


def test_train_jumps_at_each_eval_while_validation_dips():
    rng = np.random.default_rng(2)
    s = np.arange(4000)
    ev = s[99::100]
    shock = rng.choice([-1.0, 1.0], size=len(ev))
    train = 1.0 + 0.01 * rng.standard_normal(len(s))
    for i, e in enumerate(ev[:-1]):
        train[e + 1: ev[i + 1] + 1] += 0.1 * shock[i + 1]
    val = 1.0 - 0.1 * shock + 0.01 * rng.standard_normal(len(ev))
    (f,) = findings({"train/loss": (s, train), "val/loss": (ev, val)}, "AC002")
    assert f.stats["spearman_rho"] < -0.8 and f.stats["opposite_moves"] >= 0.6 * (len(ev) - 1)
    # the shifts go both ways, so nothing points at the evaluation itself: the cause stays open
    assert f.causes[0].cause == "unknown" and "opposite directions at" in f.causes[0].evidence


def test_false_positive_rate_on_healthy_runs():
    rate, hits = false_positive_rate("AC")
    assert rate == 0, hits[:3]


# --- overfitting or a train/validation mismatch; a trend, not two noisy end points

def _epochs(n=30):
    return np.arange(n)


def test_validation_that_never_improved_with_training_is_a_mismatch_not_overfitting():
    """Validation starts at 18, ten times where training started, and climbs while training falls:
    it never measured what training fits (a shift, a preprocessing difference, an evaluation bug)."""
    e = _epochs()
    train = 1.2 * np.exp(-e / 5) + 0.01
    val = 18 + 40 * (1 - np.exp(-e / 8))
    (f,) = findings({"loss": (e, train), "val_loss": (e, val), "epoch": (e, e)}, "AC001")
    assert f.causes[0].cause == "train_val_mismatch" and f.causes[1].cause == "overfitting"
    assert "14.9× the training loss at the start" in f.causes[0].evidence  # 18 / 1.21


def test_ordinary_overfitting_keeps_its_cause():
    e = _epochs()
    train = 1.2 * np.exp(-e / 5) + 0.01
    val = 0.6 + 0.02 * (e - 8) ** 2 / 8  # follows training down to epoch 8, then rises
    (f,) = findings({"loss": (e, train), "val_loss": (e, val), "epoch": (e, e)}, "AC001")
    assert f.causes[0].cause == "overfitting" and f.stats["best_step"] == 8
    assert f.stats["train_kendall_tau_after_best"] <= -0.9


def test_a_rising_validation_beside_a_flat_noisy_training_loss_is_not_overfitting():
    """Training moves 3% between two noisy end points but has no downward trend: no 'keeps improving'."""
    rng = np.random.default_rng(5)
    e = _epochs()
    train = 0.1 * np.exp(0.3 * rng.standard_normal(30))
    train[-3:] = 0.097
    val = np.where(e < 10, 0.02, 0.02 + 0.002 * (e - 10))
    assert findings({"loss": (e, train), "val_loss": (e, val), "epoch": (e, e)}, "AC001") == ()


def test_training_logged_less_often_than_validation_starting_after_the_best():
    """Lightning's default: a training row every 50 steps, an evaluation every 8. Validation is best at step 15
    and climbs; the training loss's first row (step 49) comes after the best. Its first point after the best
    stands in for the value there (understating the fall), and it is no 'start of the run' to judge a
    train/validation mismatch by."""
    vs = np.arange(7, 240, 8)
    vv = np.concatenate([[1.54, 1.43], 1.43 + 2.3 * (1 - np.exp(-(vs[2:] - 15) / 80))])
    ts = np.array([49, 99, 149, 199])
    tv = np.array([0.438, 0.012, 0.002, 0.001])
    (f,) = findings({"train_loss": (ts, tv), "val_loss": (vs, vv)}, "AC001")
    assert f.stats["best_step"] == 15 and f.stats["evals_after_best"] == 28
    assert f.stats["train_improvement_since_best"] == pytest.approx(1 - 0.001 / 0.438, abs=1e-4)  # last rows vs the first after the best
    assert [c.cause for c in f.causes] == ["overfitting"]


def test_train_at_each_evaluation_is_the_mean_of_its_interval_however_the_intervals_fall():
    """The intervals of one length are averaged as the rows of a matrix: the same values as one mean per
    interval, for regular and irregular evaluations, empty intervals, and evaluations before training starts."""
    from loganalyze.detectors.anticorrelation import _train_at
    from loganalyze.model import Series

    rng = np.random.default_rng(5)
    steps = np.unique(rng.integers(0, 50_000, 20_000))
    train = Series("train/loss", steps, rng.standard_normal(len(steps)) * 1e3 + 7.0, np.zeros(len(steps)))
    for at in [np.arange(100, 50_000, 100), np.unique(rng.integers(-500, 51_000, 700)), np.array([3, 4, 5, 90_000])]:
        got = _train_at(train, at)
        ts, tv = train.step, train.value
        want = np.full(len(at), np.nan)
        for i, s in enumerate(at):
            lo = np.searchsorted(ts, at[i - 1], side="right") if i else 0
            hi = np.searchsorted(ts, s, side="right")
            if hi > lo:
                want[i] = tv[lo:hi].mean()
        empty = np.isnan(want) & (at >= ts[0])
        want[empty] = np.interp(at[empty], ts, tv)
        assert np.array_equal(got, want, equal_nan=True)
