"""CSV and JSON step logs as the real writers leave them; discovery of runs in a tree."""
import json
import math
import os

import numpy as np
import pytest

from loganalyze.ingest import load


def one(path):
    result = load([path])
    assert len(result.runs) == 1
    return result.runs[0]


def test_lightning_metrics_csv_sparse_columns(tmp_path):
    p = tmp_path / "metrics.csv"
    p.write_text("epoch,step,train_loss,val_loss,val_acc\n"
                 "0,49,1.5,,\n0,99,1.2,,\n0,99,,1.3,0.41\n1,149,1.0,,\n1,199,nan,,\n1,199,,1.1,0.55\n")
    run = one(p)
    assert run.series["train_loss"].step.tolist() == [49, 99, 149, 199]
    assert math.isnan(run.series["train_loss"].value[-1])
    assert run.series["val_loss"].step.tolist() == [99, 199] and run.series["val_acc"].value.tolist() == [0.41, 0.55]
    assert run.series["epoch"].value.tolist() == [0, 0, 0, 1, 1, 1]
    assert np.isnan(run.series["val_loss"].wall_time).all()


def test_csv_resumed_mid_file_follows_tensorboard_supersede(tmp_path):
    p = tmp_path / "metrics.csv"
    rows = [f"{s},{1.0 - s / 100}" for s in range(0, 8)] + [f"{s},{0.5 - s / 1000}" for s in range(5, 10)]
    p.write_text("step,loss\n" + "\n".join(rows) + "\n")
    run = one(p)
    loss = run.series["loss"]
    assert loss.step.tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert loss.value[5] == 0.5 - 5 / 1000  # the later row wins
    (rewind,) = [pr for pr in run.problems if pr.kind == "step_rewind"]
    assert (rewind.data["from_step"], rewind.data["to_step"], rewind.data["superseded_points"]) == (7, 5, 3)


def test_keras_csvlogger_one_row_per_epoch(tmp_path):
    p = tmp_path / "training.log"
    p.write_text("epoch,accuracy,loss,val_accuracy,val_loss\n0,0.5,1.2,0.48,1.3\n1,0.6,0.9,0.55,1.1\n2,0.7,inf,0.6,-inf\n")
    run = one(p)
    assert run.format == "csv" and run.series["loss"].step.tolist() == [0, 1, 2]
    assert run.series["loss"].value[-1] == math.inf and run.series["val_loss"].value[-1] == -math.inf
    assert run.series["epoch"].step.tolist() == [0, 1, 2]


def test_yolov5_results_padded_headers(tmp_path):
    p = tmp_path / "results.csv"
    p.write_text("               epoch,      train/box_loss,      metrics/mAP_0.5,\n"
                 "                   0,            0.11,           0.01,\n"
                 "                   1,            0.09,           0.05,\n")
    run = one(p)
    assert set(run.series) == {"epoch", "train/box_loss", "metrics/mAP_0.5"}
    assert run.series["train/box_loss"].value.tolist() == [0.11, 0.09]


@pytest.mark.parametrize("delim", ["\t", ";", ","])
def test_generic_step_csv_with_sniffed_delimiter(tmp_path, delim):
    p = tmp_path / ("log.tsv" if delim == "\t" else "log.csv")
    rows = ["step,loss,lr"] + [f"{i},{1 / (i + 1)},0.001" for i in range(10)]
    p.write_text("\n".join(r.replace(",", delim) for r in rows) + "\n")
    run = one(p)
    assert run.series["loss"].points == 10 and run.series["lr"].value[0] == 0.001


