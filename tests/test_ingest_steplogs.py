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


def test_a_step_counted_within_each_epoch_runs_on_across_epochs(tmp_path):
    # epoch,iter,loss: iter goes 0..49 in every epoch; read as TensorBoard would, only the last epoch survived
    p = tmp_path / "log.csv"
    p.write_text("epoch,iter,loss\n" + "".join(f"{e},{i},{2.0 / (1 + e * 50 + i):.6f}\n"
                                                for e in range(10) for i in range(50)))
    run = one(p)
    assert run.series["loss"].step.tolist() == list(range(500))
    assert run.series["loss"].value[120] == pytest.approx(2.0 / 121, rel=1e-5)
    (note,) = [pr for pr in run.problems if pr.kind == "per_epoch_steps"]
    assert note.data == {"column": "iter", "restarts": 9}
    assert not [pr for pr in run.problems if pr.kind == "step_rewind"] and not run.attempts


def test_a_per_epoch_step_carries_across_read_chunks(tmp_path):
    p = tmp_path / "log.csv"  # ~9 MB: read in several chunks, epochs of 3,000 rows
    p.write_text("epoch,iter,loss,lr\n" + "".join(f"{e},{i},{1.0 + (e * 3000 + i) * 1e-6:.9f},0.001\n"
                                                    for e in range(100) for i in range(3000)))
    loss = one(p).series["loss"]
    assert loss.points == 300_000 and np.array_equal(loss.step, np.arange(300_000))


def test_a_second_run_appended_with_its_epochs_from_0_is_not_a_per_epoch_count(tmp_path):
    p = tmp_path / "log.csv"
    rows = [f"{e},{e * 50 + i},{1.0 / (1 + e)}" for e in range(4) for i in range(0, 50, 10)]
    rows += [f"{e},{e * 50 + i},{2.0 / (1 + e)}" for e in range(2) for i in range(0, 50, 10)]  # epoch back to 0
    p.write_text("epoch,step,loss\n" + "\n".join(rows) + "\n")
    run = one(p)
    assert not [pr for pr in run.problems if pr.kind == "per_epoch_steps"]
    assert len(run.attempts) == 1 and run.attempts[0].series["loss"].points == 20


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


MMDET_HEADER = {"env_info": "sys.platform: linux\nPyTorch: 1.6.0", "config": "model = dict(type='FasterRCNN')",
                "seed": 0, "exp_name": "faster_rcnn_r50_fpn_1x.py"}


def mmdet_rows():
    rows = [MMDET_HEADER]
    for epoch in (1, 2, 3):
        for it in (50, 100):
            loss = "NaN" if (epoch, it) == (3, 100) else 1.0 / (epoch * it)
            rows.append({"mode": "train", "epoch": epoch, "iter": it, "lr": 0.02, "memory": 3700, "data_time": 0.01,
                         "loss_cls": 0.5, "loss": loss, "grad_norm": 3.0, "time": 0.4})
        rows.append({"mode": "val", "epoch": epoch, "iter": 125, "lr": 0.02, "bbox_mAP": 0.1 * epoch,
                     "bbox_mAP_copypaste": "0.1 0.2 0.1 -1.000 0.0 0.1"})
    return rows


def test_mmdetection_log_json_train_and_val_apart(tmp_path):
    p = tmp_path / "20210804_053935.log.json"
    p.write_text("\n".join(json.dumps(r) for r in mmdet_rows()) + "\n")
    run = one(p)
    # global step = (epoch - 1) * N + iter with N = 100, the largest train iter; steps never go back
    assert run.series["loss"].step.tolist() == [50, 100, 150, 200, 250, 300]
    assert math.isnan(run.series["loss"].value[-1])  # the "NaN" string is kept as a non-finite value
    assert run.series["grad_norm"].points == 6 and run.series["time"].points == 6
    # val rows apart, at the end of their epoch; their text cells and own iteration counter are not series
    assert run.series["val/bbox_mAP"].step.tolist() == [100, 200, 300]
    assert run.series["val/bbox_mAP"].value.tolist() == pytest.approx([0.1, 0.2, 0.3])
    assert not {"iter", "mode", "val/iter", "val/epoch", "val/mode", "val/bbox_mAP_copypaste", "seed"} & set(run.series)
    assert run.series["epoch"].value.tolist() == [1, 1, 2, 2, 3, 3]
    assert run.hparams["exp_name"] == "faster_rcnn_r50_fpn_1x.py" and run.hparams["max_train_iter"] == 100
    assert not run.problems

    from loganalyze.align import align_runs

    (aligned,) = align_runs([run])
    assert aligned.roles.train_loss == "loss" and aligned.roles.epoch == "epoch"
    assert aligned.epochs.provenance == "epoch_tag" and aligned.epochs.starts.tolist() == [50, 150, 250]


