"""The real-log fixtures: skip when ../shared is missing on a laptop, fail when it is missing under CI."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

PROBE = '''
def test_uses_realworld(realworld):
    assert (realworld / "marker").is_file()


def test_uses_realworld_dev(realworld_dev):
    assert (realworld_dev / "marker").is_file()
'''


def run_probe(tmp_path: Path, shared: Path, ci: str | None) -> subprocess.CompletedProcess:
    """Run two tests that use the fixtures, in a fresh pytest with this conftest, CI set or unset."""
    suite = tmp_path / "suite"
    suite.mkdir(exist_ok=True)
    shutil.copy(HERE / "conftest.py", suite / "conftest.py")
    (suite / "test_probe.py").write_text(PROBE)
    (suite / "pytest.ini").write_text("[pytest]\n")
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "LOGANALYZE_SHARED", "PYTEST_ADDOPTS")}
    env["LOGANALYZE_SHARED"] = str(shared)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", "-rA", "-p", "no:cacheprovider", str(suite)],
                          cwd=suite, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("ci", ["1", "true"])
def test_missing_shared_fails_under_ci(tmp_path, ci):
    r = run_probe(tmp_path, tmp_path / "no-such-shared", ci)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "2 error" in out and "skipped" not in out, out
    assert "real-world logs not found at" in out and "real-world development logs not found at" in out
    assert "fails instead of skipping" in out


@pytest.mark.parametrize("ci", [None, "0", "false"])
def test_missing_shared_skips_outside_ci(tmp_path, ci):
    r = run_probe(tmp_path, tmp_path / "no-such-shared", ci)
    out = r.stdout + r.stderr
    assert r.returncode == 0 and "2 skipped" in out, out


def test_present_shared_is_used_under_ci(tmp_path):
    shared = tmp_path / "shared"
    for d in ("realworld", "realworld-dev"):
        (shared / d).mkdir(parents=True)
        (shared / d / "marker").write_text("")
    r = run_probe(tmp_path, shared, "1")
    out = r.stdout + r.stderr
    assert r.returncode == 0 and "2 passed" in out, out
