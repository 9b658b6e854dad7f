"""Ingest benchmark: loganalyze against tbparse, EventAccumulator and the raw frame walk, same file.

    python tests/bench/bench_ingest.py [--points 1000000] [--tags 8] [--skip-slow]
    python tests/bench/bench_ingest.py --points 10000000 --skip-slow   # peak memory at 10M points, ~2 min

Writes an event file in PyTorch SummaryWriter's byte layout (one scalar per Event, framed with
masked CRC32C exactly as the writer does; generated directly because 1M `add_scalar` calls take
minutes, and streamed to disk, never whole in memory), then times each reader in this process and
prints ratios. Peak RSS of loganalyze alone is measured in a fresh child process and printed as a
multiple of what it cannot do without: 24 bytes a point for the arrays plus the interpreter and
imports. Not a test: timings on a shared machine are noisy.
"""
from __future__ import annotations

import argparse
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_file(path: Path, points: int, tags: int) -> None:
    from tensorboard.compat.proto import event_pb2, summary_pb2

    from loganalyze.ingest.tfevents import masked_crc

    rng = np.random.default_rng(0)
    names = [f"train/metric_{i}" for i in range(tags)]
    with open(path, "wb") as fh:
        def put(ev):
            data = ev.SerializeToString()
            head = struct.pack("<Q", len(data))
            fh.write(head + struct.pack("<I", masked_crc(head)) + data + struct.pack("<I", masked_crc(data)))

        put(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))
        values = rng.standard_normal(points).astype(np.float32)
        t0 = 1.7e9
        for i in range(points):
            tag = names[i % tags]
            ev = event_pb2.Event(wall_time=t0 + i * 1e-3, step=i // tags,
                                 summary=summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=values[i])]))
            put(ev)


def frame_walk(path: Path) -> int:
    data = path.read_bytes()
    pos, n, count = 0, len(data), 0
    unpack = struct.Struct("<Q").unpack_from
    while pos + 12 <= n:
        length = unpack(data, pos)[0]
        pos += 16 + length
        count += 1
    return count


def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t, out


def loganalyze_read(path: Path) -> int:
    from loganalyze.ingest.tfevents import read_event_files

    data = read_event_files([path])
    return sum(s.points for s in data.series.values())


def tbparse_read(path: Path) -> int:
    from tbparse import SummaryReader

    return len(SummaryReader(str(path)).scalars)


def accumulator_read(path: Path, keep_all: bool = True) -> int:
    from tensorboard.backend.event_processing import event_accumulator as ea

    acc = ea.EventAccumulator(str(path), size_guidance={ea.SCALARS: 0} if keep_all else None)
    acc.Reload()
    return sum(len(acc.Scalars(t)) for t in acc.Tags()["scalars"])


def child_rss(path: Path) -> tuple[float, float]:
    # VmHWM is the peak of this process image alone (ru_maxrss would include the forking parent's)
    hwm = "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])"
    code = f"import sys; from loganalyze.ingest.tfevents import read_event_files; d=read_event_files([sys.argv[1]]); {hwm}"
    # the reader imports the protobuf classes for the first record (file_version): part of the floor
    base = f"import loganalyze.ingest.tfevents, numpy, tensorboard.compat.proto.event_pb2; {hwm}"
    peak = int(subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True).stdout)
    idle = int(subprocess.run([sys.executable, "-c", base], capture_output=True, text=True, check=True).stdout)
    return peak / 1024, idle / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--tags", type=int, default=8)
    ap.add_argument("--skip-slow", action="store_true",
                    help="skip tbparse and EventAccumulator (at 10M points they take minutes and GBs)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "events.out.tfevents.1700000000.bench"
        t, _ = timed(write_file, path, args.points, args.tags)
        size = path.stat().st_size
        print(f"file: {args.points:,} points, {args.tags} tags, {size / 1e6:.1f} MB (written in {t:.1f} s)")
        t_bytes, _ = timed(path.read_bytes)
        t_walk, frames = timed(frame_walk, path)
        t_la, n_la = timed(loganalyze_read, path)
        print(f"read bytes          {t_bytes:7.3f} s")
        print(f"frame walk (python) {t_walk:7.3f} s  ({frames:,} frames)")
        print(f"loganalyze (CRC on) {t_la:7.3f} s  ({n_la:,} points)   = {t_la / t_walk:.2f}x the frame walk")
        if not args.skip_slow:
            t_tbp, n_tbp = timed(tbparse_read, path)
            t_ea, n_ea = timed(accumulator_read, path)
            _, n_default = timed(accumulator_read, path, False)
            print(f"tbparse             {t_tbp:7.3f} s  ({n_tbp:,} points)   loganalyze is {t_tbp / t_la:.1f}x faster")
            print(f"EventAccumulator    {t_ea:7.3f} s  ({n_ea:,} points)   loganalyze is {t_ea / t_la:.1f}x faster")
            print(f"EventAccumulator with its default size_guidance keeps {n_default:,} of {n_la:,} points")
        peak, idle = child_rss(path)
        arrays = 24 * n_la / 2**20
        print(f"peak RSS of loganalyze: {peak:.0f} MiB = {peak / (arrays + idle):.2f}x the floor "
              f"(arrays need {arrays:.0f} MiB + interpreter and imports {idle:.0f} MiB; file is {size / 2**20:.0f} MiB)")


if __name__ == "__main__":
    main()
