"""The scenarios: each a real model on generated data whose training shows one phenomenon.

Every phenomenon comes from its mechanism (memorization, a too-high LR, a log of a negative
number, a bug in the loop) — nothing here shapes a curve. Sizes are the test size at
`--scale 1`; `--scale` multiplies the data, `--epochs` overrides the epoch count.
"""
from __future__ import annotations

import math
import time
from typing import Callable

import torch
from torch import nn
from torch.utils.data import TensorDataset

from .catalog import SCENARIOS
from .core import (Context, Crash, Plan, accuracy, binary_accuracy, fit, hit_rate, load_checkpoint, mlp,
                   save_checkpoint, seed_everything, teacher_classification)
from .runlog import RunLog, clear_run_dir

REGISTRY: dict[str, Callable[[Context, RunLog], None]] = {}


def scenario(fn: Callable[[Context], Plan]) -> Callable[[Context], Plan]:
    """Register a scenario that is one ordinary `fit` of the plan it returns."""
    def run(ctx: Context, log: RunLog) -> None:
        plan = fn(ctx)
        log.hparams(dict(plan.hparams), ("val/loss",))
        fit(plan, ctx, log)
    REGISTRY[fn.__name__] = run
    return fn


def run_scenario(name: str, ctx: Context) -> float:
    """Train scenario `name` into `ctx.run_dir`; returns the wall time it took."""
    if name not in REGISTRY:
        raise KeyError(name)
    t0 = time.perf_counter()
    if ctx.device.type == "cpu":
        torch.set_num_threads(ctx.threads)
    seed_everything(ctx.seed, ctx.device)
    clear_run_dir(ctx.run_dir)
    log = RunLog(ctx.run_dir, write_csv=ctx.csv)
    try:
        REGISTRY[name](ctx, log)
    finally:
        log.close()
    return time.perf_counter() - t0


def _hp(ctx: Context, **kw) -> dict:
    return {"seed": ctx.seed, "scale": ctx.scale, "device": ctx.device.type, "amp": ctx.amp, **kw}


# ---- 1. memorization ----------------------------------------------------------------------------

class TextClassifier(nn.Module):
    """Embedding -> LSTM -> linear head on the last hidden state."""

    def __init__(self, vocab: int, emb: int, hidden: int, classes: int):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb)
        self.lstm = nn.LSTM(emb, hidden, batch_first=True)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x):
        h, _ = self.lstm(self.emb(x))
        return self.head(h[:, -1])


def token_data(n: int, vocab: int, seq_len: int, classes: int, gen: torch.Generator,
               keyword: bool) -> TensorDataset:
    """Random token sequences. keyword=False: a random label per sample (nothing to learn but the
    samples themselves). keyword=True: the label's keyword token sits at a random position."""
    x = torch.randint(classes, vocab, (n, seq_len), generator=gen)
    y = torch.randint(0, classes, (n,), generator=gen)
    if keyword:
        pos = torch.randint(0, seq_len, (n,), generator=gen)
        x[torch.arange(n), pos] = y
    return TensorDataset(x, y)


def _text_plan(ctx: Context, classes: int, keyword: bool, emb: int, hidden: int) -> Plan:
    vocab, seq_len = 5000, 16
    train = token_data(ctx.n(2000), vocab, seq_len, classes, ctx.generator(1), keyword=keyword)
    val = token_data(ctx.n(500), vocab, seq_len, classes, ctx.generator(2), keyword=keyword)
    model = TextClassifier(vocab, emb, hidden, classes)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    return Plan(model, opt, nn.functional.cross_entropy, train, val, batch_size=32,
                epochs=ctx.n_epochs(10), metrics={"acc": accuracy},
                hparams=_hp(ctx, model=f"emb{emb}-lstm{hidden}", classes=classes, lr=1e-3, optimizer="adam"))


@scenario
def memorization(ctx: Context) -> Plan:
    """Random labels over 1000 classes and a model big enough to memorize each sample (256-wide:
    as clear a saw-tooth as 512, at a quarter of the CPU time)."""
    return _text_plan(ctx, classes=1000, keyword=False, emb=256, hidden=256)


@scenario
def memorization_rightsized(ctx: Context) -> Plan:
    """Labels carried by a keyword token, 20 classes, a model sized to the task."""
    return _text_plan(ctx, classes=20, keyword=True, emb=32, hidden=64)


# ---- 2. GRU next-item prediction ---------------------------------------------------------------

