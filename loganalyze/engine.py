"""The library entry point: `analyze(paths, config) -> Report`. The CLI is a thin layer over it.

discover → ingest → align → classify metrics → detect. Each stage is importable on its own.
"""
from __future__ import annotations

import os
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from . import derived, summary
from .align import align, attempt_groups, group_experiments
from .cards import load_cards
from .config import Config, check_roles
from .detectors import all_detectors
from .ingest import RunSource, discover, read_source
from .model import SEVERITY_RANK, AlignedRun, Finding, Problem, Report, Run, RunReport

Progress = Callable[[str, int, int], None]  # (stage: "read" | "analyze", done, total)
POOL_MIN_RUNS = 8  # fewer experiments than this are analyzed in this process: a pool would cost more
HEAVY_BYTES = 16 * 2**20  # ... unless two of them hold this much each (~300k event records: seconds of work)


def finding_order(f: Finding) -> tuple:
    return (-SEVERITY_RANK[f.severity], f.rule, f.step_range, f.tags, f.summary)


def run_rules(run: AlignedRun, config: Config) -> RunReport:
    """Every selected rule on one run. A detector that crashes is reported, not fatal."""
    with derived.shared():  # the rules share what they derive from a series (its sorted finite points, their log)
        return _run_rules(run, config)


def _run_rules(run: AlignedRun, config: Config) -> RunReport:
    cards = load_cards()
    detectors = all_detectors()
    findings: list[Finding] = []
    notes: list[str] = []
    if run.series:
        notes += [f"roles.{role} = {tag!r} is not a tag of this run: inferred from the tag names instead"
                  for role, tag in sorted(config.roles.items()) if tag not in run.series]
    if run.series and not run.epochs.known:  # an empty run has no axis to miss
        notes.append(f"epoch axis unknown ({run.epochs.detail}): epoch-locked checks are limited; "
                     "set steps_per_epoch to enable them")
    for rule_id, card in cards.items():
        if not config.is_selected(card):
            continue
        fn = detectors.get(rule_id)
        if fn is None:
            continue
        try:
            # a log may hold values near the float limit (a diverged run): arithmetic on them gives inf/nan,
            # which detectors treat as non-finite; the IEEE flags are no news to the user
            with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
                found = fn(run, config.params_for(card))
        except Exception as e:  # noqa: BLE001 — one broken rule must not hide the others' findings
            notes.append(f"internal error in rule {rule_id} ({type(e).__name__}: {e}); please report it\n"
                         + traceback.format_exc(limit=3))
            continue
        for f in found:
            severity = config.rule_severity.get(rule_id) or f.severity or card.severity
            findings.append(replace(f, rule=rule_id, name=card.name, family=card.family, severity=severity))
    return RunReport(run, tuple(sorted(findings, key=finding_order)), tuple(notes))


@dataclass(frozen=True)
class _Plan:
    """What every worker needs besides its runs."""

    config: Config
    summarize: bool  # return summaries (counts, spans, charts), not series
    charts: bool  # with each summary, the decimated curves for the HTML charts
    n_runs: int


def _analyze_group(task: tuple[str, list[tuple[str, RunSource]], _Plan]) -> list[RunReport]:
    """Read, align and check one experiment, all in the calling process (a worker, for a sweep): its
    report, then one per earlier attempt a restart superseded (TensorBoard would show none of them)."""
    name, members, plan = task
    loaded = [(prefix, read_source(src)) for prefix, src in members]
    runs = [align(loaded, name, plan.config)]
    runs += [align(group, aname, plan.config) for aname, group in attempt_groups(loaded, name)]
    out = []
    for run in runs:
        rr = run_rules(run, plan.config)
        out.append(summary.summarize(rr, plan.n_runs, plan.charts) if plan.summarize else rr)
    return out


def _not_analyzed(task: tuple[str, list[tuple[str, RunSource]], _Plan], why: str) -> list[RunReport]:
    """An experiment whose work failed on every try (on a cluster): reported as its unreadable logs would be."""
    name, members, plan = task
    runs = [(prefix, Run(src.name, src.files, {}, (Problem("task_failed", src.files[0], why),), format=src.kind))
            for prefix, src in members]
    rr = run_rules(align(runs, name, plan.config), plan.config)
    return [summary.summarize(rr, plan.n_runs, plan.charts) if plan.summarize else rr]


def group_sources(sources: Sequence[RunSource]) -> list[tuple[str, list[tuple[str, RunSource]]]]:
    """Experiments as `align.group_experiments` forms them, from the sources before anything is read."""
    runs = [Run(src.name, src.files, {}, format=src.kind) for src in sources]
    of = {id(r): src for r, src in zip(runs, sources)}
    return [(name, [(prefix, of[id(r)]) for prefix, r in members]) for name, members in group_experiments(runs)]


def worker_count(requested: int | None, units: int, cores: int | None = None, load: float | None = None,
                 heavy: bool = False) -> int:
    """Processes for `units` experiments: 1 for a handful of small ones; else what was asked, or the idle cores.

    A pool costs a fork and the pickling of results: worth it for a sweep, or for a few `heavy`
    runs (seconds of work each, e.g. a baseline and a new run of a million points). Without `-j`
    we count the cores this process may use, less the load average, so a busy machine is not
    oversubscribed (with one core free the pool would only add overhead).
    """
    if units < 2 or (units < POOL_MIN_RUNS and not heavy):
        return 1
    if requested:
        return max(1, min(requested, units))
    if cores is None:
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            cores = os.cpu_count() or 1
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            load = 0.0
    idle = int(cores - load + 0.5)
    return max(1, min(cores, idle, units))


