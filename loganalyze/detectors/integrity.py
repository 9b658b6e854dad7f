"""IN001–IN004: what is wrong with the log files themselves, from the ingest report."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ..model import AlignedRun, Cause, Finding
from . import detector


def _all_steps(run: AlignedRun) -> tuple[int, int]:
    steps = [s.step for s in run.series.values() if s.points]
    if not steps:
        return (0, 0)
    return (min(int(a.min()) for a in steps), max(int(a.max()) for a in steps))


@detector("IN001")
def step_rewind(run: AlignedRun, params: Mapping[str, Any]) -> list[Finding]:
    out = []
    for p in run.problems:
        if p.kind != "step_rewind":
            continue
        d = p.data
        out.append(Finding(
            rule="", family="integrity", severity="", tags=tuple(d.get("tags", ())),
            step_range=(int(d["to_step"]), int(d["from_step"])),
            summary=f"The step goes back from {d['from_step']:,} to {d['to_step']:,} in {p.file}: "
                    f"{d['superseded_points']} earlier point(s) are superseded by the later write",
            stats={"file": p.file, **{k: d[k] for k in ("from_step", "to_step", "superseded_points")}},
            causes=(Cause("resumed_run", 0.9,
                          f"a later write restarts at step {d['to_step']:,} below the {d['from_step']:,} already "
                          "logged: the run was resumed from an earlier checkpoint (or two runs share a directory)"),)))
    return out


@detector("IN002")
def duplicate_steps(run: AlignedRun, params: Mapping[str, Any]) -> list[Finding]:
    out = []
    for p in run.problems:
        if p.kind != "duplicate_steps":
            continue
        tag = p.data.get("tag", "")
        s = run.series.get(tag)
        conflicting = 0
        if s is not None and s.points > 1:
            same_step = s.step[1:] == s.step[:-1]
            differ = ~((s.value[1:] == s.value[:-1]) | (np.isnan(s.value[1:]) & np.isnan(s.value[:-1])))
            conflicting = int(np.count_nonzero(same_step & differ))
        if conflicting == 0 and not params["report_identical"]:
            continue
        first = p.data.get("first_steps", [0])
        out.append(Finding(
            rule="", family="integrity", severity="info" if conflicting == 0 else "",
            tags=(tag,), step_range=(int(first[0]), int(first[-1])),
            summary=f"'{tag}' has {p.data.get('count')} point(s) logged twice at the same step"
                    + (f", {conflicting} with different values" if conflicting else " (identical values)"),
            stats={"count": p.data.get("count"), "conflicting_values": conflicting, "first_steps": first},
            causes=(Cause("unknown", 0.5, "two writers, or a metric logged from both the train and the eval loop "
                                          "under one name; all points are kept"),)))
    return out


_LOST = {"crc_mismatch", "truncated_record", "corrupt_framing", "decode_error", "parse_error", "ragged_row",
         "bad_value", "non_numeric_column"}
_NOTHING = {"unreadable", "lfs_pointer", "not_event_file", "empty_file", "reader_error", "not_csv", "unknown_file"}


@detector("IN003")
def corrupt_log(run: AlignedRun, params: Mapping[str, Any]) -> list[Finding]:
    out = []
    span = _all_steps(run)
    for p in sorted(run.problems, key=lambda p: (p.file, p.kind)):
        if p.kind not in _LOST | _NOTHING:
            continue
        severity = "error" if p.kind in _NOTHING else "warning"
        if p.kind in ("ragged_row", "non_numeric_column", "bad_value", "empty_file"):
            severity = "info" if run.series else severity
        numbers = {k: v for k, v in p.data.items() if isinstance(v, (int, float, str, list))}
        out.append(Finding(
            rule="", family="integrity", severity=severity, tags=(), step_range=span,
            summary=f"{p.file}: {p.detail}", stats={"kind": p.kind, "file": p.file, **numbers},
            causes=(Cause("unknown", 0.5, {
                "truncated_record": "the writer stopped mid-record: a crash, a kill, or a copy taken while it wrote",
                "lfs_pointer": "the repository stores the file in Git LFS and it was never fetched",
            }.get(p.kind, "damaged or unexpected content; every valid record around it was kept")),)))
    return out


@detector("IN004")
def missing_validation(run: AlignedRun, params: Mapping[str, Any]) -> list[Finding]:
    if run.roles.train_loss is None or run.roles.val_loss is not None:
        return []
    s = run.series[run.roles.train_loss]
    if s.points < int(params["min_points"]):
        return []
    return [Finding(
        rule="", family="integrity", severity="", tags=(s.tag,),
        step_range=(int(s.step.min()), int(s.step.max())),
        summary=f"A training loss ('{s.tag}', {s.points:,} points) is logged but no validation loss: "
                "overfitting and train/validation checks cannot run",
        stats={"train_loss": s.tag, "points": s.points},
        causes=(Cause("unknown", 0.5, "no tag named like val/valid/eval/test loss; name it so, or set "
                                      "roles.val_loss in the configuration"),))]
