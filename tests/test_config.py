"""Configuration: ruff-shaped selection, per-rule parameters and severities, and loud errors."""
import textwrap

import pytest

from loganalyze.cards import load_cards
from loganalyze.config import Config, ConfigError, discover, from_mapping, load_file


def test_every_card_is_well_formed_and_has_a_detector():
    from loganalyze.detectors import all_detectors

    cards = load_cards()
    assert cards, "no rule cards found"
    detectors = all_detectors()
    for rid, card in cards.items():
        assert rid in detectors, f"card {rid} has no detector"
        assert card.what.strip() and card.why.strip() and card.fixes or card.causes
        assert card.text().startswith(f"{rid} {card.name}")
    assert set(detectors) <= set(cards), "a detector without a card"


def test_select_and_ignore_by_id_prefix_family_and_name():
    cards = load_cards()
    nf = cards["NF001"]
    assert Config(select=("NF",)).is_selected(nf)
    assert Config(select=("nonfinite",)).is_selected(nf)
    assert Config(select=("nonfinite-values",)).is_selected(nf)
    assert not Config(select=("ALL",), ignore=("NF001",)).is_selected(nf)
    assert not Config(select=("DV",)).is_selected(nf)


def test_rule_parameters_and_severity_override(tmp_path):
    card = next(c for c in load_cards().values() if c.parameters)
    p = card.parameters[0]
    value = p.default * 2 if isinstance(p.default, (int, float)) and not isinstance(p.default, bool) else p.default
    cfg = from_mapping({"rules": {card.id: {p.name: value, "severity": "info"}}}, "test.toml")
    assert cfg.params_for(card)[p.name] == value
    assert cfg.rule_severity[card.id] == "info"
    by_name = from_mapping({"rules": {card.name: {"severity": "error"}}}, "test.toml")
    assert by_name.rule_severity[card.id] == "error"


@pytest.mark.parametrize(
    "table, message",
    [
        ({"selekt": ["ALL"]}, "unknown key"),
        ({"select": ["XX999"]}, "matches no rule"),
        ({"ignore": "NOPE"}, "matches no rule"),
        ({"steps_per_epoch": 0}, "positive integer"),
        ({"steps_per_epoch": "100"}, "positive integer"),
        ({"fail_on": "fatal"}, "fail_on"),
        ({"roles": {"trainloss": "x"}}, "unknown key roles.trainloss"),
        ({"rules": {"NOPE1": {}}}, "names no rule"),
        ({"rules": {"NF001": {"severity": "critical"}}}, "severity"),
        ({"rules": {"NF001": {"no_such_param": 1}}}, "unknown parameter"),
    ],
)
def test_bad_config_is_a_clear_error(table, message):
    with pytest.raises(ConfigError, match=message) as e:
        from_mapping(table, "pyproject.toml")
    assert "pyproject.toml" in str(e.value)


def test_wrong_parameter_type_is_an_error():
    card = next(c for c in load_cards().values()
                if any(isinstance(p.default, (int, float)) and not isinstance(p.default, bool) for p in c.parameters))
    p = next(p for p in card.parameters if isinstance(p.default, (int, float)) and not isinstance(p.default, bool))
    with pytest.raises(ConfigError, match=p.name):
        from_mapping({"rules": {card.id: {p.name: "lots"}}}, "x.toml")


def test_discovered_upward_from_pyproject_or_loganalyze_toml(tmp_path):
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent("""
        [project]
        name = "x"
        [tool.loganalyze]
        ignore = ["IN004"]
        steps_per_epoch = 50
    """))
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    cfg = discover(deep)
    assert cfg.steps_per_epoch == 50 and cfg.ignore == ("IN004",)
    (tmp_path / "a" / "loganalyze.toml").write_text('fail_on = "warning"\n')
    assert discover(deep).fail_on == "warning"


def test_invalid_toml_names_the_file(tmp_path):
    bad = tmp_path / "loganalyze.toml"
    bad.write_text("select = [\n")
    with pytest.raises(ConfigError, match="loganalyze.toml"):
        load_file(bad)


def test_a_broken_pyproject_is_an_error_not_skipped(tmp_path):
    """It may hold the fail_on a CI gate relies on: skipping it would pass silently."""
    (tmp_path / "pyproject.toml").write_text('[tool.loganalyze]\nfail_on = "warning\n')
    deep = tmp_path / "a"
    deep.mkdir()
    with pytest.raises(ConfigError, match=r"pyproject.toml: not valid TOML.*--config"):
        discover(deep)
    (tmp_path / "pyproject.toml").write_text('[tool]\nloganalyze = 3\n')
    with pytest.raises(ConfigError, match="must be a table"):
        discover(deep)


