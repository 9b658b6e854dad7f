"""Logging conventions: one training, written the way different tools and scripts write it.

`Recorder` stands in for `RunLog` in `core.fit` and keeps every logged value (per-step train
loss/metrics/lr/grad_norm/epoch, each evaluation, and where a new process started after a
crash). `write(trace, convention, out_dir)` then writes that record the way one ecosystem does:

    csv          plain `step[,epoch],loss,...` CSV, one row per logged step (eval values on the
                 row of their step); appended to on a resume, so the steps rewind in the file
    lightning    Lightning `CSVLogger` metrics.csv: `epoch,step,...`, train and val on separate
                 sparse rows, `lr-<Optimizer>` from LearningRateMonitor
    keras        Keras `CSVLogger`: one row per epoch, `epoch,<sorted keys>`; `loss` is the epoch
                 mean of the batch losses (what Keras' progress bar reports), val at epoch end
    tensorboard  `torch.utils.tensorboard.SummaryWriter` event files; a resumed process opens a
                 second event file
    hf           Hugging Face `trainer_state.json`: `log_history` rows every `logging_steps`
                 (1-based global step) with the window-mean `loss` (HF's `logging_nan_inf_filter`
                 included: a NaN/Inf step loss is replaced by the window's mean so far), the last
                 step's `grad_norm`, `learning_rate`, fractional `epoch`; `eval_*` rows; the
                 final `train_loss` summary row
    jsonl        detectron2 `metrics.json`: a JSON object every `period` iterations, losses as
                 the median of the last `period` values (its smoothing hint); appended on resume

and what the train loss value is (`value`): the batch loss at the logged step (`batch`), the
mean since the last log (`window_mean`), or `running_loss / (i + 1)` reset every epoch
(`running_mean`, the classic tqdm/print-loop bug). Every writer returns `Written`: the path to
analyse, the exact series it wrote, and the map from trainer steps to the log's own steps.
"""
from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

QUANTITIES = ("train_loss", "val_loss", "lr", "grad_norm", "train_metric", "val_metric", "epoch")

# Ways real code names each quantity; a name set is picked per run. None: not logged.
NAME_SETS: dict[str, dict[str, str | None]] = {
    "trainer": dict(train_loss="train/loss", val_loss="val/loss", lr="lr", grad_norm="grad_norm",
                    train_metric="train/{m}", val_metric="val/{m}", epoch="epoch"),
    "plain": dict(train_loss="loss", val_loss="val_loss", lr="learning_rate", grad_norm="grad_norm",
                  train_metric="{m}", val_metric="val_{m}", epoch="epoch"),
    "underscore": dict(train_loss="train_loss", val_loss="val_loss", lr="lr_0", grad_norm="grad_norm",
                       train_metric="train_{m}", val_metric="val_{m}", epoch="epoch"),
    "caps": dict(train_loss="Loss/train", val_loss="Loss/val", lr="train/learning_rate", grad_norm="Grad/norm",
                 train_metric="Accuracy/train", val_metric="Accuracy/val", epoch="epoch"),
    "eval_slash": dict(train_loss="train/loss", val_loss="eval/loss", lr="train/learning_rate",
                       grad_norm="train/grad_norm", train_metric="train/{m}", val_metric="eval/{m}", epoch="train/epoch"),
    "validation_slash": dict(train_loss="train_loss", val_loss="validation/loss", lr="pg0", grad_norm=None,
                             train_metric="train_{m}", val_metric="validation/{m}", epoch="epoch"),
}


# ---- the record of a training ------------------------------------------------------------------

@dataclass
class TrainRow:
    step: int  # the trainer's 0-based optimizer step
    epoch: int
    loss: float
    lr: float
    grad_norm: float
    metrics: dict[str, float]
    proc: int  # 0, then 1 after a crash and restart


@dataclass
class EvalRow:
    step: int  # the train step after which the evaluation ran
    epoch: int
    loss: float
    metrics: dict[str, float]
    proc: int


@dataclass
class Trace:
    train: list[TrainRow]
    evals: list[EvalRow]
    steps_per_epoch: int
    epochs: int
    batch_size: int
    optimizer: str  # class name, e.g. "AdamW" (Lightning's lr-<name>)
    hparams: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)  # what the mechanism did, for the truth

    @property
    def metric_names(self) -> list[str]:
        return sorted(self.train[0].metrics) if self.train else []


