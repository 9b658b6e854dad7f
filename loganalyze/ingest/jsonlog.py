"""JSON step logs: Hugging Face `trainer_state.json` (`log_history`), JSON Lines (detectron2 `metrics.json`)
and MMDetection 2.x `*.log.json` (JSON lines with `mode`, `epoch`, `iter`).

A step that goes back (an appended or restarted run) follows TensorBoard's supersede rule and is
reported as `step_rewind`, as in every reader.

JSON lines are streamed: each row goes into columns as it is read (16 bytes a point, plus a few
bytes a row), so memory grows with the points kept, not with the file. How a row's step is found
depends on the whole file (whether any row logs a step; whether it is an MMDetection log and its
iterations per epoch), so rows are placed at their steps once all are read. A whole document
(`trainer_state.json`) is streamed too, record by record (`jsondoc`): a truncated one keeps every
complete record.
"""
from __future__ import annotations

import json
import math
import re
from array import array
from dataclasses import replace
from itertools import chain
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..model import Problem, Run, Series
from ._open import MAX_LINE, Opened, TextLines, Unreadable, open_log
from .jsondoc import NotALog, read_document
from .rewind import attempt_runs, duplicate_problem, earlier_attempts, rewind_problems, superseded

STEP_KEYS = ("step", "global_step", "iteration", "iter", "_step")
HF_HPARAMS = ("train_batch_size", "num_train_epochs", "max_steps", "logging_steps", "eval_steps", "save_steps",
              "best_metric")
MMDET_MODES = ("train", "val")
MMDET_INDEX = ("mode", "epoch", "iter")
MAX_DEPTH = 32
"""Nesting read in a row; deeper objects hold no metrics (and would recurse without bound)."""
_INT64 = (-(1 << 63), 1 << 63)
HEADER_ROWS = 16
"""Rows without a mode whose scalars are kept as an MMDetection log's hyperparameters (it writes one)."""


class _TooDeep(Exception):
    pass


def _leaves(d: dict, prefix: str = "", depth: int = 0, out: list | None = None) -> list[tuple[str, float]]:
    """The numeric leaves of a row, nested keys joined by `/`; `_TooDeep` past `MAX_DEPTH` levels."""
    if depth >= MAX_DEPTH:
        raise _TooDeep
    out = [] if out is None else out
    for k, v in d.items():
        if type(v) is float:  # the common case first
            out.append((prefix + k, v))
        elif isinstance(v, dict):
            _leaves(v, f"{prefix}{k}/", depth + 1, out)
        else:
            x = _num(v)
            if x is not None:
                out.append((prefix + k, x))
    return out


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


def _mmdet_fields(row: dict) -> tuple[int, int, int]:
    """(mode: 1 train, 2 val, 0 neither; epoch; iter) of an MMDetection row."""
    mode = row.get("mode")
    if mode not in MMDET_MODES:
        return 0, 0, 0
    e, it = _num(row.get("epoch")), _num(row.get("iter"))
    # bounded so that the global iteration (epoch - 1) * N + iter stays within 64 bits
    if e is None or it is None or not (abs(e) < 1e6 and abs(it) < 1e12):
        return 0, 0, 0
    return (1 if mode == "train" else 2), int(e), int(it)


