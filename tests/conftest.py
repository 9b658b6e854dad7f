"""Where the tests find their data: fixtures/ in the checkout, real logs in ../shared beside it.

The real logs are not part of the checkout. Run locally without them, their tests skip; under CI
(`CI` set to anything but "", "0", "false" or "no" — `.ci/run` sets CI=1) a missing directory is
an error, so a CI run can never pass by skipping every real-log test. `LOGANALYZE_SHARED` points
at another shared directory (the one holding `realworld/` and `realworld-dev/`).
"""
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Property tests judge behaviour, not speed: on a shared, loaded machine input generation and examples run
# slowly, which Hypothesis would otherwise report as a failure.
settings.register_profile("loganalyze", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("loganalyze")

# Every comparison in the tests analyzes its baseline: the cache of baseline reports (loganalyze/basecache.py)
# is off unless a test turns it on.
os.environ["LOGANALYZE_CACHE"] = "off"

SHARED = Path(os.environ.get("LOGANALYZE_SHARED") or Path(__file__).resolve().parents[2] / "shared")
REALWORLD = SHARED / "realworld"
REALWORLD_DEV = SHARED / "realworld-dev"  # the labelled development set: data/, plots/, manifest.json
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def shared_dir(path: Path, what: str) -> Path:
    if path.is_dir():
        return path
    where = f"{what} not found at {path} (they live in ../shared beside the checkout, or set LOGANALYZE_SHARED)"
    if under_ci():
        pytest.fail(f"{where}; CI={os.environ['CI']!r}, so a missing directory fails instead of skipping",
                    pytrace=False)
    pytest.skip(where)


@pytest.fixture(scope="session")
def realworld() -> Path:
    return shared_dir(REALWORLD, "real-world logs")


@pytest.fixture(scope="session")
def realworld_dev() -> Path:
    return shared_dir(REALWORLD_DEV, "real-world development logs")
