"""What the analysis finds on real logs that nobody here made, held to the hand labels' reading.

Each case names the log, what a person sees in its plot (from ../shared/realworld*/ labels), and
checks the finding's evidence — steps, levels, statistics — not only that a rule fired.
"""
import numpy as np
import pytest

from loganalyze.engine import analyze


def findings_of(path, rule):
    return [f for f in analyze([path]).findings if f.rule == rule]


def test_keras_binary_model_stuck_at_ln2_for_four_epochs(realworld_dev):
    """Four epochs, loss 0.6930–0.6931: a dozen points are not needed to see a model at the prior."""
    (f,) = findings_of(realworld_dev / "data" / "16_keras_tf2_tb_stuck_at_ln2", "PL001")
    assert f.tags == ("train/epoch_loss", "validation/epoch_loss") and f.severity == "error"
    assert f.stats["chance_level"].startswith("ln 2 ") and f.stats["points"] == 4
    assert abs(f.stats["level"] - np.log(2)) < 1e-3 and abs(f.stats["val_level"] - np.log(2)) < 1e-3


def test_regression_stuck_at_the_variance_of_a_standardized_target(realworld_dev):
    """MSE 1.000 at every epoch: the error of always predicting the mean."""
    (f,) = findings_of(realworld_dev / "data" / "33_keras_csv_mse_stuck_at_one", "PL001")
    assert f.stats["chance_level"].startswith("1.0 (MSE") and abs(f.stats["level"] - 1.0) < 1e-3


def test_loss_terms_that_are_exactly_zero_at_every_step(realworld):
    """A contrastive run whose pairwise losses are 0 at all 50 steps: a degenerate objective."""
    found = findings_of(realworld / "19_torch_loss_collapse_to_zero", "PL001")
    zero = [f for f in found if f.stats["kind"] == "constant"]
    assert {f.tags[0] for f in zero} >= {"Loss/train_image_text", "Loss/train_image_audio"}
    assert all(f.stats["value"] == 0.0 and f.stats["fraction_constant"] == 1.0 for f in zero)


def test_per_class_metrics_of_rare_classes_are_not_a_dead_model(realworld_dev):
    """HF NER: a few entity classes never get an F1 above 0 while the others move: rare classes."""
    found = findings_of(realworld_dev / "data" / "04_hf_ner_overfit_eval_rising", "PL001")
    assert [f.tags for f in found if f.stats.get("kind") == "constant"] == []


def test_validation_stall_while_training_falls(realworld):
    """A custom TF2 loop: test loss flat at ~0.75 from epoch ~20 while training keeps falling."""
    (f,) = findings_of(realworld / "06_tf2_custom_loop_summary", "PL003")
    assert f.severity == "info" and f.tags == ("test/v_loss", "train/loss")
    assert 10 <= f.stats["stall_start_step"] <= 25 and f.stats["train_gain"] >= 10


def test_a_single_epoch_validation_spike(realworld):
    """Keras: val_loss 7.42 at epoch 1 against ~1.5 on either side; training unaffected."""
    (f,) = findings_of(realworld / "27_keras_csvlogger_val_spike", "SP001")
    assert f.tags == ("val_loss",) and f.stats["steps"] == [1] and f.stats["mode"] == "coarse"
    assert f.stats["ratios_to_local_median"][0] >= 3


def test_a_training_spike_in_a_short_lightning_log(realworld_dev):
    """83 logged points: train_loss_step jumps to 3.37 at step 569 (median 0.065) and is back at once."""
    (f,) = findings_of(realworld_dev / "data" / "14_lightning_tb_tft_spike", "SP001")
    assert f.tags == ("train_loss_step",) and 569 in f.stats["steps"]
    i = f.stats["steps"].index(569)
    assert f.stats["ratios_to_local_median"][i] >= 20 and f.stats["recovery_points"][i] == 1


