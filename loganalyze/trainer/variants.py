"""The scenarios' mechanisms, parametrised: one phenomenon under many models, optimizers and sizes.

A `Spec` names a mechanism (what goes wrong, or nothing), an architecture, a seed and, where the
mechanism allows, the optimizer, learning rate, batch size, training-set size and epoch count.
`train(spec)` runs it with `core.fit` on generated data and returns a `conventions.Trace`: every
value the loop logged plus `facts`, what the mechanism did (the step the LR was raised, the step
NaN first appeared, where the crash and the resume were, the steps the GradScaler skipped).
Nothing here draws a curve: the phenomena come from training.

Architectures: `mlp` (the reference trainer's ReLU MLP), `mlp3` (3 SiLU layers), `resmlp`
(pre-norm residual MLP, LayerNorm or BatchNorm), `linear` for tabular classification and
regression (`task=regression`: a linear teacher with one badly scaled feature); `cnn`, `cnn_bn`
(with BatchNorm and dropout) on the trainer's 16x16 shapes; `lstm`, `gru`, `rnn` for sequence
regression; `emb_lstm`, `emb_gru`, `bag` (fastText-style EmbeddingBag) for token classification;
`gru_next` for next-item prediction. Tabular data sets: `t20` (the trainer's 20-feature 5-class
teacher) and `t32` (32 features, 8 classes, another teacher).

Small options this needed in the trainer itself: `Plan.fp16` (float16 autocast + GradScaler on
CPU too), everything else is built from `core` and `scenarios` as they are.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from .conventions import Recorder, Trace
from .core import (Context, Crash, Plan, State, accuracy, binary_accuracy, fit, mlp, seed_everything,
                   teacher_classification)
from .scenarios import (NextItemGRU, SmallCNN, handwritten_bce, hit_rate, sequence_sums, sessions, shapes,
                        token_data)

TABULAR = ("mlp", "resmlp", "mlp3", "linear")
IMAGE = ("cnn", "cnn_bn")
SEQUENCE = ("lstm", "gru", "rnn")
TEXT = ("emb_lstm", "emb_gru", "bag")


@dataclass(frozen=True)
class Spec:
    mechanism: str
    arch: str
    seed: int
    optimizer: str = "adam"
    lr: float | None = None
    batch: int | None = None
    n: int | None = None
    epochs: int | None = None
    evals: int = 1  # evaluations per epoch
    knobs: tuple[tuple[str, Any], ...] = ()

    def knob(self, key: str, default: Any = None) -> Any:
        return dict(self.knobs).get(key, default)


# ---- models ----------------------------------------------------------------------------------

class ResBlock(nn.Module):
    def __init__(self, width: int, norm: str, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(width) if norm == "ln" else nn.BatchNorm1d(width)
        self.fc1 = nn.Linear(width, 2 * width)
        self.fc2 = nn.Linear(2 * width, width)
        self.drop = nn.Dropout(dropout) if dropout else nn.Identity()

    def forward(self, x):
        return x + self.fc2(self.drop(nn.functional.gelu(self.fc1(self.norm(x)))))


class ResMLP(nn.Module):
    """Pre-norm residual MLP: Linear -> blocks -> norm -> Linear."""

    def __init__(self, dim: int, width: int, out: int, blocks: int = 2, norm: str = "ln", dropout: float = 0.0):
        super().__init__()
        self.inp = nn.Linear(dim, width)
        self.blocks = nn.Sequential(*[ResBlock(width, norm, dropout) for _ in range(blocks)])
        self.norm = nn.LayerNorm(width) if norm == "ln" else nn.BatchNorm1d(width)
        self.head = nn.Linear(width, out)

    def forward(self, x):
        return self.head(self.norm(self.blocks(self.inp(x))))


class CNNBN(nn.Module):
    """The small CNN with BatchNorm after each convolution and dropout before the head."""

    def __init__(self, classes: int, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(32, classes)

    def forward(self, x):
        return self.head(self.drop(self.features(x).flatten(1)))


class SeqRNN(nn.Module):
    """SeqRegressor with a choice of cell (LSTM, GRU, tanh RNN)."""

    def __init__(self, cell: str, hidden: int):
        super().__init__()
        cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell]
        self.rnn = cls(1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        h, _ = self.rnn(x.unsqueeze(-1))
        return self.head(h[:, -1]).squeeze(-1)


class TokenClassifier(nn.Module):
    def __init__(self, arch: str, vocab: int, emb: int, hidden: int, classes: int):
        super().__init__()
        self.arch = arch
        if arch == "bag":
            self.bag = nn.EmbeddingBag(vocab, emb, mode="mean")
            self.head = nn.Linear(emb, classes)
        else:
            self.emb = nn.Embedding(vocab, emb)
            self.rnn = (nn.GRU if arch == "emb_gru" else nn.LSTM)(emb, hidden, batch_first=True)
            self.head = nn.Linear(hidden, classes)

    def forward(self, x):
        if self.arch == "bag":
            return self.head(self.bag(x))
        h, _ = self.rnn(self.emb(x))
        return self.head(h[:, -1])


# ---- data ------------------------------------------------------------------------------------

# tabular classification data sets: (features, classes, teacher seed). `t20` is the reference
# trainer's; `t32` is another teacher, used by the held-out architectures (resmlp, mlp3) only
TABULAR_DATA = {"t20": (20, 5, 12345), "t32": (32, 8, 2024)}
DEFAULT_DATA = {"mlp": "t20", "linear": "t20", "resmlp": "t32", "mlp3": "t32"}


def data_name(spec: Spec) -> str:
    return spec.knob("data") or DEFAULT_DATA.get(spec.arch, "t20")


def tabular(spec: Spec, ctx: Context, n: int, n_val: int, label_noise: float = 0.0):
    dim, classes, tseed = TABULAR_DATA[data_name(spec)]
    tr = teacher_classification(n, dim, classes, ctx.generator(1), label_noise=label_noise, teacher_seed=tseed)
    va = teacher_classification(n_val, dim, classes, ctx.generator(2), label_noise=label_noise, teacher_seed=tseed)
    return tr, va, dim, classes


def scaled_regression(n: int, gen: torch.Generator, dim: int = 16, scale: float = 4.0, noise: float = 0.5,
                      teacher_seed: int = 4242) -> TensorDataset:
    """y = a fixed linear teacher plus a little tanh non-linearity plus noise; feature 0 is `scale`
    times larger than the others (a badly scaled input), so one direction of the loss is much
    sharper than the rest."""
    tg = torch.Generator().manual_seed(teacher_seed)
    w = torch.randn(dim, generator=tg)
    v = torch.randn(dim, generator=tg) / math.sqrt(dim)
    x = torch.randn(n, dim, generator=gen)
    x[:, 0] *= scale
    y = x @ w + torch.tanh(x @ v) + noise * torch.randn(n, generator=gen)
    return TensorDataset(x, y)


def recent_sums(n: int, length: int, gen: torch.Generator, k: int = 3, noise: float = 0.05,
                early: bool = False) -> TensorDataset:
    """Noisy sequences; the target is the sum of the last `k` values (short memory, learnable to
    near the noise floor) or of the first `k` (`early`: the whole sequence must be remembered)."""
    x = torch.randn(n, length, generator=gen)
    part = x[:, :k] if early else x[:, -k:]
    return TensorDataset(x, part.sum(1) + noise * torch.randn(n, generator=gen))


def tabular_model(spec: Spec, dim: int, classes: int, width: int = 128, depth: int = 2,
                  bn: bool = False, dropout: float = 0.0) -> nn.Module:
    if spec.arch == "linear":
        return nn.Linear(dim, classes)
    if spec.arch == "mlp3":  # three SiLU layers, a little narrower
        layers: list[nn.Module] = []
        d = dim
        for _ in range(depth + 1):
            layers += [nn.Linear(d, max(32, width * 3 // 4))]
            if bn:
                layers.append(nn.BatchNorm1d(max(32, width * 3 // 4)))
            layers.append(nn.SiLU())
            if dropout:
                layers.append(nn.Dropout(dropout))
            d = max(32, width * 3 // 4)
        layers.append(nn.Linear(d, classes))
        return nn.Sequential(*layers)
    if spec.arch == "resmlp":
        return ResMLP(dim, width // 2 if width >= 128 else width, classes, blocks=depth,
                      norm="bn" if bn else "ln", dropout=dropout)
    return mlp(dim, width, classes, depth=depth, dropout=dropout, batchnorm=bn)


def make_optimizer(name: str, params, lr: float, weight_decay: float = 0.0, momentum: float = 0.9) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay or 0.01)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(name)


SANE_LR = {"adam": 1e-3, "adamw": 1e-3, "sgd": 0.05, "rmsprop": 5e-4}


def _ce(out, y):
    return nn.functional.cross_entropy(out, y)


def _mse(out, y):
    return nn.functional.mse_loss(out, y)


def _squeezed_mse(out, y):
    return nn.functional.mse_loss(out.squeeze(-1), y)


def base_plan(spec: Spec, ctx: Context, *, n: int, batch: int, epochs: int, lr: float | None = None,
              label_noise: float = 0.0, width: int = 128, depth: int = 2, bn: bool = False, dropout: float = 0.0,
              n_val: int | None = None, **plan_kw) -> Plan:
    """The ordinary training of `spec.arch` on its task (classification or regression)."""
    n = spec.n or n
    batch = spec.batch or batch
    epochs = spec.epochs or epochs
    lr = spec.lr or lr or SANE_LR[spec.optimizer]
    metrics: dict = {}
    if spec.arch in TABULAR and spec.knob("task") == "regression":
        scale, dim, tseed = spec.knob("feature_scale", 4.0), spec.knob("dim", 16), spec.knob("teacher_seed", 4242)
        noise = spec.knob("noise", 0.5)
        train = scaled_regression(n, ctx.generator(1), dim=dim, scale=scale, noise=noise, teacher_seed=tseed)
        val = scaled_regression(n_val or 800, ctx.generator(2), dim=dim, scale=scale, noise=noise, teacher_seed=tseed)
        model = tabular_model(spec, dim, 1, width, depth, bn, dropout)
        loss_fn = _squeezed_mse
    elif spec.arch in TABULAR:
        train, val, dim, classes = tabular(spec, ctx, n, n_val or 800, label_noise)
        model = tabular_model(spec, dim, classes, width, depth, bn, dropout)
        loss_fn, metrics = _ce, {"acc": accuracy}
    elif spec.arch in IMAGE:
        train, val = shapes(n, ctx.generator(1)), shapes(n_val or 512, ctx.generator(2))
        if label_noise:
            x, y = train.tensors
            g = ctx.generator(3)
            flip = torch.rand(len(y), generator=g) < label_noise
            train = TensorDataset(x, torch.where(flip, torch.randint(0, 4, (len(y),), generator=g), y))
        model = CNNBN(4, dropout or 0.5) if spec.arch == "cnn_bn" else SmallCNN(4)
        loss_fn, metrics = _ce, {"acc": accuracy}
    elif spec.arch in SEQUENCE:
        length = spec.knob("length", 40)
        if spec.knob("target") in ("recent", "early"):
            early = spec.knob("target") == "early"
            train = recent_sums(n, length, ctx.generator(1), early=early)
            val = recent_sums(n_val or 512, length, ctx.generator(2), early=early)
        else:
            train, val = sequence_sums(n, length, ctx.generator(1)), sequence_sums(n_val or 512, length, ctx.generator(2))
        model = SeqRNN(spec.arch, spec.knob("hidden", 64))
        loss_fn = _mse
    else:
        raise ValueError(f"{spec.arch} has no base plan")
    if "model" in plan_kw:
        model = plan_kw.pop("model")
    opt = make_optimizer(spec.optimizer, model.parameters(), lr, spec.knob("weight_decay", 0.0),
                         spec.knob("momentum", 0.9))
    hp = {"mechanism": spec.mechanism, "arch": spec.arch, "seed": spec.seed, "optimizer": spec.optimizer,
          "lr": lr, "batch_size": batch, "n_train": len(train), "epochs": epochs, **dict(spec.knobs)}
    plan_kw.setdefault("clip", spec.knob("clip"))
    return Plan(model, opt, plan_kw.pop("loss_fn", loss_fn), train, val, batch_size=batch, epochs=epochs,
                metrics=plan_kw.pop("metrics", metrics), evals_per_epoch=spec.evals, hparams=hp, **plan_kw)


class Watched(Dataset):
    """A dataset that notes the step of every batch that fetched one of `rows` (DataLoader with
    no workers fetches sample by sample, in order)."""

    def __init__(self, base: TensorDataset, rows, batch_size: int, drop_last: bool = False):
        self.base, self.rows, self.batch = base, set(int(r) for r in rows), batch_size
        self.tensors = base.tensors
        self.fetched = 0
        self.steps: list[int] = []
        self.per_epoch = len(base) // batch_size if drop_last else math.ceil(len(base) / batch_size)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i):
        if int(i) in self.rows:
            epoch, pos = divmod(self.fetched, len(self.base))
            self.steps.append(epoch * self.per_epoch + pos // self.batch)
        self.fetched += 1
        return self.base[i]


# ---- mechanisms ------------------------------------------------------------------------------

@dataclass
class Setup:
    plan: Plan
    facts: dict
    run: Callable[["Setup", Context, Recorder], None] | None = None  # None: one ordinary fit


MECHANISMS: dict[str, Callable[[Spec, Context], Setup]] = {}


def mechanism(fn: Callable[[Spec, Context], Setup]):
    MECHANISMS[fn.__name__] = fn
    return fn


def _default_size(spec: Spec) -> dict:
    if spec.arch in IMAGE:
        return dict(n=1536, batch=64, epochs=6)
    if spec.arch in SEQUENCE:
        return dict(n=1600, batch=32, epochs=8)
    return dict(n=6400, batch=64, epochs=6)


def _schedule(plan: Plan, kind: str | None, steps_per_epoch: int) -> None:
    opt, total = plan.optimizer, plan.epochs * steps_per_epoch
    if kind in (None, "none"):
        return
    if kind == "step":
        plan.scheduler, plan.scheduler_step = torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, plan.epochs // 3),
                                                                              gamma=0.1), "epoch"
    elif kind == "warmup_cosine":
        warm = max(1, total // 10)
        plan.scheduler = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: (s + 1) / warm if s < warm else 0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, total - warm))))
    elif kind == "onecycle":
        plan.scheduler = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=opt.param_groups[0]["lr"] * 3, total_steps=total)
    elif kind == "cosine":
        plan.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    else:
        raise ValueError(kind)


def steps_per_epoch(plan: Plan) -> int:
    n = len(plan.train)
    return n // plan.batch_size if plan.drop_last else math.ceil(n / plan.batch_size)


@mechanism
def healthy(spec: Spec, ctx: Context) -> Setup:
    plan = base_plan(spec, ctx, **_default_size(spec))
    _schedule(plan, spec.knob("schedule"), steps_per_epoch(plan))
    return Setup(plan, {})


@mechanism
def memorization(spec: Spec, ctx: Context) -> Setup:
    """Random labels over many classes, a model with room to memorize each sample: the loss
    on a batch depends on how many times its samples were seen, so it steps down at each epoch."""
    if spec.arch == "gru_next":
        items = 400
        n = spec.n or 8000
        train, val = sessions(n, items, ctx.generator(1)), sessions(n // 4, items, ctx.generator(2))
        model = NextItemGRU(items, 64, 128)
        lr = spec.lr or 0.01
        metrics = {"HR@10": hit_rate(10)}
        classes = items
    else:
        classes, vocab, seq_len = spec.knob("classes", 500), spec.knob("vocab", 10000), spec.knob("seq_len", 12)
        n = spec.n or 1200
        train = token_data(n, vocab, seq_len, classes, ctx.generator(1), keyword=False)
        val = token_data(max(200, n // 4), vocab, seq_len, classes, ctx.generator(2), keyword=False)
        model = TokenClassifier(spec.arch, vocab, spec.knob("emb", 64), spec.knob("hidden", 128), classes)
        lr = spec.lr or 3e-3
        metrics = {"acc": accuracy}
    batch, epochs = spec.batch or 32, spec.epochs or 8
    opt = make_optimizer(spec.optimizer, model.parameters(), lr)
    hp = {"mechanism": "memorization", "arch": spec.arch, "seed": spec.seed, "optimizer": spec.optimizer, "lr": lr,
          "batch_size": batch, "classes": classes, "n_train": len(train)}
    plan = Plan(model, opt, _ce, train, val, batch_size=batch, epochs=epochs, metrics=metrics,
                evals_per_epoch=spec.evals, hparams=hp)
    return Setup(plan, {"random_labels": spec.arch != "gru_next"})


@mechanism
def unshuffled(spec: Spec, ctx: Context) -> Setup:
    """The training file is sorted (by class, or by target for regression) and shuffle=False."""
    plan = base_plan(spec, ctx, shuffle=False, **_default_size(spec))
    x, y = plan.train.tensors
    order = torch.sort(y, stable=True).indices
    plan.train = TensorDataset(x[order], y[order])
    return Setup(plan, {})


@mechanism
def small_last_batch(spec: Spec, ctx: Context) -> Setup:
    """drop_last=False with a tail of `tail` samples after full batches."""
    batch = spec.batch or 128
    full = spec.knob("full_batches", 25)
    tail = spec.knob("tail", 2)
    size = _default_size(spec)
    size.update(n=full * batch + tail, batch=batch)
    plan = base_plan(spec, ctx, label_noise=spec.knob("label_noise", 0.2), drop_last=False, **size)
    return Setup(plan, {"tail": tail})


@mechanism
def eval_side_effect(spec: Spec, ctx: Context) -> Setup:
    """model.eval() left on after a mid-epoch validation: dropout off and BatchNorm frozen until the
    next epoch's model.train()."""
    size = _default_size(spec)
    kw: dict = dict(bn=True, dropout=spec.knob("dropout", 0.5), width=256)
    plan = base_plan(spec, ctx, restore_train_after_eval=False, **size, **kw)
    if plan.evals_per_epoch < 2:
        plan.evals_per_epoch = 2
    return Setup(plan, {"evals_per_epoch": plan.evals_per_epoch})


