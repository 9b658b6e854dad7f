"""The training loop the scenarios share, written the way ordinary PyTorch scripts are.

A scenario builds data, a model, an optimizer and a `Plan`; `fit` trains it and logs per step
(train loss/metrics, lr, grad_norm, epoch) and at each evaluation point (val loss/metrics).
The bugs some scenarios need (running-mean logging, eval mode left on, a crash) are switches
on the plan, so the buggy code path is the real one, not a drawn curve.
"""
from __future__ import annotations

import io
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from .runlog import RunLog

Metric = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class Context:
    """What the command line decided: where to write, on what device, how big, which seed."""

    run_dir: Path
    device: torch.device
    seed: int = 0
    scale: float = 1.0
    epochs: int | None = None
    amp: bool = False
    csv: bool = True
    on_epoch: Callable[[int, int, float, float], None] | None = None  # (epochs done, planned, mean loss, seconds): the CLI's progress
    threads: int = 1  # torch CPU threads: the models are too small for a second thread to pay (README)

    def n(self, base: int, minimum: int = 1) -> int:
        """A dataset size scaled by --scale."""
        return max(minimum, int(round(base * self.scale)))

    def n_epochs(self, default: int) -> int:
        return self.epochs or default

    def generator(self, offset: int = 0) -> torch.Generator:
        """A CPU generator for data synthesis, independent of the model's RNG stream."""
        return torch.Generator().manual_seed(self.seed * 7919 + offset)


def seed_everything(seed: int, device: torch.device) -> None:
    """Same seed, same logged values (on CPU; cuDNN/cuBLAS kernels may still differ run to run)."""
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        # CPU kernels of these models are deterministic already; this call alone imports
        # torch._inductor, 2-5 s of a short CPU run
        torch.use_deterministic_algorithms(True, warn_only=True)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        why = ("this torch build has no CUDA support (torch " + torch.__version__ + ")" if torch.version.cuda is None
               else f"torch {torch.__version__} is built for CUDA {torch.version.cuda} but finds no usable GPU")
        raise RuntimeError(f"--device cuda: no CUDA device: {why}; use --device cpu (or auto)")
    return torch.device(name)


class Crash(Exception):
    """Raised by `fit` at `crash_at_step`, as a killed job would stop."""

    def __init__(self, step: int):
        super().__init__(f"simulated crash at step {step}")
        self.step = step


@dataclass
class Plan:
    model: nn.Module
    optimizer: torch.optim.Optimizer
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    train: Dataset
    val: Dataset | None
    batch_size: int
    epochs: int
    metrics: Mapping[str, Metric] = field(default_factory=dict)  # name -> batch mean, e.g. {"acc": accuracy}
    scheduler: Any = None
    scheduler_step: str = "batch"  # "batch", "epoch" or "plateau" (ReduceLROnPlateau on val loss)
    shuffle: bool = True
    drop_last: bool = False
    evals_per_epoch: int = 1
    clip: float | None = None
    running_mean: bool = False  # the bug: log running_loss / (i + 1), reset every epoch
    restore_train_after_eval: bool = True  # False is the bug: model.eval() stays on until next epoch
    hparams: Mapping[str, Any] = field(default_factory=dict)
    # float16 autocast + a GradScaler on any device, CPU included (ctx.amp is CUDA only): what
    # mixed precision does when a value leaves float16's range, without needing a GPU
    fp16: bool = False
    scaler_init_scale: float = 2.0 ** 16
    scaler_growth_interval: int = 2000


@dataclass
class State:
    epoch: int = 0
    step: int = 0
    history: list = field(default_factory=list)  # (epoch, step, val metrics) per evaluation
    scaler: dict = field(default_factory=dict)  # GradScaler.state_dict() at the last epoch end ({} without AMP)


def to_device(batch, device):
    return [t.to(device, non_blocking=True) for t in batch]


