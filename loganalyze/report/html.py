"""Self-contained HTML report: one file, inlined JS/CSS, canvas charts, no network.

The page must open from disk years later, on an air-gapped machine, so everything it needs is
inside it: the template renders the words (jinja2, autoescaped, so a run called
`<script>…</script>` stays text), and a JSON block carries the decimated curves that a small
hand-written canvas chart draws. Decimation keeps each bucket's minimum and maximum and every
non-finite point, so a spike or a NaN burst in a million-point run stays visible in a few MB.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup

from .. import __version__
from ..cards import Card, load_cards
from ..model import FAMILIES, SEVERITIES, SEVERITY_RANK, AlignedRun, Finding, Report, RunReport, Series
from ..summary import FULL_CHART_POINTS, HANDFUL, SeriesSummary, chart_points
from ._write import printable, write_text
from .jsonout import clean, run_json
from .text import MARK

TEMPLATES = Path(__file__).resolve().parent / "templates"
ICON = {s: MARK[s].split()[0] for s in SEVERITIES}  # ✖ ▲ ●, the terminal's marks

MAX_POINTS = FULL_CHART_POINTS  # per series after decimation: two points (min, max) per bucket
MAX_MARKER_GROUPS = 2000  # non-finite runs per series; beyond that they are merged per bucket
PANEL_LINES = 8  # at most this many curves share one chart
EXTRA_PANELS = 4  # charts of tags that findings are about, beyond the role charts
SHORT_LIST = 6  # lists in stats up to this length are shown in the table; longer ones are not


# ---------------------------------------------------------------- decimation

def _round(v: float) -> float:
    """Seven significant digits: enough for a plot, a third of the bytes of repr()."""
    return float(f"{v:.7g}")


def _nonfinite_groups(step: np.ndarray, value: np.ndarray, limit: int) -> list[tuple[int, int, int, int, str]]:
    """(first index, first step, last step, count, kind) per run of consecutive non-finite points.

    Every non-finite point belongs to one group. When there are more runs than `limit` (a
    series that flickers between NaN and numbers), runs are merged per index bucket instead,
    with kind "mixed" where the bucket holds more than one kind.
    """
    idx = np.flatnonzero(~np.isfinite(value))
    if len(idx) == 0:
        return []
    kinds = np.where(np.isnan(value[idx]), 0, np.where(value[idx] > 0, 1, 2))
    breaks = np.flatnonzero((np.diff(idx) != 1) | (np.diff(kinds) != 0)) + 1
    if len(breaks) + 1 > limit:
        bucket = idx // max(1, math.ceil(len(value) / limit))
        breaks = np.flatnonzero(np.diff(bucket) != 0) + 1
    names = ("nan", "+inf", "-inf")
    groups = []
    for part, part_kinds in zip(np.split(idx, breaks), np.split(kinds, breaks)):
        kind = names[int(part_kinds[0])] if np.all(part_kinds == part_kinds[0]) else "mixed"
        groups.append((int(part[0]), int(step[part[0]]), int(step[part[-1]]), int(len(part)), kind))
    return groups


def _bucket_size(n: int, max_points: int) -> int:
    return 1 if n <= max_points else math.ceil(n / (max_points // 2))


def _min_max_indices(value: np.ndarray, max_points: int) -> np.ndarray:
    """Indices of the minimum and maximum of each index bucket, in order; all when few enough."""
    n = len(value)
    if n <= max_points:
        return np.arange(n)
    size = _bucket_size(n, max_points)
    buckets = math.ceil(n / size)
    padded = np.full(buckets * size, np.nan)
    padded[:n] = value
    rows = padded.reshape(buckets, size)
    base = np.arange(buckets) * size
    lo = base + np.nanargmin(rows, axis=1)
    hi = base + np.nanargmax(rows, axis=1)
    return np.unique(np.concatenate([lo, hi]))


def decimate(series: Series, max_points: int = MAX_POINTS, max_groups: int = MAX_MARKER_GROUPS) -> dict:
    """A series as the chart draws it: {"s": steps, "v": values or None (a gap), "nf": markers, "n": points}.

    Finite points are kept whole up to `max_points`, else as min and max per index bucket. Each
    run of non-finite points becomes a marker [first step, last step, count, kind] and a gap in
    the line at its first step, so the curve does not bridge over a NaN burst.
    """
    order = np.argsort(series.step, kind="stable")
    step, value = series.step[order], series.value[order]
    finite = np.isfinite(value)
    f_idx = np.flatnonzero(finite)
    keep = f_idx[_min_max_indices(value[finite], max_points)] if len(f_idx) else f_idx
    groups = _nonfinite_groups(step, value, max_groups)
    gaps = np.array([g[0] for g in groups], dtype=np.int64)
    at = np.union1d(keep, gaps)
    is_gap = np.isin(at, gaps)
    out = {
        "s": [int(x) for x in step[at]],
        "v": [None if g else _round(float(v)) for v, g in zip(value[at], is_gap)],
        "nf": [[a, b, c, k] for _, a, b, c, k in groups],
        "n": int(len(step)),
        "decimated": bool(len(keep) < len(f_idx)),
    }
    if out["decimated"]:
        # what the smoothed line is drawn from: each bucket's mean at its min and max points, and
        # how many raw points one element stands for, so the EMA weight can be raised to it
        size = _bucket_size(len(f_idx), max_points)
        finite_vals = value[f_idx]
        sums = np.add.reduceat(finite_vals, np.arange(0, len(finite_vals), size))
        counts = np.diff(np.append(np.arange(0, len(finite_vals), size), len(finite_vals)))
        means = sums / counts
        rank = np.searchsorted(f_idx, at)  # position among the finite points (gaps are not finite)
        out["m"] = [None if g else _round(float(means[r // size])) for r, g in zip(rank, is_gap)]
        out["k"] = size / 2
    return out


def _chart(s: Series, max_points: int) -> dict:
    """The curve as drawn: decimated here, or already in the process that analyzed the run."""
    if isinstance(s, SeriesSummary):
        if s.chart is None:
            raise ValueError(f"series {s.tag!r} was summarized without its chart: analyze(..., charts=True) for HTML")
        return s.chart
    return decimate(s, max_points)


# ---------------------------------------------------------------- what goes on which chart

def _panels(run: AlignedRun, findings: tuple[Finding, ...]) -> tuple[list[dict], list[str]]:
    """Charts for one run, grouped by role, and the remaining tags (drawn small, on demand).

    Loss curves share a chart, then accuracy-like metrics, the learning rate, the gradient norm,
    then one chart for the main tag of each finding not drawn yet (a few at most). The epoch
    counter is not drawn: its steps are the epoch boundary lines.
    """
    r = run.roles
    have = {t for t, s in run.series.items() if s.points}
    used: set[str] = {r.epoch} if r.epoch else set()

    def take(tags) -> list[str]:
        out = []
        for t in tags:
            if t and t in have and t not in used and t not in out and len(out) < PANEL_LINES:
                out.append(t)
        used.update(out)
        return out

    pair_tags = [(p.quantity, t) for p in r.pairs for t in (p.train, p.val) if t]
    loss_like = [t for q, t in pair_tags if "loss" in q.lower()]
    named_loss = sorted(t for t in have if "loss" in t.lower())
    metric = [t for q, t in pair_tags if "loss" not in q.lower()]
    higher = sorted(t for t, hib in r.higher_is_better.items() if hib)
    panels = [
        {"title": "Loss", "tags": take([r.train_loss, r.val_loss, *loss_like, *named_loss])},
        {"title": "Metrics", "tags": take([*metric, *higher])},
        {"title": "Learning rate", "tags": take([r.lr])},
        {"title": "Gradient norm", "tags": take([r.grad_norm])},
    ]
    for t in [f.tags[0] for f in findings if f.tags]:  # the tag each finding is about, worst first
        if t in have and t not in used and len(panels) < 4 + EXTRA_PANELS:
            panels.append({"title": t, "tags": take([t])})
    panels = [p for p in panels if p["tags"]]
    if not panels:  # no tag has a known role: draw the first few on their own
        panels = [{"title": t, "tags": take([t])} for t in sorted(have - used)[:EXTRA_PANELS]]
    others = sorted(have - used)
    return panels, others


# ---------------------------------------------------------------- findings

def _fmt(v: Any) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if not math.isfinite(f):
            return str(clean(f))
        return f"{f:,.0f}" if f.is_integer() and abs(f) >= 1000 else f"{f:.4g}"
    if v is None:
        return "—"
    return str(v)


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, (str, bool, int, float, np.generic))


def stat_rows(stats: Mapping[str, Any]) -> tuple[list[tuple[str, str]], list[str]]:
    """The statistics a reader can check, as (name, value) rows; and the names of arrays left out.

    Scalars and short lists of scalars are shown, a dict of scalars one level deep as
    `name.key`; long arrays (profiles, per-epoch values) are listed by name only.
    """
    rows: list[tuple[str, str]] = []
    omitted: list[str] = []
    for key, v in stats.items():
        if _is_scalar(v):
            rows.append((key, _fmt(v)))
        elif isinstance(v, Mapping) and all(_is_scalar(x) for x in v.values()):
            rows += [(f"{key}.{k}", _fmt(x)) for k, x in v.items()]
        elif isinstance(v, (list, tuple, np.ndarray)) and len(v) <= SHORT_LIST and all(_is_scalar(x) for x in v):
            rows.append((key, ", ".join(_fmt(x) for x in v)))
        else:
            size = len(v) if hasattr(v, "__len__") else 0
            omitted.append(f"{key} ({size})")
    return rows, omitted


def _fixes(f: Finding, card: Card | None) -> list[tuple[str, str]]:
    """(for which cause, fix) from the card: the fixes of the finding's causes in rank order, then the card's own."""
    if card is None:
        return []
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    by_cause = {c.cause: c for c in card.causes}
    for c in f.causes:
        cc = by_cause.get(c.cause)
        for fix in cc.fixes if cc else ():
            if fix not in seen:
                seen.add(fix)
                out.append((cc.title or c.cause, fix))
    for fix in card.fixes:
        if fix not in seen:
            seen.add(fix)
            out.append(("", fix))
    return out


def _fold(f: Finding) -> dict | None:
    """The phase-folded profile of a periodicity finding: the mean and one row per epoch (or cycle)."""
    profile = f.stats.get("phase_profile")
    if not profile:
        return None
    return {
        "mean": clean(list(profile)),
        "rows": clean([list(r) for r in f.stats.get("epoch_profiles", [])]),
        "unit": "epoch" if f.rule == "PD001" else "cycle",
        "scale": str(f.stats.get("scale", "")),
    }


# ---------------------------------------------------------------- the page

def _severity_counts(findings) -> dict[str, int]:
    return {s: sum(1 for f in findings if f.severity == s) for s in SEVERITIES}


def _worst_first(rr: RunReport) -> tuple:
    c = _severity_counts(rr.findings)
    worst = max([SEVERITY_RANK[f.severity] for f in rr.findings] or [0])
    return (-worst, -c["error"], -c["warning"], -c["info"], rr.run.name)


def _overview_cell(findings: list[Finding]) -> dict | None:
    if not findings:
        return None
    worst = max(findings, key=lambda f: SEVERITY_RANK[f.severity]).severity
    # rank sorts the overview's column: the worst severity first, then the most findings
    return {"severity": worst, "count": len(findings), "rules": ", ".join(sorted({f.rule for f in findings})),
            "rank": SEVERITY_RANK[worst] * 100_000 + len(findings)}


def _step_span(run: AlignedRun) -> tuple[int, int] | None:
    spans = [(s.first_step, s.last_step) for s in run.series.values() if s.points]
    if not spans:
        return None
    return min(a for a, _ in spans), max(b for _, b in spans)


def _baseline_lines(rc) -> dict:
    """The baseline's smoothed curves of one run, per tag (one per repeat), drawn behind the new ones."""
    if rc is None:
        return {}
    return {tag: [{"s": [int(x) for x in c.step], "v": [_round(float(v)) for v in c.value]} for c in curves]
            for tag, curves in rc.baseline_curves.items()}