class _Rows:
    """Rows as columns, as they are read: each numeric leaf as (row, value); per row what places it."""

    def __init__(self) -> None:
        self.n = 0
        self.cols: dict[str, tuple[array, array]] = {}  # key -> (row index, value)
        self.step = array("q")  # the step a row logs (0 when none)
        self.stepped = array("b")  # 1: a usable step; 2: a step key whose value is not a usable step; 0: none
        self.step_key = array("b")  # which of STEP_KEYS held it, -1 for none
        self.mode, self.epoch, self.iter = array("b"), array("q"), array("q")  # MMDetection's fields
        self.header: dict[str, Any] = {}  # short scalars of rows without a mode (MMDetection's env_info row)
        self.headers = 0
        self.line = array("q")  # where each row is, for the report

    def add(self, row: dict, line: int) -> None:
        """One row; `_TooDeep` (and nothing kept) when it nests deeper than `MAX_DEPTH`."""
        leaves = _leaves(row)
        i = self.n
        self.n += 1
        k = -1
        for j, key in enumerate(STEP_KEYS):
            if key in row and _num(row[key]) is not None:
                k = j
                break
        s = None if k < 0 else _step_of(row[STEP_KEYS[k]])
        self.step.append(s or 0)
        self.stepped.append(0 if k < 0 else 1 if s is not None else 2)
        self.step_key.append(k)
        mode, epoch, it = _mmdet_fields(row)
        self.mode.append(mode)
        self.epoch.append(epoch)
        self.iter.append(it)
        if not mode and self.headers < HEADER_ROWS:
            self.headers += 1
            for key, v in row.items():  # env_info / config header: keep the short scalars (seed, exp_name)
                if isinstance(v, (int, float, bool)) or (isinstance(v, str) and len(v) <= 200):
                    self.header[key] = v
        self.line.append(line)
        for key, x in leaves:
            col = self.cols.get(key)
            if col is None:
                col = self.cols[key] = (array("q"), array("d"))
            col[0].append(i)
            col[1].append(x)

    def _arrays(self, name: str) -> np.ndarray:
        return np.frombuffer(getattr(self, name), dtype={"b": np.int8, "q": np.int64}[getattr(self, name).typecode])

    def is_mmdet(self) -> bool:
        """MMDetection 2.x's TextLoggerHook JSON log, told by its content: (nearly) every row carries `mode`
        (train / val), `epoch` and `iter`, but for the `env_info` / config header."""
        mode = self._arrays("mode")
        if not (mode == 1).any():
            return False
        return int(np.count_nonzero(mode == 0)) <= max(2, self.n // 20)

    def _columns(self, row_step: np.ndarray, row_ok: np.ndarray, rename) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Each column's points at their rows' steps, for rows that `row_ok` keeps; `rename(key, rows)` gives
        [(name, mask of those rows)] for the series a column's points go to."""
        out: dict[str, tuple[list, list]] = {}
        for key in list(self.cols):
            rows_a, vals_a = self.cols.pop(key)  # let each column go as it is placed
            rows, vals = np.frombuffer(rows_a, np.int64), np.frombuffer(vals_a, np.float64)
            keep = row_ok[rows]
            rows, vals = rows[keep], vals[keep]
            for name, mask in rename(key, rows):
                steps, values = (row_step[rows], vals) if mask is None else (row_step[rows[mask]], vals[mask])
                if len(steps):
                    s, v = out.setdefault(name, ([], []))
                    s.append(steps)
                    v.append(values)
        return {k: (np.concatenate(s), np.concatenate(v)) for k, (s, v) in out.items()}

    def generic(self, path: str, problems: list[Problem], lines: bool) -> dict[str, Series]:
        """A row without a step key takes the step of the row before it (HF writes `predict_*` rows without
        `step` right after the eval row they belong to); only a file without any step key counts rows. A row
        whose step is not finite or beyond 64 bits is skipped and reported."""
        stepped, key_of = self._arrays("stepped"), self._arrays("step_key")
        index = np.arange(self.n, dtype=np.int64)
        if (stepped != 0).any():
            last = np.maximum.accumulate(np.where(stepped == 1, index, -1))  # the last row with a usable step
            row_step = self._arrays("step")[np.maximum(last, 0)]
            row_ok = (last >= 0) & (stepped != 2)  # before the first stepped row there is nothing to place it at
        else:
            row_step, row_ok = index, np.ones(self.n, dtype=bool)
        unusable = np.flatnonzero(stepped == 2)
        if len(unusable):
            where = self._arrays("line")[unusable[:10]].tolist() if lines else unusable[:10].tolist()
            problems.append(Problem(
                "bad_value", path, f"{len(unusable)} row(s) have a step that is not finite or beyond 64 bits "
                f"(first: {'line' if lines else 'log_history entry'} {where[0]}) and were skipped",
                {"count": int(len(unusable)), "lines" if lines else "entries": where}))

        def rename(key: str, rows: np.ndarray):
            if key in STEP_KEYS:  # a row's own step key is its step, not a series
                return [(key, key_of[rows] != STEP_KEYS.index(key))]
            return [(key, None)]

        return _series_from_columns(self._columns(row_step, row_ok, rename), path, problems)

    def mmdet(self, path: str, problems: list[Problem]) -> tuple[dict[str, Series], dict[str, Any]]:
        """Train rows at the global iteration (epoch - 1) * N + iter, N the largest train `iter` (the iteration
        counter restarts every epoch); val rows as `val/<key>` at the end of their epoch, epoch * N (their own
        `iter` counts validation batches); an `epoch` series (1-based, as logged) at every train row so the
        epoch axis is known. Text cells (`bbox_mAP_copypaste`) are not series."""
        mode, epoch, it = self._arrays("mode"), self._arrays("epoch"), self._arrays("iter")
        train = mode == 1
        n = max(int(it[train].max()), 1)
        # an iteration-based runner keeps `epoch` at one value and counts `iter` globally: there a val row
        # belongs after the train row before it
        by_iter = len(np.unique(epoch[train])) == 1
        row_step = np.where(train, (epoch - 1) * n + it, epoch * n)
        if by_iter:
            index = np.arange(self.n, dtype=np.int64)
            last = np.maximum.accumulate(np.where(train, index, -1))  # the train row before each row
            val_after = (mode == 2) & (last >= 0)
            row_step[val_after] = row_step[last[val_after]]

        def rename(key: str, rows: np.ndarray):
            if key in MMDET_INDEX:
                return []
            is_train = train[rows]
            return [(key, is_train), ("val/" + key, ~is_train)]

        cols = self._columns(row_step, mode != 0, rename)
        cols["epoch"] = (row_step[train], epoch[train].astype(np.float64))
        hparams = dict(self.header)
        hparams["max_train_iter"] = n  # N of the step formula
        return _series_from_columns(cols, path, problems), hparams


def _series_from_columns(cols: dict[str, tuple[np.ndarray, np.ndarray]], path: str,
                         problems: list[Problem]) -> dict[str, Series]:
    """Series in write order; a step going back supersedes the overlap (TensorBoard's rule) and is reported.
    Earlier attempts of a file that a restart from scratch superseded go to `problems` as an `attempts`
    problem that `_with_attempts` turns into runs of their own."""
    back = {k: c for k, c in cols.items() if len(c[0]) > 1 and bool(np.any(np.diff(c[0]) < 0))}
    earlier = earlier_attempts(back) if back else []
    if earlier:
        problems.append(Problem("attempts", path, "", {"columns": earlier}))
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


def read_json_log(path: str | Path, name: str) -> Run:
    path = str(path)
    try:
        opened = open_log(path)
    except Unreadable as e:
        return Run(name, (path,), {}, (e.problem,), format="json")
    with opened:
        run, why = _read(opened, name)
    if run is None or why:
        # a document that is not a log or breaks before its first record, or a damaged array of rows that
        # may be JSON lines after all (its first line a stray `[`): read as JSON lines, kept unless it has fewer points
        try:
            again = open_log(path)
        except Unreadable as e:
            return run or Run(name, (path,), {}, (e.problem,), format="json")
        with again:
            text = TextLines(again)
            lines = _read_lines(text, text.batches(), name, why if run is None else "")
        if run is None or _points(lines) >= _points(run):
            run, opened = lines, again
    return replace(run, problems=tuple(opened.problems) + run.problems) if opened.problems else run


def _points(run: Run) -> int:
    return sum(s.points for s in run.series.values())


def _parse(text: str) -> tuple[Any, str]:
    """(document, "") or (None, what is wrong)."""
    try:
        return json.loads(text), ""
    except RecursionError:
        return None, "nested deeper than the JSON parser allows"
    except ValueError as e:  # JSONDecodeError, or an integer of thousands of digits
        return None, str(e)


def _document(pieces: Iterator[str], opens: str, path: str, name: str, text: TextLines) -> tuple[Run | None, str]:
    """A whole-document log (HF `trainer_state.json`, a JSON array of rows) read record by record; (None,
    why) when it is not one or breaks before its first record."""
    rows = _Rows()
    deep = 0

    def add(row: dict, index: int) -> None:
        nonlocal deep
        try:
            rows.add(row, index)
        except _TooDeep:
            deep += 1

    try:
        doc = read_document(pieces, add, HF_HPARAMS, opens)
    except NotALog as e:
        return None, str(e)
    if doc.kind == "rows" and not doc.records:
        return None, "an empty array"
    if not doc.kind:
        return Run(name, (path,), {}, (Problem("unknown_file", path, "a JSON document without `log_history` or "
                                                                     "metric rows: not a log"), *text.problems()),
                   format="json"), ""
    found: list[Problem] = []
    if doc.cut:
        found.append(Problem("truncated_record", path, doc.cut, {"entries_read": rows.n}))
    if doc.damage:
        more = f" (and {len(doc.damage) - 3} more)" if len(doc.damage) > 3 else ""
        found.append(Problem("parse_error", path, "; ".join(doc.damage[:3]) + more, {"count": len(doc.damage)}))
    if deep:
        found.append(Problem("parse_error", path, f"{deep} row(s) nest objects deeper than {MAX_DEPTH} levels: "
                                                  "skipped", {"count": deep}))
    series = rows.generic(path, found, lines=False)
    hparams = {k: v for k, v in doc.hparams.items() if k in HF_HPARAMS}
    run = _with_attempts(Run(name, (path,), series, tuple(found + text.problems()), hparams, format="json"))
    return run, "a damaged array" if doc.kind == "rows" and (found or doc.trailing) else ""


_NONBLANK = re.compile(r"[^ \t\r\n]")
_EOL = re.compile(r"[\r\n]")


def _start(chunks: Iterator[str]) -> tuple[str, str]:
    """(the text read, its first line that is not blank): read until that line is whole or over `MAX_LINE`."""
    start = ""
    for chunk in chunks:
        start += chunk
        m = _NONBLANK.search(start)
        if m is None:
            if len(start) > MAX_LINE:  # blank lines only so far: keep their count, not their text
                start = "\n" * start.replace("\r\n", "\n").replace("\r", "\n").count("\n")
            continue
        end = _EOL.search(start, m.start())
        if end is not None or len(start) - m.start() > MAX_LINE:
            return start, start[m.start():end.start() if end else None]
    m = _NONBLANK.search(start)
    return start, start[m.start():] if m else ""


def _is_document(first: str) -> bool:
    first = first.strip()
    return first.startswith("[") or first == "{" or (first.startswith("{") and '"log_history"' in first)


def _read(opened: Opened, name: str) -> tuple[Run | None, str]:
    """The run; or (None, why) when the file looked like a JSON document that is not a log (read it again as
    JSON lines)."""
    path = opened.path
    text = TextLines(opened)
    chunks = text.chunks()
    start, first = _start(chunks)
    if _is_document(first):
        # a whole document (pretty-printed trainer_state.json, a JSON array of rows): read record by record
        return _document(chain([start], chunks), first.strip()[0], path, name, text)
    return _read_lines(text, text.batches(chain([start], chunks)), name, ""), ""


def _read_lines(text: TextLines, batches: Iterator[tuple[int, list[str]]], name: str, why: str) -> Run:
    """JSON Lines: one object per line; a bad line is reported and skipped. A document that does not parse is
    read this way too (its first line may be the bad one); without a row it is reported whole."""
    path = text.opened.path
    rows = _Rows()
    bad: list[int] = []
    nbad = 0
    seen = False
    for first, lines in batches:
        for lineno, line in enumerate(lines, first):
            if not line.strip():
                continue
            seen = True
            obj, _ = _parse(line)
            if isinstance(obj, dict):
                try:
                    rows.add(obj, lineno)
                    continue
                except _TooDeep:
                    pass
            nbad += 1
            if len(bad) < 10:
                bad.append(lineno)
    if not seen:
        return Run(name, (path,), {}, (Problem("empty_file", path, "the file is empty"), *text.problems()),
                   format="json")
    if not rows.n and why:
        return Run(name, (path,), {}, (Problem("parse_error", path, f"not valid JSON: {why}"), *text.problems()),
                   format="json")
    problems: list[Problem] = []
    if nbad:
        problems.append(Problem("parse_error", path,
                                f"{nbad} line(s) are not JSON objects (first: line {bad[0]}); the other "
                                f"{rows.n} were read", {"count": nbad, "lines": bad}))
    problems += text.problems()
    if not rows.n:
        return Run(name, (path,), {}, (Problem("unknown_file", path, "no JSON metric rows found"), *problems),
                   format="json")
    if rows.is_mmdet():
        series, hparams = rows.mmdet(path, problems)
        return _with_attempts(Run(name, (path,), series, tuple(problems), hparams, format="jsonl"))
    series = rows.generic(path, problems, lines=True)
    return _with_attempts(Run(name, (path,), series, tuple(problems), format="jsonl"))


def _with_attempts(run: Run) -> Run:
    """The run with its earlier attempts (see `_series_from_columns`) as runs of their own."""
    found = [p for p in run.problems if p.kind == "attempts"]
    if not found:
        return run
    attempts = attempt_runs(found[0].data["columns"], run.name, run.sources[0], run.format)
    return replace(run, problems=tuple(p for p in run.problems if p.kind != "attempts"), attempts=attempts)