def _autocast(device: torch.device, amp: bool, fp16: bool):
    if fp16:
        return torch.autocast(device.type, dtype=torch.float16)
    return torch.autocast(device.type, enabled=amp)


def evaluate(plan: Plan, device: torch.device, amp: bool) -> dict[str, float]:
    """Mean loss and metrics over the validation set, weighted by batch size."""
    plan.model.eval()
    totals: dict[str, float] = {"loss": 0.0, **{k: 0.0 for k in plan.metrics}}
    count = 0
    loader = DataLoader(plan.val, batch_size=max(plan.batch_size, 256), shuffle=False)
    with torch.no_grad():
        for x, y in loader:
            x, y = to_device((x, y), device)
            with _autocast(device, amp, plan.fp16):
                out = plan.model(x)
                loss = plan.loss_fn(out.float(), y)
            n = len(y)
            totals["loss"] += float(loss) * n
            for k, fn in plan.metrics.items():
                totals[k] += float(fn(out.float(), y)) * n
            count += n
    return {k: v / max(count, 1) for k, v in totals.items()}


def fit(plan: Plan, ctx: Context, log: RunLog, state: State | None = None,
        crash_at_step: int | None = None,
        on_epoch_end: Callable[[State], None] | None = None) -> State:
    """Train `plan` from `state` (a fresh start when None), logging as it goes."""
    device, amp = ctx.device, ctx.amp and ctx.device.type == "cuda"
    state = state or State()
    model = plan.model.to(device)
    if plan.fp16:
        scaler = torch.amp.GradScaler(device.type, init_scale=plan.scaler_init_scale,
                                      growth_interval=plan.scaler_growth_interval)
    else:
        scaler = torch.amp.GradScaler("cuda", enabled=amp)
    if state.scaler:  # a resumed AMP run goes on with its loss scale instead of starting it over
        scaler.load_state_dict(state.scaler)
    params = [p for p in model.parameters() if p.requires_grad]
    loader_gen = torch.Generator()
    while state.epoch < plan.epochs:
        epoch = state.epoch
        loader_gen.manual_seed(ctx.seed * 1_000_003 + epoch)  # per-epoch order, so a resume replays it
        loader = DataLoader(plan.train, batch_size=plan.batch_size, shuffle=plan.shuffle,
                            drop_last=plan.drop_last, generator=loader_gen)
        n_batches = len(loader)
        eval_after = {max(0, round((k + 1) * n_batches / plan.evals_per_epoch) - 1)
                      for k in range(plan.evals_per_epoch)} if plan.val is not None else set()
        model.train()  # once per epoch, as most scripts do — which is what makes the eval bug bite
        running, t_epoch = 0.0, time.perf_counter()
        for i, batch in enumerate(loader):
            x, y = to_device(batch, device)
            lr = plan.optimizer.param_groups[0]["lr"]
            with _autocast(device, amp, plan.fp16):
                out = model(x)
                loss = plan.loss_fn(out.float(), y)
            plan.optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(plan.optimizer)
            grad_norm = nn.utils.clip_grad_norm_(params, plan.clip if plan.clip else math.inf)
            scaler.step(plan.optimizer)
            scaler.update()
            if plan.scheduler is not None and plan.scheduler_step == "batch":
                plan.scheduler.step()
            loss_v = float(loss.detach())
            running += loss_v
            values = {"train/loss": running / (i + 1) if plan.running_mean else loss_v}
            with torch.no_grad():
                for k, fn in plan.metrics.items():
                    values[f"train/{k}"] = float(fn(out.detach().float(), y))
            values.update({"lr": lr, "grad_norm": float(grad_norm), "epoch": epoch})
            log.log(state.step, values)
            if i in eval_after:
                result = evaluate(plan, device, amp)
                log.log(state.step, {f"val/{k}": v for k, v in result.items()})
                state.history.append((epoch, state.step, result))
                if plan.restore_train_after_eval:
                    model.train()
            state.step += 1
            if crash_at_step is not None and state.step >= crash_at_step:
                raise Crash(state.step)
        if plan.scheduler is not None and plan.scheduler_step == "epoch":
            plan.scheduler.step()
        elif plan.scheduler is not None and plan.scheduler_step == "plateau":
            plan.scheduler.step(state.history[-1][2]["loss"])
        state.epoch += 1
        state.scaler = scaler.state_dict()
        if on_epoch_end is not None:
            on_epoch_end(state)
        if ctx.on_epoch is not None:
            ctx.on_epoch(state.epoch, plan.epochs, running / max(n_batches, 1), time.perf_counter() - t_epoch)
    return state


