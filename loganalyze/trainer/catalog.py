"""The scenario catalogue: names and one-line descriptions, importable without torch.

Kept apart from the implementations so `loganalyze train --list` and the fixture tests can
name every scenario on a machine that has no torch.
"""
from __future__ import annotations

# name -> what the run shows and by which mechanism (one line each, shown by --list)
SCENARIOS: dict[str, str] = {
    "memorization": "Embedding+LSTM text classifier, 1000 classes, oversized embeddings, random labels: "
                    "per-sample memorization -> loss drops at each epoch start and creeps up inside it",
    "memorization_rightsized": "same data pipeline, learnable labels and a right-sized model: smooth loss",
    "gru_next_item": "GRU next-item prediction from the last 10 items, Adam at a high LR, "
                     "evaluated 4x per epoch (HR@10 and cross-entropy, train and val)",
    "lr_too_high": "MLP classifier, SGD+momentum at lr 0.6: the loss falls, then the network collapses "
                   "to chance level (ln 5) and stays there",
    "lr_sane": "the same MLP and data at a sane LR: converges",
    "unnormalized_inputs": "MLP on features whose scales span 1e-3..3e3, no normalization: the loss explodes "
                           "in the first steps, then sits at chance level",
    "normalized_inputs": "the same MLP and features, standardized with the training set's mean and std: converges",
    "bce_nan": "hand-written BCE -(y*log(p)+(1-y)*log(1-p)) on un-squashed outputs: NaN once an output leaves (0,1)",
    "bce_logits": "the same model and data with BCEWithLogitsLoss: fine",
    "lstm_regression": "LSTM regression on 40-step sequences, Adam at lr 0.02, no clipping: the gradient norm "
                       "bursts (50x-10,000x its median) and throws the loss back",
    "lstm_regression_clip": "the same with gradient-norm clipping at 1.0",
    "lstm_regression_plateau_sched": "the same with weight decay and ReduceLROnPlateau",
    "running_mean": "loss logged as running_loss/(i+1), reset every epoch",
    "unshuffled": "data sorted by class, shuffle=False: the same jagged within-epoch profile every epoch",
    "shuffled": "the same sorted data with shuffle=True: no within-epoch profile",
    "small_last_batch": "drop_last=False with a 2-sample last batch: an outlier at the last step of every epoch",
    "drop_last": "the same data with drop_last=True: no tail batch, no outlier",
    "eval_side_effect": "model.eval() left on after mid-epoch validation (dropout+BatchNorm): "
                        "train loss jumps after each evaluation",
    "eval_train_restored": "the same, with model.train() called again after each evaluation",
    "cosine_restarts": "CosineAnnealingWarmRestarts every 1.5 epochs, LR logged: loss jumps at each restart",
    "overfitting": "small data, big MLP, noisy labels: val loss rises after a best epoch while train loss falls",
    "resume": "crash at a mid-epoch step, resume from the last epoch checkpoint: a new event file whose steps rewind",
    "healthy_mlp": "healthy baseline: MLP classifier, Adam",
    "healthy_cnn": "healthy baseline: small CNN on synthetic images, Adam",
    "healthy_lstm_warmup_cosine": "healthy baseline: LSTM regression with linear warm-up + cosine decay",
    "healthy_step_decay": "healthy baseline: MLP, SGD+momentum with StepLR decay",
}

# scenario -> the finding its mechanism must produce at every seed: (rule, top-ranked cause)
PHENOMENON: dict[str, tuple[str, str]] = {
    "memorization": ("PD001", "memorization"),
    "gru_next_item": ("PD001", "memorization"),
    "lr_too_high": ("PL001", "lr_too_high"),
    "unnormalized_inputs": ("PL001", "unnormalized_inputs"),
    "bce_nan": ("NF001", "unstable_loss"),
    "lstm_regression": ("SP001", "exploding_gradients"),
    "running_mean": ("PD001", "running_mean_reset"),
    "unshuffled": ("PD001", "unshuffled_data"),
    "small_last_batch": ("PD001", "small_last_batch"),
    "eval_side_effect": ("PD001", "eval_side_effect"),
    "cosine_restarts": ("PD002", "lr_schedule"),
    "overfitting": ("AC001", "overfitting"),
    "resume": ("IN001", "resumed_run"),
}