def is_heavy(tasks: Sequence[tuple[str, list[tuple[str, RunSource]], "_Plan"]]) -> bool:
    """Whether at least two experiments each hold enough bytes that analyzing one takes seconds."""
    def size(members) -> int:
        total = 0
        for _, src in members:
            for f in src.files:
                try:
                    total += os.stat(f).st_size
                except OSError:
                    pass  # the reader reports it
        return total

    return sum(size(members) >= HEAVY_BYTES for _, members, _ in tasks) >= 2


def _counted(reports, tasks, progress: Progress | None) -> list[list[RunReport]]:
    """Each task's reports as they come, telling `progress` the files read and runs analyzed so far."""
    total_files = sum(len(src.files) for _, members, _ in tasks for _, src in members)
    out: list[list[RunReport]] = []
    files = 0
    for done, (rrs, (_, members, _)) in enumerate(zip(reports, tasks), 1):
        out.append(rrs)
        files += sum(len(src.files) for _, src in members)
        if progress:
            progress("read", files, total_files)
            progress("analyze", done, len(tasks))
    return out


def _preload(sources: Sequence[RunSource], charts: bool, summarize: bool = False, heavy: bool = False) -> None:
    """Import here what every worker would import for itself: forked workers inherit it, once."""
    load_cards()
    all_detectors()
    from .ingest import csvlog, jsonlog, tfevents  # noqa: F401

    if any(s.kind == "tfevents" for s in sources):
        from tensorboard.compat.proto import event_pb2  # noqa: F401 — the reader's first record needs it
    if charts:
        from .report import html  # noqa: F401 — the workers decimate the curves for the charts
    if summarize:
        from . import compare  # noqa: F401 — summaries carry each loss's comparison curve
    if heavy:
        # a series of more than ~20k points is median-filtered by scipy's compiled rank filter
        # (numstats.median_filter), loaded and checked once: here, not in each of the two workers
        from .numstats import load_median_filter

        load_median_filter()


def _plan(paths: Sequence[str | Path], config: Config, summarize: bool, charts: bool):
    """The tasks (one per experiment) of an analysis of `paths`, and the problems met while discovering them."""
    sources, problems = discover(paths)
    groups = group_sources(sources)
    plan = _Plan(config, summarize, charts, len(groups))
    return [(name, members, plan) for name, members in groups], problems


def _execute(tasks, jobs: int | None, progress: Progress | None, dask: str | None = None) -> list[list[RunReport]]:
    """Every task's run reports (its run's, then its earlier attempts'), in order: in this process, in a
    pool when there is enough work, or on a Dask cluster."""
    if dask:
        from .cluster import cluster_map

        return _counted(cluster_map(dask, _analyze_group, tasks, _not_analyzed), tasks, progress)
    heavy = is_heavy(tasks)
    workers = worker_count(jobs, len(tasks), heavy=heavy)
    if workers <= 1:
        return _counted(map(_analyze_group, tasks), tasks, progress)
    from concurrent.futures import ProcessPoolExecutor

    sources = [src for _, members, _ in tasks for _, src in members]
    _preload(sources, any(plan.summarize and plan.charts for _, _, plan in tasks),
             any(plan.summarize for _, _, plan in tasks), heavy)
    chunk = max(1, min(16, len(tasks) // (workers * 8)))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return _counted(pool.map(_analyze_group, tasks, chunksize=chunk), tasks, progress)


def analyze(paths: Sequence[str | Path], config: Config | None = None, jobs: int | None = None,
            progress: Progress | None = None, *, summarize: bool = False, charts: bool = True,
            dask: str | None = None) -> Report:
    """Read every log under `paths` and run the selected rules on each run.

    A sweep of many runs (or a few big ones) is spread over processes (`jobs`; default: the idle
    cores), each of which reads, aligns and checks whole experiments. With `summarize`, each run's
    series come back as `summary.SeriesSummary` (counts, span and, with `charts`, the decimated
    curves for HTML): what the reports need, a small fraction of the memory — the CLI's way.
    Without it, every point. `progress`, when given, is called as runs are read and analyzed. With
    `dask` (a scheduler address, or `local[:N]`), the same work runs on a Dask cluster instead
    (`loganalyze.cluster`). Raises ConfigError when a role names a tag no run has,
    cluster.ClusterError when the cluster cannot be used.
    """
    config = config or Config()
    tasks, problems = _plan(paths, config, summarize, charts)
    reports = [rr for rrs in _execute(tasks, jobs, progress, dask) for rr in rrs]
    check_roles([rr.run for rr in reports], config)
    return Report(tuple(reports), tuple(problems), config)


def analyze_pair(base_paths: Sequence[str | Path], new_paths: Sequence[str | Path], config: Config | None = None,
                 jobs: int | None = None, progress: Progress | None = None, *,
                 charts: bool = True, dask: str | None = None) -> tuple[Report, Report]:
    """A baseline and the new logs, analyzed together: (baseline report, new report), both summarized.

    One pool takes the experiments of both sides, so a comparison of one big run with its baseline
    keeps two cores busy instead of analyzing one side after the other. Only the new side's
    curves are decimated for charts (the HTML draws the baseline from its comparison curves).
    """
    config = config or Config()
    base_tasks, base_problems = _plan(base_paths, config, True, False)
    new_tasks, new_problems = _plan(new_paths, config, True, charts)
    reports = _execute(base_tasks + new_tasks, jobs, progress, dask)
    base = Report(tuple(rr for rrs in reports[:len(base_tasks)] for rr in rrs), tuple(base_problems), config)
    new = Report(tuple(rr for rrs in reports[len(base_tasks):] for rr in rrs), tuple(new_problems), config)
    check_roles([rr.run for rr in new.runs], config)
    check_roles([rr.run for rr in base.runs], config)
    return base, new
