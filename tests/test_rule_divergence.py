"""DV001: a loss that climbs after its best, decided at epoch scale."""
import pytest
import numpy as np
from scipy import stats

from curves import false_positive_rate, findings


def test_warmup_to_a_too_high_lr_then_the_loss_climbs():
    rng = np.random.default_rng(0)
    s = np.arange(3000)
    lr = np.minimum(1e-4 * (1 + s / 50), 0.05)
    best = 1200
    y = np.where(s < best, 2.0 * np.exp(-s / 400), 2.0 * np.exp(-best / 400) * np.exp((s - best) / 900))
    y = y * np.exp(0.05 * rng.standard_normal(3000))
    (f,) = findings({"train/loss": (s, y), "lr": (s, lr)}, "DV001")
    assert abs(f.stats["best_step"] - best) <= 3000 / 60 * 2  # bucketed: within two buckets
    assert f.stats["rise_factor"] > 3 and f.stats["kendall_tau"] > 0.8 and f.stats["p_value"] < 1e-3
    assert f.causes[0].cause == "lr_too_high"


def test_explosion_is_an_error():
    s = np.arange(600)
    y = np.where(s < 300, 1.0, np.exp((s - 300) / 20.0))
    y[-5:] = np.inf
    (f,) = findings({"train/loss": (s, y)}, "DV001")
    assert f.severity == "error" and f.step_range[1] == 599


