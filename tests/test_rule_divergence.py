"""DV001: a loss that climbs after its best, decided at epoch scale."""
import numpy as np

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
