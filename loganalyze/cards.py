"""Rule cards: the documentation and defaults of each rule, as data in `rules/*.toml`.

A card is what `loganalyze explain ID` prints and what the HTML report links to; the
detector reads only its parameters. Cards ship inside the wheel as `loganalyze/_rules`.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .model import CAUSES, FAMILIES, SEVERITIES


class CardError(ValueError):
    """A rule card is malformed; names the file."""


@dataclass(frozen=True)
class Parameter:
    name: str
    default: Any
    description: str


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
                out.append(f"  {p.name} = {p.default!r}  — {p.description}")
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
    params = tuple(
        Parameter(name, spec["default"], spec.get("description", ""))
        for name, spec in data.get("parameters", {}).items()
    )
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
