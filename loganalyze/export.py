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
from dataclasses import asdict, dataclass, replace
from typing import Any, Iterable, Mapping

import numpy as np

from .align import align, attempt_groups, group_experiments
from .config import Config
from .ingest import discover, read_source
from .ingest.remote import is_url
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

    run: np.ndarray  # code into runs (int8, int16 or int32: the smallest that holds them)
    tag: np.ndarray  # code into tags
    step: np.ndarray  # int64
    value: np.ndarray  # float64; NaN and inf are kept, they are what some findings are about
    wall_time: np.ndarray  # float64, NaN where the format records none
    epoch: np.ndarray  # int64, -1 where unknown (a read-only view costing nothing when no axis is known)
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
                steps_per_epoch: int | None = None, config: Config | None = None) -> Points:
    """Every point under `paths` (event-file directories, CSV/JSON logs, or trees of them) as arrays.

    `tags` and `runs`: shell-style patterns (`"val/*"`, or a list: any matches) on the tag as
    written and the run name as `analyze` names it. `steps_per_epoch` and `config` (its roles and
    steps per epoch) shape the epoch axis as they do for `analyze`. Damaged input never raises; it is in
    `.problems`. A path that does not exist raises FileNotFoundError: a typo is not an empty log.
    """
    paths = _as_paths(paths)
    missing = [p for p in paths if not is_url(p) and not os.path.exists(p)]  # a URL's own failure is a problem
    if missing:
        raise FileNotFoundError(f"no such file or directory: {', '.join(missing)}")
    tag_pats, run_pats = _patterns(tags), _patterns(runs)
    config = config or Config()
    if steps_per_epoch:
        config = replace(config, steps_per_epoch=steps_per_epoch)
    sources, problems = discover(paths)
    problems = list(problems)
    by_name = {s.name: s for s in sources}
    # experiments as analyze groups them (Keras' train/ + validation/): the epoch axis is the experiment's,
    # so a run is read with its siblings even when only it was asked for
    shells = [Run(s.name, s.files, {}, format=s.kind) for s in sources]
    groups = [(name, [(prefix, r.name) for prefix, r in members]) for name, members in group_experiments(shells)]
    chunks: list[tuple[str, str, np.ndarray, np.ndarray, np.ndarray, EpochAxis | None]] = []
    axes: dict[str, EpochAxis] = {}
    for exp_name, members in groups:
        if any(_matches(name, run_pats) for _, name in members):
            chunks += _experiment(exp_name, [(prefix, by_name[name]) for prefix, name in members], config,
                                  tag_pats, run_pats, problems, axes)
    return _assemble(chunks, problems, axes)


def _experiment(name: str, members, config: Config, tag_pats, run_pats, problems: list, axes: dict) -> list:
    """The selected (run, tag) chunks of one experiment, its epoch axis worked out as `analyze` does.
    Only the arrays outlive this call, so `_assemble` can let each go once copied."""
    loaded = [(prefix, read_source(src)) for prefix, src in members]
    axis = align(loaded, name, config).epochs
    # the earlier attempts a restart from scratch superseded are experiments of their own, as in `analyze`
    attempt_axes = [align(group, aname, config).epochs for aname, group in attempt_groups(loaded, name)]
    chunks = []
    for _, run in loaded:
        if not _matches(run.name, run_pats):
            continue
        problems += run.problems
        axes[run.name] = axis
        chunks += _chunks(run, tag_pats, axis)
        for attempt, ax in zip(run.attempts, attempt_axes):
            axes[attempt.name] = ax
            chunks += _chunks(attempt, tag_pats, ax)
    return chunks


def _chunks(run: Run, tag_pats, axis: EpochAxis) -> list:
    return [(run.name, tag, run.series[tag].step, run.series[tag].value, run.series[tag].wall_time,
             axis if axis.known else None) for tag in sorted(run.series) if _matches(tag, tag_pats)]


