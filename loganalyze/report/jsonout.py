"""The JSON view of a Report: the contract for tooling. Versioned; byte-identical for the same logs.

Schema (version 2 = version 1 plus the keys marked "v2"; nothing of version 1 was renamed, retyped or
removed, so a version-1 reader that ignores keys it does not know and accepts schema_version >= 1 reads
version 2 unchanged):
    {"schema_version": 1, "tool": {"name", "version"},
     "summary": {"runs", "findings": {"error", "warning", "info"}},
     "runs": [{"name", "format", "sources": [path], "members": [run name],
               "series": [{"tag", "points", "first_step", "last_step", "nonfinite", "role"}],
               "problems": [{"kind", "file", "detail", ...data}],
               "hparams": {}, "epochs": {"provenance", "detail", "count", "starts", "evals_per_epoch"},
               "roles": {"train_loss", "val_loss", "lr", "grad_norm", "epoch", "pairs": [...]},
               "findings": [{"rule", "name", "family", "severity", "tags", "step_range", "ranges",
                             "summary", "stats", "causes": [{"cause", "confidence", "evidence"}]}],
               "notes": [str],
               "curves": [{"tag", "higher_is_better", "points", "final", "best", "noise",   # v2
                           "autocorrelation", "stretch", "window", "steps": [int], "values": [float]}],
               "baseline": {...}}],   # v2, only when compared: see below
     "problems": [...],   # ingest problems that belong to no run
     "baseline": {"source", "fail_on", "tolerance", "verdict", "notes"}}   # v2, only when compared
`curves` (v2) is what `loganalyze compare` needs of each loss and metric, so that a JSON report can be
the baseline: final level (median of the last stretch), best (of the smoothed curve), the noise of the
last stretch and its lag-1 autocorrelation, and the smoothed curve at up to 256 points (loganalyze/compare.py says how).
When the report was compared with a baseline (`compare`, `analyze --baseline`), each finding gains
"baseline_state": "new" | "unchanged", and each run "baseline": {"runs": [baseline run names],
"verdict": "pass" | "fail", "absent": [findings of the baseline that are gone, as above],
"checks": [{"tag", "measure", "baseline", "new", "worse_by", "tolerance", "tolerance_from", "regressed",
"improved"}], "notes": [str]}.
Runs are sorted by name, series by tag, findings by severity then rule then step.
Non-finite numbers appear as the strings "NaN", "Infinity", "-Infinity" (JSON has no such numbers).
A file name that is not valid UTF-8 keeps its bytes: each undecodable byte 0xNN is the escape
"\\udcNN" (Python's surrogateescape; `os.fsencode(name)` gives the bytes back).
"""
from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from .. import __version__
from ..model import SEVERITIES, AlignedRun, Finding, Problem, Report, RunReport
from ._write import json_safe

SCHEMA_VERSION = 2


def clean(x: Any) -> Any:
    """Plain JSON values: numpy scalars to Python, non-finite floats to strings, tuples to lists."""
    if isinstance(x, dict):
        return {str(k): clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean(v) for v in x]
    if isinstance(x, np.ndarray):
        return [clean(v) for v in x.tolist()]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        f = float(x)
        if math.isnan(f):
            return "NaN"
        if math.isinf(f):
            return "Infinity" if f > 0 else "-Infinity"
        return f
    return x


def problem_json(p: Problem) -> dict:
    return {"kind": p.kind, "file": p.file, "detail": p.detail, **clean(dict(p.data))}


def _role_of(run: AlignedRun, tag: str) -> str | None:
    r = run.roles
    for role in ("train_loss", "val_loss", "lr", "grad_norm", "epoch"):
        if getattr(r, role) == tag:
            return role
    return None


def finding_json(f: Finding) -> dict:
    return {
        "rule": f.rule,
        "name": f.name,
        "family": f.family,
        "severity": f.severity,
        "tags": list(f.tags),
        "step_range": [int(f.step_range[0]), int(f.step_range[1])],
        "ranges": [[int(a), int(b)] for a, b in f.ranges],
        "summary": f.summary,
        "stats": clean(dict(f.stats)),
        "causes": [{"cause": c.cause, "confidence": round(float(c.confidence), 3), "evidence": c.evidence}
                   for c in f.causes],
    }


