"""The reference trainer: a tiny real CPU run writes the logs real code writes."""
from __future__ import annotations

import csv

import numpy as np
import pytest
from click.testing import CliRunner

from loganalyze.cli import cli
from loganalyze.ingest import load
from loganalyze.trainer import cli as train_cli
from loganalyze.trainer.catalog import CPU_SECONDS, FIXES, SCENARIOS

needs_torch = pytest.mark.skipif(not train_cli._torch_available(), reason="the train extra (torch) is not installed")


def train(*args):
    result = CliRunner().invoke(cli, ["train", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@needs_torch
def test_a_tiny_scenario_writes_events_and_csv(tmp_path):
    train("healthy_mlp", "--out", str(tmp_path), "--epochs", "2", "--scale", "0.1", "--device", "cpu")
    (run,) = load([tmp_path / "healthy_mlp"]).runs[:1]
    s = run.series
    assert {"train/loss", "train/acc", "val/loss", "val/acc", "lr", "grad_norm", "epoch"} <= set(s)
    steps_per_epoch = int(np.ceil(round(6400 * 0.1) / 64))
    assert s["train/loss"].points == 2 * steps_per_epoch
    assert s["epoch"].value.tolist() == [0] * steps_per_epoch + [1] * steps_per_epoch
    assert s["val/loss"].step.tolist() == [steps_per_epoch - 1, 2 * steps_per_epoch - 1]  # one evaluation per epoch
    assert np.isfinite(s["train/loss"].value).all() and s["lr"].value == pytest.approx(1e-3)
    assert run.hparams.get("lr") == pytest.approx(1e-3) and run.hparams.get("device") == "cpu"
    with open(tmp_path / "healthy_mlp" / "csv" / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0].keys() >= {"epoch", "step", "train/loss", "val/loss"}
    assert [float(r["train/loss"]) for r in rows if r["train/loss"]] == pytest.approx(s["train/loss"].value.tolist())


@needs_torch
def test_same_seed_same_logs_other_seed_other_logs(tmp_path):
    def losses(out, seed):
        train("lr_sane", "--out", str(out), "--epochs", "1", "--scale", "0.05", "--seed", str(seed),
              "--device", "cpu", "--no-csv")
        return load([out / "lr_sane"]).runs[0].series["train/loss"].value
    a, b, c = losses(tmp_path / "a", 3), losses(tmp_path / "b", 3), losses(tmp_path / "c", 4)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@needs_torch
@pytest.mark.parametrize("epochs", [pytest.param(10, marks=pytest.mark.slow), 2])  # 10 epochs: ~18 s
def test_resume_rewinds_the_step_in_a_second_event_file(tmp_path, epochs):
    train("resume", "--out", str(tmp_path), "--scale", "0.1", "--epochs", str(epochs), "--device", "cpu", "--no-csv")
    files = sorted((tmp_path / "resume").glob("events.out.tfevents.*"))
    assert len(files) == 2
    (rewind,) = [p for p in load([tmp_path / "resume"]).runs[0].problems if p.kind == "step_rewind"]
    steps_per_epoch = int(np.ceil(round(3200 * 0.1) / 64))
    crash_epoch = epochs // 2
    assert rewind.data["to_step"] == crash_epoch * steps_per_epoch  # back to the last epoch-end checkpoint
    assert rewind.data["from_step"] == crash_epoch * steps_per_epoch + steps_per_epoch * 3 // 5 - 1


def test_list_names_every_scenario_with_its_cpu_time_and_the_fix_pairs():
    r = CliRunner().invoke(cli, ["train", "--list"])
    assert r.exit_code == 0
    table, _, pairs = r.output.partition("\n\n")
    rows = table.splitlines()[1:]
    assert [line.split()[0] for line in rows] == list(SCENARIOS)
    assert [float(line.split()[1]) for line in rows] == [round(CPU_SECONDS[n]) for n in SCENARIOS]
    assert "lstm_regression -> lstm_regression_clip  (gradient-norm clipping)" in pairs
    listed = {tuple(line.split()[:3:2]) for line in pairs.splitlines()[1:]}
    assert listed == {(bug, twin) for bug, twins in FIXES.items() for twin in twins}


def test_without_torch_it_says_how_to_install_and_exits_2(tmp_path, monkeypatch):
    monkeypatch.setattr(train_cli, "_torch_available", lambda: False)
    r = CliRunner().invoke(cli, ["train", "healthy_mlp", "--out", str(tmp_path)])
    assert r.exit_code == 2
    assert "pip install 'loganalyze[train]'" in r.output


@needs_torch
def test_unknown_scenario_is_a_usage_error(tmp_path):
    r = CliRunner().invoke(cli, ["train", "no_such", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "unknown scenario" in r.output


@needs_torch
def test_device_cuda_without_a_gpu_says_so_and_exits_2(tmp_path):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    r = CliRunner().invoke(cli, ["train", "healthy_mlp", "--out", str(tmp_path), "--device", "cuda"])
    assert r.exit_code == 2
    assert "--device cuda: no CUDA device" in r.output and "--device cpu" in r.output
    assert not (tmp_path / "healthy_mlp").exists()  # nothing half-written


@needs_torch
def test_a_terminal_sees_each_epoch_with_its_loss_and_time_a_pipe_nothing(tmp_path):
    import os
    import pty
    import re
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "loganalyze", "train", "healthy_mlp", "--out", str(tmp_path), "--epochs", "3",
           "--scale", "0.2", "--device", "cpu", "--no-csv"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    leader, follower = pty.openpty()
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=follower, env=env) as p:
        os.close(follower)
        out = p.stdout.read().decode()
        err = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            err += chunk
    os.close(leader)
    assert p.returncode == 0, err
    text = err.decode()
    assert "healthy_mlp: training on cpu (about" in text
    shown = re.findall(r"(\d)/3 epochs of healthy_mlp \(loss ([\d.e+-]+), ([\d.]+) s/epoch\)", text)
    assert shown and shown[-1][0] == "3" and all(float(loss) > 0 for _, loss, _ in shown), text
    assert "epochs of" not in out  # stdout carries the one summary line only
    piped = CliRunner().invoke(cli, cmd[3:], catch_exceptions=False)  # stderr is no terminal here
    assert piped.exit_code == 0 and "epochs of" not in piped.output
