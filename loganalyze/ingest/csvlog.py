"""CSV step logs: Lightning `metrics.csv`, Keras `CSVLogger`, YOLOv5 `results.csv`, plain `step,loss,…`.

Empty cells mean "not logged at this step" (Lightning writes sparse rows); `nan`/`inf` cells
are values and are kept. A bad row or cell is reported with its line number and the rest of
the file is still read.
"""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from ..model import Problem, Run, Series
from .rewind import duplicate_problem, rewind_problems, superseded

STEP_COLUMNS = ("step", "global_step", "iteration", "iter", "steps", "_step", "trainer/global_step")
EPOCH_COLUMNS = ("epoch", "epochs")


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


def read_csv_log(path: str | Path, name: str) -> Run:
    path = str(path)
    problems: list[Problem] = []
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as e:
        return Run(name, (path,), {}, (Problem("unreadable", path, f"cannot read: {e.strerror or e}"),), format="csv")
    text = raw.decode("utf-8-sig", errors="replace")
    if "\x00" in text[:4096]:
        return Run(name, (path,), {}, (Problem("not_csv", path, "binary content: not a CSV log"),), format="csv")
    lines = text.splitlines()
    first = next((ln for ln in lines if ln.strip()), "")
    if not first:
        return Run(name, (path,), {}, (Problem("empty_file", path, "the file is empty"),), format="csv")
    delim = "\t" if path.lower().endswith(".tsv") else _sniff_delimiter(first)
    reader = csv.reader(io.StringIO(text), delimiter=delim)
    header: list[str] | None = None
    for row in reader:
        if any(c.strip() for c in row):
            header = [c.strip() for c in row]
            break
    if not header:
        return Run(name, (path,), {}, (Problem("empty_file", path, "the file is empty"),), format="csv")
    lower = [h.lower() for h in header]
    step_col = next((lower.index(c) for c in STEP_COLUMNS if c in lower), None)
    epoch_col = next((lower.index(c) for c in EPOCH_COLUMNS if c in lower), None)
    index_col = step_col if step_col is not None else epoch_col
    ncol = len(header)
    cols: list[list[float]] = [[] for _ in range(ncol)]
    steps: list[list[int]] = [[] for _ in range(ncol)]
    bad_cells: dict[int, list[int]] = {}
    ragged: list[int] = []
    missing_step: list[int] = []
    rows = 0
    for row in reader:
        line = reader.line_num
        if not row or not any(c.strip() for c in row):
            continue
        rows += 1
        if len(row) != ncol:
            ragged.append(line)
        if index_col is None:
            step = rows - 1
        else:
            cell = row[index_col].strip() if index_col < len(row) else ""
            v = _number(cell) if cell else None
            if v is None or not math.isfinite(v):
                missing_step.append(line)
                continue
            step = int(v)
        for j in range(min(ncol, len(row))):
            if j == index_col:
                continue
            cell = row[j].strip()
            if not cell:
                continue
            v = _number(cell)
            if v is None:
                bad_cells.setdefault(j, []).append(line)
                continue
            cols[j].append(v)
            steps[j].append(step)
    series: dict[str, Series] = {}
    rewinds: dict[tuple[int, int], list] = {}
    for j, tag in enumerate(header):
        if j == index_col or not tag:
            continue
        if j in bad_cells and not cols[j]:
            if tag.lower() not in ("", "timestamp", "time", "date", "datetime"):
                problems.append(Problem("non_numeric_column", path, f"column '{tag}' holds no numbers; skipped",
                                        {"column": tag}))
            continue
        if j in bad_cells:
            lines = bad_cells[j]
            problems.append(Problem("bad_value", path,
                                    f"column '{tag}': {len(lines)} cell(s) are not numbers (first on line {lines[0]}); "
                                    "those cells are skipped", {"column": tag, "count": len(lines), "lines": lines[:10]}))
        if cols[j]:
            sk, vk = superseded(tag, np.asarray(steps[j], dtype=np.int64), np.asarray(cols[j], dtype=np.float64),
                                rewinds)
            series[tag] = Series.from_lists(tag, sk, vk)
            # a column written on several rows of one step with the same value (Lightning logs `epoch` on the
            # train row and again on the validation row) is not a conflict worth a line
            dup = duplicate_problem(path, tag, sk, vk)
            if dup is not None:
                problems.append(dup)
    if index_col is not None and index_col == epoch_col and "epoch" not in series:
        # Keras / YOLO: one row per epoch, the epoch is the step; keep it as a series too
        ep = sorted({s for st in steps for s in st})
        series["epoch"] = Series.from_lists("epoch", ep, ep)
    problems += rewind_problems(path, rewinds, unit="column")
    if ragged:
        problems.append(Problem("ragged_row", path,
                                f"{len(ragged)} row(s) have a different number of cells than the header's {ncol} "
                                f"(first on line {ragged[0]}); their cells were read by position",
                                {"count": len(ragged), "lines": ragged[:10]}))
    if missing_step:
        problems.append(Problem("bad_value", path,
                                f"{len(missing_step)} row(s) have no usable '{header[index_col]}' value "
                                f"(first on line {missing_step[0]}) and were skipped",
                                {"column": header[index_col], "count": len(missing_step), "lines": missing_step[:10]}))
    if rows == 0:
        problems.append(Problem("empty_file", path, "the file has a header but no data rows", {"columns": header}))
    return Run(name, (path,), dict(sorted(series.items())), tuple(problems), format="csv")
