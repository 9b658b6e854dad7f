"""The generated diagnosis corpus (tests/bench/corpus.py): a few tiny cases build, carry their truth,
and are logs loganalyze reads. Detection results are the benchmark's business, not asserted here."""
from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from loganalyze.model import CAUSES, FAMILIES
from loganalyze.trainer import cli as train_cli

pytestmark = pytest.mark.skipif(not train_cli._torch_available(), reason="the train extra (torch) is not installed")

sys.path.insert(0, str(Path(__file__).resolve().parent / "bench"))

# causes the corpus names that loganalyze.model does not (yet); see the corpus module's docstring
EXTRA_CAUSES = {"corrupt_samples"}


def _tiny(corpus, wanted: list[str]):
    """The variants with these ids, shrunk to a few epochs of small data."""
    by_id = {v.id: v for v in corpus.variants()}
    out = []
    for vid in wanted:
        v = by_id[vid]
        spec = v.spec
        out.append(replace(v, spec=replace(spec, epochs=min(spec.epochs or 6, 3), n=spec.n and min(spec.n, 3200))))
    return out


def test_every_variant_is_named_and_split():
    import corpus

    vs = corpus.variants()
    corpus._check_split(vs)
    ids = [v.id for v in vs]
    assert len(ids) == len(set(ids))
    assert {v.convention for v in vs} <= set(corpus._conventions())
    assert {v.family for v in vs} - {"healthy"} <= set(FAMILIES)
    held = sum(v.split == "heldout" for v in vs)
    # the held-out part is a quarter to a half of the corpus (the tuning part's rotation of writers and
    # models, seeds 4-6, took it from a third to 29%)
    assert 0.25 <= held / len(vs) <= 0.5


def test_strength_sweeps_stay_on_the_tuning_side():
    """tests/bench/sweep_strength.py trains grids around the corpus's settings to find where a rule's edge lies:
    every preset is tuning seeds and tuning architectures only, known mechanisms, known writers."""
    import corpus
    import sweep_strength
    from loganalyze.trainer.variants import MECHANISMS, Spec

    for name, make in sweep_strength.SWEEPS.items():
        vs = make(Spec)
        assert vs, name
        corpus._check_split(vs)
        assert {v.split for v in vs} == {"tuning"}, name
        assert {v.convention for v in vs} <= set(corpus._conventions()), name
        assert {v.spec.mechanism for v in vs} <= set(MECHANISMS), name


def test_tiny_cases_build_with_truth_and_read(tmp_path, monkeypatch):
    import corpus

    from loganalyze.engine import analyze

    wanted = ["nonfinite/handwritten_bce/mlp/tensorboard/s1",  # an event-file directory, NaN from the mechanism
              "integrity/resumed/mlp/csv_epoch_col/s2",  # a CSV appended to by a resumed process
              "divergence/lr_raised/resmlp/hf_trainer_state/s101"]  # trainer_state.json, held out
    tiny = _tiny(corpus, wanted)
    monkeypatch.setattr(corpus, "variants", lambda: tiny)
    cases = corpus.build(tmp_path, jobs=1, verbose=False)
    assert [c.id for c in cases] == wanted
    for case in cases:
        truth_file = corpus._truth_path(case)
        doc = json.loads(truth_file.read_text())
        assert doc["id"] == case.id and doc["split"] == case.split and doc["key"]
        assert Path(case.path).exists() and truth_file.parent in Path(case.path).parents
        assert case.labels, case.id
        for lab in case.labels:
            assert lab.family in FAMILIES
            assert lab.cause in set(CAUSES) | EXTRA_CAUSES
            assert lab.tags and all(isinstance(t, str) for t in lab.tags)
            assert lab.step_range is None or lab.step_range[0] <= lab.step_range[1]
        report = analyze([case.path], jobs=1)
        runs = [r for r in report.runs if r.run.series]
        assert len(runs) == 1, case.id  # truth.json sits outside what is analysed
        written = set(runs[0].run.series)
        for lab in case.labels:
            assert set(lab.tags) <= written, (case.id, lab.tags, sorted(written))
    assert cases[0].split == "tuning" and cases[2].split == "heldout"
    assert cases[1].labels[0].family == "integrity" and cases[1].labels[0].cause == "resumed_run"
    # a second build reuses the cache: nothing is retrained
    monkeypatch.setattr(corpus, "_build_one", lambda *a: pytest.fail("retrained a cached case"))
    again = corpus.build(tmp_path, jobs=1, verbose=False)
    assert [c.id for c in again] == wanted and [c.labels for c in again] == [c.labels for c in cases]
