"""Rule cards: the documentation and defaults of each rule, as data in `rules/*.toml`.

A card is what `loganalyze explain ID` prints and what the HTML report links to; the
detector reads only its parameters. Cards ship inside the wheel as `loganalyze/_rules`.
"""
from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .model import CAUSES, FAMILIES, SEVERITIES


class CardError(ValueError):
    """A rule card is malformed; names the file."""


_RANGE = re.compile(r"^\s*([\[(])\s*([^,\s]+)\s*,\s*([^,\s]+)\s*([\])])\s*$")


@dataclass(frozen=True)
class Range:
    """An interval in the usual notation, `[2, inf)` or `(0, 1]`: where a parameter makes sense."""

    lo: float
    hi: float
    lo_closed: bool
    hi_closed: bool

    @classmethod
    def parse(cls, text: str) -> "Range":
        m = _RANGE.match(text)
        if not m:
            raise ValueError(f"range {text!r} is not an interval like '[1, inf)' or '(0, 1]'")
        lo, hi = float(m.group(2)), float(m.group(3))
        if math.isnan(lo) or math.isnan(hi) or lo > hi:
            raise ValueError(f"range {text!r} is empty")
        return cls(lo, hi, m.group(1) == "[" and math.isfinite(lo), m.group(4) == "]" and math.isfinite(hi))

    def __contains__(self, x: float) -> bool:
        if not isinstance(x, (int, float)) or isinstance(x, bool) or math.isnan(x):
            return False
        above = x >= self.lo if self.lo_closed else x > self.lo
        below = x <= self.hi if self.hi_closed else x < self.hi
        return above and below

    def __str__(self) -> str:
        def num(v: float) -> str:
            return "inf" if v == math.inf else "-inf" if v == -math.inf else f"{v:g}"
        return f"{'[' if self.lo_closed else '('}{num(self.lo)}, {num(self.hi)}{']' if self.hi_closed else ')'}"


@dataclass(frozen=True)
class Parameter:
    name: str
    default: Any
    description: str
    range: Range | None = None  # every number (and every number of a list) must lie in it

    def out_of_range(self, value: Any) -> str | None:
        """Why `value` is not a valid setting of this parameter by its card's range (words to follow
        the value: "is out of range: …"), or None."""
        if self.range is None:
            return None
        if not isinstance(value, list):
            return None if value in self.range else f"is out of range: it must lie in {self.range}"
        for v in value:
            if v not in self.range:
                return f"holds {v!r}, out of range: each value must lie in {self.range}"
        return None


@dataclass(frozen=True)
class CardCause:
    cause: str
    title: str
    evidence: str
    fixes: tuple[str, ...]


@dataclass(frozen=True)
class Card:
    id: str
    name: str
    title: str
    family: str
    severity: str
    what: str
    why: str
    parameters: tuple[Parameter, ...]
    causes: tuple[CardCause, ...]
    fixes: tuple[str, ...]
    references: tuple[str, ...]
    example: str = ""
    false_positive_rate: str = ""
    path: str = ""
    extra: dict = field(default_factory=dict)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.parameters}

    def text(self) -> str:
        """The card as a person reads it in a terminal (`loganalyze explain`)."""
        out = [f"{self.id} {self.name}: {self.title}", f"family: {self.family}   default severity: {self.severity}", ""]
        out += ["What it detects", _indent(self.what), "", "Why it matters", _indent(self.why), ""]
        if self.example:
            out += ["Example", _indent(self.example), ""]
        if self.causes:
            out.append("Causes and the evidence that tells them apart")
            for c in self.causes:
                out.append(f"  - {c.cause}: {c.title}")
                out.append(_indent(c.evidence, 6))
                for fix in c.fixes:
                    out.append(f"      fix: {fix}")
            out.append("")
        if self.fixes:
            out.append("Fixes")
            out += [f"  - {f}" for f in self.fixes]
            out.append("")
        if self.parameters:
            out.append("Parameters (override in [tool.loganalyze.rules.%s])" % self.id)
            for p in self.parameters:
                out.append(f"  {p.name} = {p.default!r}" + (f"  in {p.range}" if p.range else "")
                           + f"  — {p.description}")
            out.append("")
        if self.false_positive_rate:
            out += ["False-positive rate", _indent(self.false_positive_rate), ""]
        if self.references:
            out.append("References")
            out += [f"  - {r}" for r in self.references]
        return "\n".join(out).rstrip() + "\n"


