"""Opening a log safely: only regular files, every read bounded, gzip and text encodings recognized.

A FIFO, a device or a link to `/dev/zero` named like a log must not hang the analysis or fill
memory, so a file is opened without blocking and checked to be a regular file before one byte is
read, and never read past the size it had when opened. Gzip content is read through a
decompressor (TensorBoard and Lightning users compress old logs); a BOM picks the text encoding
(Windows tools write UTF-16). Text is handed out as lines of bounded length: a line longer than
`MAX_LINE` or holding NUL bytes (a preallocated or torn file) is reported and skipped, so a
gigabyte of zeros costs time in proportion to its size and no memory.
"""
from __future__ import annotations

import codecs
import errno
import io
import os
import shutil
import stat
import tempfile
import zlib
from contextlib import contextmanager
from itertools import chain
from typing import BinaryIO, Iterator

from ..model import Problem
from .remote import RemoteError, is_url

LFS_MAGIC = b"version https://git-lfs.github.com/spec"
GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 20
EXPANSION, MIN_EXPANSION_LIMIT = 200, 1 << 30
"""Gzip content is read up to 200x the compressed size (logs compress 3-20x), at least 1 GiB."""
MAX_LINE = 1 << 20
"""Characters. Real log lines are short; a longer one is damage (or a file that is not a log)."""

