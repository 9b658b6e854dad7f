"""Metric roles and the epoch axis, from the tag names and cadences real code produces."""
import numpy as np
import pytest

from loganalyze.align import direction, from_arrays, group_experiments
from loganalyze.config import Config
from loganalyze.model import Run, Series


def curves(*tags, n=100):
    s = np.arange(n)
    return {t: (s, np.linspace(2, 1, n)) for t in tags}


@pytest.mark.parametrize(
    "tags, train, val, lr, grad",
    [
        (["train/loss", "val/loss", "lr", "grad_norm"], "train/loss", "val/loss", "lr", "grad_norm"),
        (["Loss/train", "Loss/val", "learning_rate"], "Loss/train", "Loss/val", "learning_rate", None),
        (["train_loss_step", "train_loss_epoch", "val_loss", "lr-Adam"], "train_loss_step", "val_loss", "lr-Adam", None),
        (["loss", "eval_loss", "learning_rate", "grad_norm", "epoch"], "loss", "eval_loss", "learning_rate", "grad_norm"),
        (["training_loss", "valid_loss"], "training_loss", "valid_loss", None, None),
        (["total_loss", "loss_cls", "loss_box_reg", "lr"], "total_loss", None, "lr", None),
        (["eval/loss", "train/loss"], "train/loss", "eval/loss", None, None),
    ],
)
def test_roles_from_common_tag_names(tags, train, val, lr, grad):
    run = from_arrays("r", curves(*tags))
    assert (run.roles.train_loss, run.roles.val_loss, run.roles.lr, run.roles.grad_norm) == (train, val, lr, grad)


def test_accuracy_like_metrics_are_higher_is_better_and_paired():
    run = from_arrays("r", curves("train/loss", "val/loss", "train/HR@10", "val/HR@10", "accuracy", "val_accuracy"))
    pairs = {p.quantity: p for p in run.roles.pairs}
    assert pairs["hr@10"].train == "train/HR@10" and pairs["hr@10"].val == "val/HR@10"
    assert pairs["hr@10"].higher_is_better
    assert pairs["accuracy"].train == "accuracy" and pairs["accuracy"].val == "val_accuracy"
    assert not pairs["loss"].higher_is_better
    assert direction("val/f1") is True and direction("val_wer") is False and direction("runtime") is None


def test_role_overrides_from_config():
    config = Config(roles={"train_loss": "objective_a", "val_loss": "holdout"}, higher_is_better=("holdout_score",))
    run = from_arrays("r", curves("objective_a", "holdout", "holdout_score", "loss"), config)
    assert run.roles.train_loss == "objective_a" and run.roles.val_loss == "holdout"
    assert run.roles.higher_is_better["holdout_score"] is True


