"""Discovery: which files under the user's paths are logs, and how they group into runs.

As in TensorBoard, every directory holding event files is one run, named by its path
relative to the argument; every CSV / JSON log is a run of its own. Nothing found here is
fatal: loops, unreadable directories and files we do not know are reported and skipped.
"""
from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..model import Problem
from ._open import TextLines, Unreadable, not_regular, open_log

SKIP_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".pt", ".pth", ".ckpt", ".bin", ".safetensors", ".h5",
                 ".hdf5", ".npy", ".npz", ".pkl", ".pickle", ".onnx", ".yaml", ".yml", ".py", ".md", ".txt", ".pb",
                 ".index", ".data-00000-of-00001", ".html", ".ipynb", ".tar", ".gz", ".zip", ".model", ".json5"}
SKIP_DIRS = {".git", "__pycache__", ".ipynb_checkpoints", "node_modules", ".venv"}


@dataclass(frozen=True)
class RunSource:
    name: str
    kind: str  # "tfevents", "csv", "json"
    files: tuple[str, ...]


def classify(path: Path) -> str | None:
    """The reader for a file, or None when it is not a log we read. A `.gz` log is classified by the
    name inside (`metrics.csv.gz` is a CSV log). Only a regular file may be passed: a `.log` is opened."""
    name = path.name.lower()
    if "tfevents" in name:
        return "tfevents"
    inner = Path(name[:-3]) if name.endswith(".gz") else Path(name)
    suffix = inner.suffix
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix in (".json", ".jsonl"):
        return "json"
    if suffix == ".log" and _looks_like_csv(path):
        return "csv"  # Keras CSVLogger writes training.log
    return None


def _looks_like_csv(path: Path) -> bool:
    try:
        with open_log(str(path)) as opened:  # the first 4 KiB, whatever the file holds
            first = re.match(r"[^\r\n]*", next(TextLines(opened, chunk=4096).chunks(), "")).group()
    except Unreadable:
        return False
    cells = [c.strip().lower() for c in first.replace("\t", ",").replace(";", ",").split(",")]
    return len(cells) >= 2 and any(c in ("epoch", "step", "loss", "iteration") or c.endswith("loss") for c in cells)


def _run_name(arg: str, rel: str, several: bool) -> str:
    base = os.path.normpath(arg)
    if rel in ("", "."):
        return base
    rel = rel.replace(os.sep, "/")
    return f"{base}/{rel}".replace(os.sep, "/") if several else rel


def discover(paths: Sequence[str | Path]) -> tuple[list[RunSource], list[Problem]]:
    sources: dict[str, RunSource] = {}
    problems: list[Problem] = []
    seen_files: set[str] = set()
    several = len(paths) > 1

    def add(name: str, kind: str, files: list[str]) -> None:
        unique = name
        i = 2
        while unique in sources:
            unique = f"{name}#{i}"
            i += 1
        sources[unique] = RunSource(unique, kind, tuple(sorted(files)))

    for arg in paths:
        arg = str(arg)
        root = Path(arg)
        if not root.exists():
            problems.append(Problem("not_found", arg, "no such file or directory"))
            continue
        if not root.is_dir():
            mode = os.stat(root).st_mode
            if not stat.S_ISREG(mode):
                problems.append(not_regular(arg, mode))
                continue
            kind = classify(root) or ("csv" if root.suffix.lower() in (".log", ".txt") else None)
            real = os.path.realpath(root)
            if kind is None:
                problems.append(Problem("unknown_file", arg, "not a log loganalyze reads (TensorBoard event file, "
                                        "CSV/TSV, trainer_state.json, JSON lines)"))
            elif real not in seen_files:
                seen_files.add(real)
                add(os.path.normpath(arg), kind, [arg])
            continue
        unknown: list[str] = []
        visited: set[tuple[int, int]] = set()

        def onerror(err: OSError) -> None:
            problems.append(Problem("unreadable", str(err.filename or arg), f"cannot list directory: {err.strerror or err}"))

        for dirpath, dirnames, filenames in os.walk(root, onerror=onerror, followlinks=True):
            try:
                st = os.stat(dirpath)
            except OSError as e:
                problems.append(Problem("unreadable", dirpath, f"cannot stat: {e.strerror or e}"))
                dirnames[:] = []
                continue
            key = (st.st_dev, st.st_ino)
            if key in visited:
                problems.append(Problem("symlink_loop", dirpath, "directory already visited through a symbolic link; skipped"))
                dirnames[:] = []
                continue
            visited.add(key)
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
            events: list[str] = []
            rel_dir = os.path.relpath(dirpath, root)
            for fname in sorted(filenames):
                full = os.path.join(dirpath, fname)
                try:
                    mode = os.stat(full).st_mode
                except OSError as e:
                    detail = "broken symbolic link" if os.path.islink(full) else f"cannot stat: {e.strerror or e}"
                    problems.append(Problem("unreadable", full, detail))
                    continue
                if not stat.S_ISREG(mode):  # a FIFO, device or socket: opening or reading it could hang
                    problems.append(not_regular(full, mode))
                    continue
                kind = classify(Path(full))
                if kind is None:
                    if Path(fname).suffix.lower() not in SKIP_SUFFIXES and not fname.startswith("."):
                        unknown.append(full)
                    continue
                real = os.path.realpath(full)
                if real in seen_files:
                    continue
                seen_files.add(real)
                if kind == "tfevents":
                    events.append(full)
                else:
                    add(_run_name(arg, os.path.relpath(full, root), several), kind, [full])
            if events:
                add(_run_name(arg, rel_dir, several), "tfevents", events)
        if unknown:
            problems.append(Problem("unknown_file", arg,
                                    f"{len(unknown)} file(s) are not logs loganalyze reads and were skipped "
                                    f"(e.g. {', '.join(sorted(unknown)[:3])})",
                                    {"count": len(unknown), "examples": sorted(unknown)[:10]}))
    return sorted(sources.values(), key=lambda s: s.name), problems
