"""Export benchmark: `loganalyze.read()` to a DataFrame against tbparse's `SummaryReader(...).scalars`.

    python tests/bench/bench_export.py                      # 1M- and 10M-point files, a 2,000-run sweep
    python tests/bench/bench_export.py --sizes 1000000 --runs 0 --without-pyarrow   # pandas without pyarrow

Cases: one event file of each `--sizes` (PyTorch SummaryWriter's byte layout, 8 tags, written by
`bench_ingest.write_file`), and a sweep of `--runs` run directories of `--run-points` points each
(`train/loss` every step, `val/loss` every 50: the roles and epoch axis are worked out for every
run, as the analysis does). Every reader runs in a fresh child process that reports its own time
(imports excluded) and its peak RSS (VmHWM), so one reader's memory never counts for another.
Ratios are from the same run. Also: Parquet export (`read_arrays` + `write_parquet`, as
`loganalyze export -o x.parquet` does). Not a test: timings on a shared machine are noisy.
"""
from __future__ import annotations

import argparse
import json
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ingest import write_file  # noqa: E402

HWM = "int([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]) / 1024"

READERS = {
    "loganalyze.read": ("import loganalyze, loganalyze.export, pandas, tensorboard.compat.proto.event_pb2",
                        "df = loganalyze.read(path); n = len(df)"),
    "tbparse": ("from tbparse import SummaryReader",
                "df = SummaryReader(path).scalars; n = len(df)"),
    "parquet export": ("import loganalyze.export as ex, pyarrow.parquet, tensorboard.compat.proto.event_pb2",
                       "p = ex.read_arrays(path); ex.write_parquet(p, out); n = len(p)"),
    "csv export": ("import loganalyze.export as ex, tensorboard.compat.proto.event_pb2",
                   "p = ex.read_arrays(path)\nwith open(out, 'w', newline='') as fh: ex.write_csv(p, fh)\nn = len(p)"),
}


def child(reader: str, path: Path, out: Path, without_pyarrow: bool = False) -> dict:
    setup, body = READERS[reader]
    if without_pyarrow and "parquet" not in reader:  # pandas imports pyarrow when it is installed
        setup = "import sys; sys.modules['pyarrow'] = None; " + setup
    code = (f"import json, sys, time, warnings; warnings.filterwarnings('ignore'); {setup}\n"
            f"path, out = sys.argv[1], sys.argv[2]\nt = time.perf_counter()\n{body}\n"
            f"print(json.dumps({{'s': time.perf_counter() - t, 'n': n, 'mib': {HWM}}}))")
    r = subprocess.run([sys.executable, "-c", code, str(path), str(out)], capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"{reader} failed on {path}:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def write_sweep(root: Path, runs: int, points: int) -> None:
    """`runs` directories of one event file each: train/loss every step, val/loss every 50 steps."""
    from tensorboard.compat.proto import event_pb2, summary_pb2

    from loganalyze.ingest.tfevents import masked_crc

    rng = np.random.default_rng(0)
    for r in range(runs):
        d = root / f"lr{r % 10}" / f"seed{r // 10:03d}"
        d.mkdir(parents=True)
        with open(d / f"events.out.tfevents.{1700000000 + r}.bench", "wb") as fh:
            def put(ev):
                data = ev.SerializeToString()
                head = struct.pack("<Q", len(data))
                fh.write(head + struct.pack("<I", masked_crc(head)) + data + struct.pack("<I", masked_crc(data)))

            put(event_pb2.Event(wall_time=1.7e9, file_version="brain.Event:2"))
            loss = np.exp(-np.arange(points) / points) + 0.05 * rng.standard_normal(points)
            for i in range(points):
                tags = [("train/loss", loss[i])] + ([("val/loss", loss[i] + 0.1)] if i % 50 == 49 else [])
                for tag, v in tags:
                    put(event_pb2.Event(wall_time=1.7e9 + i, step=i, summary=summary_pb2.Summary(
                        value=[summary_pb2.Summary.Value(tag=tag, simple_value=float(v))])))


def compare(label: str, path: Path, out_dir: Path, skip_tbparse: bool, without_pyarrow: bool) -> None:
    res = {}
    for reader in READERS:
        if reader == "tbparse" and skip_tbparse:
            continue
        out = out_dir / ("x.parquet" if "parquet" in reader else "x.csv")
        res[reader] = child(reader, path, out, without_pyarrow)
        if out.exists():
            res[reader]["bytes"] = out.stat().st_size
            out.unlink()
    la = res["loganalyze.read"]
    print(f"\n{label}")
    for reader, r in res.items():
        size = f", {r['bytes'] / 2**20:.0f} MiB written" if "bytes" in r else ""
        print(f"  {reader:16} {r['s']:8.2f} s  {r['n']:>11,} points  peak RSS {r['mib']:7.0f} MiB{size}")
    if "tbparse" in res:
        tb = res["tbparse"]
        print(f"  read() vs tbparse: {tb['s'] / la['s']:.1f}x faster, peak RSS {la['mib'] / tb['mib']:.2f}x tbparse's"
              f" (1/{tb['mib'] / la['mib']:.1f}); same point count: {tb['n'] == la['n']}")
    else:
        print("  tbparse skipped at this size (--skip-tbparse-above)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="*", default=[1_000_000, 10_000_000])
    ap.add_argument("--tags", type=int, default=8)
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--run-points", type=int, default=500)
    ap.add_argument("--skip-tbparse-above", type=int, default=10**9,
                    help="leave tbparse out for files with more points (at 10M it takes minutes and GBs)")
    ap.add_argument("--without-pyarrow", action="store_true",
                    help="block pyarrow in the read() and tbparse children: pandas imports it when installed "
                         "(~58 MiB more on both floors), and `loganalyze[pandas]` alone does not install it")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        for n in args.sizes:
            path = d / f"events.out.tfevents.1700000000.{n}"
            t = time.perf_counter()
            write_file(path, n, args.tags)
            print(f"\nwrote {n:,} points, {args.tags} tags: {path.stat().st_size / 2**20:.0f} MiB in "
                  f"{time.perf_counter() - t:.0f} s")
            compare(f"one event file, {n:,} points", path, d, n > args.skip_tbparse_above, args.without_pyarrow)
            path.unlink()
        if args.runs:
            root = d / "sweep"
            t = time.perf_counter()
            write_sweep(root, args.runs, args.run_points)
            print(f"\nwrote a sweep of {args.runs:,} runs x {args.run_points} steps in {time.perf_counter() - t:.0f} s")
            compare(f"sweep: {args.runs:,} runs", root, d, False, args.without_pyarrow)


if __name__ == "__main__":
    main()
