"""CSV step logs: Lightning `metrics.csv`, Keras `CSVLogger`, YOLOv5 `results.csv`, plain `step,loss,…`.

Empty cells mean "not logged at this step" (Lightning writes sparse rows); `nan`/`inf` cells
are values and are kept. A bad row or cell is reported with its line number and the rest of
the file is still read.

The file is streamed: rows are parsed by the `csv` module (C) a chunk at a time and each
column of a chunk is converted at once, so memory holds one chunk and the points kept, never
the file, and a clean column costs one `float()` a cell. A chunk with a bad cell falls back to
cell-by-cell parsing for that column only.
"""
from __future__ import annotations

from dataclasses import replace

import csv
import math
import re
from itertools import chain, compress, islice
from operator import methodcaller
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..model import Problem, Run, Series
from ._open import Opened, TextLines, Unreadable, open_log
from .rewind import attempt_runs, duplicate_problem, earlier_attempts, rewind_problems, superseded

STEP_COLUMNS = ("step", "global_step", "iteration", "iter", "steps", "_step", "trainer/global_step")
EPOCH_COLUMNS = ("epoch", "epochs")
TIME_COLUMNS = ("", "timestamp", "time", "date", "datetime")
_INT64 = (-(1 << 63), 1 << 63)


def _sniff_delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", "\t", ";", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        low = cell.strip().lower()
        if low in ("nan", "-nan", "+nan"):
            return math.nan
        if low in ("inf", "+inf", "infinity", "+infinity"):
            return math.inf
        if low in ("-inf", "-infinity"):
            return -math.inf
        if low in ("true", "false"):
            return 1.0 if low == "true" else 0.0
        return None