class Recorder:
    """Duck-types `RunLog` for `core.fit`: keeps every value instead of writing it."""

    def __init__(self) -> None:
        self.train: list[TrainRow] = []
        self.evals: list[EvalRow] = []
        self.proc = 0
        self._epoch = 0

    def log(self, step: int, values: Mapping[str, float]) -> None:
        if "train/loss" in values:
            self._epoch = int(values.get("epoch", self._epoch))
            metrics = {k[6:]: float(v) for k, v in values.items() if k.startswith("train/") and k != "train/loss"}
            self.train.append(TrainRow(int(step), self._epoch, float(values["train/loss"]), float(values["lr"]),
                                       float(values["grad_norm"]), metrics, self.proc))
        elif any(k.startswith("val/") for k in values):
            metrics = {k[4:]: float(v) for k, v in values.items() if k.startswith("val/") and k != "val/loss"}
            self.evals.append(EvalRow(int(step), self._epoch, float(values["val/loss"]), metrics, self.proc))

    def hparams(self, hp, metric_tags=()) -> None:  # noqa: D401 — RunLog's signature
        pass

    def restart(self) -> None:
        self.proc += 1

    def close(self) -> None:
        pass


# ---- conventions -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Convention:
    fmt: str  # csv, lightning, keras, tensorboard, hf, jsonl
    names: str = "trainer"  # a NAME_SETS key (csv, tensorboard); the other formats name things their own way
    value: str = "batch"  # batch, window_mean, running_mean (train loss as logged)
    every: int = 1  # log the train stream every N steps
    epoch: bool = True  # write an epoch column/tag (csv, tensorboard)
    grad_norm: bool = True
    lr: bool = True
    filename: str = ""  # csv / keras file name


@dataclass
class Written:
    path: Path  # what to hand to loganalyze
    names: dict[str, str]  # quantity -> tag as written (train_loss, val_loss, lr, grad_norm, ...)
    series: dict[str, tuple[list[int], list[float]]]  # tag -> steps, values, exactly as written
    windows: list[tuple[int, int, int]]  # train stream: (log step, first, last trainer step it covers)
    eval_steps: dict[int, int]  # trainer step of an evaluation -> its log step

    def log_range(self, first: int, last: int) -> tuple[int, int] | None:
        """The log steps whose train points cover trainer steps first..last (None: none logged)."""
        hit = [w for w in self.windows if w[2] >= first and w[1] <= last]
        if not hit:
            return None
        return min(w[0] for w in hit), max(w[0] for w in hit)

    def tags_with(self, quantities: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(self.names[q] for q in quantities if q in self.names)

    def nonfinite(self) -> dict[str, list[int]]:
        """Tag -> the log steps where it holds NaN/Inf, as written."""
        out = {}
        for tag, (st, va) in self.series.items():
            bad = [s for s, v in zip(st, va) if not math.isfinite(v)]
            if bad:
                out[tag] = bad
        return out


class _Series:
    def __init__(self) -> None:
        self.data: dict[str, tuple[list[int], list[float]]] = {}

    def add(self, tag: str, step: int, value: float) -> None:
        s, v = self.data.setdefault(tag, ([], []))
        s.append(int(step))
        v.append(float(value))


def _windows(trace: Trace, every: int) -> list[list[TrainRow]]:
    """The train rows grouped into logging windows: a log at every `every`-th step of each process
    (counted on the global step, as the frameworks do), the rows since the previous log."""
    out: list[list[TrainRow]] = []
    cur: list[TrainRow] = []
    proc = 0
    for r in trace.train:
        if r.proc != proc:
            cur, proc = [], r.proc  # a crash loses the unlogged tail
        cur.append(r)
        if (r.step + 1) % every == 0:
            out.append(cur)
            cur = []
    return out


def _train_value(trace: Trace, conv: Convention) -> list[tuple[TrainRow, list[TrainRow], float]]:
    """(the row a log is written at, the rows it covers, the train-loss value written)."""
    out = []
    running, count, key = 0.0, 0, None
    run_at: dict[int, float] = {}
    for r in trace.train:  # running_loss / (i + 1), reset at each epoch (and each process)
        if (r.proc, r.epoch) != key:
            running, count, key = 0.0, 0, (r.proc, r.epoch)
        running += r.loss
        count += 1
        run_at[id(r)] = running / count
    for win in _windows(trace, conv.every):
        last = win[-1]
        if conv.value == "window_mean":
            v = sum(r.loss for r in win) / len(win)
        elif conv.value == "running_mean":
            v = run_at[id(last)]
        else:
            v = last.loss
        out.append((last, win, v))
    return out


def _names(conv: Convention, metric: str | None) -> dict[str, str]:
    ns = NAME_SETS[conv.names]
    out = {}
    for q in QUANTITIES:
        n = ns[q]
        if n is None or (q == "lr" and not conv.lr) or (q == "grad_norm" and not conv.grad_norm) \
                or (q == "epoch" and not conv.epoch):
            continue
        if q in ("train_metric", "val_metric"):
            if metric is None:
                continue
            n = n.format(m=metric)
        out[q] = n
    return out


def _primary_metric(trace: Trace) -> str | None:
    names = trace.metric_names
    return names[0] if names else None


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, int):
        return str(v)
    return repr(float(v))