@mechanism
def lr_schedule(spec: Spec, ctx: Context) -> Setup:
    """A periodic LR schedule: warm restarts or a triangular cyclic LR, stepped per batch (or per
    epoch with `per_epoch`); the loss follows the LR."""
    size = _default_size(spec)
    plan = base_plan(spec, ctx, **size)
    spe = steps_per_epoch(plan)
    kind = spec.knob("kind", "restarts")
    opt = plan.optimizer
    if kind == "restarts":
        period = int(round(spe * spec.knob("period_epochs", 1.5)))
        plan.scheduler = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=period, eta_min=plan.hparams["lr"] * 1e-3)
        facts = {"period_steps": period}
    elif kind == "restarts_epoch":
        period = spec.knob("period_epochs", 4)
        plan.scheduler = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=period, eta_min=plan.hparams["lr"] * 1e-3)
        plan.scheduler_step = "epoch"
        facts = {"period_epochs": period}
    elif kind == "cyclic":
        half = int(round(spe * spec.knob("period_epochs", 1.0) / 2))
        base = plan.hparams["lr"]
        plan.scheduler = torch.optim.lr_scheduler.CyclicLR(opt, base_lr=base * 0.02, max_lr=base,
                                                           step_size_up=half, mode="triangular",
                                                           cycle_momentum=spec.optimizer == "sgd")
        facts = {"period_steps": 2 * half}
    else:
        raise ValueError(kind)
    return Setup(plan, facts)


