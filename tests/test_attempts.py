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


def test_runs_appended_to_one_csv_are_split_at_the_restart(tmp_path):
    # a first run that diverges (loss x8 from step 300 on), then a second run appended to the same file
    rng = np.random.default_rng(0)
    rows = ["step,train_loss,lr"]
    for s in range(600):
        y = 2.0 * np.exp(-s / 80) + 0.1 if s < 300 else 0.8 + 0.001 * s
        rows.append(f"{s},{y * np.exp(0.03 * rng.standard_normal()):.6f},0.1")
    for s in range(40):  # the second process, a short smoke run
        rows.append(f"{s},{2.0 * np.exp(-s / 80) + 0.1:.6f},0.01")
    (tmp_path / "log.csv").write_text("\n".join(rows) + "\n")
    report = analyze([tmp_path], jobs=1)
    by_name = {rr.run.name: rr for rr in report.runs}
    assert set(by_name) == {"log.csv", "log.csv [attempt 1 of 2, superseded]"}
    assert by_name["log.csv"].run.series["train_loss"].points == 40
    first = by_name["log.csv [attempt 1 of 2, superseded]"]
    assert first.run.series["train_loss"].points == 600 and first.run.series["lr"].points == 600
    (dv,) = [f for f in first.findings if f.rule == "DV001"]
    assert 250 <= dv.stats["best_step"] <= 300


def test_detectron2_metrics_json_keeps_a_resume_and_splits_a_restart(tmp_path):
    import json

    lines = []
    for it in range(19, 1000, 20):  # run A
        lines.append({"iteration": it, "total_loss": 1.0 / (1 + it / 200), "lr": 0.02})
    for it in range(599, 1200, 20):  # A resumed from its iteration-600 checkpoint: same attempt
        lines.append({"iteration": it, "total_loss": 1.0 / (1 + it / 200), "lr": 0.02})
    for it in range(19, 400, 20):  # run B, a new training in the same output directory
        lines.append({"iteration": it, "total_loss": 1.2 / (1 + it / 100), "lr": 0.01})
    (tmp_path / "metrics.json").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    report = analyze([tmp_path], jobs=1)
    by_name = {rr.run.name: rr for rr in report.runs}
    assert set(by_name) == {"metrics.json", "metrics.json [attempt 1 of 2, superseded]"}
    a = by_name["metrics.json [attempt 1 of 2, superseded]"].run.series["total_loss"]
    assert a.points == 60 and int(a.step.max()) == 1199  # A's resume supersedes its own overlap only
    assert by_name["metrics.json"].run.series["total_loss"].points == 20


def test_export_keeps_the_superseded_attempt_as_its_own_run(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("pandas")
    import loganalyze

    run = tmp_path / "production"
    _write(run, overfitting(), ".a")
    _write(run, {"Loss/Train_Epoch": ([1], [1.08]), "Loss/Val_Epoch": ([1], [21.9])}, ".b")
    df = loganalyze.read([tmp_path])
    counts = df.groupby("run", observed=True).size().to_dict()
    assert counts == {"production": 2, "production [attempt 1 of 2, superseded]": 30}


def test_a_resume_that_replays_a_row_exactly_is_reported_as_one(tmp_path):
    # Lightning logging every 10 steps; killed at step 86, resumed from the step-72 checkpoint: step 79 is
    # trained and logged again, deterministically, with the same numbers
    rows = ["epoch,step,lr-Adam,train_acc,train_loss"]
    for s in range(9, 150, 10):
        row = f"{s // 25},{s},0.003,{0.5 + s / 400:.6f},{1.4 * np.exp(-s / 60) + 0.012345678:.9f}"
        rows.append(row)
        if s == 79:
            rows.append(row)
    (tmp_path / "metrics.csv").write_text("\n".join(rows) + "\n")
    (f,) = [f for f in analyze([tmp_path], jobs=1).runs[0].findings if f.rule == "IN002"]
    assert f.severity == "info" and f.step_range == (79, 79) and f.stats["conflicting_values"] == 0
    assert set(f.tags) == {"lr-Adam", "train_acc", "train_loss"} and f.causes[0].cause == "resumed_run"


def test_a_count_written_on_two_rows_of_a_step_is_no_duplicate(tmp_path):
    # Lightning writes `epoch` on the train row and again on the validation row of the same step
    rows = ["epoch,step,train_loss,val_loss"]
    for e in range(6):
        s = 100 * e + 99
        rows += [f"{e},{s},{1.0 / (e + 1):.6f},", f"{e},{s},,{1.2 / (e + 1):.6f}"]
    (tmp_path / "metrics.csv").write_text("\n".join(rows) + "\n")
    assert not [f for f in analyze([tmp_path], jobs=1).runs[0].findings if f.rule == "IN002"]