_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8"),
         (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


class Unreadable(Exception):
    """A file that cannot be read at all; `problem` says why."""

    def __init__(self, problem: Problem):
        super().__init__(problem.detail)
        self.problem = problem


def file_kind(mode: int) -> str | None:
    """What a non-regular file is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    for test, name in ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory")):
        if test(mode):
            return name
    return "not a regular file"


def not_regular(path: str, mode: int) -> Problem:
    where = f" (a link to {os.path.realpath(path)})" if os.path.islink(path) else ""
    return Problem("not_regular_file", path, f"{file_kind(mode)}{where}, not a regular file: skipped",
                   {"file_type": file_kind(mode)})


_ZEROS = memoryview(bytes(CHUNK))


def _zeros(n: int) -> memoryview | bytes:
    return _ZEROS[:n] if n <= CHUNK else bytes(n)


class RegularFile(io.RawIOBase):
    """A regular file, read up to the size it had when opened, whatever it grows to; a hole of a sparse
    file is handed out as zeros without reading it (the kernel would zero-fill every page of it)."""

    def __init__(self, fd: int, size: int):
        self.fd, self.size, self.pos = fd, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.fd

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = max(0, offset + (0, self.pos, self.size)[whence])
        return self.pos

    def _data_from(self, at: int) -> int:
        """Where data starts at or after `at` (`at` itself where holes cannot be told)."""
        try:
            return os.lseek(self.fd, at, os.SEEK_DATA)
        except (AttributeError, OSError) as e:  # no SEEK_DATA here, or ENXIO: a hole up to the end
            return self.size if isinstance(e, OSError) and e.errno == errno.ENXIO else at

    def readinto(self, b) -> int:
        view = memoryview(b).cast("B")
        n = min(len(view), self.size - self.pos)
        done = 0
        while done < n:
            at = self.pos + done
            data = self._data_from(at)
            if data > at:
                z = min(data, self.pos + n) - at
                view[done : done + z] = _zeros(z)
                done += z
                continue
            got = os.preadv(self.fd, [view[done:n]], at) if hasattr(os, "preadv") else self._pread(view, done, n, at)
            if got <= 0:  # the file shrank while we read it
                break
            done += got
        self.pos += done
        return done

    def _pread(self, view: memoryview, done: int, n: int, at: int) -> int:
        os.lseek(self.fd, at, os.SEEK_SET)
        data = os.read(self.fd, n - done)
        view[done : done + len(data)] = data
        return len(data)

    def read(self, size: int = -1) -> bytes:
        n = self.size - self.pos if size is None or size < 0 else min(size, max(0, self.size - self.pos))
        if n and self._data_from(self.pos) >= self.pos + n:  # all hole: calloc'd zeros, never touched
            self.pos += n
            return bytes(n)
        if n and hasattr(os, "pread") and self._data_from(self.pos) == self.pos:  # data here: read straight into new bytes, no copy
            data = os.pread(self.fd, n, self.pos)
            if len(data) == n:  # (a hole further on reads as zeros either way)
                self.pos += n
                return data
        buf = bytearray(n)
        got = self.readinto(buf)
        return bytes(buf[:got]) if got < n else bytes(buf)

    def close(self) -> None:
        if not self.closed:
            os.close(self.fd)
        super().close()


class GzipContent(io.RawIOBase):
    """The decompressed content of a gzip file. A damaged or cut stream ends the content there and is
    kept as `problem`: what was decompressed before it is still read."""

    def __init__(self, raw: RegularFile, path: str):
        self.source = raw
        self.raw = io.BufferedReader(raw, CHUNK)
        import gzip  # here: most logs are not compressed, and the module costs every run its import

        self.gz = gzip.GzipFile(fileobj=self.raw, mode="rb")
        self.path = path
        self.problem: Problem | None = None
        self.limit = max(MIN_EXPANSION_LIMIT, EXPANSION * (raw.size or 0))  # a gzip bomb ends here
        self.total = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if self.problem is not None:
            return 0
        try:
            data = self.gz.read1(len(b))
        except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError
            cut = isinstance(e, EOFError)
            # a remote read that failed ends the stream too: its failure is the one to report
            self.problem = getattr(self.source, "problem", None) or Problem(
                "truncated_record" if cut else "parse_error", self.path,
                f"the gzip stream is {'cut short' if cut else 'damaged'} ({e}); what came before it was read",
                {"error": str(e)})
            return 0
        if self.total + len(data) > self.limit:
            data = data[: self.limit - self.total]
            self.problem = Problem("too_large", self.path, f"decompresses to more than {self.limit:,} bytes, "
                                   f"{EXPANSION}x its size (a gzip bomb?): read that far", {"limit_bytes": self.limit})
        self.total += len(data)
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.gz.close()
        self.raw.close()
        super().close()


class Opened:
    """An open log: `stream` gives its content (decompressed when it is gzip); `problems` are what was
    found on the way in (gzip content under a name without `.gz`, a damaged gzip stream): ask once the
    content has been read."""

    def __init__(self, path: str, stream: BinaryIO, size: int, compressed: bool, notes: list[Problem]):
        self.path, self.stream, self.size, self.compressed, self.notes = path, stream, size, compressed, notes

    @property
    def problems(self) -> list[Problem]:
        damage = getattr(self.stream, "problem", None)
        return self.notes + ([damage] if damage else [])

    def __enter__(self) -> "Opened":
        return self

    def __exit__(self, *exc) -> None:
        self.stream.close()


def open_regular(path: str) -> RegularFile:
    """A regular file, opened without blocking; `Unreadable` for anything else (a FIFO would block the
    open, `/dev/zero` would never end)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as e:
        try:
            mode = os.stat(path).st_mode
        except OSError:
            mode = stat.S_IFREG
        if not stat.S_ISREG(mode):  # a socket cannot be opened at all: say what it is
            raise Unreadable(not_regular(path, mode)) from None
        raise Unreadable(Problem("unreadable", path, f"cannot read: {e.strerror or e}")) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise Unreadable(not_regular(path, st.st_mode))
    return RegularFile(fd, st.st_size)


def open_log(path: str) -> Opened:
    """The content of a log file (a local path or a URL), bounded and decompressed; `Unreadable` when
    there is none to read."""
    if is_url(path):
        from .remote import open_remote

        try:
            raw = open_remote(path)
        except RemoteError as e:
            raise Unreadable(e.problem) from None
    else:
        raw = open_regular(path)
    head = raw.read(len(LFS_MAGIC))
    failed = getattr(raw, "problem", None)  # a remote file whose first bytes cannot be had: nothing to read
    if failed is not None:
        raw.close()
        raise Unreadable(failed)
    raw.seek(0)
    if head.startswith(LFS_MAGIC):
        raw.close()
        raise Unreadable(Problem("lfs_pointer", path, "this is a Git LFS pointer, not the log: run `git lfs pull` "
                                                      "to fetch the file", {"bytes": raw.size}))
    if not head.startswith(GZIP_MAGIC):
        return Opened(path, raw, raw.size, False, [])
    problems = []
    if not path.lower().endswith((".gz", ".gzip")):
        problems.append(Problem("misnamed_gzip", path, "gzip-compressed content under a name without `.gz`: "
                                "read through gzip (name it …gz, or gunzip it)", {"bytes": raw.size}))
    return Opened(path, GzipContent(raw, path), raw.size, True, problems)  # type: ignore[arg-type]


@contextmanager
def seekable_log(path: str) -> Iterator[tuple[BinaryIO, list[Problem]]]:
    """(file, notes) for a reader that seeks: a regular file as it is, gzip content decompressed into a
    temporary file first (seeking back in a gzip stream would decompress from the start each time), as
    is a remote stream that cannot seek (an HTTP server that ignores ranges). The notes of a file read
    as it is are only those found on opening: its `problem`, if any, comes with reading."""
    opened = open_log(path)
    with opened:
        if not opened.compressed and opened.stream.seekable():
            yield opened.stream, opened.problems
            return
        with tempfile.TemporaryFile() as tmp:
            shutil.copyfileobj(opened.stream, tmp, CHUNK)
            tmp.flush()
            tmp.seek(0)
            yield tmp, opened.problems


def _read_full(stream: BinaryIO, n: int) -> bytes:
    """`n` bytes, fewer only at the end (a raw stream may hand out less per call)."""
    data = stream.read(n)
    if not data or len(data) == n:
        return data
    parts = [data]
    got = len(data)
    while got < n:
        more = stream.read(n - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


class TextLines:
    """The lines of a text log, decoded by its BOM (UTF-8 without one), any line ending (`\\n`, `\\r\\n`,
    `\\r`), each at most `MAX_LINE` long.

    A line that is too long or holds NUL bytes comes out as "" (so line numbers stay true) and is
    counted in `long_lines` / `nul_lines`; `problems()` reports them.
    """

    def __init__(self, opened: Opened, max_line: int = MAX_LINE, chunk: int = CHUNK):
        self.opened, self.max_line, self.chunk = opened, max_line, chunk
        self.long_lines: list[int] = []
        self.nul_lines: list[int] = []
        self.long_count = self.nul_count = 0
        self.encoding = "utf-8"
        self.head = ""  # the first decoded characters, to tell text from binary content
        self.cut_line: int | None = None

    def chunks(self) -> Iterator[str]:
        """The text, decoded a chunk at a time."""
        stream = self.opened.stream
        first = _read_full(stream, self.chunk)
        for bom, enc in _BOMS:
            if first.startswith(bom):
                self.encoding = enc
                first = first[len(bom):]
                break
        dec = codecs.getincrementaldecoder(self.encoding)(errors="replace")
        data = first
        while data:
            text = dec.decode(data)
            if text:
                self.head = self.head or text[:4096]
                yield text
            data = _read_full(stream, self.chunk)
        tail = dec.decode(b"", final=True)
        if tail:
            yield tail

    def __iter__(self) -> Iterator[str]:
        return chain.from_iterable(lines for _, lines in self.batches())

    def batches(self, chunks: Iterator[str] | None = None) -> Iterator[tuple[int, list[str]]]:
        """(number of the first line, lines) for each chunk read: a list per chunk, no Python step per line.
        `chunks`: the text from `chunks()` when the caller has looked at its start already."""
        pending = ""
        skipping = False  # inside a line already over the limit: drop until its end
        skipped = self._long
        carry = ""
        lineno = 0
        for chunk in self.chunks() if chunks is None else chunks:
            text = carry + chunk
            carry = ""
            if text.endswith("\r"):  # maybe the first half of "\r\n"
                carry, text = "\r", text[:-1]
            if "\r" in text:
                text = text.replace("\r\n", "\n").replace("\r", "\n")
            parts = text.split("\n")
            last = parts.pop()
            if parts:
                if skipping:
                    parts[0] = ""
                    skipping = False
                    skipped(lineno + 1)
                else:
                    parts[0] = pending + parts[0]
                pending = ""
                first = lineno + 1
                lineno += len(parts)
                if "\x00" in text or max(map(len, parts)) > self.max_line:
                    self._clean(parts, first)
                yield first, parts
            if skipping:
                continue
            pending += last
            if len(pending) > self.max_line:
                skipped = self._nul if "\x00" in pending else self._long  # zeros: a preallocated or torn file
                pending, skipping = "", True
        if skipping:
            skipped(lineno + 1)
        elif pending and getattr(self.opened.stream, "problem", None) is not None:
            self.cut_line = lineno + 1  # the stream broke off mid-line: its end may be missing
        elif pending or carry:
            parts = [pending]
            self._clean(parts, lineno + 1)
            yield lineno + 1, parts

    def _clean(self, parts: list[str], first: int) -> None:
        """Blank out (and count) the lines that are too long or hold NUL bytes."""
        for k, line in enumerate(parts):
            if len(line) > self.max_line:
                self._long(first + k)
                parts[k] = ""
            elif "\x00" in line:
                self._nul(first + k)
                parts[k] = ""

    def _long(self, lineno: int) -> None:
        self.long_count += 1
        if len(self.long_lines) < 10:
            self.long_lines.append(lineno)

    def _nul(self, lineno: int) -> None:
        self.nul_count += 1
        if len(self.nul_lines) < 10:
            self.nul_lines.append(lineno)

    def problems(self) -> list[Problem]:
        path = self.opened.path
        out = []
        if self.cut_line is not None:
            out.append(Problem("parse_error", path, f"line {self.cut_line}, where the compressed stream ends, may be "
                                                    "cut short: skipped", {"count": 1, "lines": [self.cut_line]}))
        if self.long_count:
            out.append(Problem("parse_error", path, f"{self.long_count} line(s) are longer than {self.max_line:,} "
                                                 f"characters (first: line {self.long_lines[0]}): damaged, skipped",
                               {"count": self.long_count, "lines": self.long_lines}))
        if self.nul_count:
            out.append(Problem("parse_error", path, f"{self.nul_count} line(s) hold NUL bytes (first: line "
                                                 f"{self.nul_lines[0]}; a torn or preallocated file): skipped",
                               {"count": self.nul_count, "lines": self.nul_lines}))
        return out