# bug scenario -> its twins with the fix applied, and what the fix is
FIXES: dict[str, dict[str, str]] = {
    "memorization": {"memorization_rightsized": "learnable labels and a right-sized model"},
    "lr_too_high": {"lr_sane": "a lower LR (0.05)"},
    "bce_nan": {"bce_logits": "BCEWithLogitsLoss"},
    "unnormalized_inputs": {"normalized_inputs": "inputs standardized"},
    "lstm_regression": {"lstm_regression_clip": "gradient-norm clipping",
                        "lstm_regression_plateau_sched": "weight decay + ReduceLROnPlateau"},
    "unshuffled": {"shuffled": "shuffle=True"},
    "small_last_batch": {"drop_last": "drop_last=True"},
    "eval_side_effect": {"eval_train_restored": "model.train() restored after evaluation"},
}


def fixed_by(name: str) -> str | None:
    """The bug scenario a fix twin belongs to, or None."""
    return next((bug for bug, twins in FIXES.items() if name in twins), None)


def verdict(name: str, findings) -> tuple[bool, str]:
    """Does an analysis of scenario `name` show what its mechanism says it must?

    A bug scenario: its own rule with its own top cause. A healthy baseline: no warning or error.
    A fix twin: not the bug's finding as a warning or error (at most an info: clearly weaker, e.g. a
    gradient burst the clipped run's loss does not feel; what else its run shows, such as ordinary
    overfitting, is listed, not judged). Returns (ok, the findings in short).
    """
    seen = [(f.rule, f.causes[0].cause if f.causes else "", f.severity) for f in findings]
    short = ", ".join(f"{r}:{c}:{s}" for r, c, s in seen) or "no findings"
    if name in PHENOMENON:
        return PHENOMENON[name] in [(r, c) for r, c, _ in seen], short
    if name.startswith("healthy_"):
        return not any(s in ("warning", "error") for _, _, s in seen), short
    bug = fixed_by(name)
    if bug is not None:
        return PHENOMENON[bug] not in [(r, c) for r, c, s in seen if s in ("warning", "error")], short
    return not any(s in ("warning", "error") for _, _, s in seen), short


# scenario -> CPU seconds (user+sys) one run takes at --scale 1 on the 2-core development machine,
# one torch thread, the max over seeds 0-4 of `python tests/bench/bench_trainer.py` rounded up, measured
# 2026-12-02 while five other agents shared the machine; shown by --list
CPU_SECONDS: dict[str, float] = {
    "memorization": 16,
    "memorization_rightsized": 4,
    "gru_next_item": 13,
    "lr_too_high": 4,
    "lr_sane": 2,
    "unnormalized_inputs": 2,
    "normalized_inputs": 1,
    "bce_nan": 2,
    "bce_logits": 2,
    "lstm_regression": 5,
    "lstm_regression_clip": 5,
    "lstm_regression_plateau_sched": 5,
    "running_mean": 3,
    "unshuffled": 2,
    "shuffled": 2,
    "small_last_batch": 1,
    "drop_last": 1,
    "eval_side_effect": 3,
    "eval_train_restored": 3,
    "cosine_restarts": 3,
    "overfitting": 3,
    "resume": 2,
    "healthy_mlp": 5,
    "healthy_cnn": 3,
    "healthy_lstm_warmup_cosine": 5,
    "healthy_step_decay": 2,
}

# bug scenarios whose mechanism is plainly in the logged numbers but whose finding the rules do not
# name yet -> what the analysis says instead (a strict reading of "shows its phenomenon" fails there;
# the tests hold the numbers and mark the finding an expected failure until the rule catches up)
KNOWN_MISS: dict[str, str] = {}

# scenarios whose phenomenon is by nature a matter of chance -> at how many of seeds 0-4 it shows
# (measured; README's scenario table). Every other scenario shows its phenomenon at every seed.
CHANCE: dict[str, int] = {
    # the gradient norm bursts at every seed; at seed 3 the burst is not far enough above its neighbours for
    # SP001 (no finding); at seeds 1 and 4 the loss's setback is under setback_factor (an info)
    "lstm_regression": 4,
}
