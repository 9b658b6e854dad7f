"""loganalyze as a reader: every point, the same as tbparse and as the analysis, in pandas / CSV / Parquet / JSONL."""
import csv
import io
import json
import math
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import loganalyze
from loganalyze.align import align, align_runs, attempt_groups
from loganalyze.export import read_arrays
from loganalyze.ingest import discover, load

from conftest import FIXTURES

pd = pytest.importorskip("pandas")
tensorboardX = pytest.importorskip("tensorboardX")

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args, pre: str = "pass", cwd=None):
    """The real command in a fresh interpreter; `pre` runs first (e.g. to block an import)."""
    code = f"import sys; {pre}; from loganalyze.cli import main; sys.argv = ['loganalyze', *sys.argv[1:]]; main()"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, env=env,
                          cwd=cwd)


def write_run(path: Path, curves: dict, wall0: float = 1.7e9):
    """A real event file: {tag: [(step, value), ...]} written by tensorboardX, in step order across tags."""
    w = tensorboardX.SummaryWriter(str(path))
    rows = sorted((step, tag, value) for tag, pts in curves.items() for step, value in pts)
    for i, (step, tag, value) in enumerate(rows):
        w.add_scalar(tag, value, step, walltime=wall0 + i)
    w.close()
    return path


@pytest.fixture
def sweep(tmp_path):
    """Two runs, tags at different cadences, NaN and inf values, and a CSV log without wall times."""
    root = tmp_path / "logs"
    write_run(root / "a", {"train/loss": [(s, 1.0 / (s + 1)) for s in range(0, 40)],
                           "val/loss": [(s, 0.5 + s / 1000) for s in range(9, 40, 10)],
                           "val/acc": [(9, float("nan")), (19, float("inf")), (29, -float("inf")), (39, 0.75)]})
    write_run(root / "b", {"train/loss": [(s, 2.0 - s / 100) for s in range(0, 30)]})
    (root / "c").mkdir()
    (root / "c" / "metrics.csv").write_text("step,loss,lr\n0,1.5,0.1\n1,1.25,0.1\n2,1.0,0.05\n")
    return root


# ---- the same points as tbparse --------------------------------------------------------------------------

def tbparse_points(path: str) -> Counter:
    """(tag, step, value, wall_time) of every scalar tbparse finds in one event file: `.scalars`, and the
    one-element `.tensors` TF2 writes scalars as."""
    from tbparse import SummaryReader

    reader = SummaryReader(path, extra_columns={"wall_time"})
    out = Counter()
    for df in (reader.scalars, reader.tensors):
        for tag, step, value, wall in zip(df.get("tag", []), df.get("step", []), df.get("value", []),
                                          df.get("wall_time", [])):
            if isinstance(value, np.ndarray):
                if value.size != 1 or value.dtype.kind not in "fiu":
                    continue
                value = value.reshape(-1)[0]
            if isinstance(value, (bytes, str)):  # a string tensor (text, a Keras graph): not a scalar
                continue
            out[(tag, int(step), _key(float(value)), float(wall))] += 1
    return out


def _key(x: float):
    return "nan" if math.isnan(x) else x


def our_points(pts) -> Counter:
    return Counter(zip(pts.tag_names().tolist(), pts.step.tolist(), map(_key, pts.value.tolist()),
                       pts.wall_time.tolist()))


def event_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*tfevents*") if p.is_file())


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("corpus", ["realworld", "realworld_dev", "fixtures"])
def test_every_event_file_has_the_same_points_as_tbparse(corpus, request):
    """One event file at a time, both readers keep every point and agree on each: tag, step, value, wall time."""
    root = FIXTURES if corpus == "fixtures" else request.getfixturevalue(corpus)
    files = event_files(root)
    assert files
    compared = 0
    for f in files:
        pts = read_arrays(f)
        damaged = {p.kind for p in pts.problems} & {"lfs_pointer", "not_event_file", "empty_file"}
        theirs = Counter() if damaged else tbparse_points(str(f))
        assert our_points(pts) == theirs, f
        compared += len(pts)
    assert compared > 1000