class NextItemGRU(nn.Module):
    def __init__(self, items: int, emb: int, hidden: int):
        super().__init__()
        self.emb = nn.Embedding(items, emb)
        self.gru = nn.GRU(emb, hidden, batch_first=True)
        self.head = nn.Linear(hidden, items)

    def forward(self, x):
        h, _ = self.gru(self.emb(x))
        return self.head(h[:, -1])


def sessions(n: int, items: int, gen: torch.Generator, window: int = 10) -> TensorDataset:
    """Sessions from a sparse Markov chain (each item has 3 likely successors, 15% random jumps);
    the sample is the last `window` items, the target the next one."""
    tg = torch.Generator().manual_seed(777)
    succ = torch.randint(0, items, (items, 3), generator=tg)
    probs = torch.tensor([0.55, 0.3, 0.15])
    seq = torch.empty(n, window + 1, dtype=torch.long)
    seq[:, 0] = torch.randint(0, items, (n,), generator=gen)
    for t in range(1, window + 1):
        choice = torch.multinomial(probs, n, replacement=True, generator=gen)
        nxt = succ[seq[:, t - 1], choice]
        jump = torch.rand(n, generator=gen) < 0.15
        seq[:, t] = torch.where(jump, torch.randint(0, items, (n,), generator=gen), nxt)
    return TensorDataset(seq[:, :-1], seq[:, -1])


@scenario
def gru_next_item(ctx: Context) -> Plan:
    items = 400
    train = sessions(ctx.n(8000), items, ctx.generator(1))
    val = sessions(ctx.n(2000), items, ctx.generator(2))
    model = NextItemGRU(items, 64, 128)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    return Plan(model, opt, nn.functional.cross_entropy, train, val, batch_size=64,
                epochs=ctx.n_epochs(6), metrics={"HR@10": hit_rate(10)}, evals_per_epoch=4,
                hparams=_hp(ctx, model="gru128", items=items, lr=0.01, optimizer="adam"))


# ---- 3. learning rate too high / sane -------------------------------------------------------------

def _lr_plan(ctx: Context, lr: float) -> Plan:
    train = teacher_classification(ctx.n(8000), 20, 5, ctx.generator(1))
    val = teacher_classification(ctx.n(800), 20, 5, ctx.generator(2))
    model = mlp(20, 128, 5, depth=2)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    return Plan(model, opt, nn.functional.cross_entropy, train, val, batch_size=64,
                epochs=ctx.n_epochs(6), metrics={"acc": accuracy},
                hparams=_hp(ctx, model="mlp128x2", lr=lr, optimizer="sgd", momentum=0.9))


@scenario
def lr_too_high(ctx: Context) -> Plan:
    plan = _lr_plan(ctx, lr=0.6)
    plan.epochs = ctx.n_epochs(12)  # long enough to see where it ends up after the collapse
    return plan


@scenario
def lr_sane(ctx: Context) -> Plan:
    return _lr_plan(ctx, lr=0.05)


# ---- 4. unnormalized inputs ------------------------------------------------------------------------

def _features_plan(ctx: Context, normalize: bool, top: float = 3.5) -> Plan:
    """Features on scales 1e-3 .. 10**top. At 1e4 the first updates overflow to NaN at 3 of seeds 0-4
    (a different finding); at 10**3.5 they kill the ReLUs instead and the network sits at the prior."""
    base_tr = teacher_classification(ctx.n(3200), 20, 5, ctx.generator(1))
    base_va = teacher_classification(ctx.n(800), 20, 5, ctx.generator(2))
    scales = torch.logspace(-3, top, 20)
    x_tr, x_va = base_tr.tensors[0] * scales + scales, base_va.tensors[0] * scales + scales
    if normalize:  # the fix: standardize with the training set's statistics
        mean, std = x_tr.mean(0), x_tr.std(0)
        x_tr, x_va = (x_tr - mean) / std, (x_va - mean) / std
    model = mlp(20, 128, 5, depth=2)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    return Plan(model, opt, nn.functional.cross_entropy, TensorDataset(x_tr, base_tr.tensors[1]),
                TensorDataset(x_va, base_va.tensors[1]), batch_size=64,
                epochs=ctx.n_epochs(10), metrics={"acc": accuracy},
                hparams=_hp(ctx, model="mlp128x2", lr=1e-3, optimizer="sgd", normalized=normalize))


@scenario
def unnormalized_inputs(ctx: Context) -> Plan:
    return _features_plan(ctx, normalize=False)


@scenario
def normalized_inputs(ctx: Context) -> Plan:
    return _features_plan(ctx, normalize=True)