@mechanism
def lr_collapse(spec: Spec, ctx: Context) -> Setup:
    """SGD+momentum (or Adam) at a learning rate far too high: the ReLU network dies and the loss
    sits at chance level."""
    plan = base_plan(spec, ctx, **_default_size(spec))
    return Setup(plan, {})


@mechanism
def lr_raise(spec: Spec, ctx: Context) -> Setup:
    """A sane LR, multiplied by `factor` at `at` (fraction of the run): a config change on resume,
    a schedule bug. The loss climbs from that step and does not come back."""
    plan = base_plan(spec, ctx, **_default_size(spec))
    spe = steps_per_epoch(plan)
    at = int(round(spec.knob("at", 0.5) * plan.epochs * spe))
    factor = spec.knob("factor", 30.0)
    plan.scheduler = torch.optim.lr_scheduler.LambdaLR(plan.optimizer, lambda s: 1.0 if s < at else factor)
    return Setup(plan, {"raise_step": at, "factor": factor})


@mechanism
def oscillation(spec: Spec, ctx: Context) -> Setup:
    """SGD with a momentum too high (0.99, knob) at an LR too high for the sharpest direction of the
    loss (the regression task's badly scaled feature): that direction rings like an underdamped
    spring, kept going by the minibatch noise, so the loss swings up and down with a period of a
    few steps around a trend that moves far less."""
    plan = base_plan(spec, ctx, **_default_size(spec))
    return Setup(plan, {})


