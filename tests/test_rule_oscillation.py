"""OS001: sustained up-and-down swings of the loss, with their size, period and sign-change rate."""
import csv
import json

import numpy as np
import pytest

from curves import HEALTHY_KINDS, HELDOUT_SEEDS, false_positive_rate, findings, healthy
from stats_bounds import describe, max_count_for_rate
from loganalyze.engine import analyze

S = np.arange(2000)
BASE = 1.5 * np.exp(-S / 500) + 0.3


def noise(sigma, seed=0, n=2000):
    return sigma * np.random.default_rng(seed).standard_normal(n)


def write_keras_log(path, val_loss, seed=0):
    """A Keras CSVLogger file: one row per epoch, a smoothly falling training loss."""
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["epoch", "accuracy", "loss", "val_accuracy", "val_loss"])
        for e, v in enumerate(val_loss):
            w.writerow([e, 0.9 - 0.3 * np.exp(-e / 8), (0.3 + 0.6 * np.exp(-e / 8)) * np.exp(0.02 * rng.standard_normal()),
                        0.85, v])


def test_keras_val_loss_bouncing_between_two_levels(tmp_path):
    rng = np.random.default_rng(1)
    e = np.arange(30)
    val = np.where(e % 2 == 0, 0.7, 1.0) * np.exp(0.03 * rng.standard_normal(30))
    write_keras_log(tmp_path / "training.log", val)
    found = [f for f in analyze([tmp_path]).findings if f.rule == "OS001"]
    (f,) = found  # the smooth training loss is not reported
    st = f.stats
    assert f.tags == ("val_loss",) and f.severity == "warning" and f.step_range == (0, 29)
    assert st["points"] == 30 and st["scale"] == "log"
    assert st["median_swing"] == pytest.approx(np.log(1.0 / 0.7), abs=0.05)  # one jump between the levels
    assert st["swing_factor"] == pytest.approx(1.0 / 0.7, rel=0.06)
    assert st["sign_change_rate"] >= 0.95 and st["period_points"] == 2 and st["acf_lag"] % 2 == 1
    assert st["acf_min"] <= -0.8 and 0.8 <= st["late_vs_early_swing"] <= 1.25
    assert st["swing_vs_progress"] > 10
    assert "period ~2 points" in f.summary and f.causes[0].cause == "lr_too_high"


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("period", [2, 3, 4, 6, 10, 20])
def test_per_step_oscillation_reports_its_period(period, seed):
    """The period is one full cycle: the residual's autocorrelation is as deep at every odd multiple of
    the half-period, so the deepest trough alone would pick one of them by chance."""
    y = BASE * np.exp(0.5 * np.sin(2 * np.pi * S / period + 0.5 + seed) + noise(0.05, seed))
    (f,) = findings({"train/loss": (S, y)}, "OS001")
    st = f.stats
    assert st["period_points"] == period
    # the derivative of a sine changes sign twice a period; independent noise adds flips in between
    assert st["sign_change_rate"] >= 2 / period - 0.02
    # a sampled sine's autocorrelation bottoms out at cos(2π·⌊P/2⌋/P): −1 for an even period, −0.5 for P = 3
    assert st["acf_min"] <= 0.8 * np.cos(2 * np.pi * (period // 2) / period) and st["swing_vs_progress"] > 50
    assert st["median_swing"] == pytest.approx(np.median(np.abs(np.diff(np.log(y)))), rel=1e-3)


def test_swings_that_shrink_with_a_step_down_of_the_lr_blame_the_lr():
    lr = np.where(S < 1000, 3e-3, 1e-3)
    amp = np.where(S < 1000, 0.5, 0.3)  # still large after the step-down: sustained
    y = BASE * np.exp(amp * np.sin(2 * np.pi * S / 10) + noise(0.05))
    (f,) = findings({"train/loss": (S, y), "lr": (S, lr)}, "OS001")
    assert f.stats["period_points"] == 10 and 0.5 <= f.stats["late_vs_early_swing"] < 0.8
    assert f.causes[0].cause == "lr_too_high" and f.causes[0].confidence == 0.8
    ratio = float(f.causes[0].evidence.split("swings at the higher LR are ")[1].split("×")[0])
    assert ratio == pytest.approx(0.5 / 0.3, abs=0.2)


def test_swings_that_die_out_are_not_sustained():
    y = BASE * np.exp(0.5 * np.exp(-S / 200) * np.sin(2 * np.pi * S / 10) + noise(0.05))
    assert findings({"train/loss": (S, y)}, "OS001") == ()


def test_a_small_alternation_is_below_the_swing_threshold():
    y = BASE * np.exp(0.03 * (-1.0) ** S + noise(0.01))  # ±3%, perfectly regular
    assert findings({"train/loss": (S, y)}, "OS001") == ()


def test_a_saw_tooth_with_the_epochs_period_is_left_to_pd001():
    y = BASE * np.exp(0.4 * (S % 100) / 100 + noise(0.05))
    found = findings({"train/loss": (S, y), "epoch": (S, S // 100)}, None)
    assert [f for f in found if f.rule == "OS001"] == []
    (pd,) = [f for f in found if f.rule == "PD001"]
    assert pd.stats["period_steps"] == 100


def test_swings_at_the_same_phase_of_every_epoch_are_left_to_pd001_whatever_their_period():
    # class-sorted data: five 20-step class blocks per 100-step epoch, each starting high (the model still
    # predicts the previous class): 20-point swings, far shorter than the epoch, locked to its phase
    y = BASE * np.exp(0.5 * np.exp(-(S % 20) / 5) + noise(0.05))
    found = findings({"train/loss": (S, y), "epoch": (S, S // 100)}, None)
    assert [f for f in found if f.rule == "OS001"] == []
    (pd,) = [f for f in found if f.rule == "PD001"]
    assert pd.stats["period_steps"] == 100 and pd.stats["variance_explained"] > 0.45


@pytest.mark.parametrize("period", [9.3, 12.7])
def test_a_ringing_with_no_fixed_phase_in_the_epoch_stays_os001s(period):
    # momentum ringing: its period is no divisor of the epoch, so the epoch's phase profile cannot explain it
    y = BASE * np.exp(0.5 * np.sin(2 * np.pi * S / period) + noise(0.05))
    (f,) = findings({"train/loss": (S, y), "epoch": (S, S // 100)}, "OS001")
    assert abs(f.stats["period_points"] - period) <= 1


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("sigma", [0.15, 0.25])
def test_swings_that_follow_a_cyclic_lr_are_left_to_pd002(sigma, seed):
    # cosine restarts every 150 steps under SGD, noisy batch losses (a real run's shape): the ACF sees a
    # 115-130-point cycle, which is the schedule's, not an LR too high
    s = np.arange(800)
    lr = 0.3 * (0.5 + 0.5 * np.cos(np.pi * (s % 150) / 150))
    y = (1.2 * np.exp(-s / 300) + 0.5) * np.exp(0.6 * lr / 0.3 + noise(sigma, seed, 800))
    found = findings({"train/loss": (s, y), "lr": (s, lr)}, None)
    assert [f for f in found if f.rule == "OS001"] == []
    (pd,) = [f for f in found if f.rule == "PD002"]
    assert pd.stats["period_steps"] == 150


def test_a_fast_ringing_under_a_cyclic_lr_is_still_oscillation():
    lr = 0.3 * (0.5 + 0.5 * np.cos(np.pi * (S % 150) / 150))
    y = BASE * np.exp(0.5 * np.sin(2 * np.pi * S / 8) + noise(0.05))
    (f,) = findings({"train/loss": (S, y), "lr": (S, lr)}, "OS001")
    assert f.stats["period_points"] == 8


# --- healthy runs

def test_false_positive_rate_on_healthy_runs():
    rate, hits = false_positive_rate("OS001")
    assert rate == 0, hits[:3]


# The card's rate, 1 of 1,800 healthy runs, measured on the tuning seeds 0–199 of each cell; here it is
# checked on held-out seeds: a cell fails when 200 runs at that rate would reach its count < 5% of the time.
OS001_CARD_RATE = 1 / 1800
OS001_ALLOWED = max_count_for_rate(len(HELDOUT_SEEDS), OS001_CARD_RATE)  # 1 of 200


@pytest.mark.parametrize("sigma", [0.05, 0.1, 0.2])
@pytest.mark.parametrize("n", [30, 100, 2000])
def test_noisy_healthy_runs_do_not_oscillate(sigma, n):
    """Independent noise swings as much as an oscillation but has no negative autocorrelation lobe.

    n = 30 and 100 are one-row-per-epoch logs: the validation loss is logged at every point.
    Seeds: HELDOUT_SEEDS (30,000–30,199) of curves.healthy, 200 per cell, none of them the tuning
    seeds 0–199 (on which 1 of 1,800 runs, n = 100, 20% noise, seed 190, crosses the bound).
    Measured on the held-out seeds: 1 of 1,800 (0.06%; one-sided 95% upper bound 0.26%) — seed
    30091 at n = 100, 20% noise ("a typical move of ±20% per point with period ~4 points"), 0 of 200
    in every other cell (upper bound 1.49% each). Bound per cell: ≤ 1 of 200, the most a rate of
    1/1,800 reaches at least 5% of the time (2 of 200 would happen with probability 0.6%).
    """
    hits = [(seed, f.tags, f.summary) for seed in HELDOUT_SEEDS
            for f in findings(healthy(HEALTHY_KINDS[seed % 5], seed, n=n, epochs=n if n < 2000 else 10,
                                      noise=sigma), "OS001")]
    seeds = sorted({seed for seed, _, _ in hits})
    assert len(seeds) <= OS001_ALLOWED, (describe(len(seeds), len(HELDOUT_SEEDS)), hits)


def test_noisy_validation_that_still_falls_is_rarely_called_oscillation():
    """A small validation set: ±20% independent noise per epoch around a curve that falls 3× over the run.

    A zig-zag without a period counts only once the curve has stopped falling; here it keeps falling,
    so only seeds whose noise happens to hide the late trend are reported. Measured on held-out seeds
    30,000–30,199: 8 of 200 (4.0%); the bound is 200 × the one-sided 95% Clopper–Pearson upper limit
    of that rate (7.2%). When it is reported, the smooth training loss names the measurement, not the
    LR, as the likely cause."""
    hits = []
    for seed in range(30_000, 30_200):
        e = np.arange(40)
        rng = np.random.default_rng(seed)
        val = (0.4 + 0.8 * np.exp(-e / 10)) * np.exp(0.2 * rng.standard_normal(40))
        train = (0.3 + 0.8 * np.exp(-e / 10)) * np.exp(0.02 * rng.standard_normal(40))
        hits += list(findings({"loss": (e, train), "val_loss": (e, val), "epoch": (e, e)}, "OS001"))
    assert len(hits) <= 14, [f.summary for f in hits]
    # an irregular zig-zag beside a smooth training loss is the measurement; a regular alternation
    # (one seed reaches the periodic test) keeps the LR as its first suspect
    assert all(f.causes[0].cause == "noisy_validation" for f in hits if f.stats["mode"] == "erratic")


def test_validation_that_zig_zags_without_progress_is_oscillation():
    """Validation stops improving after a few epochs and then jumps ±25% from one epoch to the next, while
    training falls smoothly: what a person calls an oscillating validation loss. With 40 evaluations
    independent jumps are not always told from a slow trend: measured on seeds 30,000–30,199, 93 of 200
    (46.5%) are found; the bound is the one-sided 95% Clopper–Pearson lower limit (40.6%) × 200."""
    e = np.arange(40)
    found = []
    for seed in range(30_000, 30_200):
        rng = np.random.default_rng(seed)
        val = (0.55 + 0.6 * np.exp(-e / 2)) * np.exp(0.25 * rng.standard_normal(40))
        train = (0.1 + 0.8 * np.exp(-e / 10)) * np.exp(0.02 * rng.standard_normal(40))
        found += list(findings({"loss": (e, train), "val_loss": (e, val), "epoch": (e, e)}, "OS001"))
    assert len(found) >= 81
    erratic = [f for f in found if f.stats["mode"] == "erratic"]
    assert len(erratic) >= len(found) - 2  # a seed's noise may also pass the periodic test
    for f in erratic:
        st = f.stats
        assert f.tags == ("val_loss",)
        assert st["moves_lag1_correlation"] <= -st["thresholds"]["min_zigzag"]
        assert st["median_swing"] >= st["thresholds"]["min_swing_erratic"]
        assert f.causes[0].cause == "noisy_validation" and "validation measurement" in f.causes[0].evidence


# --- real logs

def test_a_loss_at_the_logs_rounding_floor_does_not_oscillate_real_log(realworld):
    """Log 30: the logged loss is printed with 4 decimals and ends at 0.0001/0.0002. In log space those
    values swing ×2 from one logging step to the next — rounding, not training. Below ten rounding steps the log
    is floored, so what is left is the early alternation that fades: not sustained, no OS001. The
    run's epoch staircase (the label) is PD001's, as memorization: lowest just after each boundary."""
    path = realworld / "30_hf_trainer_state_whisper_hi_overfit/trainer_state.json"
    loss = np.array([e["loss"] for e in json.loads(path.read_text())["log_history"] if "loss" in e])
    assert np.all(loss[-50:] <= 0.0011)  # within ten rounding steps of 0: one or two digits left
    report = analyze([realworld / "30_hf_trainer_state_whisper_hi_overfit"])
    assert [f.summary for f in report.findings if f.rule == "OS001"] == []
    (pd,) = [f for f in report.findings if f.rule == "PD001"]
    assert pd.causes[0].cause == "memorization" and pd.stats["phase_of_min"] < 0.3


@pytest.mark.parametrize("name", ["04_keras_csvlogger_ecg", "26_keras_csvlogger_brats",
                                  "27_keras_csvlogger_val_spike", "28_keras_csvlogger_brain_tumor"])
def test_per_epoch_keras_logs_without_a_regular_swing_real_log(realworld, name):
    """A single validation spike (27), a noisy converged loss (28) and smooth curves are not oscillation."""
    assert [f.summary for f in analyze([realworld / name]).findings if f.rule == "OS001"] == []


def test_a_noisy_ringing_is_found_by_its_trough_and_its_return():
    """Momentum ringing blurred by noise: the autocorrelation dips only to about -0.25 at half the period,
    but comes round to a positive peak a period later — over 1,200 points, far outside sampling noise."""
    s = np.arange(1200)
    found = []
    for seed in range(5):
        y = 3 * np.exp(0.3 * np.sin(2 * np.pi * s / 14) + 0.35 * np.random.default_rng(seed).standard_normal(1200))
        found += list(findings({"train/loss": (s, y)}, "OS001"))
    assert len(found) == 5
    for f in found:
        st = f.stats
        # the trough read sits at an odd multiple of the half-period (7 points)
        assert st["mode"] == "periodic" and 12 <= st["period_points"] <= 16 and min((st["acf_lag"] - 7) % 14, (7 - st["acf_lag"]) % 14) <= 1
        assert st["acf_min"] <= -0.2


def test_swings_that_do_not_change_with_the_lr_do_not_claim_they_do():
    # the same ringing before and after an LR step-down: the LR is no more to blame after it than before
    lr = np.where(S < 1000, 3e-3, 1e-3)
    y = BASE * np.exp(0.5 * np.sin(2 * np.pi * S / 10) + noise(0.05))
    (f,) = findings({"train/loss": (S, y), "lr": (S, lr)}, "OS001")
    assert f.causes[0].cause == "lr_too_high" and f.causes[0].confidence == 0.6
    assert "swings at the higher LR" not in f.causes[0].evidence


def test_a_ringing_on_top_of_a_slow_swell_is_read_in_the_moves():
    """Momentum ringing with a period of 6 steps, riding a slow swell of the level (240 steps: the badly scaled
    direction drifts while it rings). The swell survives the wide moving average and puts the residual's
    deepest autocorrelation trough at half its own period (lag ~120), which would name a period of dozens of
    points; the point-to-point moves drop the swell, dip at half the ringing's period and come back at a full
    one. Without the ringing the same swell and noise are not an oscillation."""
    rng = np.random.default_rng(5)
    n = 1200
    s = np.arange(n)
    base = 0.4 + 0.3 * np.sin(2 * np.pi * s / 240) + 0.1 * rng.standard_normal(n)
    ring = 0.3 * np.sin(2 * np.pi * s / 6 + rng.uniform(0, 2 * np.pi))
    (f,) = findings({"loss": (s, np.exp(base + ring))}, "OS001")
    assert f.stats["mode"] == "periodic" and f.stats["period_points"] == 6
    assert f.stats["acf_lag"] == 3 and f.stats["acf_min"] < -0.5
    assert findings({"loss": (s, np.exp(base))}, "OS001") == ()


def _wander(seed: int, n: int = 1200) -> np.ndarray:
    """A healthy loss that wanders: red noise (AR(1), φ = 0.97: ±50% swells some 30 steps long) around a decay,
    plus ±20% batch noise. No cycle at all."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    s = np.arange(n)
    red = lfilter([1.0], [1.0, -0.97], 0.1 * rng.standard_normal(n))
    return np.exp(1 + np.exp(-s / 300) + red + 0.2 * rng.standard_normal(n))


WANDER_SEEDS = range(41_000, 41_200)  # never used while developing (seeds 1,000-1,099 and 40,000-40,199 were)


def test_a_wander_is_no_cycle_on_the_moving_averages_scale():
    """Detrending red noise with a moving average of width w fakes a cycle about w/2 long: on the seeds used
    while developing, 25 of 100 wandering curves were reported as oscillating with periods of 146-258 points
    under the 300-point average (and 3 of 200 more through the blurred-trough read, periods 127-141). A cycle
    counts only well inside the window (max_period_in_window), whichever read of the wide residual found it.
    Measured on WANDER_SEEDS once, after the change: 0 of 200 (one-sided 95% upper bound 1.49%). Bound: the most a 1% rate reaches at least
    5% of the time in 200 curves."""
    s = np.arange(1200)
    hits = [(seed, f.stats["period_points"]) for seed in WANDER_SEEDS
            for f in findings({"loss": (s, _wander(seed))}, "OS001")]
    assert len(hits) <= max_count_for_rate(len(WANDER_SEEDS), 0.01), (describe(len(hits), len(WANDER_SEEDS)), hits)


def test_momentum_ringing_under_small_batch_noise_real_training(tmp_path):
    """Real training: SGD with momentum 0.99 at an LR too high for the badly scaled feature of a linear
    regression, batch 16 (the corpus's tuning data set and seed 1). The loss rings with a period of ~8 steps,
    but batch noise dominates the point-to-point moves (their autocorrelation never reaches −0.2 at a lag ≥ 2)
    and a wander lifts the wide detrend's autocorrelation above zero at every short lag; the residual from a
    31-point running median keeps the ringing (ringing_window). Its trough sits at half the period."""
    from loganalyze.trainer.conventions import Convention, write
    from loganalyze.trainer.variants import Spec, train
    from loganalyze.detectors.oscillation import autocorrelation

    spec = Spec("oscillation", "linear", 1, optimizer="sgd", lr=0.004, batch=16, epochs=3,
                knobs=(("momentum", 0.99), ("task", "regression")))
    written = write(train(spec), Convention("csv", names="plain", epoch=False), tmp_path / "log")
    y = np.log(np.array([float(r["loss"]) for r in csv.DictReader(open(written.path))]))
    moves_acf = autocorrelation(np.diff(y), 20)
    assert moves_acf[1:].min() > -0.2  # what the moves alone would miss
    report = analyze([written.path])
    (f,) = [f for rr in report.runs for f in rr.findings if f.rule == "OS001"]
    period = f.stats["period_points"]
    assert 7 <= period <= 10 and abs(f.stats["acf_lag"] - period / 2) <= 1 and f.stats["acf_min"] <= -0.2
    assert f.causes[0].cause == "lr_too_high"
    # the same run without momentum does not ring
    calm = Spec("oscillation", "linear", 1, optimizer="sgd", lr=0.004, batch=16, epochs=3,
                knobs=(("momentum", 0.0), ("task", "regression")))
    written = write(train(calm), Convention("csv", names="plain", epoch=False), tmp_path / "calm")
    assert not [f for rr in analyze([written.path]).runs for f in rr.findings if f.rule == "OS001"]


def test_a_short_validation_curve_keeps_its_short_cycles():
    """40 evaluations ringing with a period of 4: the wide moving average is 11 points there, and the cap on
    cycles on its own scale (max_period_in_window) applies only to windows of ringing_window points or more — a
    reviewer's probe found the first version dropped 29 of 38 such curves. With the cap squeezed to nothing the
    findings are the same; 7 of these 10 seeds are found, as before the cap existed."""
    found = []
    for seed in range(10):
        rng = np.random.default_rng(seed)
        s = np.arange(40)
        y = (0.5 + np.exp(-s / 4)) * np.exp(0.2 * np.sin(2 * np.pi * s / 4 + 1) + 0.03 * rng.standard_normal(40))
        f = findings({"val/loss": (s, y)}, "OS001")
        assert f == findings({"val/loss": (s, y)}, "OS001", rule_params={"OS001": {"max_period_in_window": 0.01}})
        found += [g.stats["period_points"] for g in f]
    assert found == [4] * 7
