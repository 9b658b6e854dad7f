"""TensorBoard event files: TFRecord frames of `Event` protobufs, read fast and without loss.

Speed comes from not building a Python object per event. One loop walks the frames and
checks both CRCs; then the common layout (PyTorch / tensorboardX / TF1 `simple_value`, one
value per event) is decoded for all records at once with numpy. Everything else (TF2 tensor
summaries, hparams, multi-value summaries) goes through the protobuf classes, record by record.
Both paths give the same points; the tests check that.

Memory stays bounded: the file is read in windows of `WINDOW` bytes, a record cut by a window
boundary is carried into the next one, and only the decoded points (24 bytes each) are kept.
The window size changes nothing in the result; the tests check that too.

Damage never raises: a bad payload CRC drops that record, a bad length CRC resynchronizes
on the next valid frame, a truncated tail keeps everything before it. All of it is reported,
with absolute byte offsets.
"""
from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass, field
from itertools import repeat
from operator import getitem
from pathlib import Path
from typing import Any, BinaryIO, Sequence

import google_crc32c
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..model import Problem, Series
from ._open import Unreadable, seekable_log
from .rewind import duplicate_problem, restart_groups, rewind_problems, supersede

_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")
_LFS_MAGIC = b"version https://git-lfs.github.com/spec"
_MAX_RECORD = 1 << 31

WINDOW = 1 << 20
"""Bytes read at a time. Bigger saves nothing measurable; a record longer than this gets a window of its own."""

DT_FLOAT, DT_DOUBLE, DT_HALF = 1, 2, 19

Points = dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
"""One file's scalars: tag -> (step int64, value float64, wall_time float64), in the order written."""


@dataclass
class EventData:
    series: dict[str, Series]
    problems: list[Problem]
    hparams: dict[str, Any] = field(default_factory=dict)
    # earlier training attempts a restart from scratch superseded: (their files, their series)
    attempts: list[tuple[list[str], dict[str, Series]]] = field(default_factory=list)
    tag_files: dict[str, tuple[tuple[str, int, int], ...]] = field(default_factory=dict)  # see model.Run