@mechanism
def nan_loss(spec: Spec, ctx: Context) -> Setup:
    """A numerically unstable hand-written loss: BCE -(y log p + (1-y) log(1-p)) on un-squashed
    outputs of a binary classifier. Once an output leaves (0, 1) the loss of its batch is NaN; the
    gradient through log is 1/p, finite, so training goes on and NaN recurs batch after batch."""
    size = _default_size(spec)
    n = spec.n or size["n"]
    if spec.arch in IMAGE:  # bars (classes 0, 1) against diagonals and blobs (2, 3)
        tr, va = shapes(n, ctx.generator(1)), shapes(512, ctx.generator(2))
        train = TensorDataset(tr.tensors[0], (tr.tensors[1] >= 2).float())
        val = TensorDataset(va.tensors[0], (va.tensors[1] >= 2).float())
        model = CNNBN(1) if spec.arch == "cnn_bn" else SmallCNN(1)
    else:
        dim, _, tseed = TABULAR_DATA[data_name(spec)]
        tr = teacher_classification(n, dim, 2, ctx.generator(1), teacher_seed=tseed)
        va = teacher_classification(800, dim, 2, ctx.generator(2), teacher_seed=tseed)
        train = TensorDataset(tr.tensors[0], tr.tensors[1].float())
        val = TensorDataset(va.tensors[0], va.tensors[1].float())
        model = tabular_model(spec, dim, 1, width=64)
    with torch.no_grad():  # the author starts the output at the base rate
        head = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
        head.weight.mul_(0.01)
        head.bias.fill_(0.5)
    plan = base_plan(spec, ctx, model=model, loss_fn=handwritten_bce, metrics={"acc": binary_accuracy(0.5)}, **size)
    plan.train, plan.val = train, val
    plan.hparams = {**plan.hparams, "loss": "handwritten_bce"}
    return Setup(plan, {})