def test_header_only_ragged_rows_and_text_cells_are_reported(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "metrics.csv").write_text("step,loss\n")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "metrics.csv").write_text("step,loss,note\n1,0.5,ok\n2,0.4\n3,0.3,fine,extra\n4,oops,x\n")
    runs = {r.name: r for r in load([tmp_path]).runs}
    assert [p.kind for p in runs["a/metrics.csv"].problems] == ["empty_file"]
    b = runs["b/metrics.csv"]
    assert b.series["loss"].step.tolist() == [1, 2, 3]  # every valid cell survives
    kinds = {p.kind: p for p in b.problems}
    assert kinds["ragged_row"].data["lines"] == [3, 4]
    assert kinds["bad_value"].data["lines"] == [5] and kinds["non_numeric_column"].data["column"] == "note"


def test_hf_trainer_state(tmp_path):
    state = {"global_step": 30, "train_batch_size": 8, "num_train_epochs": 3, "log_history": [
        {"epoch": 0.33, "step": 10, "loss": 2.0, "learning_rate": 5e-5, "grad_norm": 3.1},
        {"epoch": 0.67, "step": 20, "loss": 1.5, "learning_rate": 4e-5, "grad_norm": 2.0},
        {"epoch": 0.67, "step": 20, "eval_loss": 1.7, "eval_runtime": 3.2},
        {"epoch": 1.0, "step": 30, "train_runtime": 100.0, "train_loss": 1.8}]}
    p = tmp_path / "trainer_state.json"
    p.write_text(json.dumps(state))
    run = one(p)
    assert run.series["loss"].step.tolist() == [10, 20] and run.series["eval_loss"].step.tolist() == [20]
    assert run.series["epoch"].value.tolist() == [0.33, 0.67, 0.67, 1.0]
    assert run.hparams["train_batch_size"] == 8


def test_detectron2_json_lines_with_a_bad_line(tmp_path):
    p = tmp_path / "metrics.json"
    p.write_text('{"iteration": 19, "total_loss": 2.1, "lr": 0.01, "nested": {"a": 1}}\n'
                 '{"iteration": 39, "total_loss": 1.9, "lr": 0.01}\n'
                 '{"iteration": 59, "total_loss": \n'
                 '{"iteration": 79, "total_loss": NaN, "lr": 0.01}\n')
    run = one(p)
    assert run.series["total_loss"].step.tolist() == [19, 39, 79] and math.isnan(run.series["total_loss"].value[-1])
    assert run.series["nested/a"].points == 1
    assert [(pr.kind, pr.data["lines"]) for pr in run.problems] == [("parse_error", [3])]


def test_discovery_names_runs_like_tensorboard_and_survives_loops(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    for name in ("exp1", "exp2/train", "exp2/validation"):
        w = SummaryWriter(str(tmp_path / name))
        w.add_scalar("loss", 1.0, 0)
        w.close()
    (tmp_path / "exp3").mkdir()
    (tmp_path / "exp3" / "metrics.csv").write_text("step,loss\n0,1\n")
    (tmp_path / "exp3" / "model.ckpt").write_bytes(b"\0" * 10)
    (tmp_path / "exp3" / "notes.weird").write_text("?")
    os.symlink(tmp_path, tmp_path / "exp3" / "loop")
    result = load([tmp_path])
    names = [r.name for r in result.runs]
    assert names == ["exp1", "exp2/train", "exp2/validation", "exp3/metrics.csv"]
    kinds = sorted(p.kind for p in result.problems)
    assert "symlink_loop" in kinds and "unknown_file" in kinds
    unknown = next(p for p in result.problems if p.kind == "unknown_file")
    assert unknown.data["count"] == 1  # the checkpoint is skipped silently, the odd file is reported

    two = load([tmp_path / "exp1", tmp_path / "exp3" / "metrics.csv"])
    assert [r.name for r in two.runs] == [os.path.normpath(str(tmp_path / "exp1")),
                                          os.path.normpath(str(tmp_path / "exp3" / "metrics.csv"))]


def test_missing_path_is_a_problem_not_a_crash(tmp_path):
    result = load([tmp_path / "nope"])
    assert result.runs == () and result.problems[0].kind == "not_found"
