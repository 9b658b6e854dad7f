"""Sweeps on a Dask cluster: the per-experiment work of the local pool, sent to a dask.distributed scheduler.

`--dask ADDRESS` maps the very function the process pool runs (read, align, rules, summarize) over a
scheduler's workers and gathers what it returns — findings, counts, decimated chart curves — so the
report is the one a local run writes. `--dask local[:N]` starts a LocalCluster of N single-threaded
worker processes on loopback, a quick try of the same path.

A worker that dies while it runs a task takes only that task with it: Dask runs it again elsewhere.
A task that fails twice (its worker died twice, or it raised twice) becomes a failed run in the
report, named with the error, and the others go on. A LocalCluster is set up so that holds exactly;
a remote scheduler counts worker deaths by its own `distributed.scheduler.allowed-failures`.

Dask is an optional extra (`loganalyze[dask]`) and is imported here only, when a sweep asks for it:
a local analysis never loads it.
"""
from __future__ import annotations

import os
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

RETRIES = 1  # a task that raises runs once more: a run is given up after two failures
ALLOWED_FAILURES = 1  # LocalCluster: a task whose worker died twice while it ran is given up
WORKER_WAIT_S = 60.0  # how long a scheduler may have no worker before the sweep gives up


class ClusterError(Exception):
    """The sweep cannot start: no Dask installed, a bad --dask value, a scheduler that cannot be reached."""


@dataclass(frozen=True)
class Target:
    """Where the sweep runs: a scheduler's address, or a LocalCluster of `workers` processes (address None)."""

    address: str | None
    workers: int = 0


def parse_target(spec: str) -> Target:
    """`local`, `local:N`, or a scheduler address (`tcp://host:8786`, `host:8786`, any protocol Dask knows)."""
    spec = spec.strip()
    if not spec:
        raise ClusterError("--dask needs a scheduler address (tcp://host:8786) or local[:N]")
    if spec == "local" or spec.startswith("local:"):
        n = spec[len("local:"):] if ":" in spec else ""
        if not n:
            return Target(None, _usable_cores())
        if not n.isdigit() or int(n) < 1:
            raise ClusterError(f"--dask {spec}: the number of local workers must be a whole number ≥ 1")
        return Target(None, int(n))
    return Target(spec)


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _distributed():
    try:
        import distributed
    except ImportError as e:
        raise ClusterError(f"--dask needs Dask, which is not installed ({e}): pip install 'loganalyze[dask]'") from None
    return distributed


def start_local(workers: int):
    """A LocalCluster of `workers` single-threaded processes on 127.0.0.1, no dashboard.

    The scheduler (in this process) sends a worker one task at a time, so a worker's death marks only
    the task it was running as suspect, and gives a task up after two deaths (Dask's default is four,
    counting every task queued on the dying worker). The workers' sampling profiler, which feeds the
    dashboard only, is off: it cost a sweep of small runs half its wall time (bench_cluster.py).
    """
    import logging

    import dask

    distributed = _distributed()
    with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
                          "distributed.scheduler.worker-saturation": 1.0,
                          "distributed.worker.profile.enabled": False}):
        return distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                        dashboard_address=None, silence_logs=logging.ERROR)


def _failure(exc: BaseException) -> str:
    """Why a task was given up, in words that do not change from one sweep to the next (no task keys)."""
    tries = getattr(exc, "allowed_failures", None)
    if type(exc).__name__ == "CancelledError":
        return "not analyzed: the Dask scheduler cancelled its task (a lost connection, or the cluster shut down)"
    if type(exc).__name__ == "KilledWorker" and tries is not None:
        return (f"not analyzed: the Dask worker running it died on each of {tries + 1} tries "
                "(out of memory, or killed)")
    return f"not analyzed: it failed on the Dask cluster on each of {RETRIES + 1} tries ({type(exc).__name__}: {exc})"


def cluster_map(spec: str, fn: Callable[[Any], Any], items: Sequence[Any],
                failed: Callable[[Any, str], Any]) -> Iterator[Any]:
    """`fn(item)` for each item on the cluster `spec` names, in the order of `items` (as `Pool.map`).

    An item whose task fails twice yields `failed(item, why)` instead. Raises ClusterError when the
    sweep cannot start.
    """
    target = parse_target(spec)
    distributed = _distributed()
    with ExitStack() as stack:
        try:
            if target.address is None:
                cluster = stack.enter_context(start_local(target.workers))
                client = stack.enter_context(distributed.Client(cluster))
            else:
                client = stack.enter_context(distributed.Client(target.address))  # waits distributed.comm.timeouts.connect
            client.wait_for_workers(1, timeout=WORKER_WAIT_S)
        except (OSError, TimeoutError, ValueError) as e:
            where = target.address or f"local:{target.workers}"
            raise ClusterError(f"--dask {where}: cannot use this Dask scheduler ({type(e).__name__}: {e})") from None
        futures = client.map(fn, items, key="loganalyze", pure=False, retries=RETRIES)
        index = {f.key: i for i, f in enumerate(futures)}
        done: dict[int, Any] = {}
        nxt = 0
        for future, result in distributed.as_completed(futures, with_results=True, raise_errors=False):
            i = index[future.key]
            if future.status != "finished":  # erred: (type, exception, traceback); cancelled: the CancelledError
                result = failed(items[i], _failure(result[1] if isinstance(result, tuple) else result))
            done[i] = result
            future.release()
            while nxt in done:
                yield done.pop(nxt)
                nxt += 1
