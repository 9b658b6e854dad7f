"""The library entry point: `analyze(paths, config) -> Report`. The CLI is a thin layer over it.

discover → ingest → align → classify metrics → detect. Each stage is importable on its own.
"""
from __future__ import annotations

import os
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from .align import align_runs
from .cards import load_cards
from .config import Config
from .detectors import all_detectors
from .ingest import load
from .model import SEVERITY_RANK, AlignedRun, Finding, Report, RunReport


def finding_order(f: Finding) -> tuple:
    return (-SEVERITY_RANK[f.severity], f.rule, f.step_range, f.tags, f.summary)


def run_rules(run: AlignedRun, config: Config) -> RunReport:
    """Every selected rule on one run. A detector that crashes is reported, not fatal."""
    cards = load_cards()
    detectors = all_detectors()
    findings: list[Finding] = []
    notes: list[str] = []
    if not run.epochs.known:
        notes.append(f"epoch axis unknown ({run.epochs.detail}): epoch-locked checks are limited; "
                     "set steps_per_epoch to enable them")
    for rule_id, card in cards.items():
        if not config.is_selected(card):
            continue
        fn = detectors.get(rule_id)
        if fn is None:
            continue
        try:
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


def analyze(paths: Sequence[str | Path], config: Config | None = None, jobs: int | None = None) -> Report:
    """Read every log under `paths` and run the selected rules on each run.

    Sweeps of many runs are spread over processes (`jobs`, default: every core).
    """
    config = config or Config()
    ingested = load(paths)
    aligned = align_runs(ingested.runs, config)
    jobs = jobs or os.cpu_count() or 1
    if jobs > 1 and len(aligned) >= 8:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            reports = list(pool.map(_run_rules_star, [(a, config) for a in aligned], chunksize=4))
    else:
        reports = [run_rules(a, config) for a in aligned]
    return Report(tuple(reports), tuple(ingested.problems), config)
