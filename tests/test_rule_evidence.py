"""The numbers a finding reports, recomputed here from the planted curve by their definitions.

A reader acts on a finding's statistics (where a stall starts, how far a loss climbed, how much of the
variance the epoch's phase explains), so each is checked against the same quantity computed in the test
from the curve, by the definition the rule's card and docstrings give, with numpy/scipy and none of the
detector's code. Each test plants one mechanism, says what it is, and asserts every statistic the
finding reports about it, to the precision the report rounds it to.
"""
import numpy as np
import pytest
from scipy import ndimage, stats

from curves import findings


def sig3(x: float) -> float:
    return float(f"{x:.3g}")


# --- PD001: the epoch's phase profile and the statistics of the fold

def test_an_epoch_locked_cycle_reports_the_fold_the_test_computes():
    """16 epochs of 25 logged steps; within each epoch the loss rises 30 % from its start to its end
    (the memorization shape: lowest right after the boundary) on a slow decay, 2 % noise. The fold by
    position in the epoch is recomputed here: the log-loss minus its moving average over one epoch (25
    points, ends held), the first and last half-epoch left out, 20 phase bins; the profile is each bin's
    mean residual, the variance explained is the between-bin share, its F test has 19 and n - 20 degrees
    of freedom, and odd and even epochs' mean profiles are correlated (split-half)."""
    L, E = 25, 16
    s = np.arange(L * E)
    phase = (s % L) / L
    rng = np.random.default_rng(3)
    y = (1.5 * np.exp(-s / 3000) + 0.3) * (1 + 0.3 * phase) * np.exp(0.02 * rng.standard_normal(len(s)))
    (f,) = findings({"train/loss": (s, y), "epoch": (s, s // L)}, "PD001")

    ly = np.log(y)
    resid = ly - ndimage.uniform_filter1d(ly, size=L, mode="nearest")
    core = slice(L // 2, len(s) - L // 2)
    r, b, ep = resid[core], (phase[core] * 20).astype(int), (s // L)[core]
    profile = np.array([r[b == k].mean() for k in range(20)])
    between = sum((b == k).sum() * (profile[k] - r.mean()) ** 2 for k in range(20))
    eta2 = between / ((r - r.mean()) ** 2).sum()
    F = (between / 19) / ((((r - r.mean()) ** 2).sum() - between) / (len(r) - 20))
    per = np.array([[r[(ep == e) & (b == k)].mean() if ((ep == e) & (b == k)).any() else np.nan
                     for k in range(20)] for e in range(E)])
    odd, even = np.nanmean(per[1::2], axis=0), np.nanmean(per[0::2], axis=0)
    split = np.corrcoef(odd, even)[0, 1]

    st = f.stats
    assert st["period_steps"] == L and st["epochs"] == E and st["points_per_epoch"] == L
    assert st["phase_profile"] == [round(float(v), 5) for v in profile]
    assert st["variance_explained"] == round(eta2, 4) and st["split_half_r"] == round(split, 4)
    assert st["anova_p"] == sig3(stats.f.sf(F, 19, len(r) - 20))
    amp = profile.max() - profile.min()
    assert st["relative_amplitude"] == round(np.exp(amp) - 1, 4)
    lo, hi = int(np.argmin(profile)), int(np.argmax(profile))
    assert (lo, hi) == (0, 19)  # the planted shape: lowest first, highest last
    assert st["phase_of_min"] == round((lo + 0.5) / 20, 3) and st["phase_of_max"] == round((hi + 0.5) / 20, 3)
    # each epoch's profile projected on the mean profile; the growth is the later half's mean over the earlier's
    amps = [np.dot(row, profile) / np.dot(profile, profile) for row in np.nan_to_num(per)]
    assert st["epoch_amplitudes"][1:-1] == [round(a, 3) for a in amps[1:-1]]
    # the trend over one epoch: the median absolute change of the epoch means of the log-loss (whole epochs)
    ep_means = np.array([ly[s // L == e].mean() for e in range(E)])
    assert st["trend_change_per_epoch"] == round(float(np.median(np.abs(np.diff(ep_means)))), 5)
    assert f.step_range == (0, len(s) - 1)
    assert f"cycles with every epoch ({L:,} steps): a {np.exp(amp) - 1:.0%} swing" in f.summary
    assert "lowest 0%–5% into the epoch, highest 95%–100%" in f.summary
    # the cause: lowest in the first bin, rising through the epoch (Spearman ρ of the profile against the
    # bin centres), the amplitude of the later half of the epochs over the earlier half's
    (c,) = f.causes
    rho = stats.spearmanr((np.arange(20) + 0.5) / 20, profile)[0]
    growth = np.mean(amps[E // 2:]) / np.mean(amps[: E // 2])
    assert c.cause == "memorization" and st["amplitude_growth"] == round(growth, 3)
    assert f"(phase bin 1 of 20) and rises through it (Spearman {rho:+.2f})" in c.evidence
    assert f"{growth:.2f}× from the first to the second half" in c.evidence
    # how sure: 0.45, plus 0.2 × the rise's Spearman ρ, plus 0.2 when the amplitude grows by 1.2× or more
    # (memorization deepens as training goes on); no validation loss here to say whether the gap widens
    grows = growth >= 1.2
    assert f"the amplitude {'grows' if grows else 'changes'} {growth:.2f}×" in c.evidence
    assert abs(c.confidence - min(0.9, 0.45 + 0.2 * min(1.0, rho) + (0.2 if grows else 0.0))) < 1e-12


# --- DV001: a climb measured on bucket medians

def test_a_climb_reports_the_bucket_medians_the_test_computes():
    """Learning until step 1500, then a steady log-linear climb to 4× the best by step 3000, 5 % noise,
    no epochs logged: the rule reads the log-loss as medians of 60 even buckets of 50 points. Recomputed
    here: the best bucket, Kendall's τ of the buckets from it on and its p-value, the end level (median
    of the last three buckets), the rise factor, the Theil–Sen slope per 1,000 steps."""
    s = np.arange(3000)
    base = np.where(s < 1500, 2.0 * np.exp(-s / 400), 2.0 * np.exp(-1500 / 400) * 4.0 ** ((s - 1500) / 1500))
    y = base * np.exp(0.05 * np.random.default_rng(11).standard_normal(len(s)))
    (f,) = findings({"train/loss": (s, y)}, "DV001")

    ly = np.log(y)
    xs, ys = s[::50], np.median(ly.reshape(60, 50), axis=1)
    best = int(np.argmin(ys))
    seg_x, seg = xs[best:], ys[best:]
    tau, p = stats.kendalltau(np.arange(len(seg)), seg)
    end = np.median(seg[-3:])
    factor = np.exp(end - ys[best])
    st = f.stats
    assert st["best_step"] == seg_x[0] and f.step_range == (seg_x[0], 2999) and st["points_in_rise"] == len(seg)
    assert st["best_value"] == round(float(np.exp(ys[best])), 6) and st["end_value"] == round(float(np.exp(end)), 6)
    assert st["rise_factor"] == round(factor, 4) and 3 < factor < 5  # the planted 4×
    assert st["kendall_tau"] == round(tau, 4) and st["p_value"] == sig3(p)
    assert st["theil_sen_slope_per_1k_steps"] == round(stats.theilslopes(seg, seg_x)[0] * 1000, 6)
    assert (st["aggregated_by"], st["shape"], st["scale"]) == ("bucket", "trend", "log")
    assert f.severity == "warning"  # under explode_factor (10×)
    assert f.summary == (f"'train/loss' climbs from its best at step {seg_x[0]:,} to the end: {factor:.2f}× higher "
                         f"(Mann–Kendall τ = {tau:.2f}, p = {p:.1e})")


def test_a_climb_under_a_raised_lr_names_the_lr_with_its_numbers():
    """The same climb, with the LR logged: constant 1e-3 until step 1600, then 3e-3 (someone raised it
    mid-run). The LR at the best bucket's first step is 1e-3 and the highest during the climb 3e-3, first
    reached at step 1600: 3× is over the card's lr_raise_factor (1.5), so the LR is the likely cause
    (0.75), and `unknown` (0.3) stays with "the LR does not explain it alone". Without an LR logged the
    only cause is `unknown`, at 0.4; so with a constant LR, which says nothing about being too high."""
    s = np.arange(3000)
    base = np.where(s < 1500, 2.0 * np.exp(-s / 400), 2.0 * np.exp(-1500 / 400) * 4.0 ** ((s - 1500) / 1500))
    y = base * np.exp(0.05 * np.random.default_rng(11).standard_normal(len(s)))
    (f,) = findings({"train/loss": (s, y)}, "DV001")
    assert [(c.cause, c.confidence) for c in f.causes] == [("unknown", 0.4)]
    assert f.causes[0].evidence.startswith("no learning rate logged to tie it to")
    lr = np.where(s < 1600, 1e-3, 3e-3)
    (f,) = findings({"train/loss": (s, y), "lr": (s, lr)}, "DV001")
    best = f.stats["best_step"]
    assert best < 1600
    assert [(c.cause, c.confidence) for c in f.causes] == [("lr_too_high", 0.75), ("unknown", 0.3)]
    assert f.causes[0].evidence.startswith(f"the LR is raised 3× during the climb (from 0.001 at the best, step "
                                           f"{best:,}, to 0.003 by step 1,600)")
    assert f.causes[1].evidence.startswith("the LR does not explain it alone")
    # the same LR logged only where it changes (three points: at the start, before the best, at the raise)
    (g,) = findings({"train/loss": (s, y), "lr": (np.array([0, 1000, 1600]), np.array([1e-3, 1e-3, 3e-3]))}, "DV001")
    assert g.causes == f.causes
    # raised only 1.2× (under lr_raise_factor) it is not "raised", but it is at its peak when the climb
    # starts and never comes down: still the LR's doing
    (f,) = findings({"train/loss": (s, y), "lr": (s, np.where(s < 1600, 1e-3, 1.2e-3))}, "DV001")
    assert [(c.cause, c.confidence) for c in f.causes] == [("lr_too_high", 0.75), ("unknown", 0.3)]
    assert f.causes[0].evidence.startswith(f"the rise starts at step {best:,} with the LR at 0.001 (peak 0.0012) "
                                           "and the LR does not come down while the loss climbs")
    # a warm-up that ramps the LR from 1e-4 to 1e-3 over the first 1,000 steps and holds it: the climb starts
    # with the LR at its peak after rising into it (more than 1.5× its first value), and the evidence says from what
    ramp = np.minimum(1e-3, 1e-4 + 9e-4 * s / 1000)
    (f,) = findings({"train/loss": (s, y), "lr": (s, ramp)}, "DV001")
    assert [(c.cause, c.confidence) for c in f.causes] == [("lr_too_high", 0.75), ("unknown", 0.3)]
    assert f.causes[0].evidence.startswith(f"the rise starts at step {best:,} with the LR at 0.001 after rising "
                                           "from 0.0001 (peak 0.001) and the LR does not come down")
    # a constant LR says nothing about being too high
    (f,) = findings({"train/loss": (s, y), "lr": (s, np.full(3000, 1e-3))}, "DV001")
    assert [(c.cause, c.confidence) for c in f.causes] == [("unknown", 0.4)]
    assert f.causes[0].evidence.startswith("the LR does not explain it alone")


# --- PL003: where a validation stall starts and what training did meanwhile

def test_a_validation_stall_reports_where_it_starts_and_the_training_gain():
    """Validation (every 100 steps, 0–6,000) improves until about step 1,500 and then holds at 0.62 ± 1 %,
    while training keeps falling from 2.0 towards 0.05: the extra steps fit the training set only.
    Recomputed here by the card's definitions: the stall starts at the first evaluation from which
    validation never again gets more than stall_tolerance (10 %) better; its share of the validation
    span; the training gain over the stall, the median of its first tenth of training points over the
    median of its last tenth."""
    s = np.arange(6001)
    train = (2.0 * np.exp(-s / 1500) + 0.05) * np.exp(0.03 * np.random.default_rng(5).standard_normal(len(s)))
    vs = s[::100]
    vv = (0.6 + 0.8 * np.exp(-vs / 300)) * np.exp(0.01 * np.random.default_rng(6).standard_normal(len(vs)))
    (f,) = findings({"train/loss": (s, train), "val/loss": (vs, vv)}, "PL003")

    s0 = next(i for i in range(len(vv)) if vv[i:].min() >= 0.9 * vv[i])
    seg = train[s >= vs[s0]]
    k = len(seg) // 10
    gain = np.median(seg[:k]) / np.median(seg[-k:])
    st = f.stats
    assert st["stall_start_step"] == vs[s0] and f.step_range == (vs[s0], 6000)
    assert st["evaluations_in_stall"] == len(vv) - s0
    assert st["val_at_stall_start"] == round(float(vv[s0]), 6) and st["val_best"] == round(float(vv.min()), 6)
    assert st["stall_fraction"] == round((6000 - vs[s0]) / 6000, 3) and st["train_gain"] == round(gain, 3)
    assert f"since step {vs[s0]:,} ({len(vv) - s0} evaluations, {(6000 - vs[s0]) / 6000:.0%} of the run)" in f.summary
    assert f"fell {gain:.1f}× over the same stretch" in f.summary
    assert f.causes[0].cause == "overfitting" and f"early stopping at step {vs[s0]:,}" in f.causes[0].evidence
    # validation did improve with training before it stalled (0.6 < 1.4 where training started): a stall
    # after learning, overfitting at 0.5, nothing about memorization
    assert [(c.cause, c.confidence) for c in f.causes] == [("overfitting", 0.5)]


# --- OS001: the autocorrelation of the residual and the size of the swings

def test_a_ringing_loss_reports_its_autocorrelation_and_swings():
    """A loss that overshoots back and forth every 6 logged steps (±15 %, then ±35 %, around a slow decay, 3 % noise),
    1,200 steps, LR 1e-3 for the first half and 5e-3 after, where the swings are 2.3× larger (the planted
    mechanism: the larger LR overshoots further). Recomputed here: the log-loss minus its moving average
    (window n/4 rounded to odd, ends held), the sample autocorrelation of that residual (np.correlate, not
    the detector's FFT), its deepest trough and the first positive peak after it (one full cycle, 6
    points); the median absolute move (the swing), the drift per point (first vs last tenth), the late
    third's swing over the early third's; the swings at the higher LR over those at the lower."""
    n = 1200
    s = np.arange(n)
    amp = np.where(s < n // 2, 0.15, 0.35)
    rng = np.random.default_rng(8)
    y = (1.0 * np.exp(-s / 2000) + 0.5) * np.exp(amp * np.sin(2 * np.pi * s / 6) + 0.03 * rng.standard_normal(n))
    lr = np.where(s < n // 2, 1e-3, 5e-3)
    (f,) = findings({"train/loss": (s, y), "lr": (s, lr)}, "OS001")

    ly = np.log(y)
    r = ly - ndimage.uniform_filter1d(ly, size=(n // 4) | 1, mode="nearest")
    r = r - r.mean()
    acf = np.correlate(r, r, mode="full")[n:n + n // 4] / (r @ r)  # lags 1 … n/4
    lag = int(np.argmin(acf)) + 1
    d = np.diff(ly)
    swing = np.median(np.abs(d))
    progress = abs(np.median(ly[: n // 10]) - np.median(ly[-(n // 10):])) / n
    late_early = np.median(np.abs(d[-(n // 3):])) / np.median(np.abs(d[: n // 3]))
    lag1 = np.corrcoef(d[:-1], d[1:])[0, 1]
    turns = np.mean(np.sign(d[1:]) != np.sign(d[:-1]))
    st = f.stats
    assert (st["mode"], st["points"], st["acf_lag"], st["period_points"]) == ("periodic", n, lag, 6)
    assert lag == 3  # half a cycle: the deepest trough
    assert abs(st["acf_min"] - round(float(acf[lag - 1]), 4)) <= 1e-4  # (FFT against direct sums: last digit)
    assert st["median_swing"] == round(swing, 5) and st["swing_factor"] == round(float(np.exp(swing)), 4)
    assert st["swing_vs_progress"] == round(swing / progress, 2)
    assert st["late_vs_early_swing"] == round(late_early, 3) and late_early > 2  # the planted growth
    assert st["moves_lag1_correlation"] == round(lag1, 4) and st["sign_change_rate"] == round(turns, 4)
    assert f.step_range == (0, n - 1)
    assert f"a typical move of ±{np.exp(swing) - 1:.0%} per point with period ~6 points" in f.summary
    hi, lo = np.abs(d)[s[1:] >= n // 2], np.abs(d)[s[1:] < n // 2]
    assert [(c.cause, c.confidence) for c in f.causes] == [("lr_too_high", 0.8), ("unknown", 0.3)]
    assert f.causes[0].evidence.endswith(f"swings at the higher LR are {np.median(hi) / np.median(lo):.1f}× those "
                                         "at the lower LR")
    assert f"(swing {swing / progress:.0f}× the average progress per point), with a regular period of ~6 points" \
        in f.causes[0].evidence
    # the LR logged only where it changes (three points) says the same
    (g,) = findings({"train/loss": (s, y), "lr": (np.array([0, n // 2 - 1, n // 2]), np.array([1e-3, 1e-3, 5e-3]))},
                    "OS001")
    assert g.causes == f.causes


# --- NF001: where the NaN starts, how it recurs, what came before it

def _rise(before):
    """The card's 'rise': the largest of the last three values over the median of the window's first half."""
    return np.max(np.abs(before[-3:])) / np.median(np.abs(before[: len(before) // 2]))


def test_short_overflow_bursts_report_their_runs_and_the_fp16_cause():
    """A healthy loss (2,000 steps) where a loss scaler skips overflowing steps: NaN at 700, ±Inf at 701,
    NaN at 1,300–1,302 (three points: the card's short_burst), finite in between and after. The runs of
    non-finite points... recounted here: two bursts, 2 and 3 points; no rise before the first (the loss was
    falling), so the cause is fp16 overflow, at 0.8 because one value is ±Inf. One burst a point longer
    than short_burst is not 'short bursts that recover' any more."""
    s = np.arange(2000)
    y = (2.0 * np.exp(-s / 500) + 0.3) * np.exp(0.03 * np.random.default_rng(2).standard_normal(2000))
    y[700], y[701], y[1300:1303] = np.nan, np.inf, np.nan
    (f,) = findings({"train/loss": (s, y)}, "NF001")
    st = f.stats
    assert (st["first_nonfinite_step"], st["nonfinite_points"], st["points"]) == (700, 5, 2000)
    assert (st["bursts"], st["longest_burst"], st["permanent"], st["inf_points"]) == (2, 3, False, 1)
    assert f.ranges == ((700, 701), (1300, 1302)) and f.step_range == (700, 1302)
    assert st["loss_rise_before"] == round(_rise(y[680:700]), 3) and st["lr_ratio_since_start"] == 1.0
    assert f.severity == "warning"
    assert f.summary == ("'train/loss' becomes NaN/Inf at step 700 in 2 burst(s) that recover "
                         "(5 of 2,000 points non-finite)")
    # (and the loss was steady before: its own arithmetic stays a possibility, at 0.5 for a run that recovers)
    assert [(c.cause, c.confidence) for c in f.causes] == [("fp16_overflow", 0.8), ("unstable_loss", 0.5)]
    assert f.causes[0].evidence.startswith("2 short burst(s) (longest 3 point(s)) that recover, 1 of them ±Inf")
    y[1303] = np.nan  # four points: longer than short_burst
    (f,) = findings({"train/loss": (s, y)}, "NF001")
    assert f.stats["longest_burst"] == 4 and "fp16_overflow" not in [c.cause for c in f.causes]
    y[700:702] = np.nan  # and without the ±Inf, with three short bursts again: 0.6
    y[1303] = 1.0
    (f,) = findings({"train/loss": (s, y)}, "NF001")
    assert [(c.cause, c.confidence) for c in f.causes][0] == ("fp16_overflow", 0.6) and f.stats["inf_points"] == 0


def test_a_blow_up_after_the_lr_and_gradient_rose_names_both_numbers():
    """The LR warms up from 1e-4 to 1e-3 over the first 1,000 steps and stays there; the gradient norm
    sits near 1 and climbs to 8× in the last three steps before step 1,500, where the loss turns NaN and
    stays NaN (an error: the run is lost). The ratios are recomputed here over the card's
    lookback_points (20) before the first NaN: the loss's rise, the gradient norm's, and the LR's ratio
    from its first logged value to its last before the NaN (10×)."""
    s = np.arange(2000)
    rng = np.random.default_rng(4)
    y = (2.0 * np.exp(-s / 500) + 0.3) * np.exp(0.03 * rng.standard_normal(2000))
    y[1500:] = np.nan
    g = np.exp(0.05 * rng.standard_normal(2000))
    g[1497:1500] = [3.0, 5.0, 8.0]
    lr = np.minimum(1e-4 + 9e-4 * s / 1000, 1e-3)
    (f,) = findings({"train/loss": (s, y), "grad_norm": (s, g), "lr": (s, lr)}, "NF001")
    st = f.stats
    assert (st["first_nonfinite_step"], st["bursts"], st["longest_burst"], st["permanent"]) == (1500, 1, 500, True)
    assert st["grad_norm_rise_before"] == round(_rise(g[1480:1500]), 3) and st["grad_norm_rise_before"] > 3
    assert st["loss_rise_before"] == round(_rise(y[1480:1500]), 3)
    assert st["lr_ratio_since_start"] == round(lr[1499] / lr[0], 3)
    assert f.severity == "error" and "and never recovers (500 of 2,000 points non-finite)" in f.summary
    assert [(c.cause, c.confidence) for c in f.causes] == [("lr_too_high", 0.75)]
    assert f.causes[0].evidence == (f"non-finite values came after instability: the gradient norm rose "
                                    f"{_rise(g[1480:1500]):.1f}× just before; the learning rate had risen "
                                    f"{lr[1499] / lr[0]:.1f}× since the start. A learning rate too high for this "
                                    "model blows the weights up.")


def test_a_loss_steady_until_it_turns_nan_is_its_own_arithmetic():
    """A loss falling smoothly to step 1,200, then NaN to the end, LR not logged, no gradient norm: the
    last points sit within 1.1× of the window's median (recomputed), so nothing rose before it; steady
    then NaN at once is a log(0) or a division (unstable_loss, 0.8 because it never recovers). With only
    four finite points before the NaN there is too little to call it steady (0.6)."""
    s = np.arange(2000)
    y = (2.0 * np.exp(-s / 500) + 0.3) * np.exp(0.02 * np.random.default_rng(9).standard_normal(2000))
    y[1200:] = np.nan
    (f,) = findings({"train/loss": (s, y)}, "NF001")
    rise = _rise(y[1180:1200])
    assert f.stats["loss_rise_before"] == round(rise, 3) and rise < 1.1
    assert [(c.cause, c.confidence) for c in f.causes] == [("unstable_loss", 0.8)]
    assert f.causes[0].evidence.startswith(f"the loss was steady before step 1200 (last points within {rise:.2f}× "
                                           "of the window median, no gradient-norm rise, LR not logged)")
    (f,) = findings({"train/loss": (s[1196:], y[1196:])}, "NF001")  # logging began at step 1,196
    assert [(c.cause, c.confidence) for c in f.causes] == [("unstable_loss", 0.6)]
    assert f.causes[0].evidence.startswith("only 4 finite point(s) before step 1200, too few to see a rise")


# --- SP001: spikes measured in local spreads

def test_spikes_report_their_heights_in_local_spreads_recomputed():
    """A healthy loss (2,000 steps, 3 % noise) with three bad batches: the loss is 4×, 2.5× and 6× its
    level at steps 400, 1,100 and 1,600, each back at the next step. Recomputed here on the log-loss, by
    the card's definitions: the rolling median over `window` (31) points, the rolling MAD around it
    (scaled to σ, floored at a quarter of its median), the height of each spike in those spreads, its
    ratio to the local median, and the points until it is back within 3 spreads. Single points, back at
    once, with no LR or gradient norm logged: corrupted samples (0.5), an outlier batch otherwise (0.3)."""
    s = np.arange(2000)
    y = (2.0 * np.exp(-s / 500) + 0.3) * np.exp(0.03 * np.random.default_rng(12).standard_normal(2000))
    at = [400, 1100, 1600]
    for i, k in zip(at, [4.0, 2.5, 6.0]):
        y[i] *= k
    (f,) = findings({"train/loss": (s, y)}, "SP001")

    ly = np.log(y)
    med = ndimage.median_filter(ly, size=31, mode="reflect")
    spread = 1.4826 * ndimage.median_filter(np.abs(ly - med), size=31, mode="reflect")
    spread = np.maximum(spread, 0.25 * np.median(spread))
    z = (ly - med) / spread
    back = [next(j for j in range(1, 21) if ly[i + j] <= med[i] + 3 * spread[i]) for i in at]
    st = f.stats
    assert (st["mode"], st["count"], st["steps"], st["epoch_locked_dropped"]) == ("rolling", 3, at, 0)
    assert st["heights"] == [round(float(z[i]), 1) for i in at]
    assert st["ratios_to_local_median"] == [round(float(np.exp(ly[i] - med[i])), 3) for i in at]
    assert st["recovery_points"] == back == [1, 1, 1]
    assert f.step_range == (400, 1600) and f.ranges == ((400, 400), (1100, 1100), (1600, 1600))
    big = max(np.exp(ly[i] - med[i]) for i in at)
    assert f.summary == (f"'train/loss' spikes 3 time(s), up to {max(z[i] for i in at):.0f} local spreads "
                         f"({big:.1f}× the local median), first at step 400, recovering within 1 point(s)")
    assert [(c.cause, c.confidence) for c in f.causes] == [("corrupt_samples", 0.5), ("unknown", 0.3)]
    assert f.causes[0].evidence.startswith("3 single-point spike(s), each back at the next point")


def test_spikes_after_the_lr_was_raised_blame_the_raise():
    """The same loss with the LR raised from 1e-4 to 1e-3 at step 1,000 (10×, over the card's
    lr_raised_factor of 3) and two spikes after it (1,100 and 1,600): the raise is the likely cause (0.8)
    and the outlier-batch reading stays behind it (0.3). The spikes are no longer 'corrupt samples':
    something explains them."""
    s = np.arange(2000)
    y = (2.0 * np.exp(-s / 500) + 0.3) * np.exp(0.03 * np.random.default_rng(12).standard_normal(2000))
    y[1100] *= 2.5
    y[1600] *= 6.0
    (f,) = findings({"train/loss": (s, y), "lr": (s, np.where(s < 1000, 1e-4, 1e-3))}, "SP001")
    assert f.stats["steps"] == [1100, 1600]
    assert [(c.cause, c.confidence) for c in f.causes] == [("lr_too_high", 0.8), ("unknown", 0.3)]
    # the LR in force at the first spike against the median LR logged before it
    assert f.causes[0].evidence.startswith("the logged LR ('lr') is 0.001 at step 1,100, 10× the 0.0001 it mostly "
                                           "was before (raised from step 1,000)")


# --- PL001: a loss pinned at a chance level

def test_a_loss_pinned_at_chance_reports_its_level_and_share_recomputed():
    """A 10-class classifier whose loss explodes to 40 in its first 10 steps (inputs on wild scales) and
    then sits at ln 10 = 2.3026 (±0.3 % batch noise, the uniform prediction's loss) for the rest of 2,000
    steps: it predicts the prior. Recomputed here by the card's definitions: the level (median), the start
    and end (medians of the first and last tenth), the relative improvement and spread (MAD over the start),
    and the share of the run whose running median (21 points) is within chance_tolerance (2 %) of the
    level. The explosion comes first in the causes (0.65): its peak and step, and how many times the chance
    level it is."""
    s = np.arange(2000)
    y = np.log(10) * np.exp(0.003 * np.random.default_rng(13).standard_normal(2000))
    y[:10] = np.linspace(40.0, 3.0, 10)
    (f,) = findings({"train/loss": (s, y)}, "PL001")
    level, start, end = np.median(y), np.median(y[:200]), np.median(y[-200:])
    sm = ndimage.median_filter(y, size=21, mode="nearest")
    near = np.mean(np.abs(sm - level) <= 0.02 * level)
    mad = 1.4826 * np.median(np.abs(y - np.median(y)))
    st = f.stats
    assert (st["kind"], st["chance_level"], st["points"]) == ("pinned", "ln 10 (uniform over 10 classes)", 2000)
    assert st["level"] == round(level, 6) and st["start"] == round(start, 6) and st["end"] == round(end, 6)
    assert st["relative_improvement"] == round((start - end) / start, 5)
    assert st["relative_spread"] == round(mad / start, 5)
    assert st["fraction_at_level"] == round(near, 4) and near >= 0.9
    assert f.severity == "error"  # at the level for error_fraction_at_chance (90 %) of the run or more
    assert f.summary == (f"'train/loss' is pinned at {level:.4g} = ln 10 (uniform over 10 classes) for {near:.0%} "
                         "of the run")
    assert [(c.cause, c.confidence) for c in f.causes] == [("unnormalized_inputs", 0.65), ("unknown", 0.6)]
    assert f.causes[0].evidence.startswith(f"the loss first exploded to 40 (step 0, {40 / level:.0f}× the chance "
                                           "level) and then settled at ln 10")
    # without the explosion, under an LR that is not tiny: the network starts in a state it cannot leave
    y[:10] = y[10:20]
    (f,) = findings({"train/loss": (s, y), "lr": (s, np.full(2000, 1e-3))}, "PL001")
    assert [(c.cause, c.confidence) for c in f.causes] == [("bad_initialization", 0.65), ("unknown", 0.6)]
    assert f.causes[0].evidence.startswith("the loss sits at ln 10 (uniform over 10 classes) from its first points "
                                           "and never leaves it, under an LR of 0.001")
    # under an LR of at most max_low_lr (1e-5) the steps are too small; of at most max_dead_lr (1e-7), nothing moves
    (f,) = findings({"train/loss": (s, y), "lr": (s, np.full(2000, 1e-5))}, "PL001")
    assert [(c.cause, c.confidence) for c in f.causes][0] == ("lr_too_low", 0.7)
    (f,) = findings({"train/loss": (s, y), "lr": (s, np.full(2000, 1e-7))}, "PL001")
    assert [(c.cause, c.confidence) for c in f.causes][0] == ("unknown", 0.8)
    assert f.causes[0].evidence == "the logged learning rate never exceeds 1e-07"


# --- boundaries and branches that decide a finding

def test_a_second_detector_for_a_rule_is_refused_but_the_same_one_again_is_not():
    """Each rule has one detector: a second, different function registered under a rule id that has one
    is a programming error; registering the same function again (a module imported twice) is harmless."""
    from loganalyze.detectors import _REGISTRY, all_detectors, detector

    fn = all_detectors()["DV001"]
    assert detector("DV001")(fn) is fn
    with pytest.raises(RuntimeError, match="two detectors registered for rule DV001"):
        detector("DV001")(lambda run, params: [])
    assert _REGISTRY["DV001"] is fn


def test_an_explosion_into_nan_after_a_gradient_burst_names_the_burst():
    """The loss falls smoothly, jumps to 300 at step 1,498 and 200 at 1,499, and is NaN from step 1,500 on:
    the explosion is the largest value in the two logging intervals before the NaN, the typical level the
    median before them. The gradient norm, near 1 all run, reaches 25 at step 1,498 (over the card's
    grad_burst_ratio, 10× its median). The burst just before is named with its
    numbers (exploding gradients, 0.65), `unknown` stays behind it (0.3); the explosion's ratio is the
    peak over the typical level before it."""
    s = np.arange(2000)
    rng = np.random.default_rng(14)
    y = (2.0 * np.exp(-s / 500) + 0.3) * np.exp(0.02 * rng.standard_normal(2000))
    y[1498], y[1499], y[1500:] = 300.0, 200.0, np.nan
    g = np.exp(0.05 * rng.standard_normal(2000))
    g[1498] = 25.0
    (f,) = findings({"train/loss": (s, y), "grad_norm": (s, g)}, "DV001")
    assert f.stats["shape"] == "explodes_into_nonfinite" and f.stats["nonfinite_from"] == 1500
    typical = np.median(np.abs(y[:1498][-max(10, 1498 // 5):]))  # the points before the last two logging gaps
    assert f.stats["typical"] == typical and f.stats["peak"] == 300.0  # the largest of the last two logged points
    assert f.stats["rise_factor"] == round(300.0 / typical, 4) and f.step_range == (1498, 1999)
    assert [(c.cause, c.confidence) for c in f.causes] == [("exploding_gradients", 0.65), ("unknown", 0.3)]
    assert f.causes[0].evidence.startswith(f"the gradient norm ('grad_norm') reached 25 at step 1,498, "
                                           f"{25 / np.median(g):.0f}× its median")


def test_a_validation_spike_after_training_died_is_the_explosion_not_a_spike():
    """The training loss is NaN from step 1,500 to the end (the run blew up); the validation loss, logged
    every 10 steps, jumps 5× at step 800 and again at step 1,800. The jump at 800 is a spike; the one at
    1,800 comes after training died, so it is a consequence of the explosion (NF001's), not a spike."""
    s = np.arange(2000)
    rng = np.random.default_rng(15)
    train = (2.0 * np.exp(-s / 500) + 0.3) * np.exp(0.02 * rng.standard_normal(2000))
    train[1500:] = np.nan
    vs = s[::10]
    val = (2.0 * np.exp(-vs / 500) + 0.4) * np.exp(0.02 * rng.standard_normal(len(vs)))
    val[80] *= 5
    val[180] *= 5
    found = findings({"train/loss": (s, train), "val/loss": (vs, val)}, "SP001")
    assert [(f.tags, f.stats["steps"]) for f in found] == [(("val/loss",), [800])]


def test_a_loss_that_improves_by_exactly_the_tolerance_has_not_improved():
    """Five training logs and twenty evaluations, both worse after their first value than at it — except
    that the best later validation is exactly chance_tolerance (2 %) below the first: within the tolerance
    that is no improvement, so the run still 'never improves'; a little more than 2 % is one."""
    ts, es = np.arange(1, 6) * 500, np.arange(1, 21) * 130
    rng = np.random.default_rng(3)
    train = 1.2345678 * np.r_[1, 1.4 * np.exp(0.05 * rng.standard_normal(4))]
    val = 2.5123456 * np.r_[1, 1.3 * np.exp(0.05 * rng.standard_normal(19))]
    val[7] = val[0] * (1 - 0.02)
    (f,) = [f for f in findings({"train/loss": (ts, train), "val/loss": (es, val)}, "PL001")]
    assert f.stats["kind"] == "never_improved" and f.step_range == (130, 2600)
    assert (f.stats["train_first"], f.stats["train_best_later"]) == (round(train[0], 6), round(train[1:].min(), 6))
    assert (f.stats["val_first"], f.stats["val_best_later"]) == (round(val[0], 6), round(val[7], 6))
    assert (f.stats["train_points"], f.stats["val_points"]) == (5, 20)
    worse = [f"'{t}' from {v[0]:.4g} to {v[-1]:.4g} ({v[-1] / v[0] - 1:+.0%}; best later {v[1:].min():.4g})"
             for t, v in (("train/loss", train), ("val/loss", val))]
    assert f.summary == f"neither loss ever improves on its first logged value: {worse[0]}; {worse[1]} over 20 evaluations"
    val[7] = val[0] * (1 - 0.021)
    assert not [f for f in findings({"train/loss": (ts, train), "val/loss": (es, val)}, "PL001")
                if f.stats["kind"] == "never_improved"]


def test_a_running_mean_reset_each_epoch_reports_the_decay_of_its_moves():
    """12 epochs of 100 steps; the per-step loss (30 % noise on a decay) is logged as its running mean
    since the epoch began (running_loss / (i + 1)), so within an epoch the logged value moves by ~1/k at
    its k-th step and jumps at each boundary. Recomputed here on the log of the logged values: the
    median move early in the epoch (its 2nd to 10th points, a tenth of the epoch) over the median move
    in its second half (the decay), and the median move across a boundary over the same (the jump). The
    confidence rises with the decay, 0.6 + 0.05 per ×, counted up to 7× (0.95)."""
    E, P = 12, 100
    s = np.arange(E * P)
    raw = (2.0 * np.exp(-s / 500) + 0.5) * np.exp(0.3 * np.random.default_rng(1).standard_normal(len(s)))
    logged = np.array([raw[e * P: e * P + k + 1].mean() for e, k in zip(s // P, s % P)])
    (f,) = findings({"train/loss": (s, logged), "epoch": (s, s // P)}, "PD001")
    d, k = np.abs(np.diff(np.log(logged))), (s % P)[1:]
    inside = (s // P)[1:] == (s // P)[:-1]
    late = np.median(d[inside & (k >= P // 2)])
    decay = np.median(d[inside & (k >= 1) & (k <= P // 10)]) / late
    jump = np.median(d[~inside]) / late
    c = f.causes[0]
    assert c.cause == "running_mean_reset" and c.confidence == min(0.95, 0.6 + 0.05 * min(decay, 7))
    assert (f"shrinks from early to late by {decay:.0f}× and the value jumps {jump:.0f}× the late-epoch change"
            in c.evidence)


# --- PD002: a cycle of another period than the epoch, from the periodogram and the fold

def _fold(ly, period, bins=20):
    """The fold of a log-loss logged at every step 0 … n-1 by position within `period`-step cycles, by
    definition: the moving average over one cycle (ends held) taken off, the half cycle at either end
    left out, `bins` phase bins; (profile, per-cycle profiles, variance explained, odd/even correlation)."""
    n = len(ly)
    resid = ly - ndimage.uniform_filter1d(ly, size=period, mode="nearest")
    core = np.arange(period // 2, n - period // 2)
    r, b, c = resid[core], (core % period) * bins // period, core // period
    profile = np.array([r[b == k].mean() for k in range(bins)])
    eta2 = sum((b == k).sum() * (profile[k] - r.mean()) ** 2 for k in range(bins)) / ((r - r.mean()) ** 2).sum()
    per = np.array([[r[(c == e) & (b == k)].mean() if ((c == e) & (b == k)).any() else np.nan for k in range(bins)]
                    for e in range(n // period)])
    split = np.corrcoef(np.nanmean(per[1::2], axis=0), np.nanmean(per[0::2], axis=0))[0, 1]
    return profile, per, eta2, split


def test_a_cycle_at_the_validation_cadence_reports_its_periodogram_and_fold():
    """3,150 steps in epochs of 1,000; every 150 steps an evaluation leaves the model changed and the
    loss jumps up 15 % and decays back over the next 150 steps (a saw-tooth, 4 % noise); validation is
    logged every 150 steps. Recomputed here: the periodogram of the log-loss minus its running median (n/8
    points), Hann-windowed, its peak (at 150 steps: 21 cycles) over the median power of periods 4 … n/3;
    the fold at 150 steps (variance explained, odd/even r); the share of cycles whose own profile follows
    the mean one (r ≥ 0.3) and the median cycle's swing over the largest. The period is not the epoch's
    (1,000 / 150 is no whole number) and it is the validation cadence: evaluation is the suspect (0.5)."""
    n, P = 3150, 150
    s = np.arange(n)
    rng = np.random.default_rng(16)
    jump = np.where(s // P == 10, -0.15, 0.15)  # (one cycle runs the other way: it does not follow the others)
    y = (1.5 * np.exp(-s / 1500) + 0.4) * np.exp(jump * np.exp(-(s % P) / 40) + 0.04 * rng.standard_normal(n))
    vs = s[P - 1::P]
    (f,) = findings({"train/loss": (s, y), "epoch": (s, s // 1000), "val/loss": (vs, 0.8 - vs / 1e4)}, "PD002")

    ly = np.log(y)
    r = ly - ndimage.median_filter(ly, size=(n // 8) | 1, mode="nearest")
    r -= r.mean()
    spec = np.abs(np.fft.rfft(r * np.hanning(n))) ** 2
    fr = np.fft.rfftfreq(n)
    valid = (fr > 0) & (fr <= 0.25) & (fr >= 3 / n)
    peak = np.argmax(np.where(valid, spec, -1))
    profile, per, eta2, split = _fold(ly, P)
    full = [row for row in per if np.isfinite(row).sum() >= 10]
    agree = np.mean([np.corrcoef(row[np.isfinite(row)], profile[np.isfinite(row)])[0, 1] >= 0.3 for row in full])
    swings = [np.nanmax(row) - np.nanmin(row) for row in per if np.isfinite(row).sum() >= 3]
    st = f.stats
    assert round(1 / fr[peak]) == P and st["period_steps"] == P and st["cycles"] == 21.0
    assert 0.8 < agree < 1  # the cycle without a jump does not follow: 20 of 21
    assert st["peak_power_ratio"] == round(float(spec[peak] / np.median(spec[valid])), 2)
    assert st["phase_profile"] == [round(float(v), 5) for v in profile]
    assert st["variance_explained"] == round(eta2, 4) and st["split_half_r"] == round(split, 4)
    assert st["cycle_agreement"] == round(agree, 3)
    assert st["amplitude_consistency"] == round(float(np.median(swings) / max(swings)), 3)
    amp = profile.max() - profile.min()
    assert st["relative_amplitude"] == round(float(np.exp(amp) - 1), 4)
    assert (st["validation_cadence"], st["lr_period_steps"]) == (P, None)
    assert f.summary == (f"'train/loss' repeats every 150 steps (21 cycles, {np.exp(amp) - 1:.0%} swing), "
                         "matching the validation cadence")
    assert [(c.cause, c.confidence) for c in f.causes] == [("eval_side_effect", 0.5)]
    assert "(150 steps)" in f.causes[0].evidence


def test_training_and_validation_at_one_chance_level_are_one_finding():
    """A dead 10-class model: training (2,000 steps) and validation (every 100 steps) both sit at ln 10
    (±0.3 %). One finding, on both tags, that carries validation's own level and share (recomputed: the
    median of its values, all of them within 2 %). With validation at ln 2 instead (another label set
    than training's), the two are not one phenomenon: two findings. (The training loss then starts above
    ln 10, not at it: under a training loss that starts at ln 10, ln 2 is no chance level of the task.)"""
    s = np.arange(2000)
    rng = np.random.default_rng(17)
    train = np.log(10) * np.exp(0.003 * rng.standard_normal(2000))
    vs = s[99::100]
    val = np.log(10) * np.exp(0.003 * rng.standard_normal(len(vs)))
    (f,) = findings({"train/loss": (s, train), "val/loss": (vs, val)}, "PL001")
    assert f.tags == ("train/loss", "val/loss") and f.stats["chance_level"] == "ln 10 (uniform over 10 classes)"
    assert f.stats["val_level"] == round(float(np.median(val)), 6) and f.stats["val_fraction_at_level"] == 1.0
    assert f.summary.endswith(f"; validation ('val/loss') sits there too ({np.median(val):.4g}, 100%)")
    above = np.r_[np.full(3, 2.6), train[3:]]  # (2.6: no chance level)
    found = findings({"train/loss": (s, above), "val/loss": (vs, val * np.log(2) / np.log(10))}, "PL001")
    assert sorted((g.tags, g.stats["chance_level"]) for g in found) == [
        (("train/loss",), "ln 10 (uniform over 10 classes)"), (("val/loss",), "ln 2 (uniform over 2 classes)")]


# --- AC001: overfitting measured from the best evaluation on

def test_overfitting_reports_the_best_evaluation_and_what_followed_recomputed():
    """Training (every step to 6,000) falls from 2.0 towards 0.05; validation (every 200 steps) falls with
    it to about 0.5 near step 1,800 and then climbs steadily back towards 0.9 (2 % noise): the model fits
    the training set at validation's expense. Recomputed here: the best evaluation, how many of those
    after it are worse, validation's rise (median of the last three over the best), Kendall's τ from the
    best on, the training loss averaged over each evaluation interval, its improvement and τ after the
    best, the train/val gaps at the best and at the end."""
    s = np.arange(1, 6001)
    rng = np.random.default_rng(18)
    train = (2.0 * np.exp(-s / 1500) + 0.05) * np.exp(0.03 * rng.standard_normal(len(s)))
    vs = np.arange(200, 6001, 200)
    vv = (0.5 + 1.5 * np.exp(-vs / 400) + 0.4 * np.clip((vs - 1800) / 4200, 0, 1)) \
        * np.exp(0.02 * rng.standard_normal(len(vs)))
    (f,) = findings({"train/loss": (s, train), "val/loss": (vs, vv)}, "AC001")

    b = int(np.argmin(vv))
    after = len(vv) - 1 - b
    end = np.median(vv[-3:])
    tr = np.array([train[(s > lo) & (s <= hi)].mean() for lo, hi in zip(np.r_[0, vs[:-1]], vs)])
    fall = (tr[b] - np.median(tr[-3:])) / tr[b]
    st = f.stats
    worse = int((vv[b + 1:] > vv[b]).sum())
    assert (st["best_step"], st["evals_after_best"], st["worse_than_best"]) == (vs[b], after, worse)
    assert st["best_value"] == vv[b] and st["end_value"] == end
    assert st["val_change_since_best"] == round((end - vv[b]) / vv[b], 4)
    assert st["kendall_tau_after_best"] == round(stats.kendalltau(np.arange(after + 1), vv[b:])[0], 4)
    assert st["train_improvement_since_best"] == round(fall, 4)
    assert st["train_kendall_tau_after_best"] == round(stats.kendalltau(np.arange(after + 1), tr[b:])[0], 4)
    assert st["gap_at_best"] == round(vv[b] - tr[b], 6) and st["gap_at_end"] == round(end - np.median(tr[-3:]), 6)
    noise = 1.4826 * np.median(np.abs(np.diff(vv[: b + 1]) - np.median(np.diff(vv[: b + 1])))) / np.sqrt(2) / vv[b]
    assert st["val_noise_relative"] == round(noise, 4)
    assert f.step_range == (vs[b], 6000)
    assert f.summary == (f"'val/loss' is best at step {vs[b]:,} ({vv[b]:.4g}) and worse at {st['worse_than_best']} of "
                         f"the {after} evaluations after it ({(end - vv[b]) / vv[b]:+.0%} by the end) while "
                         f"'train/loss' keeps improving ({fall:.0%} better): stop at step {vs[b]:,}")
    assert [(c.cause, c.confidence) for c in f.causes] == [("overfitting", 0.85)]
    assert (f"the train/val gap grows from {vv[b] - tr[b]:.3g} to {end - np.median(tr[-3:]):.3g}"
            in f.causes[0].evidence)


def test_validation_that_never_came_near_training_is_a_mismatch_before_overfitting():
    """The same run with validation 12× higher throughout: its best (about 6.5) is still more than
    mismatch_ratio (3×) the training loss at the very start of the run (the median of its first
    twentieth, about 2): validation never improved with training, so the sets or their evaluation differ
    (0.65), and overfitting stays behind it (0.45) with its own evidence."""
    s = np.arange(1, 6001)
    rng = np.random.default_rng(18)
    train = (2.0 * np.exp(-s / 1500) + 0.05) * np.exp(0.03 * rng.standard_normal(len(s)))
    vs = np.arange(200, 6001, 200)
    vv = 12 * (0.5 + 1.5 * np.exp(-vs / 400) + 0.4 * np.clip((vs - 1800) / 4200, 0, 1)) \
        * np.exp(0.02 * rng.standard_normal(len(vs)))
    (f,) = findings({"train/loss": (s, train), "val/loss": (vs, vv)}, "AC001")
    start = np.median(train[:300])
    assert [(c.cause, c.confidence) for c in f.causes] == [("train_val_mismatch", 0.65), ("overfitting", 0.45)]
    assert f.causes[0].evidence.startswith(f"the best validation loss ({vv.min():.4g}) is {vv.min() / start:.1f}× the "
                                           f"training loss at the start of the run ({start:.4g})")


# --- PL002: a long flat start

def test_a_long_flat_start_reports_where_it_ends_recomputed():
    """A 10-class classifier sits at ln 10 (±1 %) for the first 1,100 of 4,000 steps while a warm-up
    raises the LR from 1e-5 to 1e-3 over those steps, then learns down to 0.2. Recomputed here by the
    card's definitions, on the log-loss in 40 buckets of 100 steps: the stall is the run of buckets from
    the first whose medians stay within the tolerance (the larger of flat_tolerance and 3× the
    bucket-to-bucket noise, at most half the gap) of the first one while sitting min_gap_factor (1.5×)
    above the best bucket; where it ends, its share of the run, how far above the best it sits. The LR
    still rising at its end (warm-up) comes first (0.6), the chance level second (0.4)."""
    s = np.arange(4000)
    rng = np.random.default_rng(19)
    y = np.where(s < 1100, np.log(10), 0.2 + (np.log(10) - 0.2) * np.exp(-(s - 1100) / 300))
    y = y * np.exp(0.01 * rng.standard_normal(4000))
    lr = np.minimum(1e-5 + (1e-3 - 1e-5) * s / 1100, 1e-3)
    (f,) = findings({"train/loss": (s, y), "lr": (s, lr)}, "PL002")

    med = np.median(np.log(y).reshape(40, 100), axis=1)
    d = np.diff(med)
    noise = 1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2)
    gap = np.log(1.5)
    tol = max(min(3 * noise, gap / 2), 0.03)
    flat = next(i for i in range(1, 40) if not (abs(med[i] - med[0]) <= tol and med[i] - med.min() >= gap)) - 1
    end = (flat + 1) * 100
    st = f.stats
    assert st["stall_end_step"] == end and f.step_range == (0, end) and 1000 <= end <= 1200
    assert st["stall_fraction"] == round((flat + 1) / 40, 3)
    assert st["stall_level"] == round(float(np.exp(med[0])), 6)
    assert st["best_level"] == round(float(np.exp(med.min())), 6)
    assert st["factor_above_best"] == round(float(np.exp(med[0] - med.min())), 3)
    assert st["chance_level"] == "ln 10 (uniform over 10 classes)" and st["lr_at_stall_end"] == lr[end]
    assert f.summary == (f"'train/loss' stalls at {np.exp(med[0]):.4g} (= ln 10) for the first {(flat + 1) / 40:.0%} "
                         f"of the run (to step {end:,}), {np.exp(med[0] - med.min()):.1f}× above the best it "
                         "reaches later")
    assert [(c.cause, c.confidence) for c in f.causes] == [("lr_too_low", 0.6), ("bad_initialization", 0.4),
                                                           ("unknown", 0.3)]
    assert f.causes[0].evidence.startswith(f"the stall ends at step {end:,} as the LR rises (the LR ('lr') is "
                                           f"{lr[end]:.3g} there (started at 1e-05, peak so far {lr[end]:.3g}))")
    # with no LR logged the warm-up cannot be seen: the chance level leads (0.55), nothing tells the rest apart
    (f,) = findings({"train/loss": (s, y)}, "PL002")
    assert [(c.cause, c.confidence) for c in f.causes] == [("bad_initialization", 0.55), ("unknown", 0.3)]
    assert f.causes[1].evidence.endswith("(no learning rate is logged to tell them apart)")
    # and a stall above any chance level, with no LR: only `unknown`, at 0.45
    (f,) = findings({"train/loss": (s, y * 1.35)}, "PL002")  # 3.11: between ln 20 and ln 32
    assert [(c.cause, c.confidence) for c in f.causes] == [("unknown", 0.45)] and f.stats["chance_level"] is None


def test_spikes_three_quarters_at_the_top_lr_are_the_lrs_doing_and_half_are_not():
    """The LR decays linearly from 1e-3 to 1e-4 over 2,000 steps; its top quarter (the 75th percentile
    of its values, recomputed) is the first 500 steps. Four single-point spikes, three of them in the top
    quarter (steps 150, 300, 450) and one late (1,500): 3 of 4 is exactly the card's lr_share_at_high
    (75 %), enough to name the LR (0.7). With two of the four early, half is not enough: with nothing else
    to explain them, single points back at once are corrupted samples (0.5)."""
    s = np.arange(2000)
    lr = 1e-3 - 9e-4 * s / 1999
    # (a decay whose level at the spikes is no chance level: spikes out of a loss at chance name the LR too)
    base = (2.5 * np.exp(-s / 400) + 0.15) * np.exp(0.03 * np.random.default_rng(20).standard_normal(2000))
    y = base.copy()
    y[[150, 300, 450, 1500]] *= 5
    (f,) = findings({"train/loss": (s, y), "lr": (s, lr)}, "SP001")
    assert f.stats["steps"] == [150, 300, 450, 1500]
    assert [(c.cause, c.confidence) for c in f.causes] == [("lr_too_high", 0.7), ("unknown", 0.3)]
    assert f.causes[0].evidence.startswith(f"75% of the spikes happen while the LR is in its top quarter "
                                           f"(≥ {np.quantile(lr, 0.75):.3g})")
    y = base.copy()
    y[[150, 300, 1200, 1500]] *= 5
    (f,) = findings({"train/loss": (s, y), "lr": (s, lr)}, "SP001")
    assert [(c.cause, c.confidence) for c in f.causes] == [("corrupt_samples", 0.5), ("unknown", 0.3)]


# --- PL004: converged early

@pytest.mark.parametrize("noise", [0.02, 0.3])
def test_a_loss_converged_early_reports_where_its_flat_stretch_starts_recomputed(noise):
    """A loss (4,000 steps, 2 % noise) that falls from 2.3 to 0.3 by about step 1,200 and then sits there,
    under a constant LR of 3e-4. Recomputed here by the card's definitions on the log-loss in 40 buckets
    of 100 steps: the tolerance (log 1.05, widened to twice the wander of the later buckets' medians or
    of a bucket median's noise, never past log 1.25), the buckets off the final one by more than it, the
    earliest bucket from which at least min_share_within (90 %) of the rest stay within it; where the
    flat stretch starts, its share of the run, the final level. With 30 % noise the bucket medians' own
    wander (about ±4 %) sets the tolerance instead of the 5 %."""
    s = np.arange(4000)
    rng = np.random.default_rng(21)
    y = (2.0 * np.exp(-s / 250) + 0.3) * np.exp(noise * rng.standard_normal(4000))
    (f,) = findings({"train/loss": (s, y), "lr": (s, np.full(4000, 3e-4))}, "PL004")

    ly = np.log(y)
    med = np.median(ly.reshape(40, 100), axis=1)
    mad = lambda x: 1.4826 * np.median(np.abs(x - np.median(x)))  # noqa: E731
    wander = max(mad(np.diff(med[20:])), 1.2533 * mad(np.diff(ly[2000:])) / np.sqrt(100)) / np.sqrt(2)
    tol = min(max(np.log(1.05), 2 * wander), max(np.log(1.05), np.log(1.25)))
    assert (tol > np.log(1.05)) == (noise > 0.1)  # the planted noise decides which bound holds
    on = np.abs(med - med[-1]) <= tol
    first = next(i for i in range(40) if on[i:].mean() >= 0.9)
    start = first * 100
    st = f.stats
    assert st["flat_start_step"] == start and f.step_range == (start, 3999)
    assert st["flat_fraction"] == round((3999 - start) / 3999, 3) and st["level"] == round(float(np.exp(med[-1])), 6)
    assert st["lr_at_flat_start"] == 3e-4
    assert f.summary == (f"'train/loss' has been flat at {np.exp(med[-1]):.4g} (within 5%) since step {start:,}: "
                         f"the last {(3999 - start) / 3999:.0%} of the run changed it by less than its tolerance")
    assert f.causes[0].evidence.startswith(f"converged by step {start:,}; the LR ('lr') is constant at 0.0003")


# --- PD001: the small last batch, measured in spreads of the rest

def test_a_small_last_batch_reports_how_far_its_points_sit_recomputed():
    """12 epochs of 100 steps; the last batch of each epoch holds a few samples and its loss is 1.6× the
    rest's (5 % noise elsewhere). Recomputed here: the log-loss minus its moving average over one epoch;
    each epoch's last point against the other points, in robust spreads of theirs (MAD); the median of
    those distances, how many epochs' last points are over 3 spreads out, and the binomial p of that many
    by chance (the rest's own share over 3 spreads, at least 5 %). The rest of the epoch is flat, so the
    cause is held at 0.85."""
    E, P = 12, 100
    s = np.arange(E * P)
    y = (2.0 * np.exp(-s / 500) + 0.5) * np.exp(0.05 * np.random.default_rng(0).standard_normal(len(s)))
    y[P - 1::P] *= 1.6
    (f,) = findings({"train/loss": (s, y), "epoch": (s, s // P)}, "PD001")

    ly = np.log(y)
    resid = ly - ndimage.uniform_filter1d(ly, size=P, mode="nearest")
    last = s % P == P - 1
    mad = 1.4826 * np.median(np.abs(resid[~last] - np.median(resid[~last])))
    z = np.abs(resid[last]) / mad
    out = int((z > 3).sum())
    chance = max(np.mean(np.abs(resid[~last]) / mad > 3), 0.05)
    p = stats.binom.sf(out - 1, E, chance)
    c = f.causes[0]
    assert (c.cause, c.confidence) == ("small_last_batch", 0.85)
    assert c.evidence.startswith(f"the last point of each epoch sits a median {np.median(z):.1f} spreads above the "
                                 f"rest (over 3 spreads in {out / E:.0%} of epochs, binomial p = {p:.1e}) while the "
                                 "rest of the epoch is flat")


def test_a_fading_staircase_over_exactly_seven_epochs_is_judged_on_its_first_half():
    """Memorization for the first 3 of 7 epochs (a ±15 % staircase), then the cycle stops. Over all 7
    epochs it is diluted; 7 is 2 × min_epochs (3) + 1, the fewest epochs whose first half can be judged
    on its own (3 epochs, min_epochs), and there it is significant."""
    rng = np.random.default_rng(0)
    s = np.arange(1400)
    ep, phase = s // 200, (s % 200) / 200
    y = (0.3 + 1.5 * np.exp(-s / 600)) * np.exp(np.where(ep < 3, 0.3, 0.0) * (phase - 0.5)
                                                 + 0.08 * rng.standard_normal(len(s)))
    (f,) = findings({"train/loss": (s, y), "epoch": (s, ep)}, "PD001")
    assert f.stats["judged_on"].startswith("first half") and f.stats["epochs"] == 3
    assert f.causes[0].cause == "memorization"


def test_a_cycle_near_a_quarter_epoch_that_drifts_against_it_stays_pd002s():
    """A 251-step cycle (±15 %) under 1,020-step epochs: four cycles take 1,004 steps, so the cycle slides
    16 steps against the epoch every epoch and the epoch's own fold does not hold it (its variance
    explained and odd/even agreement stay under PD002's own bars). Though 1,020 / 251 is within 0.1 of a
    whole number, this is no sub-epoch part of an epoch profile: PD002 reports it."""
    rng = np.random.default_rng(2)
    E = 1020
    s = np.arange(16 * E)
    y = (0.4 + 1.5 * np.exp(-s / 4000)) * np.exp(0.15 * np.sin(2 * np.pi * s / 250)
                                                 + 0.05 * rng.standard_normal(len(s)))
    (f,) = findings({"train/loss": (s, y), "epoch": (s, s // E)}, "PD002")
    assert abs(E / f.stats["period_steps"] - 4) < 0.1 and 248 <= f.stats["period_steps"] <= 252


# --- IN001 / IN002: what the ingest found in the files, counted

def _csv_findings(tmp_path, name, rows, rule):
    from loganalyze.config import Config
    from loganalyze.engine import analyze

    p = tmp_path / name / "metrics.csv"
    p.parent.mkdir()
    p.write_text("\n".join(rows) + "\n")
    (report,) = analyze([str(p)], Config(select=(rule,))).runs
    return report.findings


def test_a_resume_that_rewrites_steps_with_other_values_counts_them(tmp_path):
    """A CSV of two measured series (loss, accuracy) over steps 0–49; the job was killed and resumed
    from the step-30 checkpoint, so steps 30–49 are written again with other values (training is not
    deterministic) and the log goes on to step 59. The step goes back once (49 → 30) and the 20 earlier
    points of each series at steps 30–49 are superseded; both series repeat those steps with other
    values, which several series at once makes a resume (0.6) rather than two writers of one name."""
    rows = ["step,loss,acc"] + [f"{s},{2 / (1 + s / 10):.6f},{s / 100:.4f}" for s in range(50)]
    rows += [f"{s},{2.1 / (1 + s / 10):.6f},{s / 99:.4f}" for s in range(30, 60)]
    (f,) = _csv_findings(tmp_path, "rewind", rows, "IN001")
    assert (f.stats["rewinds"], f.stats["superseded_points"], f.step_range) == (1, 40, (30, 49))
    assert f.summary.startswith("The step goes back 1 time(s) in 1 file(s) (first from 49 to 30); 40 earlier point(s)")
    assert [(c.cause, c.confidence) for c in f.causes] == [("resumed_run", 0.9)]
    assert f.causes[0].evidence.startswith("later writes restart below steps already logged (49 → 30): ")


def test_two_series_logged_again_at_the_same_steps_with_other_values_are_one_resume(tmp_path):
    """Steps 10 and 11 of a two-series CSV (loss, accuracy) are each written twice in a row, the second
    time with other values: one finding for the file (both series, 2 points each), warning, and with several
    series repeating at once a resume that replayed those steps comes first (0.6), two writers second
    (0.35). One series alone doing it is as likely two writers of one name (0.5)."""
    rows = ["step,loss,acc"] + [f"{s},{2 / (1 + s / 10):.6f},{s / 100:.4f}" for s in range(40)]
    (f,) = _csv_findings(tmp_path, "two", rows[:12] + ["10,1.5,0.2"] + rows[12:13] + ["11,1.4,0.21"] + rows[13:],
                         "IN002")
    assert (f.stats["count"], f.stats["conflicting_values"], f.stats["series"]) == (2, 4, 2)
    assert f.stats["first_steps"] == [10, 11] and f.step_range == (10, 11) and f.severity == "warning"
    assert f.summary == "2 series ('loss', …) have 2 point(s) logged twice at the same step, 4 with different values"
    assert [(c.cause, c.confidence) for c in f.causes] == [("resumed_run", 0.6), ("unknown", 0.35)]
    rows1 = ["step,loss"] + [f"{s},{2 / (1 + s / 10):.6f}" for s in range(40)]
    (f,) = _csv_findings(tmp_path, "one", rows1[:12] + ["10,1.5"] + rows1[12:13] + ["11,1.4"] + rows1[13:], "IN002")
    assert [(c.cause, c.confidence) for c in f.causes] == [("unknown", 0.5)]
    assert f.summary == "'loss' has 2 point(s) logged twice at the same step, 2 with different values"


# --- SP001 on the gradient norm: a burst, and whether the loss felt it

def test_a_gradient_norm_burst_is_exploding_gradients_and_the_loss_setback_decides_how_sure():
    """The gradient norm (near 1.0, 5 % noise, 2,000 steps) bursts to 100× at step 1,000. In one run the
    loss is set back by it: the medians of the tenth of the run before and after the burst are 0.5 and
    0.9 (recomputed), more than the card's setback_factor (1.2×) apart, so exploding gradients at 0.75
    with both medians. In the other the loss does not notice (a clipped update): exploding gradients at
    0.55, and the finding is info."""
    s = np.arange(2000)
    rng = np.random.default_rng(22)
    g = 1.0 * np.exp(0.05 * rng.standard_normal(2000))  # (1.0 is the MSE chance level of a loss, not of a norm)
    g[1000] = 100.0
    noise = np.exp(0.02 * rng.standard_normal(2000))
    hurt = np.where(s <= 1000, 0.5, 0.9) * noise
    (f,) = [f for f in findings({"train/loss": (s, hurt), "grad_norm": (s, g)}, "SP001") if f.tags == ("grad_norm",)]
    b, a = np.median(hurt[801:1001]), np.median(hurt[1001:1201])  # the 200 points up to the burst, the 200 after
    assert f.stats["steps"] == [1000] and f.severity == "warning"
    ratio = f.stats["ratios_to_local_median"][0]
    assert ratio == round(float(100 / np.exp(np.median(np.log(g[985:1016])))), 3)
    assert [(c.cause, c.confidence) for c in f.causes] == [("exploding_gradients", 0.75), ("unknown", 0.3)]
    assert f.causes[0].evidence.startswith(f"the gradient norm jumps to {ratio:.0f}× its local median at step 1,000 "
                                           f"and the loss is set back after it (median loss {b:.4g} before, "
                                           f"{a:.4g} after)")
    calm = 0.5 * noise
    (f,) = [f for f in findings({"train/loss": (s, calm), "grad_norm": (s, g)}, "SP001") if f.tags == ("grad_norm",)]
    assert f.severity == "info"
    assert [(c.cause, c.confidence) for c in f.causes] == [("exploding_gradients", 0.55), ("unknown", 0.3)]
    assert ", and the loss shows no lasting setback" in f.causes[0].evidence


def test_validation_jumping_off_training_again_and_again_reports_its_ratios_recomputed():
    """Training falls smoothly (3,000 steps); validation, every 100 steps, sits 1.1× above it (2 % noise)
    except in three stretches where the evaluated model is far off: 4–6× at evaluations 5–6, 12 and 20,
    each time coming back. Recomputed here: validation over training at the same step, its median (the
    usual ratio), the evaluations more than val_jump_factor (3×) above it, the stretches they form, the
    largest ratio to the usual."""
    s = np.arange(1, 3001)
    rng = np.random.default_rng(23)
    train = 2.0 * np.exp(-s / 800) + 0.3
    vs = s[99::100]
    vv = 1.1 * train[vs - 1] * np.exp(0.02 * rng.standard_normal(len(vs)))
    vv[[5, 6, 12, 20]] *= [4.0, 6.0, 5.0, 4.5]
    (f,) = findings({"train/loss": (s, train), "val/loss": (vs, vv)}, "SP001")
    r = np.log(vv / train[vs - 1])
    usual = np.median(r)
    hi = np.nonzero(r > usual + np.log(3))[0]
    peak = np.exp(r - usual).max()
    st = f.stats
    assert list(hi) == [5, 6, 12, 20] and st["mode"] == "validation_ratio"
    assert (st["count"], st["steps"], st["evaluations_off"]) == (3, [600, 1300, 2100], 4)
    assert st["usual_ratio"] == round(float(np.exp(usual)), 4) and st["max_ratio_to_usual"] == round(peak, 3)
    assert f.step_range == (600, 2100) and f.ranges == ((600, 600), (1300, 1300), (2100, 2100))
    assert f.summary == (f"'val/loss' jumps to 3–{peak:.0f}× its usual ratio to 'train/loss' 3 times (first at step "
                         "600; 4 of 30 evaluations) and comes back")
    assert [(c.cause, c.confidence) for c in f.causes] == [("noisy_validation", 0.55)]
    assert f.causes[0].evidence.startswith(f"'val/loss' normally sits at {np.exp(usual):.2f}× 'train/loss' but jumps "
                                           f"to ≥ 3× that in 3 separate stretches (4 of 30 evaluations, up to "
                                           f"{peak:.0f}×)")


def test_validation_jumps_are_judged_from_val_jump_min_evaluations_on():
    """Eight evaluations (the card's val_jump_min_evaluations), three of them 4–5× off the training loss
    and each back at the next (val_jump_min_episodes, 3): reported. Seven evaluations, with the same three
    jumps, are too few to tell a usual ratio from the jumps."""
    s = np.arange(1, 3001)
    train = 2.0 * np.exp(-s / 800) + 0.3
    for n, found in ((8, True), (7, False)):
        vs = np.linspace(300, 3000, n).astype(int)
        vv = 1.1 * train[vs - 1] * np.exp(0.02 * np.random.default_rng(23).standard_normal(n))
        vv[[1, 3, 5]] *= [4.0, 5.0, 4.5]
        got = findings({"train/loss": (s, train), "val/loss": (vs, vv)}, "SP001")
        assert [f.stats["steps"] for f in got] == ([list(vs[[1, 3, 5]])] if found else [])


def test_a_loss_running_off_to_minus_infinity_reports_its_growth_recomputed():
    """A Gaussian negative log-likelihood whose predicted variance collapses: the loss goes negative and its
    magnitude keeps growing, from about -0.5 to about -60 over 3,000 steps (3 % noise). Recomputed here: the
    medians of the first and last fifth of the points, the growth of the magnitude between them, Kendall's
    τ of the whole curve and its p-value."""
    s = np.arange(3000)
    y = -0.5 * np.exp(s / 625) * np.exp(0.03 * np.random.default_rng(24).standard_normal(3000))
    (f,) = findings({"train/loss": (s, y)}, "DV001")
    start, end = np.median(y[:600]), np.median(y[-600:])
    thin = np.linspace(0, 2999, 2000).astype(int)  # (the trend test reads at most 2,000 evenly spaced points)
    tau, p = stats.kendalltau(np.arange(2000), y[thin])
    st = f.stats
    assert st["shape"] == "unbounded_descent" and f.severity == "error" and f.step_range == (0, 2999)
    assert (st["start_value"], st["end_value"]) == (start, end)
    assert st["magnitude_growth"] == round(abs(end) / abs(start), 3)
    assert st["kendall_tau"] == round(tau, 4) and st["p_value"] == sig3(p)
    assert f.summary == (f"'train/loss' runs off to minus infinity: from {start:.3g} to {end:.3g} "
                         f"({abs(end) / abs(start):.3g}× larger in magnitude, Mann–Kendall τ = {tau:.2f})")
    assert [(c.cause, c.confidence) for c in f.causes] == [("unbounded_loss", 0.7)]
    # the same descent in units 1,000× smaller (from -0.0005 to -0.06, never below -1) is the same finding:
    # only the sign and the growth of the magnitude count
    (g,) = findings({"train/loss": (s, y / 1000)}, "DV001")
    assert g.stats["shape"] == "unbounded_descent" and g.stats["magnitude_growth"] == st["magnitude_growth"]


def test_a_double_softmax_floor_reports_where_the_loss_reached_it_recomputed():
    """A 10-class cross-entropy fed probabilities (a softmax in the model and CrossEntropyLoss's own) can
    never go below log(1 + 9/e) = 1.4615: the loss falls from 2.3 and by about step 900 sits on that floor,
    a batch here and there a little above it (never below). Recomputed here by the card's definitions:
    the points within floor_tolerance (0.5 %) of the floor; the earliest point from which at least
    min_share_at_floor (75 %) of the rest are on it; the median there; the share of the run."""
    s = np.arange(3000)
    rng = np.random.default_rng(25)
    floor = np.log(1 + 9 / np.e)
    y = floor + (np.log(10) - floor) * np.exp(-s / 150) + np.where(rng.random(3000) < 0.1, 0.02, 0.0)
    (f,) = findings({"train/loss": (s, y)}, "PL001")
    on = np.abs(y - floor) <= 0.005 * floor
    i = next(j for j in range(3000) if on[j:].mean() >= 0.75)
    st = f.stats
    assert (st["kind"], st["classes"], st["floor"]) == ("floor", 10, round(floor, 6))
    assert st["floor_start_step"] == i and f.step_range == (i, 2999)
    assert st["level"] == round(float(np.median(y[i:])), 6) and st["min"] == round(float(y.min()), 6)
    assert st["fraction_at_floor"] == round((3000 - i) / 3000, 4) and f.severity == "warning"
    assert f.summary == (f"'train/loss' sits at {floor:.4f} = log(1 + 9/e) from step {i:,} ({(3000 - i) / 3000:.0%} "
                         "of the run) and never below: the floor of a 10-class cross-entropy fed probabilities")
    assert [(c.cause, c.confidence) for c in f.causes] == [("probabilities_as_logits", 0.8)]
    assert f.causes[0].evidence.endswith("or use NLLLoss on log-probabilities")
    # a training accuracy already at 1.0 on the floor says so (every prediction right, the loss still 1.46);
    # a validation accuracy at 1.0 is not the training batches', and is not quoted
    acc = np.minimum(1.0, 0.1 + s / 1000)
    (g,) = findings({"train/loss": (s, y), "train/acc": (s, acc), "val/acc": (s[::100], acc[::100])}, "PL001")
    assert g.causes[0].evidence.endswith("on log-probabilities; 'train/acc' is already 1.0 there")
    (h,) = findings({"train/loss": (s, y), "val/acc": (s[::100], acc[::100])}, "PL001")
    assert h.causes[0].evidence == f.causes[0].evidence
    (k,) = findings({"train/loss": (s, y), "train/acc": (s, 0.6 * acc)}, "PL001")  # 0.6 at the end: not perfect
    assert k.causes[0].evidence == f.causes[0].evidence


def test_a_short_zig_zagging_validation_reports_its_moves_recomputed():
    """25 evaluations, one per epoch: validation stops improving after a few and then jumps up and down
    by about ±30 % (independently) from one evaluation to the next (a small, re-sampled validation set), while training
    falls smoothly (±1 %). Recomputed here on the log of each curve: the median move (the swing), the drift
    per evaluation between the medians of the first and last tenth (two points each on a curve this
    short), the lag-1 correlation of the moves, their sign changes, the late third's swing over the early
    third's; training's jitter, the MAD of its moves. Training jitters far less than validation moves:
    the measurement is what jumps (0.65), ahead of the LR (0.6)."""
    e = np.arange(25)
    rng = np.random.default_rng(28)  # (one of the seeds whose jumps are told from a slow trend: a third are)
    val = (0.55 + 0.6 * np.exp(-e / 2)) * np.exp(np.where(e >= 3, 0.3, 0.02) * rng.standard_normal(25))
    train = (0.1 + 0.8 * np.exp(-e / 10)) * np.exp(0.01 * rng.standard_normal(25))
    (f,) = findings({"loss": (e, train), "val_loss": (e, val), "epoch": (e, e)}, "OS001")
    ly = np.log(val)
    d = np.diff(ly)
    swing = np.median(np.abs(d))
    progress = abs(np.median(ly[:2]) - np.median(ly[-2:])) / 25
    mad = lambda x: 1.4826 * np.median(np.abs(x - np.median(x)))  # noqa: E731
    t_swing = mad(np.diff(np.log(train)))
    st = f.stats
    assert (st["mode"], st["period_points"], st["points"], f.tags) == ("erratic", 2, 25, ("val_loss",))
    assert st["median_swing"] == round(swing, 5) and st["swing_vs_progress"] == round(swing / progress, 2)
    assert st["moves_lag1_correlation"] == round(np.corrcoef(d[:-1], d[1:])[0, 1], 4)
    assert st["sign_change_rate"] == round(np.mean(np.sign(d[1:]) != np.sign(d[:-1])), 4)
    assert st["late_vs_early_swing"] == round(np.median(np.abs(d[-8:])) / np.median(np.abs(d[:8])), 3)
    assert [(c.cause, c.confidence) for c in f.causes] == [("noisy_validation", 0.65), ("lr_too_high", 0.6),
                                                           ("unknown", 0.3)]
    assert f.causes[0].evidence.startswith(f"the training loss jitters only ±{np.exp(t_swing) - 1:.0%} per point "
                                           f"against ±{np.exp(swing) - 1:.0%} for validation")
    # without a training loss there is nothing to tell a noisy measurement from an unstable model: the same
    # zig-zag, the LR first
    (g,) = findings({"val_loss": (e, val), "epoch": (e, e)}, "OS001")
    assert g.stats == f.stats and [(c.cause, c.confidence) for c in g.causes] == [("lr_too_high", 0.6), ("unknown", 0.3)]


def test_a_loss_that_jumps_at_each_warm_restart_reports_the_restarts_recomputed():
    """SGDR with growing cycles (100, 200, 400, 800 steps), logged every 10 steps: the LR decays by a
    cosine and restarts at steps 100, 300 and 700, and the loss (which rises with the LR) jumps up at each
    restart. Too short and too uneven for a periodogram. Recomputed here: the restarts (where the LR rises
    1.5× or more after decaying), the loss's log-moves into them against all the other moves (a one-sided
    rank-sum test, doubled for trying the move one interval late too), their median jump."""
    s = np.arange(0, 1500, 10)
    starts = [0, 100, 300, 700, 1500]
    lr = np.zeros(len(s))
    for a, b in zip(starts[:-1], starts[1:]):
        m = (s >= a) & (s < b)
        lr[m] = 1e-3 * 0.5 * (1 + np.cos(np.pi * (s[m] - a) / (b - a))) + 1e-5
    noise = 0.02 * np.random.default_rng(27).standard_normal(len(s))
    y = (0.5 + 1.5 * np.exp(-s / 600)) * np.exp(0.5 * lr / 1e-3 + noise)
    (f,) = findings({"train/loss": (s, y), "lr": (s, lr)}, "PD002")
    idx = np.array([10, 30, 70]) - 1  # the moves into the points logged at the restarts
    d = np.diff(np.log(y))
    p = 2 * stats.mannwhitneyu(d[idx], np.delete(d, idx), alternative="greater", method="exact").pvalue
    jump = np.median(np.exp(d[idx]) - 1)
    st = f.stats
    assert (st["restart_steps"], st["rise_lag_points"], st["points"]) == ([100, 300, 700], 0, 150)
    assert st["median_jump"] == round(jump, 4) and st["rank_sum_p"] == sig3(p)
    assert f.severity == "info" and f.step_range == (0, 1490)
    assert f.summary == (f"'train/loss' jumps up at each of the 3 learning-rate restarts (steps 100, 300, 700; median "
                         f"{jump:+.0%}) and falls between them: it cycles with the schedule")
    assert [(c.cause, c.confidence) for c in f.causes] == [("lr_schedule", 0.9)]
    assert f"rank-sum p = {p:.2g})" in f.causes[0].evidence


def test_spikes_on_an_epoch_level_curve_are_measured_against_their_neighbours_recomputed():
    """30 evaluations (one per epoch) of a falling validation loss (3 % noise), two of them 4× and 5× off
    (epochs 12 and 21), each back at the next: too few points for a rolling window, so each point is set
    against the median of its three neighbours on either side. Recomputed here on the log-loss: the jump
    above that median, in typical point-to-point moves (the median absolute move), and as a ratio."""
    e = np.arange(1, 31) * 100
    y = (1.5 * np.exp(-e / 1000) + 0.3) * np.exp(0.03 * np.random.default_rng(28).standard_normal(30))
    y[[11, 20]] *= [4.0, 5.0]
    (f,) = findings({"val/loss": (e, y)}, "SP001")
    ly = np.log(y)
    typical = np.median(np.abs(np.diff(ly))) + 1e-12
    jumps = [ly[i] - np.median(np.r_[ly[i - 3:i], ly[i + 1:i + 4]]) for i in (11, 20)]
    st = f.stats
    assert (st["mode"], st["steps"], st["recovery_points"]) == ("coarse", [1200, 2100], [1, 1])
    assert st["epoch_locked_dropped"] == 0
    assert st["heights"] == [round(round(j / typical, 1), 1) for j in jumps]
    assert st["ratios_to_local_median"] == [round(float(np.exp(j)), 3) for j in jumps]
    assert st["height_unit"] == "typical point-to-point moves"
    assert f.summary == (f"'val/loss' spikes 2 time(s), up to {max(jumps) / typical:.0f} typical point-to-point moves "
                         f"({np.exp(max(jumps)):.1f}× the local median), first at step 1,200, recovering within "
                         "1 point(s)")


def test_on_an_epoch_level_curve_a_jump_that_is_not_left_at_once_is_no_spike():
    """The same 30 evaluations with the 5× point at epoch 21 kept, and at epoch 12 a 4× jump whose next
    evaluation is still 3.5× (a setback the model takes two epochs to recover from, not one bad
    evaluation): a spike is left at once, the next point back at least half-way (in log space) to its
    neighbours. Only epoch 21 is reported."""
    e = np.arange(1, 31) * 100
    y = (1.5 * np.exp(-e / 1000) + 0.3) * np.exp(0.03 * np.random.default_rng(28).standard_normal(30))
    y[[11, 12, 20]] *= [4.0, 3.5, 5.0]
    (f,) = findings({"val/loss": (e, y)}, "SP001")
    assert (f.stats["mode"], f.stats["steps"]) == ("coarse", [2100])


def test_a_metric_stuck_at_one_value_reports_how_often_recomputed():
    """A validation accuracy that is exactly 0.1 at 19 of its 20 evaluations (0.1025 once) while the
    losses learn normally: the predictions do not depend on the input. Counted here: the share of
    evaluations at the last value (95 %, over min_fraction_constant's 90 %), and where it first sits
    there. With 17 of 20 (85 %) it is not constant."""
    s = np.arange(1, 2001)
    rng = np.random.default_rng(29)
    train = (2.0 * np.exp(-s / 500) + 0.3) * np.exp(0.02 * rng.standard_normal(2000))
    es = np.arange(100, 2001, 100)
    val = (2.0 * np.exp(-es / 500) + 0.4) * np.exp(0.02 * rng.standard_normal(20))
    acc = np.full(20, 0.1)
    acc[0] = 0.1025
    curves = {"train/loss": (s, train), "val/loss": (es, val), "val/accuracy": (es, acc)}
    (f,) = [f for f in findings(curves, "PL001") if f.stats["kind"] == "constant"]
    assert (f.stats["value"], f.stats["points"], f.stats["fraction_constant"]) == (0.1, 20, 0.95)
    assert f.tags == ("val/accuracy",) and f.step_range == (200, 2000)
    assert f.summary == "'val/accuracy' is exactly 0.1 at 19 of its 20 points"
    assert [(c.cause, c.confidence) for c in f.causes] == [("unknown", 0.6)]
    acc[[5, 9]] = 0.11
    assert not [f for f in findings(curves, "PL001") if f.stats["kind"] == "constant"]


def test_a_level_shift_after_each_mid_epoch_evaluation_reports_it_in_standard_errors():
    """Twelve 100-step epochs; an evaluation at step 49 of each leaves the model in eval mode until the
    epoch ends, where the loss sits 20 % lower (5 % noise); validation also runs at each epoch's end.
    Recomputed here on the fold's residual (the log-loss minus its moving average over one epoch): for
    each mid-epoch evaluation (those at epoch ends are confounded with the boundary and left out), the
    mean of the 12 points after it minus the 12 before (an eighth of the epoch); their median in standard
    errors of such a difference, and the share that moves the same way."""
    rng = np.random.default_rng(30)
    s = np.arange(1200)
    y = (1.2 * np.exp(-s / 800) + 0.3) * np.where(s % 100 >= 50, 0.8, 1.0) * np.exp(0.05 * rng.standard_normal(1200))
    evals = np.array([e for k in range(12) for e in (100 * k + 49, 100 * k + 99)])
    (f,) = findings({"train/loss": (s, y), "epoch": (s, s // 100), "val/loss": (evals, 1 + 0.01 * np.arange(24))},
                    "PD001")
    ly = np.log(y)
    resid = ly - ndimage.uniform_filter1d(ly, size=100, mode="nearest")
    k = 12
    jumps = np.array([resid[e + 1: e + 1 + k].mean() - resid[e + 1 - k: e + 1].mean() for e in evals[::2]])
    d = np.diff(resid)
    se = 1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2) * np.sqrt(2 / k)
    jz = np.median(jumps) / se
    share = max(np.mean(jumps > 0), np.mean(jumps < 0))
    c = f.causes[0]
    assert (c.cause, c.confidence) == ("eval_side_effect", 0.75)
    assert c.evidence.startswith(f"right after {share:.0%} of the 12 evaluation steps the loss jumps down by "
                                 f"{abs(jz):.1f} standard errors (12-point means before/after)")


def test_memorization_is_surer_when_the_train_val_gap_widens_and_less_sure_when_it_does_not():
    """The epoch-locked rise of the first test, now with a validation loss at each epoch's end. Where
    validation stays put while training falls, the train/val gap widens (its Theil–Sen slope per
    evaluation, recomputed against the training loss smoothed over an epoch, is positive): more
    memorization, 0.1 more confidence. Where validation falls faster than training, it does not widen:
    0.1 less."""
    L, E = 25, 16
    s = np.arange(L * E)
    phase = (s % L) / L
    rng = np.random.default_rng(3)
    y = (1.5 * np.exp(-s / 3000) + 0.3) * (1 + 0.3 * phase) * np.exp(0.02 * rng.standard_normal(len(s)))
    base = {"train/loss": (s, y), "epoch": (s, s // L)}
    (alone,) = findings(base, "PD001")
    vs = s[L - 1::L]
    t_at = np.interp(vs, s, ndimage.uniform_filter1d(y, size=L, mode="reflect"))
    narrowing = t_at + 1.0 - 0.05 * np.arange(E)
    for val, word, delta in ((np.full(E, 2.0), "widens", 0.1), (narrowing, "does not widen", -0.1)):
        (f,) = findings({**base, "val/loss": (vs, val)}, "PD001")
        slope = stats.theilslopes(val - t_at, np.arange(E))[0]
        c = f.causes[0]
        assert c.cause == "memorization" and (slope > 0) == (delta > 0)
        assert f"; the train/val gap {word} ({slope:+.2g} per epoch)" in c.evidence
        assert abs(c.confidence - min(alone.causes[0].confidence + delta, 0.9)) < 1e-9


def test_a_loss_term_is_judged_for_a_chance_level_not_for_standing_still():
    """The total training loss falls; beside it a box-regression term sits at 0.8 (±2 %) all run, and a
    10-class term at ln 10. A term that stays put while the total learns may just be converged or
    weighted low: 'never leaves its initial level' is asked of the training loss only. A term at a chance
    level has learned nothing, whatever the total does: that is reported, as a loss term."""
    s = np.arange(2000)
    rng = np.random.default_rng(31)
    total = (2.0 * np.exp(-s / 500) + 0.3) * np.exp(0.02 * rng.standard_normal(2000))
    box = 0.8 * np.exp(0.02 * rng.standard_normal(2000))
    cls = np.log(10) * np.exp(0.003 * rng.standard_normal(2000))
    assert findings({"train/loss": (s, total), "train/loss_box": (s, box)}, "PL001") == ()
    (f,) = findings({"train/loss": (s, total), "train/loss_box": (s, box), "train/loss_cls": (s, cls)}, "PL001")
    assert f.tags == ("train/loss_cls",) and f.stats["kind"] == "pinned"
    assert f.summary.startswith("loss term 'train/loss_cls' is pinned at 2.302 = ln 10")


def test_a_training_loss_that_never_moves_is_judged_from_min_points_on():
    """A training loss logged 20 times (the card's min_points) that never leaves 1.7 (±0.2 %, no chance
    level): flat from the start, 'never leaves its initial level'. Logged 19 times there is too little
    to tell a flat start from noise."""
    rng = np.random.default_rng(32)
    y = 1.7 * np.exp(0.002 * rng.standard_normal(20))
    s = np.arange(20) * 50
    (f,) = findings({"train/loss": (s, y)}, "PL001")
    assert f.stats["kind"] == "flat" and f.stats["points"] == 20
    assert f.summary.startswith("'train/loss' never leaves its initial level")
    assert findings({"train/loss": (s[:19], y[:19])}, "PL001") == ()


def test_the_series_that_turned_nan_first_heads_the_finding():
    """The training loss stays finite; the gradient norm is NaN from step 800 to the end, and a logged
    weight norm is NaN once, at step 1,200. The finding is about the first series to go bad (the gradient
    norm, from 800) and names the other."""
    s = np.arange(2000)
    rng = np.random.default_rng(33)
    loss = (2.0 * np.exp(-s / 500) + 0.3) * np.exp(0.02 * rng.standard_normal(2000))
    g = np.exp(0.05 * rng.standard_normal(2000))
    g[800:] = np.nan
    w = 50 + 0.01 * s
    w[1200] = np.nan
    (f,) = findings({"train/loss": (s, loss), "grad_norm": (s, g), "weight_norm": (s, w)}, "NF001")
    assert f.tags == ("grad_norm", "weight_norm") and f.stats["first_nonfinite_step"] == 800
    assert [t["tag"] for t in f.stats["tags"]] == ["grad_norm", "weight_norm"]
    # each series' own first bad step, how many of its points are bad, in how many bursts, and whether it ends bad
    assert f.stats["tags"] == [{"tag": "grad_norm", "first_step": 800, "count": 1200, "bursts": 1, "permanent": True},
                               {"tag": "weight_norm", "first_step": 1200, "count": 1, "bursts": 1, "permanent": False}]


def test_overfitting_on_accuracies_reports_them_as_logged():
    """Only accuracies are logged: training accuracy climbs to 0.99, validation accuracy (every 200 steps)
    peaks near 0.8 around step 1,800 and sinks back towards 0.7. Higher is better here, so the best is the
    highest evaluation; every value and gap the finding reports is the accuracy as logged (not the
    negated or rescaled curve the rule works on), recomputed here like the loss case above."""
    s = np.arange(1, 6001)
    rng = np.random.default_rng(41)
    train = 0.99 - 0.89 * np.exp(-s / 1200) + 0.003 * rng.standard_normal(len(s))
    vs = np.arange(200, 6001, 200)
    vv = (0.8 - 0.7 * np.exp(-vs / 400) - 0.1 * np.clip((vs - 1800) / 4200, 0, 1)
          + 0.003 * rng.standard_normal(len(vs)))
    (f,) = findings({"train/accuracy": (s, train), "val/accuracy": (vs, vv)}, "AC001")
    b = int(np.argmax(vv))
    after = len(vv) - 1 - b
    end = np.median(vv[-3:])
    tr = np.array([train[(s > lo) & (s <= hi)].mean() for lo, hi in zip(np.r_[0, vs[:-1]], vs)])
    t_end = np.median(tr[-3:])
    st = f.stats
    assert st["higher_is_better"] is True and f.tags == ("val/accuracy", "train/accuracy")
    assert (st["best_step"], st["evals_after_best"]) == (vs[b], after)
    assert st["worse_than_best"] == int((vv[b + 1:] < vv[b]).sum())
    assert st["best_value"] == vv[b] and st["end_value"] == end
    assert st["val_change_since_best"] == round((vv[b] - end) / vv[b], 4)
    assert st["train_improvement_since_best"] == round((t_end - tr[b]) / tr[b], 4)
    assert st["gap_at_best"] == round(vv[b] - tr[b], 6) and st["gap_at_end"] == round(end - t_end, 6)
    assert f"is best at step {vs[b]:,} ({vv[b]:.4g})" in f.summary
    assert [c.cause for c in f.causes] == ["overfitting"]
    assert "Training drops on what it memorizes" in f.causes[0].evidence


def test_a_training_loss_logged_once_cannot_show_training_keeps_improving():
    """Validation worsens after its best as in the loss case above, but the training loss was logged a
    single time, at step 3,000 (after the best, before the last evaluations). One point has no trend:
    there is no 'training keeps improving' to set against validation, so no overfitting finding (and no
    NaN improvement in one). The same run with training logged every step is found."""
    rng = np.random.default_rng(18)
    vs = np.arange(200, 6001, 200)
    vv = (0.5 + 1.5 * np.exp(-vs / 400) + 0.4 * np.clip((vs - 1800) / 4200, 0, 1)) \
        * np.exp(0.02 * rng.standard_normal(len(vs)))
    assert findings({"train/loss": (np.array([3000]), np.array([0.2])), "val/loss": (vs, vv)}, "AC001") == ()
    s = np.arange(1, 6001)
    assert len(findings({"train/loss": (s, 2.0 * np.exp(-s / 1500) + 0.05), "val/loss": (vs, vv)}, "AC001")) == 1


def test_a_metric_with_no_spread_anywhere_has_no_spike_heights_to_report():
    """A loss printed as exactly 2.30 at every step but three isolated glitches to 5.0: every local
    window's spread (MAD) is 0, so a height in local spreads is undefined. SP001 measures spikes in
    spreads and reports nothing here, rather than infinite heights; the same glitches on a curve with a
    little noise are found, each at its step."""
    s = np.arange(1000)
    y = np.full(1000, 2.30)
    y[[300, 550, 800]] = 5.0
    assert findings({"train/loss": (s, y)}, "SP001") == ()
    rng = np.random.default_rng(42)
    noisy = y * np.exp(0.01 * rng.standard_normal(1000))
    (f,) = findings({"train/loss": (s, noisy)}, "SP001")
    assert f.stats["steps"] == [300, 550, 800] and np.isfinite(f.stats["heights"]).all()


def test_a_nan_after_four_points_reports_no_rise_it_could_not_measure():
    """The loss is logged four times (falling 2.0, 1.9, 1.8, 1.7) and is NaN from the fifth point on. A rise
    is read as the last three values over the median of the earlier half, which needs 6 points: with 4 the
    finding reports no rise (ratio 1.0, loss and gradient norm alike) and says there were too few points to
    see one, rather than a ratio it did not measure."""
    s = np.arange(0, 500, 10)
    y = np.full(len(s), np.nan)
    y[:4] = [2.0, 1.9, 1.8, 1.7]
    g = np.full(len(s), np.nan)
    g[:4] = [1.0, 1.1, 1.0, 1.2]
    (f,) = findings({"train/loss": (s, y), "grad_norm": (s, g)}, "NF001")
    assert f.stats["first_nonfinite_step"] == 40 and f.stats["permanent"] is True
    assert f.stats["loss_rise_before"] == 1.0 and f.stats["grad_norm_rise_before"] == 1.0
    assert [(c.cause, c.confidence) for c in f.causes] == [("unstable_loss", 0.6)]
    assert "only 4 finite point(s) before step 40, too few to see a rise" in f.causes[0].evidence


# --- the trend rules' scale: a loss printed with few decimals

def test_the_decimal_step_of_a_printed_loss_is_claimed_only_when_every_value_is_a_multiple():
    """`resolution` says to what decimal step a log rounded its values, so that the log of a loss printed
    with 4 decimals is not read down to its last digit. Planted: a falling loss printed with 4 decimals
    (Hugging Face), with 2, and with 1; the same loss unrounded (float32 noise on every value); one value
    off the grid anywhere, first or past the first 65,536 values; and the span rule: a step is claimed only
    when the largest value is at least 100 of it (1.00 at 2 decimals is, 0.99 is not), and only on 8
    values or more (7 are too few to tell a rounding from chance)."""
    from loganalyze.detectors._curves import resolution

    x = np.linspace(0, 1, 400)
    loss = 2.3 * np.exp(-6 * x) + 1e-3 * np.sin(37 * x)
    assert resolution(np.round(loss, 4)) == 1e-4 and resolution(np.round(loss, 2)) == 1e-2
    assert resolution(np.round(50 * loss, 1)) == 0.1
    assert resolution(np.round(loss, 1)) is None  # 2.3 is only 23 steps of 0.1: no span to claim it on
    assert resolution(loss.astype(np.float32).astype(float)) is None
    assert resolution(np.round(20 * loss, 6) + 3e-7) is None  # off every grid by a third of the last digit
    off = np.round(loss, 2)
    off[0] = 0.0123456  # a value ~1e6 grid steps or fewer from 0: the grid test is exact there
    assert resolution(off) is None
    long = np.round(np.tile(loss, 200), 2)
    assert resolution(long) == 1e-2
    long[70_000] = 0.0123456
    assert resolution(long) is None
    span = np.round(np.linspace(1.0, 0.01, 8), 2)
    assert resolution(span) == 1e-2 and resolution(span * 0.99 // 0.01 * 0.01) is None
    assert resolution(span[:7]) is None
    assert resolution(np.array([np.nan] * 5 + list(span))) == 1e-2  # non-finite values are not counted


def test_a_printed_loss_is_logged_with_its_last_digits_floored_and_a_zero_is_not_logged():
    """`scaled` takes the log of a positive loss (losses move by factors), flooring values within ten
    rounding steps of 0 first: a loss printed with 4 decimals that reaches 0.0001 is logged as 0.001
    there. A series that touches 0 (an accuracy, a loss printed as 0.0) stays on its own scale."""
    from loganalyze.detectors._curves import scaled
    from loganalyze.model import Series

    v = np.round(2.3 * np.exp(-np.linspace(0, 12, 300)), 4)
    v = np.maximum(v, 1e-4)
    s = Series("train/loss", np.arange(300)[::-1].copy(), v[::-1].copy(), np.full(300, np.nan))
    step, y, is_log = scaled(s)
    assert is_log and (step == np.arange(300)).all()  # in step order
    assert np.allclose(y, np.log(np.maximum(v, 1e-3)))
    z = v.copy()
    z[-1] = 0.0
    step, y, is_log = scaled(Series("val/acc", np.arange(300), z, np.full(300, np.nan)))
    assert not is_log and np.array_equal(y, z)


def test_overfitting_from_an_evaluation_before_training_logged_anything_is_measured_from_its_first_point():
    """Validation every 8 steps is best at step 40 and climbs from there (1.0 → 1.6 by step 2,000, 1 %
    noise); the training loss is logged every 50 steps from step 50, falling from 2.0 towards 0.05. At the
    best evaluation training has logged nothing yet: its first logged point after the best stands in for
    'training at the best' (the fall since the best is then, if anything, understated). Recomputed: the
    training loss at each evaluation (the points in its interval averaged, else read off the curve), its
    improvement from the first evaluation that has one, the gaps."""
    rng = np.random.default_rng(43)
    vs = np.arange(8, 2001, 8)
    vv = np.where(vs <= 40, 1.0 + (40 - vs) / 40, 1.0 + 0.6 * (vs - 40) / 1960) * np.exp(0.01 * rng.standard_normal(len(vs)))
    vv[4] = 0.98  # step 40: the best
    ts = np.arange(50, 2001, 50)
    tv = 2.0 * np.exp(-ts / 500) + 0.05
    (f,) = findings({"train/loss": (ts, tv), "val/loss": (vs, vv)}, "AC001")
    tr = np.array([tv[(ts > lo) & (ts <= hi)].mean() if ((ts > lo) & (ts <= hi)).any()
                   else np.interp(hi, ts, tv) if hi >= ts[0] else np.nan for lo, hi in zip(np.r_[0, vs[:-1]], vs)])
    b = 4
    first = b + int(np.flatnonzero(np.isfinite(tr[b:]))[0])
    assert vs[first] == 56 and tr[first] == tv[0]  # the interval (48, 56] holds training's first point
    t_end = np.median(tr[-3:])
    st = f.stats
    assert st["best_step"] == 40 and st["evals_after_best"] == len(vs) - 5
    assert st["train_improvement_since_best"] == round((tr[first] - t_end) / tr[first], 4)
    assert st["gap_at_best"] == round(vv[b] - tr[first], 6) and st["gap_at_end"] == round(np.median(vv[-3:]) - t_end, 6)
    assert [c.cause for c in f.causes] == ["overfitting"]


def test_memorization_whose_swing_grows_through_training_is_surer():
    """The epoch-locked rise of the first test, its amplitude growing from 10 % to 50 % of the loss over the
    run (memorization deepens as training goes on): the later epochs' profiles over the earlier ones' is
    1.2× or more, the evidence says the amplitude grows, and the confidence carries the 0.2 for it."""
    L, E = 25, 16
    s = np.arange(L * E)
    phase = (s % L) / L
    rng = np.random.default_rng(3)
    a = 0.1 + 0.4 * s / len(s)
    y = (1.5 * np.exp(-s / 3000) + 0.3) * (1 + a * phase) * np.exp(0.02 * rng.standard_normal(len(s)))
    (f,) = findings({"train/loss": (s, y), "epoch": (s, s // L)}, "PD001")
    c = f.causes[0]
    growth = f.stats["amplitude_growth"]
    rho = stats.spearmanr(np.arange(20), f.stats["phase_profile"])[0]
    assert c.cause == "memorization" and growth >= 1.2
    assert f"the amplitude grows {growth:.2f}× from the first to the second half" in c.evidence
    assert abs(c.confidence - min(0.9, 0.65 + 0.2 * min(1.0, rho))) < 1e-3


def test_a_fold_of_short_epochs_has_a_bin_per_point_and_leaves_a_partial_epoch_out():
    """12 logged points per epoch (fewer than the card's 20 bins: one phase bin per point), 14 full epochs
    and a 15th cut off after 5 points; in epoch 7 the log lost all but the first 5 points, in epoch 4 all but
    the first 6. Under half an epoch is too few to place in the profile: epochs 7 and 15 are left out, epoch
    4 (half) stays in. Within each epoch the loss
    rises 40 % from its start, 2 % noise. Recomputed as in the first test, with a 12-point moving average
    (over the points as logged), 12 bins and the short epochs' points left out of the profile, the variance
    explained and the odd/even split."""
    L, E = 12, 14
    s = np.arange(L * E + 5)
    s = s[((s // L != 7) | (s % L < 5)) & ((s // L != 4) | (s % L < 6))]
    ep_of = s // L
    phase = (s % L) / L
    rng = np.random.default_rng(44)
    y = (1.5 * np.exp(-s / 3000) + 0.3) * (1 + 0.4 * phase) * np.exp(0.02 * rng.standard_normal(len(s)))
    (f,) = findings({"train/loss": (s, y), "epoch": (s, ep_of)}, "PD001")

    ly = np.log(y)
    resid = ly - ndimage.uniform_filter1d(ly, size=L, mode="nearest")
    i = np.arange(len(s))
    core = (i >= L // 2) & (i < len(s) - L // 2) & (ep_of < E) & (ep_of != 7)
    r, b, ep = resid[core], (s % L)[core], ep_of[core]
    profile = np.array([r[b == k].mean() for k in range(L)])
    between = sum((b == k).sum() * (profile[k] - r.mean()) ** 2 for k in range(L))
    eta2 = between / ((r - r.mean()) ** 2).sum()
    per = np.array([[r[(ep == e) & (b == k)].mean() if ((ep == e) & (b == k)).any() else np.nan
                     for k in range(L)] for e in range(E)])
    split = np.corrcoef(np.nanmean(per[1::2], axis=0), np.nanmean(per[0::2], axis=0))[0, 1]
    st = f.stats
    assert st["period_steps"] == L and st["points_per_epoch"] == L and st["epochs"] == E + 1
    assert st["phase_profile"] == [round(float(v), 5) for v in profile]
    assert st["variance_explained"] == round(eta2, 4) and st["split_half_r"] == round(split, 4)
    assert st["phase_of_min"] == round(0.5 / L, 3) and st["phase_of_max"] == round((L - 0.5) / L, 3)
    assert f.causes[0].cause == "memorization"


def test_a_short_burst_cut_by_the_end_counts_with_min_recovered_bursts_others():
    """Two-point NaN bursts at steps 500 and 900 that recover, and a third in the last two points, which the
    end of the log cuts off: after min_recovered_bursts (2) short bursts that recovered, the last is one
    more of them (fp16 overflow skipped by a loss scaler), not a NaN that stuck. After only one recovered
    burst the NaN at the end may have stuck: the finding calls it permanent."""
    s = np.arange(2000)
    rng = np.random.default_rng(45)
    y = (2.0 * np.exp(-s / 500) + 0.3) * np.exp(0.02 * rng.standard_normal(2000))
    y[[500, 501, 900, 901, 1998, 1999]] = np.nan
    (f,) = findings({"train/loss": (s, y)}, "NF001")
    assert (f.stats["bursts"], f.stats["permanent"], f.severity) == (3, False, "warning")
    assert f.causes[0].cause == "fp16_overflow" and f.summary.endswith("in 3 burst(s) that recover (6 of 2,000 points non-finite)")
    y[[900, 901]] = y[[899, 902]]
    (g,) = findings({"train/loss": (s, y)}, "NF001")
    assert (g.stats["bursts"], g.stats["permanent"], g.severity) == (2, True, "error")
    assert "fp16_overflow" not in [c.cause for c in g.causes]


def test_spikes_in_the_first_steps_of_a_run_whose_first_batch_was_huge_blame_the_inputs():
    """A 10-class run logged every step from step 0 whose first batch cost 132.7 (50× ln 10, before any
    update: the inputs, not the LR) and that then sits at ln 10 (±2 %), with 4× spikes at steps 30 and 60:
    spikes in the first tenth of a run that started that far above chance are the unnormalized inputs'
    (0.75), ahead of what spikes out of a loss at chance otherwise say (updates too large for a network
    that predicts the prior, 0.6). The same spikes at steps 1,500 and 1,700 are not tied to the start:
    only the latter."""
    s = np.arange(2000)
    base = np.log(10) * np.exp(0.02 * np.random.default_rng(46).standard_normal(2000))
    base[0] = 132.7
    early, late = base.copy(), base.copy()
    early[[30, 60]] *= 4.0
    late[[1500, 1700]] *= 4.0
    (f,) = findings({"train/loss": (s, early)}, "SP001")
    assert f.stats["steps"] == [30, 60]
    assert [(c.cause, c.confidence) for c in f.causes] == [("unnormalized_inputs", 0.75), ("lr_too_high", 0.6),
                                                           ("unknown", 0.3)]
    settled = np.median(early[1000:])
    assert f.causes[0].evidence.startswith(f"'train/loss' is already 133 at step 0, before any update could act "
                                           f"({132.7 / settled:.0f}× the chance level {settled:.2g} it settles at)")
    (g,) = findings({"train/loss": (s, late)}, "SP001")
    assert g.stats["steps"] == [1500, 1700]
    assert [(c.cause, c.confidence) for c in g.causes] == [("lr_too_high", 0.6), ("unknown", 0.3)]


def test_a_converged_early_loss_is_judged_from_min_points_on():
    """20 points (the card's min_points), a loss that falls from 2.3 to 0.3 within the first five and sits
    there (1 % noise): converged early, flat from the second bucket of five points (step 500) on. 19 points
    are too few to judge."""
    i = np.arange(20)
    y = (2.0 * np.exp(-i) + 0.3) * np.exp(0.01 * np.random.default_rng(47).standard_normal(20))
    (f,) = findings({"train/loss": (i * 100, y)}, "PL004")
    assert f.stats["flat_start_step"] == 500 and f.stats["flat_fraction"] == round(1400 / 1900, 3)
    assert findings({"train/loss": (i[:19] * 100, y[:19])}, "PL004") == ()


@pytest.mark.parametrize("scale", [0.5, 5.0])
def test_whether_a_loss_never_leaves_its_level_is_judged_relative_to_it(scale):
    """A training loss that drifts down by 1.5 % over 2,000 steps has left its initial level (min_improvement
    is 1 % of it); by 0.5 % it has not. The improvement is relative to the loss's own start: the same at 0.5
    as at 5."""
    s = np.arange(2000)
    noise = np.exp(0.002 * np.random.default_rng(48).standard_normal(2000))
    assert findings({"train/loss": (s, scale * (1 - 0.015 * s / 1999) * noise)}, "PL001") == ()
    (f,) = findings({"train/loss": (s, scale * (1 - 0.005 * s / 1999) * noise)}, "PL001")
    assert f.stats["kind"] == "flat"


def test_overfitting_with_training_logged_at_the_evaluations_reports_its_noisy_trend():
    """The overfitting run of the loss case above with the training loss logged only at the evaluation
    steps (every 200), 10 % noise: training still falls after the best, but not at every evaluation. Its
    Kendall τ from the best on, recomputed, is what the finding reports (strongly negative, not −1)."""
    rng = np.random.default_rng(18)
    vs = np.arange(200, 6001, 200)
    vv = (0.5 + 1.5 * np.exp(-vs / 400) + 0.4 * np.clip((vs - 1800) / 4200, 0, 1)) \
        * np.exp(0.02 * rng.standard_normal(len(vs)))
    tv = (2.0 * np.exp(-vs / 1500) + 0.05) * np.exp(0.1 * np.random.default_rng(49).standard_normal(len(vs)))
    (f,) = findings({"train/loss": (vs, tv), "val/loss": (vs, vv)}, "AC001")
    b = int(np.argmin(vv))
    tau = stats.kendalltau(np.arange(len(vs) - b), tv[b:])[0]
    assert -1 < tau < -0.5 and f.stats["train_kendall_tau_after_best"] == round(tau, 4)


@pytest.mark.parametrize("n, back", [(30, 21), (38, 27)])
def test_a_short_run_that_collapses_reports_the_point_it_got_back_to_chance(n, back):
    """n evaluations (every 100 steps) of a 5-class loss: it learns from ln 5 to about 0.6, climbs back over
    the next points and is at ln 5 (±0.5 %) from point `back` (an odd index) to the end. The stretch at
    chance is judged on twentieths of the run, a single point each when the run has under 40: the collapse
    is reported from where the loss got back to ln 5, not a point later."""
    ln5 = float(np.log(5))
    i = np.arange(n)
    half = n // 2
    base = np.where(i < half, 0.6 + (ln5 - 0.6) * np.exp(-i / 3), ln5)
    base[half:back] = np.linspace(0.62, ln5 * 0.8, back - half)
    y = base * np.exp(0.005 * np.random.default_rng(51).standard_normal(n))
    (f,) = findings({"train/loss": (i * 100, y)}, "PL001")
    assert f.stats["kind"] == "collapsed" and f.stats["collapse_step"] == back * 100
    assert f.step_range == (back * 100, (n - 1) * 100)


def test_a_periodogram_needs_four_cycles_of_the_shortest_period_it_looks_for():
    """`dominant_period` looks for periods of min_period (4) points or more and needs four of the shortest
    cycles to call one: a 4-point cycle over 16 points is found at 4; over 15 nothing is claimed."""
    from loganalyze.detectors.periodicity import dominant_period

    y = np.sin(2 * np.pi * np.arange(16) / 4) + 0.01 * np.random.default_rng(52).standard_normal(16)
    period, power = dominant_period(y)
    assert period == 4 and power > 1
    assert dominant_period(y[:15]) == (0, 0.0)


def test_an_lr_logged_twice_before_the_nan_is_enough_to_show_it_rose():
    """The loss climbs from step 300 and is NaN from 350; the LR was logged twice before, 1e-3 at step 0 and
    5e-3 at step 200 (a manual raise): two values are a rise of 5×, over lr_rise_ratio (2): the LR is named
    at 0.75 with its ratio."""
    s = np.arange(400)
    y = 0.5 * np.exp(np.maximum(s - 300, 0) / 10.0)
    y[350:] = np.nan
    (f,) = findings({"train/loss": (s, y), "lr": (np.array([0, 200]), np.array([1e-3, 5e-3]))}, "NF001")
    assert f.stats["lr_ratio_since_start"] == 5.0
    assert (f.causes[0].cause, f.causes[0].confidence) == ("lr_too_high", 0.75)
    assert "the learning rate had risen 5.0× since the start" in f.causes[0].evidence