def write(trace: Trace, conv: Convention, out_dir: Path) -> Written:
    out_dir.mkdir(parents=True, exist_ok=True)
    return {"csv": _write_csv, "lightning": _write_lightning, "keras": _write_keras,
            "tensorboard": _write_tensorboard, "hf": _write_hf, "jsonl": _write_jsonl}[conv.fmt](trace, conv, out_dir)


def _write_csv(trace: Trace, conv: Convention, out_dir: Path) -> Written:
    metric = _primary_metric(trace)
    names = _names(conv, metric)
    ser = _Series()
    rows: list[dict[str, Any]] = []
    windows = []
    evals = {(e.proc, e.step): e for e in trace.evals}
    eval_steps = {}
    for last, win, v in _train_value(trace, conv):
        row: dict[str, Any] = {"step": last.step}
        if "epoch" in names:
            row[names["epoch"]] = last.epoch
        row[names["train_loss"]] = v
        if "train_metric" in names:
            row[names["train_metric"]] = last.metrics[metric]
        if "lr" in names:
            row[names["lr"]] = last.lr
        if "grad_norm" in names:
            row[names["grad_norm"]] = last.grad_norm
        windows.append((last.step, win[0].step, win[-1].step))
        for r in win:  # an evaluation inside the window goes on the row of its step
            e = evals.get((r.proc, r.step))
            if e is None:
                continue
            eval_steps[e.step] = last.step
            if "val_loss" in names:
                row[names["val_loss"]] = e.loss
            if "val_metric" in names:
                row[names["val_metric"]] = e.metrics[metric]
        rows.append(row)
    cols = ["step"] + [names[q] for q in ("epoch", "train_loss", "train_metric", "lr", "grad_norm", "val_loss", "val_metric")
                       if q in names]
    path = out_dir / (conv.filename or "log.csv")
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(cols)
        for row in rows:
            w.writerow([_cell(row.get(c)) for c in cols])
            for c in cols[1:]:
                if c in row:
                    ser.add(c, row["step"], row[c])
    return Written(path, names, ser.data, windows, eval_steps)


def _write_lightning(trace: Trace, conv: Convention, out_dir: Path) -> Written:
    """Lightning's CSVLogger: rows in the order they were logged — a train row every `every` steps
    (with LearningRateMonitor's own row), a val row when validation ends."""
    metric = _primary_metric(trace)
    lr_name = f"lr-{trace.optimizer}"
    names = {"train_loss": "train_loss", "val_loss": "val_loss", "epoch": "epoch"}
    if conv.lr:
        names["lr"] = lr_name
    if metric:
        names.update(train_metric=f"train_{metric}", val_metric=f"val_{metric}")
    ser = _Series()
    rows: list[dict[str, Any]] = []
    windows = []
    eval_steps = {}
    logged = {id(last): (win, v) for last, win, v in _train_value(trace, conv)}
    evals = {(e.proc, e.step): e for e in trace.evals}
    for r in trace.train:
        if id(r) in logged:
            win, v = logged[id(r)]
            row = {"epoch": r.epoch, "step": r.step, "train_loss": v}
            if metric:
                row[f"train_{metric}"] = r.metrics[metric]
            rows.append(row)
            if conv.lr:
                rows.append({"epoch": None, "step": r.step, lr_name: r.lr})
            windows.append((r.step, win[0].step, win[-1].step))
        e = evals.get((r.proc, r.step))
        if e is not None:
            vrow = {"epoch": e.epoch, "step": r.step, "val_loss": e.loss}
            if metric:
                vrow[f"val_{metric}"] = e.metrics[metric]
            rows.append(vrow)
            eval_steps[e.step] = r.step
    keys = sorted({k for r in rows for k in r} - {"epoch", "step"})
    cols = ["epoch", "step", *keys]
    path = out_dir / "metrics.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(cols)
        for row in rows:
            w.writerow([_cell(row.get(c)) for c in cols])
            for c in keys:
                if c in row:
                    ser.add(c, row["step"], row[c])
            if row.get("epoch") is not None:
                ser.add("epoch", row["step"], row["epoch"])
    return Written(path, names, ser.data, windows, eval_steps)