# ---- parameter ranges: stated on every card, checked by the loader -----------------------------------

def _numeric(p) -> bool:
    d = p.default
    return (isinstance(d, (int, float)) and not isinstance(d, bool)) or (isinstance(d, list) and bool(d))


def test_every_numeric_parameter_states_a_range_that_holds_its_default():
    for card in load_cards().values():
        for p in card.parameters:
            if _numeric(p):
                assert p.range is not None, f"{card.id}.{p.name} states no range"
                assert p.out_of_range(p.default) is None
                assert f"{p.name} = {p.default!r}  in {p.range}" in card.text()


def parse_card_text(tmp_path, text):
    from loganalyze.cards import parse_card

    path = tmp_path / "XX001.toml"
    path.write_text(text)
    return parse_card(path)


def test_a_card_whose_default_lies_outside_its_range_is_rejected(tmp_path):
    from loganalyze.cards import CardError, parse_card

    base = ('id = "XX001"\nname = "x"\ntitle = "x"\nfamily = "spikes"\nseverity = "info"\nwhat = "x"\nwhy = "x"\n'
            '[parameters.window]\ndefault = 5\n')
    assert parse_card_text(tmp_path, base).parameters[0].range is None  # tolerated here, refused by the test above
    for extra, message in [('range = "[6, inf)"\n', "out of range"),
                           ('range = "[1, 0]"\n', "empty"), ('range = "1..5"\n', "not an interval")]:
        path = tmp_path / "XX001.toml"
        path.write_text(base + extra)
        with pytest.raises(CardError, match=message):
            parse_card(path)
    path.write_text(base + 'range = "(0, inf)"\n')
    assert parse_card(path).parameters[0].out_of_range(0) == "is out of range: it must lie in (0, inf)"


@pytest.mark.parametrize("key, value, ok", [
    ("bins", 2, True), ("bins", 1, False), ("bins", 0, False), ("min_epochs", -5, False),
    ("max_p", 1.0, True), ("max_p", 0.0, False), ("max_p", 1.5, False), ("min_split_half", -1, True),
])
def test_the_loader_checks_each_value_against_the_cards_range(key, value, ok):
    table = {"rules": {"PD001": {key: value}}}
    if ok:
        assert from_mapping(table, "x.toml").rule_params["PD001"][key] == value
    else:
        with pytest.raises(ConfigError, match=rf"rules.PD001.{key} = {value!r} is out of range"):
            from_mapping(table, "x.toml")


def test_every_rule_runs_with_each_parameter_at_the_ends_of_its_range():
    """The ranges are the real limits: at each end (an open end: just inside it; an infinite one: 10^6)
    no detector raises on real fixture logs — a periodic, a NaN, a spiky and an overfitting run."""
    import math
    import warnings

    from loganalyze.align import align_runs
    from loganalyze.detectors import all_detectors
    from loganalyze.ingest import load
    from conftest import FIXTURES

    runs = align_runs(load([FIXTURES / n for n in ("memorization", "bce_nan", "lr_too_high", "overfitting")]).runs)
    runs = [r for r in runs if r.runs[0].format == "tfevents"]
    assert len(runs) == 4
    detectors = all_detectors()
    failures = []
    for card in load_cards().values():
        for p in card.parameters:
            if p.range is None:
                continue
            whole = isinstance(p.default, (int, list))
            step = 1 if whole else 1e-9
            lo = p.range.lo if p.range.lo_closed else (p.range.lo + step if math.isfinite(p.range.lo) else -1e6)
            hi = p.range.hi if p.range.hi_closed else (p.range.hi - step if math.isfinite(p.range.hi) else 1e6)
            for v in (lo, hi):
                v = int(v) if whole else float(v)
                value = [v] if isinstance(p.default, list) else v
                assert p.out_of_range(value) is None
                for run in runs:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # numpy's own words at odd settings are not the point
                        try:
                            detectors[card.id](run, {**card.defaults(), p.name: value})
                        except Exception as e:  # noqa: BLE001
                            failures.append(f"{card.id}.{p.name} = {value!r} on {run.name}: {type(e).__name__}: {e}")
    assert not failures, "\n".join(failures[:20])
