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
from typing import Iterator, Sequence

from ..model import Problem
from ._open import TextLines, Unreadable, not_regular, open_log
from .remote import is_url

SKIP_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".pt", ".pth", ".ckpt", ".bin", ".safetensors", ".h5",
                 ".hdf5", ".npy", ".npz", ".pkl", ".pickle", ".onnx", ".yaml", ".yml", ".py", ".md", ".txt", ".pb",
                 ".index", ".data-00000-of-00001", ".html", ".ipynb", ".tar", ".gz", ".zip", ".model", ".json5"}
SKIP_DIRS = {".git", "__pycache__", ".ipynb_checkpoints", "node_modules", ".venv"}


@dataclass(frozen=True)
class RunSource:
    name: str
    kind: str  # "tfevents", "csv", "json"
    files: tuple[str, ...]


def classify(path: str | Path) -> str | None:
    """The reader for a file, or None when it is not a log we read. A `.gz` log is classified by the
    name inside (`metrics.csv.gz` is a CSV log). Only a regular file may be passed: a `.log` is opened.
    `path` may be a URL (a string, then: a Path would fold its `//`)."""
    name = os.path.basename(str(path)).lower()
    if "tfevents" in name:
        return "tfevents"
    suffix = os.path.splitext(name[:-3] if name.endswith(".gz") else name)[1]
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix in (".json", ".jsonl"):
        return "json"
    if suffix == ".log" and _looks_like_csv(str(path)):
        return "csv"  # Keras CSVLogger writes training.log
    return None


def _looks_like_csv(path: str) -> bool:
    try:
        with open_log(path) as opened:  # the first 4 KiB, whatever the file holds
            first = re.match(r"[^\r\n]*", next(TextLines(opened, chunk=4096).chunks(), "")).group()
    except Unreadable:
        return False
    cells = [c.strip().lower() for c in first.replace("\t", ",").replace(";", ",").split(",")]
    return len(cells) >= 2 and any(c in ("epoch", "step", "loss", "iteration") or c.endswith("loss") for c in cells)


def _run_name(arg: str, rel: str, several: bool) -> str:
    base = arg.rstrip("/") if is_url(arg) else os.path.normpath(arg)
    if rel in ("", "."):
        return base
    rel = rel.replace(os.sep, "/")
    return f"{base}/{rel}".replace(os.sep, "/") if several else rel


Tree = Iterator[tuple[str, list[tuple[str, str]]]]
"""(directory relative to the argument, [(file, identity)]) for each directory, top down, sorted: the
regular files only. The identity (real path, URL) makes a file reached twice count once."""


def _local(arg: str, problems: list[Problem]) -> tuple[str | None, Tree | None]:
    """(identity of the single file `arg` names, or None; the tree under `arg`, or None)."""
    root = Path(arg)
    if not root.exists():
        problems.append(Problem("not_found", arg, "no such file or directory"))
        return None, None
    if not root.is_dir():
        mode = os.stat(root).st_mode
        if not stat.S_ISREG(mode):
            problems.append(not_regular(arg, mode))
            return None, None
        return os.path.realpath(root), None
    return None, _local_tree(arg, root, problems)


def _local_tree(arg: str, root: Path, problems: list[Problem]) -> Tree:
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
        files = []
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
            files.append((full, os.path.realpath(full)))
        yield os.path.relpath(dirpath, root), files


def _remote(arg: str, problems: list[Problem]) -> tuple[str | None, Tree | None]:
    """As `_local`, for a URL: one listing of the whole tree (an object store lists by prefix)."""
    from .remote import RemoteError, walk

    try:
        is_dir, dirs, skipped = walk(arg)
    except RemoteError as e:
        problems.append(e.problem)
        return None, None
    problems += skipped
    if not is_dir:
        return arg, None
    return None, ((rel, [(url, url) for url in files]) for rel, files in dirs
                  if not SKIP_DIRS.intersection(rel.split("/")))


def discover(paths: Sequence[str | Path]) -> tuple[list[RunSource], list[Problem]]:
    """The runs under `paths` (local paths or URLs), and what was skipped on the way."""
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
        single, tree = (_remote if is_url(arg) else _local)(arg, problems)
        if single is not None:
            suffix = os.path.splitext(arg.lower())[1]
            kind = classify(arg) or ("csv" if suffix in (".log", ".txt") else None)
            if kind is None:
                problems.append(Problem("unknown_file", arg, "not a log loganalyze reads (TensorBoard event file, "
                                        "CSV/TSV, trainer_state.json, JSON lines)"))
            elif single not in seen_files:
                seen_files.add(single)
                add(arg.rstrip("/") if is_url(arg) else os.path.normpath(arg), kind, [arg])
            continue
        if tree is None:
            continue
        unknown: list[str] = []
        for rel_dir, files in tree:
            events: list[str] = []
            for full, key in files:
                fname = os.path.basename(full)
                kind = classify(full)
                if kind is None:
                    if os.path.splitext(fname)[1].lower() not in SKIP_SUFFIXES and not fname.startswith("."):
                        unknown.append(full)
                    continue
                if key in seen_files:
                    continue
                seen_files.add(key)
                if kind == "tfevents":
                    events.append(full)
                else:
                    add(_run_name(arg, fname if rel_dir == "." else os.path.join(rel_dir, fname), several), kind, [full])
            if events:
                add(_run_name(arg, rel_dir, several), "tfevents", events)
        if unknown:
            problems.append(Problem("unknown_file", arg,
                                    f"{len(unknown)} file(s) are not logs loganalyze reads and were skipped "
                                    f"(e.g. {', '.join(sorted(unknown)[:3])})",
                                    {"count": len(unknown), "examples": sorted(unknown)[:10]}))
    return sorted(sources.values(), key=lambda s: s.name), problems