@mechanism
def fp16_scale(spec: Spec, ctx: Context) -> Setup:
    """Mixed precision (float16 autocast + GradScaler, on CPU) with a short growth interval: the
    scale doubles every `growth` steps until the scaled float16 gradients overflow; that step's
    gradients are inf, the scaler skips it and halves the scale — isolated inf grad norms while
    the loss carries on."""
    plan = base_plan(spec, ctx, **_default_size(spec))
    plan.fp16 = True
    plan.scaler_growth_interval = spec.knob("growth", 40)
    plan.scaler_init_scale = spec.knob("init_scale", 2.0 ** 16)
    return Setup(plan, {})


@mechanism
def fp16_outliers(spec: Spec, ctx: Context) -> Setup:
    """Mixed precision (float16 autocast + GradScaler, on CPU) and a few corrupted training rows
    (one feature ~1e5, a unit bug): a batch holding one overflows float16 in the forward pass,
    its loss is NaN, the scaler skips the step and training goes on unchanged."""
    plan = base_plan(spec, ctx, **_default_size(spec))
    x, y = plan.train.tensors
    g = ctx.generator(9)
    bad = torch.randperm(len(y), generator=g)[:spec.knob("corrupt", 2)]
    x = x.clone()
    x[bad, 0] = 1e5 * (1 + x[bad, 0].abs())  # beyond float16's 65504: inf once autocast casts it
    plan.train = Watched(TensorDataset(x, y), bad, plan.batch_size)
    plan.fp16 = True
    return Setup(plan, {"corrupt_rows": sorted(int(i) for i in bad)})


