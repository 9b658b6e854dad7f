"""False-alarm rates of every rule on healthy curves it was not tuned on (tests/curves_heldout.py).

Seeds: the detectors were developed on tests/curves.py's seeds 0–199 (`TUNING_SEEDS`); these
200 curves use `HELDOUT_SEEDS` = 50_000–50_199 of a generator family that shares no code or
parameters with it, 20 curves of each of its 10 shapes, round-robin over the seeds.

Claim: every rule's false-alarm rate on healthy runs is at most 1% (TARGET), the design's
"hold the false-positive rate low". A count fails the claim when a rule whose rate were exactly
1% would reach it less than 5% of the time (its one-sided 95% Clopper–Pearson lower bound is
above 1%): more than 5 of 200 runs over all shapes (5/200 = 2.5%, lower bound 0.99%), more than
1 of the 20 runs of one shape (2/20 has lower bound 1.8%). What a pass certifies is weaker: 0 of
200 bounds the rate below 1.49% (one-sided 95%), 5 of 200 below 5.18%; the shape cells, 20 runs
each, bound it only below 13.9% (0/20) and 21.6% (1/20) — they are there to find the shape a rule
trips on, not to certify its rate.

A finding is a false alarm at "warning+" when its severity is warning or error, at "any" at any
severity. IN004 (missing validation) states a fact on the train-only shapes and is counted only
on runs that do log a validation loss. Rules whose info describes a healthy run by design
(`ABOUT_HEALTHY_RUNS`, e.g. PL004 "converged early") are held to the warning+ bound only.

Measured when written (detectors as of d846506 plus the lead's uncommitted plateau.py), per rule
over all 200 runs, warning+ / any severity:

    AC001 AC002 DV001 IN001–IN004 NF001 OS001 PD001 PL002 SP001   0 / 0 of 200  (upper bound 1.49%)
    PD002   3 / 5 of 200  (1.5%, upper bound 3.83% / 2.5%, upper bound 5.18%) — all on step_decay
    PL001   1 / 1 of 200  (0.5%, upper bound 2.35%)  — converged_plateau seed 50042, its floor 1.6 ≈ ln 5
            (at d846506 without the uncommitted plateau.py also seed 50072, floor 1.583: 2 of 20, over the
            shape bound)
    PL003   0 / 0 of 200;  PL004 (info by design) 0 / 65 of 200

No rule reads `rollout/episode_return` (rl_returns): it is not a loss, so that shape's zeros say
only that no rule misreads it as one.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from curves_heldout import HELDOUT_CASES, HELDOUT_SEEDS, SHAPES, TUNING_SEEDS, heldout
from loganalyze.align import from_arrays
from loganalyze.cards import load_cards
from loganalyze.config import Config
from loganalyze.engine import run_rules
from stats_bounds import clopper_pearson_lower, clopper_pearson_upper, describe, max_count_for_rate

TARGET = 0.01
N = len(HELDOUT_CASES)
PER_SHAPE = N // len(SHAPES)
ALLOWED = max_count_for_rate(N, TARGET)  # 5 of 200
ALLOWED_PER_SHAPE = max_count_for_rate(PER_SHAPE, TARGET)  # 1 of 20
RULES = sorted(load_cards())
LEVELS = ("warning+", "any")
# info findings that are true of a healthy run, so not alarms at "any" (still held to warning+)
ABOUT_HEALTHY_RUNS = {
    "PL004": "converged early: an info on every run that trained well past convergence (65 of these 200)",
}

# (rule, shape, level) cells over their bound with the detectors of the day: strict, so the day a
# detector is fixed the XPASS says so and the mark comes off. Example curves: heldout(shape, seed).
KNOWN: dict[tuple[str, str, str], str] = {
    # PD002 on step_decay (3 of 20 warnings, 5 of 20 any) was here until PD002 detrended with a rolling
    # median and asked every cycle to swing alike (cycle agreement, amplitude consistency)
}


@pytest.fixture(scope="module")
def alarms() -> dict:
    """{(rule, level): [(shape, seed, summary), …]} over the 200 held-out healthy runs (1–2 s on one core)."""
    found = defaultdict(list)
    config = Config()
    for shape, seed in HELDOUT_CASES:
        report = run_rules(from_arrays(f"{shape}-{seed}", heldout(shape, seed), config), config)
        assert not [n for n in report.notes if "internal error" in n], (shape, seed, report.notes)
        seen = set()
        for f in report.findings:
            if f.rule == "IN004" and report.run.roles.val_loss is None:
                continue  # true on a train-only run
            for level in LEVELS:
                if (f.rule, level) in seen or (level == "warning+" and f.severity not in ("warning", "error")):
                    continue
                seen.add((f.rule, level))
                found[(f.rule, level)].append((shape, seed, f.summary))
    return found


def test_the_held_out_family_is_apart_from_the_tuning_seeds():
    assert not set(HELDOUT_SEEDS) & set(TUNING_SEEDS)
    assert len(HELDOUT_CASES) == 200 and {s for _, s in HELDOUT_CASES} == set(HELDOUT_SEEDS)
    assert all(sum(sh == shape for sh, _ in HELDOUT_CASES) == PER_SHAPE for shape in SHAPES)
    with pytest.raises(ValueError, match="tuning seeds"):
        heldout("warmup_cosine", 7)


def test_the_bounds_are_the_binomial_ones():
    """5 of 200 and 1 of 20 are the largest counts a 1% rate reaches at least 5% of the time."""
    assert (ALLOWED, ALLOWED_PER_SHAPE) == (5, 1)
    assert clopper_pearson_lower(5, 200) <= TARGET < clopper_pearson_lower(6, 200)
    assert clopper_pearson_lower(1, 20) <= TARGET < clopper_pearson_lower(2, 20)
    assert clopper_pearson_upper(0, 200) == pytest.approx(1 - 0.05 ** (1 / 200))  # the exact k = 0 case
    assert clopper_pearson_upper(4, 200) == pytest.approx(0.0452, abs=1e-4)
    assert clopper_pearson_upper(5, 200) == pytest.approx(0.0518, abs=1e-4)


def test_the_generator_is_deterministic():
    a, b = heldout("step_decay", 50_031), heldout("step_decay", 50_031)
    assert all((a[t][1] == b[t][1]).all() for t in a)


@pytest.mark.parametrize("seed", HELDOUT_SEEDS[:20])
def test_every_shape_is_the_healthy_run_its_name_says(seed):
    """The curves fall (the returns rise), validation sits a little above training, nothing bursts."""
    med = np.median
    for shape in SHAPES:
        c = heldout(shape, seed)
        tag = "rollout/episode_return" if shape == "rl_returns" else ("loss" if shape == "per_epoch" else "train/loss")
        y = c[tag][1]
        k = max(2, len(y) // 10)
        assert np.isfinite(y).all() and len(c[tag][0]) == len(y) and (np.diff(c[tag][0]) > 0).all()
        if shape == "rl_returns":
            assert med(y[-k:]) > med(y[:k]), shape
        else:
            assert med(y[-k:]) < 0.9 * med(y[:3]) and (y > 0).all(), shape
        if shape == "very_short":
            assert 8 <= len(y) <= 40
        if shape == "per_epoch":
            assert 5 <= len(y) <= 60 and 1.0 < med(c["val_loss"][1] / y) < 1.25
        if shape == "step_decay":  # the loss drops where the LR does
            lr = c["lr"][1]
            for m in np.flatnonzero(np.diff(lr)) + 1:
                assert med(y[m + 100:m + 150]) < 0.9 * med(y[m - 50:m]), (seed, m)
        if shape == "with_lr_and_grad_norm":
            g = c["train/grad_norm"][1]
            assert g.max() < 4 * med(g)


@pytest.mark.parametrize("rule, level", [(r, lv) for r in RULES for lv in LEVELS
                                         if not (lv == "any" and r in ABOUT_HEALTHY_RUNS)])
def test_false_alarm_rate_of_each_rule(alarms, rule, level):
    hits = alarms[(rule, level)]
    assert len(hits) <= ALLOWED, (f"{rule} ({level}) on {describe(len(hits), N)} held-out healthy runs, more "
                                  f"than the {ALLOWED} a {TARGET:.0%} rate allows: {hits[:6]}")


def _cases():
    for rule in RULES:
        for shape in SHAPES:
            for level in LEVELS:
                if level == "any" and rule in ABOUT_HEALTHY_RUNS:
                    continue
                reason = KNOWN.get((rule, shape, level))
                marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
                yield pytest.param(rule, shape, level, marks=marks, id=f"{rule}-{shape}-{level}")


@pytest.mark.parametrize("rule, shape, level", list(_cases()))
def test_false_alarms_of_each_rule_on_each_shape(alarms, rule, shape, level):
    hits = [h for h in alarms[(rule, level)] if h[0] == shape]
    assert len(hits) <= ALLOWED_PER_SHAPE, (
        f"{rule} ({level}) on {describe(len(hits), PER_SHAPE)} healthy '{shape}' runs, more than the "
        f"{ALLOWED_PER_SHAPE} a {TARGET:.0%} rate allows: {hits}")
