"""Behaviour that a mutation run over loganalyze/detectors showed no other fast test pins down.

Each test is an example of one decision a detector makes (a severity, a cause, a step range, a
deferral to another rule), on a curve whose mechanism is stated, with the numbers that decide it.
They were written for the mutants of issue 17's mutation check (cosmic-ray over comparisons,
numeric constants and boolean operators, on fixed-seed samples of 154 and of 61 mutants, see
tests/bench/cosmic-ray.toml): each one fails on the mutant named in its docstring and passes on the
unmutated code.
"""
import re

import numpy as np
from scipy import stats

from curves import findings
from conftest import FIXTURES
from loganalyze.config import Config
from loganalyze.engine import analyze

N = 2000
S = np.arange(N)
LN10 = float(np.log(10))


def noisy(y, sigma, seed):
    return y * np.exp(sigma * np.random.default_rng(seed).standard_normal(len(y)))


# --- DV001: how far a climb goes decides warning or error; the shape decides "climbs" or "jumps"

def climb(factor, seed=5):
    """Learning until step 1500, then a steady log-linear climb to `factor`× the best by step 3000."""
    s = np.arange(3000)
    y = np.where(s < 1500, 2.0 * np.exp(-s / 400), 2.0 * np.exp(-1500 / 400) * factor ** ((s - 1500) / 1500))
    return s, noisy(y, 0.05, seed)


def test_a_threefold_climb_is_a_warning_and_a_thirtyfold_one_an_explosion():
    """explode_factor is 10: a 2.8× climb stays a warning, a 23× one is an error (divergence.py
    `factor >= explode_factor` → `<=` swaps the two). With no LR and no gradient norm logged the only
    cause is `unknown`, with a confidence that is a probability."""
    s, y = climb(3.0)
    (f,) = findings({"train/loss": (s, y)}, "DV001")
    assert 2 < f.stats["rise_factor"] < 4
    assert f.severity == "warning" and "explodes" not in f.summary
    assert [c.cause for c in f.causes] == ["unknown"] and 0 < f.causes[0].confidence <= 1
    s, y = climb(30.0)
    (f,) = findings({"train/loss": (s, y)}, "DV001")
    assert f.stats["rise_factor"] > 10
    assert f.severity == "error" and "explodes" in f.summary


def test_a_jump_that_recovers_part_way_is_a_level_shift_not_a_climb():
    """Converged near 0.3; a burst of bad updates at step 1800 throws the loss to 3× and it recovers
    slowly to ~1.7× by the end. After the best the trend is downwards (Kendall τ ≈ −0.8), so this is a
    jump that stays, not a climb (divergence.py `tau >= min_tau` → `!=` counts any significant τ)."""
    rng = np.random.default_rng(2)
    s = np.arange(3000)
    y = np.where(s < 1800, 0.3 + 2 * np.exp(-s / 300), 0.3 * (1.6 + 1.4 * np.exp(-(s - 1800) / 600)))
    (f,) = findings({"train/loss": (s, y * np.exp(0.05 * rng.standard_normal(3000)))}, "DV001")
    assert f.stats["kendall_tau"] < -0.5 and 1.4 < f.stats["rise_factor"] < 2.2
    assert f.stats["shape"] == "level_shift" and "stays there" in f.summary and "climbs" not in f.summary


# --- SP001: a jump the next logged value of which is NaN did not recover

def test_a_jump_with_a_nan_right_after_it_is_left_to_nf001():
    """A 6× jump at step 1200 of a healthy loss is a spike; the same jump followed by one NaN (the
    update after it overflowed; the run went on) is an explosion for NF001, not a spike that
    recovered (spikes.py `bad_steps > step[i]` → `==` keeps it)."""
    y = noisy(np.exp(-S / 400) + 0.3, 0.03, 4)
    y[1200] *= 6.0
    assert [f.stats["steps"] for f in findings({"train/loss": (S, y)}, "SP001")] == [[1200]]
    y[1201] = np.nan
    assert findings({"train/loss": (S, y)}, "SP001") == ()
    assert [f.rule for f in findings({"train/loss": (S, y)}, "NF001")] == ["NF001"]