def test_mmdetection_is_told_by_content_not_by_name(tmp_path):
    p = tmp_path / "metrics.json"  # not named *.log.json
    p.write_text("\n".join(json.dumps(r) for r in mmdet_rows()[1:]) + "\n")  # and no env_info header
    assert one(p).series["val/bbox_mAP"].step.tolist() == [100, 200, 300]
    # JSON lines where `mode` is just another key are read as generic rows
    q = tmp_path / "log.log.json"
    q.write_text("\n".join(json.dumps({"step": i, "loss": 1.0 / (i + 1), "mode": "train" if i % 3 else "x"})
                           for i in range(12)) + "\n")
    assert one(q).series["loss"].step.tolist() == list(range(12))
    # an iteration-based runner: one `epoch`, a global `iter`; a val row follows the train row before it
    r = tmp_path / "iters.log.json"
    rows = [{"mode": "train", "epoch": 1, "iter": i, "loss": 1.0 / i} for i in (100, 200)]
    rows += [{"mode": "val", "epoch": 1, "iter": 40, "bbox_mAP": 0.2}]
    rows += [{"mode": "train", "epoch": 1, "iter": i, "loss": 1.0 / i} for i in (300, 400)]
    rows += [{"mode": "val", "epoch": 1, "iter": 40, "bbox_mAP": 0.3}]
    r.write_text("\n".join(json.dumps(x) for x in rows) + "\n")
    it = one(r)
    assert it.series["loss"].step.tolist() == [100, 200, 300, 400]
    assert it.series["val/bbox_mAP"].step.tolist() == [200, 400]


def test_mmdetection_real_log(realworld_dev):
    run = one(realworld_dev / "data" / "25_mmdet_lr_x10_explodes_to_nan")
    loss = run.series["loss"]
    # the manifest's step_unit: iteration = (epoch-1)*3750 + iter (train rows)
    assert loss.step[0] == 50 and loss.step[-1] == 10 * 3750 and np.all(np.diff(loss.step) > 0)
    bad = loss.step[~np.isfinite(loss.value)]
    assert bad[0] == 5 * 3750 + 1050 and len(bad) == 355  # "NaN from epoch 6 iter 1050 to the end (355 rows)"
    assert run.series["loss_rpn_cls"].value[loss.step == 19800][0] > 1e26
    assert run.series["val/bbox_mAP"].step.tolist() == [3750 * e for e in range(1, 6)]
    from loganalyze.align import align_runs

    (aligned,) = align_runs([run])
    assert aligned.epochs.count == 10 and np.all(np.diff(aligned.epochs.starts) == 3750)
    for name, n in (("26_mmdet_retinanet_nan_from_start", 30000), ("27_mmdet_faster_rcnn_step_lr", 1600)):
        r = one(realworld_dev / "data" / name)
        assert r.hparams["max_train_iter"] == n and np.all(np.diff(r.series["loss"].step) > 0)


def test_json_lines_restart_follows_tensorboard_supersede(tmp_path):
    p = tmp_path / "metrics.json"  # detectron2 appends a restarted run to the same file
    rows = [{"iteration": i, "total_loss": 2.0 - i / 100} for i in (19, 39, 59, 79)]
    rows += [{"iteration": i, "total_loss": 1.0 - i / 1000} for i in (19, 39, 59, 79, 99)]
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    run = one(p)
    assert run.series["total_loss"].step.tolist() == [19, 39, 59, 79, 99]
    assert run.series["total_loss"].value[0] == 1.0 - 19 / 1000  # the later write wins
    (rewind,) = [pr for pr in run.problems if pr.kind == "step_rewind"]
    assert (rewind.data["from_step"], rewind.data["to_step"], rewind.data["superseded_points"]) == (79, 19, 4)


def test_hf_rows_without_a_step_take_the_step_before(tmp_path):
    state = {"log_history": [
        {"epoch": 0.91, "step": 500, "loss": 1.14},
        {"epoch": 1.0, "step": 549, "eval_loss": 0.66},
        {"epoch": 1.0, "predict_loss": 0.65},  # written by a callback, without `step`
        {"epoch": 1.82, "step": 1000, "loss": 0.64},
        {"epoch": 2.0, "step": 1098, "eval_loss": 0.55},
        {"epoch": 2.0, "predict_loss": 0.54}]}
    p = tmp_path / "trainer_state.json"
    p.write_text(json.dumps(state))
    run = one(p)
    assert run.series["predict_loss"].step.tolist() == [549, 1098]
    assert run.series["epoch"].step.tolist() == [500, 549, 549, 1000, 1098, 1098]


