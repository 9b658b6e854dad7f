"""Strength sweeps on the tuning side: where does a mechanism show, and where does the analysis find it?

The corpus holds each mechanism at one or two strengths; a rule tuned there can have an edge just past
them (a ringing at batch 16 instead of 32, an LR 250x too low instead of 1000x, a climb over three epochs
instead of a jump). A sweep trains one mechanism over a grid of LRs, batch sizes, factors, seeds and
writers — tuning seeds and tuning architectures only (the corpus's split check refuses anything else) —
keeps the runs where the corpus's own evidence says the mechanism shows (the same truth the benchmark
labels by), and prints for each whether the analysis finds it:

    HIT    <variant id> <settings> <evidence> | <warnings and errors>
    MISS   ...                                  (the mechanism shows, nothing of its family found)
    NOSHOW ...                                  (too weak to show: no label, not scored)
    UNSEEN ...                                  (shows in training, not in what the writer logs: no label)

    python tests/bench/sweep_strength.py ringing [--cache DIR] [--jobs 2]

A MISS is a lead, not a target: read the log, find the general reason, and test the fix on curves and
seeds the sweep did not use. Presets: see SWEEPS.
"""
from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

import corpus  # noqa: E402  (tests/bench/corpus.py)
from corpus import Variant  # noqa: E402

REG16 = (("momentum", 0.99), ("task", "regression"))


def _ringing(Spec):
    """SGD momentum 0.99 on the 16-feature regression: LR and batch around the corpus's 0.004 / 32."""
    return [Variant("oscillation", "momentum_ringing", Spec("oscillation", "linear", seed, optimizer="sgd", lr=lr,
                                                            batch=batch, epochs=epochs, knobs=REG16), "csv_steps_only")
            for lr in (0.0015, 0.002, 0.003, 0.004) for batch in (16, 32) for seed in (1, 2, 3) for epochs in (3, 6)]


def _low_lr(Spec):
    """A constant LR 10^-3 to 10^-5 of a sane one, SGD and Adam, under writers that log every step or window means."""
    lrs = {"sgd": (1e-5, 5e-5, 2e-4), "adam": (1e-6, 3e-6, 1e-5)}
    return [Variant("plateau", "lr_too_low", Spec("lr_too_low", arch, 1, optimizer=opt, lr=lr), conv)
            for arch in ("mlp", "cnn_bn", "cnn") for opt in ("sgd", "adam") for lr in lrs[opt]
            for conv in ("hf_trainer_state", "detectron2_jsonl", "tensorboard")]


def _collapse(Spec):
    """An SGD LR high enough to kill the ReLU network, under sparse and windowed writers."""
    return [Variant("divergence", "lr_collapse", Spec("lr_collapse", "mlp", seed, optimizer="sgd", lr=lr), conv)
            for lr in (0.4, 0.6, 0.8, 1.0) for seed in (1, 2, 3)
            for conv in ("detectron2_jsonl", "keras_csv", "hf_trainer_state_sparse")]


def _raised(Spec):
    """The LR raised mid-run by 4-10x (SGD) or 20-50x (Adam), one row per epoch."""
    return [Variant("divergence", "lr_raised", Spec("lr_raise", arch, seed, optimizer=opt,
                                                    knobs=(("factor", factor * (5 if opt == "adam" else 1)),)),
                    "keras_csv")
            for seed in (1, 2, 3) for factor in (4.0, 6.0, 8.0, 10.0)
            for opt, arch in (("sgd", "mlp"), ("sgd", "cnn"), ("adam", "mlp"))]


def _overfit(Spec):
    """Label noise and a wide MLP, fewer or more epochs, per-step and per-epoch writers."""
    return [Variant("anticorrelation", "overfitting", Spec("overfitting", "mlp", seed, epochs=epochs,
                                                           knobs=(("label_noise", noise),)), conv)
            for seed in (1, 2) for epochs in (6, 12) for noise in (0.1, 0.3)
            for conv in ("tensorboard", "keras_csv", "hf_trainer_state_sparse")]


def _corrupt(Spec):
    """1-6 corrupted rows at a 3-30x error, per-step writers."""
    return [Variant("spikes", "corrupt_rows", Spec("corrupt_rows", "mlp", seed, knobs=(
                ("corrupt", k), ("factor", factor), ("task", "regression"))), conv)
            for seed in (1, 2) for k in (1, 3, 6) for factor in (3.0, 10.0, 30.0)
            for conv in ("tensorboard", "lightning_csv")]


def _last_batch(Spec):
    """drop_last=False with a 1-8-sample last batch, 25-50 full batches, 6 or 12 epochs, per-step writers."""
    return [Variant("periodicity", "small_last_batch", Spec("small_last_batch", "mlp", seed, epochs=epochs, knobs=(
                ("full_batches", full), ("tail", tail))), conv)
            for seed in (1, 2) for tail in (1, 2, 4, 8) for full in (25, 50) for epochs in (6, 12)
            for conv in ("csv_epoch_col", "tensorboard")]