@mechanism
def corrupt_rows(spec: Spec, ctx: Context) -> Setup:
    """A few training rows with one feature (classification) or the target (regression) off by a
    unit factor (x`factor`): each batch that holds one has a loss far above the rest and a
    gradient-norm burst; the update it makes sets the model back for a few steps, then it
    recovers — spikes at a different place every epoch."""
    plan = base_plan(spec, ctx, **_default_size(spec))
    x, y = plan.train.tensors
    g = ctx.generator(9)
    order = torch.randperm(len(y), generator=g)
    if spec.knob("task") == "regression":  # rows whose target is far from 0, where a unit error shows
        order = order[(y[order] - y.mean()).abs() > y.std()]
    bad = order[:spec.knob("corrupt", 3)]
    x, y = x.clone(), y.clone()
    if spec.knob("task") == "regression":  # the target in the wrong unit (cm for m)
        y[bad] = y[bad] * spec.knob("factor", 100.0)
    else:
        x[bad, 0] = x[bad, 0].abs() * spec.knob("factor", 100.0) + spec.knob("factor", 100.0)
    plan.train = Watched(TensorDataset(x, y), bad, plan.batch_size)
    return Setup(plan, {"corrupt_rows": sorted(int(i) for i in bad)})


@mechanism
def overfitting(spec: Spec, ctx: Context) -> Setup:
    """Little data, noisy labels, a model much bigger than the task: val loss turns up after a
    best epoch while train loss keeps falling."""
    size = dict(n=256, batch=32, epochs=30)
    if spec.arch in IMAGE:
        size = dict(n=192, batch=32, epochs=30)
    plan = base_plan(spec, ctx, label_noise=spec.knob("label_noise", 0.3), width=512, depth=3, **size)
    return Setup(plan, {})


