"""Several training attempts in one directory: a restart from the first step supersedes the earlier
attempt under TensorBoard's rule, and the earlier attempt is still analyzed, as a run of its own."""
import time

import numpy as np
import pytest

from loganalyze.engine import analyze
from loganalyze.ingest.rewind import restart_groups


def test_a_file_that_starts_again_from_the_first_step_is_a_new_attempt():
    spans = [{"loss": (0, 99), "val": (9, 99)}, {"loss": (0, 2)}]
    assert restart_groups(spans) == [[0], [1]]


def test_a_resume_from_a_checkpoint_stays_one_attempt():
    spans = [{"loss": (0, 99)}, {"loss": (60, 199)}, {"loss": (150, 300)}]
    assert restart_groups(spans) == [[0, 1, 2]]


def test_another_process_logging_other_tags_from_step_0_is_no_restart():
    # an evaluation job writing its own tags into the training directory
    spans = [{"train/loss": (0, 999)}, {"eval/acc": (0, 999)}]
    assert restart_groups(spans) == [[0, 1]]


def test_header_only_files_join_the_attempt_they_follow():
    spans = [{}, {"loss": (0, 50)}, {}, {"loss": (0, 10)}, {}]
    assert restart_groups(spans) == [[0, 1, 2], [3, 4]]


def _write(logdir, curves, suffix):
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(str(logdir), filename_suffix=suffix)
    for tag, (steps, values) in curves.items():
        for s, v in zip(steps, values):
            w.add_scalar(tag, float(v), int(s))
    w.close()
    time.sleep(1.1)  # the next writer's file name carries a later timestamp, as a later process's would


def overfitting(epochs=15):
    e = np.arange(1, epochs + 1)
    return {"Loss/Train_Epoch": (e, 1.2 * np.exp(-e / 2.0) + 0.003),
            "Loss/Val_Epoch": (e, 18.0 + 40 * (1 - np.exp(-(e - 1) / 3.0)))}


def test_a_short_restart_does_not_hide_the_complete_run_before_it(tmp_path):
    pytest.importorskip("torch")
    run = tmp_path / "production"
    _write(run, overfitting(), ".a")
    _write(run, {"Loss/Train_Epoch": ([1], [1.08]), "Loss/Val_Epoch": ([1], [21.9])}, ".b")
    report = analyze([tmp_path], jobs=1)
    names = [rr.run.name for rr in report.runs]
    assert names == ["production", "production [attempt 1 of 2, superseded]"]
    last, first = report.runs
    # TensorBoard's view: the restart supersedes everything; the rewind says where the rest went
    assert last.run.series["Loss/Val_Epoch"].points == 1
    (rewind,) = [f for f in last.findings if f.rule == "IN001"]
    assert "production [attempt 1 of 2, superseded]" in rewind.summary
    # the superseded attempt, analyzed on its own: validation worse after its first evaluation
    assert first.run.series["Loss/Val_Epoch"].points == 15
    (ac,) = [f for f in first.findings if f.rule == "AC001"]
    assert ac.stats["best_step"] == 1 and ac.step_range[1] == 15


def test_a_resumed_run_is_one_run(tmp_path):
    pytest.importorskip("torch")
    run = tmp_path / "resumed"
    c = overfitting(15)
    _write(run, {k: (s[:10], v[:10]) for k, (s, v) in c.items()}, ".a")
    _write(run, {k: (s[7:], v[7:]) for k, (s, v) in c.items()}, ".b")  # back to epoch 8 from a checkpoint
    report = analyze([tmp_path], jobs=1)
    assert [rr.run.name for rr in report.runs] == ["resumed"]
    assert report.runs[0].run.series["Loss/Val_Epoch"].points == 15