def test_a_run_killed_right_after_a_spike_still_shows_its_earlier_spike():
    """The job died right after the loss tripled at its last logged step (no recovery to see, so no
    spike there), and the loss had tripled once before, at step 300, while still far above where it
    ended: that one is a spike (spikes.py `i = 0` → `i = -1` starts the scan at the last point, walks
    from step 0 through everything above the final level and swallows step 300 into it)."""
    y = noisy(2 * np.exp(-S / 500) + 0.3, 0.03, 0)
    y[300] *= 3
    y[-1] *= 3
    assert y[300] > 3 * y[-2]
    (f,) = findings({"train/loss": (S, y)}, "SP001")
    assert f.stats["steps"] == [300] and 2.5 < f.stats["ratios_to_local_median"][0] < 3.5


def test_a_spike_in_a_loss_printed_with_two_decimals_is_measured_against_the_runs_spread():
    """A training script that prints `f"{loss:.2f}"`: once converged at 0.30 with 1% batch noise, most
    logged values are exactly 0.30, so around step 1500 the median absolute deviation is 0 and a
    local z does not exist. A batch that doubles the loss there (0.60) is still a spike: the spread
    is floored at spread_floor_fraction (a quarter) of its median over the run (spikes.py
    `floor > 0` → `floor == 0` drops the floor and finds nothing)."""
    y = np.round(noisy(2 * np.exp(-S / 200) + 0.3, 0.01, 0), 2)
    y[1500] = 0.60
    assert np.mean(y[1000:] == 0.30) > 2 / 3
    around = y[1485:1516]
    assert np.median(np.abs(around - np.median(around))) == 0
    (f,) = findings({"train/loss": (S, y)}, "SP001")
    assert f.stats["steps"] == [1500] and f.stats["ratios_to_local_median"] == [2.0]
    assert f.stats["heights"][0] > 8  # min_z, in floored spreads


# --- AC001 / AC002

def test_overfitting_is_found_when_early_stopping_ends_the_run_three_evaluations_after_the_best():
    """EarlyStopping(patience=3): the run stops 3 evaluations after the best, the validation loss
    rising 8% per evaluation while training keeps falling. min_evals_after_best is 3, and 4 points
    are enough for a Kendall τ of 1 (anticorrelation.py `after >= 3` → `>= 4` loses it)."""
    s = np.arange(1300)
    ev = s[99::100]
    e = np.arange(len(ev))
    train = 2.0 * np.exp(-s / 400) + 0.05 + 0.01 * np.random.default_rng(0).standard_normal(len(s))
    val = 0.6 + 0.8 * np.exp(-e / 2.5) + 0.08 * np.maximum(e - 9, 0)
    (f,) = findings({"train/loss": (s, train), "val/loss": (ev, val)}, "AC001")
    assert f.stats["best_step"] == ev[9] and f.stats["evals_after_best"] == 3 and f.stats["worse_than_best"] == 3
    assert f.stats["kendall_tau_after_best"] == 1.0 and f.causes[0].cause == "overfitting"


def shifted_after_each_eval(sign, falling, seed=3):
    """Evaluation every 100 steps; right after each one the train loss shifts by 3–12 % (`sign`: +1, -1,
    or one per evaluation) and recovers over ~30 steps; validation moves the other way by the same
    amount (AC002's shape)."""
    rng = np.random.default_rng(seed)
    s = np.arange(4000)
    ev = s[99::100]
    sign = np.broadcast_to(sign, len(ev))
    a = sign * rng.uniform(0.03, 0.12, len(ev))
    base = 0.6 + np.exp(-s / 1500) if falling else np.full(len(s), 1.0)
    shift = np.zeros(len(s))
    for i, e in enumerate(ev[:-1]):
        t = s[e + 1: ev[i + 1] + 1] - e - 1
        shift[e + 1: ev[i + 1] + 1] = a[i] * np.exp(-t / 30)
    train = base * np.exp(shift + 0.02 * rng.standard_normal(len(s)))
    val = (0.7 + np.exp(-ev / 1500)) * np.exp(-np.r_[0, a[:-1]] + 0.01 * rng.standard_normal(len(ev)))
    return {"train/loss": (s, train), "val/loss": (ev, val)}