@mechanism
def resume(spec: Spec, ctx: Context) -> Setup:
    """Checkpoint at every epoch end, killed `at` (fraction) into a middle epoch, restarted from
    the last checkpoint by a new process that logs to the same place."""
    plan = base_plan(spec, ctx, **_default_size(spec))
    return Setup(plan, {}, run=_run_resume)


def _run_resume(setup: Setup, ctx: Context, log: Recorder) -> None:
    plan = setup.plan
    spe = steps_per_epoch(plan)
    crash_epoch = plan.epochs // 2
    crash_at = crash_epoch * spe + int(spe * setup.facts.get("at", 0.6))
    checkpoint: dict = {}

    def save(state: State) -> None:
        checkpoint.update(model=copy.deepcopy(plan.model.state_dict()), opt=copy.deepcopy(plan.optimizer.state_dict()),
                          state=State(state.epoch, state.step, list(state.history)))

    try:
        fit(plan, ctx, log, crash_at_step=crash_at, on_epoch_end=save)
    except Crash:
        pass
    log.restart()
    plan.model.load_state_dict(checkpoint["model"])
    plan.optimizer.load_state_dict(checkpoint["opt"])
    setup.facts.update(crash_step=crash_at, resume_step=checkpoint["state"].step)
    fit(plan, ctx, log, state=checkpoint["state"])