def curve_json(c) -> dict:
    return {"tag": c.tag, "higher_is_better": c.higher_is_better, "points": c.points,
            "final": clean(c.final), "best": clean(c.best), "noise": clean(c.noise),
            "autocorrelation": clean(c.autocorrelation), "stretch": c.stretch,
            "window": c.window, "steps": clean(c.step), "values": clean(c.value)}


def check_json(c) -> dict:
    return {"tag": c.tag, "measure": c.measure, "baseline": clean(c.baseline), "new": clean(c.new),
            "worse_by": clean(c.worse_by), "tolerance": clean(c.tolerance), "tolerance_from": c.tolerance_from,
            "regressed": c.regressed, "improved": c.improved}


def _with_baseline(doc: dict, rr: RunReport, comparison) -> dict:
    rc = comparison.get(rr.run.name)
    if rc is None:
        return doc
    for fj, f in zip(doc["findings"], rr.findings):
        fj["baseline_state"] = rc.state_of(f)
    doc["baseline"] = {
        "runs": list(rc.baseline_names),
        "verdict": rc.verdict(comparison.fail_on),
        "absent": [finding_json(f) for f in rc.absent],
        "checks": [check_json(c) for c in rc.checks],
        "notes": list(rc.notes),
    }
    return doc


def run_json(rr: RunReport) -> dict:
    run = rr.run
    series = []
    for tag, s in sorted(run.series.items()):
        series.append({
            "tag": tag,
            "points": s.points,
            "first_step": s.first_step,
            "last_step": s.last_step,
            "nonfinite": s.nonfinite,
            "role": _role_of(run, tag),
        })
    roles = run.roles
    return {
        "name": run.name,
        "format": "+".join(sorted({r.format for r in run.runs if r.format})),
        "sources": sorted({src for r in run.runs for src in r.sources}),
        "members": [r.name for r in run.runs],
        "series": series,
        "problems": sorted((problem_json(p) for p in run.problems),
                           key=lambda d: (d["file"], d["kind"], d["detail"])),
        "hparams": clean(dict(sorted(run.hparams.items()))),
        "epochs": {
            "provenance": run.epochs.provenance,
            "detail": run.epochs.detail,
            "count": run.epochs.count,
            "starts": clean(run.epochs.starts),
            "evals_per_epoch": run.epochs.evals_per_epoch,
        },
        "roles": {
            "train_loss": roles.train_loss, "val_loss": roles.val_loss, "lr": roles.lr,
            "grad_norm": roles.grad_norm, "epoch": roles.epoch,
            "pairs": [{"quantity": p.quantity, "train": p.train, "val": p.val,
                       "higher_is_better": p.higher_is_better} for p in roles.pairs],
        },
        "findings": [finding_json(f) for f in rr.findings],
        "notes": list(rr.notes),
        "curves": [curve_json(c) for c in _curves(run).values()],
    }


def _curves(run: AlignedRun) -> dict:
    from ..compare import run_curves

    return run_curves(run)


def report_json(report: Report, comparison=None) -> dict:
    counts = {s: 0 for s in SEVERITIES}
    for f in report.findings:
        counts[f.severity] += 1
    runs = sorted(report.runs, key=lambda r: r.run.name)
    doc = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "loganalyze", "version": __version__},
        "summary": {"runs": len(report.runs), "findings": counts},
        "runs": [run_json(rr) if comparison is None else _with_baseline(run_json(rr), rr, comparison) for rr in runs],
        "problems": sorted((problem_json(p) for p in report.problems),
                           key=lambda d: (d["file"], d["kind"], d["detail"])),
    }
    if comparison is not None:
        doc["baseline"] = {"source": comparison.baseline, "fail_on": comparison.fail_on,
                           "tolerance": comparison.tolerance, "verdict": comparison.verdict,
                           "notes": list(comparison.notes)}
    return doc


def dumps(report: Report, comparison=None) -> str:
    """UTF-8-safe: a file name that is not valid UTF-8 keeps its bytes as `\\udcXX` escapes."""
    return json_safe(json.dumps(report_json(report, comparison), indent=2, ensure_ascii=False, allow_nan=False)) + "\n"
