"""Every cause a detector can name is documented on its rule's card, with its evidence."""
import re
from pathlib import Path

from loganalyze.cards import load_cards
from loganalyze.model import CAUSES

DETECTORS = Path(__file__).resolve().parents[1] / "loganalyze" / "detectors"


def test_every_cause_a_detector_names_is_on_its_card():
    cards = load_cards()
    for path in sorted(DETECTORS.glob("*.py")):
        text = path.read_text()
        rules = re.findall(r'@detector\("([A-Z]+\d+)"\)', text)
        if not rules:
            continue
        named = set(re.findall(r'Cause\("([a-z_]+)"', text))
        documented = {c.cause for r in rules for c in cards[r].causes}
        assert named <= documented, (path.name, sorted(named - documented))
        assert named <= set(CAUSES), (path.name, sorted(named - set(CAUSES)))


def test_every_card_cause_says_what_evidence_names_it():
    for card in load_cards().values():
        for c in card.causes:
            assert c.cause in CAUSES and len(c.evidence) >= 20, (card.id, c.cause)
