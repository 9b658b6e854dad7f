"""`loganalyze export PATHS -o out.{csv,parquet,jsonl}`: every point, no analysis.

Kept apart from `cli.py` so the command costs nothing until it runs. The file appears whole or
not at all (written beside the target, then renamed over it); `-o -` streams CSV to stdout.
Exit 2 for bad paths, an unknown output type, a missing extra, or nothing to export.
"""
from __future__ import annotations

import os
import sys
import tempfile

import click

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def _fail(message: str) -> None:
    click.echo(f"loganalyze export: {message}", err=True)
    sys.exit(2)


def _write_atomic(target: str, fmt: str, write) -> None:
    """Write through a temporary file in the target's directory, renamed over the target when complete."""
    folder = os.path.dirname(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=folder)
    try:
        if fmt == "parquet":
            os.close(fd)
            write(tmp)
        else:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                write(fh)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


SHOWN = 10


def _report_problems(problems) -> None:
    if not problems:
        return
    more = len(problems) - SHOWN
    click.echo(f"loganalyze export: {len(problems)} problem(s) in the input"
               + (f" (the first {SHOWN}; all of them: loganalyze.read_arrays(...).problems, or the Parquet "
                  "file's `loganalyze` metadata)" if more > 0 else "") + ":", err=True)
    for p in problems[:SHOWN]:
        click.echo(f"  {p.file}: {p.detail}", err=True)


@click.command("export")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("-o", "--output", required=True, metavar="FILE|-",
              help="out.csv, out.parquet or out.jsonl (the type follows the extension); - for CSV on stdout.")
@click.option("--tags", multiple=True, metavar="GLOB", help="Only tags matching GLOB (repeatable: any matches).")
@click.option("--runs", multiple=True, metavar="GLOB", help="Only runs matching GLOB (repeatable: any matches).")
@click.option("--wide", is_flag=True, help="One column per tag, one row per (run, step); empty where a tag has no point.")
@click.option("--steps-per-epoch", type=click.IntRange(min=1), help="Steps per epoch, when the logs don't say.")
def export_command(paths, output, tags, runs, wide, steps_per_epoch) -> None:
    """Write every scalar point under PATH... as the analysis reads it (run, tag, step, value, wall_time,
    and epoch where the epoch axis is known). Problems found in the input are listed on stderr."""
    fmt = "csv" if output == "-" else FORMATS.get(os.path.splitext(output)[1].lower())
    if fmt is None:
        _fail(f"cannot tell the output type of {output!r}: use a .csv, .parquet or .jsonl name, or - for CSV on stdout")
    if output != "-" and not os.path.isdir(os.path.dirname(os.path.abspath(output))):
        _fail(f"the directory of {output!r} does not exist")
    from . import export
    from .config import ConfigError, discover

    try:
        config = discover()  # the analysis' own settings (roles, steps_per_epoch) shape the epoch axis alike
    except ConfigError as e:
        _fail(str(e))
    if fmt == "parquet":
        try:
            export.require("pyarrow.parquet", "parquet", "Parquet export")
        except export.MissingExtra as e:
            _fail(str(e))
    try:
        points = export.read_arrays(paths, tags=tags or None, runs=runs or None, steps_per_epoch=steps_per_epoch,
                                    config=config)
    except FileNotFoundError as e:
        _fail(str(e))
    _report_problems(points.problems)
    if len(points) == 0:
        filters = [f"--{name} {' '.join(globs)}" for name, globs in (("tags", tags), ("runs", runs)) if globs]
        matching = " matching " + " and ".join(filters) if filters else ""
        _fail(f"no points{matching} under {', '.join(paths)}; nothing written")
    if wide:
        try:
            export.check_wide(points)
        except ValueError as e:
            _fail(str(e))
    if output == "-":
        try:
            export.write_csv(points, sys.stdout, pivot=wide)
            sys.stdout.flush()
        except BrokenPipeError:  # the reader went away (`| head`): not our error
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    writer = {"csv": export.write_csv, "jsonl": export.write_jsonl, "parquet": export.write_parquet}[fmt]
    try:
        _write_atomic(output, fmt, lambda target: writer(points, target, pivot=wide))
    except OSError as e:
        _fail(f"cannot write {output}: {e.strerror or e}")
    click.echo(f"loganalyze export: {len(points):,} points, {len(points.runs)} run(s), {len(points.tags)} tag(s) "
               f"-> {output}", err=True)
