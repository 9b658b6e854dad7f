"""SP001: isolated jumps of the training loss that recover, with the evidence to check each one."""
import csv

import numpy as np
import pytest

from curves import HEALTHY_KINDS, HELDOUT_SEEDS, false_positive_rate, findings, healthy
from stats_bounds import describe, max_count_for_rate
from loganalyze.ingest import load

AT = [300, 900, 1500]
FACTORS = [3.0, 2.5, 4.0]


def with_loss(curves, y):
    return {**curves, "train/loss": (curves["train/loss"][0], y)}


def heavy_tailed(kind, seed, nu=5, scale=0.05, n=2000):
    """A healthy run whose noise is Student-t in log space (heavy tails, symmetric), std `scale`."""
    c = healthy(kind, seed, n=n, noise=0.0)
    base = c["train/loss"][1]
    t = np.random.default_rng(10_000 + seed).standard_t(nu, n) / np.sqrt(nu / (nu - 2))
    return with_loss(c, base * np.exp(scale * t))


@pytest.mark.parametrize("kind", HEALTHY_KINDS)
def test_spikes_injected_into_each_healthy_shape_are_found_with_their_evidence(kind):
    c = healthy(kind, seed=1)
    y = c["train/loss"][1].copy()
    y[AT] *= FACTORS
    (f,) = findings(with_loss(c, y), "SP001")
    st = f.stats
    assert f.severity == "warning" and f.tags == ("train/loss",)
    assert st["count"] == 3 and st["steps"] == AT
    assert f.ranges == tuple((a, a) for a in AT) and f.step_range == (AT[0], AT[-1])
    # the ratio to the local median is the injected factor times one draw of the 5% noise
    np.testing.assert_allclose(st["ratios_to_local_median"], FACTORS, rtol=0.2)
    assert all(h >= st["thresholds"]["min_z"] for h in st["heights"])
    assert st["heights"][2] > st["heights"][1]  # 4× stands higher than 2.5×
    assert st["recovery_points"] == [1, 1, 1] and st["epoch_locked_dropped"] == 0
    assert f.causes[-1].cause == "unknown"  # no LR or gradient evidence: outlier batches


def test_a_spike_that_decays_back_over_two_points():
    c = healthy("decay", seed=2)
    y = c["train/loss"][1].copy()
    y[1000:1003] *= [5.0, 2.5, 1.35]  # a 2-point spike, one point 6 spreads above, then back to normal
    (f,) = findings(with_loss(c, y), "SP001")
    assert f.stats["steps"] == [1000] and f.stats["recovery_points"] == [2]
    assert 4.0 < f.stats["ratios_to_local_median"][0] < 6.0


def test_detection_power_grows_with_the_height_of_the_spike():
    """Share of seeds on which one spike of a given height (5% noise) is found at its step."""
    rates = {}
    for factor in (1.2, 2.0, 2.5, 3.0):
        hits = 0
        for seed in range(40):
            c = healthy(HEALTHY_KINDS[seed % 5], seed)
            y = c["train/loss"][1].copy()
            y[1200] *= factor
            hits += any(f.stats["steps"] == [1200] for f in findings(with_loss(c, y), "SP001"))
        rates[factor] = hits / 40
    assert rates[1.2] == 0  # below min_ratio = 1.5
    assert rates[1.2] <= rates[2.0] <= rates[2.5] <= rates[3.0] and rates[3.0] >= 0.95, rates


@pytest.mark.parametrize("shape", ["hump_of_8_points", "level_shift_up"])
def test_wide_humps_and_level_shifts_are_not_spikes(shape):
    c = healthy("plateau", seed=3)
    y = c["train/loss"][1].copy()
    if shape == "hump_of_8_points":
        y[1000:1008] *= 2.0
    else:
        y[1000:] *= 2.0
    assert findings(with_loss(c, y), "SP001") == ()


def test_negative_losses_are_judged_on_the_linear_scale():
    rng = np.random.default_rng(4)
    s = np.arange(3000)
    y = -2.0 + 0.5 * np.exp(-s / 500) + 0.02 * rng.standard_normal(3000)  # e.g. a WGAN critic
    y[[800, 1700]] += [0.6, 0.9]  # 30 and 45 noise sigmas
    (f,) = findings({"train/loss": (s, y)}, "SP001")
    assert f.stats["steps"] == [800, 1700] and f.stats["ratios_to_local_median"] is None
    assert min(f.stats["heights"]) >= 8 and f.stats["heights"][1] > f.stats["heights"][0]
    assert "×" not in f.summary  # no ratio to a median that may be negative


