"""Every point of every run, as the analysis sees it, without the analysis.

    df = loganalyze.read("runs/", tags="val/*")      # pandas, long form: run, tag, step, value, wall_time[, epoch]
    wide = loganalyze.read("runs/", pivot=True)      # one column per tag, steps aligned
    pts = loganalyze.read_arrays("runs/")            # the same as numpy arrays, no pandas

The points come from the same ingest (`loganalyze.ingest`) and the same epoch axis
(`loganalyze.align`) that `analyze` uses, so an export and a report never disagree. Nothing is
dropped without a word: every point is kept (no reservoir), and what was wrong with a file
(a truncated tail, a CRC error, a rewound step) is on the result — `Points.problems`, or
`df.attrs["problems"]` as JSON-able dicts, so it survives a Parquet round trip.

Only numpy is needed here; pandas (`loganalyze[pandas]`) for `read`, pyarrow
(`loganalyze[parquet]`) for Parquet.
"""
from __future__ import annotations

import fnmatch
import os
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Mapping

import numpy as np

from .align import align, group_experiments
from .config import Config
from .ingest import discover, read_source
from .model import EpochAxis, Problem, Run

class MissingExtra(ImportError):
    """An optional dependency is not installed; the message names the extra that brings it."""


def require(module: str, extra: str, what: str):
    """Import an optional dependency, or fail with the `pip install` line that fixes it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingExtra(f"{what} needs {module}, which is not installed: "
                           f"pip install 'loganalyze[{extra}]'") from e


@dataclass(frozen=True, eq=False)
class Points:
    """Every selected point in long form, ordered by run, tag, then as the series holds them (by step).

    `run` and `tag` are codes into `runs` and `tags` (both sorted): a name per point would cost
    ten times the point itself. `epoch` is the 0-based epoch of the step on the run's epoch axis,
    -1 where the axis is unknown (or the step lies before its first epoch); `axes` says how each
    run's axis is known.
    """

    run: np.ndarray  # int32 code into runs
    tag: np.ndarray  # int32 code into tags
    step: np.ndarray  # int64
    value: np.ndarray  # float64; NaN and inf are kept, they are what some findings are about
    wall_time: np.ndarray  # float64, NaN where the format records none
    epoch: np.ndarray  # int64, -1 where unknown
    runs: tuple[str, ...]
    tags: tuple[str, ...]
    problems: tuple[Problem, ...]
    axes: Mapping[str, EpochAxis]  # run name -> its epoch axis

    def __len__(self) -> int:
        return int(len(self.step))

    @property
    def has_epoch(self) -> bool:
        """Whether any selected run has a known epoch axis (the `epoch` column is written only then)."""
        return bool(np.any(self.epoch >= 0))

    def run_names(self) -> np.ndarray:
        return np.asarray(self.runs, dtype=object)[self.run]

    def tag_names(self) -> np.ndarray:
        return np.asarray(self.tags, dtype=object)[self.tag]


def _patterns(p: str | Iterable[str] | None) -> tuple[str, ...] | None:
    if p is None:
        return None
    return (p,) if isinstance(p, str) else tuple(p)


def _matches(name: str, patterns: tuple[str, ...] | None) -> bool:
    return patterns is None or any(fnmatch.fnmatchcase(name, pat) for pat in patterns)


def _as_paths(paths) -> list[str]:
    return [os.fspath(paths)] if isinstance(paths, (str, os.PathLike)) else [os.fspath(p) for p in paths]


def read_arrays(paths, tags: str | Iterable[str] | None = None, runs: str | Iterable[str] | None = None,
                steps_per_epoch: int | None = None) -> Points:
    """Every point under `paths` (event-file directories, CSV/JSON logs, or trees of them) as arrays.

    `tags` and `runs`: shell-style patterns (`"val/*"`, or a list: any matches) on the tag as
    written and the run name as `analyze` names it. Damaged input never raises; it is in
    `.problems`. A path that does not exist raises FileNotFoundError: a typo is not an empty log.
    """
    paths = _as_paths(paths)
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        raise FileNotFoundError(f"no such file or directory: {', '.join(missing)}")
    tag_pats, run_pats = _patterns(tags), _patterns(runs)
    config = Config(steps_per_epoch=steps_per_epoch)
    sources, problems = discover(paths)
    problems = list(problems)
    by_name = {s.name: s for s in sources}
    # experiments as analyze groups them (Keras' train/ + validation/): the epoch axis is the experiment's,
    # so a run is read with its siblings even when only it was asked for
    shells = [Run(s.name, s.files, {}, format=s.kind) for s in sources]
    groups = [(name, [(prefix, r.name) for prefix, r in members]) for name, members in group_experiments(shells)]
    chunks: list[tuple[str, str, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]] = []
    axes: dict[str, EpochAxis] = {}
    for exp_name, members in groups:
        if not any(_matches(name, run_pats) for _, name in members):
            continue
        loaded = [(prefix, read_source(by_name[name])) for prefix, name in members]
        axis = align(loaded, exp_name, config).epochs
        for _, run in loaded:
            if not _matches(run.name, run_pats):
                continue
            problems += run.problems
            axes[run.name] = axis
            for tag in sorted(run.series):
                if not _matches(tag, tag_pats):
                    continue
                s = run.series[tag]
                epoch = axis.epoch_of(s.step) if axis.known else None
                chunks.append((run.name, tag, s.step, s.value, s.wall_time, epoch))
        del loaded
    return _assemble(chunks, problems, axes)


def _assemble(chunks: list, problems: list[Problem], axes: dict[str, EpochAxis]) -> Points:
    """One set of columns from per-(run, tag) chunks, each chunk let go once copied: memory peaks at the
    columns plus one chunk, not twice the points."""
    run_names = tuple(sorted({c[0] for c in chunks}))
    tag_names = tuple(sorted({c[1] for c in chunks}))
    run_code = {r: i for i, r in enumerate(run_names)}
    tag_code = {t: i for i, t in enumerate(tag_names)}
    chunks.sort(key=lambda c: (run_code[c[0]], tag_code[c[1]]))
    n = sum(len(c[2]) for c in chunks)
    out = dict(run=np.empty(n, np.int32), tag=np.empty(n, np.int32), step=np.empty(n, np.int64),
               value=np.empty(n, np.float64), wall_time=np.empty(n, np.float64), epoch=np.empty(n, np.int64))
    at = 0
    chunks.reverse()
    while chunks:
        run, tag, step, value, wall, epoch = chunks.pop()
        end = at + len(step)
        out["run"][at:end] = run_code[run]
        out["tag"][at:end] = tag_code[tag]
        out["step"][at:end] = step
        out["value"][at:end] = value
        out["wall_time"][at:end] = wall
        out["epoch"][at:end] = -1 if epoch is None else epoch
        at = end
        del step, value, wall, epoch
    return Points(**out, runs=run_names, tags=tag_names, problems=tuple(problems), axes=axes)


def wide(points: Points) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """The pivot: (run code, step, epoch, {tag: values}) with one row per (run, step) any tag was
    written at, NaN where a tag has no point. A step written twice for one tag keeps the later write."""
    rows_run, rows_step, rows_epoch = [], [], []
    cols: dict[str, list[np.ndarray]] = {t: [] for t in points.tags}
    bounds = np.flatnonzero(np.diff(points.run)) + 1
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(points)]):
        if hi <= lo:
            continue
        r = int(points.run[lo])
        steps = np.unique(points.step[lo:hi])
        rows_run.append(np.full(len(steps), r, np.int32))
        rows_step.append(steps)
        axis = points.axes.get(points.runs[r])
        rows_epoch.append(axis.epoch_of(steps) if axis is not None and axis.known else np.full(len(steps), -1))
        present = set()
        tag = points.tag[lo:hi]
        tb = np.flatnonzero(np.diff(tag)) + 1
        for a, b in zip(np.r_[0, tb] + lo, np.r_[tb, hi - lo] + lo):
            t = points.tags[int(points.tag[a])]
            s, v = points.step[a:b], points.value[a:b]
            order = np.argsort(s, kind="stable")
            s, v = s[order], v[order]
            last = np.r_[s[1:] != s[:-1], True]
            col = np.full(len(steps), np.nan)
            col[np.searchsorted(steps, s[last])] = v[last]
            cols[t].append(col)
            present.add(t)
        for t in points.tags:
            if t not in present:
                cols[t].append(np.full(len(steps), np.nan))
    cat = (lambda parts, dtype: np.concatenate(parts) if parts else np.zeros(0, dtype))
    return (cat(rows_run, np.int32), cat(rows_step, np.int64), cat(rows_epoch, np.int64),
            {t: cat(c, np.float64) for t, c in cols.items()})


def problem_dicts(problems: Iterable[Problem]) -> list[dict[str, Any]]:
    return [asdict(p) | {"data": dict(p.data)} for p in problems]


def read(paths, tags: str | Iterable[str] | None = None, runs: str | Iterable[str] | None = None,
         pivot: bool = False, steps_per_epoch: int | None = None):
    """Every point under `paths` as a pandas DataFrame (needs `loganalyze[pandas]`).

    Long form: `run`, `tag` (categoricals), `step`, `value`, `wall_time`, and `epoch` (nullable
    integer) when any selected run's epoch axis is known. `pivot=True`: `run`, `step`, [`epoch`],
    then one column per tag (a log's own `epoch` tag, where there is one, takes that name). `df.attrs["problems"]`: what was wrong with the input, as dicts
    (`kind`, `file`, `detail`, `data`); `df.attrs["epoch_axis"]`: per run, how its epochs are known.
    """
    require("pandas", "pandas", "loganalyze.read")
    pts = read_arrays(paths, tags=tags, runs=runs, steps_per_epoch=steps_per_epoch)
    return to_pandas(pts, pivot=pivot)


KEY_COLUMNS = ("run", "step", "epoch")


def wide_epoch(points: Points) -> bool:
    """Whether the wide form carries the axis' `epoch` column: a log's own `epoch` tag takes the name."""
    return points.has_epoch and "epoch" not in points.tags


def check_wide(points: Points) -> None:
    clash = [t for t in points.tags if t in KEY_COLUMNS[:2]]
    if clash:
        raise ValueError(f"tag(s) {', '.join(map(repr, clash))} have the name of a key column of the wide form; "
                         "leave them out with tags=, or use the long form")


def to_pandas(pts: Points, pivot: bool = False):
    pd = require("pandas", "pandas", "loganalyze.read")

    def epoch_col(epoch: np.ndarray):
        return pd.arrays.IntegerArray(epoch, epoch < 0)

    if pivot:
        check_wide(pts)
        run, step, epoch, cols = wide(pts)
        data = {"run": pd.Categorical.from_codes(run, categories=list(pts.runs)), "step": step}
        if wide_epoch(pts):
            data["epoch"] = epoch_col(epoch)
        data.update(cols)
    else:
        data = {"run": pd.Categorical.from_codes(pts.run, categories=list(pts.runs)),
                "tag": pd.Categorical.from_codes(pts.tag, categories=list(pts.tags)),
                "step": pts.step, "value": pts.value, "wall_time": pts.wall_time}
        if pts.has_epoch:
            data["epoch"] = epoch_col(pts.epoch)
    df = pd.DataFrame(data, copy=False)
    df.attrs["problems"] = problem_dicts(pts.problems)
    df.attrs["epoch_axis"] = {r: {"provenance": a.provenance, "detail": a.detail} for r, a in sorted(pts.axes.items())}
    return df


__all__ = ["read", "read_arrays", "Points", "wide", "to_pandas", "MissingExtra", "require"]