def _context(report: Report, title: str, generated: str | None, comparison=None) -> dict:
    cards = load_cards()
    ordered = sorted(report.runs, key=_worst_first)
    runs, data_runs, used_cards = [], [], set()
    for i, rr in enumerate(ordered):
        run = rr.run
        rid = f"run-{i}"
        panels, others = _panels(run, rr.findings)
        drawn = {t for p in panels for t in p["tags"]} | set(others)
        findings = []
        for j, f in enumerate(rr.findings):
            card = cards.get(f.rule)
            if card:
                used_cards.add(f.rule)
            rows, omitted = stat_rows(f.stats)
            findings.append({
                "id": f"{rid}-f{j}", "f": f, "card": card, "stats": rows, "omitted": omitted,
                "fixes": _fixes(f, card), "fold": _fold(f), "icon": ICON.get(f.severity, ""),
            })
        by_family = {fam: [f for f in rr.findings if f.family == fam] for fam in FAMILIES}
        first_of_family = {fam: next((d["id"] for d in findings if d["f"].family == fam), None) for fam in FAMILIES}
        rc = comparison.get(run.name) if comparison is not None else None
        runs.append({
            "id": rid, "rr": rr, "json": run_json(rr), "panels": panels, "others": others, "rc": rc,
            "findings": findings, "counts": _severity_counts(rr.findings), "span": _step_span(run),
            "cells": {fam: _overview_cell(by_family[fam]) for fam in FAMILIES}, "first_of_family": first_of_family,
            "severities": " ".join(s for s in SEVERITIES if any(f.severity == s for f in rr.findings)) or "none",
            "rules": " ".join(sorted({w for f in rr.findings for w in (f.rule, f.name)})),
        })
        data_runs.append({
            "id": rid,
            "epochs": [int(x) for x in run.epochs.starts],
            "panels": panels,
            "others": others,
            # only what a chart draws (the epoch counter is drawn as the boundary lines, from "epochs")
            "series": {tag: _chart(s, chart_points(len(report.runs), bool(rr.findings)))
                       for tag, s in sorted(run.series.items()) if s.points and tag in drawn},
            "val_tags": sorted({p.val for p in run.roles.pairs if p.val} | {t for t in [run.roles.val_loss] if t}),
            "findings": [{"id": d["id"], "rule": d["f"].rule, "severity": d["f"].severity, "tags": list(d["f"].tags),
                          "step_range": [int(x) for x in d["f"].step_range],
                          "ranges": [[int(a), int(b)] for a, b in d["f"].ranges],
                          "fold": d["fold"]} for d in findings],
            **({"baseline": _baseline_lines(rc)} if rc is not None else {}),
        })
    data = {"runs": data_runs}
    return {
        "title": title,
        "generated": generated,
        "version": __version__,
        "runs": runs,
        "eager_runs": HANDFUL,  # sections drawn at once; the rest when scrolled to
        "families": FAMILIES,
        "icon": ICON,
        "totals": _severity_counts(report.findings),
        "problems": sorted(report.problems, key=lambda p: (p.file, p.kind, p.detail)),
        "cards": [cards[k] for k in sorted(used_cards)],
        "css": Markup(_asset("report.css")),
        "js": Markup(_asset("report.js")),
        "data": Markup(script_json(data)),
        "comparison": comparison,
    }


def script_json(data: Any) -> str:
    """JSON for a <script type="application/json"> block: `<`, `>` and `&` escaped, so no `</script>` can close it."""
    text = json.dumps(clean(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    text = _JSON_ESCAPE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)  # names of any bytes: see _write
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_JSON_ESCAPE = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def _asset(name: str) -> str:
    text = (TEMPLATES / name).read_text(encoding="utf-8")
    if "</" + "script" in text.lower() or "</" + "style" in text.lower():
        raise ValueError(f"{name} must not contain a closing script/style tag")
    return text


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True, trim_blocks=True,
                      lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["num"] = _fmt
    env.filters["pct"] = lambda x: f"{float(x):.0%}"
    env.filters["human"] = lambda s: str(s).replace("_", " ")
    return env


def render_html(report: Report, title: str = "loganalyze report", generated: str | None = None,
                comparison=None) -> str:
    """The whole report as one HTML document. Same report, same bytes: no clock unless `generated` is given.

    With a `comparison`, the baseline's curves are drawn behind the new ones and each run says what it was
    compared with."""
    return printable(_env().get_template("report.html.j2").render(**_context(report, title, generated, comparison)))


def write_html(report: Report, path: str | Path, **kw) -> None:
    write_text(path, render_html(report, **kw))
