"""Which file a finding is about: the one that logged the steps where it starts.

A run can be several files: a Keras experiment's `train/` and `validation/` directories (its tags
prefixed `train/`, `validation/`), or a directory of event files written one after the other (a
resumed run). An annotation on a pull request should open the file that logged the finding's
steps, not the run's first file.
"""
from __future__ import annotations

from typing import Sequence

from .model import AlignedRun, Run


def _members(run: AlignedRun) -> list[tuple[str, Run]]:
    """(tag prefix, member run), as `align.group_experiments` prefixed the members' tags."""
    if len(run.runs) == 1:
        return [("", run.runs[0])]
    return [(r.name.rpartition("/")[2] + "/", r) for r in run.runs]


def finding_file(run: AlignedRun, tags: Sequence[str], step_range: tuple[int, int]) -> str | None:
    """The file holding the first of `tags` at the finding's first step (else the first file whose steps
    overlap its range); None when the run does not say (one file, or a tag no member has)."""
    start, end = step_range
    for tag in tags:
        for prefix, member in _members(run):
            if not tag.startswith(prefix):
                continue
            parts = member.tag_files.get(tag[len(prefix):], ())
            for file, lo, hi in reversed(parts):  # a later file supersedes the steps it logs again
                if lo <= start <= hi:
                    return file
            for file, lo, hi in parts:
                if lo <= end and hi >= start:
                    return file
            if prefix and member.sources:
                return member.sources[0]
    return None
