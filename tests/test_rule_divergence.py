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