def _values(cells: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(value, present, bad) of one column's cells; an empty cell is not present, a text cell is bad.
    One C-level `float` per present cell; a column with a cell that is not a plain number (text,
    blanks, `true`) is read again cell by cell."""
    n = len(cells)
    try:  # a dense column: every cell a number
        return np.fromiter(map(float, cells), np.float64, n), np.ones(n, dtype=bool), np.zeros(n, dtype=bool)
    except ValueError:
        pass
    present = np.fromiter(map(bool, cells), bool, n)
    try:
        got = np.fromiter(map(float, compress(cells, present)), np.float64)
    except ValueError:
        pass
    else:
        if len(got) == n:
            return got, present, np.zeros(n, dtype=bool)
        value = np.full(n, np.nan)
        value[present] = got
        return value, present, np.zeros(n, dtype=bool)
    value = np.full(n, np.nan)
    present = np.zeros(n, dtype=bool)
    bad = np.zeros(n, dtype=bool)
    for i, c in enumerate(cells):
        c = c.strip()
        if not c:
            continue
        present[i] = True
        v = _number(c)
        if v is None:
            bad[i] = True
        else:
            value[i] = v
    return value, present, bad


def _steps(cells: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(step, usable, out of range) of the step column's cells; `12` and `12.0` are step 12."""
    n = len(cells)
    try:
        return np.fromiter(map(int, cells), np.int64, n), np.ones(n, dtype=bool), np.zeros(n, dtype=bool)
    except (ValueError, OverflowError):
        pass
    step = np.zeros(n, dtype=np.int64)
    ok = np.zeros(n, dtype=bool)
    huge = np.zeros(n, dtype=bool)
    for i, c in enumerate(cells):
        c = c.strip()
        if not c:
            continue
        try:
            s = int(c)
        except ValueError:
            v = _number(c)
            if v is None or not math.isfinite(v):
                continue
            s = int(v)
        if _INT64[0] <= s < _INT64[1]:
            step[i], ok[i] = s, True
        else:
            huge[i] = True
    return step, ok, huge


class _Lines:
    """The first ten line numbers and a count."""

    def __init__(self) -> None:
        self.count = 0
        self.first: list[int] = []

    def add(self, lines: Sequence[int]) -> None:
        self.count += len(lines)
        self.first += list(lines[: 10 - len(self.first)])


class _Table:
    """Each column's points, collected chunk by chunk."""

    def __init__(self, header: list[str], index_col: int | None, epoch_col: int | None = None):
        self.header, self.index_col = header, index_col
        # a step column that starts again at every epoch (epoch,iter,loss) is a counter within the epoch: the
        # rows where it goes back exactly as the epoch goes up are shifted on, so steps run on across epochs
        self.epoch_col = epoch_col if epoch_col is not None and epoch_col != index_col else None
        self.carry = (None, None, 0)  # (last step, last epoch, offset so far)
        self.per_epoch = 0  # epoch changes at which the step restarted
        ncol = len(header)
        self.steps: list[list[np.ndarray]] = [[] for _ in range(ncol)]
        self.values: list[list[np.ndarray]] = [[] for _ in range(ncol)]
        self.bad = [_Lines() for _ in range(ncol)]
        self.ragged, self.missing_step, self.huge_step = _Lines(), _Lines(), _Lines()
        self.rows = 0  # data rows that are not blank

    def add(self, cols: list[Sequence[str]], line: np.ndarray, ragged: np.ndarray) -> None:
        """One chunk: each column's cells (as many as `line` has line numbers), which rows were ragged."""
        n = len(line)
        parsed = [_values(c) if j != self.index_col else None for j, c in enumerate(cols)]
        present = np.zeros(n, dtype=bool)
        for j, p in enumerate(parsed):
            present |= p[1] if p is not None else np.fromiter(map(bool, map(str.strip, cols[j])), bool, n)
        self.ragged.add(line[ragged & present].tolist())
        if self.index_col is None:
            step = self.rows + np.cumsum(present) - 1
            usable = present
        else:
            step, usable, huge = _steps(cols[self.index_col])
            usable &= present
            self.missing_step.add(line[present & ~usable & ~huge].tolist())
            self.huge_step.add(line[huge].tolist())
            if self.epoch_col is not None and usable.any():
                step = self._run_on(step, usable, parsed[self.epoch_col])
        self.rows += int(np.count_nonzero(present))
        for j, p in enumerate(parsed):
            if p is None:
                continue
            value, has, bad = p
            if bad.any():
                self.bad[j].add(line[bad & usable].tolist())
            keep = has & ~bad & usable
            if keep.all():
                self.steps[j].append(step)
                self.values[j].append(value)
            elif keep.any():
                self.steps[j].append(step[keep])
                self.values[j].append(value[keep])

    def _run_on(self, step: np.ndarray, usable: np.ndarray, epoch) -> np.ndarray:
        """The steps with each per-epoch restart shifted on: where the step goes back while the epoch goes up,
        everything after continues one past the step before it. A restart without an epoch change (another
        run appended, a resume) is left to the rewind rule."""
        value, has, bad = epoch
        rows = np.flatnonzero(usable)
        st = step[rows].astype(np.int64)
        ep = np.where(has & ~bad, value, np.nan)[rows]
        # the epoch of rows that do not log it is the one before (Lightning's sparse rows)
        known = ~np.isnan(ep)
        last_step, last_ep, offset = self.carry
        fill = np.maximum.accumulate(np.where(known, np.arange(len(ep)), -1))
        ep = np.where(fill >= 0, ep[np.maximum(fill, 0)], np.nan if last_ep is None else last_ep)
        prev_st = np.concatenate([[st[0] if last_step is None else last_step], st[:-1]])
        prev_ep = np.concatenate([[ep[0] if last_ep is None else last_ep], ep[:-1]])
        trigger = (st < prev_st) & (ep > prev_ep)
        inc = np.where(trigger, prev_st - st + 1, 0)
        shift = offset + np.cumsum(inc)
        self.per_epoch += int(np.count_nonzero(trigger))
        self.carry = (int(st[-1]), None if np.isnan(ep[-1]) else float(ep[-1]), int(shift[-1]))
        out = step.copy()
        out[rows] = st + shift
        return out

    def column(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Column j's points, once: its chunks are let go as they are joined."""
        steps, values = self.steps[j], self.values[j]
        self.steps[j], self.values[j] = [], []
        if not steps:
            return np.zeros(0, np.int64), np.zeros(0)
        return np.concatenate(steps), np.concatenate(values)


def _columns(first: int, lines: list[str], delim: str, ncol: int, errors: _Lines, messages: list[str]
             ) -> tuple[list[Sequence[str]], np.ndarray, np.ndarray]:
    """The columns of a chunk of lines: (cells of each of the `ncol` columns, the line of each row,
    which rows had another number of cells). Lines without a quote character are split as they are
    (what the csv module would give, at less cost; when every line has `ncol` cells, with one split for
    the chunk); otherwise the csv module parses them, and a row it refuses (a field over its size
    limit) is counted, not fatal."""
    if '"' not in "".join(lines):
        if all(lines):
            nums = np.arange(first, first + len(lines), dtype=np.int64)
        else:
            idx = np.flatnonzero(np.fromiter(map(bool, lines), bool, len(lines)))
            lines = [lines[k] for k in idx.tolist()]
            nums = first + idx
        counts = np.fromiter(map(methodcaller("count", delim), lines), np.int64, len(lines))
        ragged = counts != ncol - 1
        if not ragged.any():
            cells = delim.join(lines).split(delim)
            return [cells[j::ncol] for j in range(ncol)], nums, ragged
        rows = [ln.split(delim) for ln in lines]
    else:
        rows, nums_l = [], []
        reader = csv.reader(lines, delimiter=delim)
        while True:
            try:
                for row in reader:
                    if row:
                        rows.append(row)
                        nums_l.append(first + reader.line_num - 1)
                break
            except csv.Error as e:
                errors.add([first + reader.line_num - 1])
                if not messages:
                    messages.append(str(e))
        nums = np.asarray(nums_l, dtype=np.int64)
        ragged = np.fromiter(map(len, rows), np.int64, len(rows)) != ncol
    for i in np.flatnonzero(ragged).tolist():
        r = rows[i]
        rows[i] = r[:ncol] + [""] * (ncol - len(r))
    cols = list(zip(*rows)) if rows else [() for _ in range(ncol)]
    return cols, nums, ragged


def _find_header(batches: Iterable[tuple[int, list[str]]], tsv: bool
                 ) -> tuple[list[str], int, str, str, tuple[int, list[str]]] | None:
    """The first line with a cell that is not blank: (its cells, its line number, its text, the delimiter
    sniffed from it, the lines after it in its chunk); None for a file without one."""
    for first, lines in batches:
        for k, ln in enumerate(lines):
            if not ln.strip():
                continue
            delim = "\t" if tsv else _sniff_delimiter(ln)
            try:
                row = next(csv.reader([ln], delimiter=delim), [])
            except csv.Error:  # a header over the csv module's field limit
                row = ln.split(delim)
            if any(c.strip() for c in row):
                return [c.strip() for c in row], first + k, ln, delim, (first + k + 1, lines[k + 1:])
    return None


def read_csv_log(path: str | Path, name: str) -> Run:
    path = str(path)
    try:
        opened = open_log(path)
    except Unreadable as e:
        return Run(name, (path,), {}, (e.problem,), format="csv")
    with opened:
        return _read(opened, name)


def _read(opened: Opened, name: str) -> Run:
    path = opened.path
    problems: list[Problem] = []

    def run(series: dict[str, Series] | None = None) -> Run:
        return Run(name, (path,), dict(sorted((series or {}).items())),
                   tuple(opened.problems + problems + text.problems()), format="csv")

    text = TextLines(opened)
    batches = text.batches()
    head = list(islice(batches, 1))  # the first chunk read tells text from binary
    start = len(text.head) - len(text.head.lstrip())
    if "\x00" in re.match(r"[^\r\n]*", text.head[start:]).group():  # where the header should be
        return Run(name, (path,), {}, (*opened.notes, Problem("not_csv", path, "binary content: not a CSV log")),
                   format="csv")
    found = _find_header(chain(head, batches), path.lower().removesuffix(".gz").endswith(".tsv"))
    if found is None:
        problems.append(Problem("empty_file", path, "the file is empty"))
        return run()
    header, header_line, header_text, delim, rest = found
    errors, messages = _Lines(), []
    headerless = all(_number(c) is not None for c in header if c) and any(header)
    if headerless:
        problems.append(Problem("no_header", path,
                                f"the first row (line {header_line}) is all numbers, not a header: read as data, "
                                f"columns named column_1…column_{len(header)}, each row one step",
                                {"line": header_line, "columns": len(header)}))
        header = [f"column_{j + 1}" for j in range(len(header))]
    lower = [h.lower() for h in header]
    step_col = next((lower.index(c) for c in STEP_COLUMNS if c in lower), None)
    epoch_col = next((lower.index(c) for c in EPOCH_COLUMNS if c in lower), None)
    index_col = step_col if step_col is not None else epoch_col
    table = _Table(header, index_col, epoch_col)
    if headerless:
        rest = (header_line, [header_text] + rest[1])
    for first, lines in chain([rest], batches):
        cols, nums, ragged = _columns(first, lines, delim, len(header), errors, messages)
        if len(nums):
            table.add(cols, nums, ragged)
        del cols

    series: dict[str, Series] = {}
    rewinds: dict[tuple[int, int], list] = {}
    all_steps: list[np.ndarray] = []
    went_back: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # columns whose step goes back: maybe several runs
    for j, tag in enumerate(header):
        if j == index_col or not tag:
            continue
        steps, values = table.column(j)
        bad = table.bad[j]
        if bad.count and not len(steps):
            if tag.lower() not in TIME_COLUMNS:
                problems.append(Problem("non_numeric_column", path, f"column '{tag}' holds no numbers; skipped",
                                        {"column": tag}))
            continue
        if bad.count:
            problems.append(Problem("bad_value", path,
                                    f"column '{tag}': {bad.count} cell(s) are not numbers (first on line "
                                    f"{bad.first[0]}); those cells are skipped",
                                    {"column": tag, "count": bad.count, "lines": bad.first}))
        if len(steps):
            if index_col == epoch_col:
                all_steps.append(steps)
            if len(steps) > 1 and bool(np.any(steps[1:] < steps[:-1])):
                went_back[tag] = (steps, values)
            sk, vk = superseded(tag, steps, values, rewinds)
            series[tag] = Series.from_lists(tag, sk, vk)
            # a column written on several rows of one step with the same value (Lightning logs `epoch` on the
            # train row and again on the validation row) is not a conflict worth a line
            dup = duplicate_problem(path, tag, sk, vk)
            if dup is not None:
                problems.append(dup)
    if index_col is not None and index_col == epoch_col and "epoch" not in series and all_steps:
        # Keras / YOLO: one row per epoch, the epoch is the step; keep it as a series too
        ep = np.sort(np.concatenate(all_steps))
        ep = ep[np.append(True, ep[1:] != ep[:-1])]
        series["epoch"] = Series.from_lists("epoch", ep, ep)
    problems += rewind_problems(path, rewinds, unit="column")
    attempts = attempt_runs(earlier_attempts(went_back), name, path, "csv",
                            by_epoch=index_col is not None and index_col == epoch_col) if went_back else ()
    ncol = len(header)
    if table.ragged.count:
        r = table.ragged
        problems.append(Problem("ragged_row", path,
                                f"{r.count} row(s) have a different number of cells than the header's {ncol} "
                                f"(first on line {r.first[0]}); their cells were read by position",
                                {"count": r.count, "lines": r.first}))
    if table.missing_step.count:
        m = table.missing_step
        problems.append(Problem("bad_value", path,
                                f"{m.count} row(s) have no usable '{header[index_col]}' value "
                                f"(first on line {m.first[0]}) and were skipped",
                                {"column": header[index_col], "count": m.count, "lines": m.first}))
    if table.huge_step.count:
        h = table.huge_step
        problems.append(Problem("bad_value", path,
                                f"{h.count} row(s) have a '{header[index_col]}' outside the 64-bit range "
                                f"(first on line {h.first[0]}) and were skipped",
                                {"column": header[index_col], "count": h.count, "lines": h.first}))
    if errors.count:
        problems.append(Problem("parse_error", path,
                                f"{errors.count} row(s) could not be parsed as CSV ({messages[0]}; first on line "
                                f"{errors.first[0]}) and were skipped",
                                {"count": errors.count, "lines": errors.first}))
    if table.per_epoch:
        problems.append(Problem("per_epoch_steps", path,
                                f"column '{header[index_col]}' starts again as column '{header[epoch_col]}' goes up "
                                f"({table.per_epoch} time(s)): read as a count within the epoch, and the steps run on "
                                "across epochs", {"column": header[index_col], "restarts": table.per_epoch}))
    if table.rows == 0:
        problems.append(Problem("empty_file", path, "the file has a header but no data rows", {"columns": header}))
    return replace(run(series), attempts=attempts)
