"""Arrays the rules share within a run: computed once, read-only, and the same numbers as computed alone."""
import contextlib

import numpy as np
import pytest

from loganalyze import derived
from loganalyze.align import from_arrays
from loganalyze.config import Config
from loganalyze.detectors._curves import scaled
from loganalyze.detectors.periodicity import lr_restarts
from loganalyze.engine import run_rules
from loganalyze.model import Series


def test_finite_sorted_drops_non_finite_points_and_keeps_the_order_written_at_equal_steps():
    s = Series.from_lists("loss", [3, 1, 2, 2, 5], [0.3, 0.1, np.nan, 0.22, np.inf])
    step, value = derived.finite_sorted(s)
    assert step.tolist() == [1, 2, 3] and value.tolist() == [0.1, 0.22, 0.3]
    s = Series.from_lists("loss", [0, 1, 1, 2], [0.4, 0.3, 0.35, 0.2])  # sorted and finite: the series' own points
    step, value = derived.finite_sorted(s)
    assert step.tolist() == [0, 1, 1, 2] and value.tolist() == [0.4, 0.3, 0.35, 0.2]
    with pytest.raises(ValueError):
        value[0] = 1.0  # a view of the series: writing into it would change the log itself
    assert s.value[0] == 0.4


def test_within_a_scope_a_series_is_scaled_once_and_the_result_is_read_only():
    s = Series.from_lists("loss", [2, 0, 1], [0.5, 2.0, 1.0])
    alone = scaled(s)
    assert scaled(s) is not alone  # outside a scope: computed afresh on every call
    with derived.shared():
        first = scaled(s)
        assert scaled(s) is first
        assert not first[1].flags.writeable
        assert first[0].tolist() == [0, 1, 2] and np.array_equal(first[1], np.log([2.0, 1.0, 0.5])) and first[2]
        other = Series.from_lists("loss", [2, 0, 1], [0.5, 2.0, 1.0])
        assert scaled(other) is not first  # the same numbers in another series: not the same entry
    assert all(np.array_equal(a, b) for a, b in zip(alone[:2], first[:2]))
    with derived.shared():
        assert scaled(s) is not first  # a new scope starts empty


def test_run_rules_gives_the_same_findings_as_each_rule_alone_on_its_own_arrays(monkeypatch):
    rng = np.random.default_rng(3)
    x = np.arange(3000)
    loss = np.exp(-x / 800) + 0.2 + 0.02 * rng.standard_normal(len(x))
    loss[[700, 1500, 2200]] *= 6  # spikes: SP001 finds them on the shared log-loss
    loss[(x % 100) == 99] *= 1.3  # a last-batch bump every 100-step epoch: PD001 folds the same arrays
    run = from_arrays("r", {"train/loss": (x, loss), "epoch": (x, (x // 100).astype(float)),
                            "val/loss": (x[99::100], loss[99::100] * 1.1)})
    shared = run_rules(run, Config())
    monkeypatch.setattr(derived, "shared", contextlib.nullcontext)  # each rule computes everything itself
    alone = run_rules(run, Config())
    assert {f.rule for f in shared.findings} >= {"SP001", "PD001"}
    assert [(f.rule, f.summary, f.stats) for f in shared.findings] == [(f.rule, f.summary, f.stats) for f in alone.findings]
    assert shared.notes == alone.notes  # no rule failed on a read-only array


def _restarts_one_by_one(lr, factor):
    restarts, decayed = [], False
    for i in range(1, len(lr)):
        if lr[i] < lr[i - 1]:
            decayed = True
        elif decayed and lr[i] >= factor * lr[i - 1] > 0:
            restarts.append(i)
            decayed = False
    return restarts


def test_lr_restarts_are_rises_after_a_decay():
    cosine = 0.5 * (1 + np.cos(np.pi * (np.arange(40) % 10) / 10))  # four cycles of a warm-restart cosine
    assert lr_restarts(cosine, 1.5) == [10, 20, 30]
    assert lr_restarts(np.array([1.0, 2.0, 4.0]), 1.5) == []  # a warm-up rises without decaying first
    assert lr_restarts(np.array([1.0, 0.5, 1.0, 2.0, 1.0, 2.0]), 1.5) == [2, 5]  # one restart per decay
    rng = np.random.default_rng(0)
    for _ in range(2000):
        lr = rng.choice([0.0, 0.5, 1.0, 1.5, 3.0], size=int(rng.integers(0, 25)))
        factor = float(rng.choice([0.5, 1.0, 1.5, 2.0]))
        assert lr_restarts(lr, factor) == _restarts_one_by_one(lr, factor)