def test_compressed_utf16_and_cr_only_logs_read_like_plain_ones(tmp_path):
    import gzip

    text = "epoch,step,train_loss\n" + "".join(f"0,{i},{1 / (i + 1)}\n" for i in range(30))
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "metrics.csv.gz").write_bytes(gzip.compress(text.encode()))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "metrics.csv").write_bytes(text.replace("\n", "\r\n").encode("utf-16"))
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "metrics.csv").write_text(text.replace("\n", "\r"), newline="")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "log.json.gz").write_bytes(
        gzip.compress("".join(json.dumps({"step": i, "train_loss": 1 / (i + 1)}) + "\n" for i in range(30)).encode()))
    runs = {r.name: r for r in load([tmp_path]).runs}
    assert sorted(runs) == ["a/metrics.csv.gz", "b/metrics.csv", "c/metrics.csv", "d/log.json.gz"]
    for run in runs.values():
        assert run.series["train_loss"].step.tolist() == list(range(30)) and not run.problems, run.name


def test_gzip_content_under_a_plain_name_is_read_with_a_hint(tmp_path):
    import gzip

    p = tmp_path / "metrics.csv"
    p.write_bytes(gzip.compress(b"step,loss\n0,1.0\n1,0.5\n"))
    run = one(p)
    assert run.series["loss"].points == 2
    assert [(pr.kind, pr.file) for pr in run.problems] == [("misnamed_gzip", str(p))]


def test_headerless_csv_is_read_with_positional_names_and_said_so(tmp_path):
    p = tmp_path / "metrics.csv"
    p.write_text("".join(f"{i},{1 / (i + 1)},0.001\n" for i in range(10)))
    run = one(p)
    assert sorted(run.series) == ["column_1", "column_2", "column_3"]
    assert run.series["column_2"].value[0] == 1.0 and run.series["column_2"].step.tolist() == list(range(10))
    (pr,) = run.problems
    assert pr.kind == "no_header" and pr.data == {"line": 1, "columns": 3}


def test_a_bad_row_is_a_problem_on_its_line_and_the_others_stay(tmp_path):
    p = tmp_path / "metrics.csv"
    rows = [f"{i},{i / 10}" for i in range(6)]
    rows[2] = f"{2 ** 63},0.2"  # line 4: a step beyond 64 bits
    rows[4] = "4," + "7" * 150_000 + "e"  # line 6: a cell over the csv module's 128 KB limit, and not a number
    p.write_text("step,loss\n" + "\n".join(rows) + "\n")
    run = one(p)
    assert run.series["loss"].step.tolist() == [0, 1, 3, 5]
    assert sorted(pr.data["lines"] for pr in run.problems if pr.kind == "bad_value") == [[4], [6]]


def test_json_lines_whose_first_line_is_broken_are_still_read(tmp_path):
    p = tmp_path / "metrics.json"
    p.write_text('[{"step": 0, "loss": \n' + "".join(json.dumps({"step": i, "loss": 1.0}) + "\n" for i in range(1, 5)))
    run = one(p)
    assert run.series["loss"].step.tolist() == [1, 2, 3, 4]
    assert [(pr.kind, pr.data["lines"]) for pr in run.problems] == [("parse_error", [1])]


def test_json_steps_are_exact_beyond_53_bits(tmp_path):
    p = tmp_path / "metrics.json"
    steps = [2 ** 53 + 1, 2 ** 62 + 3]
    p.write_text("".join(json.dumps({"step": s, "loss": 1.0}) + "\n" for s in steps))
    assert one(p).series["loss"].step.tolist() == steps


def test_special_files_in_a_tree_are_skipped_and_named(tmp_path):
    os.mkfifo(tmp_path / "events.out.tfevents.1700000000.host")
    os.symlink("/dev/zero", tmp_path / "metrics.csv")
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "metrics.csv").write_text("step,loss\n0,1\n")
    result = load([tmp_path, tmp_path / "metrics.csv"])
    assert [r.name for r in result.runs] == [f"{os.path.normpath(str(tmp_path))}/ok/metrics.csv"]
    named = sorted((p.kind, os.path.basename(p.file), p.data["file_type"]) for p in result.problems)
    assert named == [("not_regular_file", "events.out.tfevents.1700000000.host", "a FIFO (named pipe)"),
                     ("not_regular_file", "metrics.csv", "a character device"),
                     ("not_regular_file", "metrics.csv", "a character device")]


def hf_state(n: int) -> dict:
    """A trainer_state.json as the Hugging Face Trainer writes it (`json.dumps(indent=2, sort_keys=True)`)."""
    return {"best_metric": None, "global_step": 10 * n, "log_history": [
        {"epoch": i / 10, "grad_norm": 1.5, "learning_rate": 5e-5, "loss": 2.0 / (i + 1), "step": 10 * (i + 1)}
        for i in range(n)], "logging_steps": 10, "max_steps": 10 * n, "train_batch_size": 8}


