"""PD001/PD002: cycles locked to the epoch or the LR, and the signature of each cause."""
import numpy as np
import pytest

from curves import false_positive_rate, findings

E, P = 12, 100
S = np.arange(E * P)
EPOCH = S // P
PHASE = (S % P) / P
TREND = 2.0 * np.exp(-S / 500) + 0.5


def noisy(y, sigma=0.05, seed=0):
    return y * np.exp(sigma * np.random.default_rng(seed).standard_normal(len(y)))


def pd001(y, **extra):
    found = findings({"train/loss": (S, y), "epoch": (S, EPOCH), **extra}, "PD")
    return [f for f in found if f.rule == "PD001"]


def test_memorization_drop_at_epoch_start_rising_and_growing():
    amp = 0.04 + 0.02 * EPOCH
    (f,) = pd001(noisy(TREND * np.exp(amp * np.minimum(3 * PHASE, 1))))
    assert f.causes[0].cause == "memorization"
    assert f.stats["period_steps"] == P and f.stats["phase_of_min"] < 0.25
    assert f.stats["amplitude_growth"] > 1.2
    assert len(f.stats["phase_profile"]) == 20 and len(f.stats["epoch_profiles"]) >= 10


def test_running_mean_reset_each_epoch():
    raw = noisy(TREND, 0.3, seed=1)
    logged = np.array([raw[e * P: e * P + k + 1].mean() for e, k in zip(EPOCH, S % P)])
    (f,) = pd001(logged)
    assert f.causes[0].cause == "running_mean_reset"
    assert "cumulative mean" in f.causes[0].evidence


def test_unshuffled_data_repeats_a_jagged_profile():
    profile = np.random.default_rng(5).normal(0, 0.1, P)
    (f,) = pd001(noisy(TREND * np.exp(profile[S % P])))
    assert f.causes[0].cause == "unshuffled_data" and f.stats["split_half_r"] > 0.9


def test_small_last_batch_is_an_outlier_at_each_epoch_end():
    y = noisy(TREND)
    y[P - 1::P] *= 1.6
    (f,) = pd001(y)
    assert f.causes[0].cause == "small_last_batch"
    spikes = findings({"train/loss": (S, y), "epoch": (S, EPOCH)}, "SP001")
    assert spikes == ()  # the spikes rule leaves epoch-locked outliers to PD001


def test_lr_cycling_with_the_epoch_is_info():
    lr = 1e-3 * (0.5 + 0.5 * np.cos(np.pi * PHASE))
    (f,) = pd001(noisy(TREND * np.exp(0.1 * (1 - np.cos(np.pi * PHASE)))), lr=(S, lr))
    assert f.severity == "info" and f.causes[0].cause == "lr_schedule"


def test_warm_restarts_with_another_period_and_the_lr_logged():
    s = np.arange(3000)
    lr = 1e-3 * (0.5 + 0.5 * np.cos(np.pi * (s % 250) / 250))
    y = noisy(np.exp(-s / 1500) * np.exp(0.3 * (s % 250) / 250 - 0.3 * (lr / 1e-3)), seed=3)
    found = [f for f in findings({"train/loss": (s, y), "lr": (s, lr)}, "PD") if f.rule == "PD002"]
    (f,) = found
    assert f.stats["period_steps"] == 250 and f.severity == "info" and f.causes[0].cause == "lr_schedule"


