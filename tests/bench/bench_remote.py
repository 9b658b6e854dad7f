"""Reading logs where they live: the 1M-point event file from S3 on loopback (moto's server) and over
HTTP (a range-answering server on loopback) against the same file read locally.

    python tests/bench/bench_remote.py                 # 1M points, best of 3
    python tests/bench/bench_remote.py --points 10000000 --repeat 1
    python tests/bench/bench_remote.py --sweep 200       # also a sweep of 200 small runs (a listing, 2 requests a file)

Every number is a whole `loganalyze DIR-or-URL --json FILE` command in a fresh process (as in
bench_speed.py, whose 1M-point file this is: SummaryWriter's layout, five tags a step, validation
every 100), interleaved local / S3 / HTTP so all see the same machine; the reports must be the same
apart from the source names. Loopback has no network latency: the ratio is the cost of the fsspec
layer and the S3 API (request signing, the server's own work, one HEAD and windowed GETs), the floor
of what a real bucket costs. Not a test: timings on a shared machine are noisy; read the ratios.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from bench_speed import Tree, best_of, big_file, measure, sweep  # noqa: E402
from remote_servers import AWS_UNSET, RangeServer, aws_env, free_port  # noqa: E402

ROOT = HERE.parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sweep", type=int, default=0, help="also a sweep of this many runs (bench_speed's), -j 1")
    args = ap.parse_args()

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = free_port()
    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    s3.start()
    endpoint = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        local = big_file(args.points)
        event = next(local.glob("*tfevents*"))
        size = event.stat().st_size
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                              aws_secret_access_key="testing")
        client.create_bucket(Bucket="bench")
        client.upload_file(str(event), "bench", f"run/{event.name}")
        www = tmp / "www"
        www.mkdir()
        shutil.copy(event, www / event.name)
        http = RangeServer(www)

        tree = Tree(ROOT, "this", tmp / "pyc")
        for k in AWS_UNSET:
            tree.env.pop(k, None)
        tree.env.update(aws_env(endpoint))
        # the file itself each time, so the run is named by it: its name is all that may differ
        targets = {"local": str(event), "s3": f"s3://bench/run/{event.name}", "http": f"{http.url}/{event.name}"}

        def run(label: str) -> tuple[float, float, float]:
            out = tmp / f"{label}.json"
            t, rss, err, cpu = measure(tree.cmd(targets[label], "--json", str(out), "--format", "none"), tree.env)
            return t, rss, cpu

        reports = {}
        for label in targets:  # once each: bytecode cache, and the reports compared
            run(label)
            reports[label] = (tmp / f"{label}.json").read_text().replace(targets[label], "<the file>")
        same = reports["s3"] == reports["local"], reports["http"] == reports["local"]
        http.served.gets.clear()
        results = {label: [] for label in targets}
        for _ in range(args.repeat):
            for label in targets:
                results[label].append(run(label))
        gets = [g for g in http.served.gets if g[0] == f"/{event.name}"]
        best = {label: best_of(iter(rs).__next__, len(rs)) for label, rs in results.items()}
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; "
              f"{args.points:,} points, {size / 2**20:.1f} MiB event file, best of {args.repeat}")
        print(f"{'':12}{'wall':>10}{'cpu':>10}{'peak':>10}{'wall/local':>12}{'cpu/local':>11}")
        for label, (t, rss, cpu) in best.items():
            print(f"{label:12}{t:>8.3f} s{cpu:>8.3f} s{rss:>6.0f} MiB{t / best['local'][0]:>11.2f}x"
                  f"{cpu / best['local'][2]:>10.2f}x")
        print(f"same report apart from source names: S3 {same[0]}, HTTP {same[1]}")
        per_run = len(gets) / args.repeat
        print(f"HTTP: {per_run:.0f} range GETs per read, largest {max(n for *_, n in gets) / 2**20:.2f} MiB, "
              f"{sum(n for *_, n in gets) / args.repeat / size:.2f}x the file's bytes fetched per read")
        http.stop()
        if args.sweep:
            runs = sweep(args.sweep)
            for path in sorted(runs.rglob("*")):
                if path.is_file() and not path.name.startswith("."):
                    client.upload_file(str(path), "bench", f"sweep/{path.relative_to(runs).as_posix()}")
            where = {"local": str(runs), "s3": "s3://bench/sweep"}
            texts, times = {}, {label: [] for label in where}
            for k in range(args.repeat + 1):
                for label, target in where.items():
                    out = tmp / f"sweep-{label}.json"
                    t, rss, _, cpu = measure(tree.cmd(target, "--json", str(out), "--format", "none", "-j", "1"),
                                             tree.env)
                    if k:  # the first round warms up
                        times[label].append((t, rss, cpu))
                    texts[label] = out.read_text().replace(target, "<root>")
            sb = {label: best_of(iter(rs).__next__, len(rs)) for label, rs in times.items()}
            print(f"sweep of {args.sweep} runs ({sum(1 for p in runs.rglob('*') if p.is_file()) - 1} files), -j 1:")
            for label, (t, rss, cpu) in sb.items():
                print(f"{label:12}{t:>8.3f} s{cpu:>8.3f} s{rss:>6.0f} MiB{t / sb['local'][0]:>11.2f}x"
                      f"{cpu / sb['local'][2]:>10.2f}x")
            print(f"same report apart from source names: S3 {texts['s3'] == texts['local']}")
    s3.stop()


if __name__ == "__main__":
    main()
