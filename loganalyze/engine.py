"""The library entry point: `analyze(paths, config) -> Report`. The CLI is a thin layer over it.

discover → ingest → align → classify metrics → detect. Each stage is importable on its own.
"""
from __future__ import annotations

import os
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .align import align_runs
from .cards import load_cards
from .config import Config, check_roles
from .detectors import all_detectors
from .ingest import discover, read_source
from .model import SEVERITY_RANK, AlignedRun, Finding, IngestResult, Report, RunReport

Progress = Callable[[str, int, int], None]  # (stage: "read" | "analyze", done, total)


def finding_order(f: Finding) -> tuple:
    return (-SEVERITY_RANK[f.severity], f.rule, f.step_range, f.tags, f.summary)


def run_rules(run: AlignedRun, config: Config) -> RunReport:
    """Every selected rule on one run. A detector that crashes is reported, not fatal."""
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


def _run_rules_star(args: tuple[AlignedRun, Config]) -> RunReport:
    return run_rules(*args)


def _load(paths: Sequence[str | Path], progress: Progress | None) -> IngestResult:
    """`ingest.load`, telling `progress` the files read so far."""
    sources, problems = discover(paths)
    total = sum(len(src.files) for src in sources)
    runs, done = [], 0
    for src in sources:
        runs.append(read_source(src))
        done += len(src.files)
        if progress:
            progress("read", done, total)
    return IngestResult(tuple(runs), tuple(problems))


def _counted(reports, progress: Progress | None, total: int) -> list[RunReport]:
    out: list[RunReport] = []
    for rr in reports:
        out.append(rr)
        if progress:
            progress("analyze", len(out), total)
    return out


def analyze(paths: Sequence[str | Path], config: Config | None = None, jobs: int | None = None,
            progress: Progress | None = None) -> Report:
    """Read every log under `paths` and run the selected rules on each run.

    Sweeps of many runs are spread over processes (`jobs`, default: every core). `progress`, when
    given, is called as files are read and runs analyzed. Raises ConfigError when a role names a
    tag no run has.
    """
    config = config or Config()
    ingested = _load(paths, progress)
    aligned = align_runs(ingested.runs, config)
    check_roles(aligned, config)
    jobs = jobs or os.cpu_count() or 1
    if jobs > 1 and len(aligned) >= 8:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            reports = _counted(pool.map(_run_rules_star, [(a, config) for a in aligned], chunksize=4), progress,
                               len(aligned))
    else:
        reports = _counted((run_rules(a, config) for a in aligned), progress, len(aligned))
    return Report(tuple(reports), tuple(ingested.problems), config)
