"""End-to-end speed: start-up, one big file against TensorBoard's Rust data server, sweeps of many runs.

    python tests/bench/bench_speed.py                          # start-up, 1M points, sweeps of 20/200/2,000
    python tests/bench/bench_speed.py --points 1000000,10000000 --skip-sweep --skip-startup   # 1M and 10M vs Rust
    python tests/bench/bench_speed.py --baseline /path/to/other/checkout   # before/after in one run

Every number is a whole `loganalyze` command in a fresh process, timed from its start to its exit,
with its peak memory: the largest resident size of the command and its workers added up, sampled
every 20 ms from /proc. Python's bytecode is cached (PYTHONPYCACHEPREFIX in a temporary folder),
as it is for an installed package, and each command runs once before it is timed.

* start-up: `python -c pass`, `loganalyze --help`, `loganalyze rules`, and a 200-row CSV analyzed
  end to end (what a pre-commit hook pays), the best of several runs;
* one training run's event file in PyTorch SummaryWriter's byte layout (loss, accuracy, LR, gradient
  norm and epoch every step, validation every 100), of each size in --points: `loganalyze DIR --json
  /dev/null` end to end and the Rust data server shipped in the tensorboard wheel, started with
  `--reload once --samples-per-plugin scalars=all` (every point kept, as we do) and timed until it
  logs its finished load cycle, in turns (ours, Rust, ours, ...), the best of --big-repeat each:
  wall and CPU seconds, peak RSS, and our/Rust ratios of each; then the CPU seconds of each stage
  (ingest, align, rules) in one process, the best of --big-repeat, and rules / ingest;
* sweeps: directories of N runs, half event files, half Lightning `metrics.csv` (empty cells where
  a metric was not logged), a tenth of them diverging, analyzed with `-j 1` and `-j 2`, and the
  size of the HTML report of each.

With --baseline the same commands also run from another checkout (e.g. the code before a change),
interleaved with ours so both see the same machine. Not a test: timings on a shared machine are
noisy, so read the ratios, which are measured side by side.
"""
from __future__ import annotations

import argparse
import os
import re
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "bench-speed"
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]


# ---------------------------------------------------------------- measuring a command

def _tree_rss(pid: int) -> int:
    """Resident kB of a process and all its descendants."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(d))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            with open(f"/proc/{p}/status") as fh:
                total += next((int(line.split()[1]) for line in fh if line.startswith("VmRSS")), 0)
        except OSError:
            pass
    return total


def measure(cmd: list[str], env: dict, until: str | None = None) -> tuple[float, float, str, float]:
    """(seconds, peak MiB of the process tree, stderr, CPU seconds of the tree). With `until`, stop
    timing when stderr has it. CPU time (user + system, the process and its workers) hardly depends on
    what else the machine runs; wall time does."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    err = []
    elapsed = None
    if until:
        for line in proc.stderr:
            err.append(line)
            if until in line:
                elapsed = time.perf_counter() - t0
                break
        proc.stdin.close()  # --die-after-stdin
        err.append(proc.stderr.read())
    else:
        proc.stdin.close()
        err.append(proc.stderr.read())
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = elapsed if elapsed is not None else time.perf_counter() - t0
    done.set()
    sampler.join()
    if proc.returncode not in (0, 1) and not until:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {''.join(err)[-2000:]}")
    return elapsed, peak / 1024, "".join(err), usage.ru_utime + usage.ru_stime


class Tree:
    """A checkout whose `loganalyze` we run."""

    def __init__(self, path: Path, label: str, pycache: Path):
        self.path, self.label = path, label
        self.env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}
        self.env.update(PYTHONPATH=str(path), PYTHONPYCACHEPREFIX=str(pycache / label))

    def cmd(self, *args: str) -> list[str]:
        return [sys.executable, "-P", "-m", "loganalyze", *args]  # -P: this tree's code, not the working directory's

    def run(self, *args: str) -> tuple[float, float, float]:
        t, rss, _, cpu = measure(self.cmd(*args), self.env)
        return t, rss, cpu


