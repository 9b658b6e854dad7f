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
