"""The terminal summary, read like a good linter's: one block per run, worst findings first.

One line per kind of input problem (with a count), a cause only when it names one, paths never
wrapped, and a Lightning CSV twin of an event-file run labelled as that run instead of repeated.
"""
from __future__ import annotations

import textwrap
from collections import defaultdict

import numpy as np

from ..model import SEVERITY_RANK, Finding, Problem, Report, RunReport, Series
from ._write import printable

MARK = {"error": "✖ error  ", "warning": "▲ warning", "info": "● info   "}
WIDTH = 100
_NBSP = "\x00"  # stands for a space inside a path while wrapping; no name can hold a NUL

# the input problems an integrity rule judges: when it is selected, it decides what is worth a finding
# (IN002 lets identical repeats pass), and its finding says it; they are not repeated as `!` lines
_JUDGED_BY = {"step_rewind": "IN001", "duplicate_steps": "IN002"}


def _fmt_step(s: int | None) -> str:
    return "-" if s is None else f"{s:,}"


def wrap(text: str, indent: str, subsequent: str, keep: tuple[str, ...] = ()) -> list[str]:
    """Wrap at spaces only: never inside a word, a path (even one with spaces in `keep`) or at a hyphen."""
    for k in keep:
        if " " in k:
            text = text.replace(k, k.replace(" ", _NBSP))
    lines = textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=subsequent,
                          break_long_words=False, break_on_hyphens=False)
    return [line.replace(_NBSP, " ") for line in lines]


def _covered(p: Problem, rr: RunReport, selected: set[str] | None) -> bool:
    """Whether a finding of the run says it already (IN003 names each damaged file), or its rule judged it."""
    judge = _JUDGED_BY.get(p.kind)
    if judge and (judge in selected if selected is not None else any(f.rule == judge for f in rr.findings)):
        return True
    return any(f.rule == "IN003" and f.stats.get("kind") == p.kind and f.stats.get("file") == p.file
               for f in rr.findings)


def _selected(report: Report) -> set[str] | None:
    if report.config is None:
        return None
    from ..cards import load_cards

    return {rid for rid, card in load_cards().items() if report.config.is_selected(card)}


def problem_summaries(problems, with_file: bool = False) -> list[tuple[str, tuple[str, ...]]]:
    """One entry per kind: its count, the first one's words (and file), and how many files; with the files."""
    by_kind: dict[str, list[Problem]] = defaultdict(list)
    for p in problems:
        by_kind[p.kind].append(p)
    out = []
    for kind, ps in by_kind.items():
        files = sorted({p.file for p in ps})
        count = f" ×{len(ps)}" if len(ps) > 1 else ""
        where = f" ({len(files)} files)" if len(files) > 1 else ""
        more = f" (first of {len(ps)})" if len(ps) > 1 else ""
        first = f"{ps[0].file}: " if with_file else ""
        out.append((f"{kind}{count}{where}: {first}{ps[0].detail}{more}", tuple(files)))
    return out


def problem_lines(problems, prefix: str = "  ", with_file: bool = False) -> list[str]:
    return [line for text, files in problem_summaries(problems, with_file)
            for line in wrap("! " + text, prefix, prefix + "    ", files)]


def _group(findings: tuple[Finding, ...]) -> list[list[Finding]]:
    """Integrity findings of one rule and kind (e.g. three Git LFS pointers) are one entry with a count."""
    groups: list[list[Finding]] = []
    index: dict[tuple, int] = {}
    for f in findings:
        key = (f.rule, f.severity, f.stats.get("kind")) if f.family == "integrity" else None
        if key is not None and key in index:
            groups[index[key]].append(f)
            continue
        if key is not None:
            index[key] = len(groups)
        groups.append([f])
    return groups


def _cause_lines(f: Finding, verbose: bool, keep: tuple[str, ...]) -> list[str]:
    """The top cause (three with -v). An `unknown` cause names nothing: on an integrity finding it is
    left out (the summary says what is wrong); elsewhere its evidence is shown without a confidence."""
    out = []
    for c in f.causes[: (3 if verbose else 1)]:
        if c.cause == "unknown":
            if f.family == "integrity" and not verbose:
                continue
            text = f"cause unclear — {c.evidence}"
        else:
            text = f"likely cause: {c.cause} ({c.confidence:.0%}) — {c.evidence}"
        out += wrap(text, "      ", "        ", keep)
    return out


def _finding_lines(group: list[Finding], verbose: bool, keep: tuple[str, ...], has_points: bool = True) -> list[str]:
    f = group[0]
    shown = ", ".join(f.tags[:3]) + (f", +{len(f.tags) - 3} more" if len(f.tags) > 3 else "")
    count = f" ×{len(group)}" if len(group) > 1 else ""
    where = f"  [{shown}]" if shown else ""
    steps = f"  steps {f.step_range[0]:,}–{f.step_range[1]:,}" if has_points else ""
    lines = [f"  {MARK.get(f.severity, f.severity)} {f.rule} {f.name}{count}{where}{steps}"]
    lines += wrap(f.summary, "      ", "      ", keep)
    if len(group) > 1:
        files = [str(g.stats.get("file", "")) for g in group[1:] if g.stats.get("file")]
        if files:
            listed = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
            lines += wrap(f"also: {listed}", "      ", "        ", keep)
    return lines + _cause_lines(f, verbose, keep)


def _header(rr: RunReport) -> str:
    run = rr.run
    fmt = "+".join(sorted({r.format for r in run.runs if r.format}))
    if not run.series:
        return f"{run.name}  [{fmt}]  no readable points"
    points = sum(s.points for s in run.series.values())
    nonfinite = sum(s.nonfinite for s in run.series.values())
    spans = [(s.first_step, s.last_step) for s in run.series.values() if s.points]
    lo = min(a for a, _ in spans) if spans else None
    hi = max(b for _, b in spans) if spans else None
    return (f"{run.name}  [{fmt}]  {len(run.series)} tags, {points:,} points, steps {_fmt_step(lo)}–{_fmt_step(hi)}"
            + (f", {nonfinite:,} non-finite" if nonfinite else ""))


