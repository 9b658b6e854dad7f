"""A baseline of logs, analyzed once: its JSON report kept in a cache for the next comparison.

A pre-merge check compares every change with the same committed baseline. Analyzing the baseline's
logs again each time doubles the work of the check, so once analyzed its JSON report (what
`--json` writes, which `loganalyze compare` reads as a baseline) is kept, keyed by everything
that determines it: this loganalyze (its version and the stamp of every file of the package), the
configuration, the baseline path, and the stamp of every log file under it (path, size,
modification and change times, inode — what git's index trusts to know a file is unchanged). A
different byte in a log, a config change or another loganalyze misses; a file that cannot be read
back is a miss too.

Where: `$LOGANALYZE_CACHE`, else `$XDG_CACHE_HOME/loganalyze/baselines` (`~/.cache/...`).
`LOGANALYZE_CACHE=off` turns it off. The newest `KEEP` reports are kept. A remote baseline (a URL) is
never cached.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Sequence

ENV = "LOGANALYZE_CACHE"
KEEP = 32
_OFF = ("off", "0", "no", "false", "none")


def directory() -> Path | None:
    """Where the reports are kept; None when the cache is off."""
    value = os.environ.get(ENV, "").strip()
    if value.lower() in _OFF:
        return None
    if value:
        return Path(value)
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "loganalyze" / "baselines"


def usable(paths: Sequence[str]) -> bool:
    """Whether a report of `paths` may come from the cache: it is on, and they are local (a remote file has
    no stamp that says it is unchanged)."""
    from .ingest.remote import is_url

    return directory() is not None and not any(is_url(p) for p in paths)


def _stamp(path: str) -> tuple:
    try:
        st = os.stat(path)
    except OSError:
        return (path, None)
    return (path, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def _package_stamp() -> list[tuple]:
    from . import __version__

    root = Path(__file__).resolve().parent
    files = sorted(str(p) for p in root.rglob("*") if p.suffix in (".py", ".toml", ".j2", ".js", ".css"))
    return [(__version__,)] + [_stamp(f) for f in files]


def key(paths: Sequence[str], config) -> str:
    """What the report of `paths` analyzed under `config` depends on, as a digest."""
    from .ingest import discover

    sources, problems = discover(paths)
    parts = [_package_stamp(), repr(config), [os.path.abspath(p) for p in paths],
             [(s.name, s.kind, [_stamp(f) for f in s.files]) for s in sources],
             sorted((p.kind, p.file) for p in problems)]
    text = repr(parts).encode("utf-8", "surrogateescape")
    return hashlib.blake2b(text, digest_size=20).hexdigest()


def load(digest: str) -> dict | None:
    """The cached report (parsed JSON), or None."""
    where = directory()
    if where is None:
        return None
    try:
        doc = json.loads((where / f"{digest}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def store(digest: str, report_text: str) -> None:
    """Keep a report; a cache that cannot be written is no error (the comparison does not need it)."""
    from .report._write import write_text

    where = directory()
    if where is None:
        return
    try:
        where.mkdir(parents=True, exist_ok=True)
        write_text(str(where / f"{digest}.json"), report_text)
        kept = sorted(where.glob("*.json"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
        for old in kept[KEEP:]:
            old.unlink()
    except OSError:
        pass
