"""TensorBoard event files: TFRecord frames of `Event` protobufs, read fast and without loss.

Speed comes from not building a Python object per event. One loop walks the frames and
checks both CRCs; then the common layout (PyTorch / tensorboardX / TF1 `simple_value`, one
value per event) is decoded for all records at once with numpy. Everything else (TF2 tensor
summaries, hparams, multi-value summaries) goes through the protobuf classes, record by record.
Both paths give the same points; the tests check that.

Damage never raises: a bad payload CRC drops that record, a bad length CRC resynchronizes
on the next valid frame, a truncated tail keeps everything before it. All of it is reported.
"""
from __future__ import annotations

import re
import struct
from itertools import repeat
from operator import getitem
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import google_crc32c
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..model import Problem, Series
from .rewind import supersede

_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")
_LFS_MAGIC = b"version https://git-lfs.github.com/spec"
_MAX_RECORD = 1 << 31

DT_FLOAT, DT_DOUBLE, DT_HALF = 1, 2, 19


@dataclass
class EventData:
    series: dict[str, Series]
    problems: list[Problem]
    hparams: dict[str, Any] = field(default_factory=dict)


def masked_crc(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _header_ok(buf: bytes, pos: int, n: int) -> bool:
    if pos + 12 > n:
        return False
    head = buf[pos : pos + 8]
    return masked_crc(head) == _U32.unpack_from(buf, pos + 8)[0]


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
    """Masked CRC32C of each row of a (n, k) uint8 array, vectorized over rows (k is small)."""
    crc = np.full(len(rows), 0xFFFFFFFF, dtype=np.uint32)
    for j in range(rows.shape[1]):
        crc = _TABLE[(crc ^ rows[:, j]) & 0xFF] ^ (crc >> np.uint32(8))
    return _mask(crc ^ np.uint32(0xFFFFFFFF))


def _mask(crc: np.ndarray) -> np.ndarray:
    return ((crc >> np.uint32(15)) | (crc << np.uint32(17))) + np.uint32(0xA282EAD8)


def _walk(buf: bytes, n: int) -> tuple[list[int], int]:
    """Header positions, trusting the lengths; stops where a length cannot be right."""
    starts: list[int] = []
    append = starts.append
    unpack = _U64.unpack_from
    pos = 0
    while pos + 12 <= n:
        length = unpack(buf, pos)[0]
        if length > _MAX_RECORD or pos + 16 + length > n:
            break
        append(pos)
        pos += 16 + length
    return starts, pos


def frame(buf: bytes, path: str) -> tuple[np.ndarray, np.ndarray, list[Problem]]:
    """Payload offsets and lengths of every valid record, and what was wrong with the rest.

    The common case — an undamaged file — is one tight walk over the length fields, the
    header CRCs checked for all records at once, and one C call per payload CRC.
    """
    n = len(buf)
    a = np.frombuffer(buf, dtype=np.uint8)
    starts_l, stop = _walk(buf, n)
    starts = np.asarray(starts_l, dtype=np.int64)
    if len(starts):
        heads = sliding_window_view(a, 12)[starts]
        stored = np.ascontiguousarray(heads[:, 8:12]).view("<u4").ravel()
        bad = np.nonzero(_masked_crc_rows(heads[:, :8]) != stored)[0]
        if len(bad):
            stop = int(starts[bad[0]])
            starts = starts[: bad[0]]
    lengths = np.ascontiguousarray(sliding_window_view(a, 8)[starts]).view("<u8").ravel().astype(np.int64) \
        if len(starts) else np.zeros(0, np.int64)
    offsets = starts + 12
    ends = offsets + lengths
    # one C-level pipeline, no Python bytecode per record
    raw = np.fromiter(map(google_crc32c.value, map(getitem, repeat(buf), map(slice, offsets.tolist(), ends.tolist()))),
                      dtype=np.uint32, count=len(offsets))
    computed = _mask(raw)
    stored = np.ascontiguousarray(sliding_window_view(a, 4)[ends]).view("<u4").ravel() \
        if len(ends) else np.zeros(0, np.uint32)
    good = computed == stored
    bad_crc = starts[~good].tolist()
    offsets, lengths = offsets[good], lengths[good]
    problems: list[Problem] = []
    if stop < n:
        more_off, more_len, bad_more, problems = _careful(buf, stop, n, path)
        offsets = np.concatenate([offsets, np.asarray(more_off, np.int64)])
        lengths = np.concatenate([lengths, np.asarray(more_len, np.int64)])
        bad_crc += bad_more
    if bad_crc:
        problems.append(Problem(
            "crc_mismatch", path,
            f"{len(bad_crc)} record(s) failed their payload checksum and were skipped (first at byte {bad_crc[0]})",
            {"count": len(bad_crc), "offsets": bad_crc[:10]}))
    return offsets, lengths, problems


def _careful(buf: bytes, pos: int, n: int, path: str) -> tuple[list[int], list[int], list[int], list[Problem]]:
    """Frame by frame from `pos`, checking every header: resynchronize past damage, report a cut tail."""
    offsets: list[int] = []
    lengths: list[int] = []
    problems: list[Problem] = []
    bad_crc: list[int] = []
    skipped: list[tuple[int, int]] = []
    unpack_u64, unpack_u32, crc = _U64.unpack_from, _U32.unpack_from, masked_crc
    while pos + 12 <= n:
        length = unpack_u64(buf, pos)[0]
        if crc(buf[pos : pos + 8]) != unpack_u32(buf, pos + 8)[0] or length > _MAX_RECORD:
            start = pos
            pos = _resync(buf, pos + 1, n)
            skipped.append((start, pos - start))
            continue
        end = pos + 12 + length
        if end + 4 > n:
            problems.append(Problem(
                "truncated_record", path,
                f"the last record (at byte {pos}) is cut off: {length + 16} bytes expected, {n - pos} present "
                "(the writer probably crashed or the file was copied while open)",
                {"offset": pos, "expected_bytes": length + 16, "available_bytes": n - pos}))
            pos = n
            break
        if crc(buf[pos + 12 : end]) != unpack_u32(buf, end)[0]:
            bad_crc.append(pos)
        else:
            offsets.append(pos + 12)
            lengths.append(length)
        pos = end + 4
    if 0 < n - pos < 12:
        problems.append(Problem(
            "truncated_record", path, f"{n - pos} stray bytes at the end (byte {pos}): a record header cut off",
            {"offset": pos, "expected_bytes": 12, "available_bytes": n - pos}))
    if skipped:
        total = sum(s for _, s in skipped)
        problems.append(Problem(
            "corrupt_framing", path,
            f"record framing was damaged in {len(skipped)} place(s) (first at byte {skipped[0][0]}); "
            f"{total} bytes skipped to the next valid record",
            {"count": len(skipped), "offsets": [s for s, _ in skipped[:10]], "skipped_bytes": total}))
    return offsets, lengths, bad_crc, problems


def _resync(buf: bytes, pos: int, n: int) -> int:
    """The next offset whose header checks out and whose length fits in the file."""
    while pos + 12 <= n:
        if _header_ok(buf, pos, n) and pos + 16 + _U64.unpack_from(buf, pos)[0] <= n:
            return pos
        pos += 1
    return n


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


def _fast_simple_values(buf: bytes, offs: np.ndarray, lens: np.ndarray):
    """Decode records laid out as `wall_time, step, summary{value{tag, simple_value}}` all at once.

    Returns (mask of records decoded, (record index, wall, step, value, tag code, tag names)).
    """
    a = np.frombuffer(buf, dtype=np.uint8)
    n = len(offs)
    ok = (lens >= 16) & (a[offs] == 0x09) & (a[np.minimum(offs + 9, len(a) - 1)] == 0x10)
    idx = np.nonzero(ok)[0]
    if len(idx) == 0:
        return np.zeros(n, dtype=bool), None
    o, ln = offs[idx], lens[idx]
    end = o + ln
    step_u, k, good = _varint(a, o + 10)
    p = o + 10 + k  # summary field
    safe = lambda x: np.minimum(x, len(a) - 1)  # noqa: E731
    good &= (p + 6 < end) & (a[safe(p)] == 0x2A)
    sum_len = a[safe(p + 1)].astype(np.int64)
    val_len = a[safe(p + 3)].astype(np.int64)
    tag_len = a[safe(p + 5)].astype(np.int64)
    good &= (sum_len < 0x80) & (val_len < 0x80) & (tag_len < 0x80)
    good &= (a[safe(p + 2)] == 0x0A) & (a[safe(p + 4)] == 0x0A)
    good &= (p + 2 + sum_len == end) & (sum_len == val_len + 2) & (val_len == tag_len + 7)
    good &= a[safe(end - 5)] == 0x15
    sel = np.nonzero(good)[0]
    o, end, p, tag_len, step_u = o[sel], end[sel], p[sel], tag_len[sel], step_u[sel]
    wall = _gather(a, o + 1, 8).view("<f8").ravel()
    value = _gather(a, end - 4, 4).view("<f4").ravel().astype(np.float64)
    step = step_u.view(np.int64)
    codes, names = _tag_codes(a, p + 6, tag_len)
    decoded = np.zeros(n, dtype=bool)
    decoded[idx[sel]] = True
    return decoded, (idx[sel], wall, step, value, codes, names)


def _tag_codes(a: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Group the tag bytes of many records: an integer code per record and the distinct names."""
    codes = np.full(len(starts), -1, dtype=np.int64)
    names: list[str] = []
    for L in np.unique(lengths).tolist():
        rows = np.nonzero(lengths == L)[0]
        raw = _gather(a, starts[rows], L)
        h = np.zeros(len(rows), dtype=np.uint64)
        for j in range(L):  # a polynomial hash; equal rows are verified below
            h = h * np.uint64(1099511628211) + raw[:, j]
        todo = np.ones(len(rows), dtype=bool)
        while todo.any() and len(names) < 4096:
            first = int(np.argmax(todo))
            same = todo & (h == h[first])
            if not (raw[same] == raw[first]).all():
                break
            codes[rows[same]] = len(names)
            names.append(bytes(raw[first]).decode("utf-8", "replace"))
            todo &= ~same
        if todo.any():  # hash collision or very many tags: sort-based grouping
            left = np.nonzero(todo)[0]
            keys = raw[left].view(np.dtype((np.void, L))).ravel() if L else np.zeros(len(left))
            uniq, inv = np.unique(keys, return_inverse=True)
            codes[rows[left]] = len(names) + inv.ravel()
            names += [bytes(u).decode("utf-8", "replace") if L else "" for u in uniq]
    return codes, names


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


class _Slow:
    """Records the fast path could not take, decoded with the protobuf classes."""

    def __init__(self, path: str):
        self.path = path
        self.rec: list[int] = []
        self.wall: list[float] = []
        self.step: list[int] = []
        self.value: list[float] = []
        self.tag: list[str] = []
        self.hparams: dict[str, Any] = {}
        self.scalar_tags: set[str] = set()
        self.decode_errors: list[int] = []
        self.file_version = ""

    def add(self, rec: int, payload: bytes, offset: int) -> None:
        from tensorboard.compat.proto import event_pb2

        try:
            ev = event_pb2.Event.FromString(payload)
        except Exception:  # noqa: BLE001 — any protobuf failure is a damaged record, not a crash
            self.decode_errors.append(offset)
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
                        self.decode_errors.append(offset)
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
                        self.decode_errors.append(offset)
                continue
            self.rec.append(rec)
            self.wall.append(ev.wall_time)
            self.step.append(ev.step)
            self.value.append(x)
            self.tag.append(v.tag)


@dataclass
class _FilePoints:
    """Every scalar point of one file in record order: parallel arrays, tags as codes into `names`."""

    wall: np.ndarray
    step: np.ndarray
    value: np.ndarray
    code: np.ndarray
    names: list[str]


def _empty() -> _FilePoints:
    return _FilePoints(np.zeros(0), np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64), [])


def read_event_file(path: Path | str) -> tuple[_FilePoints, list[Problem], dict[str, Any]]:
    """All scalar points of one event file, in the order written, plus what was wrong with it."""
    path = str(path)
    try:
        with open(path, "rb") as fh:
            buf = fh.read()
    except OSError as e:
        return _empty(), [Problem("unreadable", path, f"cannot read: {e.strerror or e}")], {}
    if not buf:
        return _empty(), [Problem("empty_file", path, "the event file is empty (0 bytes)")], {}
    if buf.startswith(_LFS_MAGIC):
        return _empty(), [Problem("lfs_pointer", path,
                                  "this is a Git LFS pointer, not event data: run `git lfs pull` to fetch the file",
                                  {"bytes": len(buf)})], {}
    offs, lens, problems = frame(buf, path)
    if len(offs) == 0:
        problems = [p for p in problems if p.kind != "corrupt_framing"]
        problems.append(Problem("not_event_file", path,
                                f"no valid TFRecord frame in {len(buf)} bytes: not a TensorBoard event file",
                                {"bytes": len(buf)}))
        return _empty(), problems, {}
    decoded, fast = _fast_simple_values(buf, offs, lens)
    slow = _Slow(path)
    for rec in np.nonzero(~decoded)[0].tolist():
        o = int(offs[rec])
        slow.add(rec, buf[o : o + int(lens[rec])], o - 12)
    if slow.decode_errors:
        problems.append(Problem("decode_error", path,
                                f"{len(slow.decode_errors)} record(s) passed their checksum but are not valid "
                                f"Event protobufs (first at byte {slow.decode_errors[0]})",
                                {"count": len(slow.decode_errors), "offsets": slow.decode_errors[:10]}))
    if fast is None:
        fast = (np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64), [])
    rec, wall, step, value, code, names = fast
    if slow.rec:
        index = {name: i for i, name in enumerate(names)}
        names = list(names)
        for t in slow.tag:
            if t not in index:
                index[t] = len(names)
                names.append(t)
        s_rec = np.asarray(slow.rec, np.int64)
        at = np.searchsorted(rec, s_rec)  # both in record order: merge without a sort
        wall = np.insert(wall, at, np.asarray(slow.wall, np.float64))
        step = np.insert(step, at, np.asarray(slow.step, np.int64))
        value = np.insert(value, at, np.asarray(slow.value, np.float64))
        code = np.insert(code, at, np.asarray([index[t] for t in slow.tag], np.int64))
    return _FilePoints(wall, step, value, code, names), problems, slow.hparams


_TS = re.compile(r"tfevents\.(\d+)")


def _file_order(path: Path) -> tuple:
    m = _TS.search(path.name)
    return (int(m.group(1)) if m else 0, path.name)


def read_event_files(paths: Sequence[Path | str]) -> EventData:
    """All event files of one run, merged into one series per tag.

    Files are taken in the order of the timestamp in their names. A tag whose step goes back
    (a resumed run) follows TensorBoard: the later write supersedes the points at or after
    the step it went back to; the rewind is reported. Duplicate steps are kept and reported.
    """
    problems: list[Problem] = []
    hparams: dict[str, Any] = {}
    chunks: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray, str]]] = {}
    for path in sorted((Path(p) for p in paths), key=_file_order):
        pts, probs, hp = read_event_file(path)
        problems += probs
        hparams.update(hp)
        if len(pts.code) == 0:
            continue
        if len(pts.names) <= 64:
            groups = [np.nonzero(pts.code == c)[0] for c in range(len(pts.names))]
        else:
            order = np.argsort(pts.code, kind="stable")
            groups = np.split(order, np.nonzero(np.diff(pts.code[order]))[0] + 1)
        for group in groups:
            if len(group):
                t = pts.names[int(pts.code[group[0]])]
                chunks.setdefault(t, []).append((pts.step[group], pts.value[group], pts.wall[group], str(path)))
    series: dict[str, Series] = {}
    rewinds: dict[tuple[str, int, int], list] = {}
    for tag in sorted(chunks):
        s, probs, tag_rewinds = _merge_tag(tag, chunks[tag])
        series[tag] = s
        problems += probs
        for file, frm, to, n in tag_rewinds:
            r = rewinds.setdefault((file, frm, to), [0, []])
            r[0] += n
            r[1].append(tag)
    for (file, frm, to), (n, tags) in rewinds.items():
        problems.append(Problem(
            "step_rewind", file,
            f"the step goes back from {frm} to {to} in {len(tags)} tag(s) (a resumed or restarted run); "
            f"{n} earlier point(s) at steps {to}–{frm} are superseded by the later write",
            {"from_step": frm, "to_step": to, "superseded_points": n, "superseded_steps": [to, frm],
             "tags": tags[:20]}))
    return EventData(series, problems, hparams)


def _merge_tag(tag: str, chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray, str]]):
    """One tag's points across files; (series, duplicate problems, rewinds as (file, from, to, superseded))."""
    step = np.concatenate([c[0] for c in chunks])
    value = np.concatenate([c[1] for c in chunks])
    wall = np.concatenate([c[2] for c in chunks])
    file_of = np.concatenate([np.full(len(c[0]), i) for i, c in enumerate(chunks)])
    problems: list[Problem] = []
    keep, found = supersede(step)
    rewinds = [(chunks[file_of[i]][3], frm, to, n) for i, frm, to, n in found]
    if found:
        step, value, wall = step[keep], value[keep], wall[keep]
    dup = np.nonzero(step[1:] == step[:-1])[0] + 1
    if len(dup):
        problems.append(Problem(
            "duplicate_steps", chunks[-1][3],
            f"'{tag}' has {len(dup)} point(s) logged at a step that already has one (all kept)",
            {"tag": tag, "count": int(len(dup)), "first_steps": [int(x) for x in step[dup[:5]]]}))
    return Series(tag, step.astype(np.int64), value.astype(np.float64), wall.astype(np.float64)), problems, rewinds
