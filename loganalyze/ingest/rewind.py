"""TensorBoard's rule for a step that goes back, shared by every reader.

A resumed run writes steps it had already written: the later write wins, and the points at or
after the step it went back to are superseded. Readers report each rewind as a `step_rewind`
problem so IN001 can show it; nothing is dropped silently.
"""
from __future__ import annotations

from bisect import bisect_left

import numpy as np

from ..model import Problem, Run, Series


def supersede(step: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """(keep mask, rewinds) for points in write order; a rewind is (index, from_step, to_step, superseded).

    Linear time: the kept points form a non-decreasing stack of steps, and a point below the
    stack's top supersedes the stack's tail from its own step up (found by bisection).
    """
    keep = np.ones(len(step), dtype=bool)
    rewinds: list[tuple[int, int, int, int]] = []
    if len(step) < 2:
        return keep, rewinds
    below = np.nonzero(step[1:] < np.maximum.accumulate(step)[:-1])[0] + 1
    if len(below) == 0:
        return keep, rewinds
    first = int(below[0])
    steps = step[:first].tolist()  # non-decreasing up to the first rewind
    index = list(range(first))
    for i in range(first, len(step)):
        s = int(step[i])
        if steps and s < steps[-1]:
            cut = bisect_left(steps, s)
            gone = index[cut:]
            keep[gone] = False
            rewinds.append((i, steps[-1], s, len(gone)))
            del steps[cut:], index[cut:]
        steps.append(s)
        index.append(i)
    return keep, rewinds


def restart_groups(spans: list[dict[str, tuple[int, int]]]) -> list[list[int]]:
    """Files (by index, in write order) grouped into training attempts; `spans` is each file's
    {tag: (first step, last step)}.

    A file restarts from scratch when a tag it shares with the attempt so far goes back to (or below)
    that tag's first step: a new training process, not a resume from a checkpoint (which goes back
    to a step in the middle). TensorBoard lets the restart supersede the whole earlier attempt; the
    groups let that attempt be analyzed on its own instead of vanishing. Files without points join
    the attempt they follow.
    """
    groups: list[list[int]] = []
    seen: dict[str, list[int]] = {}  # tag -> [first, last] of the current attempt
    for i, span in enumerate(spans):
        restart = bool(groups) and any(t in seen and lo <= seen[t][0] and lo < seen[t][1] for t, (lo, _) in span.items())
        if not groups or restart:
            groups.append([])
            seen = {}
        groups[-1].append(i)
        for t, (lo, hi) in span.items():
            if t in seen:
                seen[t][0], seen[t][1] = min(seen[t][0], lo), max(seen[t][1], hi)
            else:
                seen[t] = [lo, hi]
    return groups


def _restarts(step: np.ndarray) -> list[int]:
    """Indices where a column starts again from scratch: at or below the first step of the stretch
    since the last restart (and below its last), the row-level twin of `restart_groups`."""
    back = np.flatnonzero(step[1:] < step[:-1]) + 1
    cuts: list[int] = []
    start = 0
    for i in back.tolist():
        seg = step[start:i]
        if step[i] <= seg.min() and step[i] < seg.max():
            cuts.append(i)
            start = i
    return cuts


def earlier_attempts(cols: dict[str, tuple[np.ndarray, np.ndarray]]) -> list[dict[str, tuple[np.ndarray, np.ndarray]]]:
    """The attempts before the last in one appended file ({column: (steps, values)} in write order), each as
    {column: (steps, values)}. Columns are matched by their restarts: only those that restart as often as
    the most restarting column are split (a column missing from an attempt cannot be placed in it)."""
    cuts = {tag: _restarts(np.asarray(st)) for tag, (st, _) in cols.items() if len(st) > 1}
    n = max((len(c) for c in cuts.values()), default=0)
    out: list[dict[str, tuple[np.ndarray, np.ndarray]]] = [{} for _ in range(n)]
    for tag, c in cuts.items():
        if len(c) != n or not n:
            continue
        st, va = cols[tag]
        for k, (a, b) in enumerate(zip([0] + c[:-1], c)):
            out[k][tag] = (st[a:b], va[a:b])
    return [a for a in out if a]


def attempt_name(name: str, k: int, n: int) -> str:
    """The run name of attempt k of n that a later restart superseded."""
    return f"{name} [attempt {k} of {n}, superseded]"


def attempt_runs(attempts: list[dict[str, tuple[np.ndarray, np.ndarray]]], name: str, path: str, fmt: str,
                 by_epoch: bool = False) -> tuple[Run, ...]:
    """Runs of their own for a file's earlier attempts; `by_epoch`: the step is the epoch (Keras, YOLO), which
    is kept as a series too, as the reader does for the whole file."""
    out = []
    for k, cols in enumerate(attempts, 1):
        series = {}
        for tag, (st, va) in sorted(cols.items()):
            keep, _ = supersede(st)  # a resume inside the attempt: TensorBoard's rule there too (reported already)
            series[tag] = Series.from_lists(tag, st[keep], va[keep])
        if by_epoch and "epoch" not in series and series:
            ep = np.unique(np.concatenate([s.step for s in series.values()]))
            series["epoch"] = Series.from_lists("epoch", ep, ep)
        out.append(Run(attempt_name(name, k, len(attempts) + 1), (path,), series, (), format=fmt))
    return tuple(out)


def rewind_problems(file: str, rewinds: dict[tuple[int, int], list], unit: str = "tag") -> list[Problem]:
    """One `step_rewind` problem per (from, to), from {(from, to): [superseded points, [tags]]}."""
    return [Problem(
        "step_rewind", file,
        f"the step goes back from {frm} to {to} in {len(tags)} {unit}(s) (a resumed or restarted run); "
        f"{n} earlier point(s) at steps {to}–{frm} are superseded by the later write",
        {"from_step": frm, "to_step": to, "superseded_points": n, "superseded_steps": [to, frm], "tags": tags[:20]})
        for (frm, to), (n, tags) in rewinds.items()]


def conflicting_repeats(step: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Per adjacent pair: the same step logged again with a different value (NaN equals NaN)."""
    same_value = (value[1:] == value[:-1]) | (np.isnan(value[1:]) & np.isnan(value[:-1]))
    return (step[1:] == step[:-1]) & ~same_value


def duplicate_problem(file: str, tag: str, step: np.ndarray, value: np.ndarray | None = None) -> Problem | None:
    """A `duplicate_steps` problem when points (after superseding) share a step with the one before; with
    `value`, only when some of them disagree, or when a measured value (not a whole number) repeats exactly:
    a column written twice with the same count (Lightning's `epoch` on train and val rows) is no conflict,
    while a loss of 0.6185784339904785 logged again at its step is a row written twice (a process that
    replayed those steps from a checkpoint, deterministically). `identical` says which."""
    dup = np.nonzero(step[1:] == step[:-1])[0] + 1
    if not len(dup):
        return None
    identical = False
    if value is not None and not conflicting_repeats(step, value).any():
        v = value[dup]
        measured = np.isfinite(v) & (v != np.round(v))
        if not measured.any():
            return None
        identical = True
    return Problem("duplicate_steps", file,
                   f"'{tag}' has {len(dup)} point(s) logged at a step that already has one (all kept)"
                   + (", with the same value" if identical else ""),
                   {"tag": tag, "count": int(len(dup)), "first_steps": [int(x) for x in step[dup[:5]]],
                    "identical": identical})


def superseded(tag: str, step: np.ndarray, value: np.ndarray, rewinds: dict[tuple[int, int], list]
               ) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of one column in write order after TensorBoard's rule; each rewind is added to
    `rewinds` ({(from, to): [superseded points, [tags]]}) for `rewind_problems`."""
    keep, found = supersede(step)
    if not found:
        return step, value
    for _, frm, to, n in found:
        r = rewinds.setdefault((frm, to), [0, []])
        r[0] += n
        r[1].append(tag)
    return step[keep], value[keep]
