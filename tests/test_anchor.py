"""A finding names the file that logged its steps: a Keras experiment's split directory, a resumed run's later file."""
from loganalyze.align import align
from loganalyze.anchor import finding_file
from loganalyze.model import Run, Series


def series(tag, lo, hi):
    return Series.from_lists(tag, list(range(lo, hi)), [1.0] * (hi - lo))


def test_a_keras_experiment_points_at_the_split_that_holds_the_tag():
    train = Run("exp/train", ("exp/train/events.a",), {"epoch_loss": series("epoch_loss", 0, 10)}, format="tfevents")
    val = Run("exp/validation", ("exp/validation/events.b",), {"epoch_loss": series("epoch_loss", 0, 10)},
              format="tfevents")
    run = align([("train/", train), ("validation/", val)], "exp")
    assert finding_file(run, ("validation/epoch_loss",), (3, 9)) == "exp/validation/events.b"
    assert finding_file(run, ("train/epoch_loss", "validation/epoch_loss"), (3, 9)) == "exp/train/events.a"


def test_a_resumed_run_points_at_the_file_that_logged_the_first_step_last():
    spans = {"loss": (("run/events.1", 0, 600), ("run/events.2", 500, 1000))}  # the second resumed at 500
    run = align([("", Run("run", ("run/events.1", "run/events.2"), {"loss": series("loss", 0, 1000)},
                          format="tfevents", tag_files=spans))], "run")
    assert finding_file(run, ("loss",), (100, 200)) == "run/events.1"
    assert finding_file(run, ("loss",), (550, 900)) == "run/events.2"  # rewritten by the second
    assert finding_file(run, ("loss",), (-5, 50)) == "run/events.1"  # overlaps only
    assert finding_file(run, ("other",), (550, 900)) is None
    one = align([("", Run("r", ("r/metrics.csv",), {"loss": series("loss", 0, 9)}, format="csv"))], "r")
    assert finding_file(one, ("loss",), (1, 2)) is None  # one file: the caller's first file is the file