@pytest.mark.filterwarnings("ignore")
def test_runs_hold_every_tbparse_point_but_those_a_reported_rewind_supersedes(realworld):
    """Across the files of one run, TensorBoard's rule applies (a step that goes back supersedes the older
    points); tbparse reads each file alone. Every point tbparse has and we do not lies in a reported rewind."""
    sources, _ = discover([realworld])
    pts = read_arrays(realworld)
    ours_by_run: dict[str, Counter] = {}
    for run, tag, step, value, wall in zip(pts.run_names(), pts.tag_names(), pts.step.tolist(), pts.value.tolist(),
                                           pts.wall_time.tolist()):
        ours_by_run.setdefault(run, Counter())[(tag, step, _key(value), wall)] += 1
    multi_file = 0
    for src in (s for s in sources if s.kind == "tfevents"):
        assert src.name == Path(src.files[0]).parent.relative_to(realworld).as_posix()
        theirs = Counter()
        for f in src.files:
            if not any(p.kind == "lfs_pointer" for p in read_arrays(f).problems):
                theirs += tbparse_points(f)
        ours = ours_by_run.get(src.name, Counter())
        assert not ours - theirs, src.name
        rewinds = [p.data for p in pts.problems if p.kind == "step_rewind" and p.file in src.files]
        for tag, step, _, _ in theirs - ours:
            assert any(tag in r["tags"] and r["to_step"] <= step <= r["from_step"] for r in rewinds), (src.name, tag, step)
        multi_file += len(src.files) > 1 and bool(theirs - ours)
    assert multi_file >= 1  # the corpus has resumed runs: the rule above was exercised


# ---- the same values as the analysis -----------------------------------------------------------------------

@pytest.mark.parametrize("corpus", ["realworld", "realworld_dev"])
def test_the_same_values_and_epochs_as_the_analysis_sees(corpus, request):
    root = request.getfixturevalue(corpus)
    pts = read_arrays(root)
    rows: dict[tuple[str, str], slice] = {}
    starts = np.flatnonzero(np.r_[True, (np.diff(pts.run) != 0) | (np.diff(pts.tag) != 0)])
    for lo, hi in zip(starts.tolist(), [*starts[1:].tolist(), len(pts)]):
        rows[(pts.runs[pts.run[lo]], pts.tags[pts.tag[lo]])] = slice(lo, hi)
    seen = 0
    experiments = []  # (what the detectors read, [(tag prefix, run read)])
    for exp in align_runs(load([root]).runs):
        members = [(r.name.rpartition("/")[2] + "/" if len(exp.runs) > 1 else "", r) for r in exp.runs]
        experiments.append((exp, members))
        # the earlier attempts a restart superseded are experiments of their own, in the analysis and the export
        experiments += [(align(group, aname), group) for aname, group in attempt_groups(members, exp.name)]
    for exp, members in experiments:
        for prefix, run in members:
            for tag in run.series:
                s = exp.series[prefix + tag]  # what the detectors read
                sl = rows[(run.name, tag)]
                np.testing.assert_array_equal(pts.step[sl], s.step)
                np.testing.assert_array_equal(pts.value[sl], s.value)
                np.testing.assert_array_equal(pts.wall_time[sl], s.wall_time)
                want = exp.epochs.epoch_of(s.step) if exp.epochs.known else np.full(s.points, -1)
                np.testing.assert_array_equal(pts.epoch[sl], want)
                seen += 1
    assert seen == len(rows)
    assert pts.has_epoch


# ---- long and wide --------------------------------------------------------------------------------------

def test_long_form_columns_and_problems(sweep):
    df = loganalyze.read(sweep)
    assert list(df.columns)[:5] == ["run", "tag", "step", "value", "wall_time"]
    assert sorted(df["run"].unique()) == ["a", "b", "c/metrics.csv"]
    a = df[(df.run == "a") & (df.tag == "val/acc")]
    assert a["step"].tolist() == [9, 19, 29, 39]
    assert math.isnan(a["value"].iloc[0]) and a["value"].iloc[1] == math.inf and a["value"].iloc[2] == -math.inf
    assert df[df.run == "c/metrics.csv"]["wall_time"].isna().all()  # a CSV log records no wall time
    assert len(df) == 40 + 4 + 4 + 30 + 3 + 3
    assert isinstance(df.attrs["problems"], list)
    json.dumps(df.attrs)  # JSON-able, so it survives a Parquet round trip


def test_filters_take_globs(sweep):
    df = loganalyze.read(sweep, tags="val/*", runs=["a", "b"])
    assert set(df["tag"]) == {"val/loss", "val/acc"} and set(df["run"]) == {"a"}
    assert len(loganalyze.read_arrays(sweep, tags="nothing*")) == 0
    with pytest.raises(FileNotFoundError, match="nope"):
        loganalyze.read_arrays(sweep / "nope")


def test_pivot_has_one_column_per_tag_aligned_on_steps(sweep):
    long = loganalyze.read(sweep, runs="a")
    wide = loganalyze.read(sweep, runs="a", pivot=True)
    assert list(wide.columns[:2]) == ["run", "step"]
    assert set(wide.columns[2:]) - {"epoch"} == {"train/loss", "val/loss", "val/acc"}
    assert wide["step"].tolist() == list(range(40))
    for tag, group in long.groupby("tag", observed=True):
        col = wide.set_index("step")[tag]
        np.testing.assert_array_equal(col.loc[group["step"]].to_numpy(), group["value"].to_numpy())
        assert col.drop(index=group["step"]).isna().all()  # NaN where the tag has no point


