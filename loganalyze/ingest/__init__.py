"""Ingest: find the logs under the user's paths and read every scalar, losing nothing.

`load(paths)` is the library entry point. It never raises for bad input: whatever is wrong
with a file is a `Problem` on its run (or on the result when it belongs to no run).
"""
from __future__ import annotations

import traceback
from pathlib import Path
from typing import Sequence

from ..model import IngestResult, Problem, Run
from .discover import RunSource, discover
from .rewind import attempt_name


def read_source(src: RunSource) -> Run:
    """One run from its files; a reader bug becomes a reported problem, not a crash of the others."""
    try:
        if src.kind == "tfevents":
            from .tfevents import read_event_files

            data = read_event_files(src.files)
            n = len(data.attempts) + 1
            attempts = tuple(Run(attempt_name(src.name, k, n), tuple(files), series, (), data.hparams, "tfevents")
                             for k, (files, series) in enumerate(data.attempts, 1))
            return Run(src.name, src.files, data.series, tuple(data.problems), data.hparams, "tfevents", attempts,
                       tag_files=data.tag_files)
        if src.kind == "csv":
            from .csvlog import read_csv_log

            return read_csv_log(src.files[0], src.name)
        from .jsonlog import read_json_log

        return read_json_log(src.files[0], src.name)
    except Exception as e:  # noqa: BLE001
        detail = f"internal error while reading ({type(e).__name__}: {e}); please report it"
        return Run(src.name, src.files, {}, (Problem("reader_error", src.files[0], detail,
                                                     {"traceback": traceback.format_exc(limit=4)}),), format=src.kind)


def load(paths: Sequence[str | Path]) -> IngestResult:
    sources, problems = discover(paths)
    runs = tuple(read_source(s) for s in sources)
    return IngestResult(runs, tuple(problems))


__all__ = ["load", "read_source", "discover", "RunSource", "Problem"]
