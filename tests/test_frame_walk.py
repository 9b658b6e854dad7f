"""The batched frame walk finds exactly the record positions the one-by-one walk finds."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from loganalyze.ingest.tfevents import _walk, _walk_some


def _records(lengths) -> bytes:
    return b"".join(struct.pack("<Q", n) + b"\0" * 4 + bytes(n) + b"\0" * 4 for n in lengths)


def _one_by_one(buf: bytes) -> tuple[list[int], int]:
    return _walk_some(buf, 0, len(buf), len(buf))


@pytest.mark.parametrize("seed", range(6))
def test_batched_walk_is_the_one_by_one_walk(seed):
    rng = np.random.default_rng(seed)
    cycle = rng.integers(20, 60, size=int(rng.integers(1, 12))).tolist()
    lengths = []
    while len(lengths) < 30_000:
        lengths += cycle * int(rng.integers(1, 400))
        lengths += rng.integers(0, 300, size=int(rng.integers(0, 5))).tolist()  # the cycle breaks (an eval, an hparam)
        if rng.random() < 0.2:
            cycle = rng.integers(20, 60, size=int(rng.integers(1, 12))).tolist()  # a new cycle (step varint grows)
    buf = _records(lengths)
    cut = buf[: len(buf) - int(rng.integers(1, 40))]  # a record cut off at the end of the window
    for b in (buf, cut):
        want, stop = _one_by_one(b)
        got, got_stop, _ = _walk(b, 0, len(b))
        assert got.tolist() == want and got_stop == stop
    # the lengths carried from a window before, whether they are this window's cycle or another one's
    for carried in (np.asarray(cycle * 40, np.int64), rng.integers(20, 60, 3000), np.asarray(lengths[:4096])):
        got, got_stop, _ = _walk(buf, 0, len(buf), history=carried)
        assert got.tolist() == _one_by_one(buf)[0] and got_stop == len(buf)


def test_a_damaged_length_stops_both_walks_at_the_same_place():
    lengths = [33, 41, 33, 41] * 2000
    buf = bytearray(_records(lengths))
    at = sum(16 + n for n in lengths[:5001])
    buf[at: at + 8] = struct.pack("<Q", 1 << 40)  # a length that cannot fit
    want, stop = _one_by_one(bytes(buf))
    got, got_stop, _ = _walk(bytes(buf), 0, len(buf))
    assert got.tolist() == want and got_stop == stop == at and len(want) == 5001


def test_the_lengths_a_window_ends_with_carry_into_the_next():
    lengths = [33, 41, 33, 41, 57] * 3000
    buf = _records(lengths)
    cut = sum(16 + n for n in lengths[:7000]) + 20  # the window ends inside record 7000
    first, stop, carried = _walk(buf[:cut], 0, cut)
    assert len(first) == 7000 and carried.dtype == np.int64
    rest, end, _ = _walk(buf, stop, len(buf), history=carried)  # the next window, from the cut record
    assert np.concatenate([first, rest]).tolist() == _one_by_one(buf)[0] and end == len(buf)
    nothing, at, still = _walk(buf[:cut], stop, cut, history=carried)  # a window where no record fits
    assert len(nothing) == 0 and at == stop and still.dtype == np.int64