def _write_keras(trace: Trace, conv: Convention, out_dir: Path) -> Written:
    metric = _primary_metric(trace)
    keras_metric = {"acc": "accuracy"}.get(metric, metric) if metric else None
    lr_key = "learning_rate" if conv.names in ("plain", "eval_slash") else "lr"
    names = {"train_loss": "loss", "val_loss": "val_loss", "epoch": "epoch"}
    if conv.lr:
        names["lr"] = lr_key
    if keras_metric:
        names.update(train_metric=keras_metric, val_metric=f"val_{keras_metric}")
    by_epoch: dict[int, list[TrainRow]] = {}
    for r in trace.train:
        by_epoch.setdefault(r.epoch, []).append(r)
    last_eval: dict[int, EvalRow] = {}
    for e in trace.evals:
        last_eval[e.epoch] = e
    ser = _Series()
    windows = []
    eval_steps = {}
    rows = []
    for ep in sorted(by_epoch):
        rs = by_epoch[ep]
        row: dict[str, Any] = {"loss": sum(r.loss for r in rs) / len(rs)}
        if keras_metric:
            row[keras_metric] = sum(r.metrics[metric] for r in rs) / len(rs)
        if conv.lr:
            row[lr_key] = rs[-1].lr
        e = last_eval.get(ep)
        if e is not None:
            row["val_loss"] = e.loss
            if keras_metric:
                row[f"val_{keras_metric}"] = e.metrics[metric]
            for ee in trace.evals:
                if ee.epoch == ep:
                    eval_steps[ee.step] = ep
        windows.append((ep, rs[0].step, rs[-1].step))
        rows.append((ep, row))
    keys = sorted({k for _, r in rows for k in r})
    path = out_dir / (conv.filename or "training.log")
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["epoch", *keys])
        for ep, row in rows:
            w.writerow([str(ep), *[_cell(row.get(k)) for k in keys]])
            for k in keys:
                if k in row:
                    ser.add(k, ep, row[k])
            ser.add("epoch", ep, ep)
    return Written(path, names, ser.data, windows, eval_steps)


def _write_tensorboard(trace: Trace, conv: Convention, out_dir: Path) -> Written:
    from torch.utils.tensorboard import SummaryWriter

    metric = _primary_metric(trace)
    names = _names(conv, metric)
    run_dir = out_dir / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    for old in run_dir.glob("events.out.tfevents.*"):
        old.unlink()
    ser = _Series()
    windows = []
    eval_steps = {}
    evals = {(e.proc, e.step): e for e in trace.evals}
    t0 = 1.7e9
    proc = -1
    writer = None

    def add(tag: str, value: float, step: int) -> None:
        writer.add_scalar(tag, float(value), step, walltime=t0 + step * 0.05 + proc * 3600)
        ser.add(tag, step, value)

    for last, win, v in _train_value(trace, conv):
        if last.proc != proc:
            if writer is not None:
                writer.close()
                time.sleep(1.05)  # a restarted process: its event file name has a later timestamp
            proc = last.proc
            writer = SummaryWriter(log_dir=str(run_dir))
        add(names["train_loss"], v, last.step)
        if "train_metric" in names:
            add(names["train_metric"], last.metrics[metric], last.step)
        if "lr" in names:
            add(names["lr"], last.lr, last.step)
        if "grad_norm" in names:
            add(names["grad_norm"], last.grad_norm, last.step)
        if "epoch" in names:
            add(names["epoch"], last.epoch, last.step)
        windows.append((last.step, win[0].step, win[-1].step))
        for r in win:
            e = evals.get((r.proc, r.step))
            if e is not None:
                if "val_loss" in names:
                    add(names["val_loss"], e.loss, r.step)
                if "val_metric" in names:
                    add(names["val_metric"], e.metrics[metric], r.step)
                eval_steps[e.step] = r.step
    if writer is not None:
        writer.close()
    return Written(run_dir, names, ser.data, windows, eval_steps)


