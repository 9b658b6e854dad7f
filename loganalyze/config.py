"""Configuration: `[tool.loganalyze]` in pyproject.toml, or loganalyze.toml, shaped like ruff's.

    [tool.loganalyze]
    select = ["ALL"]             # rule ids, id prefixes ("PD"), family names, rule names
    ignore = ["IN103"]
    steps_per_epoch = 500        # when the logs carry no epoch
    fail_on = "warning"

    [tool.loganalyze.roles]      # when tag names say too little
    train_loss = "my/obj"
    val_loss = "holdout/obj"
    higher_is_better = ["score"]

    [tool.loganalyze.rules.PD001]  # or by name: [tool.loganalyze.rules.epoch-periodicity]
    severity = "error"
    min_epochs = 4

Unknown keys and wrong types are errors: a typo must not silently turn a check off.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from .cards import Card, load_cards
from .model import FAMILIES, SEVERITIES


class ConfigError(ValueError):
    """A configuration file or option is wrong; the message names the file and the key."""


ROLE_KEYS = ("train_loss", "val_loss", "lr", "grad_norm", "epoch")
_TOP_KEYS = {"select", "ignore", "extend-select", "steps_per_epoch", "fail_on", "roles", "rules"}
FAIL_LEVELS = ("error", "warning", "info", "never")


@dataclass(frozen=True)
class Config:
    select: tuple[str, ...] = ("ALL",)
    ignore: tuple[str, ...] = ()
    steps_per_epoch: int | None = None
    fail_on: str = "error"
    roles: Mapping[str, str] = field(default_factory=dict)
    higher_is_better: tuple[str, ...] = ()
    lower_is_better: tuple[str, ...] = ()
    rule_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # id -> params
    rule_severity: Mapping[str, str] = field(default_factory=dict)  # id -> severity
    source: str = ""  # where it came from, for messages

    def is_selected(self, card: Card) -> bool:
        return _matches_any(card, self.select) and not _matches_any(card, self.ignore)

    def params_for(self, card: Card) -> dict[str, Any]:
        return {**card.defaults(), **self.rule_params.get(card.id, {})}


def _matches(card: Card, selector: str) -> bool:
    s = selector.strip()
    return (
        s.upper() == "ALL"
        or card.id.upper().startswith(s.upper())
        or s.lower() == card.family
        or s.lower() == card.name
    )


def _matches_any(card: Card, selectors: Iterable[str]) -> bool:
    return any(_matches(card, s) for s in selectors)


def check_selectors(selectors: Iterable[str], where: str) -> None:
    cards = load_cards().values()
    for s in selectors:
        if not any(_matches(c, s) for c in cards):
            known = ", ".join(sorted({c.id for c in cards} | set(FAMILIES)))
            raise ConfigError(f"{where}: {s!r} matches no rule (known: ALL, {known})")


def _rule_key(key: str, where: str) -> Card:
    for card in load_cards().values():
        if key.upper() == card.id.upper() or key.lower() == card.name:
            return card
    raise ConfigError(f"{where}: [rules.{key}] names no rule (see `loganalyze rules`)")


def _str_list(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of strings, got {value!r}")
    return tuple(value)


def _check_type(value: Any, default: Any, where: str) -> Any:
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, str):
        ok = isinstance(value, str)
    elif isinstance(default, list):
        ok = isinstance(value, list) and all(type(v) is type(d) or (isinstance(d, float) and isinstance(v, int)
                                                                    and not isinstance(v, bool))
                                             for v in value for d in default[:1])
    else:
        ok = True
    if not ok:
        raise ConfigError(f"{where}: expected {type(default).__name__} like {default!r}, got {value!r}")
    return value


def from_mapping(data: Mapping[str, Any], source: str) -> Config:
    """Validate a `[tool.loganalyze]` table."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: [tool.loganalyze] must be a table, got {data!r}")
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {unknown} in [tool.loganalyze] (known: {sorted(_TOP_KEYS)})")
    select = _str_list(data.get("select", ["ALL"]), f"{source}: select")
    select += _str_list(data.get("extend-select", []), f"{source}: extend-select")
    ignore = _str_list(data.get("ignore", []), f"{source}: ignore")
    check_selectors(select, f"{source}: select")
    check_selectors(ignore, f"{source}: ignore")
    spe = data.get("steps_per_epoch")
    if spe is not None and (not isinstance(spe, int) or isinstance(spe, bool) or spe < 1):
        raise ConfigError(f"{source}: steps_per_epoch must be a positive integer, got {spe!r}")
    fail_on = data.get("fail_on", "error")
    if fail_on not in FAIL_LEVELS:
        raise ConfigError(f"{source}: fail_on must be one of {FAIL_LEVELS}, got {fail_on!r}")

    roles_tbl = data.get("roles", {})
    if not isinstance(roles_tbl, dict):
        raise ConfigError(f"{source}: [roles] must be a table")
    roles: dict[str, str] = {}
    hib: tuple[str, ...] = ()
    lib: tuple[str, ...] = ()
    for key, value in roles_tbl.items():
        if key in ROLE_KEYS:
            if not isinstance(value, str):
                raise ConfigError(f"{source}: roles.{key} must be a tag name, got {value!r}")
            roles[key] = value
        elif key == "higher_is_better":
            hib = _str_list(value, f"{source}: roles.higher_is_better")
        elif key == "lower_is_better":
            lib = _str_list(value, f"{source}: roles.lower_is_better")
        else:
            raise ConfigError(f"{source}: unknown key roles.{key} (known: {list(ROLE_KEYS)}, higher_is_better, lower_is_better)")

    rules_tbl = data.get("rules", {})
    if not isinstance(rules_tbl, dict):
        raise ConfigError(f"{source}: [rules] must be a table")
    params: dict[str, dict[str, Any]] = {}
    severity: dict[str, str] = {}
    for key, table in rules_tbl.items():
        card = _rule_key(key, source)
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: [rules.{key}] must be a table")
        defaults = card.defaults()
        for pkey, value in table.items():
            where = f"{source}: rules.{key}.{pkey}"
            if pkey == "severity":
                if value not in SEVERITIES:
                    raise ConfigError(f"{where} must be one of {SEVERITIES}, got {value!r}")
                severity[card.id] = value
            elif pkey in defaults:
                value = _check_type(value, defaults[pkey], where)
                bad = next(p for p in card.parameters if p.name == pkey).out_of_range(value)
                if bad:
                    raise ConfigError(f"{where} = {value!r} {bad} (see `loganalyze explain {card.id}`)")
                params.setdefault(card.id, {})[pkey] = value
            else:
                raise ConfigError(f"{where}: unknown parameter (known: severity, {', '.join(sorted(defaults))})")
    return Config(select, ignore, spe, fail_on, roles, hib, lib, params, severity, source)


