"""Logs where they live: any fsspec URL (`s3://`, `gs://`, `https://`, `file://`, …) read like a local path.

fsspec is imported only when a URL is given, so the core install stays light; the backend of a
protocol (s3fs, gcsfs) comes with an extra, and a missing one is named in the error. Credentials
are the backend's business (environment, profile, instance role): loganalyze passes none.

A remote file is read by range requests, a window at a time, through an fsspec file object with
a read-ahead block of `CHUNK` bytes: never downloaded whole first. Whatever fails (no credentials,
access denied, no such bucket, the network mid-file, an object deleted after it was listed) is a
`Problem` naming the URL and what failed; what was read before the failure is kept.
"""
from __future__ import annotations

import io
import posixpath
import re
import tempfile
from typing import Any

from ..model import Problem

CHUNK = 1 << 20
"""The read-ahead block: one range request brings this much beyond what was asked."""

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*(://|::)")
EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "http": "remote", "https": "remote",
          "file": "remote"}
"""The loganalyze extra that brings each protocol's backend; any other protocol needs its own package."""


def is_url(path: Any) -> bool:
    """A URL for fsspec (`s3://…`, or a chained `simplecache::s3://…`) rather than a local path (which
    may hold `::`, but a local `x://` would need an empty path component: a URL it is)."""
    return isinstance(path, str) and "://" in path and _URL.match(path) is not None


def protocol(url: str) -> str:
    return re.split(r"://|::", url, maxsplit=1)[0].lower()


class RemoteError(Exception):
    """A URL that cannot be reached at all; `problem` says why."""

    def __init__(self, problem: Problem):
        super().__init__(problem.detail)
        self.problem = problem


def _why(e: BaseException) -> str:
    """The failure in words: the backend's message, with its type when the message is bare."""
    cause = e.__cause__ or e.__context__
    text = str(e).strip() or (str(cause).strip() if cause else "")
    kind = type(e).__name__
    if kind == "FileExpired":  # fsspec: the ETag changed
        return "the object was replaced since it was listed (its ETag changed): not read further"
    if isinstance(e, FileNotFoundError):
        return f"not found ({text})" if text and "does not exist" in text else "not found"
    if isinstance(e, PermissionError):
        return f"access denied ({text})" if text else "access denied"
    if "credential" in text.lower():
        return f"no credentials ({text})"
    return f"{kind}: {text}" if text else kind


def failure(url: str, action: str, e: BaseException) -> Problem:
    """A Problem for `action` (`list`, `open`, `read at byte N`) on `url` failing with `e`."""
    kind = "not_found" if isinstance(e, FileNotFoundError) else "unreadable"
    return Problem(kind, url, f"cannot {action} {url}: {_why(e)}", {"error": f"{type(e).__name__}: {e}"})


def filesystem(url: str):
    """(fsspec filesystem, path within it) for `url`; RemoteError when the backend is not installed."""
    proto = protocol(url)
    extra = EXTRAS.get(proto)
    hint = f"pip install 'loganalyze[{extra}]'" if extra else f"install fsspec and the fsspec backend for {proto}://"
    try:
        import fsspec
    except ImportError:
        raise RemoteError(Problem("missing_extra", url, f"cannot read {url}: {proto}:// paths need fsspec: {hint}",
                                  {"protocol": proto, "extra": extra})) from None
    try:
        return fsspec.core.url_to_fs(url)
    except ImportError as e:
        raise RemoteError(Problem("missing_extra", url, f"cannot read {url}: {proto}:// paths need a backend that "
                                  f"is not installed ({e}): {hint}", {"protocol": proto, "extra": extra})) from None
    except ValueError as e:  # "Protocol not known"
        raise RemoteError(Problem("unreadable", url, f"cannot read {url}: {e}")) from None
    except Exception as e:  # noqa: BLE001 — a backend may fail in its own way when it starts (credentials, config)
        raise RemoteError(failure(url, "open", e)) from None


def check(url: str) -> str | None:
    """Why `url` cannot be analyzed (backend missing, no such bucket or object, access denied), or None."""
    try:
        fs, path = filesystem(url)
        fs.info(path)
    except RemoteError as e:
        return e.problem.detail
    except Exception as e:  # noqa: BLE001
        return failure(url, "open", e).detail
    return None


