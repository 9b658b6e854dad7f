"""Compare benchmark: the gate on two 1M-point runs against analyzing the new run alone, same process.

    python tests/bench/bench_compare.py [--points 1000000] [--repeat 3] [--cli]

Target (issue 11): comparing two 1M-point runs costs at most 1.2x analyzing the new one alone.
Writes two event files in SummaryWriter's byte layout (a falling train loss at every step, a
validation loss every 1,000 steps; the new run converges more slowly), cached under
.cache/bench_compare/, then times, in --repeat interleaved rounds:

  analyze      analyze(NEW)                                   the reference
  json base    read the baseline's JSON report + analyze(NEW) + compare   (the CI workflow:
               the baseline report is written on main, `loganalyze compare baseline.json logs/`)
  logs, 2 proc both sides' runs analyzed in one pool of two processes (`engine.analyze_pair`), + compare
               (what `loganalyze compare base/ new/` does when two cores are idle, or with -j 2)
  logs, 1 proc the same in this process, one side after the other (-j 1, or a busy machine)
  logs, cached the baseline's logs analyzed before: its report read from the cache (loganalyze/basecache.py),
               + analyze(NEW) + compare (every comparison after the first against the same baseline)

The cache is off for the other variants (LOGANALYZE_CACHE=off). Every variant computes what
`loganalyze compare BASE NEW` without --html does: no chart curves, like the reference.

and prints each one's median ratio to `analyze` of the same round, and the time of the gate's own work
(curve summaries, reading the JSON, comparing). A busy machine gives the second process little of a
core, so the 2-process line is also estimated for two idle cores from CPU times (`sides_together`). With --cli, the command lines are timed too, a process
each (what a user waits for: imports, and in a pool each worker's own; the pool's start method is the
platform's, fork on Linux). Not a test: timings on a shared machine are noisy.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def write_run(path: Path, points: int, rate: float, seed: int) -> None:
    from tensorboard.compat.proto import event_pb2, summary_pb2

    from loganalyze.ingest.tfevents import masked_crc

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    steps = np.arange(points)
    loss = (0.3 + np.exp(-steps * rate) + rng.normal(0, 0.05, points)).astype(np.float32)
    tmp = path.with_suffix(".part")
    with open(tmp, "wb") as fh:
        def put(ev):
            data = ev.SerializeToString()
            head = struct.pack("<Q", len(data))
            fh.write(head + struct.pack("<I", masked_crc(head)) + data + struct.pack("<I", masked_crc(data)))

        put(event_pb2.Event(wall_time=1.7e9, file_version="brain.Event:2"))
        for i in range(points):
            values = [summary_pb2.Summary.Value(tag="train/loss", simple_value=loss[i])]
            if i % 1000 == 999:
                values.append(summary_pb2.Summary.Value(tag="val/loss", simple_value=float(loss[i - 999:i + 1].mean() + 0.1)))
            put(event_pb2.Event(wall_time=1.7e9 + i * 1e-3, step=i, summary=summary_pb2.Summary(value=values)))
    tmp.rename(path)


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the pool's workers), user + system."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def best_of(n: int, fn) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def sides_together(base: Path, new: Path, config) -> tuple[float, float]:
    """CPU seconds of each side's analysis when the two run at once, each in a forked process, as in the pool.

    On two idle cores each process has a core, so the comparison's wall time is about the longer
    side's CPU time (plus the pool's start, ~0.03 s): a load-independent estimate of the 2-process
    ratio on an idle machine, which a shared machine rarely is. Running at once, the two share the
    caches and memory bandwidth; their CPU times include that.
    """
    from loganalyze import engine

    tasks = [engine._plan([str(path)], config, True, False)[0][0] for path in (base, new)]
    pids = []
    for task in tasks:
        pid = os.fork()
        if pid == 0:
            try:
                engine._analyze_group(task)
            finally:
                os._exit(0)
        pids.append(pid)
    cpu = []
    for pid in pids:
        _, status, usage = os.wait4(pid, 0)
        assert status == 0, status
        cpu.append(usage.ru_utime + usage.ru_stime)
    return cpu[0], cpu[1]


def time_cli(base: Path, new: Path, repeat: int) -> None:
    """The same comparison as a user runs it: one `loganalyze` process per command, interleaved rounds."""
    import subprocess

    env = dict(os.environ, LOGANALYZE_CACHE="off", PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "loganalyze"]
    variants = [("analyze NEW", ["analyze", str(new)]),
                ("compare BASE NEW -j 2", ["compare", str(base), str(new), "-j", "2"]),
                ("compare BASE NEW -j 1", ["compare", str(base), str(new), "-j", "1"])]
    times = {name: [] for name, _ in variants}
    cpus = {name: [] for name, _ in variants}
    load0 = os.getloadavg()[0]
    for _ in range(repeat):
        for name, argv in variants:
            c0, t0 = cpu_seconds(), time.perf_counter()
            done = subprocess.run(cmd + argv + ["--format", "none"], env=env, stdout=subprocess.DEVNULL)
            times[name].append(time.perf_counter() - t0)
            cpus[name].append(cpu_seconds() - c0)
            assert done.returncode in (0, 1), (name, done.returncode)  # 2: it could not run
    print(f"command lines (a process each, baseline cache off), {repeat} interleaved rounds; load average "
          f"{load0:.1f} before, {os.getloadavg()[0]:.1f} after")
    for name, _ in variants:
        ratios = [t / p for t, p in zip(times[name], times["analyze NEW"])]
        cpu_ratios = [t / p for t, p in zip(cpus[name], cpus["analyze NEW"])]
        print(f"  {name:38} wall best {min(times[name]):6.2f} s, median ratio {float(np.median(ratios)):5.2f}x;"
              f"  CPU best {min(cpus[name]):5.2f} s, median ratio {float(np.median(cpu_ratios)):5.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cli", action="store_true",
                    help="also time the command lines (a process each: imports, and the pool's workers' own)")
    args = ap.parse_args()

    from loganalyze.compare import compare, side_from_report
    from loganalyze.config import Config
    from loganalyze.engine import analyze
    from loganalyze.gate import analyze_against, side_from_json
    from loganalyze.report.jsonout import dumps

    cache = ROOT / ".cache" / "bench_compare" / str(args.points)
    base, new = cache / "base", cache / "new"
    for root, rate, seed in ((base, 5 / args.points, 0), (new, 3 / args.points, 1)):
        f = root / "smoke" / "events.out.tfevents.1700000000.bench"
        if not f.exists():
            t0 = time.perf_counter()
            write_run(f, args.points, rate, seed)
            print(f"wrote {f} ({f.stat().st_size / 2**20:.0f} MB) in {time.perf_counter() - t0:.0f} s")
    config = Config()
    base_json = cache / "base.json"
    base_json.write_text(dumps(analyze([str(base)], config, jobs=1)), encoding="utf-8")

    def plain():  # what `loganalyze analyze NEW` does
        analyze([str(new)], config, jobs=1, summarize=True, charts=False)

    # `loganalyze compare BASE NEW` without --html: no chart curves, as `plain` (the CLI passes charts=bool(html))
    def from_json():
        b, report = analyze_against(str(base_json), [str(new)], config, jobs=1, charts=False)
        assert compare(b, side_from_report(report, str(new))).verdict == "fail"  # the new run converges more slowly: the gate must see it

    def logs_parallel():
        b, report = analyze_against(str(base), [str(new)], config, jobs=2, charts=False)
        assert compare(b, side_from_report(report, str(new))).verdict == "fail"

    def logs_serial():
        b, report = analyze_against(str(base), [str(new)], config, jobs=1, charts=False)
        assert compare(b, side_from_report(report, str(new))).verdict == "fail"

    def logs_cached():
        os.environ["LOGANALYZE_CACHE"] = str(cache / "reports")
        try:
            b, report = analyze_against(str(base), [str(new)], config, jobs=1, charts=False)
            assert compare(b, side_from_report(report, str(new))).verdict == "fail"
        finally:
            os.environ["LOGANALYZE_CACHE"] = "off"

    os.environ["LOGANALYZE_CACHE"] = "off"
    shutil.rmtree(cache / "reports", ignore_errors=True)
    logs_cached()  # the first comparison fills the cache

    # Interleaved rounds, so that a change in the machine's load falls on every variant alike; each
    # variant's ratio is taken to the plain analysis of its own round, and the median ratio is printed.
    variants = [("analyze NEW alone", plain), ("compare, baseline JSON", from_json),
                ("compare, baseline logs, 2 processes", logs_parallel),
                ("compare, baseline logs, 1 process", logs_serial), ("compare, baseline logs, cached", logs_cached)]
    times = {name: [] for name, _ in variants}
    cpus = {name: [] for name, _ in variants}
    together = []  # per round: (baseline side's CPU, new side's CPU), run at once in two processes
    load0 = os.getloadavg()[0]
    for _ in range(args.repeat):
        for name, fn in variants:
            c0 = cpu_seconds()
            times[name].append(best_of(1, fn))
            cpus[name].append(cpu_seconds() - c0)
        together.append(sides_together(base, new, config))
    print(f"{args.points:,} points per run, {args.repeat} interleaved rounds; load average "
          f"{load0:.1f} before, {os.getloadavg()[0]:.1f} after, {os.cpu_count()} cores")
    print("  (wall: elapsed time; CPU: this process and its workers, which a busy machine inflates far less: processes running at once share caches)")
    for name, _ in variants:
        ratios = [t / p for t, p in zip(times[name], times["analyze NEW alone"])]
        cpu_ratios = [t / p for t, p in zip(cpus[name], cpus["analyze NEW alone"])]
        print(f"  {name:38} wall best {min(times[name]):6.2f} s, median ratio {float(np.median(ratios)):5.2f}x;"
              f"  CPU median ratio {float(np.median(cpu_ratios)):5.2f}x")
    longer = [max(pair) / p for pair, p in zip(together, cpus["analyze NEW alone"])]
    print(f"  on two idle cores, estimated: the two sides at once in two processes, the longer side's CPU over the "
          f"reference's: median {float(np.median(longer)):.2f}x (CPU of each side, baseline/new: "
          + ", ".join(f"{b:.2f}/{n:.2f} s" for b, n in together) + ")")

    if args.cli:
        time_cli(base, new, args.repeat)

    # what the gate adds to an analysis, timed alone: curve summaries of NEW, reading the JSON, comparing
    report = analyze([str(new)], config, jobs=1)
    t0 = time.perf_counter()
    b = side_from_json(json.loads(base_json.read_text(encoding="utf-8")), str(base_json))
    compare(b, side_from_report(report, str(new)))
    print(f"  the gate's own work (JSON baseline): {time.perf_counter() - t0:.3f} s")

if __name__ == "__main__":
    main()
