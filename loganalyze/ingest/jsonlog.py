"""JSON step logs: Hugging Face `trainer_state.json` (`log_history`), JSON Lines (detectron2 `metrics.json`)
and MMDetection 2.x `*.log.json` (JSON lines with `mode`, `epoch`, `iter`).

A step that goes back (an appended or restarted run) follows TensorBoard's supersede rule and is
reported as `step_rewind`, as in every reader.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..model import Problem, Run, Series
from .rewind import duplicate_problem, rewind_problems, superseded

STEP_KEYS = ("step", "global_step", "iteration", "iter", "_step")
HF_HPARAMS = ("train_batch_size", "num_train_epochs", "max_steps", "logging_steps", "eval_steps", "save_steps",
              "best_metric")


def _flatten(d: dict, prefix: str = "") -> Iterable[tuple[str, Any]]:
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            yield from _flatten(v, key + "/")
        else:
            yield key, v


def _num(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str) and v.strip().lower() in ("nan", "inf", "-inf", "infinity", "-infinity"):
        return float(v.strip().lower().replace("infinity", "inf"))
    return None


def _series_from_columns(cols: dict[str, tuple[list[int], list[float]]], path: str,
                         problems: list[Problem]) -> dict[str, Series]:
    """Series in write order; a step going back supersedes the overlap (TensorBoard's rule) and is reported."""
    series: dict[str, Series] = {}
    rewinds: dict[tuple[int, int], list] = {}
    for key, (steps, vals) in sorted(cols.items()):
        st, va = superseded(key, np.asarray(steps, dtype=np.int64), np.asarray(vals, dtype=np.float64), rewinds)
        series[key] = Series.from_lists(key, st, va)
        # a resumed process that logs a step the crashed one had logged already, with other values
        dup = duplicate_problem(path, key, st, va)
        if dup is not None:
            problems.append(dup)
    problems += rewind_problems(path, rewinds, unit="key")
    return series


def _rows_to_series(rows: list[tuple[int, dict]], path: str = "", problems: list[Problem] | None = None
                    ) -> dict[str, Series]:
    """Rows to series. A row without a step key takes the step of the row before it (HF writes `predict_*`
    rows without `step` right after the eval row they belong to); only a file without any step key
    counts rows."""
    problems = [] if problems is None else problems
    cols: dict[str, tuple[list[int], list[float]]] = {}
    has_steps = any(k in row and _num(row[k]) is not None for _, row in rows for k in STEP_KEYS)
    last_step: int | None = None
    for i, row in rows:
        step_key = next((k for k in STEP_KEYS if k in row and _num(row[k]) is not None), None)
        if step_key is not None and np.isfinite(_num(row[step_key])):
            step = last_step = int(_num(row[step_key]))
        elif has_steps:
            if last_step is None:
                continue  # before the first stepped row there is nothing to place it at
            step = last_step
        else:
            step = i
        for key, v in _flatten(row):
            if key == step_key:
                continue
            x = _num(v)
            if x is None:
                continue
            s, vals = cols.setdefault(key, ([], []))
            s.append(step)
            vals.append(x)
    return _series_from_columns(cols, path, problems)


MMDET_MODES = ("train", "val")
MMDET_INDEX = ("mode", "epoch", "iter")


def _mmdet_row(row: dict) -> bool:
    if row.get("mode") not in MMDET_MODES:
        return False
    e, it = _num(row.get("epoch")), _num(row.get("iter"))
    return e is not None and it is not None and np.isfinite(e) and np.isfinite(it)


def _is_mmdet(rows: list[tuple[int, dict]]) -> bool:
    """MMDetection 2.x's TextLoggerHook JSON log, told by its content: (nearly) every row carries `mode`
    (train / val), `epoch` and `iter`, but for the `env_info` / config header."""
    moded = [r for _, r in rows if _mmdet_row(r)]
    if not any(r["mode"] == "train" for r in moded):
        return False
    others = len(rows) - len(moded)
    return others <= max(2, len(rows) // 20)


def _mmdet_series(rows: list[tuple[int, dict]], path: str, problems: list[Problem]
                  ) -> tuple[dict[str, Series], dict[str, Any]]:
    """Train rows at the global iteration (epoch - 1) * N + iter, N the largest train `iter` (the iteration
    counter restarts every epoch); val rows as `val/<key>` at the end of their epoch, epoch * N (their own
    `iter` counts validation batches); an `epoch` series (1-based, as logged) at every train row so the
    epoch axis is known. Text cells (`bbox_mAP_copypaste`) are not series."""
    moded = [r for _, r in rows if _mmdet_row(r)]
    n = max(int(_num(r["iter"])) for r in moded if r["mode"] == "train")
    n = max(n, 1)
    # an iteration-based runner keeps `epoch` at one value and counts `iter` globally: there a val row
    # belongs after the train row before it
    by_iter = len({int(_num(r["epoch"])) for r in moded if r["mode"] == "train"}) == 1
    cols: dict[str, tuple[list[int], list[float]]] = {}
    hparams: dict[str, Any] = {}
    last_train: int | None = None
    for _, row in rows:
        if not _mmdet_row(row):
            for k, v in row.items():  # env_info / config header: keep the short scalars (seed, exp_name)
                if isinstance(v, (int, float, bool)) or (isinstance(v, str) and len(v) <= 200):
                    hparams[k] = v
            continue
        epoch, it = int(_num(row["epoch"])), int(_num(row["iter"]))
        train = row["mode"] == "train"
        if train:
            step = last_train = (epoch - 1) * n + it
        else:
            step = last_train if by_iter and last_train is not None else epoch * n
        prefix = "" if train else "val/"
        for key, v in _flatten(row):
            if key in MMDET_INDEX:
                continue
            x = _num(v)
            if x is None:
                continue
            s, vals = cols.setdefault(prefix + key, ([], []))
            s.append(step)
            vals.append(x)
        if train:
            s, vals = cols.setdefault("epoch", ([], []))
            s.append(step)
            vals.append(float(epoch))
    hparams["max_train_iter"] = n  # N of the step formula
    return _series_from_columns(cols, path, problems), hparams


def read_json_log(path: str | Path, name: str) -> Run:
    path = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig", errors="replace")
    except OSError as e:
        return Run(name, (path,), {}, (Problem("unreadable", path, f"cannot read: {e.strerror or e}"),), format="json")
    if not text.strip():
        return Run(name, (path,), {}, (Problem("empty_file", path, "the file is empty"),), format="json")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("log_history"), list):
        rows = [(i, r) for i, r in enumerate(doc["log_history"]) if isinstance(r, dict)]
        hparams = {k: doc[k] for k in HF_HPARAMS if k in doc and doc[k] is not None}
        found: list[Problem] = []
        series = _rows_to_series(rows, path, found)
        return Run(name, (path,), series, tuple(found), hparams, format="json")
    if isinstance(doc, list) and doc and all(isinstance(r, dict) for r in doc):
        found = []
        series = _rows_to_series(list(enumerate(doc)), path, found)
        return Run(name, (path,), series, tuple(found), format="json")
    if isinstance(doc, dict):
        return Run(name, (path,), {}, (Problem("unknown_file", path,
                                                "a JSON document without `log_history` or metric rows: not a log"),),
                   format="json")
    # JSON Lines: one object per line; a bad line is reported and skipped
    rows: list[tuple[int, dict]] = []
    bad: list[int] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            bad.append(lineno)
            continue
        if isinstance(obj, dict):
            rows.append((len(rows), obj))
        else:
            bad.append(lineno)
    problems: list[Problem] = []
    if bad:
        problems.append(Problem("parse_error", path,
                                f"{len(bad)} line(s) are not JSON objects (first: line {bad[0]}); the other "
                                f"{len(rows)} were read", {"count": len(bad), "lines": bad[:10]}))
    if not rows:
        return Run(name, (path,), {}, (Problem("unknown_file", path, "no JSON metric rows found"),), format="json")
    if _is_mmdet(rows):
        series, hparams = _mmdet_series(rows, path, problems)
        return Run(name, (path,), series, tuple(problems), hparams, format="jsonl")
    series = _rows_to_series(rows, path, problems)
    return Run(name, (path,), series, tuple(problems), format="jsonl")