def test_spikes_at_the_lr_peaks_blame_the_learning_rate():
    rng = np.random.default_rng(0)
    s = np.arange(3000)
    lr = 1e-3 * (1.5 + np.cos(2 * np.pi * s / 500))  # cyclic LR, peaks every 500 steps
    y = (2.0 * np.exp(-s / 600) + 0.3) * np.exp(0.05 * rng.standard_normal(3000))
    peaks = [503, 1003, 1503, 2003, 2503]
    y[peaks] *= 2.5
    (f,) = findings({"train/loss": (s, y), "lr": (s, lr)}, "SP001")
    assert f.stats["steps"] == peaks
    assert f.causes[0].cause == "lr_too_high" and "100% of the spikes" in f.causes[0].evidence


def test_spikes_with_gradient_norm_spikes_blame_unstable_updates():
    rng = np.random.default_rng(5)
    s = np.arange(3000)
    y = (2.0 * np.exp(-s / 600) + 0.3) * np.exp(0.05 * rng.standard_normal(3000))
    gn = np.exp(0.1 * rng.standard_normal(3000))
    at = [700, 1300, 2100]
    y[at] *= 3.0
    gn[[a - 1 for a in at]] *= 8.0  # the gradient blows up one step before the loss
    (f,) = findings({"train/loss": (s, y), "grad_norm": (s, gn), "lr": (s, np.full(3000, 1e-3))}, "SP001")
    assert f.stats["steps"] == at
    assert f.causes[0].cause == "lr_too_high" and "3 of 3 spikes coincide" in f.causes[0].evidence


# --- the boundary with PD001: an outlier at the end of every epoch is a small last batch, not spikes

@pytest.mark.parametrize("factor", [1.6, 2.5])
@pytest.mark.parametrize("seed", range(4))
def test_an_outlier_at_every_epoch_end_is_left_to_pd001(factor, seed):
    c = healthy(HEALTHY_KINDS[seed % len(HEALTHY_KINDS)], seed, epochs=10)
    y = c["train/loss"][1].copy()
    y[199::200] *= factor  # the last step of each of the 10 epochs
    found = findings(with_loss(c, y), None)
    assert [f for f in found if f.rule == "SP001"] == []
    (pd,) = [f for f in found if f.rule == "PD001"]
    assert pd.causes[0].cause == "small_last_batch" and pd.stats["period_steps"] == 200


def test_near_threshold_last_batch_outliers_are_deferred_even_when_only_some_cross_it():
    """At 1.5× with 5% noise about half the epochs' outliers clear min_ratio; the rest still lock them."""
    reported = 0
    for seed in range(20):
        c = healthy(HEALTHY_KINDS[seed % len(HEALTHY_KINDS)], seed, epochs=10)
        y = c["train/loss"][1].copy()
        y[199::200] *= 1.5
        reported += bool(findings(with_loss(c, y), "SP001"))
    assert reported == 0


def test_a_real_spike_is_still_reported_beside_the_last_batch_outliers():
    c = healthy("decay", seed=6, epochs=10)
    y = c["train/loss"][1].copy()
    y[199::200] *= 2.0
    y[1050] *= 3.0  # mid-epoch
    (f,) = findings(with_loss(c, y), "SP001")
    assert f.stats["steps"] == [1050] and f.stats["count"] == 1
    assert f.stats["epoch_locked_dropped"] >= 5  # the epoch-end outliers it saw and left to PD001


def test_last_batch_outliers_a_step_or_two_off_the_epoch_end_are_still_left_to_pd001():
    """The same run with 4× outliers at the end of each epoch, logged one or two steps before it in some
    epochs (199, 398, 597, 799, …: the offset from the epoch's end cycles 1, 2, 3), and the 3× spike at
    step 1,050. Offsets within a step of each other recur in every epoch: they are the epoch's, not spikes.
    SP001 reports the one mid-epoch spike and counts the 9 outliers it left to PD001 (the 10th is the run's
    final point, with nothing after it to come back to)."""
    c = healthy("decay", seed=6, epochs=10)
    y = c["train/loss"][1].copy()
    y[np.arange(199, 2000, 200) - np.arange(10) % 3] *= 4.0
    y[1050] *= 3.0
    (f,) = findings(with_loss(c, y), "SP001")
    assert f.stats["steps"] == [1050] and f.stats["epoch_locked_dropped"] == 9


