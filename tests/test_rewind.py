"""The supersede rule every reader shares, against TensorBoard's definition written out plainly."""
import numpy as np
from hypothesis import given, strategies as st

from loganalyze.ingest.rewind import supersede


def tensorboard_purge(step):
    """EventAccumulator: a step below the most recent one purges every kept point at or after it."""
    keep, rewinds, last = [True] * len(step), [], None
    for i, s in enumerate(step):
        if last is not None and s < last:
            over = [j for j in range(i) if keep[j] and step[j] >= s]
            for j in over:
                keep[j] = False
            rewinds.append((i, max(step[j] for j in over), s, len(over)))
        last = s
    return keep, rewinds


@given(st.lists(st.integers(-3, 3), max_size=60))
def test_supersede_is_tensorboards_purge(moves):
    step = np.cumsum(np.asarray(moves, dtype=np.int64))
    keep, rewinds = supersede(step)
    ref_keep, ref_rewinds = tensorboard_purge(step.tolist())
    assert keep.tolist() == ref_keep and rewinds == ref_rewinds


def test_a_late_resume_in_a_million_points_is_one_rewind():
    step = np.concatenate([np.arange(400_000), np.arange(360_000, 1_000_000)])
    keep, rewinds = supersede(step)
    assert rewinds == [(400_000, 399_999, 360_000, 40_000)]
    assert np.array_equal(step[keep], np.arange(1_000_000))
