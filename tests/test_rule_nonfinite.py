"""NF001: when the loss turns NaN/Inf, whether it recovers, and what came before."""
import numpy as np

from curves import false_positive_rate, findings


def steady_then(n=500, at=300, value=np.nan, seed=0):
    rng = np.random.default_rng(seed)
    s = np.arange(n)
    y = 0.7 * np.exp(-s / 200) + 0.3 + 0.005 * rng.standard_normal(n)
    y[at:] = value
    return s, y


def test_hand_written_log_loss_goes_nan_for_good():
    s, y = steady_then()
    (f,) = findings({"train/loss": (s, y), "lr": (s, np.full(500, 1e-3))}, "NF001")
    assert f.severity == "error" and f.step_range[0] == 300
    assert f.stats["first_nonfinite_step"] == 300 and f.stats["permanent"] and f.stats["nonfinite_points"] == 200
    assert f.causes[0].cause == "unstable_loss"


def test_short_inf_bursts_that_recover_look_like_fp16_overflow():
    rng = np.random.default_rng(1)
    s = np.arange(1000)
    y = 0.5 + 0.01 * rng.standard_normal(1000)
    for a in (200, 450, 700):
        y[a:a + 2] = np.inf
    (f,) = findings({"train/loss": (s, y)}, "NF001")
    assert f.severity == "warning" and not f.stats["permanent"]
    assert f.stats["bursts"] == 3 and f.stats["longest_burst"] == 2
    assert f.ranges == ((200, 201), (450, 451), (700, 701))
    assert f.causes[0].cause == "fp16_overflow"


def test_nan_after_a_learning_rate_rise_blames_the_lr():
    s = np.arange(400)
    lr = np.minimum(1e-3 * (1 + s / 20), 0.02)
    y = 0.5 * np.exp(np.maximum(s - 300, 0) / 10.0)
    y[350:] = np.nan
    gn = 1.0 + np.maximum(s - 300, 0) ** 1.5
    (f,) = findings({"train/loss": (s, y), "lr": (s, lr), "grad_norm": (s, gn)}, "NF001")
    assert f.causes[0].cause == "lr_too_high"
    assert f.stats["loss_rise_before"] >= 3 and f.stats["lr_ratio_since_start"] >= 2


def test_false_positive_rate_on_healthy_runs():
    rate, hits = false_positive_rate("NF")
    assert rate == 0, hits[:3]


def test_a_long_burst_that_recovers_is_not_named_fp16_overflow():
    """A loss scaler skips one or two overflowing steps and recovers; forty NaN steps in a row are something else,
    however the run comes back. short_burst (3) is the longest burst that names fp16_overflow."""
    rng = np.random.default_rng(2)
    s = np.arange(1000)
    y = 0.5 + 0.01 * rng.standard_normal(1000)
    y[400:440] = np.nan
    (f,) = findings({"train/loss": (s, y)}, "NF001")
    assert not f.stats["permanent"] and f.stats["nonfinite_points"] == 40
    assert "fp16_overflow" not in [c.cause for c in f.causes]
    y = 0.5 + 0.01 * rng.standard_normal(1000)
    y[400:403] = np.inf  # exactly short_burst long: still the scaler's signature
    (g,) = findings({"train/loss": (s, y)}, "NF001")
    assert g.causes[0].cause == "fp16_overflow"


def _hf_trainer_state(path, nan_from=None):
    """A Hugging Face trainer_state.json as the Trainer writes it: the mean loss of each 10 steps (NaN steps
    left out of the mean by logging_nan_inf_filter, so 0.0 once all are NaN), grad_norm, and eval rows."""
    import json

    rng = np.random.default_rng(0)
    rows = []
    for step in range(10, 610, 10):
        nan = nan_from is not None and step > nan_from
        loss = 0.0 if nan else 0.7 * np.exp(-step / 400) + 0.2 + 0.01 * rng.standard_normal()
        rows.append({"epoch": step / 100, "grad_norm": float("nan") if nan else 1.0 + 0.05 * rng.standard_normal(),
                     "learning_rate": 1e-3, "loss": round(float(loss), 4), "step": step})
        if step % 100 == 0:
            rows.append({"epoch": step / 100, "eval_loss": float("nan") if nan else 0.5 + 0.3 * np.exp(-step / 300),
                         "step": step})
    path.write_text(json.dumps({"global_step": 600, "log_history": rows}))
    return path


