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
        got, got_stop = _walk(b, 0, len(b))
        assert got.tolist() == want and got_stop == stop


def test_a_damaged_length_stops_both_walks_at_the_same_place():
    lengths = [33, 41, 33, 41] * 2000
    buf = bytearray(_records(lengths))
    at = sum(16 + n for n in lengths[:5001])
    buf[at: at + 8] = struct.pack("<Q", 1 << 40)  # a length that cannot fit
    want, stop = _one_by_one(bytes(buf))
    got, got_stop = _walk(bytes(buf), 0, len(buf))
    assert got.tolist() == want and got_stop == stop == at and len(want) == 5001