def best_of(fn, times: int) -> tuple[float, float, float]:
    runs = [fn() for _ in range(times)]
    return min(r[0] for r in runs), max(r[1] for r in runs), min(r[2] for r in runs)


# ---------------------------------------------------------------- inputs

def _framer(fh):
    from loganalyze.ingest.tfevents import masked_crc

    def put(data: bytes) -> None:
        head = struct.pack("<Q", len(data))
        fh.write(head + struct.pack("<I", masked_crc(head)) + data + struct.pack("<I", masked_crc(data)))
    return put


def write_tiny_csv(path: Path, rows: int = 200) -> None:
    rng = np.random.default_rng(0)
    loss = 2.0 * np.exp(-np.arange(rows) / 60) + 0.1 + 0.02 * rng.standard_normal(rows)
    lines = ["step,epoch,train_loss,val_loss"]
    for i in range(rows):
        val = f"{loss[i] * 1.1:.5f}" if i % 20 == 19 else ""
        lines.append(f"{i},{i // 20},{loss[i]:.5f},{val}")
    path.write_text("\n".join(lines) + "\n")


def _curves(rng, steps: int, diverge: bool) -> dict[str, np.ndarray]:
    s = np.arange(steps)
    loss = 2.0 * np.exp(-s / (steps / 5)) + 0.2 + 0.03 * rng.standard_normal(steps)
    if diverge:
        at = int(steps * 0.6)
        loss[at:] *= np.exp((s[at:] - at) / (steps / 12))
    return {"loss": loss, "lr": np.full(steps, 1e-3) * (0.5 ** (s // (steps // 3))),
            "val": loss[::50] * 1.1 + 0.01 * rng.standard_normal(len(loss[::50]))}


def write_event_run(d: Path, rng, steps: int, diverge: bool) -> None:
    from tensorboard.compat.proto import event_pb2, summary_pb2

    d.mkdir(parents=True, exist_ok=True)
    c = _curves(rng, steps, diverge)
    spe = max(1, steps // 10)
    with open(d / "events.out.tfevents.1700000000.bench", "wb") as fh:
        put = _framer(fh)
        put(event_pb2.Event(wall_time=1.7e9, file_version="brain.Event:2").SerializeToString())

        def scalar(step: int, tag: str, v: float) -> None:
            val = summary_pb2.Summary.Value(tag=tag, simple_value=float(v))
            put(event_pb2.Event(wall_time=1.7e9 + step, step=step, summary=summary_pb2.Summary(value=[val])).SerializeToString())

        for i in range(steps):
            scalar(i, "train/loss", c["loss"][i])
            scalar(i, "lr", c["lr"][i])
            if i % spe == 0:
                scalar(i, "epoch", i // spe)
            if i % 50 == 0:
                scalar(i, "val/loss", c["val"][i // 50])


def write_lightning_csv(d: Path, rng, steps: int, diverge: bool) -> None:
    """Lightning's CSVLogger layout: one row per logging call, empty cells for what that call did not log."""
    d.mkdir(parents=True, exist_ok=True)
    c = _curves(rng, steps, diverge)
    spe = max(1, steps // 10)
    lines = ["epoch,lr-Adam,step,train_loss,val_loss"]
    for i in range(steps):
        lines.append(f"{i // spe},{c['lr'][i]:.6g},{i},{c['loss'][i]:.6g},")
        if i % 50 == 0:
            lines.append(f"{i // spe},,{i},,{c['val'][i // 50]:.6g}")
    (d / "metrics.csv").write_text("\n".join(lines) + "\n")


def sweep(n: int, steps: int = 1000) -> Path:
    """N runs (cached under .cache/bench-speed): even ones event files, odd ones Lightning CSV; every 10th diverges."""
    root = CACHE / f"sweep-{n}-{steps}"
    if (root / ".done").exists():
        return root
    rng = np.random.default_rng(n)
    for i in range(n):
        diverge = i % 10 == 3
        d = root / f"run_{i:05d}"
        (write_event_run if i % 2 == 0 else write_lightning_csv)(d, rng, steps, diverge)
    (root / ".done").write_text("")
    return root


def write_big(path: Path, points: int) -> None:
    """One training run of about `points` scalars, as SummaryWriter lays it out: loss, accuracy, LR,
    gradient norm and epoch every step, validation every 100 steps. Streamed, never whole in memory."""
    from tensorboard.compat.proto import event_pb2, summary_pb2

    steps = points // 5
    spe = max(100, steps // 50)  # 50 epochs
    rng = np.random.default_rng(0)
    with open(path, "wb") as fh:
        put = _framer(fh)
        put(event_pb2.Event(wall_time=1.7e9, file_version="brain.Event:2").SerializeToString())
        for a in range(0, steps, 100_000):
            s = np.arange(a, min(steps, a + 100_000))
            loss = 2.0 * np.exp(-s / (steps / 4)) + 0.3 + 0.05 * rng.standard_normal(len(s))
            cols = {"train/loss": loss, "train/acc": 1 - loss / 3, "lr": 1e-3 * 0.5 ** (s // (steps // 3 + 1)),
                    "grad_norm": 1 + 0.2 * rng.standard_normal(len(s)), "epoch": (s // spe).astype(float)}
            for i, step in enumerate(s.tolist()):
                for tag, v in cols.items():
                    val = summary_pb2.Summary.Value(tag=tag, simple_value=float(v[i]))
                    put(event_pb2.Event(wall_time=1.7e9 + step * 0.01, step=step,
                                        summary=summary_pb2.Summary(value=[val])).SerializeToString())
                if step % 100 == 99:
                    for tag, v in (("val/loss", loss[i] * 1.1), ("val/acc", 1 - loss[i] / 2.8)):
                        val = summary_pb2.Summary.Value(tag=tag, simple_value=float(v))
                        put(event_pb2.Event(wall_time=1.7e9 + step * 0.01, step=step,
                                            summary=summary_pb2.Summary(value=[val])).SerializeToString())


def big_file(points: int) -> Path:
    d = CACHE / f"run-{points}"
    path = d / "events.out.tfevents.1700000000.bench"
    if not path.exists():
        d.mkdir(parents=True, exist_ok=True)
        write_big(path.with_suffix(".part"), points)
        path.with_suffix(".part").rename(path)
    return d


def rust_server() -> Path | None:
    try:
        import tensorboard_data_server
    except ImportError:
        return None
    path = Path(tensorboard_data_server.__file__).parent / "bin" / "server"
    return path if path.exists() else None


def rust_load(server: Path, logdir: Path) -> tuple[float, float, float, float]:
    """(seconds to its finished load cycle, its own reported load seconds, peak MiB, CPU seconds)."""
    cmd = [str(server), "--logdir", str(logdir), "--port", "0", "--reload", "once", "--die-after-stdin",
           "--samples-per-plugin", "scalars=all", "--verbose"]
    t, rss, err, cpu = measure(cmd, dict(os.environ), until="Finished load cycle")
    m = re.search(r"Finished load cycle \(([\d.]+)(ms|s|µs)\)", err)
    own = float(m.group(1)) / {"ms": 1e3, "s": 1.0, "µs": 1e6}[m.group(2)] if m else float("nan")
    return t, own, rss, cpu


def browser_load(page_path: Path) -> tuple[float, float] | None:
    """(seconds until the page reports ready, until the overview filter has answered) in headless Chromium."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not Path("/usr/bin/chromium").exists():
        return None
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        page = b.new_page(viewport={"width": 1280, "height": 900})
        t0 = time.perf_counter()
        page.goto(page_path.as_uri(), timeout=600_000)
        page.wait_for_function("document.documentElement.dataset.ready === '1'", timeout=600_000)
        ready = time.perf_counter() - t0
        if page.locator("#run-filter").count():
            page.fill("#run-filter", "run_0001")
            page.evaluate("Array.from(document.querySelectorAll('table.overview tbody tr')).filter(r => !r.hidden).length")
        interactive = time.perf_counter() - t0
        b.close()
    return ready, interactive


STAGES = """
import sys, time
from loganalyze.align import align_runs
from loganalyze.config import Config
from loganalyze.detectors import all_detectors
from loganalyze.engine import run_rules
from loganalyze.ingest import load
all_detectors()
T = time.process_time
t0 = T(); ingested = load([sys.argv[1]])
t1 = T(); run, = align_runs(ingested.runs, Config())
t2 = T(); rr = run_rules(run, Config())
t3 = T()
print(f"{t1 - t0:.3f} {t2 - t1:.3f} {t3 - t2:.3f}")
"""


def stages(tree: "Tree", logdir: Path) -> tuple[float, float, float]:
    """CPU seconds of (ingest, align, rules) for one run, in one process after the imports."""
    out = subprocess.run([sys.executable, "-P", "-c", STAGES, str(logdir)], env=tree.env, capture_output=True,
                         text=True, check=True).stdout.split()
    return float(out[0]), float(out[1]), float(out[2])


# ---------------------------------------------------------------- the report

def big_run(points: int, trees: list[Tree], server: Path | None, tmp: Path, repeat: int, row) -> None:
    """One big event file: our end-to-end command and the Rust server's load, side by side; then our stages."""
    d = big_file(points)
    load0 = os.getloadavg()[0]
    for t in trees:
        t.run(str(d), "--json", os.devnull, "--format", "none")  # the bytecode cache; the file in the page cache
    runs: dict[str, list] = {t.label: [] for t in trees}
    rust: list = []
    for _ in range(repeat):  # in turns, so that each sees the same machine
        for t in trees:
            runs[t.label].append(t.run(str(d), "--json", os.devnull, "--format", "none"))
        if server:
            rust.append(rust_load(server, d))
    ours = [(min(r[0] for r in runs[t.label]), max(r[1] for r in runs[t.label]), min(r[2] for r in runs[t.label]))
            for t in trees]
    row(f"{points:,} points, --json, end to end", ours)
    if rust:
        # its peak varies from run to run: ours (the largest of ours) is compared with its smallest
        best = (min(r[0] for r in rust), min(r[1] for r in rust), min(r[2] for r in rust), min(r[3] for r in rust))
        print(f"{'Rust data server, scalars=all, to loaded':44}{best[0]:>8.3f} s {best[3]:>7.3f} cpu "
              f"{best[2]:>5.0f} MiB   (its own load cycle {best[1]:.3f} s; cpu until it exits)")
        for t, o in zip(trees, ours):
            print(f"  {t.label} / Rust at {points:,} points: wall {o[0] / best[0]:.2f}x, cpu {o[2] / best[3]:.2f}x, "
                  f"peak RSS {o[1] / best[2]:.2f}x (Rust's peaks: "
                  + ", ".join(f"{r[2]:.0f}" for r in rust) + " MiB)")
    else:
        print("tensorboard_data_server not installed: no Rust comparison")
    for t in trees:
        got = [stages(t, d) for _ in range(repeat)]
        ing, al, ru = (min(g[i] for g in got) for i in range(3))
        print(f"  {t.label}: cpu of ingest {ing:.2f} s, align {al:.2f} s, rules {ru:.2f} s "
              f"(rules = {ru / ing:.2f}x ingest; best of {repeat})")
    print(f"  (load average {load0:.1f} before, {os.getloadavg()[0]:.1f} after; {os.cpu_count()} cores)")
    html = [best_of(lambda t=t: t.run(str(d), "--json", os.devnull, "--html", str(tmp / "big.html"),
                                         "--format", "none"), 1) for t in trees]
    row(f"{points:,} points, --json --html", html)



def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", type=Path, help="another checkout to run side by side (e.g. before a change)")
    ap.add_argument("--points", default="1000000", help="sizes of the big event file, comma-separated")
    ap.add_argument("--big-repeat", type=int, default=3, help="big file: best of this many, ours and Rust's in turns")
    ap.add_argument("--sweeps", default="20,200,2000")
    ap.add_argument("--steps", type=int, default=1000, help="train steps per sweep run")
    ap.add_argument("--repeat", type=int, default=5, help="start-up: best of this many")
    ap.add_argument("--skip-startup", action="store_true")
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--skip-sweep", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        trees = [Tree(ROOT, "this", tmp / "pyc")]
        if args.baseline:
            trees.append(Tree(args.baseline.resolve(), "baseline", tmp / "pyc"))
        bare_env = trees[0].env
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
        head = "".join(f"{t.label + ' (wall, cpu, peak)':>33}" for t in trees)
        print(f"{'':44}{head}" + ("   baseline/this" if args.baseline else ""))

        def row(name: str, results: list[tuple[float, float, float]]) -> None:
            cells = "".join(f"{r[0]:>8.3f} s {r[2]:>7.3f} cpu {r[1]:>5.0f} MiB" for r in results)
            ratio = (f"   {results[1][0] / results[0][0]:5.2f}x {results[1][2] / results[0][2]:5.2f}x cpu"
                     if len(results) > 1 else "")
            print(f"{name:44}{cells}{ratio}", flush=True)

        if not args.skip_startup:
            csv = tmp / "tiny" / "metrics.csv"
            csv.parent.mkdir()
            write_tiny_csv(csv)
            bare = best_of(lambda: [measure([sys.executable, "-c", "pass"], bare_env)[i] for i in (0, 1, 3)], args.repeat)
            print(f"{'python -c pass':44}{bare[0]:>8.3f} s {bare[2]:>7.3f} cpu {bare[1]:>5.0f} MiB"
                  "   (the floor under every command)")
            for label, a in [("loganalyze --help", ["--help"]), ("loganalyze rules", ["rules"]),
                             ("200-row CSV, end to end", [str(csv), "--json", os.devnull, "--format", "none"])]:
                for t in trees:
                    t.run(*a)  # writes the bytecode cache
                row(label, [best_of(lambda t=t: t.run(*a), args.repeat) for t in trees])

        if not args.skip_big:
            server = rust_server()
            for points in [int(x) for x in args.points.split(",") if x]:
                big_run(points, trees, server, tmp, args.big_repeat, row)

        if not args.skip_sweep:
            for n in [int(x) for x in args.sweeps.split(",") if x]:
                t0 = time.perf_counter()
                d = sweep(n, args.steps)
                if time.perf_counter() - t0 > 1:
                    print(f"(wrote the {n}-run sweep in {time.perf_counter() - t0:.0f} s)")
                res = {}
                for j in ("1", "2"):
                    got = [t.run(str(d), "--json", os.devnull, "--format", "none", "-j", j) for t in trees]
                    row(f"sweep of {n:,} runs, -j {j}", got)
                    res[j] = got
                for k, t in enumerate(trees):
                    print(f"  {t.label}: -j 2 is {res['1'][k][0] / res['2'][k][0]:.2f}x as fast as -j 1 "
                          f"(and uses {res['2'][k][2] / res['1'][k][2]:.2f}x its cpu)")
                default = [t.run(str(d), "--json", os.devnull, "--format", "none") for t in trees]
                row(f"sweep of {n:,} runs, default -j (load {os.getloadavg()[0]:.1f})", default)
                pages = []
                for t in trees:
                    out = tmp / f"sweep-{t.label}.html"
                    tt, rss, cpu = t.run(str(d), "--json", os.devnull, "--html", str(out), "--format", "none", "-j", "1")
                    pages.append((tt, rss, cpu, out.stat().st_size / 2**20))
                row(f"sweep of {n:,} runs, --html, -j 1", [p[:3] for p in pages])
                print("  HTML size: " + ", ".join(f"{t.label} {p[3]:.1f} MiB" for t, p in zip(trees, pages))
                      + "; writing it costs " + ", ".join(f"{t.label} {p[0] / res['1'][k][0]:.2f}x (cpu {p[2] / res['1'][k][2]:.2f}x) the analysis"
                                                         for k, (t, p) in enumerate(zip(trees, pages))))
                for t in trees:
                    page = tmp / f"sweep-{t.label}.html"
                    if page.stat().st_size > 100 * 2**20:
                        print(f"  {t.label}: {page.stat().st_size / 2**20:.0f} MiB page not opened in the browser")
                        continue
                    got = browser_load(page)
                    if got:
                        print(f"  {t.label}: headless Chromium ready in {got[0]:.2f} s, overview filter answered at {got[1]:.2f} s")


if __name__ == "__main__":
    main()
