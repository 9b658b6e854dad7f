"""A Hugging Face `trainer_state.json` over 64 MiB: streamed record by record, in memory that grows with
the points kept, not the text (issue 12).

    python tests/bench/bench_trainer_state.py [--mib 96] [--baseline 5f07853]

Writes a trainer_state.json in the Trainer's layout (indent 2, sorted keys; a train row every 10
steps with epoch, grad_norm, learning_rate and loss, an eval row every 500 steps), then, each in a
fresh process: the floor (interpreter + the reader's imports), the reader, `json.load` of the whole
document (what holding it costs), the reader at `--baseline` (before streaming: refused over 64
MiB), and the reader on the same file cut in the middle of an entry (every complete entry kept).
Prints peak RSS (VmHWM), seconds and points. Not a test: the machine is shared.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

TRAIN = """    {{
      "epoch": {epoch},
      "grad_norm": {grad},
      "learning_rate": {lr},
      "loss": {loss},
      "step": {step}
    }}"""
EVAL = """    {{
      "epoch": {epoch},
      "eval_loss": {loss},
      "eval_runtime": 3.21,
      "eval_samples_per_second": 311.5,
      "step": {step}
    }}"""


def write_state(path: Path, mib: float) -> int:
    """The file and its number of log_history entries."""
    target = int(mib * 2**20)
    n = 0
    with open(path, "w") as fh:
        fh.write('{\n  "best_metric": null,\n  "epoch": 3.0,\n  "global_step": 0,\n  "log_history": [\n')
        size = 0
        while size < target:
            step = 10 * (n + 1)
            entry = (EVAL if step % 500 == 0 else TRAIN).format(
                epoch=round(step / 20000, 4), grad=1.0 + (n % 7) / 10, lr=5e-5 * (1 - n * 1e-7),
                loss=2.0 / (1 + n / 1000), step=step)
            text = (",\n" if n else "") + entry
            fh.write(text)
            size += len(text)
            n += 1
        fh.write('\n  ],\n  "logging_steps": 10,\n  "max_steps": 0,\n  "num_train_epochs": 3,\n'
                 '  "train_batch_size": 8\n}')
    return n


def measure(code: str, path: Path) -> tuple[float, float, str]:
    """(peak RSS MiB, seconds, what `code` printed) of a fresh process running `code` on `path`."""
    hwm = "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])"
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", f"import sys, time; {code}; {hwm}", str(path)], capture_output=True,
                         text=True, check=True, cwd=ROOT).stdout.splitlines()
    return int(out[-1]) / 1024, time.perf_counter() - t0, " ".join(out[:-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=float, default=96)
    ap.add_argument("--baseline", default="5f07853", help="a commit before streaming, for its reader")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "trainer_state.json"
        t0 = time.perf_counter()
        n = write_state(path, args.mib)
        size = path.stat().st_size
        print(f"trainer_state.json: {size / 2**20:.0f} MiB, {n:,} log_history entries (written in "
              f"{time.perf_counter() - t0:.0f} s)")
        cut = Path(d) / "cut" / "trainer_state.json"
        cut.parent.mkdir()
        data = path.read_bytes()
        half = data.index(b'"loss"', len(data) // 2)
        cut.write_bytes(data[:half])
        del data
        read = ("from loganalyze.ingest.jsonlog import read_json_log as r; t = time.perf_counter(); "
                "run = r(sys.argv[1], 'x'); t = time.perf_counter() - t; "
                "print(f'{t:.1f} s in the reader;', sum(s.points for s in run.series.values()), 'points,', "
                "len(run.series['loss'].step), 'loss;', [(p.kind, p.detail[:90]) for p in run.problems])")
        old = ("sys.path.insert(0, 'tests/bench'); from bench_ingest_memory import baseline_module; "
               f"r = baseline_module({args.baseline!r}, 'jsonlog').read_json_log; run = r(sys.argv[1], 'x'); "
               "print(sum(s.points for s in run.series.values()), 'points;', [p.kind for p in run.problems])")
        for label, code, p in (
                ("floor (imports)", "import loganalyze.ingest.jsonlog", path),
                ("streamed reader", read, path),
                ("json.load of the whole", "import json; doc = json.load(open(sys.argv[1]))", path),
                (f"reader at {args.baseline}", old, path),
                ("streamed reader, cut mid-file", read, cut)):
            rss, secs, said = measure(code, p)
            print(f"  {label:32} peak RSS {rss:7.0f} MiB  {secs:6.1f} s  {said}")


if __name__ == "__main__":
    main()