# --- healthy runs

def test_false_positive_rate_on_healthy_runs():
    rate, hits = false_positive_rate("SP001")
    assert rate == 0, hits[:3]


def test_a_steady_noisy_loss_is_not_spiky():
    """20% log-normal noise on every healthy shape: wide, but nothing stands out of it."""
    hits = [(seed, f.summary) for seed in range(200)
            for f in findings(healthy(HEALTHY_KINDS[seed % 5], seed, noise=0.2), "SP001")]
    assert hits == []


# The card's rate for Student-t noise, 8 of 200 (4%), was measured on the tuning seeds 0–199; it is
# checked here on held-out seeds: the test fails when 200 runs at 4% would reach the count < 5% of the time.
SP001_HEAVY_TAILED_CARD_RATE = 0.04
SP001_HEAVY_TAILED_ALLOWED = max_count_for_rate(len(HELDOUT_SEEDS), SP001_HEAVY_TAILED_CARD_RATE)  # 13 of 200


def test_heavy_tailed_noise_rarely_makes_a_spike():
    """Student-t (ν = 5) noise: a rare draw is a genuine single-point outlier of 1.5–2× the median.

    Seeds: HELDOUT_SEEDS (30,000–30,199), not the tuning seeds 0–199 (8 of 200 there, 4%).
    Measured on the held-out seeds: 9 of 200 (4.5%; one-sided 95% upper bound 7.7%) — seeds 30018
    (two points), 30020, 30023, 30054, 30062, 30065, 30093, 30114, 30187 — each 13–27 local
    spreads high. Bound: ≤ 13 of 200, the most a 4% rate reaches at least 5% of the time.
    """
    hits = []
    for seed in HELDOUT_SEEDS:
        for f in findings(heavy_tailed(HEALTHY_KINDS[seed % 5], seed), "SP001"):
            hits.append((seed, f))
    seeds = sorted({seed for seed, _ in hits})
    assert len(seeds) <= SP001_HEAVY_TAILED_ALLOWED, (describe(len(seeds), len(HELDOUT_SEEDS)),
                                                      [(s, h.summary) for s, h in hits])
    assert all(h.stats["count"] <= 2 and min(h.stats["heights"]) >= 12 for _, h in hits)


# --- real logs

def csv_series(path, column):
    rows = [r for r in csv.DictReader(open(path)) if r.get(column)]
    return np.array([int(r["step"]) for r in rows]), np.array([float(r[column]) for r in rows])


def test_pinn_epoch_loss_spike_real_log(realworld):
    """A PINN's per-epoch loss jumps from ~0.25 to 6.5 at epoch 232 (step 7,455) and is back in 3 epochs."""
    s, y = csv_series(realworld / "23_lightning_csv_pinn_extreme_range/lightning_logs/version_28/metrics.csv",
                      "train_loss_epoch")
    (f,) = findings({"train/loss": (s, y)}, "SP001")
    i = int(np.nonzero(s == 7455)[0][0])
    neighbours = np.median(np.r_[y[i - 15:i], y[i + 1:i + 16]])
    k = f.stats["steps"].index(7455)
    assert f.stats["ratios_to_local_median"][k] == max(f.stats["ratios_to_local_median"])
    np.testing.assert_allclose(f.stats["ratios_to_local_median"][k], y[i] / neighbours, rtol=0.15)
    assert f.stats["recovery_points"][k] <= 3


def test_wgan_critic_hump_is_not_a_spike_real_log(realworld):
    """The critic loss drifts up over ~12 points (steps 163–174) on a smooth curve: a hump, not spikes."""
    s, y = csv_series(realworld / "22_lightning_csv_wgan_negative_losses/lightning_logs/version_6/metrics.csv",
                      "train_disc_loss")
    assert y.min() < 0  # judged on the linear scale
    assert findings({"train/loss": (s, y)}, "SP001") == ()


def test_stuck_and_spike_free_real_logs_stay_silent(realworld):
    for name in ("24_lightning_csv_lstm_stuck", "36_lightning_tb_dlgn_last_batch_dips", "21_lightning_csv_slm"):
        for run in load([realworld / name]).runs:
            curves = {t: (ser.step, ser.value) for t, ser in run.series.items()}
            assert [f.summary for f in findings(curves, "SP001")] == [], name