def _assemble(chunks: list, problems: list[Problem], axes: dict[str, EpochAxis]) -> Points:
    """One set of columns from per-(run, tag) chunks, each chunk let go once copied: memory peaks at the
    columns plus one chunk, not twice the points."""
    run_names = tuple(sorted({c[0] for c in chunks}))
    tag_names = tuple(sorted({c[1] for c in chunks}))
    run_code = {r: i for i, r in enumerate(run_names)}
    tag_code = {t: i for i, t in enumerate(tag_names)}
    chunks.sort(key=lambda c: (run_code[c[0]], tag_code[c[1]]))
    n = sum(len(c[2]) for c in chunks)
    with_epoch = any(c[5] is not None for c in chunks)
    out = dict(run=np.empty(n, _code_type(len(run_names))), tag=np.empty(n, _code_type(len(tag_names))),
               step=np.empty(n, np.int64), value=np.empty(n, np.float64), wall_time=np.empty(n, np.float64),
               epoch=np.empty(n, np.int64) if with_epoch else np.broadcast_to(np.int64(-1), (n,)))
    at = 0
    chunks.reverse()
    while chunks:
        run, tag, step, value, wall, axis = chunks.pop()
        end = at + len(step)
        out["run"][at:end] = run_code[run]
        out["tag"][at:end] = tag_code[tag]
        out["step"][at:end] = step
        out["value"][at:end] = value
        out["wall_time"][at:end] = wall
        if with_epoch:  # worked out here, not per chunk beforehand: 8 bytes a point less at the peak
            out["epoch"][at:end] = -1 if axis is None else axis.epoch_of(step)
        at = end
        del step, value, wall
    return Points(**out, runs=run_names, tags=tag_names, problems=tuple(problems), axes=axes)


def _code_type(names: int) -> type:
    """The smallest signed integer for codes, as pandas' categoricals take them (so they need no copy)."""
    return np.int8 if names < 2**7 else np.int16 if names < 2**15 else np.int32


@dataclass(frozen=True, eq=False)
class Wide:
    """The pivot: one row per (run, step) any selected tag was written at, one column per tag."""

    run: np.ndarray  # int32 code into Points.runs
    step: np.ndarray  # int64
    epoch: np.ndarray  # int64, -1 where unknown
    values: dict[str, np.ndarray]  # tag -> float64, NaN where the tag has no point
    present: dict[str, np.ndarray]  # tag -> bool: a point was written (its value may itself be NaN)


def wide(points: Points) -> Wide:
    """Pivot the long form. A step written twice for one tag keeps the later write (the ingest reports
    such steps as `duplicate_steps`)."""
    bounds = np.flatnonzero(np.diff(points.run)) + 1
    spans = [(lo, hi) for lo, hi in zip(np.r_[0, bounds].tolist(), np.r_[bounds, len(points)].tolist()) if hi > lo]
    per_run = [np.unique(points.step[lo:hi]) for lo, hi in spans]
    offsets = np.r_[0, np.cumsum([len(u) for u in per_run])].astype(np.int64)
    n = int(offsets[-1])
    run = np.empty(n, np.int32)
    epoch = np.full(n, -1, np.int64)
    values = {t: np.full(n, np.nan) for t in points.tags}
    present = {t: np.zeros(n, bool) for t in points.tags}
    for (lo, hi), steps, at in zip(spans, per_run, offsets[:-1].tolist()):
        r = int(points.run[lo])
        run[at : at + len(steps)] = r
        axis = points.axes.get(points.runs[r])
        if axis is not None and axis.known:
            epoch[at : at + len(steps)] = axis.epoch_of(steps)
        tb = (np.flatnonzero(np.diff(points.tag[lo:hi])) + 1 + lo).tolist()
        for a, b in zip([lo, *tb], [*tb, hi]):
            t = points.tags[int(points.tag[a])]
            s, v = points.step[a:b], points.value[a:b]
            order = np.argsort(s, kind="stable")
            s, v = s[order], v[order]
            last = np.r_[s[1:] != s[:-1], True]
            rows = at + np.searchsorted(steps, s[last])
            values[t][rows], present[t][rows] = v[last], True
    step = np.concatenate(per_run) if per_run else np.zeros(0, np.int64)
    return Wide(run, step, epoch, values, present)


def problem_dicts(problems: Iterable[Problem]) -> list[dict[str, Any]]:
    return [asdict(p) | {"data": dict(p.data)} for p in problems]