def _six_epochs(seed, last_sigma, **config):
    """Six epochs of 50 steps at 5% batch noise; the last step of each epoch has its own noise (a batch of one
    or two samples is several times noisier than a full one)."""
    rng = np.random.default_rng(seed)
    s = np.arange(300)
    trend = 1.0 + 0.5 * np.exp(-s / 60)
    y = trend * np.exp(0.05 * rng.standard_normal(300))
    last = np.arange(49, 300, 50)
    y[last] = trend[last] * np.exp(last_sigma * rng.standard_normal(6))
    return [f for f in findings({"train/loss": (s, y), "epoch": (s, s // 50)}, "PD", **config) if f.rule == "PD001"]


def test_a_tiny_last_batch_is_seen_in_six_epochs_by_its_rank():
    """With six epochs, counting epochs beyond 3 spreads (the binomial) needs five of the six there; the last
    points' distances ranked against the other 294 points' see more. Seeds 1000–1039 (not tuned on): measured
    28 of 40 with a last point 6x noisier than the rest (18 by the count alone), 0 of 40 without."""
    from stats_bounds import clopper_pearson_lower, clopper_pearson_upper

    found = [h[0] for h in (_six_epochs(seed, 0.3) for seed in range(1000, 1040)) if h]
    assert clopper_pearson_lower(len(found), 40) >= 0.5, len(found)  # the power is at least half
    assert all(f.causes[0].cause == "small_last_batch" and f.stats["epochs"] == 6 for f in found)
    count_only = {"rule_params": {"PD001": {"last_batch_rank_p": 0.0}}}
    by_count = sum(bool(_six_epochs(seed, 0.3, **count_only)) for seed in range(1000, 1040))
    assert by_count < len(found) and sum("rank-sum p" in f.causes[0].evidence for f in found) == len(found) - by_count
    quiet = sum(bool(_six_epochs(seed, 0.05)) for seed in range(1000, 1040))
    assert clopper_pearson_upper(quiet, 40) <= 0.08, quiet  # without the outliers: nothing (0 of 40 measured)


def _restarts(epochs=16, cycle=4, jump=True, seed=0):
    """A per-epoch log under cosine warm restarts every `cycle` epochs: the LR decays and restarts; the loss
    falls within each cycle and (if `jump`) is thrown back up at each restart."""
    e = np.arange(epochs)
    lr = 0.1 * (0.5 + 0.5 * np.cos(np.pi * (e % cycle) / cycle))
    base = 0.9 * np.exp(-e / 12)
    if jump:
        base = base * np.exp(0.35 * (1 - (e % cycle) / (cycle - 1)) - 0.35)
    y = base * np.exp(0.02 * np.random.default_rng(seed).standard_normal(epochs))
    return {"train/loss": (e, y), "lr": (e, lr)}


def test_sixteen_epochs_of_warm_restarts_follow_the_lr():
    """Too short for a periodogram (16 points): the loss's rises at the three LR restarts are tested against
    its other moves instead."""
    (f,) = [f for f in findings(_restarts(), "PD") if f.rule == "PD002"]
    assert f.stats["restart_steps"] == [4, 8, 12] and f.stats["rank_sum_p"] < 0.01
    assert f.stats["median_jump"] > 0.2 and f.severity == "info" and f.causes[0].cause == "lr_schedule"


def test_restarts_seen_one_point_late_through_a_windowed_logger():
    """detectron2 logs the median of each 20-iteration window with the LR of its last iteration: the point at a
    restart still holds the old LR's losses, so the rise shows at the next point. 150-iteration restart cycles
    logged every 20 iterations, 40 points (numbers shaped like a real run's)."""
    rng = np.random.default_rng(3)
    it = np.arange(19, 800, 20)
    lr = 0.3 * (0.5 + 0.5 * np.cos(np.pi * (it % 150) / 150))
    phase = ((it - 20) % 150) / 150  # the window's median lags the schedule by one window
    y = (0.9 * np.exp(-it / 1500)) * np.exp(0.3 * (1 - phase) - 0.3) * np.exp(0.03 * rng.standard_normal(len(it)))
    (f,) = [f for f in findings({"total_loss": (it, y), "lr": (it, lr)}, "PD") if f.rule == "PD002"]
    assert f.stats["rise_lag_points"] == 1 and f.stats["rank_sum_p"] < 0.01
    assert f.stats["restart_steps"][:2] == [159, 319] and f.causes[0].cause == "lr_schedule"


def test_restarts_the_loss_does_not_follow_are_not_a_cycle():
    assert not [f for f in findings(_restarts(jump=False), "PD") if f.rule == "PD002"]


def test_one_lr_raise_is_not_a_schedule():
    run = _restarts(epochs=8, cycle=4)  # a single restart, at epoch 4
    assert not [f for f in findings(run, "PD") if f.rule == "PD002"]


def test_rank_sum_tail_is_exact_and_conservative_with_ties():
    from scipy import stats

    from loganalyze.stats import rank_sum_greater

    rng = np.random.default_rng(5)
    for _ in range(40):
        a, b = rng.normal(0.5, 1, rng.integers(1, 8)), rng.normal(0, 1, rng.integers(2, 300))
        exact = stats.mannwhitneyu(a, b, alternative="greater", method="exact").pvalue
        assert abs(rank_sum_greater(a, b) - exact) <= 1e-9 * exact
        a, b = a[:4].round(1), b[:10].round(1)  # ties: never below the exact permutation p-value
        if len(a) >= 2:
            perm = stats.permutation_test(
                (a, b), lambda x, y: stats.rankdata(np.r_[x, y])[: len(x)].sum(), permutation_type="independent",
                alternative="greater", n_resamples=np.inf, vectorized=False).pvalue
            assert rank_sum_greater(a, b) >= perm - 1e-12
    assert abs(rank_sum_greater([3, 4, 5], np.arange(-12, 0)) - 1 / 455) < 1e-12  # the top 3 of 15


@pytest.mark.parametrize("epochs", [1, 2])
def test_one_or_two_epochs_are_not_enough(epochs):
    s = np.arange(epochs * P)
    y = noisy(np.exp(-s / 300) * np.exp(0.2 * ((s % P) / P)))[: len(s)]
    assert [f for f in findings({"train/loss": (s, y), "epoch": (s, s // P)}, "PD001")] == []


def test_detection_power_grows_with_amplitude():
    """Share of seeds on which a saw-tooth of a given relative amplitude is found (5% noise)."""
    rates = {}
    for amp in (0.0, 0.02, 0.05, 0.1):
        hits = sum(bool(pd001(noisy(TREND * np.exp(amp * PHASE), seed=seed))) for seed in range(40))
        rates[amp] = hits / 40
    assert rates[0.0] == 0 and rates[0.1] >= 0.95
    assert rates[0.02] <= rates[0.05] <= rates[0.1]


def test_false_positive_rate_on_healthy_runs():
    rate, hits = false_positive_rate("PD")
    assert rate == 0, hits[:3]


def test_a_longer_last_epoch_and_a_late_epoch_tag_do_not_break_the_fold():
    """Epochs may differ in length; points before the first logged epoch fall outside the fold."""
    lengths = [50] * 5 + [90]
    s = np.arange(sum(lengths))
    ep = np.repeat(np.arange(len(lengths)), lengths)
    phase = np.concatenate([np.arange(n) / n for n in lengths])
    y = noisy((2.0 * np.exp(-s / 200) + 0.5) * np.exp(0.3 * np.minimum(3 * phase, 1)), seed=4)
    from loganalyze.engine import run_rules  # a detector crash would only show as a run note
    from loganalyze.align import from_arrays
    from loganalyze.config import Config
    for epoch_steps in (s, s[1:]):
        run = from_arrays("run", {"train/loss": (s, y), "epoch": (epoch_steps, ep[len(s) - len(epoch_steps):])},
                          Config(select=("PD",)))
        rr = run_rules(run, Config(select=("PD",)))
        assert not [n for n in rr.notes if "error" in n.lower()], rr.notes
        (f,) = [f for f in rr.findings if f.rule == "PD001"]
        assert f.causes[0].cause == "memorization" and f.stats["epochs"] == 6


def test_duplicate_steps_do_not_make_a_zero_period():
    s = np.repeat(np.arange(600), 2)
    y = noisy((2.0 * np.exp(-s / 300) + 0.5) * np.exp(0.2 * np.sin(2 * np.pi * s / 40)), seed=5)  # a 40-step cycle
    from loganalyze.engine import run_rules
    from loganalyze.align import from_arrays
    from loganalyze.config import Config
    rr = run_rules(from_arrays("run", {"train/loss": (s, y)}, Config(select=("PD",))), Config(select=("PD",)))
    assert not [n for n in rr.notes if "error" in n.lower()], rr.notes
    # nothing else says the epoch, so the loss's own 40-step cycle is taken as one (provenance loss_cycle)
    # and PD001 reports it; either way the period is 40 steps, never 0
    (f,) = [f for f in rr.findings if f.family == "periodicity"]
    assert f.stats["period_steps"] == 40
    if f.rule == "PD001":
        assert rr.run.epochs.provenance == "loss_cycle" and "40-step cycle" in rr.run.epochs.detail


def _sparse(dips: bool, seed=7):
    """26-step epochs, the loss logged every 10 steps (at steps 9, 19, …): an epoch's final step is logged only
    every fifth epoch (129, 259, …). With `dips`, the last, one-sample batch's loss is far off."""
    rng = np.random.default_rng(seed)
    steps = np.arange(9, 2600, 10)
    y = (0.1 + 0.6 * np.exp(-steps / 500)) * np.exp(0.05 * rng.standard_normal(len(steps)))
    ends = (steps + 1) % 26 == 0
    if dips:
        y[ends] *= np.exp(-rng.uniform(1, 4, ends.sum()))
    epoch = np.arange(0, 2600)
    return {"train/loss": (steps, y), "epoch": (epoch, epoch // 26)}, steps[ends]


def test_a_last_batch_seen_only_where_the_log_hits_an_epoch_end():
    """2.6 points per epoch are too few to fold; the 20 points on an epoch's final step are compared with the rest."""
    run, ends = _sparse(dips=True)
    (f,) = [f for f in findings(run, "PD") if f.rule == "PD001"]
    ends = ends[:-1]  # the last one, 2599, ends the run: no next epoch start marks it as an epoch's end
    assert f.causes[0].cause == "small_last_batch" and f.stats["points_at_epoch_end"] == len(ends) == 19
    assert [a for a, _ in f.ranges] == list(ends) and f.stats["rank_sum_p"] < 1e-6 and "below" in f.summary


def test_three_points_on_epoch_ends_are_enough_to_judge_and_two_are_not():
    """The same log cut after step 449 holds three points on an epoch's final step (129, 259, 389), each far
    below the running median: reported, each end as a range. Cut after step 299 it holds two: too few to
    set against the rest, nothing is reported."""
    run, _ = _sparse(dips=True)
    s, y = run["train/loss"]
    (f,) = [f for f in findings({**run, "train/loss": (s[s <= 449], y[s <= 449])}, "PD") if f.rule == "PD001"]
    assert f.ranges == ((129, 129), (259, 259), (389, 389)) and f.stats["points_at_epoch_end"] == 3
    assert [(c.cause, c.confidence) for c in f.causes] == [("small_last_batch", 0.8)]
    assert not [f for f in findings({**run, "train/loss": (s[s <= 299], y[s <= 299])}, "PD") if f.rule == "PD001"]


def test_the_same_sparse_log_without_the_dips_is_quiet():
    run, _ = _sparse(dips=False)
    assert not [f for f in findings(run, "PD") if f.rule == "PD001"]


def test_real_lightning_log_whose_dips_fall_on_epoch_ends(realworld):
    from loganalyze.engine import analyze

    (f,) = [f for f in analyze([realworld / "36_lightning_tb_dlgn_last_batch_dips"]).findings if f.rule == "PD001"]
    assert f.causes[0].cause == "small_last_batch" and f.stats["period_steps"] == 26
    assert all((a + 1) % 26 == 0 for a, _ in f.ranges) and f.stats["points_at_epoch_end"] >= 15


def _eval_left_on(eval_steps, seed=0):
    """Twelve 100-step epochs; from the mid-epoch evaluation (step 49 of each epoch) to the epoch's end the model
    stays in eval mode (dropout off): the loss sits 20% lower there. Batches this noisy (±20% per step) hide
    the shift at any one evaluation; folded over the epochs it is the profile's one large step."""
    rng = np.random.default_rng(seed)
    s = np.arange(1200)
    y = (1.2 * np.exp(-s / 800) + 0.3) * np.where(s % 100 >= 50, 0.8, 1.0) * np.exp(0.2 * rng.standard_normal(1200))
    v = 1.0 + 0.01 * np.arange(len(eval_steps))
    return {"train/loss": (s, y), "epoch": (s, s // 100), "val/loss": (np.asarray(eval_steps), v)}


@pytest.mark.parametrize("seed", range(5))
def test_a_level_shift_at_the_mid_epoch_evaluation_names_the_evaluation(seed):
    evals = [e for k in range(12) for e in (100 * k + 49, 100 * k + 99)]
    (f,) = [f for f in findings(_eval_left_on(evals, seed), "PD") if f.rule == "PD001"]
    assert f.causes[0].cause == "eval_side_effect"
    # either each evaluation's own jump is significant, or (the noisier draws) the folded profile's step is
    ev = f.causes[0].evidence
    assert "right after" in ev or "50% into the epoch, where the mid-epoch evaluation runs" in ev
    # the jumps themselves are the surer evidence (0.75); the folded profile's step, 0.7
    assert f.causes[0].confidence == (0.75 if "right after" in ev else 0.7)


def test_the_same_shift_without_a_mid_epoch_evaluation_is_not_the_evaluation():
    evals = [100 * k + 99 for k in range(12)]  # evaluations at the epochs' ends only
    found = [f for f in findings(_eval_left_on(evals), "PD") if f.rule == "PD001"]
    assert all(c.cause != "eval_side_effect" for f in found for c in f.causes)


def test_a_validation_loss_logged_per_batch_repeats_with_every_pass():
    """Lightning's `val_loss_step` beside `val_loss_epoch`: 12 validation batches, evaluated in the same order in
    each of 10 passes, each batch as hard as it was last time. Folded by its 12 points a pass, the position
    explains nearly all of it: the fixed order of the batches (info, not a fault). Shuffled batches each pass
    (a different order every time) repeat nothing."""
    rng = np.random.default_rng(8)
    hardness = rng.uniform(0.5, 2.0, 12)
    passes = 10
    per_batch = np.concatenate([hardness * (1.0 - 0.02 * p) for p in range(passes)])
    per_batch = per_batch * np.exp(0.03 * rng.standard_normal(len(per_batch)))
    train_s = np.arange(1000)
    curves = {"train_loss": (train_s, 1.5 * np.exp(-train_s / 400) + 0.3),
              "val_loss_epoch": (np.arange(99, 1000, 100), per_batch.reshape(passes, 12).mean(axis=1)),
              "val_loss_step": (np.arange(len(per_batch)), per_batch)}
    (f,) = [x for x in findings(curves, "PD001") if "val_loss_step" in x.tags]
    assert f.severity == "info" and f.stats["points_per_pass"] == 12 and f.stats["passes"] == 10
    assert f.stats["variance_explained"] > 0.9 and f.stats["split_half_r"] > 0.9
    assert [(c.cause, c.confidence) for c in f.causes] == [("unshuffled_data", 0.7)]
    shuffled = np.concatenate([rng.permutation(hardness) * (1.0 - 0.02 * p) for p in range(passes)])
    curves["val_loss_step"] = (np.arange(len(shuffled)), shuffled)
    assert not [x for x in findings(curves, "PD001") if "val_loss_step" in x.tags]