def masked_crc(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _crc_table() -> np.ndarray:
    table = np.zeros(256, dtype=np.uint32)
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table[i] = c
    return table


_TABLE = _crc_table()


def _masked_crc_rows(rows: np.ndarray) -> np.ndarray:
    """Masked CRC32C of each row of a (n, k) uint8 array, vectorized over rows (k is small).

    Two bytes a step, through a table of 65,536 entries (the byte table applied twice): half the
    numpy passes of a byte at a time, for the same CRC."""
    crc = np.full(len(rows), 0xFFFFFFFF, dtype=np.uint32)
    width = rows.shape[1]
    even = width - width % 2
    if even:
        table = _table16()
        pairs = np.ascontiguousarray(rows[:, :even]).view("<u2")
        for j in range(even // 2):
            index = crc ^ pairs[:, j]
            index &= np.uint32(0xFFFF)
            crc >>= np.uint32(16)
            crc ^= table[index]
    if width % 2:
        crc = _TABLE[(crc ^ rows[:, -1]) & 0xFF] ^ (crc >> np.uint32(8))
    return _mask(crc ^ np.uint32(0xFFFFFFFF))


_TABLE16: np.ndarray | None = None


def _table16() -> np.ndarray:
    """The CRC32C step for two bytes at once: entry x is the byte table applied to x's low byte, then the next."""
    global _TABLE16
    if _TABLE16 is None:
        c = np.arange(1 << 16, dtype=np.uint32)
        for _ in range(2):
            c = _TABLE[c & 0xFF] ^ (c >> np.uint32(8))
        _TABLE16 = c
    return _TABLE16


_SHORT = 96  # bytes: below this a record's CRC costs less as a column of a numpy table walk than as a C call
_ROWS = 32  # records of one length in a window worth a table walk


def _payload_crcs(data: bytes, a: np.ndarray, offsets: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Masked CRC32C of each payload `data[offsets[i]:ends[i]]`.

    A scalar event is 30–60 bytes, and a C call per record costs more than the checksum itself: records
    of one length are taken as the rows of a matrix and walked column by column with the CRC table (two
    to three times faster for a log of scalars). Long records (images, histograms), and lengths too rare
    to fill a matrix, go to google_crc32c one by one."""
    lengths = ends - offsets
    out = np.empty(len(offsets), dtype=np.uint32)
    one_by_one = []
    for width, rows in _by_value(lengths):
        if width <= _SHORT and len(rows) >= _ROWS:
            out[rows] = _masked_crc_rows(_gather(a, offsets[rows], width))
        else:
            one_by_one.append(rows)
    if one_by_one:
        rows = np.concatenate(one_by_one)
        raw = np.fromiter(map(google_crc32c.value, map(getitem, repeat(data), map(slice, offsets[rows].tolist(),
                                                                                  ends[rows].tolist()))),
                          dtype=np.uint32, count=len(rows))
        out[rows] = _mask(raw)
    return out


_FEW = 16  # distinct values up to which grouping takes one comparison per value rather than a sort


def _by_value(x: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """(value, the indices holding it, ascending) for each distinct value of a non-negative int array, by value.

    A window of scalar events has a handful of record lengths: one pass over the array per length costs
    less than sorting it (a stable argsort of 20,000 lengths takes a millisecond, fifty times a pass)."""
    if len(x) == 0:
        return []
    top = int(x.max())
    if top < 4096:
        values = np.flatnonzero(np.bincount(x, minlength=top + 1))
        if len(values) <= _FEW:
            return [(v, np.flatnonzero(x == v)) for v in values.tolist()]
    order = np.argsort(x, kind="stable")
    cuts = np.flatnonzero(np.diff(x[order])) + 1
    return [(int(x[rows[0]]), rows) for rows in np.split(order, cuts)]


def _length_crcs_ok(a: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Whether the header at each start holds the masked CRC of its length field (`lengths`, as read from it).

    The CRC depends on the length alone, and a window holds a few distinct lengths: one C call each."""
    stored = _at(a, starts + 8, "<u4")
    expect = np.empty(len(starts), dtype=np.uint32)
    for length, rows in _by_value(lengths):
        expect[rows] = masked_crc(_U64.pack(length))
    return stored == expect


def _mask(crc: np.ndarray) -> np.ndarray:
    return ((crc >> np.uint32(15)) | (crc << np.uint32(17))) + np.uint32(0xA282EAD8)


def _headers_ok(heads: np.ndarray) -> np.ndarray:
    """Which (n, 12) rows are a length field followed by its masked CRC."""
    return _masked_crc_rows(heads[:, :8]) == np.ascontiguousarray(heads[:, 8:12]).view("<u4").ravel()


def _walk(buf: bytes, pos: int, n: int, a: np.ndarray | None = None,
          history: np.ndarray | None = None) -> tuple[np.ndarray, int, np.ndarray]:
    """Header positions from `pos`, trusting the lengths; stops where a length cannot be right.

    Writers repeat themselves: the same tags in the same order give record lengths that cycle
    (five tags a step, and two more every hundred steps, is a cycle of 502 records). So records
    are walked one by one until their lengths have repeated twice with some period, and then the
    next thousands of positions are predicted from that cycle and confirmed at once with numpy: a
    prediction is kept up to the first position whose length field differs from the predicted
    length, and from there the one-by-one walk goes on. What is kept is exactly what the
    one-by-one walk finds, since each position follows from the previous one and its length.

    `history`: the lengths the walk of the window before ended with (returned as the third value), so
    that a cycle seen there is predicted here after a few records instead of two cycles walked again.
    """
    if a is None:
        a = np.frombuffer(buf, dtype=np.uint8)
    found: list[np.ndarray] = []
    if history is None:
        history = np.zeros(0, dtype=np.int64)  # the latest record lengths, walked or confirmed
    probe, block = _PROBE, _PREDICT_MIN
    while True:
        steps, stop = _walk_some(buf, pos, n, probe)
        walked = np.asarray(steps, dtype=np.int64)
        found.append(walked)
        history = np.concatenate([history, np.diff(walked, append=stop) - 16])[-_HISTORY:]
        pos = stop
        if len(steps) < probe:  # the walk stopped: end of window, or a length that cannot fit
            break
        period = _period(history)
        if not period:
            probe = min(probe * 2, _HISTORY // 2)  # a longer cycle, perhaps: walk on until it shows twice
            continue
        probe = _PROBE
        predicted = np.tile(history[-period:], -(-block // period))[:block]  # the cycle, continued
        starts = pos + np.concatenate([[0], np.cumsum(predicted[:-1] + 16)])
        fits = int(np.searchsorted(starts + predicted + 16, n, side="right"))
        starts, predicted = starts[:fits], predicted[:fits]
        same = _at(a, starts, "<u8") == predicted.astype(np.uint64)
        keep = int(np.argmin(same)) if not same.all() else len(same)
        if keep:
            found.append(starts[:keep])
            history = np.concatenate([history, predicted[:keep]])[-_HISTORY:]
            pos = int(starts[keep - 1] + predicted[keep - 1] + 16)
        block = min(block * 2, _PREDICT_MAX) if keep == len(same) else _PREDICT_MIN
    return np.concatenate(found), pos, history


_PROBE = 32  # records walked one by one before a cycle is looked for (more while none shows)
_HISTORY = 4096  # record lengths remembered: cycles up to half of it are found
_PREDICT_MIN, _PREDICT_MAX = 1024, 1 << 16  # positions predicted at once: doubled while predictions hold


def _period(lengths: np.ndarray) -> int:
    """The shortest period of the whole remembered sequence of lengths, seen at least twice, or 0.

    The whole of it, not just its end: five tags a step look like a cycle of 5 until the two
    validation records every hundred steps come by; over 4,096 records only 502 holds.
    """
    m = len(lengths)
    if m < 2:
        return 0
    # a period maps each occurrence of the rarest length onto the next: test only those distances
    groups = _by_value(lengths)
    at = min(groups, key=lambda g: len(g[1]))[1]  # the rarest (the shortest such length on a tie, as np.unique)
    for p in (at[1:] - at[0]).tolist():
        if p > m // 2:
            break
        if np.array_equal(lengths[p:], lengths[:-p]):
            return p
    return 0


def _walk_some(buf: bytes, pos: int, n: int, count: int) -> tuple[list[int], int]:
    """Up to `count` header positions from `pos`, one by one; stops early where a length cannot be right."""
    starts: list[int] = []
    append = starts.append
    unpack = _U64.unpack_from
    while pos + 16 <= n and len(starts) < count:  # n <= _MAX_RECORD + 16 (see read_event_file): no length above _MAX_RECORD fits
        end = pos + 16 + unpack(buf, pos)[0]
        if end > n:
            break
        append(pos)
        pos = end
    return starts, pos


def _resync(buf: bytes, a: np.ndarray, pos: int, n: int, room: int) -> int:
    """The first position from `pos` whose header checks out and whose record fits in the `room`
    bytes the file has from the window start; when none does, the first position without a whole
    header in the window (`n - 11`, or `pos` if beyond), where the next window must go on looking.

    Checked 4096 positions at a time with the vectorized CRC: a damaged stretch of megabytes
    costs milliseconds, not a Python step per byte.
    """
    if pos + 12 > n:
        return pos
    heads = sliding_window_view(a, 12)  # a view: row i is the 12 bytes at i
    while pos + 12 <= n:
        pos = _past_zeros(a, pos, n)
        rows = heads[pos : pos + 4096]
        for q in (np.nonzero(_headers_ok(rows))[0] + pos).tolist():
            if q + 16 + _U64.unpack_from(buf, q)[0] <= room:
                return q
        pos += len(rows)
    return pos


def _past_zeros(a: np.ndarray, pos: int, n: int) -> int:
    """The first position from `pos` that may start a header: twelve zero bytes never do (the CRC of a
    zero length is not zero), so a stretch of zeros (a preallocated or sparse file) is passed at memory
    speed, not 4096 CRCs at a time. At most `n - 11`, the first position without a whole header."""
    at = pos
    while at < n:
        block = a[at : at + (1 << 16)]
        if block.any():
            return max(pos, at + int(np.argmax(block != 0)) - 11)
        at += len(block)
    return max(pos, n - 11)


class _Offsets:
    """How many, and the first ten byte offsets: enough for the report, bounded for any file."""

    def __init__(self) -> None:
        self.count = 0
        self.first: list[int] = []

    def add(self, count: int, offsets: Sequence[int]) -> None:
        self.count += count
        self.first += list(offsets[: 10 - len(self.first)])


class _Framer:
    """TFRecord framing over successive windows of one file.

    State carries across windows (the offset reached, a resynchronization under way), so the
    result is the same for any window size, and every offset it reports is a file offset.
    """

    def __init__(self, path: str, size: int):
        self.path, self.size = path, size
        self.pos = 0  # the first byte not framed yet
        self.need = 0  # bytes the record at `pos` needs, when it did not fit in the window
        self.done = False
        self.records = 0  # records that passed both checksums
        self.skip_from: int | None = None  # where the damaged bytes being skipped began
        self.skips = _Offsets()
        self.skipped_bytes = 0
        self.bad_crc = _Offsets()
        self.truncated: Problem | None = None
        self.history = np.zeros(0, dtype=np.int64)  # the record lengths last walked, carried to the next window

    def frame(self, data: bytes, base: int, eof: bool) -> tuple[np.ndarray, np.ndarray]:
        """Payload offsets (into `data`, which holds the file from byte `base`) and lengths of the
        good records that lie wholly in this window; leaves `pos` where the next window must start.
        """
        a = np.frombuffer(data, dtype=np.uint8)
        n = len(data)
        pos = self.pos - base
        self.need = 0
        offs: list[np.ndarray] = [np.zeros(0, np.int64)]
        lens: list[np.ndarray] = [np.zeros(0, np.int64)]
        while True:
            if self.skip_from is not None:
                pos = _resync(data, a, pos, n, self.size - base)
                if pos + 12 > n:  # no header in this window: the damage may go on in the next
                    if not eof:
                        break
                    pos = n
                self.skips.add(1, [self.skip_from])
                self.skipped_bytes += base + pos - self.skip_from
                self.skip_from = None
            o, ln, pos = self._run(data, a, pos, n, base)
            offs.append(o)
            lens.append(ln)
            if pos + 12 > n:
                if eof and pos < n:
                    self.truncated = Problem(
                        "truncated_record", self.path,
                        f"{n - pos} stray bytes at the end (byte {base + pos}): a record header cut off",
                        {"offset": base + pos, "expected_bytes": 12, "available_bytes": n - pos})
                    pos = n
                break
            length = _U64.unpack_from(data, pos)[0]
            if masked_crc(data[pos : pos + 8]) != _U32.unpack_from(data, pos + 8)[0] or length > _MAX_RECORD:
                self.skip_from = base + pos
                pos += 1
                continue
            at = base + pos
            if at + 16 + length > self.size:
                self.truncated = Problem(
                    "truncated_record", self.path,
                    f"the last record (at byte {at}) is cut off: {length + 16} bytes expected, "
                    f"{self.size - at} present (the writer probably crashed or the file was copied while open)",
                    {"offset": at, "expected_bytes": length + 16, "available_bytes": self.size - at})
                self.done = True  # everything after it belongs to the cut record
                break
            self.need = 16 + length  # a sound record across the window's end: read on
            break
        self.pos = base + pos
        self.done = self.done or eof
        offsets, lengths = np.concatenate(offs), np.concatenate(lens)
        self.records += len(offsets)
        return offsets, lengths

    def _run(self, data: bytes, a: np.ndarray, pos: int, n: int, base: int):
        """The records from `pos` while lengths and header CRCs hold: (payload offsets and lengths of
        those whose payload CRC is right, where the run stopped). One C call per payload CRC."""
        starts, stop, self.history = _walk(data, pos, n, a, self.history)
        # each record ends where the next begins (the walk went by the length fields)
        bad = np.nonzero(~_length_crcs_ok(a, starts, np.diff(starts, append=stop) - 16))[0]
        if len(bad):
            stop = int(starts[bad[0]])
            starts = starts[: bad[0]]
        if not len(starts):
            return starts, starts, stop
        offsets = starts + 12
        ends = np.append(starts[1:], stop) - 4  # records lie back to back: a payload ends 4 bytes before the next
        good = _payload_crcs(data, a, offsets, ends) == _at(a, ends, "<u4")
        if not good.all():
            bad_at = starts[~good] + base
            self.bad_crc.add(len(bad_at), bad_at[:10].tolist())
        return offsets[good], (ends - offsets)[good], stop

    def problems(self) -> list[Problem]:
        problems = [self.truncated] if self.truncated else []
        if self.skips.count:
            problems.append(Problem(
                "corrupt_framing", self.path,
                f"record framing was damaged in {self.skips.count} place(s) (first at byte {self.skips.first[0]}); "
                f"{self.skipped_bytes} bytes skipped to the next valid record",
                {"count": self.skips.count, "offsets": self.skips.first, "skipped_bytes": self.skipped_bytes}))
        if self.bad_crc.count:
            problems.append(Problem(
                "crc_mismatch", self.path,
                f"{self.bad_crc.count} record(s) failed their payload checksum and were skipped "
                f"(first at byte {self.bad_crc.first[0]})",
                {"count": self.bad_crc.count, "offsets": self.bad_crc.first}))
        return problems


def _varint(a: np.ndarray, pos: np.ndarray, max_bytes: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode a protobuf varint at each position: (value, byte length, ok)."""
    n = len(pos)
    value = np.zeros(n, dtype=np.uint64)
    length = np.zeros(n, dtype=np.int64)
    done = np.zeros(n, dtype=bool)
    limit = len(a)
    for i in range(max_bytes):
        idx = pos + i
        inside = idx < limit
        b = np.where(inside, a[np.minimum(idx, limit - 1)], 0).astype(np.uint64)
        live = ~done & inside
        value[live] |= (b[live] & np.uint64(0x7F)) << np.uint64(7 * i)
        ends = live & (b < 0x80)
        length[ends] = i + 1
        done |= ends
        if done.all():
            break
    return value, length, done


def _fast_simple_values(a: np.ndarray, offs: np.ndarray, lens: np.ndarray):
    """Decode records laid out as `wall_time, step, summary{value{tag, simple_value}}` (the step left out
    when 0) all at once.

    Returns (mask of records decoded, (record index, wall, step, value, tag code, tag names)).
    """
    n = len(offs)
    after_wall = a[np.minimum(offs + 9, len(a) - 1)]
    ok = (lens >= 16) & (a[offs] == 0x09) & ((after_wall == 0x10) | (after_wall == 0x2A))
    idx = np.nonzero(ok)[0]
    if len(idx) == 0:
        return np.zeros(n, dtype=bool), None
    o, ln = offs[idx], lens[idx]
    end = o + ln
    step_u, k, good = _varint(a, o + 10)
    no_step = after_wall[idx] == 0x2A  # a step of 0 is left out (proto3): the summary follows the wall time
    if no_step.any():
        step_u[no_step], k[no_step], good[no_step] = 0, -1, True
    p = o + 10 + k  # summary field
    q = np.minimum(p, len(a) - 6)  # reads stay in the buffer; a clipped p fails `p + 6 < end` anyway
    good &= (p + 6 < end) & (a[q] == 0x2A)
    sum_len = a[q + 1].astype(np.int64)
    val_len = a[q + 3].astype(np.int64)
    tag_len = a[q + 5].astype(np.int64)
    good &= (sum_len < 0x80) & (val_len < 0x80) & (tag_len < 0x80)
    good &= (a[q + 2] == 0x0A) & (a[q + 4] == 0x0A)
    good &= (p + 2 + sum_len == end) & (sum_len == val_len + 2) & (val_len == tag_len + 7)
    good &= a[end - 5] == 0x15  # end - 5 >= o + 11: inside the record
    sel = np.nonzero(good)[0]
    o, end, p, tag_len, step_u = o[sel], end[sel], p[sel], tag_len[sel], step_u[sel]
    wall = _at(a, o + 1, "<f8")
    value = _at(a, end - 4, "<f4").astype(np.float64)
    step = step_u.view(np.int64)
    codes, names = _tag_codes(a, p + 6, tag_len)
    decoded = np.zeros(n, dtype=bool)
    decoded[idx[sel]] = True
    return decoded, (idx[sel], wall, step, value, codes, names)


def _tag_codes(a: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Group the tag bytes of many records: an integer code per record and the distinct names.

    Rows of one length are packed into 8-byte words and hashed into one uint64 (exact up to
    8 bytes); the hashes are grouped (`_distinct`) and a byte comparison rules out collisions.
    """
    codes = np.empty(len(starts), dtype=np.int32)
    names: list[str] = []
    for L in np.nonzero(np.bincount(lengths))[0].tolist():
        rows = np.nonzero(lengths == L)[0]
        at = starts[rows]
        width = -(-L // 8) * 8 or 8
        if int(at.max()) + width <= len(a):  # the bytes after the tag are there: read whole words, clear the excess
            words = _gather(a, at, width).view("<u8")
            if L % 8:
                words[:, -1] &= np.uint64((1 << (8 * (L % 8))) - 1)
        else:
            padded = np.zeros((len(rows), width), dtype=np.uint8)
            padded[:, :L] = _gather(a, at, L)
            words = padded.view("<u8")
        key = words[:, 0].copy()
        for j in range(1, words.shape[1]):
            key = key * np.uint64(1099511628211) ^ words[:, j]
        first, inv = _distinct(key)
        if not (words == words[first][inv]).all():  # a hash collision: group the bytes themselves
            raw = np.ascontiguousarray(words.view(np.uint8)[:, :L])
            _, first, inv = np.unique(raw.view(np.dtype((np.void, L))).ravel(), return_index=True, return_inverse=True)
        codes[rows] = len(names) + inv.ravel()
        names += [words[i].tobytes()[:L].decode("utf-8", "replace") for i in first.tolist()]
    return codes, names


def _distinct(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(key, return_index=True, return_inverse=True)[1:]: the first index of each distinct value, in
    ascending order of value, and each element's place among them. A window's rows of one tag length hold a
    few tags: one comparison per tag finds them, where np.unique sorts the whole column twice."""
    firsts = [0]
    seen = key == key[0]
    while len(firsts) < _FEW and not seen.all():
        firsts.append(int(np.argmin(seen)))  # the first row not seen yet
        seen |= key == key[firsts[-1]]
    if not seen.all():  # many distinct values: sorting is cheaper
        _, first, inv = np.unique(key, return_index=True, return_inverse=True)
        return first, inv.ravel()
    first = np.asarray(firsts)[np.argsort(key[firsts])]
    return first, np.searchsorted(key[first], key)


def _at(a: np.ndarray, starts: np.ndarray, dtype: str) -> np.ndarray:
    """The little-endian number of type `dtype` at each byte offset in `starts` (aligned or not): one fancy
    index into a view of every offset, two to three times faster than gathering the bytes as rows."""
    dt = np.dtype(dtype)
    if len(starts) == 0:
        return np.zeros(0, dtype=dt)
    every = np.ndarray(shape=(len(a) - dt.itemsize + 1,), dtype=dt, buffer=a, strides=(1,))
    return every[starts]


def _gather(a: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    if width == 0 or len(starts) == 0:
        return np.zeros((len(starts), width), dtype=np.uint8)
    return np.ascontiguousarray(sliding_window_view(a, width)[starts])


def _tensor_scalar(tensor) -> float | None:
    """The single float in a TF2 scalar summary tensor, in any of its encodings."""
    dt = tensor.dtype
    if tensor.tensor_shape.dim and any(d.size != 1 for d in tensor.tensor_shape.dim):
        return None
    if dt == DT_FLOAT:
        if tensor.float_val:
            return float(tensor.float_val[0])
        if len(tensor.tensor_content) >= 4:
            return float(np.frombuffer(tensor.tensor_content[:4], "<f4")[0])
    elif dt == DT_DOUBLE:
        if tensor.double_val:
            return float(tensor.double_val[0])
        if len(tensor.tensor_content) >= 8:
            return float(np.frombuffer(tensor.tensor_content[:8], "<f8")[0])
    elif dt == DT_HALF:
        if tensor.half_val:
            return float(np.array([tensor.half_val[0]], dtype=np.uint16).view(np.float16)[0])
        if len(tensor.tensor_content) >= 2:
            return float(np.frombuffer(tensor.tensor_content[:2], "<f2")[0])
    return None


def _hparams(content: bytes) -> dict[str, Any]:
    from tensorboard.plugins.hparams import plugin_data_pb2

    data = plugin_data_pb2.HParamsPluginData.FromString(content)
    out: dict[str, Any] = {}
    if data.HasField("session_start_info"):
        for name, v in data.session_start_info.hparams.items():
            kind = v.WhichOneof("kind")
            if kind is not None:
                out[name] = getattr(v, kind)
    return out


def _file_version(payload: bytes) -> str | None:
    """The version string of a record that holds a wall time and `file_version` and nothing else (the first
    record of every event file), read without the protobuf classes, whose import costs more than decoding a
    small file; None for any other record, which the classes decode."""
    if len(payload) < 11 or payload[0] != 0x09 or payload[9] != 0x1A or payload[10] >= 0x80 \
            or len(payload) != 11 + payload[10]:
        return None
    try:
        return payload[11:].decode("utf-8")  # a string field that is not UTF-8: the classes report it
    except UnicodeDecodeError:
        return None


class _Slow:
    """Records the fast path could not take, decoded with the protobuf classes.

    One per file: what a TF2 file declares once (a tag's `scalars` plugin) holds for all windows.
    """

    def __init__(self, path: str):
        self.path = path
        self.hparams: dict[str, Any] = {}
        self.scalar_tags: set[str] = set()
        self.decode_errors = _Offsets()
        self.file_version = ""
        self._new_window()

    def _new_window(self) -> None:
        self.rec: list[int] = []
        self.wall: list[float] = []
        self.step: list[int] = []
        self.value: list[float] = []
        self.tag: list[str] = []

    def take(self) -> tuple[list[int], list[float], list[int], list[float], list[str]]:
        """The points decoded since the last call: (record index in the window, wall, step, value, tag)."""
        out = self.rec, self.wall, self.step, self.value, self.tag
        self._new_window()
        return out

    def add(self, rec: int, payload: bytes, offset: int) -> None:
        version = _file_version(payload)
        if version is not None:
            self.file_version = version
            return
        from tensorboard.compat.proto import event_pb2

        try:
            ev = event_pb2.Event.FromString(payload)
        except Exception:  # noqa: BLE001 — any protobuf failure is a damaged record, not a crash
            self.decode_errors.add(1, [offset])
            return
        if ev.HasField("file_version"):
            self.file_version = ev.file_version
        if not ev.HasField("summary"):
            return
        for v in ev.summary.value:
            plugin = v.metadata.plugin_data.plugin_name if v.HasField("metadata") else ""
            kind = v.WhichOneof("value")
            if kind == "simple_value":
                x = float(v.simple_value)
            elif kind == "tensor":
                if plugin == "scalars":
                    self.scalar_tags.add(v.tag)
                if plugin == "hparams":
                    try:
                        self.hparams.update(_hparams(v.metadata.plugin_data.content))
                    except Exception:  # noqa: BLE001
                        self.decode_errors.add(1, [offset])
                    continue
                if v.tag not in self.scalar_tags:
                    continue
                got = _tensor_scalar(v.tensor)
                if got is None:
                    continue
                x = got
            else:
                if plugin == "hparams":
                    try:
                        self.hparams.update(_hparams(v.metadata.plugin_data.content))
                    except Exception:  # noqa: BLE001
                        self.decode_errors.add(1, [offset])
                continue
            self.rec.append(rec)
            self.wall.append(ev.wall_time)
            self.step.append(ev.step)
            self.value.append(x)
            self.tag.append(v.tag)


class _Collect:
    """Each tag's points, appended window by window to arrays that grow when full.

    Splitting per tag as each window is decoded means nothing is ever held twice: memory is
    the points (24 bytes each; capacity not written yet is never touched, so not resident)
    plus one window. A full array grows to what the whole file will likely need at the rate
    so far (`size` bytes, `read` of them decoded), at least twice its size: arrays that doubled
    from small left the freed smaller ones behind as heap the process keeps (~35 MiB at 1M points).
    """

    def __init__(self, size: int = 0) -> None:
        self.tags: dict[str, list] = {}  # tag -> [points, step, value, wall]
        self.size = size
        self.read = 0  # bytes of the file decoded so far

    def add(self, names: list[str], code: np.ndarray, step: np.ndarray, value: np.ndarray, wall: np.ndarray) -> None:
        if len(names) <= 64:
            groups = zip(names, (np.flatnonzero(code == c) for c in range(len(names))))
        else:
            order = np.argsort(code, kind="stable")
            groups = zip(names, np.split(order, np.cumsum(np.bincount(code, minlength=len(names)))[:-1]))
        for name, rows in groups:
            if len(rows):
                col = self.tags.setdefault(name, [0, np.empty(0, np.int64), np.empty(0), np.empty(0)])
                n, m = col[0], len(rows)
                if n + m > len(col[1]):
                    likely = (n + m) * self.size // self.read * 17 // 16 if self.read else 0
                    cap = max(2 * len(col[1]), n + m, 256, likely)
                    col[1:] = [_grown(a, n, cap) for a in col[1:]]
                for a, src in zip(col[1:], (step, value, wall)):
                    a[n : n + m] = src[rows]
                col[0] = n + m

    def by_tag(self) -> Points:
        return {t: (s[:n], v[:n], w[:n]) for t, (n, s, v, w) in self.tags.items()}


def _grown(a: np.ndarray, n: int, cap: int) -> np.ndarray:
    out = np.empty(cap, a.dtype)
    out[:n] = a[:n]
    return out


def _decode(data: bytes, offs: np.ndarray, lens: np.ndarray, base: int, slow: _Slow, out: _Collect) -> None:
    """The points of one window's good records, fast path and protobuf path merged in record order."""
    if not len(offs):
        return
    decoded, fast = _fast_simple_values(np.frombuffer(data, dtype=np.uint8), offs, lens)
    rest = np.nonzero(~decoded)[0]
    for rec, o, ln in zip(rest.tolist(), offs[rest].tolist(), lens[rest].tolist()):
        slow.add(rec, data[o : o + ln], base + o - 12)
    if fast is None:
        fast = (np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int32), [])
    rec, wall, step, value, code, names = fast
    s_rec, s_wall, s_step, s_value, s_tag = slow.take()
    if s_rec:
        index = {name: i for i, name in enumerate(names)}
        names = list(names)
        for t in s_tag:
            if t not in index:
                index[t] = len(names)
                names.append(t)
        at = np.searchsorted(rec, np.asarray(s_rec, np.int64))  # both in record order: merge without a sort
        wall = np.insert(wall, at, np.asarray(s_wall, np.float64))
        step = np.insert(step, at, np.asarray(s_step, np.int64))
        value = np.insert(value, at, np.asarray(s_value, np.float64))
        code = np.insert(code, at, np.asarray([index[t] for t in s_tag], np.int32))
    out.add(names, code, step, value, wall)


def read_event_file(path: Path | str, window: int | None = None) -> tuple[Points, list[Problem], dict[str, Any]]:
    """All scalar points of one event file per tag, in the order written, plus what was wrong with it.

    The file is read `window` bytes at a time (default `WINDOW`), so memory holds one window and
    the decoded points, never the whole file.
    """
    path = str(path)
    try:
        with seekable_log(path) as (fh, notes):  # a regular or remote file only; gzip content decompressed
            points, problems, hparams = _read(fh, path, min(max(16, window or WINDOW), _MAX_RECORD))
            failed = getattr(fh, "problem", None)  # a remote read that failed: the points before it are kept
            return points, notes + problems + ([failed] if failed else []), hparams
    except Unreadable as e:
        return {}, [e.problem], {}
    except OSError as e:
        return {}, [Problem("unreadable", path, f"cannot read: {e.strerror or e}")], {}
    except Exception as e:  # noqa: BLE001 — a reader bug names this file and spares the run's other files
        return {}, [Problem("reader_error", path, f"internal error while reading ({type(e).__name__}: {e}); "
                                                  "please report it")], {}


def _read(fh: BinaryIO, path: str, window: int) -> tuple[Points, list[Problem], dict[str, Any]]:
    size = fh.seek(0, os.SEEK_END)  # what is there now (or was when opened); a writer's later appends are not ours
    fh.seek(0)
    data = fh.read(min(max(window, len(_LFS_MAGIC)), size))
    if not data and getattr(fh, "problem", None) is not None:  # a remote read failed at once: that is the news
        return {}, [], {}
    if not data:
        return {}, [Problem("empty_file", path, "the event file is empty (0 bytes)")], {}
    if data.startswith(_LFS_MAGIC):
        return {}, [Problem("lfs_pointer", path,
                            "this is a Git LFS pointer, not event data: run `git lfs pull` to fetch the file",
                            {"bytes": size})], {}
    framer, slow, points = _Framer(path, size), _Slow(path), _Collect(size)
    base = 0
    while True:
        offs, lens = framer.frame(data, base, eof=base + len(data) >= framer.size)
        points.read = framer.pos
        _decode(data, offs, lens, base, slow, points)
        if framer.done:
            break
        base = framer.pos  # where framing stopped: a record cut by this window's end is read again, whole
        data = b""  # let this window go before the next is read
        fh.seek(base)
        want = min(max(window, framer.need), framer.size - base)
        data = fh.read(want)
        if len(data) < want:  # the file shrank while we read it: what is there is all there is
            framer.size = base + len(data)
    problems = framer.problems()
    if framer.records == 0:
        problems = [p for p in problems if p.kind != "corrupt_framing"]
        problems.append(Problem("not_event_file", path,
                                f"no valid TFRecord frame in {framer.size} bytes: not a TensorBoard event file",
                                {"bytes": framer.size}))
        return {}, problems, {}
    if slow.decode_errors.count:
        problems.append(Problem("decode_error", path,
                                f"{slow.decode_errors.count} record(s) passed their checksum but are not valid "
                                f"Event protobufs (first at byte {slow.decode_errors.first[0]})",
                                {"count": slow.decode_errors.count, "offsets": slow.decode_errors.first}))
    return points.by_tag(), problems, slow.hparams


_TS = re.compile(r"tfevents\.(\d+)")


def _file_order(path: str) -> tuple:
    name = os.path.basename(path)  # of a URL too
    m = _TS.search(name)
    return (int(m.group(1)) if m else 0, name)


def read_event_files(paths: Sequence[Path | str], window: int | None = None) -> EventData:
    """All event files of one run, merged into one series per tag.

    Files are taken in the order of the timestamp in their names. A tag whose step goes back
    (a resumed run) follows TensorBoard: the later write supersedes the points at or after
    the step it went back to; the rewind is reported. Duplicate steps are kept and reported.
    `window` is the read size per file (see `read_event_file`).
    """
    problems: list[Problem] = []
    hparams: dict[str, Any] = {}
    chunks: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray, str]]] = {}
    spans: list[dict[str, tuple[int, int]]] = []
    ordered = sorted(map(str, paths), key=_file_order)  # str: a URL is no Path
    for path in ordered:
        points, probs, hp = read_event_file(path, window)
        problems += probs
        hparams.update(hp)
        spans.append({tag: (int(step.min()), int(step.max())) for tag, (step, _, _) in points.items() if len(step)})
        for tag, (step, value, wall) in points.items():
            chunks.setdefault(tag, []).append((step, value, wall, str(path)))
        del points
    attempts = []
    groups = restart_groups(spans)
    for group in groups[:-1]:  # built before the merge below lets go of the parts
        files = [str(ordered[i]) for i in group]
        inside = set(files)
        mine = {tag: [c for c in parts if c[3] in inside] for tag, parts in chunks.items()}
        attempts.append((files, {tag: _merge_tag(tag, parts)[0] for tag, parts in sorted(mine.items()) if parts}))
    series: dict[str, Series] = {}
    rewinds: dict[str, dict[tuple[int, int], list]] = {}  # file -> (from, to) -> [superseded, tags]
    tag_files = {tag: tuple((c[3], int(c[0].min()), int(c[0].max())) for c in parts if len(c[0]))
                 for tag, parts in chunks.items()} if len(paths) > 1 else {}
    for tag in sorted(chunks):
        s, probs, tag_rewinds = _merge_tag(tag, chunks.pop(tag))  # pop: each tag's parts go as it is built
        series[tag] = s
        problems += probs
        for file, frm, to, n in tag_rewinds:
            r = rewinds.setdefault(file, {}).setdefault((frm, to), [0, []])
            r[0] += n
            r[1].append(tag)
    for file, by_step in rewinds.items():
        problems += rewind_problems(file, by_step)
    return EventData(series, problems, hparams, [a for a in attempts if any(s.points for s in a[1].values())],
                     tag_files)


def _merge_tag(tag: str, chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray, str]]):
    """One tag's points across files; (series, duplicate problems, rewinds as (file, from, to, superseded))."""
    if len(chunks) == 1:  # one file: its arrays become the series as they are
        step, value, wall = chunks[0][:3]
    else:
        step, value, wall = (np.concatenate([c[i] for c in chunks]) for i in range(3))
    ends = np.cumsum([len(c[0]) for c in chunks])
    problems: list[Problem] = []
    keep, found = supersede(step)
    rewinds = [(chunks[int(np.searchsorted(ends, i, side="right"))][3], frm, to, n) for i, frm, to, n in found]
    if found:
        step, value, wall = step[keep], value[keep], wall[keep]
    dup = duplicate_problem(chunks[-1][3], tag, step)
    if dup is not None:
        problems.append(dup)
    return Series(tag, np.asarray(step, np.int64), np.asarray(value, np.float64), np.asarray(wall, np.float64)), \
        problems, rewinds