def test_a_shift_right_after_each_evaluation_is_measured_against_the_steps_just_before_it():
    """A falling loss that dips after every evaluation: the steps right after sit below the steps
    right before, though above most of what was logged earlier (anticorrelation.py `tsv > s` → `!=`
    compares with the whole history and reads "up"; `jumps < 0` → `> 0` never sees a consistent dip).
    A flat loss that jumps after every evaluation is the same cause, upwards."""
    (f,) = findings(shifted_after_each_eval(-1, falling=True), "AC002")
    assert f.causes[0].cause == "eval_side_effect"
    assert "shifts down right after 100% of the evaluations" in f.causes[0].evidence
    (f,) = findings(shifted_after_each_eval(+1, falling=False), "AC002")
    assert f.causes[0].cause == "eval_side_effect" and "shifts up right after 100%" in f.causes[0].evidence
    assert [(c.cause, c.confidence) for c in f.causes] == [("eval_side_effect", 0.7), ("unknown", 0.4)]


def test_shifts_after_the_evaluations_that_go_either_way_do_not_blame_the_evaluation():
    """The same shifts after every evaluation, but up or down at random (22 of 39 up): train and
    validation still move against each other (AC002 reports it), yet nothing the evaluation does is
    consistent, so the cause stays open. eval_side_effect needs one direction after at least
    side_effect_min_share (75%) of the evaluations (anticorrelation.py `jumps > 0` → `jumps > -1`
    counts every shift as "up" and blames the evaluation)."""
    signs = np.random.default_rng(11).choice([-1.0, 1.0], size=40)
    assert int(np.sum(signs[:-1] > 0)) == 22  # the shifts after evaluations 1–39 (the last has none)
    (f,) = findings(shifted_after_each_eval(signs, falling=False), "AC002")
    assert f.stats["spearman_rho"] < -0.8
    assert [c.cause for c in f.causes] == ["unknown"]


# --- IN002 / IN004 on logs as written

def csv_run(tmp_path, name, rows, **config):
    p = tmp_path / name / "metrics.csv"
    p.parent.mkdir()
    p.write_text("\n".join(rows) + "\n")
    (report,) = analyze([str(p)], Config(**config)).runs
    return report.findings


def test_a_training_loss_without_validation_is_reported_once_it_has_enough_points(tmp_path):
    """IN004 needs min_points (20) training points: 40 without a validation loss are reported, 10
    are not (integrity.py `points < min_points` → `>=` inverts the guard)."""
    many = csv_run(tmp_path, "many", ["step,train_loss"] + [f"{s},{1 / (1 + s)}" for s in range(40)], select=("IN004",))
    assert [(f.rule, f.stats["points"]) for f in many] == [("IN004", 40)]
    few = csv_run(tmp_path, "few", ["step,train_loss"] + [f"{s},{1 / (1 + s)}" for s in range(10)], select=("IN004",))
    assert few == ()


def test_a_step_logged_twice_with_two_values_is_a_warning(tmp_path):
    """Step 10 written twice with two different values (0.9, then 0.7): something wrote over the log,
    a warning (integrity.py `conflicting == 0` → `!=` makes it info). The same row written twice with
    the same value is a harmless repeat that a CSV reader drops."""
    rows = ["step,train_loss"] + [f"{s},{1 - s / 100}" for s in range(40)]
    (f,) = csv_run(tmp_path, "differ", rows[:12] + ["10,0.7"] + rows[12:], select=("IN002",))
    assert f.severity == "warning" and f.stats["conflicting_values"] == 1 and f.stats["first_steps"] == [10]
    assert csv_run(tmp_path, "same", rows[:12] + ["10,0.9"] + rows[12:], select=("IN002",)) == ()


# --- every cause's confidence is a probability