# --- epoch-level curves, other series, and what a spike is not

def test_an_epoch_level_validation_spike_is_found_point_by_point():
    """12 evaluations: too few for a rolling window. Epoch 5 jumps to 4× its neighbours and recovers."""
    e = np.arange(12)
    val = (0.8 + 0.6 * np.exp(-e / 3)) * np.exp(0.03 * np.random.default_rng(1).standard_normal(12))
    val[5] *= 4
    (f,) = findings({"loss": (e, 0.9 * val / val), "val_loss": (e, val), "epoch": (e, e)}, "SP001")
    st = f.stats
    assert f.tags == ("val_loss",) and st["mode"] == "coarse" and st["steps"] == [5]
    assert st["ratios_to_local_median"][0] == pytest.approx(4, rel=0.15) and st["recovery_points"] == [1]


def test_a_jumpy_epoch_level_curve_has_no_coarse_spikes():
    """Every point moves ±40%: a 2× point is one of its ordinary moves, not a spike."""
    e = np.arange(30)
    val = np.exp(0.4 * np.random.default_rng(2).standard_normal(30))
    assert findings({"val_loss": (e, val), "epoch": (e, e)}, "SP001") == ()


def test_a_jump_that_ends_in_nan_is_not_a_spike():
    s = np.arange(300)
    y = np.exp(-s / 100) + 0.3
    y[200] = 50.0
    y[201:] = np.nan
    assert findings({"train/loss": (s, y)}, "SP001") == ()


def test_gradient_norm_bursts_need_an_order_of_magnitude():
    s = np.arange(600)
    rng = np.random.default_rng(3)
    g = 2 * np.exp(0.2 * rng.standard_normal(600))
    g[300], g[450] = 5 * 2, 40 * 2  # 5× is ordinary for a gradient norm, 40× is a burst
    loss = (np.exp(-s / 200) + 0.3) * np.exp(0.02 * rng.standard_normal(600))
    (f,) = findings({"train/loss": (s, loss), "grad_norm": (s, g)}, "SP001")
    assert f.tags == ("grad_norm",) and f.stats["steps"] == [450]


def _tracking_val(jumps, usual=1.05, seed=9):
    """300 epochs; validation tracks training at `usual`× it, except in the stretches `jumps` (start, length,
    factor), where it is thrown up and comes back."""
    rng = np.random.default_rng(seed)
    e = np.arange(300)
    train = (0.06 + 2 * np.exp(-e / 20)) * np.exp(0.02 * rng.standard_normal(300))
    val = usual * train * np.exp(0.05 * rng.standard_normal(300))
    for start, length, factor in jumps:
        val[start:start + length] *= factor * np.exp(0.3 * rng.standard_normal(length))
    return {"train/loss": (e, train), "val/loss": (e, val)}


def test_validation_that_jumps_far_above_training_again_and_again():
    run = _tracking_val([(10, 6, 8.0), (40, 3, 5.0), (70, 10, 12.0), (120, 2, 6.0)])
    (f,) = [f for f in findings(run, "SP001") if f.stats.get("mode") == "validation_ratio"]
    assert f.tags == ("val/loss", "train/loss") and f.stats["count"] >= 4 and f.stats["steps"][0] == 10
    assert 1.0 < f.stats["usual_ratio"] < 1.15 and f.stats["max_ratio_to_usual"] > 8
    assert f.causes[0].cause == "noisy_validation"


def test_validation_jumps_replace_the_validation_spikes_not_the_training_ones():
    run = _tracking_val([(10, 6, 8.0), (40, 3, 5.0), (70, 10, 12.0), (120, 2, 6.0)])
    e, train = run["train/loss"]
    train = train.copy()
    train[200] *= 6  # one batch gone wrong in training, far from the validation jumps
    run["train/loss"] = (e, train)
    found = findings(run, "SP001")
    assert sorted(f.stats.get("mode") for f in found) == ["rolling", "validation_ratio"]
    (spike,) = [f for f in found if f.stats["mode"] == "rolling"]
    assert spike.tags == ("train/loss",) and spike.stats["steps"] == [200]


