"""A comparison with a baseline in words: a Markdown table for a pull-request comment or
`$GITHUB_STEP_SUMMARY`, and the same content for the terminal. Deterministic."""
from __future__ import annotations

from ..compare import Check, Comparison, RunComparison
from ..model import Finding

MEASURE = {"final": "final", "best": "best", "steps_to_level": "step to baseline's final level",
           "area": "mean gap over the common steps"}


def _num(x: float | None) -> str:
    if x is None:
        return "never"
    if float(x).is_integer() and abs(x) >= 10:
        return f"{int(x):,}"
    return f"{x:.4g}"


def check_text(c: Check) -> str:
    """One measure in words: `val/loss final 0.6727 → 0.7211 (worse by 0.0484; tolerance 0.0135 from noise)`."""
    if c.measure == "area":
        head = f"{c.tag} {MEASURE[c.measure]}: mean {_num(c.baseline)} → {_num(c.new)}"
    else:
        head = f"{c.tag} {MEASURE[c.measure]}: {_num(c.baseline)} → {_num(c.new)}"
    if c.worse_by is None:
        return f"{head} (the new curve never reaches it)"
    word = "worse" if c.worse_by >= 0 else "better"
    return f"{head} ({word} by {_num(abs(c.worse_by))}; tolerance {_num(c.tolerance)} from {c.tolerance_from})"


def _finding(f: Finding) -> str:
    return f"{f.rule} {f.name} [{', '.join(f.tags[:3])}] steps {f.step_range[0]:,}–{f.step_range[1]:,}"


def _cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def _verdict(rc: RunComparison, fail_on: str) -> str:
    return "❌ fail" if rc.verdict(fail_on) == "fail" else "✅ pass"


def markdown(comparison: Comparison) -> str:
    """A table (run, verdict, new findings, regressions with figures), then what was resolved."""
    c = comparison
    out = [f"### loganalyze: {'❌ fail' if c.verdict == 'fail' else '✅ pass'} — compared with `{_cell(c.baseline)}`", "",
           "| run | verdict | new findings | regressions |", "|---|---|---|---|"]
    for rc in c.runs:
        new = "<br>".join(f"{f.severity}: {_cell(_finding(f))}" for f in rc.new) or "none"
        reg = "<br>".join(_cell(check_text(k)) for k in rc.regressions) or "none"
        out.append(f"| `{_cell(rc.name)}` | {_verdict(rc, c.fail_on)} | {new} | {reg} |")
    out.append("")
    tol = "from the noise of the baseline's logs" if c.tolerance is None else f"{c.tolerance:g} of the baseline's value"
    out.append(f"Fails on new findings at or above `{c.fail_on}` and on curves worse beyond tolerance ({tol}); "
               "findings the baseline already has do not fail.")
    for rc in c.runs:
        if rc.unchanged or rc.absent:
            out.append("")
            out.append(f"`{_cell(rc.name)}`: {len(rc.unchanged)} unchanged, {len(rc.absent)} resolved"
                       + ("".join(f"<br>resolved: {_cell(_finding(f))}" for f in rc.absent)))
    notes = list(c.notes) + [f"{rc.name}: {n}" for rc in c.runs for n in rc.notes]
    if notes:
        out.append("")
        out += [f"> {_cell(n)}" for n in notes]
    return "\n".join(out) + "\n"


def terminal(comparison: Comparison) -> str:
    """The comparison for the terminal: per run its verdict, new / unchanged / resolved findings, regressions."""
    c = comparison
    out = [f"compared with {c.baseline}"]
    for rc in c.runs:
        base = ", ".join(rc.baseline_names)
        out.append(f"{rc.name}  [{rc.verdict(c.fail_on)}]  vs {base}: {len(rc.new)} new, {len(rc.unchanged)} unchanged, "
                   f"{len(rc.absent)} resolved finding(s); {len(rc.regressions)} curve regression(s)")
        out += [f"  + new        {f.severity:8} {_finding(f)}: {f.summary}" for f in rc.new]
        out += [f"  = unchanged  {f.severity:8} {_finding(f)}" for f in rc.unchanged]
        out += [f"  - resolved   {f.severity:8} {_finding(f)}" for f in rc.absent]
        out += [f"  ✖ regression {check_text(k)}" for k in rc.regressions]
        out += [f"  note: {n}" for n in rc.notes]
    out += [f"note: {n}" for n in c.notes]
    out.append(f"verdict: {c.verdict} (fail on new findings at or above {c.fail_on}, or a curve regression)")
    return "\n".join(out) + "\n"
