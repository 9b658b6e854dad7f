"""Mixed precision in the reference trainer: a resumed run goes on with its GradScaler's loss scale.

There is no GPU here, so this runs the same code path on the CPU: float16 autocast with an enabled
`torch.amp.GradScaler("cpu")` (`Plan.fp16`), which is what `--amp` does on CUDA. The scale starts
far too high (2**30), so the first steps overflow and are skipped while the scaler backs off: a run
that restarted its scale after a resume would skip those steps again and train differently.
"""
from __future__ import annotations

import math

import pytest

from loganalyze.trainer import cli as train_cli

pytestmark = pytest.mark.skipif(not train_cli._torch_available(), reason="the train extra (torch) is not installed")


def _setup(tmp_path, name):
    import torch
    from torch import nn

    from loganalyze.trainer.core import Context, Plan, accuracy, mlp, seed_everything, teacher_classification
    from loganalyze.trainer.runlog import RunLog

    ctx = Context(tmp_path / name, torch.device("cpu"), seed=0, csv=True)
    torch.set_num_threads(ctx.threads)  # as run_scenario does
    seed_everything(0, ctx.device)
    model = mlp(20, 32, 5, depth=2)
    plan = Plan(model, torch.optim.SGD(model.parameters(), lr=0.05), nn.functional.cross_entropy,
                teacher_classification(800, 20, 5, ctx.generator(1)), teacher_classification(200, 20, 5, ctx.generator(2)),
                batch_size=32, epochs=3, metrics={"acc": accuracy}, fp16=True,
                scaler_init_scale=2.0 ** 30, scaler_growth_interval=10_000)
    return ctx, plan, RunLog(ctx.run_dir, write_csv=True)


def _losses(log) -> dict[int, float]:
    return {r["step"]: r["train/loss"] for r in log.rows if "train/loss" in r}


def _resume(tmp_path, name, keep_scaler: bool):
    from loganalyze.trainer.core import Crash, fit, load_checkpoint, save_checkpoint

    ctx, plan, log = _setup(tmp_path, name)
    saved = []
    with pytest.raises(Crash):
        fit(plan, ctx, log, crash_at_step=40, on_epoch_end=lambda s: saved.append(save_checkpoint(plan, s)))
    _, plan, _ = _setup(tmp_path, name + "-2")
    state = load_checkpoint(plan, saved[-1], ctx.device)
    at_checkpoint = dict(state.scaler)
    if not keep_scaler:
        state.scaler = {}
    state = fit(plan, ctx, log, state=state)
    log.close()
    return state, _losses(log), at_checkpoint


def test_the_checkpoint_carries_the_backed_off_scale_and_the_resumed_run_matches_an_uninterrupted_one(tmp_path):
    from loganalyze.trainer.core import fit

    ctx, plan, log = _setup(tmp_path, "straight")
    straight = fit(plan, ctx, log)
    log.close()
    straight_losses = _losses(log)
    skipped = [s for r in log.rows if "grad_norm" in r and not math.isfinite(r["grad_norm"]) for s in [r["step"]]]
    assert skipped[:3] == [0, 1, 2] and len(skipped) < 25  # overflowed while backing off, then trained

    resumed, losses, at_checkpoint = _resume(tmp_path, "resumed", keep_scaler=True)
    assert 0 < at_checkpoint["scale"] < 2.0 ** 30  # the checkpoint holds the backed-off scale
    assert resumed.scaler == straight.scaler
    after = sorted(s for s in losses if s >= 25)
    assert after and [losses[s] for s in after] == [straight_losses[s] for s in after]


def test_without_the_scaler_state_a_resumed_run_overflows_again_and_diverges_from_the_straight_one(tmp_path):
    """The control: the same resume with the scaler's state dropped is not the same run."""
    from loganalyze.trainer.core import fit

    ctx, plan, log = _setup(tmp_path, "straight")
    fit(plan, ctx, log)
    log.close()
    _, losses, _ = _resume(tmp_path, "fresh-scale", keep_scaler=False)
    after = sorted(s for s in losses if s >= 25)
    # (the scale itself may settle at the same power of two again; the skipped steps are what differ)
    assert [losses[s] for s in after] != [_losses(log)[s] for s in after]


def test_a_checkpoint_without_amp_restores_into_a_run_without_amp(tmp_path):
    """A float32 run's scaler is disabled: its state is empty, saved as such and ignored on load."""
    from loganalyze.trainer.core import fit, load_checkpoint, save_checkpoint

    ctx, plan, log = _setup(tmp_path, "fp32")
    plan.fp16 = False
    plan.epochs = 1
    state = fit(plan, ctx, log)
    log.close()
    assert state.scaler == {}
    _, again, _ = _setup(tmp_path, "fp32-2")
    again.fp16 = False
    restored = load_checkpoint(again, save_checkpoint(plan, state), ctx.device)
    assert (restored.epoch, restored.step, restored.scaler) == (1, 25, {})
    for a, b in zip(plan.model.state_dict().values(), again.model.state_dict().values()):
        assert a.equal(b)
