"""The command line end to end: real event files in, exit codes and outputs out."""
import json
import math
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

torch_tb = pytest.importorskip("torch.utils.tensorboard")


def write_run(path, values, tag="train/loss", lr=None):
    w = torch_tb.SummaryWriter(str(path))
    for step, v in enumerate(values):
        w.add_scalar(tag, v, step)
        if lr is not None:
            w.add_scalar("lr", lr, step)
    w.close()


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    """Two runs: a healthy converging loss, and one that turns NaN for good (an error)."""
    root = tmp_path_factory.mktemp("logs")
    rng = np.random.default_rng(0)
    steps = np.arange(400)
    healthy = 2.0 * np.exp(-steps / 120) + 0.1 + 0.01 * rng.standard_normal(400)
    broken = healthy.copy()
    broken[300:] = math.nan
    write_run(root / "healthy", healthy, lr=1e-3)
    write_run(root / "broken", broken, lr=1e-3)
    return root


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "loganalyze", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd)


def test_nan_run_fails_on_error_and_names_the_first_step(logs, tmp_path):
    r = run_cli(logs, "--json", tmp_path / "out.json", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    doc = json.loads((tmp_path / "out.json").read_text())
    assert doc["schema_version"] == 2
    runs = {run["name"]: run for run in doc["runs"]}
    assert set(runs) == {"broken", "healthy"}
    nf = [f for f in runs["broken"]["findings"] if f["family"] == "nonfinite"]
    assert nf and nf[0]["severity"] == "error" and nf[0]["step_range"][0] == 300
    assert not [f for f in runs["healthy"]["findings"] if f["severity"] in ("error", "warning")]
    series = {s["tag"]: s for s in runs["broken"]["series"]}
    assert series["train/loss"]["points"] == 400 and series["train/loss"]["nonfinite"] == 100
    assert "broken" in r.stdout and "NF001" in r.stdout


@pytest.mark.parametrize("level, code", [("error", 1), ("warning", 1), ("info", 1), ("never", 0)])
def test_fail_on_levels(logs, tmp_path, level, code):
    assert run_cli(logs / "broken", "--fail-on", level, cwd=tmp_path).returncode == code


def test_healthy_run_passes_at_warning(logs, tmp_path):
    r = run_cli(logs / "healthy", "--fail-on", "warning", cwd=tmp_path)
    assert r.returncode == 0, r.stdout


def test_ignore_turns_the_rule_off(logs, tmp_path):
    r = run_cli(logs / "broken", "--ignore", "nonfinite", "--select", "ALL", cwd=tmp_path)
    assert "NF001" not in r.stdout


def test_json_is_byte_identical_across_runs(logs, tmp_path):
    a = run_cli(logs, "--json", "-", cwd=tmp_path).stdout
    b = run_cli(logs, "--json", "-", cwd=tmp_path).stdout
    assert a == b and json.loads(a)["runs"]


def test_usage_errors_and_nothing_readable_exit_2(tmp_path):
    assert run_cli(cwd=tmp_path).returncode == 2
    assert run_cli(tmp_path / "missing", cwd=tmp_path).returncode == 2
    (tmp_path / "notes.txt").write_text("hello")
    empty = run_cli(tmp_path, cwd=tmp_path)
    assert empty.returncode == 2 and "no readable log" in empty.stderr
    assert run_cli(tmp_path, "--select", "NOPE", cwd=tmp_path).returncode == 2
    (tmp_path / "loganalyze.toml").write_text("selekt = []\n")
    bad = run_cli(tmp_path, cwd=tmp_path)
    assert bad.returncode == 2 and "loganalyze.toml" in bad.stderr and "selekt" in bad.stderr


def test_github_annotations_and_junit(logs, tmp_path):
    r = run_cli(logs, "--format", "github", "--junit", tmp_path / "j.xml", cwd=tmp_path)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("::")]
    assert any(ln.startswith("::error file=") and "NF001" in ln for ln in lines)
    root = ET.parse(tmp_path / "j.xml").getroot()
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {"broken", "healthy"}
    failed = [c.get("name") for c in suites["broken"].iter("testcase") if c.find("failure") is not None]
    assert any(name.startswith("NF001") for name in failed)
    assert int(suites["healthy"].get("failures")) == 0


def test_sarif_output(logs, tmp_path):
    run_cli(logs, "--sarif", tmp_path / "r.sarif", cwd=tmp_path)
    doc = json.loads((tmp_path / "r.sarif").read_text())
    results = doc["runs"][0]["results"]
    assert any(r["ruleId"] == "NF001" and r["level"] == "error" for r in results)


def test_rules_and_explain(tmp_path):
    listing = run_cli("rules", cwd=tmp_path)
    assert listing.returncode == 0 and "NF001" in listing.stdout and "PD001" in listing.stdout
    card = run_cli("explain", "epoch-periodicity", cwd=tmp_path)
    assert card.returncode == 0 and card.stdout.startswith("PD001 epoch-periodicity")
    assert run_cli("explain", "XX1", cwd=tmp_path).returncode == 2
