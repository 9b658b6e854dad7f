"""What a report needs of an analyzed run, without its points: counts, span and chart-ready curves.

A sweep of thousands of runs would hold every point of every run in one process to write a
report that prints a few numbers per series and draws a few hundred points per curve. So the
process that analyzes a run (a worker of the pool, or the CLI itself) keeps only this: each
series' point count, non-finite count and step span, and, when a chart will be drawn, the
curve already decimated to what the chart can show.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .model import RunReport, Series

HANDFUL = 8  # up to this many runs in a report, every chart keeps full detail
FULL_CHART_POINTS = 4000  # a run with findings (or one of a handful): 2,000 min/max buckets per series
SWEEP_CHART_POINTS = 200  # a run without findings in a sweep: 100 min/max buckets, a glance at its shape


def chart_points(n_runs: int, has_findings: bool) -> int:
    """How many points a run's curves keep on the chart: what a reader looks at closely keeps detail."""
    return FULL_CHART_POINTS if has_findings or n_runs <= HANDFUL else SWEEP_CHART_POINTS


_EMPTY_I = np.zeros(0, dtype=np.int64)
_EMPTY_F = np.zeros(0, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class SeriesSummary(Series):
    """A series reduced to what the reports show. Its arrays are empty: the points are not here.

    `chart` is the decimated curve (`report.html.decimate`) when a chart will be drawn, else None.
    """

    total_points: int = 0
    nonfinite_points: int = 0
    span: tuple[int | None, int | None] = (None, None)
    final: float | None = None  # the value at the last step
    chart: dict[str, Any] | None = None
    curve: Any = None  # compare.Curve of a loss or metric: what a JSON report carries for `compare`

    @property
    def points(self) -> int:
        return self.total_points

    @property
    def nonfinite(self) -> int:
        return self.nonfinite_points

    @property
    def first_step(self) -> int | None:
        return self.span[0]

    @property
    def last_step(self) -> int | None:
        return self.span[1]

    @property
    def last_value(self) -> float | None:
        return self.final

    @classmethod
    def of(cls, s: Series, chart_at: int | None, curve: Any = None) -> "SeriesSummary":
        chart = None
        if chart_at and s.points:
            from .report.html import decimate

            chart = decimate(s, chart_at)
        return cls(s.tag, _EMPTY_I, _EMPTY_F, _EMPTY_F, s.points, s.nonfinite, (s.first_step, s.last_step),
                   s.last_value, chart, curve)


def summarize(rr: RunReport, n_runs: int, charts: bool) -> RunReport:
    """The run report with every series replaced by its summary (and the members' series dropped)."""
    at = chart_points(n_runs, bool(rr.findings)) if charts else None
    from .compare import run_curves

    run = rr.run
    curves = run_curves(run)
    series = {tag: SeriesSummary.of(s, at, curves.get(tag)) for tag, s in run.series.items()}
    members = tuple(replace(r, series={}) for r in run.runs)
    return replace(rr, run=replace(run, runs=members, series=series))
