"""Trainer benchmark: does every scenario show its phenomenon at every seed, and how long does it take?

    python tests/bench/bench_trainer.py                        # every scenario, seeds 0-4
    python tests/bench/bench_trainer.py --seeds 0 --only 'lstm*'
    python tests/bench/bench_trainer.py --json out.json        # per-run rows, for the README table

For each scenario and seed it trains at `--scale` on the CPU, analyzes the event files and checks
the scenario's own finding (rule + top cause, from `catalog.PHENOMENON`), or for a healthy run or a
fix twin that no warning or error is reported. It prints one line per run (wall and CPU seconds,
CPU = user+sys of this process, so a shared machine's idle waits show as wall > CPU) and then the
rate per scenario. Not a test: tests/test_trainer_seeds.py asserts the same thing.
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from loganalyze.config import Config  # noqa: E402
from loganalyze.engine import analyze  # noqa: E402
from loganalyze.trainer.catalog import SCENARIOS, verdict  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0-4", help="e.g. 0-4 or 0,3")
    ap.add_argument("--only", default="*", help="glob over scenario names, comma-separated")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--table", type=Path, nargs="+", help="print README's scenario table from --json files, train nothing")
    args = ap.parse_args()
    if args.table:
        print(table([row for p in args.table for row in json.loads(p.read_text())]))
        return 0
    import torch

    from loganalyze.trainer.core import Context
    from loganalyze.trainer.scenarios import run_scenario

    seeds = _seeds(args.seeds)
    names = [n for n in SCENARIOS if any(fnmatch.fnmatch(n, g) for g in args.only.split(","))]
    rows = []
    print(f"torch {torch.__version__}, {Context.threads} thread per run (the trainer's default), "
          f"scale {args.scale}", flush=True)
    for name in names:
        for seed in seeds:
            with tempfile.TemporaryDirectory() as tmp:
                ctx = Context(Path(tmp) / name, torch.device("cpu"), seed=seed, scale=args.scale, csv=False)
                c0, w0 = time.process_time(), time.perf_counter()
                run_scenario(name, ctx)
                cpu, wall = time.process_time() - c0, time.perf_counter() - w0
                (rr,) = analyze([str(ctx.run_dir)], Config()).runs
            ok, why = verdict(name, rr.findings)
            rows.append({"scenario": name, "seed": seed, "ok": ok, "wall_s": round(wall, 1),
                         "cpu_s": round(cpu, 1), "why": why})
            print(f"{name:<32} seed {seed}  {'ok  ' if ok else 'MISS'}  wall {wall:6.1f}s  cpu {cpu:6.1f}s  {why}",
                  flush=True)
    print("\nscenario                          rate   max wall  max cpu")
    for name in names:
        mine = [r for r in rows if r["scenario"] == name]
        print(f"{name:<32} {sum(r['ok'] for r in mine)}/{len(mine)}  {max(r['wall_s'] for r in mine):7.1f}s"
              f"  {max(r['cpu_s'] for r in mine):6.1f}s")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


def table(rows: list[dict]) -> str:
    """README's scenario table: what each scenario must show, at how many seeds it did, the CPU time."""
    from loganalyze.trainer.catalog import FIXES, KNOWN_MISS, PHENOMENON, fixed_by

    out = ["| scenario | must show | seeds 0-4 | CPU-s (max) | fixed by |", "|---|---|---|---|---|"]
    for name in SCENARIOS:
        mine = [r for r in rows if r["scenario"] == name]
        if not mine:
            continue
        if name in PHENOMENON:
            must = "{} {}".format(*PHENOMENON[name])
        elif name.startswith("healthy_"):
            must = "no warning"
        else:
            must = "not {} {}".format(*PHENOMENON[fixed_by(name)])
        rate = f"{sum(r['ok'] for r in mine)}/{len(mine)}" + (" (known miss)" if name in KNOWN_MISS else "")
        fixes = ", ".join(FIXES.get(name, {}))
        out.append(f"| {name} | {must} | {rate} | {max(r['cpu_s'] for r in mine):.0f} | {fixes} |")
    return "\n".join(out)


def _seeds(text: str) -> list[int]:
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(s) for s in text.split(",")]


if __name__ == "__main__":
    sys.exit(main())
