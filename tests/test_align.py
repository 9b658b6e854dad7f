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
    assert "±10 steps" in run.epochs.detail


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