def read(paths, tags: str | Iterable[str] | None = None, runs: str | Iterable[str] | None = None,
         pivot: bool = False, steps_per_epoch: int | None = None, config: Config | None = None):
    """Every point under `paths` as a pandas DataFrame (needs `loganalyze[pandas]`).

    Long form: `run`, `tag` (categoricals), `step`, `value`, `wall_time`, and `epoch` (nullable
    integer) when any selected run's epoch axis is known. `pivot=True`: `run`, `step`, [`epoch`],
    then one column per tag (a log's own `epoch` tag, where there is one, takes that name).
    `df.attrs["problems"]`: what was wrong with the input, as dicts (`kind`, `file`, `detail`,
    `data`); `df.attrs["epoch_axis"]`: per run, how its epochs are known.
    """
    require("pandas", "pandas", "loganalyze.read")
    pts = read_arrays(paths, tags=tags, runs=runs, steps_per_epoch=steps_per_epoch, config=config)
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

    def categorical(codes: np.ndarray, names: tuple[str, ...]):
        """Codes used as they are (they index `names` by construction), not copied and checked again."""
        return pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(list(names)), validate=False)

    if pivot:
        check_wide(pts)
        w = wide(pts)
        data = {"run": categorical(w.run.astype(_code_type(len(pts.runs))), pts.runs), "step": w.step}
        if wide_epoch(pts):
            data["epoch"] = epoch_col(w.epoch)
        data.update(w.values)
    else:
        data = {"run": categorical(pts.run, pts.runs), "tag": categorical(pts.tag, pts.tags),
                "step": pts.step, "value": pts.value, "wall_time": pts.wall_time}
        if pts.has_epoch:
            data["epoch"] = epoch_col(pts.epoch)
    df = pd.DataFrame(data, copy=False)
    df.attrs.update(metadata(pts))
    return df


# ---- writers: CSV and JSON lines need nothing but the standard library; Parquet needs pyarrow

CHUNK = 1 << 16


def _cells(a: np.ndarray, missing: np.ndarray | None) -> list:
    """Python values for a writer, None where `missing`."""
    out = a.tolist()
    if missing is not None and missing.any():
        out = [None if m else x for x, m in zip(out, missing.tolist())]
    return out


def long_columns(points: Points) -> list[str]:
    return ["run", "tag", "step", "value", "wall_time"] + (["epoch"] if points.has_epoch else [])


def wide_columns(points: Points) -> list[str]:
    check_wide(points)
    return ["run", "step"] + (["epoch"] if wide_epoch(points) else []) + list(points.tags)


def _long_rows(points: Points):
    """Chunks of row-wise cells: names, ints, floats (NaN, inf kept); None where nothing was recorded."""
    epoch = points.has_epoch
    for lo in range(0, len(points), CHUNK):
        sl = slice(lo, lo + CHUNK)
        cols = [list(map(points.runs.__getitem__, points.run[sl].tolist())),
                list(map(points.tags.__getitem__, points.tag[sl].tolist())),
                points.step[sl].tolist(), points.value[sl].tolist(),
                _cells(points.wall_time[sl], np.isnan(points.wall_time[sl]))]
        if epoch:
            cols.append(_cells(points.epoch[sl], points.epoch[sl] < 0))
        yield cols


def _wide_rows(points: Points, w: Wide):
    epoch = wide_epoch(points)
    for lo in range(0, len(w.step), CHUNK):
        sl = slice(lo, lo + CHUNK)
        cols = [list(map(points.runs.__getitem__, w.run[sl].tolist())), w.step[sl].tolist()]
        if epoch:
            cols.append(_cells(w.epoch[sl], w.epoch[sl] < 0))
        cols += [_cells(w.values[t][sl], ~w.present[t][sl]) for t in points.tags]
        yield cols


def write_csv(points: Points, fh, pivot: bool = False) -> None:
    """CSV with a header. A value is written as Python writes a float (`nan`, `inf` included: they are
    data); an empty cell means nothing was recorded (no wall time, unknown epoch, no point in the pivot)."""
    import csv

    out = csv.writer(fh, lineterminator="\n")
    if pivot:
        out.writerow(wide_columns(points))
        chunks = _wide_rows(points, wide(points))
    else:
        out.writerow(long_columns(points))
        chunks = _long_rows(points)
    for cols in chunks:
        out.writerows(zip(*cols))