def _write_hf(trace: Trace, conv: Convention, out_dir: Path) -> Written:
    """trainer_state.json as transformers' Trainer writes it (v4.40-ish), logging_nan_inf_filter=True."""
    metric = _primary_metric(trace)
    every = conv.every
    names = {"train_loss": "loss", "val_loss": "eval_loss", "lr": "learning_rate", "grad_norm": "grad_norm",
             "epoch": "epoch"}
    if metric:
        names["val_metric"] = f"eval_{ {'acc': 'accuracy'}.get(metric, metric) }"
    history: list[dict[str, Any]] = []
    ser = _Series()
    windows = []
    eval_steps = {}
    evals = {(e.proc, e.step): e for e in trace.evals}
    spe = trace.steps_per_epoch
    tr_loss, last_logged, first_in_window = 0.0, 0, None
    total = 0.0
    for r in trace.train:
        gs = r.step  # global_step before this update
        if first_in_window is None:
            first_in_window = r.step
        if not math.isfinite(r.loss):  # logging_nan_inf_filter
            tr_loss += tr_loss / (1 + gs - last_logged)
        else:
            tr_loss += r.loss
        gs += 1
        epoch = r.epoch + ((r.step - r.epoch * spe) + 1) / spe
        if gs % every == 0:
            loss = round(tr_loss / (gs - last_logged), 4)
            total += tr_loss
            tr_loss = 0.0
            row = {"epoch": epoch, "grad_norm": r.grad_norm, "learning_rate": r.lr, "loss": loss, "step": gs}
            history.append(row)
            for k in ("loss", "grad_norm", "learning_rate", "epoch"):
                ser.add(k, gs, row[k])
            windows.append((gs, first_in_window, r.step))
            last_logged, first_in_window = gs, None
        e = evals.get((r.proc, r.step))
        if e is not None:
            row = {"epoch": epoch, "eval_loss": e.loss, "eval_runtime": 0.4, "eval_samples_per_second": 2000.0,
                   "eval_steps_per_second": 8.0, "step": gs}
            ser.add("eval_loss", gs, e.loss)
            ser.add("epoch", gs, epoch)
            if metric:
                row[names["val_metric"]] = e.metrics[metric]
                ser.add(names["val_metric"], gs, e.metrics[metric])
            history.append(row)
            eval_steps[e.step] = gs
    final_step = trace.train[-1].step + 1
    history.append({"epoch": float(trace.epochs), "step": final_step, "total_flos": 1.0e12,
                    "train_loss": (total + tr_loss) / max(1, final_step), "train_runtime": 60.0,
                    "train_samples_per_second": 500.0, "train_steps_per_second": 10.0})
    ser.add("train_loss", final_step, history[-1]["train_loss"])
    state = {"best_metric": None, "best_model_checkpoint": None, "epoch": float(trace.epochs),
             "eval_steps": None, "global_step": final_step, "is_hyper_param_search": False,
             "is_local_process_zero": True, "is_world_process_zero": True, "log_history": history,
             "logging_steps": every, "max_steps": final_step, "num_input_tokens_seen": 0,
             "num_train_epochs": trace.epochs, "save_steps": 500, "stateful_callbacks": {},
             "total_flos": 1.0e12, "train_batch_size": trace.batch_size, "trial_name": None, "trial_params": None}
    path = out_dir / "trainer_state.json"
    path.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return Written(path, names, ser.data, windows, eval_steps)


def _write_jsonl(trace: Trace, conv: Convention, out_dir: Path) -> Written:
    """detectron2's JSONWriter: `iteration` 0-based, losses as the median of the window."""
    metric = _primary_metric(trace)
    names = {"train_loss": "total_loss", "val_loss": "validation/loss", "lr": "lr"}
    if metric:
        names["val_metric"] = f"validation/{metric}"
    ser = _Series()
    windows = []
    eval_steps = {}
    evals = {(e.proc, e.step): e for e in trace.evals}
    lines = []
    for last, win, _ in _train_value(trace, conv):
        vals = sorted(r.loss for r in win)
        if any(not math.isfinite(x) for x in vals):
            med = math.nan
        else:
            n = len(vals)
            med = vals[n // 2] if n % 2 else 0.5 * (vals[n // 2 - 1] + vals[n // 2])
        row = {"data_time": 0.001, "eta_seconds": 10.0, "iteration": last.step, "lr": last.lr,
               "time": 0.01, "total_loss": med}
        lines.append(row)
        ser.add("total_loss", last.step, med)
        ser.add("lr", last.step, last.lr)
        windows.append((last.step, win[0].step, win[-1].step))
        for r in win:
            e = evals.get((r.proc, r.step))
            if e is not None:
                vrow = {"iteration": r.step, "validation/loss": e.loss}
                if metric:
                    vrow[f"validation/{metric}"] = e.metrics[metric]
                    ser.add(f"validation/{metric}", r.step, e.metrics[metric])
                lines.append(vrow)
                ser.add("validation/loss", r.step, e.loss)
                eval_steps[e.step] = r.step
    path = out_dir / "metrics.json"
    with open(path, "w", encoding="utf-8") as fh:
        for row in lines:
            fh.write(json.dumps(row, sort_keys=True) + "\n")
    return Written(path, names, ser.data, windows, eval_steps)
