"""JSON step logs: Hugging Face `trainer_state.json` (`log_history`), JSON Lines (detectron2 `metrics.json`)
and MMDetection 2.x `*.log.json` (JSON lines with `mode`, `epoch`, `iter`).

A step that goes back (an appended or restarted run) follows TensorBoard's supersede rule and is
reported as `step_rewind`, as in every reader.
"""
from __future__ import annotations

import json
import math
from dataclasses import replace
from itertools import chain
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..model import Problem, Run, Series
from ._open import Opened, TextLines, Unreadable, open_log
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
        try:
            return float(v)
        except OverflowError:  # an integer beyond the float range
            return math.inf if v > 0 else -math.inf
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


def _rows_to_series(rows: list[tuple[int, dict]], path: str = "", problems: list[Problem] | None = None,
                    lines: list[int] | None = None) -> dict[str, Series]:
    """Rows to series. A row without a step key takes the step of the row before it (HF writes `predict_*`
    rows without `step` right after the eval row they belong to); only a file without any step key
    counts rows. A row whose step is not finite or beyond 64 bits is skipped and reported (`lines`:
    each row's line in the file, for the report)."""
    problems = [] if problems is None else problems
    cols: dict[str, tuple[list[int], list[float]]] = {}
    has_steps = any(k in row and _num(row[k]) is not None for _, row in rows for k in STEP_KEYS)
    last_step: int | None = None
    unusable: list[int] = []
    for n, (i, row) in enumerate(rows):
        step_key = next((k for k in STEP_KEYS if k in row and _num(row[k]) is not None), None)
        logged = None if step_key is None else _step_of(row[step_key])
        if logged is not None:
            step = last_step = logged
        elif step_key is not None:
            unusable.append(lines[n] if lines else n)
            continue
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
    if unusable:
        where = "line" if lines else "log_history entry"
        problems.append(Problem("bad_value", path, f"{len(unusable)} row(s) have a step that is not finite or beyond "
                                                   f"64 bits (first: {where} {unusable[0]}) and were skipped",
                                {"count": len(unusable), "lines" if lines else "entries": unusable[:10]}))
    return _series_from_columns(cols, path, problems)


MMDET_MODES = ("train", "val")
MMDET_INDEX = ("mode", "epoch", "iter")


def _mmdet_row(row: dict) -> bool:
    if row.get("mode") not in MMDET_MODES:
        return False
    e, it = _num(row.get("epoch")), _num(row.get("iter"))
    # bounded so that the global iteration (epoch - 1) * N + iter stays within 64 bits
    return e is not None and it is not None and abs(e) < 1e6 and abs(it) < 1e12


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


MAX_DOCUMENT = 64 << 20
"""Characters of a whole-document JSON log (`trainer_state.json`) read at once; JSON lines stream, any length."""
MAX_DEPTH = 32
"""Nesting kept in a row; deeper objects hold no metrics (and would recurse without bound)."""
_INT64 = (-(1 << 63), 1 << 63)


def _compact(v: Any, depth: int = 0) -> Any:
    """What a row needs, no more: numbers, booleans, short strings, and dicts of them to `MAX_DEPTH`.
    Long strings and lists go (memory grows with the points, not with the text); None marks a cut."""
    if isinstance(v, dict):
        if depth >= MAX_DEPTH:
            raise _TooDeep
        out = {}
        for k, x in v.items():
            if isinstance(x, (dict, int, float)) or (isinstance(x, str) and len(x) <= 200):
                out[k] = _compact(x, depth + 1) if isinstance(x, dict) else x
        return out
    return v


class _TooDeep(Exception):
    pass


def _step_of(v: Any) -> int | None:
    """A step from a logged value, exact for integers (a float holds 53 bits); None when it is not a finite
    number or lies outside 64 bits."""
    if isinstance(v, int) and not isinstance(v, bool):
        s = v
    else:
        x = _num(v)
        if x is None or not math.isfinite(x):
            return None
        s = int(x)
    return s if _INT64[0] <= s < _INT64[1] else None


def read_json_log(path: str | Path, name: str) -> Run:
    path = str(path)
    try:
        opened = open_log(path)
    except Unreadable as e:
        return Run(name, (path,), {}, (e.problem,), format="json")
    with opened:
        run = _read(opened, name)
    return replace(run, problems=tuple(opened.problems) + run.problems) if opened.problems else run