def save_checkpoint(plan: Plan, state: State) -> bytes:
    """What a script saves at an epoch end: model, optimizer, scheduler, loop state and the AMP scaler."""
    buf = io.BytesIO()
    torch.save({"model": plan.model.state_dict(), "optimizer": plan.optimizer.state_dict(),
                "scheduler": plan.scheduler.state_dict() if plan.scheduler is not None else None,
                "epoch": state.epoch, "step": state.step, "history": state.history,
                "scaler": state.scaler}, buf)
    return buf.getvalue()


def load_checkpoint(plan: Plan, blob: bytes, device: torch.device) -> State:
    """Restore a fresh plan from `save_checkpoint`'s bytes; `fit(plan, ..., state=...)` then goes on."""
    ck = torch.load(io.BytesIO(blob), map_location=device, weights_only=True)
    plan.model.to(device)  # before the optimizer state is loaded: it follows its parameters' device
    plan.model.load_state_dict(ck["model"])
    plan.optimizer.load_state_dict(ck["optimizer"])
    if plan.scheduler is not None and ck["scheduler"] is not None:
        plan.scheduler.load_state_dict(ck["scheduler"])
    return State(ck["epoch"], ck["step"], list(ck["history"]), dict(ck["scaler"]))


# ---- data and metrics the scenarios share -------------------------------------------------------

def accuracy(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (out.argmax(-1) == y).float().mean()


def binary_accuracy(threshold: float) -> Metric:
    def acc(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return ((out.squeeze(-1) > threshold).float() == y).float().mean()
    return acc


def hit_rate(k: int) -> Metric:
    def hr(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        top = out.topk(k, dim=-1).indices
        return (top == y.unsqueeze(-1)).any(-1).float().mean()
    return hr


def teacher_classification(n: int, dim: int, classes: int, gen: torch.Generator,
                           label_noise: float = 0.0, teacher_seed: int = 12345) -> TensorDataset:
    """Gaussian inputs labelled by a fixed random 2-layer teacher net: learnable, non-linear.

    The teacher comes from `teacher_seed` alone, so train and validation sets share it.
    """
    tg = torch.Generator().manual_seed(teacher_seed)
    w1 = torch.randn(dim, 64, generator=tg) / math.sqrt(dim)
    w2 = torch.randn(64, classes, generator=tg) / 8.0
    x = torch.randn(n, dim, generator=gen)
    y = (torch.tanh(x @ w1 * 2.0) @ w2).argmax(-1)
    if label_noise > 0:
        flip = torch.rand(n, generator=gen) < label_noise
        y = torch.where(flip, torch.randint(0, classes, (n,), generator=gen), y)
    return TensorDataset(x, y)


def mlp(dim: int, hidden: int, out: int, depth: int = 2, dropout: float = 0.0, batchnorm: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    d = dim
    for _ in range(depth):
        layers.append(nn.Linear(d, hidden))
        if batchnorm:
            layers.append(nn.BatchNorm1d(hidden))
        layers.append(nn.ReLU())
        if dropout:
            layers.append(nn.Dropout(dropout))
        d = hidden
    layers.append(nn.Linear(d, out))
    return nn.Sequential(*layers)