def _fp16(Spec):
    """GradScaler overflows: scale growth every 10-60 steps, SGD and Adam."""
    return [Variant("nonfinite", "fp16_loss_scale", Spec("fp16_scale", arch, seed, optimizer=opt,
                                                         knobs=(("growth", growth),)), conv)
            for seed in (1, 2) for growth in (10, 25, 60) for opt, arch in (("adam", "mlp"), ("sgd", "cnn"))
            for conv in ("tensorboard", "lightning_csv", "hf_trainer_state")]


def _unshuffled(Spec):
    """Class-sorted data, shuffle=False: LRs from a tenth to twice the sane one, batch 32-128, 4-8 epochs."""
    return [Variant("periodicity", "unshuffled", Spec("unshuffled", arch, seed, optimizer=opt, lr=lr, batch=batch,
                                                      epochs=epochs), conv)
            for seed in (1, 2) for arch, opt, lr in (("mlp", "adam", 1e-4), ("mlp", "adam", 2e-3), ("mlp", "sgd", 0.1),
                                                     ("cnn", "adam", 3e-4))
            for batch in (32, 128) for epochs in (4, 8) for conv in ("tensorboard",)]


def _eval_effect(Spec):
    """model.eval() left on after a mid-epoch validation: dropout 0.2-0.7, one or four evaluations an epoch."""
    return [Variant("periodicity", "eval_side_effect", Spec("eval_side_effect", arch, seed, evals=evals, lr=lr,
                                                            knobs=(("dropout", drop),)), conv)
            for seed in (1, 2) for arch, lr in (("mlp", None), ("cnn_bn", 3e-3)) for drop in (0.2, 0.5, 0.7)
            for evals in (1, 4) for conv in ("tensorboard", "csv_epoch_col")]


def _unnormalized(Spec):
    """Features on scales 1e-3..1e4: SGD and Adam at LRs around the corpus's 1e-3, under four writers."""
    return [Variant("plateau", "unnormalized_inputs", Spec("unnormalized", "mlp", seed, optimizer=opt, lr=lr), conv)
            for seed in (1, 2) for opt, lr in (("sgd", 1e-4), ("sgd", 1e-3), ("sgd", 1e-2), ("adam", 1e-3))
            for conv in ("tensorboard", "keras_csv", "hf_trainer_state", "detectron2_jsonl")]


SWEEPS = {"unnormalized": _unnormalized, "lastbatch": _last_batch, "fp16": _fp16, "unshuffled": _unshuffled, "evaleffect": _eval_effect, "ringing": _ringing, "lowlr": _low_lr, "collapse": _collapse, "raised": _raised, "overfit": _overfit,
          "corrupt": _corrupt}


def _line(var: Variant, built: tuple, cache: Path) -> str:
    from bench_diagnosis import matches

    from loganalyze.config import Config
    from loganalyze.engine import analyze

    vid, doc, note, _ = built
    s = var.spec
    settings = f"lr={s.lr} batch={s.batch} epochs={s.epochs} {s.optimizer} {dict(s.knobs)}"
    if doc is None:
        return f"NOSHOW {vid} {settings} {note[:160]}"
    case = corpus._case_from_truth(corpus._case_dir(cache, var), doc)
    if not case.labels:  # it shows in training, not in what this writer logs (an fp16 overflow's grads, unlogged)
        return f"UNSEEN {vid} {settings} {json.dumps(doc['evidence'])[:160]}"
    found = [f for rr in analyze([case.path], Config(), jobs=1).runs for f in rr.findings]
    hit = any(matches(lab, f) for lab in case.labels for f in found)
    what = "; ".join(f"{f.rule} {f.severity} {f.summary[:90]}" for f in found if f.severity in ("warning", "error"))
    return f"{'HIT ' if hit else 'MISS'}   {vid} {settings} {json.dumps(doc['evidence'])[:160]} | {what[:300]}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sweep", choices=sorted(SWEEPS))
    ap.add_argument("--cache", type=Path, help="where the runs are kept (default .cache/sweep-<name>)")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    from loganalyze.trainer.variants import Spec

    cache = args.cache or HERE.parents[1] / ".cache" / f"sweep-{args.sweep}"
    cache.mkdir(parents=True, exist_ok=True)
    variants = SWEEPS[args.sweep](Spec)
    corpus._check_split(variants)  # tuning seeds and architectures only
    with ProcessPoolExecutor(args.jobs) as ex:
        built = list(ex.map(corpus._build_one, [(v, str(cache)) for v in variants]))
    lines = [_line(v, b, cache) for v, b in zip(variants, built)]
    print("\n".join(lines))
    kinds = [ln.split()[0] for ln in lines]
    print(f"\n{args.sweep}: {kinds.count('HIT')} found, {kinds.count('MISS')} missed, "
          f"{kinds.count('NOSHOW')} too weak to show, {kinds.count('UNSEEN')} not in what the writer logs, "
          f"of {len(lines)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
