"""Every real log from ../shared/realworld is read without a crash, with its oddities reported."""
import numpy as np
import pytest

from loganalyze.engine import analyze
from loganalyze.ingest import load


def test_every_realworld_log_reads_and_analyzes(realworld):
    dirs = sorted(d for d in realworld.iterdir() if d.is_dir())
    assert len(dirs) >= 38
    report = analyze([realworld])
    assert len(report.runs) >= 38
    for rr in report.runs:
        assert not [n for n in rr.notes if "internal error" in n], (rr.run.name, rr.notes)
    assert not [p for rr in report.runs for p in rr.run.problems if p.kind == "reader_error"]


def run_of(realworld, name):
    result = load([realworld / name])
    return result.runs


def test_keras_tf2_tensors_and_simple_value_in_v2(realworld):
    runs = {r.name.rsplit("/", 1)[-1]: r for r in run_of(realworld, "01_keras_tf2_rms10_spiky_val")}
    assert runs["train"].series["epoch_loss"].points == 1000
    runs2 = {r.name.rsplit("/", 1)[-1]: r for r in run_of(realworld, "02_keras_tf2_rms1_simple_value_in_v2")}
    assert runs2["validation"].series["epoch_loss"].points == 1000


def test_tf1_truncated_record_and_restarts(realworld):
    (run,) = run_of(realworld, "08_tf1_tempo_restarts_truncated")
    kinds = [p.kind for p in run.problems]
    assert "truncated_record" in kinds and "step_rewind" in kinds
    trunc = next(p for p in run.problems if p.kind == "truncated_record")
    assert trunc.data["expected_bytes"] > trunc.data["available_bytes"]
    assert run.series["loss"].points > 1000
    assert np.all(np.diff(run.series["loss"].step) >= 0)  # later writes superseded the overlap


def test_git_lfs_pointers_named_like_event_files(realworld):
    runs = run_of(realworld, "20_hf_runs_git_lfs_pointers")
    problems = [p for r in runs for p in r.problems]
    assert len(problems) == 3 and all(p.kind == "lfs_pointer" for p in problems)
    assert "git lfs pull" in problems[0].detail


def test_nan_run_keeps_its_nans(realworld):
    (run,) = run_of(realworld, "17_torch_nan_run")
    assert run.series["loss/train/total"].nonfinite > 0
    assert run.series["loss/train/total"].points > run.series["loss/train/total"].nonfinite


def test_detectron2_both_writers_and_hf_eval(realworld):
    runs = {r.format: r for r in run_of(realworld, "15_detectron2_events_and_metricsjson_short")}
    assert runs["jsonl"].series["total_loss"].step[0] == 19
    assert set(runs["tfevents"].series) & set(runs["jsonl"].series)
    (hf,) = run_of(realworld, "29_hf_trainer_state_whisper_ja_overfit")
    assert hf.series["eval_loss"].points == 5 and hf.series["loss"].points > 100


def test_yolo_headers_are_clean(realworld):
    (run,) = run_of(realworld, "34_yolov5_results_csv")
    assert "train/box_loss" in run.series and all(t == t.strip() for t in run.series)
    assert run.series["train/box_loss"].points == 100


def test_conformance_tf2_file(realworld):
    (run,) = run_of(realworld, "conformance/orktes_go-tensorboard")
    s = run.series["my_metric"]
    assert s.step.tolist() == list(range(100))
    np.testing.assert_allclose(s.value, 0.5 * s.step)


@pytest.mark.parametrize("name, family, cause", [
    ("17_torch_nan_run", "nonfinite", None),
    ("24_lightning_csv_lstm_stuck", "plateau", None),
    ("29_hf_trainer_state_whisper_ja_overfit", "anticorrelation", "overfitting"),
    ("30_hf_trainer_state_whisper_hi_overfit", "anticorrelation", "overfitting"),
    ("35_lightning_tb_dlgn_val_explosion", "anticorrelation", "overfitting"),
    ("08_tf1_tempo_restarts_truncated", "integrity", "resumed_run"),
    ("38_hf_trainer_state_llama_epoch_staircase", "periodicity", None),
])
def test_realworld_findings(realworld, name, family, cause):
    report = analyze([realworld / name])
    found = [f for f in report.findings if f.family == family]
    assert found, [(f.rule, f.summary) for f in report.findings]
    if cause:
        assert any(f.causes and f.causes[0].cause == cause for f in found)


def test_stuck_lstm_is_pinned_at_a_chance_level(realworld):
    report = analyze([realworld / "24_lightning_csv_lstm_stuck"])
    (f,) = [f for f in report.findings if f.rule == "PL001"]
    assert f.stats["chance_level"] and f.stats["fraction_at_level"] >= 0.7