def test_two_jumps_are_not_a_pattern_and_overfitting_is_not_jumps():
    assert not [f for f in findings(_tracking_val([(10, 6, 8.0), (70, 10, 12.0)]), "SP001")
                if f.stats.get("mode") == "validation_ratio"]
    # validation far above training all along (its usual ratio is 6): the ratio says nothing
    run = _tracking_val([(10, 6, 8.0), (40, 3, 5.0), (70, 10, 12.0), (120, 2, 6.0)], usual=6.0)
    assert not [f for f in findings(run, "SP001") if f.stats.get("mode") == "validation_ratio"]


@pytest.mark.parametrize("name", ["01_keras_tf2_rms10_spiky_val", "02_keras_tf2_rms1_simple_value_in_v2"])
def test_real_keras_validation_thrown_far_above_training(realworld, name):
    from loganalyze.engine import analyze

    (f,) = [f for f in analyze([realworld / name]).findings if f.rule == "SP001"]
    assert f.stats["mode"] == "validation_ratio" and f.stats["count"] >= 3 and f.stats["evaluations_off"] >= 80
    assert f.step_range[0] <= 10 and f.stats["usual_ratio"] < 1.2


@pytest.mark.parametrize("tail,named", [(0, True), (6, False)])
def test_corrupt_samples_only_for_single_points_back_at_once(tail, named):
    """A batch of bad samples kicks one point and the next is normal again (back within bad_batch_recovery = 2
    points); a spike whose aftermath takes six points to fade moved the model, not just the batch."""
    rng = np.random.default_rng(14)
    s = np.arange(2000)
    y = (0.4 + np.exp(-s / 400)) * np.exp(0.02 * rng.standard_normal(2000))
    for a in (600, 1100, 1500):
        y[a] *= 6.0
        y[a + 1: a + 1 + tail] *= np.linspace(1.3, 1.1, tail) if tail else 1.0  # elevated, under the spike bar
    (f,) = findings({"train/loss": (s, y)}, "SP001")
    assert f.stats["steps"] == [600, 1100, 1500]
    assert (f.causes[0].cause == "corrupt_samples") == named, (f.stats["recovery_points"], f.causes[0].cause)


def test_a_point_on_the_way_down_a_steep_descent_is_no_coarse_spike():
    # six evaluations of a ringing model: 2.83 sits above the three points after it, but below the two before
    steps = np.arange(199, 1200, 200)
    val = np.array([5.703, 2.086, 2.829, 0.612, 0.540, 0.496])
    assert findings({"eval/loss": (steps, val)}, "SP001") == ()


def test_an_evaluation_that_jumps_above_both_sides_is_a_coarse_spike():
    steps = np.arange(199, 2200, 200)
    val = 2.0 * np.exp(-np.arange(11) / 4)
    val[5] *= 4  # one evaluation four times its neighbours
    (f,) = findings({"eval/loss": (steps, val)}, "SP001")
    assert f.stats["mode"] == "coarse" and f.stats["steps"] == [1199] and f.step_range == (1199, 1199)


def test_a_gradient_burst_after_the_lr_was_raised_names_the_raise():
    rng = np.random.default_rng(7)
    s = np.arange(200)
    lr = np.where(s < 96, 1e-3, 2e-2)  # multiplied by 20 at step 96
    loss = 1.2 * np.exp(-s / 80) * np.exp(0.03 * rng.standard_normal(200))
    gn = np.exp(0.1 * rng.standard_normal(200))
    gn[147] = 390.0
    (f,) = [f for f in findings({"train/loss": (s, loss), "lr": (s, lr), "grad_norm": (s, gn)}, "SP001")
            if f.tags == ("grad_norm",)]
    assert f.causes[0].cause == "lr_too_high" and "20× the 0.001 it mostly was before" in f.causes[0].evidence
    assert "raised from step 96" in f.causes[0].evidence


def test_a_gradient_burst_after_a_warm_up_is_not_blamed_on_a_raise():
    rng = np.random.default_rng(7)
    s = np.arange(1000)
    lr = np.where(s < 100, 2e-3 * s / 100, 2e-3 * 0.5 * (1 + np.cos(np.pi * (s - 100) / 900)))  # warm-up, cosine
    loss = 1.2 * np.exp(-s / 300) * np.exp(0.03 * rng.standard_normal(1000))
    gn = np.exp(0.1 * rng.standard_normal(1000))
    gn[500] = 390.0
    (f,) = [f for f in findings({"train/loss": (s, loss), "lr": (s, lr), "grad_norm": (s, gn)}, "SP001")
            if f.tags == ("grad_norm",)]
    assert "mostly was before" not in " ".join(c.evidence for c in f.causes)