def test_a_training_loss_of_exactly_zero_that_stands_in_for_nan(tmp_path):
    from loganalyze.engine import analyze

    report = analyze([_hf_trainer_state(tmp_path / "trainer_state.json", nan_from=45)], jobs=1)
    found = report.runs[0].findings
    assert not [f for f in found if f.rule in ("PL001", "PL004") and "loss" in f.tags]  # no "loss of exactly 0"
    (nf,) = [f for f in found if f.rule == "NF001"]
    assert "'loss' reads exactly 0 from step 50" in nf.summary and "logging_nan_inf_filter" in nf.summary
    # steady loss, flat gradient norm and a constant LR before step 50, where the NaN began: the loss itself
    assert nf.causes[0].cause == "unstable_loss" and "before step 50" in nf.causes[0].evidence


def test_a_loss_that_is_zero_with_finite_evaluations_is_still_a_dead_term(tmp_path):
    from loganalyze.align import from_arrays
    from loganalyze.evidence import zero_for_nan

    s = np.arange(100)
    run = from_arrays("r", {"train/loss": (s, np.zeros(100)), "val/loss": (s[::10], np.full(10, 0.4))})
    assert zero_for_nan(run, "train/loss") is None


def test_a_gradient_spike_under_a_steady_lr_and_a_falling_loss_is_the_loss_itself():
    # a hand-written BCE: the outputs saturate, log(0) is near; the gradient norm jumps 3x at the last step
    # before the NaN, but the loss is still falling and the LR never changed: the model trained fine at it
    rng = np.random.default_rng(2)
    s = np.arange(150)
    y = 0.7 * np.exp(-s / 120) * np.exp(0.02 * rng.standard_normal(150))
    y[87:] = np.nan
    gn = 0.7 * np.exp(0.15 * rng.standard_normal(150))
    gn[86] = 2.8
    (f,) = findings({"train/loss": (s, y), "lr": (s, np.full(150, 1e-3)), "grad_norm": (s, gn)}, "NF001")
    assert f.stats["grad_norm_rise_before"] >= 3 and f.stats["loss_rise_before"] < 3
    assert [c.cause for c in f.causes][:2] == ["unstable_loss", "lr_too_high"]
    assert "had not changed since the start" in f.causes[0].evidence
    # the loss's own arithmetic (0.65) ahead of the LR, which the gradient rise alone leaves at 0.5
    assert [c.confidence for c in f.causes][:2] == [0.65, 0.5]


def test_the_same_spike_with_the_loss_climbing_first_blames_the_lr():
    rng = np.random.default_rng(2)
    s = np.arange(150)
    y = np.where(s < 70, 0.7 * np.exp(-s / 120), 0.7 * np.exp(-70 / 120) * np.exp((s - 70) / 4.0))
    y = y * np.exp(0.02 * rng.standard_normal(150))
    y[87:] = np.nan
    gn = 0.7 * np.exp(0.15 * rng.standard_normal(150))
    gn[86] = 2.8
    (f,) = findings({"train/loss": (s, y), "lr": (s, np.full(150, 1e-3)), "grad_norm": (s, gn)}, "NF001")
    assert f.stats["loss_rise_before"] >= 3 and f.causes[0].cause == "lr_too_high"


def test_recovering_bursts_with_the_last_cut_off_by_the_end_are_still_fp16_overflow():
    """detectron2 logs the median of each 20-step window: a window holding one overflowed step is NaN. Seven
    short bursts that recover, the last one in the final window: the log ends inside the last burst, not
    because the NaN stuck. With only that last burst it is a NaN that stayed."""
    s = np.arange(19, 600, 20)
    y = 0.5 + 0.5 * np.exp(-s / 150)
    bursts = y.copy()
    for i in (0, 1, 7, 8, 13, 16, 18, 22, 28, 29):
        bursts[i] = np.nan
    (f,) = findings({"total_loss": (s, bursts)}, "NF001")
    assert f.causes[0].cause == "fp16_overflow" and "recover" in f.summary and f.severity != "error"
    stuck = y.copy()
    stuck[28:] = np.nan
    (g,) = findings({"total_loss": (s, stuck)}, "NF001")
    assert g.causes[0].cause != "fp16_overflow" and "never recovers" in g.summary