def _parse(text: str) -> tuple[Any, str]:
    """(document, "") or (None, what is wrong)."""
    try:
        return json.loads(text), ""
    except RecursionError:
        return None, "nested deeper than the JSON parser allows"
    except ValueError as e:  # JSONDecodeError, or an integer of thousands of digits
        return None, str(e)


def _read(opened: Opened, name: str) -> Run:
    path = opened.path
    text = TextLines(opened)
    lines = iter(text)
    head: list[str] = []
    for ln in lines:
        head.append(ln)
        if ln.strip():
            break
    first = head[-1].strip() if head else ""
    if not first:
        return Run(name, (path,), {}, (Problem("empty_file", path, "the file is empty"), *text.problems()),
                   format="json")
    doc, why = (None, "")
    if first.startswith("[") or first == "{" or (first.startswith("{") and '"log_history"' in first):
        # a whole document (pretty-printed trainer_state.json, a JSON array of rows): read it at once, bounded
        size = sum(len(x) + 1 for x in head)
        for ln in lines:
            head.append(ln)
            size += len(ln) + 1
            if size > MAX_DOCUMENT:
                return Run(name, (path,), {}, (Problem(
                    "too_large", path, f"a single JSON document over {MAX_DOCUMENT >> 20} MiB: not read (write "
                    "long logs as JSON lines, one object per line, which are read at any length)",
                    {"limit_bytes": MAX_DOCUMENT}), *text.problems()), format="json")
        doc, why = _parse("\n".join(head))
    found: list[Problem] = []
    try:
        if isinstance(doc, dict) and isinstance(doc.get("log_history"), list):
            rows = [(i, _compact(r)) for i, r in enumerate(doc["log_history"]) if isinstance(r, dict)]
            del doc["log_history"]
            hparams = {k: doc[k] for k in HF_HPARAMS if k in doc and doc[k] is not None}
            del doc
            series = _rows_to_series(rows, path, found)
            return Run(name, (path,), series, tuple(found + text.problems()), hparams, format="json")
        if isinstance(doc, list) and doc and all(isinstance(r, dict) for r in doc):
            rows = [(i, _compact(r)) for i, r in enumerate(doc)]
            del doc
            series = _rows_to_series(rows, path, found)
            return Run(name, (path,), series, tuple(found + text.problems()), format="json")
    except _TooDeep:
        return Run(name, (path,), {}, (Problem("parse_error", path, f"rows nest objects deeper than {MAX_DEPTH} "
                                                                   "levels: not a metric log"), *text.problems()),
                   format="json")
    if isinstance(doc, dict):
        return Run(name, (path,), {}, (Problem("unknown_file", path,
                                                "a JSON document without `log_history` or metric rows: not a log"),
                                        *text.problems()), format="json")
    # JSON Lines: one object per line; a bad line is reported and skipped. A document that does not parse
    # is tried as JSON lines too (its first line may be the bad one); without a row it is reported whole.
    rows: list[tuple[int, dict]] = []
    row_lines: list[int] = []
    bad: list[int] = []
    nbad = 0
    for lineno, line in enumerate(chain(head, lines), 1):
        if not line.strip():
            continue
        obj, _ = _parse(line)
        if isinstance(obj, dict):
            try:
                rows.append((len(rows), _compact(obj)))
                row_lines.append(lineno)
                continue
            except _TooDeep:
                pass
        nbad += 1
        if len(bad) < 10:
            bad.append(lineno)
    problems: list[Problem] = []
    if nbad:
        problems.append(Problem("parse_error", path,
                                f"{nbad} line(s) are not JSON objects (first: line {bad[0]}); the other "
                                f"{len(rows)} were read", {"count": nbad, "lines": bad}))
    problems += text.problems()
    if not rows and why:
        return Run(name, (path,), {}, (Problem("parse_error", path, f"not valid JSON: {why}"), *text.problems()),
                   format="json")
    if not rows:
        return Run(name, (path,), {}, (Problem("unknown_file", path, "no JSON metric rows found"), *problems),
                   format="json")
    if _is_mmdet(rows):
        series, hparams = _mmdet_series(rows, path, problems)
        return Run(name, (path,), series, tuple(problems), hparams, format="jsonl")
    series = _rows_to_series(rows, path, problems, row_lines)
    return Run(name, (path,), series, tuple(problems), format="jsonl")
