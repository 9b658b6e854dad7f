"""Diagnosis benchmark: how often the analysis finds what a person (or the mechanism) says is there.

    python tests/bench/bench_diagnosis.py                 # every corpus, the full table + misses
    python tests/bench/bench_diagnosis.py --only real     # realworld + realworld-dev only (seconds)
    python tests/bench/bench_diagnosis.py --json out.json # the table as JSON, for before/after diffs

Corpora, each scored on its own:

* `fixtures`   — fixtures/manifest.toml: the reference trainer's scenarios (truth: the mechanism).
* `realworld`  — ../shared/realworld/labels.json, logs of other people labelled by eye.
* `dev`        — ../shared/realworld-dev/manifest.json, 44 more real logs labelled by eye.
* `corpus-tuning`, `corpus-heldout` — the generated varied corpus (tests/bench/corpus.py), split by
  seed and architecture; the held-out line is the number that counts.

Scoring, per family (the label's phenomenon mapped to a rule family):

* a label is *found* when the log has a finding of that family on one of the label's tags (the
  tag as the log writes it; Keras' `train:`/`validation:` prefixes normalised) or, where the
  label has a step range, one that overlaps it;
* *precision* counts warning/error findings: one that matches no present label of the log
  (any confidence) is a false alarm; one that matches only a low-confidence label is neutral;
  info findings are listed but never counted either way;
* *healthy* logs must have no warning or error at all;
* *top-1 cause* is scored where the truth names a cause (fixtures, the generated corpus).

High- and medium-confidence labels are reported on separate lines. Not a test: it reads the
logs and prints; the tests assert the parts that must never regress.
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import os
import sys
import time
import tomllib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("LOGANALYZE_SHARED") or ROOT.parent / "shared")  # (as the tests read it)
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from loganalyze.config import Config  # noqa: E402
from loganalyze.engine import analyze  # noqa: E402

PHENOMENON_FAMILY = {
    "periodic_per_epoch": "periodicity",
    "schedule_periodicity": "periodicity",
    "divergence": "divergence",
    "oscillation": "oscillation",
    "val_train_anticorrelation": "anticorrelation",
    "nonfinite": "nonfinite",
    "spikes": "spikes",
    "plateau": "plateau",
    "restart_overlap": "integrity",
}
# integrity findings that are about the curve's steps; a damaged file or a missing validation
# loss is real but no label speaks of it, so those are neither hits nor false alarms
REWIND_RULES = {"IN001", "IN002"}
SEVERE = {"warning", "error"}


@dataclass
class Label:
    family: str
    confidence: str  # high / medium / low
    tags: tuple[str, ...] = ()
    step_range: tuple[int, int] | None = None
    cause: str | None = None
    why: str = ""


@dataclass
class Case:
    corpus: str
    id: str
    path: Path
    labels: list[Label] = field(default_factory=list)
    healthy: bool = False
    # families the labeller looked for; a finding of another family is neither hit nor false alarm
    scored: frozenset[str] = frozenset(PHENOMENON_FAMILY.values())


# ---- truth ----------------------------------------------------------------------------------------

def _norm_tag(t: str) -> str:
    return t.strip().lower().replace(":", "/").strip("/")  # Keras' `validation:epoch_loss` is our tag


def realworld_cases(base: Path = SHARED / "realworld") -> list[Case]:
    doc = json.loads((base / "labels.json").read_text())
    cases = []
    for r in doc["runs"]:
        labels = []
        healthy = False
        for ph, lab in r["labels"].items():
            if not lab.get("present"):
                continue
            if ph == "healthy":
                healthy = lab["confidence"] in ("high", "medium")
                continue
            rng = tuple(lab["step_range"]) if lab.get("step_range") else None
            labels.append(Label(PHENOMENON_FAMILY[ph], lab["confidence"], tuple(lab.get("tags") or ()), rng,
                                why=lab.get("why", "")))
        vocabulary = frozenset(PHENOMENON_FAMILY[p] for p in doc["phenomena"] if p in PHENOMENON_FAMILY)
        cases.append(Case("realworld", r["dir"], base / r["dir"], labels, healthy and not labels, vocabulary))
    return cases


# The labeller's free-text `cause_hint`s in realworld-dev/manifest.json, read once into our cause
# vocabulary (by a person, from the hint's words; never from the analysis). Hints that name no cause
# of ours (a timing artifact, an undefined COCO AP) are left out.
DEV_CAUSE_HINTS = {
    "Multi-epoch fine-tuning on a small dataset": "memorization",
    "Peak learning rate 3e-3": "lr_too_high",
    "Learning rate 0.1 after warm-up": "lr_too_high",
    "The objective is unbounded below": "unbounded_loss",
    "NaN from the very first logged epoch points to invalid inputs or an invalid loss term": "unstable_loss",
}


def _hint_cause(hint: str | None) -> str | None:
    return next((c for k, c in DEV_CAUSE_HINTS.items() if hint and hint.startswith(k)), None)


def dev_cases(base: Path = SHARED / "realworld-dev") -> list[Case]:
    doc = json.loads((base / "manifest.json").read_text())
    cases = []
    for r in doc["runs"]:
        labels = []
        healthy = False
        for lab in r["labels"]:
            if lab["phenomenon"] == "healthy":
                healthy = True
                continue
            series = lab.get("series") or ()
            if isinstance(series, str):
                series = (series,)
            rng = tuple(lab["step_range"]) if lab.get("step_range") else None
            labels.append(Label(PHENOMENON_FAMILY[lab["phenomenon"]], lab["confidence"], tuple(series), rng,
                                _hint_cause(lab.get("cause_hint")), why=lab.get("note", "")))
        cases.append(Case("dev", r["id"], base / r["path"], labels, healthy and not labels))
    return cases


def fixture_cases(base: Path = ROOT / "fixtures") -> list[Case]:
    manifest = tomllib.loads((base / "manifest.toml").read_text())
    cases = []
    for name, entry in manifest.items():
        # step specs computed from the raw series ("run", "argmin(TAG)..end") are the manifest test's business;
        # here a label with no literal range is matched on its family alone
        labels = [Label(e["family"], "high", (), tuple(e["steps"]) if isinstance(e.get("steps"), list) else None,
                        e.get("cause"), e.get("why", entry.get("about", "")))
                  for e in entry.get("expect", [])]
        for fmt, sub in (("events", ""), ("csv", "csv/metrics.csv")):
            path = base / name / sub if sub else base / name
            cases.append(Case("fixtures", f"{name} [{fmt}]", path, labels, not labels))
    return cases


def corpus_cases(rebuild: bool = False, cache: Path | None = None) -> list[Case]:
    try:
        import corpus  # tests/bench/corpus.py
    except ImportError as e:  # torch missing, or the corpus module not there
        print(f"(generated corpus skipped: {e})", file=sys.stderr)
        return []
    cache = cache or ROOT / ".cache" / "diagnosis-corpus"
    if rebuild and cache.exists():
        import shutil
        shutil.rmtree(cache)
    out = []
    for c in corpus.build(cache):
        labels = [Label(lab.family, "high", tuple(lab.tags), tuple(lab.step_range) if lab.step_range else None,
                        lab.cause, lab.why) for lab in c.labels]
        out.append(Case(f"corpus-{c.split}", c.id, Path(c.path), labels, not labels))
    return out


# ---- matching -------------------------------------------------------------------------------------

def _tag_match(label_tags: tuple[str, ...], finding_tags: tuple[str, ...]) -> bool:
    ft = [_norm_tag(t) for t in finding_tags]
    for lt in label_tags:
        lt = _norm_tag(lt)
        for t in ft:
            if t == lt or fnmatch.fnmatch(t, lt) or t.endswith("/" + lt) or lt.endswith("/" + t):
                return True
    return False


def _range_overlap(a: tuple[int, int] | None, b: tuple[int, int]) -> bool:
    if a is None:
        return False
    lo, hi = min(a), max(a)
    slack = max(1, round(0.05 * max(abs(hi), 1)))
    return b[0] <= hi + slack and b[1] >= lo - slack


def matches(label: Label, f) -> bool:
    if f.family != label.family:
        return False
    if label.family == "integrity" and f.rule not in REWIND_RULES:
        return False
    if not label.tags and label.step_range is None:
        return True
    return _tag_match(label.tags, f.tags) or _range_overlap(label.step_range, tuple(f.step_range))


def _top_cause(f) -> str | None:
    return f.causes[0].cause if f.causes else None


# ---- scoring --------------------------------------------------------------------------------------

@dataclass
class Tally:
    labels: int = 0
    found: int = 0
    cause_known: int = 0
    cause_right: int = 0
    alarms: int = 0  # severe findings of this family
    false_alarms: int = 0
    healthy_alarms: int = 0


def findings_of(report, case: Case) -> list:
    return [f for rr in report.runs for f in rr.findings]


def score(cases: list[Case], jobs: int = 2) -> tuple[dict, list[str], dict]:
    tallies: dict[tuple[str, str, str], Tally] = defaultdict(Tally)  # (corpus, confidence, family)
    lines: list[str] = []
    healthy: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # corpus -> [healthy logs, with alarms]
    for case in cases:
        if not case.path.exists():
            lines.append(f"ABSENT   {case.corpus:15} {case.id}: {case.path} does not exist")
            continue
        try:
            report = analyze([case.path], Config(), jobs=1)
        except Exception as e:  # noqa: BLE001 — a crash is a result to print, not a reason to stop
            lines.append(f"CRASH    {case.corpus:15} {case.id}: {type(e).__name__}: {e}")
            continue
        found = findings_of(report, case)
        for lab in case.labels:
            t = tallies[(case.corpus, lab.confidence, lab.family)]
            t.labels += 1
            hits = [f for f in found if matches(lab, f)]
            if hits:
                t.found += 1
                if lab.cause:
                    t.cause_known += 1
                    causes = [_top_cause(f) for f in hits]
                    if lab.cause in causes:
                        t.cause_right += 1
                    else:
                        lines.append(f"CAUSE    {case.corpus:15} {case.id}: {lab.family} cause {lab.cause!r}, "
                                     f"found {causes}")
            elif lab.confidence != "low":
                lines.append(f"MISS     {case.corpus:15} {case.id}: {lab.family} ({lab.confidence}) "
                             f"{list(lab.tags)[:3]} {lab.step_range} — {lab.why[:110]}")
        if case.healthy:
            healthy[case.corpus][0] += 1
        severe = [f for f in found if f.severity in SEVERE and f.family in case.scored
                  and not (f.family == "integrity" and f.rule not in REWIND_RULES)]
        if case.healthy and severe:
            healthy[case.corpus][1] += 1
        for f in severe:
            t = tallies[(case.corpus, "high", f.family)]
            t.alarms += 1
            hit = [lab for lab in case.labels if matches(lab, f)]
            if not hit:
                t.false_alarms += 1
                t.healthy_alarms += int(case.healthy)
                lines.append(f"FALSE    {case.corpus:15} {case.id}: {f.rule} {f.severity} {list(f.tags)[:3]} "
                             f"{tuple(f.step_range)} — {f.summary[:110]}")
    return tallies, lines, healthy


def table(tallies, healthy) -> tuple[list[str], dict]:
    rows = []
    summary: dict = {}
    corpora = sorted({k[0] for k in tallies} | set(healthy), key=lambda c: (
        ["fixtures", "realworld", "dev", "corpus-tuning", "corpus-heldout"] + [c]).index(c))
    hdr = f"{'corpus':15} {'conf':6} {'family':16} {'recall':>11} {'precision':>11} {'cause@1':>9}"
    rows.append(hdr)
    rows.append("-" * len(hdr))
    for corpus in corpora:
        for conf in ("high", "medium"):
            fams = sorted({k[2] for k in tallies if k[0] == corpus and k[1] == conf})
            tot = Tally()
            for fam in fams:
                t = tallies[(corpus, conf, fam)]
                if not (t.labels or t.alarms):
                    continue
                for k in vars(tot):
                    setattr(tot, k, getattr(tot, k) + getattr(t, k))
                rows.append(_row(corpus, conf, fam, t))
                summary.setdefault(corpus, {}).setdefault(conf, {})[fam] = vars(t).copy()
            if tot.labels or tot.alarms:
                rows.append(_row(corpus, conf, "ALL", tot))
                summary.setdefault(corpus, {}).setdefault(conf, {})["ALL"] = vars(tot).copy()
        if corpus in healthy:
            n, bad = healthy[corpus]
            rows.append(f"{corpus:15} {'':6} {'healthy logs':16} {bad} of {n} with a warning/error")
            summary.setdefault(corpus, {})["healthy"] = {"logs": n, "with_alarms": bad}
        rows.append("")
    return rows, summary


def _row(corpus: str, conf: str, fam: str, t: Tally) -> str:
    rec = f"{t.found}/{t.labels} {t.found / t.labels:4.2f}" if t.labels else "-"
    prec_n = t.alarms
    prec = f"{prec_n - t.false_alarms}/{prec_n} {(prec_n - t.false_alarms) / prec_n:4.2f}" if prec_n and conf == "high" \
        else "-"
    cause = f"{t.cause_right}/{t.cause_known}" if t.cause_known else "-"
    return f"{corpus:15} {conf:6} {fam:16} {rec:>11} {prec:>11} {cause:>9}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=["fixtures", "real", "corpus"], help="score one group of corpora")
    ap.add_argument("--json", help="write the table as JSON")
    ap.add_argument("--rebuild", action="store_true", help="regenerate the corpus instead of using the cache")
    ap.add_argument("--quiet", action="store_true", help="the table only, no per-case lines")
    ap.add_argument("--cache", type=Path, help="where the generated corpus is kept (default .cache/diagnosis-corpus; "
                                               "a full build removes the cases of variants that no longer exist)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    cases: list[Case] = []
    if args.only in (None, "fixtures"):
        cases += fixture_cases()
    if args.only in (None, "real"):
        cases += realworld_cases() + dev_cases()
    if args.only in (None, "corpus"):
        cases += corpus_cases(args.rebuild, args.cache)
    tallies, lines, healthy = score(cases)
    rows, summary = table(tallies, healthy)
    print("\n".join(rows))
    if not args.quiet:
        for line in sorted(lines):
            print(line)
    print(f"\n{len(cases)} logs scored in {time.perf_counter() - t0:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
