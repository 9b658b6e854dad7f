"""Arrays that several rules derive from the same series, computed once per run.

Nine rules take a loss's finite points in step order, and five its log: at 2M points each copy
and sort costs about 0.1 s, and they were made 22 and 9 times per run. `engine.run_rules` opens a
`shared()` scope around a run's rules; inside it, `memo(fn, *args)` computes `fn(*args)` the first
time and hands the same result to every later call with the same function and the same objects
(by identity; plain values by equality). Outside a scope it just calls `fn`, so a detector called
on its own (a test, a notebook) gets the same numbers.

Within a scope everything handed out is read-only: a rule that wrote into a shared array would
change what the next rule sees, so that raises instead. The scope keeps its arguments alive (an
id is then never reused for another object) and lets every result go when it closes. Only what
is cheap to hold belongs here: the sorted points are the series' own arrays in the usual case,
and a log-scaled copy is 8 bytes a point; a rule's larger intermediates (rolling medians, folds)
are not kept, since at 10M points they would stay resident through every later rule.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Callable, Iterator

import numpy as np

from .model import Series

_cache: ContextVar[dict | None] = ContextVar("loganalyze_derived", default=None)


@contextmanager
def shared() -> Iterator[None]:
    """A scope in which `memo` results are shared; they are dropped when it closes."""
    token = _cache.set({})
    try:
        yield
    finally:
        _cache.reset(token)


def _key(a: Any) -> Any:
    return a if isinstance(a, (int, float, str, bool, type(None))) else ("id", id(a))


def _frozen(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        x.flags.writeable = False
    elif isinstance(x, tuple):
        for item in x:
            _frozen(item)
    return x


def memo(fn: Callable, *args: Any) -> Any:
    """`fn(*args)`, computed once per `shared()` scope for the same function and arguments."""
    cache = _cache.get()
    if cache is None:
        return fn(*args)
    key = (fn, *map(_key, args))
    hit = cache.get(key)
    if hit is None:
        hit = cache[key] = (args, _frozen(fn(*args)))  # args kept: their ids stay theirs while the scope lives
    return hit[1]


def _finite_sorted(s: Series) -> tuple[np.ndarray, np.ndarray]:
    ok = np.isfinite(s.value)
    if ok.all() and (len(s.step) < 2 or bool(np.all(s.step[1:] >= s.step[:-1]))):
        # the usual log: nothing to drop, already in order. A stable sort would give the same points in the
        # same order; these are read-only views of the series' own arrays, no copy
        step, value = s.step.view(), s.value.view()
        step.flags.writeable = value.flags.writeable = False
        return step, value
    order = np.argsort(s.step[ok], kind="stable")
    return s.step[ok][order], s.value[ok][order]


def finite_sorted(s: Series) -> tuple[np.ndarray, np.ndarray]:
    """The finite points of `s` in step order (a stable sort: equal steps keep the order written). Read-only."""
    return memo(_finite_sorted, s)