# ---- 5. hand-written BCE ---------------------------------------------------------------------------

def handwritten_bce(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The textbook formula applied to the raw network output — log of a number outside (0, 1) is NaN."""
    p = p.squeeze(-1)
    return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()


def _binary_plan(ctx: Context, logits_loss: bool) -> Plan:
    base_tr = teacher_classification(ctx.n(3200), 20, 2, ctx.generator(1))
    base_va = teacher_classification(ctx.n(800), 20, 2, ctx.generator(2))
    train = TensorDataset(base_tr.tensors[0], base_tr.tensors[1].float())
    val = TensorDataset(base_va.tensors[0], base_va.tensors[1].float())
    model = mlp(20, 64, 1, depth=2)
    if not logits_loss:
        # the author starts the output at the base rate, so the first steps are fine
        with torch.no_grad():
            model[-1].weight.mul_(0.01)
            model[-1].bias.fill_(0.5)
        loss_fn, metric = handwritten_bce, binary_accuracy(0.5)
    else:
        def loss_fn(out, y):
            return nn.functional.binary_cross_entropy_with_logits(out.squeeze(-1), y)
        metric = binary_accuracy(0.0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    return Plan(model, opt, loss_fn, train, val, batch_size=64, epochs=ctx.n_epochs(10),
                metrics={"acc": metric},
                hparams=_hp(ctx, model="mlp64x2", lr=1e-3, loss="BCEWithLogitsLoss" if logits_loss else "handwritten"))


@scenario
def bce_nan(ctx: Context) -> Plan:
    return _binary_plan(ctx, logits_loss=False)


@scenario
def bce_logits(ctx: Context) -> Plan:
    return _binary_plan(ctx, logits_loss=True)


# ---- 6. LSTM regression ---------------------------------------------------------------------------

class SeqRegressor(nn.Module):
    def __init__(self, hidden: int, forget_bias: float = 0.0):
        super().__init__()
        self.lstm = nn.LSTM(1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)
        if forget_bias:  # the usual long-memory init: the forget gate starts open, so early inputs reach the end
            with torch.no_grad():
                self.lstm.bias_hh_l0[hidden:2 * hidden].fill_(forget_bias)

    def forward(self, x):
        h, _ = self.lstm(x.unsqueeze(-1))
        return self.head(h[:, -1]).squeeze(-1)


def sequence_sums(n: int, length: int, gen: torch.Generator) -> TensorDataset:
    """Noisy sequences; the target is a weighted sum of early and late values (long memory)."""
    x = torch.randn(n, length, generator=gen)
    y = 2.0 * x[:, :5].sum(1) + x[:, -5:].sum(1) + 0.1 * torch.randn(n, generator=gen)
    return TensorDataset(x, y)


def _lstm_plan(ctx: Context, clip: float | None = None, plateau: bool = False,
               warmup_cosine: bool = False, lr: float = 5e-3, length: int = 40, n: int = 2560,
               hidden: int = 64, wd: float = 1e-4, epochs: int = 10, batch: int = 32, sgd: bool = False,
               forget_bias: float = 0.0) -> Plan:
    train = sequence_sums(ctx.n(n), length, ctx.generator(1))
    val = sequence_sums(ctx.n(max(256, n // 5)), length, ctx.generator(2))
    model = SeqRegressor(hidden, forget_bias)
    epochs = ctx.n_epochs(epochs)
    wd = wd if plateau else 0.0
    opt = (torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=wd) if sgd
           else torch.optim.Adam(model.parameters(), lr=lr, weight_decay=wd))
    sched, how = None, "batch"
    if plateau:
        sched, how = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=2), "plateau"
    if warmup_cosine:
        total = epochs * math.ceil(len(train) / batch)
        warm = max(1, total // 10)

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    return Plan(model, opt, nn.functional.mse_loss, train, val, batch_size=batch, epochs=epochs,
                scheduler=sched, scheduler_step=how, clip=clip,
                hparams=_hp(ctx, model=f"lstm{hidden}", lr=lr, clip=clip or 0.0, weight_decay=wd,
                            schedule="plateau" if plateau else "warmup_cosine" if warmup_cosine else "none"))


def _bursty_lstm(ctx: Context, **kw) -> Plan:
    """Adam at lr 0.02 on 40-step sequences, forget gate opened at init so the long memory is learnable:
    while it learns, the gradient norm bursts to 80-10,000x its median (every seed of 0-4) and throws the
    loss back; clipping bounds exactly those updates."""
    return _lstm_plan(ctx, lr=2e-2, forget_bias=3.0, n=2048, **kw)


@scenario
def lstm_regression(ctx: Context) -> Plan:
    return _bursty_lstm(ctx)


@scenario
def lstm_regression_clip(ctx: Context) -> Plan:
    return _bursty_lstm(ctx, clip=1.0)


@scenario
def lstm_regression_plateau_sched(ctx: Context) -> Plan:
    return _bursty_lstm(ctx, plateau=True)


# ---- 7. loop bugs and schedules -------------------------------------------------------------------

def _mlp_plan(ctx: Context, n: int = 3200, batch: int = 64, epochs: int = 10, label_noise: float = 0.0,
              lr: float = 1e-3, **plan_kw) -> Plan:
    train = teacher_classification(ctx.n(n), 20, 5, ctx.generator(1), label_noise=label_noise)
    val = teacher_classification(ctx.n(800), 20, 5, ctx.generator(2), label_noise=label_noise)
    model = plan_kw.pop("model", None) or mlp(20, 128, 5, depth=2)
    opt = plan_kw.pop("optimizer", None) or torch.optim.Adam(model.parameters(), lr=lr)
    hp = plan_kw.pop("hp", {})
    return Plan(model, opt, nn.functional.cross_entropy, train, val, batch_size=batch,
                epochs=ctx.n_epochs(epochs), metrics={"acc": accuracy},
                hparams=_hp(ctx, lr=lr, batch_size=batch, label_noise=label_noise, **hp), **plan_kw)


@scenario
def running_mean(ctx: Context) -> Plan:
    return _mlp_plan(ctx, running_mean=True, hp={"model": "mlp128x2", "loss_logging": "running_mean"})


def _sorted_plan(ctx: Context, shuffle: bool) -> Plan:
    plan = _mlp_plan(ctx, shuffle=shuffle, hp={"model": "mlp128x2", "shuffle": shuffle})
    x, y = plan.train.tensors
    order = torch.sort(y, stable=True).indices  # the file came sorted by class
    plan.train = TensorDataset(x[order], y[order])
    return plan


@scenario
def unshuffled(ctx: Context) -> Plan:
    return _sorted_plan(ctx, shuffle=False)


@scenario
def shuffled(ctx: Context) -> Plan:
    return _sorted_plan(ctx, shuffle=True)


def _tail_plan(ctx: Context, drop_last: bool) -> Plan:
    batch = 128  # a 2-sample tail after 128-sample batches: its loss is ~8x noisier
    n = 25 * batch + 2
    plan = _mlp_plan(ctx, n=n, batch=batch, label_noise=0.2, drop_last=drop_last,
                     hp={"model": "mlp128x2", "drop_last": drop_last})
    if ctx.scale != 1:  # keep the 2-sample tail at any scale
        x, y = plan.train.tensors
        keep = (len(y) - 2) // batch * batch + 2
        plan.train = TensorDataset(x[:keep], y[:keep])
    return plan


@scenario
def small_last_batch(ctx: Context) -> Plan:
    return _tail_plan(ctx, drop_last=False)


@scenario
def drop_last(ctx: Context) -> Plan:
    return _tail_plan(ctx, drop_last=True)


def _eval_plan(ctx: Context, restore: bool) -> Plan:
    model = mlp(20, 256, 5, depth=2, dropout=0.5, batchnorm=True)
    return _mlp_plan(ctx, model=model, evals_per_epoch=2, restore_train_after_eval=restore,
                     hp={"model": "mlp256x2-bn-dropout0.5", "evals_per_epoch": 2, "train_mode_restored": restore})


@scenario
def eval_side_effect(ctx: Context) -> Plan:
    return _eval_plan(ctx, restore=False)


@scenario
def eval_train_restored(ctx: Context) -> Plan:
    return _eval_plan(ctx, restore=True)


@scenario
def cosine_restarts(ctx: Context) -> Plan:
    model = mlp(20, 128, 5, depth=2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    steps_per_epoch = math.ceil(ctx.n(3200) / 64)
    sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=int(steps_per_epoch * 1.5), eta_min=1e-4)
    return _mlp_plan(ctx, model=model, optimizer=opt, lr=0.1, scheduler=sched, scheduler_step="batch",
                     epochs=12, hp={"model": "mlp128x2", "schedule": "cosine_warm_restarts",
                                    "T_0": int(steps_per_epoch * 1.5)})


@scenario
def overfitting(ctx: Context) -> Plan:
    model = mlp(20, 512, 5, depth=3)
    return _mlp_plan(ctx, n=256, batch=32, epochs=30, label_noise=0.3, model=model,
                     hp={"model": "mlp512x3"})


def _resume(ctx: Context, log: RunLog) -> None:
    """Train, checkpoint at every epoch end, get killed mid-epoch, restart from the checkpoint.

    The restarted process opens a new SummaryWriter in the same directory, so its event file
    repeats the steps between the checkpoint and the crash — as a real resumed job does.
    """
    def make() -> Plan:
        return _mlp_plan(ctx, hp={"model": "mlp128x2", "resumed": True})

    plan = make()
    log.hparams(dict(plan.hparams), ("val/loss",))
    saved: list[bytes] = []
    plan.epochs = max(2, plan.epochs)  # a checkpoint needs one finished epoch before the crash
    steps_per_epoch = math.ceil(len(plan.train) / plan.batch_size)
    crash_epoch = plan.epochs // 2
    crash_at = crash_epoch * steps_per_epoch + steps_per_epoch * 3 // 5  # killed 60% into the middle epoch
    try:
        fit(plan, ctx, log, crash_at_step=crash_at, on_epoch_end=lambda state: saved.append(save_checkpoint(plan, state)))
    except Crash:
        pass
    log.restart()
    plan = make()
    plan.epochs = max(2, plan.epochs)
    fit(plan, ctx, log, state=load_checkpoint(plan, saved[-1], ctx.device))


REGISTRY["resume"] = _resume


# ---- 8. healthy baselines ---------------------------------------------------------------------------

def healthy_mlp_plan(ctx: Context, lr: float = 1e-3) -> Plan:
    """Twice the data and 8 epochs: at 3,200 samples and 10 epochs this MLP overfits a little at some
    seeds (validation +6% at the end), which is no baseline."""
    return _mlp_plan(ctx, n=6400, epochs=8, lr=lr, hp={"model": "mlp128x2"})


@scenario
def healthy_mlp(ctx: Context) -> Plan:
    return healthy_mlp_plan(ctx)


class SmallCNN(nn.Module):
    def __init__(self, classes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.head = nn.Linear(32, classes)

    def forward(self, x):
        return self.head(self.features(x).flatten(1))


def shapes(n: int, gen: torch.Generator, size: int = 16) -> TensorDataset:
    """16x16 noisy images of four classes: horizontal bar, vertical bar, diagonal, blob, at random places."""
    y = torch.randint(0, 4, (n,), generator=gen)
    img = 0.5 * torch.randn(n, 1, size, size, generator=gen)
    r = torch.randint(2, size - 2, (n, 2), generator=gen)
    idx = torch.arange(size)
    for i in range(n):
        a, b = int(r[i, 0]), int(r[i, 1])
        c = int(y[i])
        if c == 0:
            img[i, 0, a, :] += 1.5
        elif c == 1:
            img[i, 0, :, b] += 1.5
        elif c == 2:
            img[i, 0, idx, (idx + b) % size] += 1.5
        else:
            img[i, 0, a - 2:a + 2, b - 2:b + 2] += 1.0
    return TensorDataset(img, y)


@scenario
def healthy_cnn(ctx: Context) -> Plan:
    train = shapes(ctx.n(2560), ctx.generator(1))
    val = shapes(ctx.n(512), ctx.generator(2))
    model = SmallCNN(4)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    return Plan(model, opt, nn.functional.cross_entropy, train, val, batch_size=64,
                epochs=ctx.n_epochs(8), metrics={"acc": accuracy},
                hparams=_hp(ctx, model="cnn16-32", lr=2e-3, optimizer="adam"))


@scenario
def healthy_lstm_warmup_cosine(ctx: Context) -> Plan:
    return _lstm_plan(ctx, warmup_cosine=True, lr=5e-3)


@scenario
def healthy_step_decay(ctx: Context) -> Plan:
    model = mlp(20, 128, 5, depth=2)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.1)
    return _mlp_plan(ctx, model=model, optimizer=opt, lr=0.05, scheduler=sched, scheduler_step="epoch",
                     epochs=12, hp={"model": "mlp128x2", "schedule": "step", "step_size": 4, "gamma": 0.1})


missing = set(SCENARIOS) ^ set(REGISTRY)
if missing:  # pragma: no cover — a catalogue entry without an implementation, or the reverse
    raise RuntimeError(f"trainer catalogue and implementations disagree: {sorted(missing)}")