class RemoteFile(io.RawIOBase):
    """A remote file as a seekable raw stream of the size it had when opened. A read that fails ends
    the content there and keeps the failure as `problem`, as a damaged gzip stream does."""

    def __init__(self, url: str, handle: Any, size: int | None, fs: Any = None, path: str = ""):
        self.url, self.handle, self.size, self.fs, self.path = url, handle, size, fs, path
        self.pos = 0
        self.spooled = False
        self.problem: Problem | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self.size is not None and self.handle.seekable()

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        end = self.size if self.size is not None else self.pos
        self.pos = max(0, offset + (0, self.pos, end)[whence])
        return self.pos

    def read(self, size: int = -1) -> bytes:
        if self.problem is not None:
            return b""
        left = None if self.size is None else max(0, self.size - self.pos)
        n = left if size is None or size < 0 else (size if left is None else min(size, left))
        if n == 0:
            return b""
        try:
            try:
                data = self._read(n)
            except ValueError as e:  # fsspec: "The HTTP server doesn't appear to support range requests"
                if "range requests" not in str(e) or self.spooled:
                    raise
                self._spool()
                data = self._read(n)
        except Exception as e:  # noqa: BLE001 — the network, the store, the backend: each raises its own types
            gone = " (deleted since it was listed?)" if isinstance(e, FileNotFoundError) else ""
            kept = "; what was read before it is kept" if self.pos else ""
            self.problem = Problem("not_found" if gone else "unreadable", self.url,
                                   f"reading {self.url} failed at byte {self.pos:,}: {_why(e)}{gone}{kept}",
                                   {"offset": self.pos, "error": f"{type(e).__name__}: {e}"})
            return b""
        self.pos += len(data)
        return data

    def _read(self, n: int | None) -> bytes:
        if self.handle.tell() != self.pos:
            self.handle.seek(self.pos)
        return self.handle.read(-1 if n is None else n)

    def _spool(self) -> None:
        """A server that ignores range requests (`python -m http.server`): the one way left is to stream
        the file once, into a temporary file on disk, and read that."""
        stream = self.fs.open(self.path, "rb", block_size=0)
        spool = tempfile.TemporaryFile()
        try:
            with stream:
                left = self.size
                while left is None or left > 0:
                    chunk = stream.read(CHUNK if left is None else min(CHUNK, left))
                    if not chunk:
                        break
                    spool.write(chunk)
                    left = None if left is None else left - len(chunk)
        except BaseException:
            spool.close()
            raise
        self.handle.close()
        self.handle, self.spooled = spool, True

    def readinto(self, b) -> int:
        data = self.read(len(b))
        memoryview(b).cast("B")[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            try:
                self.handle.close()
            except Exception:  # noqa: BLE001 — nothing was written: closing cannot lose anything
                pass
        super().close()


def open_remote(url: str) -> RemoteFile:
    """`url` opened for range reads; RemoteError when it cannot be opened."""
    fs, path = filesystem(url)
    try:
        # the object as it is now, not as listed: a live run's logs are rewritten while we read the others.
        # Once open, a backend that can (s3fs: the ETag) refuses to mix versions: that read fails, named.
        fs.invalidate_cache(path)
        handle = fs.open(path, "rb", block_size=CHUNK, cache_type="readahead")
    except Exception as e:  # noqa: BLE001
        problem = failure(url, "open", e)
        if isinstance(e, FileNotFoundError):  # it was there when the tree was listed
            problem = Problem(problem.kind, url, problem.detail + " (deleted since it was listed?)", problem.data)
        raise RemoteError(problem) from None
    size = getattr(handle, "size", None)
    return RemoteFile(url, handle, size if isinstance(size, int) else None, fs, path)


def walk(url: str) -> tuple[bool, list[tuple[str, list[str]]], list[Problem]]:
    """(whether `url` is a directory, its tree, what was skipped). The tree is (directory relative to
    `url`, the files in it as URLs) for each directory holding files, sorted, as `os.walk` gives them
    for a local tree; an object store has no empty directories, links or FIFOs (a `file://` tree may:
    they are skipped). RemoteError when `url` cannot be listed."""
    fs, path = filesystem(url)
    try:
        fs.invalidate_cache(path)  # a listing cached by an earlier call in this process may be stale
        info = fs.info(path)
    except Exception as e:  # noqa: BLE001
        raise RemoteError(failure(url, "open", e)) from None
    if info.get("type") != "directory":
        if info.get("type") not in ("file", None):
            raise RemoteError(_odd(url, info))
        return False, [], []
    try:
        found = fs.find(path, withdirs=False, detail=True)
    except Exception as e:  # noqa: BLE001
        raise RemoteError(failure(url, "list", e)) from None
    base = url.rstrip("/")
    root = info.get("name", path).rstrip("/")
    dirs: dict[str, list[str]] = {}
    skipped = []
    for name, entry in found.items():
        rel = posixpath.relpath(name.rstrip("/"), root) if root else name
        if rel.startswith("../"):
            continue
        if entry.get("type", "file") != "file":
            skipped.append(_odd(f"{base}/{rel}", entry))
            continue
        parent = posixpath.dirname(rel)
        dirs.setdefault(parent or ".", []).append(f"{base}/{rel}")
    return True, [(d, sorted(dirs[d])) for d in sorted(dirs, key=lambda d: d.split("/"))], skipped


def _odd(url: str, info: dict) -> Problem:
    kind = info.get("type") or "not a file"
    return Problem("not_regular_file", url, f"listed as {kind!r}, not a regular file (a FIFO, device, socket or "
                   "link to a directory): skipped", {"file_type": kind})
