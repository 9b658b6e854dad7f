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


@pytest.fixture(autouse=True, scope="session")
def findings_are_well_formed():
    """Every run the rules see in a test is checked for what a reader of the report relies on.

    The engine reports a detector that raises as a note and goes on (one broken rule must not hide the
    others), so a test that only asks "no finding here" would pass on a crash; here a crash fails the test.
    And each finding's causes are offered as the report shows them: confidences in (0, 1], the likeliest
    first (the terminal and CI outputs print causes[0] as "likely cause"), causes from the vocabulary,
    a step range that runs forwards."""
    from loganalyze import engine
    from loganalyze.model import CAUSES

    real = engine._run_rules

    def checked(run, config):
        rr = real(run, config)
        crashed = [n for n in rr.notes if n.startswith("internal error in rule")]
        assert not crashed, f"a detector raised on run {run.name!r}: {crashed[0]}"
        for f in rr.findings:
            conf = [c.confidence for c in f.causes]
            assert all(0 < c <= 1 for c in conf), (f.rule, f.summary, f.causes)
            assert conf == sorted(conf, reverse=True), (f.rule, "causes not likeliest first", f.causes)
            assert all(c.cause in CAUSES for c in f.causes), (f.rule, f.causes)
            assert f.step_range[0] <= f.step_range[1], (f.rule, f.step_range)
        return rr

    with pytest.MonkeyPatch.context() as mp:  # session-wide: module fixtures that analyze runs are checked too
        mp.setattr(engine, "_run_rules", checked)
        yield
