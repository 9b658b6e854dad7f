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
    "unnormalized_inputs": "MLP on features whose scales span 1e-3..1e4, no normalization: the loss explodes "
                           "in the first steps, then sits at chance level",
    "bce_nan": "hand-written BCE -(y*log(p)+(1-y)*log(1-p)) on un-squashed outputs: NaN once an output leaves (0,1)",
    "bce_logits": "the same model and data with BCEWithLogitsLoss: fine",
    "lstm_regression": "LSTM regression on long sequences, Adam at a high LR, no clipping",
    "lstm_regression_clip": "the same with gradient-norm clipping",
    "lstm_regression_plateau_sched": "the same with weight decay and ReduceLROnPlateau",
    "running_mean": "loss logged as running_loss/(i+1), reset every epoch",
    "unshuffled": "data sorted by class, shuffle=False: the same jagged within-epoch profile every epoch",
    "small_last_batch": "drop_last=False with a 2-sample last batch: an outlier at the last step of every epoch",
    "eval_side_effect": "model.eval() left on after mid-epoch validation (dropout+BatchNorm): "
                        "train loss jumps after each evaluation",
    "cosine_restarts": "CosineAnnealingWarmRestarts every 1.5 epochs, LR logged: loss jumps at each restart",
    "overfitting": "small data, big MLP, noisy labels: val loss rises after a best epoch while train loss falls",
    "resume": "crash at a mid-epoch step, resume from the last epoch checkpoint: a new event file whose steps rewind",
    "healthy_mlp": "healthy baseline: MLP classifier, Adam",
    "healthy_cnn": "healthy baseline: small CNN on synthetic images, Adam",
    "healthy_lstm_warmup_cosine": "healthy baseline: LSTM regression with linear warm-up + cosine decay",
    "healthy_step_decay": "healthy baseline: MLP, SGD+momentum with StepLR decay",
}
