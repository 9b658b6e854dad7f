"""The epoch from the loss's own cycle: found where it dominates, never invented on healthy noise."""
import numpy as np
import pytest
from scipy.signal import lfilter

from loganalyze.align import align_runs, from_arrays
from loganalyze.ingest import load
from loganalyze.model import Run


def healthy_loss(seed: int) -> dict:
    """A healthy per-step train loss with nothing about the epoch in it (seeded, varied)."""
    rng = np.random.default_rng(seed)
    n = int(rng.choice([300, 800, 2000, 5000, 12000]))
    every = int(rng.choice([1, 1, 1, 5, 10, 50]))
    t = np.arange(n) / n
    floor = rng.uniform(0.02, 1.0)
    base = rng.uniform(0.5, 5.0) * np.exp(-t / rng.uniform(0.03, 0.5)) + floor
    if seed % 4 == 3:  # step decays: the LR drops once or twice and the loss steps down
        for at in np.sort(rng.uniform(0.3, 0.9, rng.integers(1, 3))):
            base = base - rng.uniform(0.1, 0.4) * floor * (t >= at)
    noise = ("white", "ar1", "t")[seed % 3]
    if noise == "white":
        e = rng.standard_normal(n)
    elif noise == "ar1":
        phi = rng.uniform(0.5, 0.98)
        e = lfilter([np.sqrt(1 - phi * phi)], [1, -phi], rng.standard_normal(n))
    else:
        e = rng.standard_t(rng.uniform(2, 5), n) / 2
    scale = rng.uniform(0.02, 0.3)
    y = base * np.exp(scale * e) if rng.random() < 0.7 else base + scale * base.mean() * e
    return {"train/loss": (np.arange(n) * every + every - 1, y)}


def test_no_loss_cycle_on_healthy_curves():
    # Measured: 0 of these 200 (seeds 5000-5199); 2 of 1000 on seeds 5000-5999 (5235: two LR drops
    # two periods apart with no LR logged; 5326: AR(1) noise with phi > 0.9 over 6 of its wanderings);
    # 0 of the 2000 held-out curves of curves_heldout.py, with or without their other series.
    # Target: at most 1 %.
    hits = [seed for seed in range(5000, 5200) if from_arrays("h", healthy_loss(seed)).epochs.known]
    assert len(hits) <= 2, hits
    assert hits == []