def test_a_trainer_state_is_read_record_by_record_in_bounded_memory(monkeypatch):
    """No limit on a document's size: each record is parsed as its text arrives, and the text is let go."""
    import tracemalloc

    from loganalyze.ingest import jsondoc

    entry = json.dumps({"epoch": 0.5, "learning_rate": 5e-5, "loss": 0.25, "step": 10}, indent=2)
    n, piece = 64_000, 1 << 16
    read = [0]

    def pieces():  # 4.9 MB of trainer_state.json, never held whole
        text = '{\n  "global_step": 7,\n  "log_history": [\n' + ",\n".join([entry] * 64)
        for k in range(n // 64):
            for i in range(0, len(text), piece):
                read[0] += len(text[i:i + piece])
                yield text[i:i + piece]
            text = ",\n" + ",\n".join([entry] * 64)
        read[0] += 32
        yield '\n  ],\n  "train_batch_size": 8\n}'

    seen = [0]

    def add(row, index):
        assert read[0] <= (index + 1) * (len(entry) + 2) + 2 * piece  # its text, no more than two pieces ahead
        assert index == seen[0] and row["loss"] == 0.25
        seen[0] += 1

    monkeypatch.setattr(jsondoc, "COMPACT_AT", 1 << 16)
    tracemalloc.start()
    doc = jsondoc.read_document(pieces(), add, ("train_batch_size", "global_step"), "{")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert seen[0] == n and read[0] > 4_000_000
    assert peak < 1 << 20  # the text was 4.9 MB
    assert (doc.kind, doc.hparams, doc.cut, doc.damage) == ("trainer_state", {"global_step": 7, "train_batch_size": 8},
                                                            "", [])


def test_a_trainer_state_cut_at_every_offset_keeps_every_complete_entry(tmp_path):
    state = hf_state(5)
    text = json.dumps(state, indent=2, sort_keys=True)
    ends = [i + 1 for i in range(len(text)) if text.startswith("\n    }", i - 5)]  # each entry's closing brace
    assert len(ends) == 5
    p = tmp_path / "trainer_state.json"
    for cut in range(len(text) + 1):
        p.write_text(text[:cut])
        run = one(p)
        kept = sum(e <= cut for e in ends)
        loss = run.series.get("loss")
        assert (loss.step.tolist() if loss else []) == [10 * (i + 1) for i in range(kept)], cut
        assert (loss.value.tolist() if loss else []) == [2.0 / (i + 1) for i in range(kept)], cut
        if cut == len(text):
            assert not run.problems and run.hparams == {"train_batch_size": 8, "logging_steps": 10, "max_steps": 50}
        else:
            assert run.problems and all(pr.file == str(p) for pr in run.problems), cut
            if kept:
                (pr,) = run.problems
                assert pr.kind == "truncated_record" and "cut short" in pr.detail, (cut, pr)


def test_a_damaged_entry_of_a_trainer_state_loses_only_that_entry(tmp_path):
    text = json.dumps(hf_state(6), indent=2, sort_keys=True)
    bad = text.replace('"loss": 0.5,', '"loss": 0.5 "oops",', 1)  # entry 3 of 0..5
    assert bad != text
    p = tmp_path / "trainer_state.json"
    p.write_text(bad)
    run = one(p)
    assert run.series["loss"].step.tolist() == [10, 20, 30, 50, 60]
    (pr,) = run.problems
    assert pr.kind == "parse_error" and pr.file == str(p) and "log_history entry 3 does not parse" in pr.detail
    assert run.hparams["train_batch_size"] == 8


def test_a_json_document_that_is_not_a_log_is_still_tried_as_json_lines(tmp_path):
    p = tmp_path / "metrics.json"
    p.write_text("[1, 2]\n" + json.dumps({"step": 1, "loss": 0.5}) + "\n")  # a first line that looks like a document
    run = one(p)
    assert run.series["loss"].step.tolist() == [1]
    assert [pr.kind for pr in run.problems] == ["parse_error"] and run.problems[0].data["lines"] == [1]


def test_gzip_content_is_read_up_to_a_bound(tmp_path, monkeypatch):
    import gzip

    from loganalyze.ingest import _open

    p = tmp_path / "metrics.csv.gz"
    p.write_bytes(gzip.compress(("step,loss\n" + "".join(f"{i},0.5\n" for i in range(20000))).encode()))
    monkeypatch.setattr(_open, "MIN_EXPANSION_LIMIT", 50_000)
    monkeypatch.setattr(_open, "EXPANSION", 1)
    run = one(p)
    loss = run.series["loss"]
    assert 0 < loss.points < 20000 and loss.step.tolist() == list(range(loss.points)) and (loss.value == 0.5).all()
    assert [pr.kind for pr in run.problems] == ["too_large", "parse_error"]  # the line cut at the bound is dropped
    assert run.problems[0].data["limit_bytes"] == 50_000 and run.problems[1].data["lines"] == [loss.points + 2]