def _keep(rr: RunReport) -> tuple[str, ...]:
    return tuple({rr.run.name, *(s for r in rr.run.runs for s in r.sources), *(p.file for p in rr.run.problems)})


def run_text(rr: RunReport, verbose: bool = False, twin_of: str | None = None,
             selected: set[str] | None = None) -> list[str]:
    """One run's block. `selected`: the rule ids that ran (None: judge by the findings alone)."""
    run = rr.run
    keep = _keep(rr)
    lines = [_header(rr)]
    if twin_of:
        lines.append(f"  same run as {twin_of}: its {_formats(rr)} twin (the same tags, steps and values)")
    if run.epochs.known:
        lines += wrap(f"epochs: {run.epochs.count} ({run.epochs.provenance}: {run.epochs.detail})", "  ", "    ",
                      keep)
    if verbose:
        for tag, s in sorted(run.series.items()):
            lines.append(f"    {tag}: {s.points:,} points, steps {_fmt_step(s.first_step)}"
                         f"–{_fmt_step(s.last_step)}"
                         + (f", {s.nonfinite} non-finite" if s.nonfinite else ""))
    lines += problem_lines([p for p in run.problems if verbose or not _covered(p, rr, selected)])
    if not rr.findings:
        lines.append("  no findings")
    for group in _group(rr.findings):
        lines += _finding_lines(group, verbose, keep, bool(run.series))
    for note in rr.notes:
        lines += wrap("note: " + note.splitlines()[0], "  ", "        ", keep)
    return lines


# ---- twins: a Lightning run logged both as event files and as metrics.csv -----------------------------

def _formats(rr: RunReport) -> str:
    return "+".join(sorted({r.format for r in rr.run.runs if r.format}))


def _same_curve(a: Series, b: Series) -> bool:
    if not a.points or not b.points:
        return False
    if a.first_step != b.first_step or a.last_step != b.last_step:
        return False
    if max(a.points, b.points) > 1.5 * min(a.points, b.points):  # (a CSV repeats `epoch` on evaluation rows)
        return False
    va, vb = a.last_value, b.last_value
    if not (np.isfinite(va) and np.isfinite(vb)):
        return bool(np.isfinite(va) == np.isfinite(vb))
    return bool(abs(va - vb) <= 1e-4 * max(abs(va), abs(vb)) + 1e-12)  # event files hold float32


def _dirs(rr: RunReport) -> set[str]:
    import os

    return {os.path.dirname(os.path.abspath(s)) for r in rr.run.runs for s in r.sources}


def twins(runs) -> dict[str, str]:
    """{name of a CSV/JSON run: name of the event-file run it duplicates}.

    A twin's file lies in the event run's directory or below it, and every tag the two share (at
    least half of the smaller run's tags) has the same first and last step, as many points within
    a factor 1.5, and the same last value.
    """
    events = [rr for rr in runs if _formats(rr) == "tfevents" and rr.run.series]
    out: dict[str, str] = {}
    for rr in runs:
        if _formats(rr) not in ("csv", "json", "jsonl") or not rr.run.series:
            continue
        here = _dirs(rr)
        for ev in events:
            if not any(d == e or d.startswith(e.rstrip("/") + "/") for d in here for e in _dirs(ev)):
                continue
            common = set(rr.run.series) & set(ev.run.series)
            if len(common) < max(1, min(len(rr.run.series), len(ev.run.series)) / 2):
                continue
            if all(_same_curve(rr.run.series[t], ev.run.series[t]) for t in common):
                out[rr.run.name] = ev.run.name
                break
    return out


def _same_findings(a: RunReport, b: RunReport) -> bool:
    def key(rr: RunReport) -> list[tuple]:
        return sorted((f.rule, f.severity, f.tags, f.step_range) for f in rr.findings)
    return key(a) == key(b)


def _worst(rr: RunReport) -> int:
    return max([SEVERITY_RANK[f.severity] for f in rr.findings] or [0])


def report_text(report: Report, verbose: bool = False) -> str:
    out: list[str] = []
    twin_of = twins(report.runs)
    by_name = {rr.run.name: rr for rr in report.runs}
    followers: dict[str, list[RunReport]] = defaultdict(list)
    for name, primary in twin_of.items():
        followers[primary].append(by_name[name])
    order = sorted((rr for rr in report.runs if rr.run.name not in twin_of), key=lambda r: (-_worst(r), r.run.name))
    selected = _selected(report)
    for rr in order:
        out += run_text(rr, verbose, selected=selected)
        for twin in sorted(followers.get(rr.run.name, ()), key=lambda r: r.run.name):
            if _same_findings(twin, rr) and not verbose:
                out.append(f"{_header(twin)}")
                out.append(f"  same run as {rr.run.name}: its {_formats(twin)} twin, with the same findings")
            else:
                out += run_text(twin, verbose, twin_of=rr.run.name, selected=selected)
        out.append("")
    out += problem_lines(report.problems, prefix="", with_file=True)
    counts = {s: sum(1 for f in report.findings if f.severity == s) for s in ("error", "warning", "info")}
    twins_note = f" ({len(twin_of)} of them a CSV twin of an event-file run)" if twin_of else ""
    out.append(f"{len(report.runs)} run(s){twins_note}: {counts['error']} error(s), {counts['warning']} warning(s), "
               f"{counts['info']} info")
    return printable("\n".join(out) + "\n")