def cyclic_loss(seed: int, pattern: str, period: int = 250, epochs: int = 12, every: int = 1,
                noise: float = 0.1) -> dict:
    rng = np.random.default_rng(seed)
    s = np.arange(period * epochs)
    phase = (s % period) / period
    trend = 2.0 * np.exp(-s / (period * epochs * 0.2)) + 0.3
    if pattern == "staircase":  # seen data is fitted better: flat within an epoch, a drop at each start
        y = 2.0 * np.exp(-(s // period) / (epochs * 0.2)) + 0.3
    elif pattern == "sawtooth":  # a running mean reset every epoch
        y = trend * (1 + 0.15 * (phase - 0.5))
    elif pattern == "shape":  # unshuffled data: the same order of batches every epoch
        y = trend * (1 + 0.15 * np.sin(2 * np.pi * phase))
    else:  # a small last batch: one low point at each epoch's end
        y = trend * (1 - 0.6 * (s % period == period - 1))
    y = y * np.exp(noise * rng.standard_normal(len(s)))
    keep = s % every == every - 1
    return {"train/loss": (s[keep], y[keep])}


@pytest.mark.parametrize("pattern, every, noise", [
    ("staircase", 1, 0.05), ("staircase", 10, 0.05), ("sawtooth", 1, 0.05), ("sawtooth", 10, 0.05),
    ("shape", 1, 0.2), ("shape", 10, 0.2), ("dip", 10, 0.2)])
def test_a_dominant_loss_cycle_gives_the_epoch(pattern, every, noise):
    found = []
    for seed in range(5):
        run = from_arrays("c", cyclic_loss(seed, pattern, every=every, noise=noise))
        if run.epochs.provenance == "loss_cycle":
            found.append(run.epochs)
    assert len(found) >= 4
    for axis in found:
        # a sharp pattern pins the period to the step; a smooth one with 20 % noise to about 1 %
        tol = 1 if pattern != "shape" else 4
        assert np.all(np.abs(np.diff(axis.starts)[1:] - 250) <= tol)
        assert "the loss's own" in axis.detail and "-step cycle" in axis.detail and "cycles" in axis.detail
        if pattern == "staircase":  # epochs start after the drop
            assert np.all(np.abs((axis.starts[1:] + 125) % 250 - 125) <= 250 / 16)


def test_a_cycling_learning_rate_is_a_schedule_not_an_epoch():
    curves = cyclic_loss(0, "sawtooth", noise=0.05)
    s = curves["train/loss"][0]
    curves["lr"] = (s, 1e-3 * (1 + np.cos(np.pi * (s % 250) / 250)) / 2)  # cosine restarts every 250 steps
    assert from_arrays("c", curves).epochs.provenance == "unknown"
    assert from_arrays("c", cyclic_loss(0, "sawtooth", noise=0.05)).epochs.provenance == "loss_cycle"


def test_the_loss_cycle_is_the_last_resort():
    curves = cyclic_loss(0, "shape", noise=0.05)
    s = curves["train/loss"][0]
    tagged = from_arrays("c", {**curves, "epoch": (s, s // 300)})
    assert tagged.epochs.provenance == "epoch_tag"  # an epoch series wins, even against a clear cycle
    val = s[299::300]
    cadence = from_arrays("c", {**curves, "val/loss": (val, np.ones(len(val)))})
    assert cadence.epochs.provenance == "val_cadence"


def hidden(path, keep: str):
    """A real log with only its train loss left: nothing else says the epoch."""
    runs = load([path]).runs
    series = {keep: next(r.series[keep] for r in runs if keep in r.series)}
    (run,) = align_runs([Run("hidden", (), series, format="memory")])
    return run


def test_loss_cycle_on_real_logs_with_the_epoch_hidden(realworld_dev, realworld):
    # HF LLM fine-tune, 9 epochs of 743 steps, loss every step: the staircase gives the epoch
    run = hidden(realworld_dev / "data" / "01_hf_llm_sft_epoch_staircase", "loss")
    assert run.epochs.provenance == "loss_cycle"
    assert np.all(np.abs(np.diff(run.epochs.starts)[1:] - 743) <= 2)
    assert np.all(np.abs(run.epochs.starts[1:] - 743 * np.arange(1, run.epochs.count)) <= 743 / 16)
    # HF NER, 10 epochs of 3347 steps logged every 500 steps: a clear staircase, but 67 points are too
    # few to tell a cycle from noise (short healthy logs show chance cycles), so nothing is claimed
    coarse = hidden(realworld_dev / "data" / "02_hf_ner_epoch_staircase_coarse", "loss")
    assert coarse.epochs.provenance == "unknown"
    # Lightning, 6397-step epochs logged every 50 steps, but only 4 of them and the first one and a
    # half are all trend: the cycle does not dominate, so no epoch is claimed (and never a wrong one)
    few = hidden(realworld_dev / "data" / "41_lightning_csv_per_step_epoch_steps", "train_loss")
    assert few.epochs.provenance == "unknown"
    # Lightning, 26-step epochs logged every 10 steps: the small last batch shows once every 5 epochs,
    # when an epoch's last step falls on the logging grid, so the loss alone repeats every 130 steps —
    # 13 logged points, within the range of an oscillation's period: no epoch is claimed from it
    alias = hidden(realworld / "36_lightning_tb_dlgn_last_batch_dips", "train_loss")
    assert alias.epochs.provenance == "unknown"


def test_a_short_cycle_is_left_to_the_oscillation_rule():
    """A loss that swings every 10 steps (a too-high LR) is not taken for 10-step epochs."""
    s = np.arange(2000)
    y = (1.5 * np.exp(-s / 500) + 0.3) * np.exp(0.5 * np.sin(2 * np.pi * s / 10))
    assert from_arrays("c", {"train/loss": (s, y)}).epochs.provenance == "unknown"


def test_irregular_or_short_logs_are_left_alone():
    s = np.sort(np.random.default_rng(0).choice(100000, 400, replace=False))  # no regular logging
    y = np.sin(2 * np.pi * s / 2500) + 2
    assert not from_arrays("c", {"train/loss": (s, y)}).epochs.known
    short = cyclic_loss(0, "shape", epochs=3, noise=0.01)  # a clean cycle, but seen only 3 times
    assert not from_arrays("c", short).epochs.known
    assert not from_arrays("c", {"train/loss": (np.arange(20), np.ones(20))}).epochs.known


def test_evaluations_four_times_an_epoch_are_not_four_epochs():
    """Validation every 62.5 steps (logged at 61, 124, 187, 249, ... as a trainer rounds them), with the train
    loss stepping down after the first evaluation of each 250-step epoch and back up when the epoch ends
    (model.eval() left on until then). Each evaluation alone would be read as a 62-step epoch; the loss's own
    cycle spans four of them, so the epoch is four evaluations. Without that cycle the cadence stays the epoch."""
    rng = np.random.default_rng(3)
    s = np.arange(1000)
    level = np.where(s % 250 < 62, 1.0, 0.7) * (0.6 + 0.4 * np.exp(-s / 400))
    loss = level * np.exp(0.05 * rng.standard_normal(1000))
    ev = np.floor(np.arange(1, 17) * 62.5).astype(int) - 1
    val = 0.8 + 0.01 * rng.standard_normal(16)
    axis = from_arrays("r", {"loss": (s, loss), "val_loss": (ev, val)}).epochs
    assert axis.provenance == "loss_cycle" and axis.evals_per_epoch == 4
    assert set(np.diff(axis.starts[1:])) <= {249, 250, 251} and "spans 4 evaluations" in axis.detail
    flat = 0.8 * np.exp(0.05 * rng.standard_normal(1000))
    plain = from_arrays("r", {"loss": (s, flat), "val_loss": (ev, val)}).epochs
    assert plain.provenance == "val_cadence" and np.median(np.diff(plain.starts)) in (62, 63)
