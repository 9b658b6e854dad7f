"""The trainer's phenomena are not a seed-0 accident: at other seeds each scenario still yields
its own rule with the right top-ranked cause (other findings may come and go with the seed)."""
import pytest
from click.testing import CliRunner

from loganalyze.cli import cli
from loganalyze.config import Config
from loganalyze.engine import analyze
from loganalyze.trainer import cli as train_cli

OWN = {  # scenario -> (rule, top cause)
    "running_mean": ("PD001", "running_mean_reset"),
    "unshuffled": ("PD001", "unshuffled_data"),
    "small_last_batch": ("PD001", "small_last_batch"),
    "eval_side_effect": ("PD001", "eval_side_effect"),
    "cosine_restarts": ("PD002", "lr_schedule"),
    "bce_nan": ("NF001", "unstable_loss"),
    "overfitting": ("AC001", "overfitting"),
}


@pytest.mark.slow
@pytest.mark.skipif(not train_cli._torch_available(), reason="the train extra (torch) is not installed")
@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("scenario", OWN)
def test_scenario_shows_its_phenomenon_at_other_seeds(tmp_path, scenario, seed):
    r = CliRunner().invoke(cli, ["train", scenario, "--out", str(tmp_path), "--seed", str(seed),
                                 "--device", "cpu", "--no-csv"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    (rr,) = analyze([str(tmp_path / scenario)], Config()).runs
    rule, cause = OWN[scenario]
    found = [(f.rule, f.causes[0].cause) for f in rr.findings]
    assert (rule, cause) in found, found
    if rule == "PD001":  # one saw-tooth, one rule: oscillation must not report the epoch cycle again
        assert "OS001" not in [r for r, _ in found], found
