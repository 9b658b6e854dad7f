"""What the command line checks before it starts, and what it shows while it works.

Kept apart from cli.py so the commands stay a thin layer: input and output paths are checked
before a long analysis (a typo must not cost the whole run), a subcommand that shadows a
directory of the same name says how to analyze it, and long work shows its progress on a
terminal only.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Iterable, TextIO

from .report._write import check_writable, printable


def missing_paths(paths: Iterable[str]) -> list[str]:
    from .ingest.remote import is_url

    return [p for p in paths if not is_url(p) and not os.path.exists(p)]


def unreachable_urls(paths: Iterable[str]) -> list[str]:
    """Why each URL among `paths` cannot be analyzed (its backend is not installed, no such bucket or
    object, access denied): one request each, before a long analysis; local paths are not looked at."""
    from .ingest.remote import check, is_url

    return [why for why in (check(p) for p in paths if is_url(p)) if why]


def special_paths(paths: Iterable[str]) -> list[str]:
    """Named paths that are neither a directory nor a regular file (a FIFO, a socket, a device), with what each
    is: the user asked for them by name, so skipping them is an error (exit 2) once the others are analyzed.
    `stat` follows links and never blocks, even on a FIFO."""
    import stat

    from .ingest._open import file_kind

    out = []
    for p in paths:
        try:
            mode = os.stat(p).st_mode
        except OSError:
            continue  # missing: said before the analysis
        if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
            out.append(f"{printable(p)} ({file_kind(mode)})")
    return out


def output_errors(outputs: Iterable[tuple[str, str | None]]) -> list[str]:
    """Why each `(option, target)` cannot be written; `-` (standard output) and None are fine."""
    errors = []
    seen: dict[str, str] = {}
    for option, target in outputs:
        if not target or target == "-":
            continue
        why = check_writable(target, option)
        if why:
            errors.append(why)
        key = os.path.abspath(target)
        if key in seen:
            errors.append(f"{option} and {seen[key]} name the same file {printable(target)}")
        seen[key] = option
    return errors


def shadowed_directory(command: str) -> str | None:
    """A notice when `command` is also a directory here: the user may have meant to analyze it."""
    if os.path.isdir(command):
        return (f"loganalyze: note: `{command}` is a command, and ./{command} here is a directory: to analyze the "
                f"directory, run `loganalyze analyze {command}/` (or `loganalyze ./{command}`)")
    return None


class Progress:
    """`reading 120/900 files` on one line of stderr, rewritten in place.

    Shown only on a terminal and only once the work has lasted `delay` seconds, so pipes, CI logs
    and quick runs see nothing; the line is cleared when the work ends.
    """

    def __init__(self, stream: TextIO | None = None, delay: float = 1.5, interval: float = 0.1):
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.delay = delay
        self.interval = interval
        self.start = time.monotonic()
        self.last = 0.0
        self.width = 0

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.start < self.delay or (now - self.last < self.interval and done < total):
            return
        self.last = now
        what = {"read": "files read", "analyze": "runs analyzed"}.get(stage, stage)
        text = f"loganalyze: {done:,}/{total:,} {what}"
        self.stream.write("\r" + text.ljust(self.width))
        self.stream.flush()
        self.width = len(text)

    def close(self) -> None:
        if self.enabled and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
            self.width = 0
