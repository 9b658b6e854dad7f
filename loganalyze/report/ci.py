"""Outputs for CI systems: GitHub Actions annotations, JUnit XML, SARIF. Deterministic."""
from __future__ import annotations

import json
import os
from urllib.parse import quote

from .. import __version__
from ..cards import load_cards
from ..model import SEVERITY_RANK, Finding, Report, RunReport
from ._write import json_safe, printable

_GH_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


def _gh_escape(s: str, prop: bool = False) -> str:
    s = s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        s = s.replace(":", "%3A").replace(",", "%2C")
    return s


def _anchor_file(rr: RunReport, f: Finding | None = None) -> str:
    """The file an annotation points at: the damaged file for an integrity finding; else the file that holds
    the finding's first steps of its tags (`anchor.finding_file`), or the run's first file."""
    if f is not None:
        named = f.stats.get("file") or (f.stats.get("files") or [None])[0]
        if isinstance(named, str) and named:
            return named
        from ..anchor import finding_file

        found = finding_file(rr.run, f.tags, f.step_range)
        if found:
            return found
    sources = sorted({s for r in rr.run.runs for s in r.sources})
    return sources[0] if sources else rr.run.name


def _uri(path: str) -> str:
    """A relative URI reference for SARIF: the path's bytes percent-encoded (any name, spaces included)."""
    return quote(os.fsencode(path.replace(os.sep, "/")), safe="/")


def github(report: Report, comparison=None) -> str:
    """`::warning file=…,title=…::message` lines; GitHub shows them on the PR.

    Compared with a baseline: only the new findings, and one error line per curve regression.
    """
    lines = []
    for rr in sorted(report.runs, key=lambda r: r.run.name):
        rc = comparison.get(rr.run.name) if comparison is not None else None
        for f in rr.findings if rc is None else rc.new:
            title = f"{f.rule} {f.name} ({rr.run.name})"
            where = [f"steps {f.step_range[0]}–{f.step_range[1]}"] if rr.run.series else []
            where += [", ".join(f.tags)] if f.tags else []
            msg = f.summary + (f" [{'; '.join(where)}]" if where else "")
            if f.causes and f.causes[0].cause != "unknown":  # "unknown" names no cause
                msg += f" Likely cause: {f.causes[0].cause} ({f.causes[0].confidence:.0%})."
            lines.append(f"::{_GH_LEVEL[f.severity]} file={_gh_escape(_anchor_file(rr, f), True)},"
                         f"title={_gh_escape(title, True)}::{_gh_escape(msg)}")
        for c in rc.regressions if rc is not None else ():
            from .markdown import check_text

            lines.append(f"::error file={_gh_escape(_anchor_file(rr), True)},"
                         f"title={_gh_escape(f'curve regression {c.tag} ({rr.run.name})', True)}::"
                         f"{_gh_escape(check_text(c))}")
    for p in report.problems:
        lines.append(f"::warning file={_gh_escape(p.file, True)},title={_gh_escape('loganalyze ' + p.kind, True)}::"
                     f"{_gh_escape(p.detail)}")
    return printable("\n".join(lines) + ("\n" if lines else ""))


def junit(report: Report, fail_on: str = "error") -> str:
    """One testsuite per run, one testcase per selected rule; a failure per finding at/above `fail_on`."""
    threshold = SEVERITY_RANK[fail_on]
    cards = load_cards()
    config = report.config
    selected = [c for c in cards.values() if config is None or config.is_selected(c)]
    from xml.etree import ElementTree as ET  # only here: the import costs more than a small run's JUnit

    suites = ET.Element("testsuites", name="loganalyze")
    total = failures = 0
    for rr in sorted(report.runs, key=lambda r: r.run.name):
        suite = ET.SubElement(suites, "testsuite", name=rr.run.name)
        n_fail = 0
        for card in selected:
            case = ET.SubElement(suite, "testcase", classname=rr.run.name, name=f"{card.id} {card.name}")
            found = [f for f in rr.findings if f.rule == card.id]
            failing = [f for f in found if SEVERITY_RANK[f.severity] >= threshold]
            if failing:
                n_fail += 1
                fail = ET.SubElement(case, "failure", message=failing[0].summary, type=failing[0].severity)
                fail.text = "\n".join(_finding_line(f) for f in failing)
            rest = [f for f in found if f not in failing]
            if rest:
                ET.SubElement(case, "system-out").text = "\n".join(_finding_line(f) for f in rest)
        suite.set("tests", str(len(selected)))
        suite.set("failures", str(n_fail))
        total += len(selected)
        failures += n_fail
    suites.set("tests", str(total))
    suites.set("failures", str(failures))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + printable(ET.tostring(suites, encoding="unicode")) + "\n"


def _finding_line(f: Finding) -> str:
    cause = f" likely cause: {f.causes[0].cause} ({f.causes[0].confidence:.0%}): {f.causes[0].evidence}" if f.causes else ""
    return f"[{f.severity}] {f.rule} {', '.join(f.tags)} steps {f.step_range[0]}–{f.step_range[1]}: {f.summary}{cause}"


_SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def sarif(report: Report, comparison=None) -> str:
    """SARIF 2.1.0 for code-scanning UIs: a result per finding, located at the damaged file for an
    integrity finding, else at the run's first log file.

    Compared with a baseline, each result has a `baselineState` (new, unchanged), and the baseline's
    findings that are gone are listed as results with `baselineState: absent`.
    """
    cards = load_cards()
    absent = {rr.run.name: comparison.get(rr.run.name).absent for rr in report.runs
              if comparison is not None and comparison.get(rr.run.name) is not None}
    used = sorted({f.rule for f in report.findings} | {f.rule for gone in absent.values() for f in gone})
    rules = [{
        "id": rid,
        "name": cards[rid].name if rid in cards else rid,
        "shortDescription": {"text": cards[rid].title if rid in cards else rid},
        "fullDescription": {"text": cards[rid].what.strip() if rid in cards else ""},
        "help": {"text": cards[rid].text() if rid in cards else ""},
    } for rid in used]
    results = []
    for rr in sorted(report.runs, key=lambda r: r.run.name):
        rc = comparison.get(rr.run.name) if comparison is not None else None
        states = [(f, None if rc is None else rc.state_of(f)) for f in rr.findings]
        states += [(f, "absent") for f in absent.get(rr.run.name, ())]
        for f, state in states:
            result = {
                "ruleId": f.rule,
                "level": _SARIF_LEVEL[f.severity],
                "message": {"text": f"{rr.run.name}: {f.summary}"},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(_anchor_file(rr, f))}}}],
                "properties": {"run": rr.run.name, "tags": list(f.tags), "step_range": list(f.step_range),
                               "causes": [{"cause": c.cause, "confidence": round(c.confidence, 3)} for c in f.causes]},
            }
            if state:
                result["baselineState"] = state
            results.append(result)
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "loganalyze", "version": __version__, "rules": rules}},
                  "results": results}],
    }
    return json_safe(json.dumps(doc, indent=2, ensure_ascii=False)) + "\n"