def _indent(text: str, n: int = 2) -> str:
    return "\n".join((" " * n + line) if line else "" for line in text.strip().splitlines())


def rules_dir() -> Path:
    """`loganalyze/_rules` in an installed wheel, the repository's `rules/` in a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_rules", here.parent / "rules"):
        if candidate.is_dir():
            return candidate
    raise CardError(f"no rule cards found next to {here}")


_REQUIRED = ("id", "name", "title", "family", "severity", "what", "why")
_KNOWN = set(_REQUIRED) | {"parameters", "causes", "fixes", "references", "example", "false_positive_rate"}


def parse_card(path: Path) -> Card:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise CardError(f"{path}: {e}") from e
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise CardError(f"{path}: missing keys {missing}")
    unknown = sorted(set(data) - _KNOWN)
    if unknown:
        raise CardError(f"{path}: unknown keys {unknown}")
    if data["family"] not in FAMILIES:
        raise CardError(f"{path}: family {data['family']!r} is not one of {FAMILIES}")
    if data["severity"] not in SEVERITIES:
        raise CardError(f"{path}: severity {data['severity']!r} is not one of {SEVERITIES}")
    params = tuple(_parameter(path, name, spec) for name, spec in data.get("parameters", {}).items())
    causes = []
    for c in data.get("causes", []):
        if c.get("cause") not in CAUSES:
            raise CardError(f"{path}: cause {c.get('cause')!r} is not one of {CAUSES}")
        causes.append(CardCause(c["cause"], c.get("title", ""), c.get("evidence", ""), tuple(c.get("fixes", []))))
    return Card(
        id=data["id"],
        name=data["name"],
        title=data["title"],
        family=data["family"],
        severity=data["severity"],
        what=data["what"],
        why=data["why"],
        parameters=params,
        causes=tuple(causes),
        fixes=tuple(data.get("fixes", [])),
        references=tuple(data.get("references", [])),
        example=data.get("example", ""),
        false_positive_rate=data.get("false_positive_rate", ""),
        path=str(path),
    )


def _parameter(path: Path, name: str, spec: Any) -> Parameter:
    """A parameter with its range (`range = "[1, inf)"`), in which its default must lie."""
    where = f"{path}: parameters.{name}"
    if not isinstance(spec, dict) or "default" not in spec:
        raise CardError(f"{where}: needs a table with a default")
    unknown = sorted(set(spec) - {"default", "description", "range"})
    if unknown:
        raise CardError(f"{where}: unknown keys {unknown}")
    default = spec["default"]
    rng = None
    if "range" in spec:  # every numeric parameter states one (tests/test_config.py holds the cards to it)
        try:
            rng = Range.parse(str(spec["range"]))
        except ValueError as e:
            raise CardError(f"{where}: {e}") from e
    param = Parameter(name, default, spec.get("description", ""), rng)
    bad = param.out_of_range(default)
    if bad:
        raise CardError(f"{where}: the default {default!r} {bad}")
    return param


@lru_cache(maxsize=None)
def load_cards(directory: str | None = None) -> dict[str, Card]:
    """Every card, by id, sorted by id."""
    d = Path(directory) if directory else rules_dir()
    cards: dict[str, Card] = {}
    for path in sorted(d.glob("*.toml")):
        card = parse_card(path)
        if card.id in cards:
            raise CardError(f"{path}: duplicate rule id {card.id}")
        cards[card.id] = card
    return dict(sorted(cards.items()))


def find_card(key: str) -> Card | None:
    """A card by id (case-insensitive) or by name."""
    cards = load_cards()
    for card in cards.values():
        if key.upper() == card.id.upper() or key.lower() == card.name:
            return card
    return None