def test_pivot_keeps_the_later_write_of_a_repeated_step(tmp_path):
    w = tensorboardX.SummaryWriter(str(tmp_path / "r"))
    for step, value in [(0, 1.0), (1, 2.0), (1, 3.0), (2, 4.0)]:
        w.add_scalar("loss", value, step)
    w.close()
    long = loganalyze.read(tmp_path)
    assert long["value"].tolist() == [1.0, 2.0, 3.0, 4.0]  # the long form keeps both writes
    assert any(p["kind"] == "duplicate_steps" for p in long.attrs["problems"])
    assert loganalyze.read(tmp_path, pivot=True)["loss"].tolist() == [1.0, 3.0, 4.0]


def test_epoch_column_where_the_axis_is_known(tmp_path):
    curves = {"train/loss": [(s, 1.0 / (s + 1)) for s in range(100)], "epoch": [(s, s // 25) for s in range(100)]}
    write_run(tmp_path / "r", curves)
    df = loganalyze.read(tmp_path / "r", tags="train/loss")
    assert df["epoch"].tolist() == [s // 25 for s in range(100)]
    assert df.attrs["epoch_axis"][str(tmp_path / "r")]["provenance"] == "epoch_tag"  # the run is the path given
    write_run(tmp_path / "plain", {"metric": [(s, float(s)) for s in range(10)]})
    assert "epoch" not in loganalyze.read(tmp_path / "plain").columns


# ---- files -------------------------------------------------------------------------------------------------

def _same_long(got, want):
    """Column by column, NaN equal to NaN, a missing cell (None / NaN) where nothing was recorded."""
    assert len(got["step"]) == len(want)
    assert [str(x) for x in got["run"]] == [str(x) for x in want["run"]]
    assert [str(x) for x in got["tag"]] == [str(x) for x in want["tag"]]
    np.testing.assert_array_equal(np.asarray(got["step"], np.int64), want["step"].to_numpy())
    np.testing.assert_array_equal(np.asarray(got["value"], np.float64), want["value"].to_numpy())
    np.testing.assert_array_equal(np.asarray(got["wall_time"], np.float64), want["wall_time"].to_numpy())


def test_csv_round_trip(sweep, tmp_path):
    out = tmp_path / "out.csv"
    r = run_cli("export", sweep, "-o", out)
    assert r.returncode == 0, r.stderr
    _same_long(pd.read_csv(out, keep_default_na=False, na_values=[""]), loganalyze.read(sweep))
    assert "nan" in out.read_text() and ",inf," in out.read_text()  # logged NaN / inf are data, written as such


def test_parquet_round_trip_with_problems(sweep, tmp_path):
    pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    (sweep / "d").mkdir()
    (sweep / "d" / "events.out.tfevents.1.x").write_bytes(b"\x00" * 40)  # not an event file
    out = tmp_path / "out.parquet"
    r = run_cli("export", sweep, "-o", out)
    assert r.returncode == 0, r.stderr
    assert "not a TensorBoard event file" in r.stderr
    _same_long(pd.read_parquet(out), loganalyze.read(sweep))
    meta = json.loads(pq.read_schema(out).metadata[b"loganalyze"])
    assert [p["kind"] for p in meta["problems"]] == ["not_event_file"]


def test_jsonl_round_trip(sweep, tmp_path):
    out = tmp_path / "out.jsonl"
    assert run_cli("export", sweep, "-o", out).returncode == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    got = {k: [r[k] for r in rows] for k in ("run", "tag", "step")}
    got["value"] = [float(r["value"]) for r in rows]  # "nan", "inf", "-inf" as strings: JSON has no such numbers
    got["wall_time"] = [math.nan if r["wall_time"] is None else r["wall_time"] for r in rows]
    _same_long(got, loganalyze.read(sweep))


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_wide_files_match_the_pivot(sweep, tmp_path, suffix):
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    out = tmp_path / f"wide{suffix}"
    assert run_cli("export", sweep, "--wide", "--runs", "a", "-o", out).returncode == 0
    want = loganalyze.read(sweep, runs="a", pivot=True)
    if suffix == ".csv":
        got = pd.read_csv(out, keep_default_na=False, na_values=[""])
    elif suffix == ".parquet":
        got = pd.read_parquet(out)
    else:
        got = pd.DataFrame([json.loads(line) for line in out.read_text().splitlines()])
        got = got.apply(lambda c: c.map(lambda x: float(x) if isinstance(x, str) and x in ("nan", "inf", "-inf") else x))
    assert list(got.columns) == list(want.columns)
    for col in want.columns[1:]:
        np.testing.assert_array_equal(np.asarray(got[col], np.float64), np.asarray(want[col], np.float64))


def test_dash_streams_csv_to_stdout(sweep, tmp_path):
    r = run_cli("export", sweep, "-o", "-", "--tags", "train/*")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 70 and {row["tag"] for row in rows} == {"train/loss"}
    assert run_cli("export", sweep, "-o", tmp_path / "f.csv", "--tags", "train/*").returncode == 0
    assert (tmp_path / "f.csv").read_text() == r.stdout


def test_write_is_atomic(sweep, tmp_path, monkeypatch):
    """A write that fails part-way leaves the old file as it was and no temporary file behind."""
    from click.testing import CliRunner

    from loganalyze import export
    from loganalyze.cli import cli

    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "out.csv"
    out.write_text("old\n")
    real = export.write_csv

    def fails_midway(points, fh, pivot=False):
        real(points, fh, pivot)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export, "write_csv", fails_midway)
    r = CliRunner().invoke(cli, ["export", str(sweep), "-o", str(out)])
    assert r.exit_code == 2 and "No space left on device" in r.output
    assert out.read_text() == "old\n" and os.listdir(tmp_path / "out") == ["out.csv"]


# ---- damage and errors ---------------------------------------------------------------------------------------

def test_a_truncated_file_keeps_every_whole_record_and_says_so(tmp_path):
    path = write_run(tmp_path / "r", {"loss": [(s, float(s)) for s in range(50)]})
    f = next(path.glob("events*"))
    f.write_bytes(f.read_bytes()[:-7])  # the writer died in the last record
    df = loganalyze.read(tmp_path / "r")
    assert df["step"].tolist() == list(range(49))
    (problem,) = df.attrs["problems"]
    assert problem["kind"] == "truncated_record" and problem["file"] == str(f)
    assert [p.kind for p in loganalyze.read_arrays(tmp_path / "r").problems] == ["truncated_record"]
    r = run_cli("export", tmp_path / "r", "-o", tmp_path / "out.csv")
    assert r.returncode == 0 and "is cut off" in r.stderr and str(f) in r.stderr


def test_usage_errors_exit_2(sweep, tmp_path):
    for args, says in [(["/does/not/exist", "-o", tmp_path / "x.csv"], "no such file"),
                       ([sweep, "-o", tmp_path / "x.txt"], "output type"),
                       ([sweep, "-o", tmp_path / "no" / "x.csv"], "does not exist"),
                       ([sweep, "-o", tmp_path / "x.csv", "--tags", "zzz*"], "no points matching --tags zzz*")]:
        r = run_cli("export", *args)
        assert r.returncode == 2 and says in r.stderr, (args, r.stderr)
    assert not (tmp_path / "x.csv").exists()


def test_missing_pandas_names_the_extra(sweep):
    code = ("import sys; sys.modules['pandas'] = None; import loganalyze\n"
            f"pts = loganalyze.read_arrays({str(sweep)!r}); assert len(pts) == 84\n"  # arrays need no pandas
            f"loganalyze.read({str(sweep)!r})")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 1 and "pip install 'loganalyze[pandas]'" in r.stderr
    from loganalyze.export import MissingExtra

    assert issubclass(MissingExtra, ImportError)


def test_missing_pyarrow_exits_2_naming_the_extra(sweep, tmp_path):
    r = run_cli("export", sweep, "-o", tmp_path / "x.parquet", pre="sys.modules['pyarrow'] = None")
    assert r.returncode == 2 and "loganalyze[parquet]" in r.stderr
    assert not (tmp_path / "x.parquet").exists()
    r = run_cli("export", sweep, "-o", tmp_path / "x.csv", pre="sys.modules['pyarrow'] = sys.modules['pandas'] = None")
    assert r.returncode == 0  # CSV and JSON lines need neither


def test_import_stays_light():
    code = ("import sys, loganalyze; heavy = {'numpy', 'pandas', 'pyarrow'} & set(sys.modules); assert not heavy, heavy;"
            "assert callable(loganalyze.read) and callable(loganalyze.read_arrays)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    with pytest.raises(AttributeError):
        loganalyze.no_such_thing  # noqa: B018


def test_the_analysis_config_shapes_the_epoch_axis_alike(tmp_path):
    write_run(tmp_path / "r", {"metric": [(s, float(s)) for s in range(30)]})
    (tmp_path / "loganalyze.toml").write_text("steps_per_epoch = 10\n")
    r = run_cli("export", "r", "-o", "-", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [int(row["epoch"]) for row in rows] == [s // 10 for s in range(30)]
    assert loganalyze.read(tmp_path / "r", steps_per_epoch=10)["epoch"].tolist() == [s // 10 for s in range(30)]