@mechanism
def dead_init(spec: Spec, ctx: Context) -> Setup:
    """Bad initialization: every hidden bias set to -`bias` (no ReLU ever fires), or every weight
    zeroed (`init=zeros`: nothing but the output bias gets a gradient); the output is a constant
    and the loss sits at the class-prior entropy."""
    plan = base_plan(spec, ctx, **_default_size(spec))
    with torch.no_grad():
        layers = [m for m in plan.model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
        if spec.knob("init", "neg_bias") == "zeros":  # nn.init.zeros_ on every layer: nothing but the
            for m in layers:                          # output bias ever gets a gradient
                m.weight.zero_()
                m.bias.zero_()
        else:
            for m in layers[:-1]:
                m.bias.fill_(-spec.knob("bias", 10.0))
                m.weight.mul_(0.1)
    return Setup(plan, {})


@mechanism
def lr_too_low(spec: Spec, ctx: Context) -> Setup:
    """The LR is far too low (a 1e-3 meant as 1e-6 ...), or an exponential warm-up from it runs
    most of the training: the loss stays at its initial level until the LR reaches a working value."""
    plan = base_plan(spec, ctx, **_default_size(spec))
    warm = spec.knob("warmup")  # fraction of the run spent warming up, or None: constant low LR
    facts: dict = {}
    if warm:
        spe = steps_per_epoch(plan)
        total = plan.epochs * spe
        w = int(total * warm)
        start = spec.knob("start", 1e-4)
        plan.scheduler = torch.optim.lr_scheduler.LambdaLR(plan.optimizer,
                                                           lambda s: start ** max(0.0, 1 - s / w))
        facts["warmup_steps"] = w
    return Setup(plan, facts)


@mechanism
def unnormalized(spec: Spec, ctx: Context) -> Setup:
    """Features on scales 1e-3..1e4 and not normalized: the first updates explode the loss, the
    ReLUs die, and it sits at chance level."""
    plan = base_plan(spec, ctx, **_default_size(spec))
    x, y = plan.train.tensors
    xv, yv = plan.val.tensors
    scales = torch.logspace(-3, 4, x.shape[1])
    plan.train = TensorDataset(x * scales + scales, y)
    plan.val = TensorDataset(xv * scales + scales, yv)
    return Setup(plan, {})


# ---- running one ------------------------------------------------------------------------------

def train(spec: Spec, device: str = "cpu") -> Trace:
    """Run `spec` and return everything it logged."""
    ctx = Context(Path("."), torch.device(device), seed=spec.seed)
    seed_everything(spec.seed, ctx.device)
    setup = MECHANISMS[spec.mechanism](spec, ctx)
    setup.facts.update(dict(spec.knobs))
    rec = Recorder()
    if setup.run is None:
        fit(setup.plan, ctx, rec)
    else:
        setup.run(setup, ctx, rec)
    plan = setup.plan
    if isinstance(plan.train, Watched):
        setup.facts["corrupt_steps"] = sorted(set(plan.train.steps))
    return Trace(rec.train, rec.evals, steps_per_epoch(plan), plan.epochs, plan.batch_size,
                 type(plan.optimizer).__name__, dict(plan.hparams), setup.facts)
