"""The shared evidence layer: what the rest of the run says around a step, in numbers a reader can check."""
import numpy as np

from loganalyze.align import from_arrays
from loganalyze.evidence import chance_levels, chance_match, grad_burst, lr_context, share_at_high_lr

S = np.arange(1000)


def run_with(lr=None, grad=None):
    curves = {"train/loss": (S, np.exp(-S / 300) + 0.2)}
    if lr is not None:
        curves["lr"] = (S, lr)
    if grad is not None:
        curves["grad_norm"] = (S, grad)
    return from_arrays("r", curves)


def test_chance_levels_name_ln_c_and_the_mse_levels():
    levels = chance_levels([2, 10], [("0.25 (Brier)", 0.25)])
    assert chance_match(0.6931, 0.01, levels).startswith("ln 2 ")
    assert chance_match(2.30, 0.01, levels).startswith("ln 10 ")
    assert chance_match(0.2502, 0.01, levels) == "0.25 (Brier)"
    assert chance_match(1.5, 0.01, levels) is None
    # a constant prediction scores at or above the chance level: `above` widens the band upward only
    assert chance_match(0.6931 * 1.04, 0.01, levels) is None
    assert chance_match(0.6931 * 1.04, 0.01, levels, above=0.05).startswith("ln 2 ")
    assert chance_match(0.6931 * 0.96, 0.01, levels, above=0.05) is None


def test_lr_context_reads_a_warm_up_and_a_constant_lr():
    warm = run_with(lr=np.minimum(1e-4 * (1 + S / 10), 1e-2))
    ctx = lr_context(warm, 500)
    assert ctx.rising and not ctx.constant and abs(ctx.at - 5.1e-3) < 1e-9 and abs(ctx.start - 1e-4) < 1e-12
    flat = lr_context(run_with(lr=np.full(1000, 3e-4)), 500)
    assert flat.constant and not flat.rising and "constant" in flat.describe()
    assert lr_context(run_with(), 500) is None


def test_a_gradient_burst_is_an_order_of_magnitude_over_the_median():
    g = np.full(1000, 2.0)
    g[600] = 90.0
    b = grad_burst(run_with(grad=g), 550, 700, 10.0)
    assert b.step == 600 and b.peak == 90.0 and b.typical == 2.0 and b.ratio == 45.0
    assert grad_burst(run_with(grad=g), 0, 500, 10.0) is None  # nothing in that window
    g[600] = 15.0
    assert grad_burst(run_with(grad=g), 550, 700, 10.0) is None  # 7.5×: a gradient norm's ordinary jitter


def test_events_that_cluster_where_the_lr_is_highest():
    lr = np.where((S // 100) % 2 == 0, 1e-3, 1e-2)  # high in odd hundreds
    share, q = share_at_high_lr(run_with(lr=lr), [150, 350, 550, 720])
    assert share == 1.0 and q == 1e-2
    assert share_at_high_lr(run_with(lr=lr), [50, 250])[0] == 0.0
    assert share_at_high_lr(run_with(lr=np.full(1000, 1e-3)), [150]) is None  # a constant LR says nothing


# --- the loss of the first batch, before any update

LEVELS = chance_levels([2, 5, 10])
LN5 = float(np.log(5))


def _first_steps(first, then, steps=None):
    """A loss that is `first` at step 0, explodes over the next 40 steps, then sits at ln 5."""
    rng = np.random.default_rng(0)
    s = np.arange(500) if steps is None else steps
    y = np.where(s < 40, then * np.exp(rng.standard_normal(len(s))), LN5)
    y[0] = first
    return from_arrays("r", {"train/loss": (s, y)})


def test_a_first_batch_far_above_chance_is_the_inputs():
    from loganalyze.evidence import huge_from_the_start

    h = huge_from_the_start(_first_steps(132.7, 500.0), 10.0, LEVELS, 0.05)
    assert h.step == 0 and h.first == 132.7 and abs(h.settled - LN5) < 1e-9 and h.ratio > 80
    assert "before any update" in h.describe("train/loss")


def test_a_first_batch_at_chance_that_explodes_later_is_not():
    from loganalyze.evidence import huge_from_the_start

    # a too-high LR: the first batch's loss is the prior's, the explosion comes with the updates
    assert huge_from_the_start(_first_steps(LN5, 500.0), 10.0, LEVELS, 0.05) is None


def test_a_windowed_log_says_nothing_about_the_first_batch():
    from loganalyze.evidence import huge_from_the_start

    # Hugging Face logs the mean of steps 1-10 at step 10: the first updates are already in it
    assert huge_from_the_start(_first_steps(132.7, 500.0, np.arange(10, 5010, 10)), 10.0, LEVELS, 0.05) is None


def test_a_run_that_learns_far_below_its_start_is_not_at_chance():
    from loganalyze.evidence import huge_from_the_start

    s = np.arange(500)
    learning = from_arrays("r", {"train/loss": (s, 2.0 * np.exp(-s / 50) + 0.01)})  # falls 200x, to no chance level
    assert huge_from_the_start(learning, 10.0, LEVELS, 0.05) is None
