"""Keep a fixed-seed sample of a cosmic-ray session's pending mutants and delete the rest (issue 17).

A full run of the detectors is ~5,000 mutants at ~30 s each; the closing notes report a sample stratified by
file: N mutants allocated to the files in proportion to their pending mutants, at least `--min-per-file` each.
Run it after `cosmic-ray init` and `cr-filter-operators` (the filtered mutants are already marked skipped):

    python tests/bench/cosmic_ray_sample.py /tmp/cr.sqlite --n 60 --min-per-file 2 --seed 17

`--same-as OLD.sqlite --old-rev REV` keeps instead the mutants that OLD.sqlite ran (its non-skipped results),
found again in the current code by file, operator and the text of the mutated line: a sample can be re-run
after the code moved.
"""
from __future__ import annotations

import argparse
import collections
import random
import sqlite3
import subprocess
from pathlib import Path

PENDING = ("select m.job_id, m.module_path, m.operator_name, m.start_pos_row, m.start_pos_col "
           "from mutation_specs m left join work_results r on m.job_id = r.job_id where r.job_id is null "
           "order by m.module_path, m.start_pos_row, m.start_pos_col, m.operator_name, m.occurrence")


def stratified(rows, n: int, min_per_file: int, seed: int) -> set[str]:
    by = collections.defaultdict(list)
    for job, path, *_ in rows:
        by[path].append(job)
    alloc = {p: max(min(min_per_file, len(v)), round(n * len(v) / len(rows))) for p, v in by.items()}
    rng = random.Random(seed)
    keep: set[str] = set()
    for p in sorted(by):
        keep.update(rng.sample(by[p], alloc[p]))
    return keep


def same_as(rows, old_db: str, old_rev: str) -> set[str]:
    """The current jobs that mutate the same operator at the same place of the same source line as OLD's runs."""
    def source(rev: str | None, path: str) -> list[str]:
        if rev is None:
            return Path(path).read_text().splitlines()
        return subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, text=True,
                              check=True).stdout.splitlines()

    old = sqlite3.connect(old_db).execute(
        "select m.module_path, m.operator_name, m.start_pos_row, m.start_pos_col from mutation_specs m "
        "join work_results r on m.job_id = r.job_id where r.worker_outcome != 'SKIPPED'").fetchall()
    cache: dict = {}

    def key(rev, path, op, row, col):
        if (rev, path) not in cache:
            cache[rev, path] = source(rev, path)
        return path, op, cache[rev, path][row - 1].strip(), col

    want = collections.Counter(key(old_rev, *o) for o in old)
    keep: set[str] = set()
    for job, path, op, row, col in rows:
        k = key(None, path, op, row, col)
        if want[k] > 0:
            want[k] -= 1
            keep.add(job)
    missing = sum(want.values())
    if missing:
        print(f"{missing} of {len(old)} mutants of {old_db} are not in the current code (their line changed)")
    return keep


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("session")
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--min-per-file", type=int, default=2)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--same-as")
    ap.add_argument("--old-rev", default="HEAD")
    a = ap.parse_args()
    c = sqlite3.connect(a.session)
    rows = c.execute(PENDING).fetchall()
    keep = same_as(rows, a.same_as, a.old_rev) if a.same_as else stratified(rows, a.n, a.min_per_file, a.seed)
    drop = [(job,) for job, *_ in rows if job not in keep]
    c.executemany("delete from mutation_specs where job_id = ?", drop)
    c.executemany("delete from work_items where job_id = ?", drop)
    c.commit()
    print(f"kept {len(keep)} of {len(rows)} pending mutants")


if __name__ == "__main__":
    main()
