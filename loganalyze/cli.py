"""Command line: a thin layer over `loganalyze.engine.analyze`.

    loganalyze runs/ --html report.html          # analyze (the default command)
    loganalyze logs/ --fail-on warning --format github
    loganalyze rules | loganalyze explain PD001 | loganalyze train --list

Exit codes: 0 nothing at/above --fail-on, 1 findings at/above it, 2 usage error or no readable log.
"""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import click

from . import __version__
from .cards import CardError, find_card, load_cards
from .cliutil import (Progress, missing_paths, output_errors, shadowed_directory, special_paths,
                      unreachable_urls)
from .cluster import ClusterError  # light: Dask itself loads only for --dask
from .config import FAIL_LEVELS, ConfigError, check_selectors, discover, load_file
from .model import SEVERITY_RANK, Report
from .report._write import printable


class _DefaultGroup(click.Group):
    """`loganalyze PATH...` means `loganalyze analyze PATH...`."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args = ["analyze", *args]
        elif args and args[0] in self.commands and args[0] != "analyze":
            notice = shadowed_directory(args[0])
            if notice:
                click.echo(notice, err=True)
        return super().parse_args(ctx, args)


@click.group(cls=_DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="loganalyze")
def cli() -> None:
    """Find what is wrong with a training curve, and why.

    loganalyze PATH... analyzes TensorBoard event files and CSV/JSON step logs
    (see `loganalyze analyze --help`).

    A directory named like a command (train, rules, explain) is analyzed with
    `loganalyze analyze train/` (or `loganalyze ./train`).
    """


def _split(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(v.strip() for item in values for v in item.split(",") if v.strip())


def _fail(message: str) -> None:
    """A usage, configuration or output error: exit 2, the message on stderr."""
    click.echo(f"loganalyze: {printable(message)}", err=True)
    sys.exit(2)


def exit_code(report: Report, fail_on: str) -> int:
    threshold = SEVERITY_RANK[fail_on]
    return 1 if any(SEVERITY_RANK[f.severity] >= threshold for f in report.findings) else 0


@cli.command("analyze")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--json", "json_out", metavar="FILE|-", help="Write the JSON report (schema_version 2).")
@click.option("--html", "html_out", metavar="FILE", help="Write a self-contained interactive HTML report.")
@click.option("--junit", "junit_out", metavar="FILE", help="Write JUnit XML: one test case per run × rule.")
@click.option("--sarif", "sarif_out", metavar="FILE", help="Write SARIF 2.1.0.")
@click.option("--format", "fmt", type=click.Choice(["text", "github", "markdown", "none"]), default="text",
              show_default=True, help="What to print: a terminal summary, GitHub Actions annotations, a Markdown "
              "table (with --baseline), or nothing.")
@click.option("--baseline", metavar="PATH", help="Compare with these logs or JSON report: fail only on what got worse.")
@click.option("--tolerance", type=click.FloatRange(min=0), metavar="FRAC",
              help="With --baseline: allowed worsening of each curve measure, as a fraction of the baseline's value.")
@click.option("--fail-on", type=click.Choice(FAIL_LEVELS), default=None,
              help="Exit 1 when a finding at or above this severity exists  [default: error].")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Config file (loganalyze.toml or pyproject.toml); default: found upward from here.")
@click.option("--steps-per-epoch", type=click.IntRange(min=1), help="Steps per epoch, when the logs don't say.")
@click.option("--select", multiple=True, metavar="IDS", help="Only these rules (ids, prefixes, families, names).")
@click.option("--ignore", multiple=True, metavar="IDS", help="Skip these rules.")
@click.option("-v", "--verbose", is_flag=True, help="List every tag and the top three causes.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None, help="Processes for sweeps [default: all cores].")
@click.option("--dask", "dask", metavar="ADDRESS", envvar="LOGANALYZE_DASK",
              help="Analyze the runs on this Dask scheduler (tcp://host:8786), or `local[:N]` for a local cluster of N "
              "processes; needs loganalyze[dask]  [env: LOGANALYZE_DASK].")
def analyze_cmd(paths, json_out, html_out, junit_out, sarif_out, fmt, baseline, tolerance, fail_on, config_path,
                steps_per_epoch, select, ignore, verbose, jobs, dask) -> None:
    """Analyze the logs under PATH... (event-file directories, CSV/JSON logs, or trees of them).

    A path named like a command (train, rules, explain) needs this command spelled out:
    `loganalyze analyze train/`.
    """
    from .engine import analyze
    from .report import ci, jsonout, text
    from .report._write import write_text

    missing = missing_paths(paths)
    if missing:
        _fail("no such file or directory: " + ", ".join(missing))
    unreachable = unreachable_urls(paths)  # a URL: its backend, bucket and access, checked before the analysis
    if unreachable:
        _fail("; ".join(unreachable))
    bad_outputs = output_errors([("--json", json_out), ("--html", html_out), ("--junit", junit_out),
                                 ("--sarif", sarif_out)])
    if bad_outputs:
        _fail("; ".join(bad_outputs))
    try:
        config = load_file(config_path) if config_path else discover()
        if select:
            check_selectors(_split(select), "--select")
            config = replace(config, select=_split(select))
        if ignore:
            check_selectors(_split(ignore), "--ignore")
            config = replace(config, ignore=config.ignore + _split(ignore))
        if steps_per_epoch:
            config = replace(config, steps_per_epoch=steps_per_epoch)
        if fail_on:
            config = replace(config, fail_on=fail_on)
    except (ConfigError, CardError) as e:
        _fail(str(e))

    if (fmt == "markdown" or tolerance is not None) and not baseline:
        _fail("--format markdown and --tolerance need --baseline")
    if dask and jobs:
        _fail("-j sets local processes and --dask (or LOGANALYZE_DASK) a cluster: give one of them")
    progress = Progress()
    try:
        if baseline:  # the baseline's logs are analyzed in the same pool as these
            from .compare import CompareError
            from .gate import analyze_against, gate

            try:
                base_side, report = analyze_against(baseline, paths, config, jobs, progress, bool(html_out),
                                                    dask or None)
            except CompareError as e:
                _fail(str(e))
        else:
            report = analyze(paths, config, jobs=jobs, progress=progress, summarize=True, charts=bool(html_out),
                             dask=dask or None)
    except ConfigError as e:  # a role naming a tag no run has: known only once the runs are read
        _fail(str(e))
    except ClusterError as e:  # no Dask, a bad --dask, a scheduler that cannot be reached
        _fail(str(e))
    finally:
        progress.close()
    special = special_paths(paths)  # a FIFO or device named on the command line: the others analyzed, then exit 2
    if baseline:
        code = gate(report, ", ".join(paths), baseline, config, tolerance, jobs, base_side=base_side,
                    json_out=json_out, html_out=html_out, sarif_out=sarif_out, junit_out=junit_out, fmt=fmt)
        if special:
            _fail("not a regular file, skipped: " + ", ".join(special) + "; the other paths were analyzed")
        sys.exit(code)

    try:
        if json_out:
            write_text(json_out, jsonout.dumps(report))
        if html_out:
            from .report.html import write_html

            write_html(report, html_out)
        if junit_out:
            write_text(junit_out, ci.junit(report, config.fail_on))
        if sarif_out:
            write_text(sarif_out, ci.sarif(report))
    except OSError as e:
        _fail(f"cannot write the report: {printable(str(e.filename or ''))}: {e.strerror or e}")
    to_stdout = "-" in (json_out, junit_out, sarif_out)
    if fmt == "github":
        click.echo(ci.github(report), nl=False)
    elif fmt == "text":
        click.echo(text.report_text(report, verbose), nl=False, err=to_stdout)

    readable = [rr for rr in report.runs if rr.run.series]
    if not readable:
        problems = [p for rr in report.runs for p in rr.run.problems] + list(report.problems)
        reasons = "; ".join(t for t, _ in text.problem_summaries(problems, with_file=True))
        _fail(f"no readable log under {', '.join(paths)} ({reasons or 'no log files found'})")
    if special:
        _fail("not a regular file, skipped: " + ", ".join(special) + "; the other paths were analyzed")
    sys.exit(exit_code(report, config.fail_on))


@cli.command("rules")
def rules_cmd() -> None:
    """List the rules: id, name, family, default severity, title."""
    try:
        cards = load_cards()
    except CardError as e:
        click.echo(f"loganalyze: {e}", err=True)
        sys.exit(2)
    for card in cards.values():
        click.echo(f"{card.id:6} {card.name:28} {card.family:16} {card.severity:8} {card.title}")


@cli.command("explain")
@click.argument("rule")
def explain_cmd(rule: str) -> None:
    """Print a rule's card: what it detects, why, causes and their evidence, fixes, parameters."""
    card = find_card(rule)
    if card is None:
        click.echo(f"loganalyze: no rule {rule!r}; `loganalyze rules` lists them", err=True)
        sys.exit(2)
    click.echo(card.text(), nl=False)


def _add_train() -> None:
    try:
        from .trainer.cli import train_command
    except ImportError:  # the trainer module itself imports torch lazily; this is only a safety net
        return
    cli.add_command(train_command)


_add_train()

from .gate import compare_command  # noqa: E402 — `loganalyze compare`; light: click only

cli.add_command(compare_command)


def _add_export() -> None:
    from .export_cli import export_command  # click only: the reader loads when the command runs

    cli.add_command(export_command)


_add_export()


def main() -> None:
    """The console script. Ctrl-C exits 130 (128 + SIGINT), as shells expect, and leaves no half-written report."""
    try:
        rv = cli.main(prog_name="loganalyze", standalone_mode=False)
    except (KeyboardInterrupt, click.exceptions.Abort):
        click.echo("\nloganalyze: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
