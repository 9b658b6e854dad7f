"""Keep a fixed-seed sample of a cosmic-ray session's pending mutants and delete the rest (issue 17).

A full run of the detectors is ~5,000 mutants at ~30 s each; the closing notes report a sample stratified by
file: N mutants allocated to the files in proportion to their pending mutants, at least `--min-per-file` each.
Run it after `cosmic-ray init` and `cr-filter-operators` (the filtered mutants are already marked skipped):

    python tests/bench/cosmic_ray_sample.py /tmp/cr.sqlite --n 60 --min-per-file 2 --seed 17

`--same-as OLD.sqlite --old-rev REV` keeps instead the mutants that OLD.sqlite ran (its non-skipped results),
found again in the current code (the working directory) by file, operator and the text of the mutated line:
a sample can be re-run after the code moved. REV is read from the git checkout this script is in.

`--part I/K` on a sampled session keeps every K-th of its pending mutants (in job-id order) from the I-th on:
copy the session K times, give each copy one part, and run each with `cosmic-ray exec` in its own copy of the
tree; the sample's result is the union of the K sessions' results.
"""
from __future__ import annotations

import argparse
import collections
import random
import sqlite3
import subprocess
from pathlib import Path

PENDING = ("select m.job_id, m.module_path, m.operator_name, m.start_pos_row, m.start_pos_col, "
           "m.end_pos_row, m.end_pos_col, m.occurrence "
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
    """The current jobs that mutate the same operator at the same place of the same source line as OLD's runs.

    A line that was edited since is matched by the mutated text and the ten characters before and five after it
    (same file and operator, the nearest such line within 15); each such match is printed to be checked."""
    def source(rev: str | None, path: str) -> list[str]:
        if rev is None:
            return Path(path).read_text().splitlines()
        repo = Path(__file__).resolve().parents[2]  # the checkout this script is in holds the old revision
        return subprocess.run(["git", "-C", str(repo), "show", f"{rev}:{path}"], capture_output=True, text=True,
                              check=True).stdout.splitlines()

    cache: dict = {}

    def line(rev, path, row):
        if (rev, path) not in cache:
            cache[rev, path] = source(rev, path)
        return cache[rev, path][row - 1]

    old = sqlite3.connect(old_db).execute(
        "select m.module_path, m.operator_name, m.start_pos_row, m.start_pos_col, m.end_pos_row, m.end_pos_col, "
        "m.occurrence from mutation_specs m join work_results r on m.job_id = r.job_id where r.worker_outcome != 'SKIPPED'"
    ).fetchall()
    def variant(op, occurrence):
        # NumberReplacer makes two mutants of each number, +1 (even occurrence) and -1 (odd); the other
        # operators make one per place
        return occurrence % 2 if op == "core/NumberReplacer" else 0

    cur = {job: (path, op, row, col, erow, ecol, variant(op, occ)) for job, path, op, row, col, erow, ecol, occ in rows}
    by_line = collections.defaultdict(list)
    for job, (path, op, row, col, _, _, var) in cur.items():
        by_line[path, op, line(None, path, row).strip(), col, var].append(job)
    keep: set[str] = set()
    moved = []
    for path, op, row, col, erow, ecol, occ in old:
        var = variant(op, occ)
        jobs = [j for j in by_line[path, op, line(old_rev, path, row).strip(), col, var] if j not in keep]
        if jobs:
            keep.add(jobs[0])
            continue
        def around(text, c, ec):  # the mutated text with a little of what stands on either side of it
            return text[max(0, c - 10): ec + 5]

        old_text = around(line(old_rev, path, row), col, ecol) if erow == row else None
        near = sorted((abs(r - row), j) for j, (p, o, r, c, er, ec, v) in cur.items()
                      if p == path and o == op and v == var and j not in keep and er == r and abs(r - row) <= 15
                      and old_text is not None and around(line(None, p, r), c, ec) == old_text)
        if near:
            j = near[0][1]
            keep.add(j)
            moved.append(f"{path}:{row} -> {cur[j][2]} {op}: {line(None, path, cur[j][2]).strip()}")
        else:
            moved.append(f"{path}:{row} {op}: not in the current code ({line(old_rev, path, row).strip()})")
    for m in moved:
        print(m)
    return keep


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("session")
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--min-per-file", type=int, default=2)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--same-as")
    ap.add_argument("--old-rev", default="HEAD")
    ap.add_argument("--part", help="I/K: keep the I-th of K interleaved parts of the pending mutants")
    a = ap.parse_args()
    c = sqlite3.connect(a.session)
    rows = c.execute(PENDING).fetchall()
    if a.part:
        i, k = (int(x) for x in a.part.split("/"))
        jobs = sorted(job for job, *_ in rows)
        keep = set(jobs[i - 1::k])
    else:
        keep = same_as(rows, a.same_as, a.old_rev) if a.same_as else stratified(rows, a.n, a.min_per_file, a.seed)
    drop = [(job,) for job, *_ in rows if job not in keep]
    c.executemany("delete from mutation_specs where job_id = ?", drop)
    c.executemany("delete from work_items where job_id = ?", drop)
    c.commit()
    print(f"kept {len(keep)} of {len(rows)} pending mutants")


if __name__ == "__main__":
    main()