def _json_number(x) -> str:
    """Finite numbers as JSON numbers; NaN and ±inf, which JSON has no numbers for, as the strings
    "nan", "inf", "-inf" (float() reads them back); None as null."""
    if x is None:
        return "null"
    if isinstance(x, float) and not np.isfinite(x):
        return '"nan"' if x != x else ('"inf"' if x > 0 else '"-inf"')
    return repr(x)


def write_jsonl(points: Points, fh, pivot: bool = False) -> None:
    """One JSON object per line, keys as the CSV header; in the pivot a tag without a point is left out."""
    import json

    runs = [json.dumps(r) for r in points.runs]
    if pivot:
        names = [json.dumps(c) for c in wide_columns(points)]
        keys = names[:2 + wide_epoch(points)]
        tag_keys = names[len(keys):]
        quoted = dict(zip(points.runs, runs))
        for cols in _wide_rows(points, wide(points)):
            cols[0] = [quoted[r] for r in cols[0]]
            for row in zip(*cols):
                head = [f"{keys[0]}:{row[0]}"] + [f"{k}:{_json_number(x)}" for k, x in zip(keys[1:], row[1:len(keys)])]
                body = [f"{k}:{_json_number(x)}" for k, x in zip(tag_keys, row[len(keys):]) if x is not None]
                fh.write("{" + ",".join(head + body) + "}\n")
        return
    tags = [json.dumps(t) for t in points.tags]
    epoch = points.has_epoch
    for lo in range(0, len(points), CHUNK):
        sl = slice(lo, lo + CHUNK)
        r, t = points.run[sl].tolist(), points.tag[sl].tolist()
        st, v = points.step[sl].tolist(), points.value[sl].tolist()
        wt = _cells(points.wall_time[sl], np.isnan(points.wall_time[sl]))
        ep = _cells(points.epoch[sl], points.epoch[sl] < 0) if epoch else None
        lines = [f'{{"run":{runs[r[i]]},"tag":{tags[t[i]]},"step":{st[i]},"value":{_json_number(v[i])},'
                 f'"wall_time":{_json_number(wt[i])}' + (f',"epoch":{_json_number(ep[i])}}}' if epoch else "}")
                 for i in range(len(st))]
        fh.write("\n".join(lines) + "\n")


def metadata(points: Points) -> dict[str, Any]:
    """What travels with an export beside the points: the input's problems, each run's epoch axis."""
    return {"problems": problem_dicts(points.problems),
            "epoch_axis": {r: {"provenance": a.provenance, "detail": a.detail} for r, a in sorted(points.axes.items())}}


def write_parquet(points: Points, path: str, pivot: bool = False) -> None:
    """Parquet (needs `loganalyze[parquet]`): run and tag dictionary-encoded, a null where nothing was
    recorded (NaN values stay NaN), and `metadata()` as JSON under the schema key `loganalyze`."""
    import json

    pa = require("pyarrow", "parquet", "Parquet export")
    pq = require("pyarrow.parquet", "parquet", "Parquet export")
    names = pa.array(list(points.runs), pa.string())
    if pivot:
        w = wide(points)
        cols = {"run": pa.DictionaryArray.from_arrays(pa.array(w.run), names), "step": pa.array(w.step)}
        if wide_epoch(points):
            cols["epoch"] = pa.array(w.epoch, mask=w.epoch < 0)
        for t in points.tags:
            cols[t] = pa.array(w.values[t], mask=~w.present[t])
    else:
        cols = {"run": pa.DictionaryArray.from_arrays(pa.array(points.run), names),
                "tag": pa.DictionaryArray.from_arrays(pa.array(points.tag), pa.array(list(points.tags), pa.string())),
                "step": pa.array(points.step), "value": pa.array(points.value),
                "wall_time": pa.array(points.wall_time, mask=np.isnan(points.wall_time))}
        if points.has_epoch:
            cols["epoch"] = pa.array(points.epoch, mask=points.epoch < 0)
    table = pa.table(cols).replace_schema_metadata({"loganalyze": json.dumps(metadata(points))})
    pq.write_table(table, path)


__all__ = ["read", "read_arrays", "Points", "Wide", "wide", "to_pandas", "write_csv", "write_jsonl", "write_parquet",
           "MissingExtra", "require"]
