"""The pre-merge gate at the edges: read a baseline (logs or a JSON report), compare, write, exit.

`loganalyze compare BASE NEW` and `loganalyze analyze NEW --baseline BASE` both end here. The
comparison itself is `loganalyze.compare`; this module reads files and writes reports.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import click

if TYPE_CHECKING:  # compare loads numpy: imported where it is used, so `loganalyze --help` stays light
    from .compare import Comparison, Side

READABLE_SCHEMAS = (1, 2)


def _read_json_report(path: Path) -> dict | None:
    """The parsed report when `path` is a loganalyze JSON report, None when it is something else (a log)."""
    if not path.is_file() or path.suffix.lower() != ".json":
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None  # not a report; the log readers say what is wrong with it
    if not isinstance(doc, dict) or "schema_version" not in doc:
        return None
    return doc


def _num(x: Any) -> float:
    return float(x) if not isinstance(x, str) else float(x.replace("Infinity", "inf"))


def side_from_json(doc: dict, label: str) -> Side:
    """A baseline from a JSON report: findings of schema 1 or 2, and the curve summaries schema 2 adds."""
    import numpy as np

    from .compare import CompareError, Curve, RunSide, Side
    from .model import Cause, Finding

    version = doc.get("schema_version")
    if version not in READABLE_SCHEMAS:
        raise CompareError(f"{label}: a loganalyze JSON report of schema_version {version!r}; this version of "
                           f"loganalyze reads schema versions {', '.join(map(str, READABLE_SCHEMAS))} — "
                           "write the baseline again with this version")
    runs = []
    try:
        for r in doc["runs"]:
            findings = tuple(Finding(
                rule=f["rule"], family=f["family"], severity=f["severity"], tags=tuple(f["tags"]),
                step_range=(int(f["step_range"][0]), int(f["step_range"][1])), summary=f["summary"],
                stats=f.get("stats", {}), name=f.get("name", ""),
                causes=tuple(Cause(c["cause"], float(c["confidence"]), c.get("evidence", "")) for c in f.get("causes", [])),
                ranges=tuple((int(a), int(b)) for a, b in f.get("ranges", [])),
            ) for f in r["findings"])
            curves = {}
            for c in r.get("curves", []):
                curves[c["tag"]] = Curve(
                    tag=c["tag"], higher_is_better=bool(c["higher_is_better"]), points=int(c["points"]),
                    final=_num(c["final"]), best=_num(c["best"]), noise=_num(c["noise"]),
                    autocorrelation=_num(c["autocorrelation"]), stretch=int(c["stretch"]),
                    window=int(c["window"]), step=np.asarray(c["steps"], dtype=np.int64),
                    value=np.asarray([_num(v) for v in c["values"]], dtype=np.float64))
            firsts = [s["first_step"] for s in r.get("series", []) if s.get("first_step") is not None]
            lasts = [s["last_step"] for s in r.get("series", []) if s.get("last_step") is not None]
            span = (min(firsts), max(lasts)) if firsts else None
            if r.get("series"):
                runs.append(RunSide(r["name"], findings, curves, span))
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise CompareError(f"{label}: not a valid loganalyze JSON report (schema_version {version}): "
                           f"{type(e).__name__}: {e}") from None
    notes = () if version >= 2 else (f"{label} is a schema-1 JSON report: it carries no curves, so only "
                                     "findings are compared",)
    return Side(label, tuple(runs), notes)


def _readable(report, label: str, what: str):
    """The report, or a CompareError saying why nothing under `label` could be read."""
    from .compare import CompareError

    if any(rr.run.series for rr in report.runs):
        return report
    problems = [p for rr in report.runs for p in rr.run.problems] + list(report.problems)
    reasons = "; ".join(f"{p.file}: {p.detail}" for p in problems[:5]) or "no log files found"
    raise CompareError(f"{what} {label} holds no readable run ({reasons})")


def load_side(paths: Sequence[str], config, jobs: int | None = None) -> tuple[Side, Any]:
    """A side of a comparison from logs (analyzed here) or from one JSON report; and the Report when analyzed."""
    from .compare import side_from_report
    from .engine import analyze

    label = ", ".join(paths)
    if len(paths) == 1:
        doc = _read_json_report(Path(paths[0]))
        if doc is not None:
            return side_from_json(doc, label), None
    report = _readable(analyze(paths, config, jobs=jobs), label, "the baseline")
    return side_from_report(report, label), report


def _load_baseline(path: str, config, jobs: int | None) -> Side:
    return load_side([path], config, jobs)[0]


def finish(report, comparison: Comparison, *, json_out=None, html_out=None, sarif_out=None, junit_out=None,
           fmt: str = "text") -> int:
    """Write what was asked for; the exit code of the comparison."""
    from .report import ci, jsonout, markdown
    from .report._write import write_text as _write

    if json_out:
        _write(json_out, jsonout.dumps(report, comparison))
    if html_out:
        from .report.html import write_html

        write_html(report, html_out, comparison=comparison)
    if sarif_out:
        _write(sarif_out, ci.sarif(report, comparison))
    if junit_out:
        _write(junit_out, ci.junit(report, comparison.fail_on))
    to_stdout = "-" in (json_out, sarif_out, junit_out)
    if fmt == "github":
        click.echo(ci.github(report, comparison), nl=False)
    elif fmt == "markdown":
        click.echo(markdown.markdown(comparison), nl=False)
    elif fmt == "text":
        click.echo(markdown.terminal(comparison), nl=False, err=to_stdout)
    return comparison.exit_code


def gate(report, new_label: str, baseline: str, config, tolerance: float | None, jobs: int | None = None,
         base_side: Side | None = None, **outputs) -> int:
    """Compare an analyzed report with `baseline` and write the outputs; 2 when they cannot be compared."""
    from .compare import CompareError, compare, side_from_report
    from .config import ConfigError

    try:
        base = base_side if base_side is not None else _load_baseline(baseline, config, jobs)
        new = side_from_report(_readable(report, new_label, "NEW:"), new_label)
        comparison = compare(base, new, config.fail_on, tolerance)
    except (CompareError, ConfigError) as e:
        return _error(str(e))
    try:
        return finish(report, comparison, **outputs)
    except OSError as e:
        return _error(f"cannot write the report: {e.filename or ''}: {e.strerror or e}")


def _error(message: str) -> int:
    from .report._write import printable

    click.echo(f"loganalyze: {printable(message)}", err=True)
    return 2


def analyze_against(baseline: str, paths: Sequence[str], config, jobs: int | None = None, progress=None,
                    charts: bool = True, dask: str | None = None) -> tuple[Side, Any]:
    """The baseline's side and the analyzed report of `paths`.

    A JSON baseline is read first (a bad one fails before any work). A baseline of logs analyzed
    before (same files, config and loganalyze) is read from its report in `basecache`; else it is
    analyzed together with the new logs in one pool (`engine.analyze_pair`), so with two cores
    free the comparison takes about as long as the analysis of the new logs alone, and its report
    is cached for the next comparison.
    """
    from . import basecache
    from .compare import CompareError, side_from_report
    from .engine import analyze, analyze_pair
    from .report.jsonout import dumps

    doc = _read_json_report(Path(baseline))
    if doc is None:
        digest = basecache.key([baseline], config) if basecache.usable([baseline]) else ""
        doc = basecache.load(digest) if digest else None
        if doc is not None:
            try:
                side = side_from_json(doc, baseline)
            except CompareError:  # a cache entry from an odd version: analyze again
                doc = None
    else:
        side = side_from_json(doc, baseline)
    if doc is not None:
        return side, analyze(paths, config, jobs, progress, summarize=True, charts=charts, dask=dask)
    base_report, report = analyze_pair([baseline], paths, config, jobs, progress, charts=charts, dask=dask)
    side = side_from_report(_readable(base_report, baseline, "the baseline"), baseline)
    if digest:
        basecache.store(digest, dumps(base_report))
    return side, report


@click.command("compare")
@click.argument("base", type=click.Path(path_type=str))
@click.argument("new", type=click.Path(path_type=str))
@click.option("--json", "json_out", metavar="FILE|-", help="Write the JSON report of NEW with the baseline fields (schema_version 2).")
@click.option("--html", "html_out", metavar="FILE", help="HTML report of NEW with the baseline's curves behind.")
@click.option("--sarif", "sarif_out", metavar="FILE", help="SARIF 2.1.0 with baselineState per result.")
@click.option("--format", "fmt", type=click.Choice(["text", "github", "markdown", "none"]), default="text",
              show_default=True, help="Terminal summary, annotations for new findings, a PR-comment table, or nothing.")
@click.option("--fail-on", type=click.Choice(["error", "warning", "info", "never"]), default=None,
              help="Exit 1 for a NEW finding at or above this severity  [default: error].")
@click.option("--tolerance", type=click.FloatRange(min=0), default=None, metavar="FRAC",
              help="Allow each curve measure to be this fraction of the baseline's value worse "
                   "[default: from the logs' noise].")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Config file; default: found upward from here.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None, help="Processes [default: all cores].")
def compare_command(base, new, json_out, html_out, sarif_out, fmt, fail_on, tolerance, config_path, jobs):
    """Compare the runs under NEW with the baseline BASE (logs, or a --json report written earlier).

    Exit 1 only for a new finding at or above --fail-on or a curve worse beyond tolerance;
    findings the baseline already has pass. Exit 2 when the two cannot be compared.
    """
    from dataclasses import replace

    from .cards import CardError
    from .compare import CompareError
    from .config import ConfigError, discover, load_file

    try:
        config = load_file(config_path) if config_path else discover()
        if fail_on:
            config = replace(config, fail_on=fail_on)
    except (ConfigError, CardError) as e:
        click.echo(f"loganalyze: {e}", err=True)
        sys.exit(2)
    if _read_json_report(Path(new)) is not None:
        click.echo(f"loganalyze: NEW must be logs, not a JSON report ({new})", err=True)
        sys.exit(2)
    try:
        base_side, report = analyze_against(base, [new], config, jobs, charts=bool(html_out))
    except (CompareError, ConfigError) as e:
        sys.exit(_error(str(e)))
    sys.exit(gate(report, new, base, config, tolerance, jobs, base_side=base_side, json_out=json_out,
                  html_out=html_out, sarif_out=sarif_out, fmt=fmt))
