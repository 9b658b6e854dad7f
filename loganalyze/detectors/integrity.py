"""IN001–IN004: what is wrong with the log files themselves, from the ingest report."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ..ingest.rewind import conflicting_repeats
from ..model import AlignedRun, Cause, Finding
from . import detector


def _all_steps(run: AlignedRun) -> tuple[int, int]:
    steps = [s.step for s in run.series.values() if s.points]
    if not steps:
        return (0, 0)
    return (min(int(a.min()) for a in steps), max(int(a.max()) for a in steps))


@detector("IN001")
def step_rewind(run: AlignedRun, params: Mapping[str, Any]) -> list[Finding]:
    rewinds = sorted((p for p in run.problems if p.kind == "step_rewind"),
                     key=lambda p: (p.file, p.data["to_step"], p.data["from_step"]))
    if not rewinds:
        return []
    files = sorted({p.file for p in rewinds})
    superseded = sum(int(p.data["superseded_points"]) for p in rewinds)
    ranges = tuple((int(p.data["to_step"]), int(p.data["from_step"])) for p in rewinds)
    tags = sorted({t for p in rewinds for t in p.data.get("tags", ())})
    first = rewinds[0].data
    summary = (f"The step goes back {len(rewinds)} time(s) in {len(files)} file(s) (first from "
               f"{first['from_step']:,} to {first['to_step']:,}); {superseded} earlier point(s) are superseded "
               "by the later writes")
    earlier = max((len(r.attempts) for r in run.runs), default=0)
    why = "the run was resumed from an earlier checkpoint, or several runs share one directory"
    if earlier:
        from ..ingest import attempt_name

        summary += (f"; {earlier} earlier attempt(s) that a restart from scratch superseded are analyzed as "
                    f"run(s) of their own ('{attempt_name(run.name, 1, earlier + 1)}'"
                    + (", …" if earlier > 1 else "") + ")")
        why = ("a later training process started again from the first step in the same place: several runs "
               "share one directory (or file), and TensorBoard shows only the last")
    return [Finding(
        rule="", family="integrity", severity="", tags=tuple(tags[:20]),
        step_range=(min(a for a, _ in ranges), max(b for _, b in ranges)), ranges=ranges[:100], summary=summary,
        stats={"rewinds": len(rewinds), "files": files[:20], "superseded_points": superseded,
               "each": [{"file": p.file, "from_step": p.data["from_step"], "to_step": p.data["to_step"],
                         "superseded_points": p.data["superseded_points"]} for p in rewinds[:20]]},
        causes=(Cause("resumed_run", 0.9,
                      f"later writes restart below steps already logged ({first['from_step']:,} → {first['to_step']:,}"
                      + (f", and {len(rewinds) - 1} more" if len(rewinds) > 1 else "")
                      + f"): {why}"),))]


@detector("IN002")
def duplicate_steps(run: AlignedRun, params: Mapping[str, Any]) -> list[Finding]:
    """One finding per file and duplicate pattern: the columns of one CSV that repeat the same steps are
    one problem of the file, not one per column."""
    groups: dict[tuple, list[tuple[str, int, int]]] = {}
    for p in run.problems:
        if p.kind != "duplicate_steps":
            continue
        tag = p.data.get("tag", "")
        s = run.series.get(tag)
        conflicting = 0
        if s is not None and s.points > 1:
            conflicting = int(np.count_nonzero(conflicting_repeats(s.step, s.value)))
        key = (p.file, p.data.get("count"), tuple(p.data.get("first_steps", [0])))
        groups.setdefault(key, []).append((tag, conflicting, int(p.data.get("count") or 0), bool(p.data.get("identical"))))
    out = []
    for (file, count, first), members in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][2])):
        conflicting = sum(c for _, c, _, _ in members)
        # measured values repeated exactly in several series: whole rows written twice
        replayed = conflicting == 0 and sum(i for *_, i in members) >= 2
        if conflicting == 0 and not replayed and not params["report_identical"]:
            continue
        tags = tuple(t for t, *_ in members)
        who = f"'{tags[0]}'" if len(tags) == 1 else f"{len(tags)} series ('{tags[0]}', …)"
        out.append(Finding(
            rule="", family="integrity", severity="info" if conflicting == 0 else "",
            tags=tags[:20], step_range=(int(first[0]), int(first[-1])),
            summary=f"{who} {'has' if len(tags) == 1 else 'have'} {count} point(s) logged twice at the same step"
                    + (f", {conflicting} with different values" if conflicting else " (identical values)"),
            stats={"file": file, "count": count, "conflicting_values": conflicting, "first_steps": list(first),
                   "series": len(tags)},
            causes=_replayed_causes(tags) if replayed else _duplicate_causes(tags, conflicting)))
    return out


def _replayed_causes(tags: tuple[str, ...]) -> tuple[Cause, ...]:
    return (Cause("resumed_run", 0.6, f"{len(tags)} measured series (a loss is no count) repeat their exact values at "
                                      "the same steps: whole rows were written twice — a process resumed from a "
                                      "checkpoint and replayed those steps deterministically into the same log"),
            Cause("unknown", 0.35, "a logger that flushed the same rows twice; all points are kept"))


def _duplicate_causes(tags: tuple[str, ...], conflicting: int) -> tuple[Cause, ...]:
    """Several series logged again at the same steps with other values: a second process wrote over the
    first one's steps (a resume from a checkpoint, another fit() on the same log). One series alone is as
    likely two writers of one name."""
    other = Cause("unknown", 0.5 if len(tags) < 2 else 0.35,
                  "two writers, a run appended to the same log without advancing the step (e.g. repeated fit() "
                  "calls that restart the epoch counter), or a metric logged from both the train and the eval loop "
                  "under one name; all points are kept")
    if len(tags) >= 2 and conflicting:
        return (Cause("resumed_run", 0.6, f"{len(tags)} series are logged again at the same steps with other "
                                          "values: a second process (a resume from a checkpoint, another fit() "
                                          "on the same log) repeated steps the first had written"), other)
    return (other,)


_LOST = {"crc_mismatch", "truncated_record", "corrupt_framing", "decode_error", "parse_error", "ragged_row",
         "bad_value", "non_numeric_column", "too_large"}
_NOTHING = {"unreadable", "lfs_pointer", "not_event_file", "empty_file", "reader_error", "not_csv", "unknown_file",
            "task_failed"}  # task_failed: a run whose work failed twice on a Dask cluster (loganalyze.cluster)


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
