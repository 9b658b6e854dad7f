"""The overhead of a sweep on a Dask cluster: `--dask local:2` against the local pool's `-j 2`, same machine.

    python tests/bench/bench_cluster.py                    # 2,000 small Lightning CSV runs
    python tests/bench/bench_cluster.py --runs 500 --repeat 3

Every number is a whole `loganalyze SWEEP --json FILE` command in a fresh process, from its start to
its exit, with the CPU seconds of its process tree (bench_speed.measure): `-j 2`; `--dask local:2`,
which starts and stops a LocalCluster of two worker processes inside the command; and `--dask
tcp://…` to a LocalCluster of two workers started beforehand by this script, what a sweep sent to a
standing cluster pays. The commands take turns (best of --repeat), so they see the same machine, and
their JSON reports are checked to be the same bytes. The runs (200 steps each, every tenth
diverging) are written once under .cache/bench-cluster, which git ignores. Not a test: on a shared
machine read the ratios, measured side by side.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "bench-cluster"
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]

from bench_speed import Tree, measure, write_lightning_csv  # noqa: E402


def sweep(n: int, steps: int) -> Path:
    """N Lightning CSV runs of `steps` steps (every 10th diverges), written once."""
    root = CACHE / f"sweep-{n}-{steps}"
    if (root / ".done").exists():
        return root
    rng = np.random.default_rng(n)
    for i in range(n):
        write_lightning_csv(root / f"run_{i:05d}", rng, steps, i % 10 == 3)
    (root / ".done").write_text("")
    return root


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=1, help="best of this many of each command")
    args = ap.parse_args()

    from loganalyze.cluster import start_local

    t0 = time.perf_counter()
    d = sweep(args.runs, args.steps)
    if time.perf_counter() - t0 > 1:
        print(f"(wrote the {args.runs:,}-run sweep in {time.perf_counter() - t0:.0f} s)")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    with tempfile.TemporaryDirectory() as tmp, start_local(2) as standing:
        tmp = Path(tmp)
        tree = Tree(ROOT, "this", tmp / "pyc")
        ways = {"-j 2": ["-j", "2"], "--dask local:2": ["--dask", "local:2"],
                "--dask tcp://… (standing cluster)": ["--dask", standing.scheduler_address]}
        best: dict[str, tuple[float, float]] = {}
        reports: dict[str, bytes] = {}
        for k in range(args.repeat + 1):  # the first round writes the bytecode cache and warms the standing workers
            for label, how in ways.items():
                out = tmp / f"{k}-{len(reports)}.json"
                t, _, _, cpu = measure(tree.cmd(str(d), "--json", str(out), "--format", "none", *how), tree.env)
                reports[label] = out.read_bytes()
                if k:
                    best[label] = min(best.get(label, (t, cpu)), (t, cpu))
        same = len(set(reports.values())) == 1
        print(f"sweep of {args.runs:,} CSV runs ({args.steps} steps each), best of {args.repeat}; "
              f"load average {os.getloadavg()[0]:.2f} at the end")
        base_t, base_cpu = best["-j 2"]
        for label, (t, cpu) in best.items():
            print(f"  {label:36} {t:8.2f} s {cpu:8.2f} cpu-s (this command's tree)   {t / base_t:5.2f}x the -j 2 time")
        print(f"  JSON reports the same bytes: {'yes' if same else 'NO'}")
        print("  (the standing cluster's workers run in this script's process tree, so their CPU is not in the "
              "command's cpu-s)")


if __name__ == "__main__":
    main()