def test_sawtooth_with_a_flat_epoch_trend_is_not_divergence():
    rng = np.random.default_rng(3)
    s = np.arange(2000)
    phase = (s % 200) / 200
    y = (0.8 + 0.4 * phase) * np.exp(0.02 * rng.standard_normal(2000))  # rises inside every epoch
    assert findings({"train/loss": (s, y), "epoch": (s, s // 200)}, "DV001") == ()


def test_false_positive_rate_on_healthy_runs():
    rate, hits = false_positive_rate("DV")
    assert rate == 0, hits[:3]


def test_a_jump_to_a_worse_level_that_stays_is_divergence_with_the_gradient_burst_as_evidence():
    """The LSTM-without-clipping story: learning, one burst of huge gradients, a worse level for good."""
    rng = np.random.default_rng(1)
    s = np.arange(800)
    ep = s // 80
    y = np.where(s < 420, 12 * np.exp(-s / 150) + 10, 19.0) * np.exp(0.15 * rng.standard_normal(800))
    g = 6 * np.exp(0.3 * rng.standard_normal(800))
    g[434] = 875.0
    (f,) = findings({"train/loss": (s, y), "epoch": (s, ep), "grad_norm": (s, g)}, "DV001")
    assert f.stats["shape"] == "level_shift" and f.stats["aggregated_by"] == "epoch"
    assert 240 <= f.stats["best_step"] <= 400  # the best epoch, before the burst
    assert 1.4 < f.stats["rise_factor"] < 1.9
    # no LR is logged, so nothing says the LR was too high: the burst itself is the evidence
    assert f.causes[0].cause == "exploding_gradients" and "875" in f.causes[0].evidence
    assert "step 434" in f.causes[0].evidence and "clip" in f.causes[0].evidence


def test_a_noisy_converged_plateau_does_not_stay_above_its_best():
    rng = np.random.default_rng(2)
    s = np.arange(1000)
    y = (0.3 + 2 * np.exp(-s / 100)) * np.exp(0.15 * rng.standard_normal(1000))
    assert findings({"train/loss": (s, y), "epoch": (s, s // 100)}, "DV001") == ()


def test_a_linear_scale_loss_never_counts_as_a_level_shift(realworld):
    """A WGAN generator loss (log 22) moves between negative levels: no 'N× worse' to speak of."""
    from loganalyze.config import Config
    from loganalyze.engine import analyze
    rep = analyze([str(realworld / "22_lightning_csv_wgan_negative_losses")], Config(select=("DV001",)))
    assert [f for r in rep.runs for f in r.findings] == []


def test_a_constant_lr_is_not_evidence_of_a_too_high_lr():
    rng = np.random.default_rng(0)
    s = np.arange(3000)
    y = np.where(s < 1200, 2.0 * np.exp(-s / 400), 2.0 * np.exp(-3) * np.exp((s - 1200) / 900))
    y = y * np.exp(0.05 * rng.standard_normal(3000))
    (f,) = findings({"train/loss": (s, y), "lr": (s, np.full(3000, 1e-6))}, "DV001")
    assert f.causes[0].cause == "unknown"


# --- explosions and unbounded objectives

def test_a_loss_term_that_explodes_as_the_total_turns_nan_is_named_with_the_lr_evidence():
    """MMDetection-style: the total turns NaN for good at step 600, in the same log interval a term
    jumps 50,000× while the warm-up has just raised the LR tenfold."""
    s = np.arange(50, 3001, 50)
    lr = np.minimum(1e-3 * (1 + 9 * s / 500), 1e-2)
    cls = 1.3 * np.exp(0.05 * np.random.default_rng(0).standard_normal(len(s)))
    cls[s == 600] = 7e4
    cls[s > 600] = 21.83414  # frozen after the explosion
    total = np.where(s < 600, 2.0, np.nan)
    found = findings({"loss": (s, total), "loss_cls": (s, cls), "lr": (s, lr)}, "DV001")
    (f,) = found
    assert f.severity == "error" and f.tags == ("loss_cls",) and f.step_range == (600, 3000)
    assert f.stats["shape"] == "explodes_into_nonfinite" and f.stats["nonfinite_from"] == 600
    assert f.stats["rise_factor"] > 1e4 and "'loss' turns NaN/Inf" in f.summary
    assert f.causes[0].cause == "lr_too_high" and "0.01" in f.causes[0].evidence


def test_a_negative_loss_running_off_to_minus_infinity_is_divergence():
    """A Keras regression whose loss is unbounded below: -3e4 at epoch 0, -6e7 at epoch 69."""
    e = np.arange(70)
    loss = -3.4e4 * (1 + e) ** 1.8 * np.exp(0.01 * np.random.default_rng(3).standard_normal(70))
    (f,) = findings({"loss": (e, loss), "epoch": (e, e)}, "DV001")
    assert f.stats["shape"] == "unbounded_descent" and f.severity == "error"
    assert f.stats["magnitude_growth"] >= 10 and f.stats["kendall_tau"] <= -0.9
    assert f.causes[0].cause == "unbounded_loss"


def test_a_bounded_negative_loss_that_wanders_is_not_unbounded():
    """A WGAN critic's loss: negative, noisy, no trend towards minus infinity."""
    s = np.arange(2000)
    y = -2.0 + 0.5 * np.sin(s / 200) + 0.3 * np.random.default_rng(4).standard_normal(2000)
    assert findings({"train/loss": (s, y)}, "DV001") == ()


def test_real_keras_loss_to_minus_infinity(realworld_dev):
    from loganalyze.engine import analyze
    report = analyze([realworld_dev / "data" / "32_keras_csv_loss_to_minus_inf"])
    (f,) = [f for f in report.findings if f.rule == "DV001"]
    assert f.tags == ("loss",) and f.causes[0].cause == "unbounded_loss" and f.step_range == (0, 69)


def test_real_mmdetection_explosion_before_nan(realworld_dev):
    from loganalyze.engine import analyze
    report = analyze([realworld_dev / "data" / "25_mmdet_lr_x10_explodes_to_nan"])
    (f,) = [f for f in report.findings if f.rule == "DV001"]
    assert f.tags[0] == "loss_rpn_cls" and f.step_range[0] == 19800 and f.stats["peak"] > 1e26
    assert f.causes[0].cause == "lr_too_high"  # the log's lr is 0.1 there, ten times its start


def _keras_csv(path, loss, val_loss, lr):
    rows = ["epoch,loss,lr,val_loss"] + [f"{e},{a},{r},{b}" for e, (a, b, r) in enumerate(zip(loss, val_loss, lr))]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_six_keras_epochs_that_jump_to_chance_after_an_lr_raise(tmp_path):
    """A 6-epoch Keras log: the loss falls for three epochs, the LR is raised 100x, and the last three epochs
    sit at ln 5 (a 5-class model predicting the prior). Six points are enough for a jump that holds."""
    from loganalyze.engine import analyze

    rng = np.random.default_rng(4)
    ln5 = float(np.log(5))
    loss = np.r_[0.6 + 0.45 * np.exp(-np.arange(3) * 1.5), ln5 * (1 + 0.005 * rng.standard_normal(3))]
    val = np.r_[0.65 + 0.04 * np.exp(-np.arange(3)), ln5 * (1 + 0.03 * rng.standard_normal(3))]
    lr = [1e-3] * 3 + [0.1] * 3
    (rr,) = analyze([_keras_csv(tmp_path / "training.log", loss, val, lr)]).runs
    (dv,) = [f for f in rr.findings if f.rule == "DV001"]
    assert dv.stats["best_step"] == 2 and abs(dv.stats["rise_factor"] - ln5 / loss[2]) < 0.1
    assert dv.causes[0].cause == "lr_too_high" and "0.1" in dv.causes[0].evidence
    (pl,) = [f for f in rr.findings if f.rule == "PL001"]
    assert pl.stats["kind"] == "collapsed" and pl.stats["collapse_step"] == 3
    assert pl.stats["chance_level"].startswith("ln 5 ")


def test_six_keras_epochs_with_a_small_late_bump_are_not_divergence(tmp_path):
    from loganalyze.engine import analyze

    loss = [0.95, 0.62, 0.55, 0.60, 0.59, 0.61]  # 1.1x its best: an ordinary bump, under min_rise_factor
    val = [0.80, 0.70, 0.66, 0.69, 0.70, 0.70]
    (rr,) = analyze([_keras_csv(tmp_path / "training.log", loss, val, [1e-3] * 6)]).runs
    assert not [f for f in rr.findings if f.rule in ("DV001", "PL001")]


def _with_term(term):
    rng = np.random.default_rng(6)
    s = np.arange(1000)
    total = (0.3 + 1.5 * np.exp(-s / 200)) * np.exp(0.03 * rng.standard_normal(1000))
    return {"train/loss": (s, total), "train/kl_loss": (s, term * np.exp(0.03 * rng.standard_normal(1000))),
            "epoch": (s, s // 100)}


def test_a_loss_term_is_reported_only_when_it_explodes():
    """The total is what training optimizes; one of its terms drifting up 2x is a trade-off the total
    absorbs, not a divergence to warn about. A term that explodes (1000x) is reported, as an error."""
    s = np.arange(1000)
    drift = np.where(s < 500, 0.2, 0.2 * (1 + (s - 500) / 500))  # 0.2 -> 0.4 and stays up
    assert not [f for f in findings(_with_term(drift), "DV001") if "train/kl_loss" in f.tags]
    boom = np.where(s < 500, 0.2, 0.2 * np.exp((s - 500) / 70))  # 0.2 -> ~250
    (f,) = [f for f in findings(_with_term(boom), "DV001") if "train/kl_loss" in f.tags]
    assert f.severity == "error" and f.stats["rise_factor"] > 100


def test_a_gradient_norm_that_grows_with_the_climb_is_evidence_for_the_lr():
    """No LR is logged; the loss climbs after its best while the gradient norm grows steadily with it (no single
    burst): updates too large for the curvature, the gradient's own evidence."""
    rng = np.random.default_rng(8)
    s = np.arange(1000)
    y = np.where(s < 400, 2 * np.exp(-s / 150) + 0.3, (2 * np.exp(-400 / 150) + 0.3) * np.exp((s - 400) / 500))
    y = y * np.exp(0.03 * rng.standard_normal(1000))
    g = np.where(s < 400, 1.0, 1.0 + (s - 400) / 100) * np.exp(0.1 * rng.standard_normal(1000))
    (f,) = findings({"train/loss": (s, y), "grad_norm": (s, g), "epoch": (s, s // 100)}, "DV001")
    assert f.causes[0].cause == "lr_too_high" and "gradient norm grows alongside" in f.causes[0].evidence
    # (this climb ends at 1.08 = ln 3: back to a chance level, 0.75.) The same run at 0.8× ends at 0.86, no
    # chance level: the growing gradient norm alone is the evidence, less sure (0.55); its Kendall τ from the
    # best on, recomputed
    (f,) = findings({"train/loss": (s, 0.8 * y), "grad_norm": (s, g), "epoch": (s, s // 100)}, "DV001")
    tau = stats.kendalltau(np.arange(np.sum(s >= f.stats["best_step"])), g[s >= f.stats["best_step"]])[0]
    assert [(c.cause, c.confidence) for c in f.causes] == [("lr_too_high", 0.55), ("unknown", 0.3)]
    assert f.causes[0].evidence.startswith(f"the gradient norm grows alongside (Kendall τ = {tau:.2f}). Updates too "
                                           "large for the curvature push the loss uphill.")


def test_a_glitch_low_first_evaluation_is_no_best_to_explode_from():
    # Keras logged the first validation loss as 1e-21, then 0.006: the climb is measured from 0.006
    s = np.arange(10)
    v = np.array([1.4221e-21, 0.0058543, 0.1231784, 0.1815289, 0.1907439, 0.1037663, 0.0346363, 0.0196640,
                  0.0192520, 0.0204457])  # the values as logged (full float precision)
    y = 0.5 * np.exp(-s / 3)
    found = findings({"train/loss": (s, y), "val/loss": (s, v), "val/metric_loss": (s, v)}, "DV001")
    assert all(f.stats.get("best_value", 1) > 1e-3 for f in found)
    assert not [f for f in found if f.severity == "error"]


def test_a_real_single_low_point_still_counts_as_the_best():
    # a dip by less than the explosion factor is a best like any other: the climb after it is found
    rng = np.random.default_rng(4)
    s = np.arange(1200)
    y = np.where(s < 400, 2.0 * np.exp(-s / 150), 2.0 * np.exp(-400 / 150) * np.exp((s - 400) / 300))
    (f,) = findings({"train/loss": (s, y * np.exp(0.03 * rng.standard_normal(1200)))}, "DV001")
    assert abs(f.stats["best_step"] - 400) <= 60 and f.stats["rise_factor"] > 5


def sorted_classes_run(epochs=6, per_epoch=100, seed=0):
    """Five classes sorted in blocks of 20 steps, shuffle off (a real run's shape): the first block of the
    first epoch is one class, so the loss falls to 0.11; every later block starts by predicting the
    previous class, and from the second epoch on the model hovers near ln 5, a little better each epoch."""
    rng = np.random.default_rng(seed)
    s = np.arange(epochs * per_epoch)
    e, b = s // per_epoch, s % 20
    y = 1.66 - 0.03 * e + (0.08 - 0.02 * e) * (1 - b / 10)
    first = s < per_epoch
    y[first] = 2.8 - 0.09 * b[first]
    y[:20] = np.linspace(1.63, 0.11, 20)
    return s, y * np.exp(0.01 * rng.standard_normal(len(s))), e


def test_a_best_inside_the_first_block_of_class_sorted_data_is_no_divergence():
    s, y, ep = sorted_classes_run()
    assert findings({"train_loss": (s, y), "epoch": (s, ep)}, "DV001") == ()


def test_a_collapse_inside_the_first_epoch_is_still_a_divergence():
    # SGD at a too-high LR: the loss falls to 1.1 within 30 steps, climbs back to ln 5 by step 100 and stays
    rng = np.random.default_rng(1)
    s = np.arange(600)
    ln5 = float(np.log(5))
    y = np.where(s < 30, ln5 - (ln5 - 1.1) * s / 30, np.where(s < 100, 1.1 + (ln5 - 1.1) * (s - 30) / 70, ln5))
    (f,) = findings({"train_loss": (s, y * np.exp(0.01 * rng.standard_normal(600))), "epoch": (s, s // 100)}, "DV001")
    assert f.stats["best_step"] <= 60 and f.stats["rise_factor"] > 1.3


def test_a_short_dip_then_collapse_in_a_log_of_window_means():
    # Hugging Face logs the mean of every 10 steps: 60 quiet points over 6 epochs; the loss dips to 1.15 at
    # step 40, and the too-high LR throws it back to ln 5 by step 160, where it stays
    s = np.arange(10, 610, 10)
    y = np.array([1.385, 1.392, 1.181, 1.145, 1.297, 1.209, 1.349, 1.315, 1.304, 1.565, 1.545, 1.474, 1.564, 1.55,
                  1.561, 1.607, 1.626, 2.238, 1.648, 1.658, 1.608, 1.521, 1.823, 1.612, 1.614, 1.714, 1.609, 1.652,
                  1.636, 1.617, 1.606, 1.638, 1.649, 1.612, 1.634, 1.631, 1.611, 1.62, 1.627, 1.634, 1.627, 1.617,
                  1.615, 1.612, 1.635, 1.617, 1.616, 1.616, 1.622, 1.622, 1.635, 1.616, 1.626, 1.615, 1.587, 1.636,
                  1.632, 1.634, 1.618, 1.624])  # the corpus run (SGD at lr 0.6, 5 classes) as its trainer_state.json
    (f,) = findings({"loss": (s, y), "epoch": (s, s / 100)}, "DV001")
    assert f.stats["best_step"] <= 60 and f.stats["rise_factor"] >= 1.3
    assert f.causes[0].cause == "lr_too_high"  # the climb ends at a chance level: the network collapsed


def test_a_noisy_short_per_step_log_still_gets_wide_buckets():
    # the same six epochs logged every step with ±20% batch noise and no collapse: no divergence
    rng = np.random.default_rng(6)
    s = np.arange(600)
    y = (1.4 * np.exp(-s / 200) + 0.3) * np.exp(0.2 * rng.standard_normal(600))
    assert findings({"loss": (s, y), "epoch": (s, s // 100)}, "DV001") == ()


def test_a_loss_that_climbs_back_to_chance_gave_back_what_it_learned():
    """SGD at a far too high LR: the loss falls from ln 5 to 1.35 in 60 steps, then the network dies and
    the loss climbs back to 1.03 × ln 5 (a constant prediction sits at or above chance) and stays. That is
    1.23× the best — under min_rise_factor 1.3 — yet it is all the model had learned: a divergence."""
    rng = np.random.default_rng(4)
    s = np.arange(600)
    ln5 = float(np.log(5))
    y = np.where(s < 60, ln5 - (ln5 - 1.35) * s / 60, np.minimum(1.35 + (s - 60) / 40, 1.03 * ln5))
    y = y * np.exp(0.02 * rng.standard_normal(600))
    (f,) = findings({"train/loss": (s, y), "epoch": (s, s // 60)}, "DV001")
    assert f.stats["best_step"] < 120 and 1.05 < f.stats["rise_factor"] < 1.3  # (per-epoch medians)
    assert f.causes[0].cause == "lr_too_high" and "ln 5" in f.causes[0].evidence
    # the same climb to a level that is no chance level (1.23× the best, ending at 1.66 on a 3-class task
    # whose chance is ln 3 = 1.10: far above): not enough rise
    z = np.where(s < 60, 1.9 - (1.9 - 1.35) * s / 60, np.minimum(1.35 + (s - 60) / 40, 1.66))
    z = z * np.exp(0.02 * rng.standard_normal(600))
    assert findings({"train/loss": (s, z * 1.12), "epoch": (s, s // 60)}, "DV001") == ()


def test_a_short_log_that_climbs_back_to_chance_is_judged_against_the_noise_of_where_it_ends():
    """Lightning's default of a training row every 50 steps over 6 epochs: 12 points. The loss falls to 1.31
    and jumps back to ln 5 by the next row, where a dead network keeps it. Read in 6 buckets of 2 points, the
    jump is one of only five bucket-to-bucket moves, and counting it as noise would hide the collapse; the
    scatter of the level it climbed back to is the noise to beat."""
    s = np.arange(49, 600, 50)
    y = np.array([1.527, 1.467, 1.313, 1.559, 1.644, 1.604, 1.629, 1.69, 1.579, 1.849, 1.645, 1.658])
    (f,) = findings({"train_loss": (s, y), "epoch": (s, s // 100)}, "DV001")
    assert f.stats["best_step"] == 149 and f.stats["aggregated_by"] == "bucket"
    assert f.stats["rise_factor"] < 1.3 and f.causes[0].cause == "lr_too_high" and "ln 5" in f.causes[0].evidence
    # the same rows ending at 1.50, well below chance: a noisy short log, not a collapse
    assert findings({"train_loss": (s, np.minimum(y, 1.50)), "epoch": (s, s // 100)}, "DV001") == ()


def test_six_keras_epochs_that_keep_climbing_after_an_lr_raise_real_training(tmp_path):
    """Real training (the corpus's tuning MLP, seed 1, SGD, Keras' CSVLogger): the LR is raised 10× after three
    epochs and the loss climbs 0.62 → 1.08 → 1.29 → 1.56. Over six points the whole curve's moves are mostly
    signal (the descent, the jump, the climb) and read as noise 3× the climb's own scatter, which hid the climb;
    the noise beside it (each side's moves about their own median) does not."""
    import csv

    from loganalyze.engine import analyze
    from loganalyze.trainer.conventions import Convention, write
    from loganalyze.trainer.variants import Spec, train

    def run(factor, name):
        spec = Spec("lr_raise", "mlp", 1, optimizer="sgd", knobs=(("factor", factor),))
        written = write(train(spec), Convention("keras", filename="training.log"), tmp_path / name)
        rows = list(csv.DictReader(open(written.path)))
        (rr,) = analyze([written.path]).runs
        return np.array([float(r["loss"]) for r in rows]), [f for f in rr.findings if f.rule == "DV001"]

    loss, (dv,) = run(10.0, "raised")
    best = int(np.argmin(loss))
    assert np.all(np.diff(loss[best:]) > 0)  # what the log shows: a climb after the best, every epoch
    assert dv.stats["best_step"] == best and dv.stats["rise_factor"] == pytest.approx(np.median(loss[-3:]) / loss[best], rel=0.02)
    assert dv.causes[0].cause == "lr_too_high" and "10×" in dv.causes[0].evidence
    _, calm = run(1.0, "calm")  # the same run, the LR left alone
    assert calm == []


SHORT_SEEDS = range(60_000, 60_200)  # never used while developing


@pytest.mark.parametrize("sigma", [0.05, 0.15])
@pytest.mark.parametrize("points", [6, 8])
def test_short_healthy_decays_are_not_divergence(points, sigma):
    """Keras-style logs of a handful of epochs that decay with 5% or 15% noise, some converging early and then
    wandering: the noise beside the best (the short-curve estimate) must not turn their wobble into a climb.
    While developing (seeds 70,000-70,199): 1 of 200 at 8 points and 15% noise with it, 0 without; 0 in the
    other cells. Measured once on SHORT_SEEDS after the change: 0 of 200 in every cell. Bound: the most a 1% rate
    reaches at least 5% of the time."""
    from stats_bounds import describe, max_count_for_rate

    hits = []
    for seed in SHORT_SEEDS:
        rng = np.random.default_rng(seed)
        e = np.arange(points)
        tau = rng.uniform(0.5, 4.0)
        y = (0.3 + rng.uniform(0.3, 1.5) * np.exp(-e / tau)) * np.exp(sigma * rng.standard_normal(points))
        hits += [(seed, f.summary) for f in findings({"loss": (e, y), "epoch": (e, e)}, "DV001")]
    assert len(hits) <= max_count_for_rate(len(SHORT_SEEDS), 0.01), (describe(len(hits), len(SHORT_SEEDS)), hits)


@pytest.mark.parametrize("loss", [[0.95, 0.847, 0.714, 0.915, 0.982, 0.905, 1.142],
                                  [1.0, 0.9, 0.85, 0.8, 0.95, 1.0, 0.9, 1.05]])
def test_a_short_curve_that_zig_zags_after_its_best_keeps_its_whole_noise(loss):
    """The noise beside the climb is for a climb that never comes back down; after these bests the curve zig-zags
    (±0.15 from epoch to epoch), and its moves are noise, not trend (a reviewer's probes: both were called
    divergence by the first version)."""
    e = np.arange(1, len(loss) + 1)
    assert findings({"loss": (e, np.array(loss)), "epoch": (e, e)}, "DV001") == ()


def test_terms_that_blow_up_as_the_total_turns_nan_are_one_explosion_named_by_the_largest():
    """The total training loss turns NaN at step 1,500 without a climb of its own; just before, two of its
    terms explode: 'loss_a' to 50 (about 300× its level) and 'loss_z' to 400 (about 1,300×). One explosion,
    named by the term that blew up most, the other term listed after it (whatever their names' order)."""
    s = np.arange(2000)
    rng = np.random.default_rng(50)
    total = (2.0 * np.exp(-s / 500) + 0.3) * np.exp(0.02 * rng.standard_normal(2000))
    a = (1.0 * np.exp(-s / 500) + 0.1) * np.exp(0.02 * rng.standard_normal(2000))
    z = (1.0 * np.exp(-s / 500) + 0.2) * np.exp(0.02 * rng.standard_normal(2000))
    a[1498:1500], z[1498:1500] = [30.0, 50.0], [200.0, 400.0]
    for y in (total, a, z):
        y[1500:] = np.nan
    (f,) = findings({"train/loss": (s, total), "train/loss_a": (s, a), "train/loss_z": (s, z)}, "DV001")
    assert f.tags == ("train/loss_z", "train/loss_a") and f.stats["terms"] == ["train/loss_a", "train/loss_z"]
    assert f.stats["shape"] == "explodes_into_nonfinite" and f.stats["peak"] == 400.0