def test_a_spike_near_zero_on_a_log_scale_is_not_a_spike(realworld_dev):
    """HF loss near its 4-decimal floor: 0.0001 → 0.008 is 80× in log space and invisible on the chart."""
    found = findings_of(realworld_dev / "data" / "03_hf_classifier_overfit_staircase", "SP001")
    assert [f.tags for f in found if f.tags == ("loss",)] == []


def test_validation_zig_zag_after_it_stopped_improving(realworld_dev):
    (f,) = findings_of(realworld_dev / "data" / "36_csv_val_loss_oscillation", "OS001")
    assert f.tags == ("val_loss",) and f.stats["mode"] == "erratic"
    assert f.stats["median_swing"] >= 0.15 and f.stats["moves_lag1_correlation"] <= -0.3


def test_fine_tuning_staircase_is_memorization_even_as_it_fades(realworld_dev):
    """HF classifier, 10 epochs: the loss drops at each boundary for six epochs, then sits near 0."""
    (f,) = findings_of(realworld_dev / "data" / "03_hf_classifier_overfit_staircase", "PD001")
    assert f.stats["judged_on"].startswith("first half") and f.stats["period_steps"] == 890
    assert f.causes[0].cause == "memorization" and f.stats["phase_of_min"] < 0.25


def test_coarse_staircase_is_not_called_a_running_mean(realworld_dev):
    """Logged every 500 steps, 7 points per epoch: too few to see a running mean's 1/k shape."""
    (f,) = findings_of(realworld_dev / "data" / "02_hf_ner_epoch_staircase_coarse", "PD001")
    assert f.causes[0].cause == "memorization" and f.stats["points_per_epoch"] < 10


def test_appended_detectron2_runs_are_restarts(realworld_dev):
    (f,) = findings_of(realworld_dev / "data" / "22_detectron2_many_short_restarts", "IN001")
    assert f.causes[0].cause == "resumed_run" and f.stats["rewinds"] >= 4


def test_keras_fit_called_again_and_again_on_one_csv(realworld_dev):
    """Eight rows, epoch 0 in each: the step never advances."""
    (f,) = findings_of(realworld_dev / "data" / "34_keras_csv_epoch_always_zero", "IN002")
    assert f.stats["count"] == 7 and f.stats["series"] == 4 and f.step_range == (0, 0)


@pytest.mark.parametrize("name", ["10_lightning_csv_mlp_healthy", "17_keras_tf2_tb_healthy_200ep",
                                  "19_hf_tb_gpt2_healthy", "23_detectron2_healthy", "30_yolov5_healthy",
                                  "31_yolov8_healthy", "37_csv_resnet18_step_lr_healthy",
                                  "39_lightning_tb_seq2seq_healthy", "40_lightning_tb_diffusion_healthy",
                                  "44_lightning_csv_long_healthy_stepped_lr", "07_hf_lora_memorization_healthy"])
def test_healthy_real_runs_get_no_warning(realworld_dev, name):
    report = analyze([realworld_dev / "data" / name])
    assert [(f.rule, f.summary) for f in report.findings if f.severity != "info"] == []


def test_contrastive_heads_stuck_at_ln4(realworld):
    """Two of three contrastive losses sit at ln 4 = 1.3863 (4-way, chance) for the whole run."""
    found = [f for f in findings_of(realworld / "18_torch_long_noisy_partial_plateau", "PL001")
             if f.stats.get("kind") == "pinned"]
    assert {f.tags[0] for f in found} == {"train/loss_text_audio", "train/loss_image_audio"}
    assert all(f.stats["chance_level"].startswith("ln 4 ") and abs(f.stats["level"] - np.log(4)) < 2e-3
               for f in found)


def test_a_pinn_loss_that_converged_early(realworld):
    """Flat at ~1.7e-4 for the last two thirds of 320k steps: converged, reported as an info."""
    (f,) = findings_of(realworld / "23_lightning_csv_pinn_extreme_range", "PL004")
    assert f.severity == "info" and 50_000 <= f.stats["flat_start_step"] <= 130_000
    assert f.stats["flat_fraction"] >= 0.6 and 1e-4 < f.stats["level"] < 3e-4