def test_epoch_axis_from_an_epoch_tag():
    s = np.arange(1000)
    run = from_arrays("r", {"train/loss": (s, np.ones(1000)), "epoch": (s, s // 250)})
    assert run.epochs.provenance == "epoch_tag"
    assert run.epochs.starts.tolist() == [0, 250, 500, 750]
    assert run.epochs.epoch_of(np.array([0, 249, 250, 999])).tolist() == [0, 0, 1, 3]


def test_epoch_axis_from_hf_fractional_epochs_is_interpolated():
    s = np.arange(0, 1000, 10)  # HF logs every 10 steps; 300 steps per epoch
    run = from_arrays("r", {"loss": (s, np.ones(len(s))), "epoch": (s, s / 300)})
    assert run.epochs.starts.tolist() == [0, 300, 600, 900]
    assert "logged every ~10 steps and interpolated" in run.epochs.detail and "±2 steps)" in run.epochs.detail
    # HF rounds the progress to 2 decimals and may log first after epoch 0 is over: the epochs keep
    # their numbers (extrapolated back) and the rounding shows in the stated precision
    late = np.arange(500, 15751, 500)
    gpt = from_arrays("r", {"loss": (late, np.ones(len(late))), "epoch": (late, np.round(late / 315, 2))})
    assert gpt.epochs.count == 50 and gpt.epochs.starts[0] == 0
    assert np.all(np.abs(gpt.epochs.starts - 315 * np.arange(50)) <= 5) and "±5 steps" in gpt.epochs.detail


def test_epoch_axis_from_validation_cadence_and_evals_per_epoch():
    s = np.arange(2000)
    val = s[99::100]
    run = from_arrays("r", {"train/loss": (s, np.ones(2000)), "val/loss": (val, np.ones(len(val)))})
    assert run.epochs.provenance == "val_cadence"
    assert run.epochs.starts[:3].tolist() == [0, 100, 200]
    four = s[124::125]
    run = from_arrays("r", {"train/loss": (s, np.ones(2000)), "val/loss": (four, np.ones(len(four))),
                            "epoch": (s, s // 500)})
    assert run.epochs.provenance == "epoch_tag" and run.epochs.evals_per_epoch == 4
    assert "4× per epoch" in run.epochs.detail


def test_epoch_axis_from_config_wins_and_unknown_says_so():
    s = np.arange(1000)
    run = from_arrays("r", {"train/loss": (s, np.ones(1000)), "epoch": (s, s // 100)}, Config(steps_per_epoch=200))
    assert run.epochs.provenance == "config" and run.epochs.starts.tolist() == [0, 200, 400, 600, 800]
    bare = from_arrays("r", {"train/loss": (s, np.ones(1000))})
    assert not bare.epochs.known and bare.epochs.provenance == "unknown"


def test_keras_train_and_validation_dirs_form_one_experiment():
    def run(name, tag):
        return Run(name, (f"{name}/events",), {tag: Series.from_lists(tag, [0, 1, 2], [1.0, 0.9, 0.8])}, format="tfevents")

    groups = group_experiments([run("fit/train", "epoch_loss"), run("fit/validation", "epoch_loss"), run("other", "loss")])
    assert [g[0] for g in groups] == ["fit", "other"]
    from loganalyze.align import align

    exp = align(groups[0][1], groups[0][0])
    assert exp.roles.train_loss == "train/epoch_loss" and exp.roles.val_loss == "validation/epoch_loss"
    assert exp.epochs.provenance == "epoch_tag" and exp.epochs.count == 3


def test_evaluation_cadence_rounded_to_whole_steps():
    # 4 evaluations in each 250-step epoch: steps 62, 125, 187, 250, 312, … (gaps 62 and 63)
    s = np.arange(1, 2001)
    evals = np.array([round(250 * k / 4) for k in range(1, 33)])
    run = from_arrays("r", {"train/loss": (s, np.ones(len(s))), "val/loss": (evals, np.ones(len(evals)))})
    assert run.epochs.provenance == "val_cadence"  # only the cadence is known: each evaluation ends an epoch
    assert run.epochs.count == 32 and set(np.diff(run.epochs.starts)) == {62, 63}
    assert "62.5 steps on average (gaps 62–63" in run.epochs.detail
    for epoch in ((s, np.floor(s / 250)), (s, s / 250)):  # an epoch index, or HF's fractional progress
        both = from_arrays("r", {"train/loss": (s, np.ones(len(s))), "val/loss": (evals, np.ones(len(evals))),
                                 "epoch": epoch})
        assert both.epochs.provenance == "epoch_tag" and both.epochs.evals_per_epoch == 4
        assert "4× per epoch" in both.epochs.detail


def test_lightning_epoch_end_writes_make_boundaries_exact():
    # Lightning logs `epoch` with every step log (every 50 steps, at 49, 99, …) and again with the epoch-end
    # metrics at each epoch's last step; a 67-step epoch starts right after that write
    per, n = 67, 40
    steps = sorted({s for s in range(49, per * n, 50)} | {per * (k + 1) - 1 for k in range(n)})
    epoch = [s // per for s in steps]
    loss_steps = list(range(49, per * n, 50))
    run = from_arrays("r", {"train_loss_step": (loss_steps, np.ones(len(loss_steps))), "epoch": (steps, epoch)})
    assert run.epochs.starts.tolist() == [49] + [per * k for k in range(1, n)]
    assert "exact" in run.epochs.detail
    # without epoch-end writes the boundary is only known to the logging interval, and says so
    bare = from_arrays("r", {"epoch": (loss_steps, [s // per for s in loss_steps])})
    assert np.all(np.abs(bare.epochs.starts[1:] - per * np.arange(1, len(bare.epochs.starts))) < 50)
    assert "±" in bare.epochs.detail


def test_hf_progress_ending_on_a_whole_epoch_opens_no_new_epoch():
    s = np.arange(50, 1501, 50)  # 3 epochs of 500 steps; the last value is exactly 3.0
    run = from_arrays("r", {"loss": (s, np.ones(len(s))), "epoch": (s, np.round(s / 500, 2))})
    assert run.epochs.count == 3 and run.epochs.starts.tolist() == [50, 500, 1000]


def test_hf_train_epoch_in_event_files(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    from loganalyze.align import align_runs
    from loganalyze.ingest import load

    w = SummaryWriter(str(tmp_path / "runs" / "Feb02_17-16-21_host"))  # HF's TensorBoardCallback layout
    for step in range(10, 1210, 10):
        w.add_scalar("train/loss", 2.0 - step / 1000, step)
        w.add_scalar("train/learning_rate", 5e-5, step)
        w.add_scalar("train/epoch", round(step / 300, 2), step)
    w.close()
    (run,) = align_runs(load([tmp_path]).runs)
    assert run.roles.epoch == "train/epoch" and run.roles.train_loss == "train/loss"
    assert run.epochs.provenance == "epoch_tag" and run.epochs.starts.tolist() == [10, 300, 600, 900]


def test_hf_epoch_from_real_event_files_and_trainer_state(realworld_dev, realworld):
    from loganalyze.align import align_runs
    from loganalyze.ingest import load

    (tb,) = align_runs(load([realworld_dev / "data" / "20_hf_tb_translation_epoch_drops"]).runs)
    assert tb.roles.epoch == "train/epoch" and tb.epochs.provenance == "epoch_tag"
    assert tb.epochs.count == 3 and abs(int(tb.epochs.starts[1]) - 5912) <= 500  # logged every 500 steps
    # a `predict_*` row without a step no longer drags the epoch series back to row numbers
    (hf,) = align_runs(load([realworld / "33_hf_trainer_state_cpt_summarization"]).runs)
    assert hf.epochs.count == 10 and np.all(np.abs(np.diff(hf.epochs.starts)[1:] - 549) <= 1)


def keras(train_epoch_loss=True, every=1):
    n, spe = 12, 5
    epochs = np.arange(0, n, every)
    curves = {"validation/epoch_loss": (epochs, 1.0 / (epochs + 1)),
              "validation/evaluation_loss_vs_iterations": ((epochs + 1) * spe, 1.0 / (epochs + 1))}
    if train_epoch_loss:
        curves["train/epoch_loss"] = (np.arange(n), np.linspace(1, 0.5, n))
    else:
        it = np.arange(n * spe)
        curves["train/batch_loss"] = (it, np.linspace(1, 0.5, len(it)))
    return curves


def test_keras_evaluation_vs_iterations_gives_iterations_per_epoch():
    run = from_arrays("r", keras())
    assert run.epochs.provenance == "epoch_tag" and run.epochs.count == 12  # the train loss is per epoch
    assert "one epoch is 5 iterations" in run.epochs.detail
    sparse = from_arrays("r", keras(every=3))  # validation_freq=3: evaluations after epochs 1, 4, 7, 10
    assert "one epoch is 5 iterations" in sparse.epochs.detail
    per_iteration = from_arrays("r", keras(train_epoch_loss=False), Config(roles={"train_loss": "train/batch_loss"}))
    assert per_iteration.epochs.provenance == "eval_iterations"
    assert per_iteration.epochs.starts.tolist() == [0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55]


@pytest.mark.parametrize("name, spe", [("01_keras_tf2_rms10_spiky_val", 5), ("05_keras_tf2_mnist_tutorial", 1500)])
def test_keras_iterations_per_epoch_on_real_logs(realworld, name, spe):
    from loganalyze.align import align_runs
    from loganalyze.ingest import load

    (run,) = align_runs(load([realworld / name]).runs)
    assert f"one epoch is {spe} iterations" in run.epochs.detail  # labels.json: steps_per_epoch


def test_epoch_lengths_match_the_labels_of_real_logs(realworld):
    """Every real log whose labels give steps_per_epoch from its own epoch series: the axis agrees."""
    import json

    from loganalyze.align import align_runs
    from loganalyze.ingest import load

    labels = {r["dir"]: r for r in json.loads((realworld / "labels.json").read_text())["runs"]}
    checked = 0
    for name, lab in sorted(labels.items()):
        spe = lab.get("steps_per_epoch")
        note = lab["steps_per_epoch_note"]
        if not spe or ("epoch tag" not in note and "epoch/step" not in note):
            continue
        (run,) = align_runs(load([realworld / name]).runs)
        lengths = np.diff(run.epochs.starts)[1:]
        # 14_lightning_tb_medical_small: validation every 2 epochs at 217, 435, 653 says 109 steps, not 106
        expected = 109 if name.startswith("14_") else spe
        assert int(np.median(lengths)) == expected, (name, run.epochs.detail)
        checked += 1
    assert checked == 13


def test_validation_on_its_own_counter_gives_no_evals_per_epoch(realworld_dev):
    from loganalyze.align import align_runs
    from loganalyze.ingest import load

    (run,) = align_runs(load([realworld_dev / "data" / "42_lightning_csv_long_late_destabilisation"]).runs)
    # val_loss_step counts validation batches on its own counter (0..46586 against 294 epochs of training):
    # the validation loss is val_loss_epoch, on training's axis, once per epoch
    assert run.series["val_loss_step"].step.min() == 0
    assert run.roles.val_loss == "val_loss_epoch" and run.roles.train_loss == "train_loss_step"
    assert run.epochs.count == 294 and run.epochs.evals_per_epoch == 1


def test_per_batch_validation_on_its_own_counter_is_not_the_validation_loss():
    train = (np.arange(100, 2001, 10), np.linspace(2.0, 0.5, 191))
    curves = {"train_loss": train,
              "val_loss_step": (np.arange(0, 400), np.full(400, 1.0)),  # 20 batches × 20 passes, own counter
              "val_loss_epoch": (np.arange(199, 2001, 200), np.linspace(1.5, 0.8, 10))}
    assert from_arrays("r", curves).roles.val_loss == "val_loss_epoch"
    del curves["val_loss_epoch"]  # alone, it is still the only validation loss there is
    assert from_arrays("r", curves).roles.val_loss == "val_loss_step"


@pytest.mark.parametrize("tag", ["lr", "learning_rate", "lr-AdamW", "lr_0", "lr/pg0", "x/lr0",
                                 "train/learning_rate", "optimizer/lr", "Learning_Rate"])
def test_the_learning_rate_under_its_common_names(tag):
    s = np.arange(100)
    run = from_arrays("r", {"train/loss": (s, np.exp(-s / 50)), tag: (s, np.full(100, 1e-3))})
    assert run.roles.lr == tag


@pytest.mark.parametrize("tag", ["flr", "lrf", "train/loss", "clr_weight"])
def test_names_that_only_look_like_a_learning_rate(tag):
    s = np.arange(100)
    run = from_arrays("r", {"train/loss": (s, np.exp(-s / 50)), tag: (s, np.full(100, 1e-3))})
    assert run.roles.lr is None