def _find_spikes_point_by_point(y, window, min_z, min_jump, max_width, recovery, dip_ratio, floor_fraction):
    """find_spikes as it stepped through every point (before it jumped from one hot point to the next)."""
    from loganalyze.detectors.spikes import robust_z

    n = len(y)
    if n < window:
        return []
    z, med, spread = robust_z(y, window, floor_fraction)
    hot = (z >= max(min_z, dip_ratio * float(np.max(-z)))) & ((y - med) >= min_jump)
    out, i = [], 0
    while i < n:
        if not hot[i]:
            i += 1
            continue
        j = i
        while True:
            while j + 1 < n and hot[j + 1]:
                j += 1
            k = j + 1
            while k < n and not hot[k] and y[k] > med[j] + 3 * spread[j]:
                k += 1
            if k > j + 1 and k < n and hot[k]:
                j = k
                continue
            break
        back = np.nonzero(y[j + 1: j + 1 + recovery] <= med[j] + 3 * spread[j])[0]
        if j - i + 1 <= max_width and len(back) and i >= window // 2:
            peak = i + int(np.argmax(z[i: j + 1]))
            out.append((i, j - i + 1, float(z[peak]), float(y[peak] - med[peak]), int(back[0]) + 1))
        i = j + 1
    return out


@pytest.mark.parametrize("seed", range(6))
def test_find_spikes_visits_hot_points_only_and_finds_what_the_point_by_point_loop_found(seed):
    from loganalyze.detectors.spikes import find_spikes

    rng = np.random.default_rng(seed)
    n = 3000
    y = np.log(1 + np.exp(-np.arange(n) / 800)) + 0.02 * rng.standard_normal(n)
    for at in rng.integers(20, n - 20, 25):  # single spikes, short bursts, humps, one at the very end
        y[at: at + int(rng.integers(1, 6))] += float(rng.uniform(0.05, 0.6))
    y[-1] += 0.5
    y[100:160] += 0.3
    for args in [(31, 6.0, 0.05, 4, 20, 0.5, 0.1), (31, 3.0, 0.0, 10, 5, 0.0, 0.2), (61, 2.0, 0.01, 2, 50, 1.0, 0.1)]:
        got = find_spikes(y, *args)
        assert got == _find_spikes_point_by_point(y, *args)
        assert got or args[1] > 5  # the loose settings find some


@pytest.mark.parametrize("seed", range(4))
def test_the_rolling_spread_is_skipped_only_where_no_spike_can_be_found(seed):
    """SP001 decides there is no spike from the points min_jump above their local median and their local spreads
    (no full rolling MAD) only where find_spikes, with every spread, finds none; and it does decide so on
    ordinary noise, where spikes are plainly absent."""
    from loganalyze.detectors.spikes import _no_spike_possible, find_spikes, robust_z
    from loganalyze.stats import rolling_mad, rolling_mad_at, rolling_median

    rng = np.random.default_rng(100 + seed)
    decided = 0
    for trial in range(40):
        n = int(rng.integers(200, 4000))
        y = np.log(1 + np.exp(-np.arange(n) / (n / 4))) + float(rng.uniform(0.01, 0.2)) * rng.standard_normal(n)
        if trial % 3:  # spikes of every height around the thresholds, some at the edges
            for at in rng.integers(0, n, int(rng.integers(1, 8))):
                y[at: at + int(rng.integers(1, 4))] += float(rng.uniform(0.1, 1.5))
        if trial % 5 == 0:
            y = np.round(y, 2)  # ties: local spreads of 0
        window, min_z, min_jump = int(rng.choice([5, 31, 61])), float(rng.choice([3.0, 8.0])), float(np.log(1.5))
        med = rolling_median(y, window)
        at = np.flatnonzero(y - med >= min_jump)
        assert np.array_equal(rolling_mad_at(y, window, med, at), rolling_mad(y, window, med)[at])
        if _no_spike_possible(y, med, window, min_jump, min_z):
            decided += 1
            rz = robust_z(y, window, 0.25)
            assert find_spikes(y, window, min_z, min_jump, 3, 20, 2.0, 0.25, rz) == []
    assert decided >= 5
