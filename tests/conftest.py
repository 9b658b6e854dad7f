from pathlib import Path

import pytest

REALWORLD = Path(__file__).resolve().parents[2] / "shared" / "realworld"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="session")
def realworld() -> Path:
    if not REALWORLD.is_dir():
        pytest.skip(f"real-world logs not found at {REALWORLD} (they live in ../shared beside the checkout)")
    return REALWORLD
