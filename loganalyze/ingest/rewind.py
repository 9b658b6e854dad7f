"""TensorBoard's rule for a step that goes back, shared by every reader.

A resumed run writes steps it had already written: the later write wins, and the points at or
after the step it went back to are superseded. Readers report each rewind as a `step_rewind`
problem so IN001 can show it; nothing is dropped silently.
"""
from __future__ import annotations

import numpy as np


def supersede(step: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """(keep mask, rewinds) for points in write order; a rewind is (index, from_step, to_step, superseded)."""
    keep = np.ones(len(step), dtype=bool)
    rewinds: list[tuple[int, int, int, int]] = []
    if len(step) < 2:
        return keep, rewinds
    prior_max = np.maximum.accumulate(step)
    for i in (np.nonzero(step[1:] < prior_max[:-1])[0] + 1).tolist():
        if not keep[i]:
            continue
        earlier = np.nonzero(keep[:i])[0]
        over = earlier[step[earlier] >= step[i]]
        if len(over):
            keep[over] = False
            rewinds.append((i, int(step[over].max()), int(step[i]), int(len(over))))
    return keep, rewinds