def check_roles(runs, config: Config) -> None:
    """A role or direction that names a tag no readable run has is a typo: a ConfigError saying which
    runs lack it and the nearest tags they have. (A tag that only some runs lack is a note on those.)"""
    readable = [r for r in runs if r.series]
    if not readable:
        return
    named = [(f"roles.{role}", tag) for role, tag in sorted(config.roles.items())]
    named += [("roles.higher_is_better", t) for t in config.higher_is_better]
    named += [("roles.lower_is_better", t) for t in config.lower_is_better]
    errors = []
    for key, tag in named:
        if any(tag in r.series for r in readable):
            continue
        tags = sorted({t for r in readable for t in r.series})
        import difflib  # here: only a misspelt tag needs it

        near = difflib.get_close_matches(tag, tags, n=3, cutoff=0.5)
        lacking = ", ".join(r.name for r in readable[:5])
        lacking += f" and {len(readable) - 5} more" if len(readable) > 5 else ""
        errors.append(f"{key} = {tag!r} names a tag no run has (lacking it: {lacking}"
                      + (f"; did you mean {' or '.join(map(repr, near))}?" if near else "") + ")")
    if errors:
        raise ConfigError(f"{config.source or 'configuration'}: " + "; ".join(errors))


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: not UTF-8 ({e.reason} at byte {e.start})") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from e


def _tool_table(data: dict, path: Path) -> Any:
    """`[tool.loganalyze]`, or None when the file has none."""
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"{path}: [tool] must be a table")
    return tool.get("loganalyze")


def load_file(path: Path) -> Config:
    data = _read_toml(path)
    table = _tool_table(data, path)
    if Path(path).name == "pyproject.toml":
        data = {} if table is None else table
    elif table is not None:
        data = table
    return from_mapping(data, str(path))


def discover(start: Path | None = None) -> Config:
    """The nearest loganalyze.toml, or pyproject.toml with a [tool.loganalyze] table, upward from `start`.

    A pyproject.toml that is not valid TOML is an error, not skipped: it may hold the `fail_on` a CI
    gate depends on, and skipping it would pass silently (`--config FILE` picks another file).
    """
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        own = d / "loganalyze.toml"
        if own.is_file():
            return load_file(own)
        pyproject = d / "pyproject.toml"
        if pyproject.is_file():
            try:
                table = _tool_table(_read_toml(pyproject), pyproject)
            except ConfigError as e:
                raise ConfigError(f"{e} (use --config FILE to read another configuration)") from e
            if table is not None:
                return from_mapping(table, str(pyproject))
    return Config()
