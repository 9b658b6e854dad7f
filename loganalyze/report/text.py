"""The terminal summary: one block per run, worst findings first, the top cause with its evidence."""
from __future__ import annotations

import textwrap

from ..model import SEVERITY_RANK, Report, RunReport

MARK = {"error": "✖ error  ", "warning": "▲ warning", "info": "● info   "}


def _fmt_step(s: int | None) -> str:
    return "-" if s is None else f"{s:,}"


def run_text(rr: RunReport, verbose: bool = False) -> list[str]:
    run = rr.run
    points = sum(s.points for s in run.series.values())
    nonfinite = sum(s.nonfinite for s in run.series.values())
    steps = [s.step for s in run.series.values() if s.points]
    lo = min(int(a.min()) for a in steps) if steps else None
    hi = max(int(a.max()) for a in steps) if steps else None
    fmt = "+".join(sorted({r.format for r in run.runs if r.format}))
    lines = [f"{run.name}  [{fmt}]  {len(run.series)} tags, {points:,} points, steps {_fmt_step(lo)}–{_fmt_step(hi)}"
             + (f", {nonfinite:,} non-finite" if nonfinite else "")]
    if run.epochs.known:
        lines.append(f"  epochs: {run.epochs.count} ({run.epochs.provenance}: {run.epochs.detail})")
    if verbose:
        for tag, s in sorted(run.series.items()):
            lines.append(f"    {tag}: {s.points:,} points, steps {_fmt_step(int(s.step.min()) if s.points else None)}"
                         f"–{_fmt_step(int(s.step.max()) if s.points else None)}"
                         + (f", {s.nonfinite} non-finite" if s.nonfinite else ""))
    for p in run.problems:
        lines.append(f"  ! {p.kind}: {p.detail}")
    if not rr.findings:
        lines.append("  no findings")
    for f in rr.findings:
        shown = ", ".join(f.tags[:3]) + (f", +{len(f.tags) - 3} more" if len(f.tags) > 3 else "")
        lines.append(f"  {MARK.get(f.severity, f.severity)} {f.rule} {f.name}  [{shown}] "
                     f"steps {f.step_range[0]:,}–{f.step_range[1]:,}")
        lines += textwrap.wrap(f.summary, 100, initial_indent="      ", subsequent_indent="      ")
        for c in f.causes[: (3 if verbose else 1)]:
            lines += textwrap.wrap(f"likely cause: {c.cause} ({c.confidence:.0%}) — {c.evidence}", 100,
                                   initial_indent="      ", subsequent_indent="        ")
    for note in rr.notes:
        lines.append("  note: " + note.splitlines()[0])
    return lines


def report_text(report: Report, verbose: bool = False) -> str:
    out: list[str] = []
    order = sorted(report.runs, key=lambda r: (-max([SEVERITY_RANK[f.severity] for f in r.findings] or [0]), r.run.name))
    for rr in order:
        out += run_text(rr, verbose)
        out.append("")
    for p in report.problems:
        out.append(f"! {p.file}: {p.kind}: {p.detail}")
    counts = {s: sum(1 for f in report.findings if f.severity == s) for s in ("error", "warning", "info")}
    out.append(f"{len(report.runs)} run(s): {counts['error']} error(s), {counts['warning']} warning(s), "
               f"{counts['info']} info")
    return "\n".join(out) + "\n"