def test_cause_confidences_are_probabilities_on_the_fixtures_and_the_real_logs(realworld, realworld_dev):
    """Confidences rank causes and are printed as such: each lies in (0, 1]. The runs cover the
    confidences the mutation run moved out of range (DV001 a lone unknown, IN001 resumed_run, IN002
    unknown, NF001 lr_too_high, PD001 memorization); two synthetic cycles add PD001's and PD002's
    unknown, and a gradient burst followed by a worse level DV001's exploding_gradients."""
    rep = analyze([str(FIXTURES), str(realworld), str(realworld_dev)], Config())
    found = [(r.run.name, f) for r in rep.runs for f in r.findings]
    rng = np.random.default_rng(0)
    s = np.arange(3000)
    trend = 2.0 * np.exp(-s / 800) + 0.5
    for period in (250, 70):  # the epoch's own smooth cycle (no known shape); a 70-step one (not the epoch)
        y = trend * np.exp(0.1 * np.sin(2 * np.pi * s / period) + 0.05 * rng.standard_normal(3000))
        found += [(f"sine{period}", f) for f in findings({"train/loss": (s, y), "epoch": (s, s // 250)}, "PD")]
    # the LSTM-without-clipping story (a burst, then a worse level for good): DV001's exploding_gradients
    s8 = np.arange(800)
    y8 = np.where(s8 < 420, 12 * np.exp(-s8 / 150) + 10, 19.0) * np.exp(0.15 * rng.standard_normal(800))
    g8 = 6 * np.exp(0.3 * rng.standard_normal(800))
    g8[434] = 875.0
    found += [("burst", f) for f in findings({"train/loss": (s8, y8), "epoch": (s8, s8 // 80), "grad_norm": (s8, g8)},
                                             "DV001")]
    for name, f in found:
        assert all(0 < c.confidence <= 1 for c in f.causes), (name, f.rule, f.causes)
    covered = {(f.rule, c.cause) for _, f in found for c in f.causes}
    assert {("DV001", "exploding_gradients"), ("DV001", "unknown"), ("IN001", "resumed_run"), ("IN002", "unknown"),
            ("NF001", "lr_too_high"), ("PD001", "memorization"), ("PD001", "unknown"),
            ("PD002", "unknown")} <= covered


# --- PL001: how much of the run sits at chance decides the severity; what the constant is, its words

def test_a_network_that_learned_and_collapsed_to_chance_for_three_quarters_of_the_run_is_a_warning():
    """The loss falls from ln 10 to 0.8 by step 300, then returns to ln 10 and stays: 74% of the
    run at chance, under error_fraction_at_chance (90%), so a warning whose first cause is the
    collapse (plateau.py `near >= error_fraction` → `!=` makes it an error)."""
    rng = np.random.default_rng(7)
    dip = np.exp(-((S - 300) / 120.0) ** 2)
    y = np.where(S < 300, LN10 - (LN10 - 0.8) * S / 300, LN10 - (LN10 - 0.8) * dip)
    (f,) = findings({"train/loss": (S, y * np.exp(0.003 * rng.standard_normal(N))), "lr": (S, np.full(N, 1e-3))},
                    "PL001")
    assert 0.7 <= f.stats["fraction_at_level"] < 0.9
    assert f.severity == "warning" and f.causes[0].cause == "lr_too_high"


def test_a_frozen_loss_term_is_called_exactly_0_only_when_it_is_0():
    """Two loss terms frozen beside a learning total: one at exactly 0 (disconnected or trivially
    satisfied), one at 0.0173 (a regularizer that no longer moves: not "exactly 0"; plateau.py
    `value == 0` → `>= 0` says it is)."""
    fall = noisy(0.3 + 2 * np.exp(-S / 400), 0.05, 3)
    curves = {"train/loss": (S, fall), "train/loss_aux": (S, np.zeros(N)), "train/loss_reg": (S, np.full(N, 0.0173))}
    found = {f.tags[0]: f for f in findings(curves, "PL001")}
    assert set(found) == {"train/loss_aux", "train/loss_reg"}
    assert "a loss of exactly 0" in found["train/loss_aux"].causes[0].evidence
    reg = found["train/loss_reg"].causes[0].evidence
    assert "exactly 0" not in reg and "the same value at every evaluation" in reg


def test_one_per_class_score_stuck_at_0_among_learning_classes_is_a_rare_class():
    """Four per-class F1 scores learn; a fifth stays 0.0 (a class the model never predicts): one of
    five siblings is not a model that ignores its input (plateau.py `<= len(group) // 2` → `==`
    reports it)."""
    rng = np.random.default_rng(4)
    ev = np.arange(99, N, 100)
    curves = {"train/loss": (S, noisy(0.3 + 2 * np.exp(-S / 400), 0.05, 4))}
    for c in ("cat", "dog", "bird", "ship"):
        curves[f"val/f1_{c}"] = (ev, 0.8 - 0.5 * np.exp(-ev / 500) + 0.01 * rng.standard_normal(len(ev)))
    curves["val/f1_snail"] = (ev, np.zeros(len(ev)))
    assert findings(curves, "PL001") == ()


# --- PL003: where the stall starts and ends

def test_a_validation_stall_runs_from_its_first_evaluation_to_the_last():
    """Validation falls 15% per evaluation until step 999, then stays at 0.8 ± 1% to the last
    evaluation (step 2999) while training falls: the stall is steps 999–2999, 21 evaluations,
    2000 / 2900 of the evaluated span (plateau.py `vs[-1]` → `vs[-2]` in the range or the length)."""
    s = np.arange(3000)
    train = noisy(0.05 + 2 * np.exp(-s / 600), 0.05, 6)
    ve = np.arange(99, 3000, 100)
    val = 0.8 * np.where(ve < 999, 1.15 ** ((999 - ve) / 100), 1 + 0.01 * np.sin(np.arange(len(ve))))
    (f,) = findings({"train/loss": (s, train), "val/loss": (ve, val)}, "PL003")
    assert f.stats["stall_start_step"] == 999 and f.step_range == (999, 2999)
    assert f.stats["evaluations_in_stall"] == 21 and abs(f.stats["stall_fraction"] - 2000 / 2900) < 0.002


def test_an_early_stall_is_not_measured_as_a_factor_on_a_loss_that_goes_below_zero():
    """A negative log-likelihood of a continuous density (a normalizing flow) sits at 1.5 for the
    first 600 steps, then falls through 0 to −2.5. PL002 decides by how many times the stall sits
    above the best level (min_gap_factor 1.5×); a loss below 0 has no such factor, so PL002 leaves
    it alone (plateau.py `v.min() < 0` → `== 0` floors the negative values at log_floor and reports
    a stall "910,283× above the best"). A stall that ends at exactly 0 is in its domain."""
    rng = np.random.default_rng(0)
    fall = np.exp(-(S - 600) / 300)
    nll = np.where(S < 600, 1.5, -2.5 + 4.0 * fall) + 0.05 * rng.standard_normal(N)
    assert nll[:600].min() > 1.3 and nll.min() < -2.4
    assert findings({"train/loss": (S, nll)}, "PL002") == ()
    to_zero = np.where(S < 600, 1.5, 1.5 * fall) * np.exp(0.03 * rng.standard_normal(N))
    (f,) = findings({"train/loss": (S, np.where(S > 1800, 0.0, to_zero))}, "PL002")
    assert f.stats["stall_end_step"] == 600 and f.stats["factor_above_best"] > 1.5


# --- PD001 / PD002

E, P = 12, 100
PS = np.arange(E * P)
EPOCH = PS // P
PHASE = (PS % P) / P
TREND = 2.0 * np.exp(-PS / 500) + 0.5


def test_a_running_mean_reset_each_epoch_is_named_on_a_three_epoch_run():
    """A 3-epoch fine-tune (min_epochs is 3) logging running_loss / (i + 1), reset each epoch: two
    epoch boundaries are enough to see the jump (periodicity.py `len(bound) < 2` → `< 3` drops the
    running-mean test and names memorization instead)."""
    e, p = 3, 300
    s = np.arange(e * p)
    ep = s // p
    raw = noisy(2.0 * np.exp(-s / 500) + 0.5, 0.3, 1)
    logged = np.array([raw[i * p: i * p + k + 1].mean() for i, k in zip(ep, s % p)])
    (f,) = findings({"train/loss": (s, logged), "epoch": (s, ep)}, "PD001")
    assert f.stats["epochs"] == 3 and f.causes[0].cause == "running_mean_reset"


def test_a_running_mean_log_is_not_also_read_as_memorization():
    """A running mean reset each epoch sits lowest at each epoch's start and rises through it, the
    memorization shape; with 100 points per epoch its 1/k decay is visible (≥ 10 points), so it alone
    is named (periodicity.py `points_per_epoch >= min_points...` → `==` lets memorization in too)."""
    raw = noisy(TREND, 0.3, 1)
    logged = np.array([raw[e * P: e * P + k + 1].mean() for e, k in zip(EPOCH, PS % P)])
    (f,) = findings({"train/loss": (PS, logged), "epoch": (PS, EPOCH)}, "PD001")
    assert f.stats["points_per_epoch"] >= 10
    assert [c.cause for c in f.causes] == ["running_mean_reset"]


def test_a_last_batch_off_in_half_the_epochs_is_named_from_its_binomial_tail():
    """The last point is 1.6× the rest in 6 of the 11 complete epochs (none in the final one).
    Outside 3 spreads by chance happens at most 5% of the time (the floor of `chance`), so 6 or more
    of n = 11 or 12 epoch ends (whether the final one counts is the fold's business) has binomial
    tail P(X ≥ 6) ≤ 1.1e-05, under last_batch_p (1e-4); P(X ≥ 5) would be over 1e-4 and name
    nothing (periodicity.py `binom.sf(outside - 1, …)` → `outside - 2`)."""
    y = noisy(TREND, 0.05, 0)
    for e in (0, 2, 3, 5, 7, 9):
        y[e * P + P - 1] *= 1.6
    (f,) = findings({"train/loss": (PS, y), "epoch": (PS, EPOCH)}, "PD001")
    assert f.causes[0].cause == "small_last_batch"
    share = float(re.search(r"over 3 spreads in (\d+)% of epochs", f.causes[0].evidence).group(1)) / 100
    n = round(6 / share)
    assert n in (11, 12)
    p = float(stats.binom.sf(6 - 1, n, 0.05))
    assert p < 1e-4 < float(stats.binom.sf(5 - 1, n, 0.05))
    assert f"binomial p = {p:.1e}" in f.causes[0].evidence


def test_the_last_batch_evidence_says_which_side_of_the_rest_it_sits():
    """A tiny last batch is a noisier sample of the same loss; a loss summed and divided by the nominal
    batch size is too low in every epoch. Which one it is shows in the side the last points sit on:
    1.4× the rest in all 12 epochs reads "above", 0.6× reads "below" (periodicity.py `last_r > 0` →
    `== 0` calls every last batch "below")."""
    for factor, side in ((1.4, "above"), (0.6, "below")):
        y = noisy(TREND, 0.05, 0)
        y[P - 1::P] *= factor
        (f,) = findings({"train/loss": (PS, y), "epoch": (PS, EPOCH)}, "PD001")
        assert f.causes[0].cause == "small_last_batch"
        assert f"spreads {side} the rest" in f.causes[0].evidence


def staircase_with_a_high_last_batch(amp):
    y = noisy(TREND * np.exp(amp * np.minimum(3 * PHASE, 1)), 0.05, 0)
    y[P - 1::P] *= 1.3  # the last, smaller batch of every epoch
    (f,) = findings({"train/loss": (PS, y), "epoch": (PS, EPOCH)}, "PD001")
    return f.causes


def test_two_causes_are_called_a_tie_only_when_their_confidences_are_within_the_margin():
    """A memorization staircase whose amplitude grows (0.04 → 0.26) ranks clearly above the last
    batch's outlier (gap ≥ tie_margin 0.1): no hedge. With a constant amplitude memorization is
    weaker and the two are within the margin: the first cause says the other is nearly as strong
    (periodicity.py `< tie_margin` → `>` hedges the clear case and not the tie)."""
    first, second = staircase_with_a_high_last_batch(0.04 + 0.02 * EPOCH)[:2]
    assert (first.cause, second.cause) == ("memorization", "small_last_batch")
    assert first.confidence - second.confidence >= 0.1 and "nearly as strong" not in first.evidence
    first, second = staircase_with_a_high_last_batch(np.full(len(PS), 0.08))[:2]
    assert {first.cause, second.cause} == {"memorization", "small_last_batch"}
    assert abs(first.confidence - second.confidence) < 0.1
    assert f"the evidence for {second.cause} is nearly as strong" in first.evidence


def test_a_staircase_that_fades_is_judged_on_the_first_half_of_the_epochs():
    """Memorization for 5 of 12 epochs (±15% staircase), then the training set is fitted and the
    cycle stops: diluted over all 12 epochs it is not significant, over the first 6 it is
    (periodicity.py `count >= 2 * min_epochs + 1` → `<` never looks at the first half)."""
    rng = np.random.default_rng(3)
    s = np.arange(2400)
    ep, phase = s // 200, (s % 200) / 200
    amp = np.where(ep < 5, 0.3, 0.0)
    y = (0.3 + 1.5 * np.exp(-s / 600)) * np.exp(amp * (phase - 0.5) + 0.08 * rng.standard_normal(len(s)))
    (f,) = findings({"train/loss": (s, y), "epoch": (s, ep)}, "PD001")
    assert f.stats["judged_on"].startswith("first half") and f.stats["epochs"] == 6
    assert f.causes[0].cause == "memorization"


def test_a_cycle_at_a_quarter_of_the_epoch_that_repeats_with_the_epoch_is_pd001s():
    """Class-blocked data: four blocks of 50 steps per 200-step epoch, each with its own loss level,
    in the same order every epoch. The periodogram sees a sub-epoch period, but the epoch fold
    explains it (η² ≥ 0.15, odd/even r ≥ 0.6): PD001 reports it and PD002 stays silent
    (periodicity.py `ef.eta2 >=` or `ef.split_half >=` → `<` reports it twice)."""
    rng = np.random.default_rng(1)
    n, per = 4000, 200
    s = np.arange(n)
    blocks = np.array([0.0, 0.25, -0.1, 0.15])
    y = (0.4 + 1.5 * np.exp(-s / 1000)) * np.exp(blocks[(s % per) // 50] + 0.05 * rng.standard_normal(n))
    curves = {"train/loss": (s, y), "epoch": (s, s // per)}
    (f,) = findings(curves, "PD001")
    assert f.stats["period_steps"] == per and f.stats["variance_explained"] > 0.5
    assert findings(curves, "PD002") == ()


# --- OS001

BASE_OS = 1.5 * np.exp(-S / 500) + 0.3


def test_a_converged_validation_loss_jittering_five_percent_is_not_oscillation():
    """40 epochs of a validation loss flat at ~0.55 with ±5% independent noise per evaluation: a
    zig-zag, but a typical move of ~5% is below min_swing_erratic (15%): a small validation set,
    not instability, on every one of 20 held-out seeds (oscillation.py `swing >= min_swing_erratic`
    → `!=` reports 8 of the 20)."""
    e = np.arange(40)
    found = []
    for seed in range(30_000, 30_020):
        rng = np.random.default_rng(seed)
        val = (0.55 + 0.1 * np.exp(-e / 2)) * np.exp(0.05 * rng.standard_normal(40))
        train = (0.1 + 0.8 * np.exp(-e / 10)) * np.exp(0.02 * rng.standard_normal(40))
        found += [f.stats["median_swing"] for f in findings({"loss": (e, train), "val_loss": (e, val), "epoch": (e, e)},
                                                          "OS001")]
    assert found == []


def test_swings_the_lr_cut_ended_at_four_fifths_of_the_run_are_not_sustained():
    """LR too high: the loss swings ±50% with a period of 10 steps until MultiStepLR cuts the LR
    10× at step 1650 (82% of the run); after the cut only the 5% batch noise is left. The card
    compares the last third's moves with the first third's (min_sustain 0.5): here their median
    ratio is ~0.4, the problem was fixed within the run and nothing is reported (so on 20 of 20 noise
    seeds). Without the cut it is oscillation (oscillation.py `n // 3` → `n // 2` compares halves; the
    second half is still 65% swings, and it reports all 20 seeds)."""
    batch_noise = 0.05 * np.random.default_rng(0).standard_normal(N)
    swings = 0.5 * np.sin(2 * np.pi * S / 10)
    (f,) = findings({"train/loss": (S, BASE_OS * np.exp(swings + batch_noise)), "lr": (S, np.full(N, 3e-3))}, "OS001")
    assert f.stats["period_points"] == 10 and f.causes[0].cause == "lr_too_high"
    cut = S >= 1650
    y = BASE_OS * np.exp(np.where(cut, 0.0, swings) + batch_noise)
    moves = np.abs(np.diff(np.log(y)))
    assert 0.3 < np.median(moves[-666:]) / np.median(moves[:666]) < 0.45
    assert findings({"train/loss": (S, y), "lr": (S, np.where(cut, 3e-4, 3e-3))}, "OS001") == ()
