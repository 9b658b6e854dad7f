"""The command line at its edges: odd file names, unwritable outputs, typos, Ctrl-C, and a summary
that reads like a linter's. Real logs (CSV, and event files from tensorboardX's SummaryWriter),
the real `python -m loganalyze` in a subprocess."""
from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"


def run_cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "loganalyze", *map(os.fsdecode, args)], capture_output=True,
                          cwd=cwd, env=env)


def out(r) -> str:
    return r.stdout.decode("utf-8")


def err(r) -> str:
    return r.stderr.decode("utf-8")


def write_csv(path: Path | bytes, loss, val=None) -> None:
    """A generic step log: step,train_loss[,val_loss]."""
    rows = ["step,train_loss" + (",val_loss" if val is not None else "")]
    for i, v in enumerate(loss):
        rows.append(f"{i},{v!r}" + (f",{val[i]!r}" if val is not None else ""))
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(rows) + "\n")


def decaying(n=300, seed=0):
    rng = np.random.default_rng(seed)
    steps = np.arange(n)
    return (2.0 * np.exp(-steps / 80) + 0.1 + 0.01 * rng.standard_normal(n)).tolist()


def write_events(logdir: Path, steps, values, tag="train/loss") -> Path:
    from tensorboardX import SummaryWriter

    before = set(logdir.glob("events.out.tfevents.*")) if logdir.exists() else set()
    w = SummaryWriter(str(logdir))
    for s, v in zip(steps, values):
        w.add_scalar(tag, v, s)
    w.close()
    (new,) = set(logdir.glob("events.out.tfevents.*")) - before
    return new


# ---- names of any bytes ----------------------------------------------------------------------------

ODD = b"run\xff\x1b[31mred\x07"  # not UTF-8, an ANSI escape, a bell


def test_a_non_utf8_name_with_control_characters_survives_every_output(tmp_path):
    logs = tmp_path / "logs"
    odd_dir = os.path.join(os.fsencode(logs), ODD)
    os.makedirs(odd_dir)
    loss = decaying()
    loss[250:] = [float("nan")] * 50
    write_csv(os.path.join(odd_dir, b"metrics\xfe.csv"), loss)

    r = run_cli("logs", "--json", "r.json", "--html", "r.html", "--junit", "r.xml", "--sarif", "r.sarif", cwd=tmp_path)
    assert r.returncode == 1, err(r)  # the NaN is an error finding: the analysis ran to the end
    assert b"Traceback" not in r.stderr

    doc = json.loads((tmp_path / "r.json").read_bytes())
    (run,) = doc["runs"]
    assert os.fsencode(run["name"]) == ODD + b"/metrics\xfe.csv"  # the bytes come back exactly
    assert os.fsencode(run["sources"][0]).endswith(ODD + b"/metrics\xfe.csv")

    shown = "run\\xff\\x1b[31mred\\x07/metrics\\xfe.csv"
    for name in ("r.html", "r.xml"):
        text = (tmp_path / name).read_bytes().decode("utf-8")  # valid UTF-8
        assert shown in text and "\x1b" not in text and "\x07" not in text
    suites = ET.parse(tmp_path / "r.xml").getroot()
    assert [s.get("name") for s in suites.iter("testsuite")] == [shown]

    sarif = json.loads((tmp_path / "r.sarif").read_bytes())
    uris = {res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            for res in sarif["runs"][0]["results"]}
    assert uris == {"logs/run%FF%1B%5B31mred%07/metrics%FE.csv"}

    terminal = out(r)
    assert shown in terminal and "\x1b" not in terminal and "\x07" not in terminal

    gh = run_cli(logs, "--format", "github", "--json", "-", cwd=tmp_path)
    assert gh.returncode == 1 and b"\x1b" not in gh.stdout
    gh.stdout.decode("utf-8")


# ---- atomic writes ---------------------------------------------------------------------------------

def test_a_report_replaces_the_old_one_whole_and_keeps_its_mode(tmp_path):
    from loganalyze.report._write import write_text

    target = tmp_path / "report.json"
    target.write_text("old " * 1000)
    os.chmod(target, 0o640)
    write_text(target, "new\n")
    assert target.read_text() == "new\n"
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]  # no temporary file left


def test_a_write_that_fails_before_the_rename_leaves_the_old_report(tmp_path, monkeypatch):
    """A crash between writing and renaming (here: the rename itself fails) loses nothing."""
    from loganalyze.report import _write

    target = tmp_path / "report.html"
    target.write_text("the previous report")

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_write.os, "replace", failing_replace)
    with pytest.raises(OSError):
        _write.write_text(target, "<html>new</html>")
    assert target.read_text() == "the previous report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


# ---- errors caught before the analysis --------------------------------------------------------------

@pytest.fixture(scope="module")
def one_log(tmp_path_factory):
    d = tmp_path_factory.mktemp("one")
    write_csv(d / "metrics.csv", decaying(), [v * 1.1 for v in decaying(seed=1)])
    return d


@pytest.mark.parametrize("option", ["--json", "--html", "--junit", "--sarif"])
def test_an_output_in_a_missing_directory_is_exit_2_before_the_analysis(one_log, tmp_path, option):
    r = run_cli(one_log, option, tmp_path / "no" / "such" / "dir" / "out", cwd=tmp_path)
    assert r.returncode == 2
    assert option in err(r) and "does not exist" in err(r) and "Traceback" not in err(r)
    assert out(r) == ""  # nothing analyzed, nothing printed


def test_an_output_that_is_a_directory_is_exit_2(one_log, tmp_path):
    (tmp_path / "out").mkdir()
    r = run_cli(one_log, "--html", tmp_path / "out", cwd=tmp_path)
    assert r.returncode == 2 and "is a directory" in err(r) and out(r) == ""


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only directory")
def test_an_output_in_a_read_only_directory_is_exit_2(one_log, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o555)
    try:
        r = run_cli(one_log, "--json", ro / "r.json", cwd=tmp_path)
    finally:
        os.chmod(ro, 0o755)
    assert r.returncode == 2 and "not writable" in err(r)


def test_a_mistyped_path_next_to_a_valid_one_is_exit_2(one_log, tmp_path):
    r = run_cli(one_log, tmp_path / "typo", cwd=tmp_path)
    assert r.returncode == 2
    assert "no such file or directory" in err(r) and "typo" in err(r) and out(r) == ""


def test_a_fifo_named_next_to_a_valid_path_is_exit_2_after_the_others_are_analyzed(one_log, tmp_path):
    os.mkfifo(tmp_path / "metrics.csv")
    r = run_cli(one_log, tmp_path / "metrics.csv", "--json", tmp_path / "r.json", cwd=tmp_path)
    assert r.returncode == 2
    assert "not a regular file" in err(r) and "metrics.csv (a FIFO (named pipe))" in err(r)
    report = json.loads((tmp_path / "r.json").read_text())
    assert [run["sources"] for run in report["runs"]] == [[str(f)] for f in sorted(Path(one_log).rglob("*")) if f.is_file()]
    assert all(s["points"] for run in report["runs"] for s in run["series"])


def test_a_role_naming_no_tag_is_exit_2_and_names_the_runs(one_log, tmp_path):
    (tmp_path / "loganalyze.toml").write_text('[roles]\ntrain_loss = "train_los"\n')
    r = run_cli(one_log, cwd=tmp_path)
    assert r.returncode == 2, out(r)
    message = err(r)
    assert "roles.train_loss = 'train_los'" in message and "no run has" in message
    assert "metrics.csv" in message and "'train_loss'" in message  # the run lacking it, and the nearest tag
    assert "internal error" not in out(r) + message


def test_a_role_only_some_runs_lack_is_a_note_on_those_runs(tmp_path):
    write_csv(tmp_path / "a.csv", decaying(), decaying(seed=2))
    (tmp_path / "b.csv").write_text("step,objective\n" + "".join(f"{i},{v!r}\n" for i, v in enumerate(decaying())))
    (tmp_path / "loganalyze.toml").write_text('[roles]\ntrain_loss = "objective"\n')
    r = run_cli(tmp_path / "a.csv", tmp_path / "b.csv", "--json", "-", cwd=tmp_path)
    assert r.returncode in (0, 1), err(r)
    runs = {Path(x["name"]).name: x for x in json.loads(r.stdout)["runs"]}
    assert runs["b.csv"]["roles"]["train_loss"] == "objective"
    assert any("roles.train_loss = 'objective' is not a tag of this run" in n for n in runs["a.csv"]["notes"])
    assert runs["a.csv"]["roles"]["train_loss"] == "train_loss"  # inferred instead
    assert not any("internal error" in n for x in runs.values() for n in x["notes"])


@pytest.mark.parametrize("table, words", [
    ("[rules.PD001]\nbins = 0\n", "rules.PD001.bins = 0 is out of range: it must lie in [2, inf)"),
    ("[rules.epoch-periodicity]\nmin_epochs = -5\n", "rules.epoch-periodicity.min_epochs = -5 is out of range"),
    ("[rules.SP001]\nmin_range_fraction = 1.5\n", "must lie in [0, 1]"),
    ("[rules.DV001]\nchance_classes = [1, 10]\n", "holds 1, out of range"),
])
def test_an_out_of_range_parameter_is_exit_2(one_log, tmp_path, table, words):
    (tmp_path / "loganalyze.toml").write_text(table)
    r = run_cli(one_log, cwd=tmp_path)
    assert r.returncode == 2 and words in err(r) and "loganalyze.toml" in err(r)
    assert out(r) == ""


@pytest.mark.parametrize("name", ["pyproject.toml", "loganalyze.toml"])
def test_a_broken_config_of_either_kind_is_exit_2(one_log, tmp_path, name):
    (tmp_path / name).write_text('[tool.loganalyze\nfail_on = "warning"\n')
    r = run_cli(one_log, cwd=tmp_path)
    assert r.returncode == 2 and name in err(r) and "not valid TOML" in err(r)


# ---- annotations at the damaged file ----------------------------------------------------------------

def test_annotations_of_a_damaged_file_point_at_it_not_at_the_runs_first_file(tmp_path):
    run = tmp_path / "run"
    first = write_events(run, range(0, 100), decaying(100))
    time.sleep(1.1)  # event file names carry the second they were opened
    second = write_events(run, range(100, 200), decaying(100, seed=3))
    assert sorted([first, second])[0] == first
    data = second.read_bytes()
    second.write_bytes(data[:-7])  # the writer "crashed" mid-record
    r = run_cli(run, "--format", "github", "--sarif", tmp_path / "r.sarif", "--fail-on", "never", cwd=tmp_path)
    assert r.returncode == 0, err(r)
    (line,) = [ln for ln in out(r).splitlines() if "IN003" in ln]
    assert f"file={second}".replace(":", "%3A").replace(",", "%2C") in line
    assert "Likely cause: unknown" not in line
    sarif = json.loads((tmp_path / "r.sarif").read_text())
    (res,) = [x for x in sarif["runs"][0]["results"] if x["ruleId"] == "IN003"]
    assert res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith(second.name)


def test_a_finding_points_at_the_event_file_that_logged_its_steps(tmp_path):
    run = tmp_path / "resumed"
    first = write_events(run, range(0, 300), decaying(300))
    time.sleep(1.1)  # event file names carry the second they were opened
    later = decaying(300, seed=2)
    later[150:] = [float("nan")] * 150  # steps 450-599: the loss is NaN
    second = write_events(run, range(300, 600), later)
    assert sorted([first, second])[0] == first
    r = run_cli(run, "--format", "github", "--sarif", tmp_path / "r.sarif", "--fail-on", "never", cwd=tmp_path)
    assert r.returncode == 0, err(r)
    lines = [ln for ln in out(r).splitlines() if "NF001" in ln]
    assert lines and all(f"file={second}".replace(":", "%3A").replace(",", "%2C") in ln for ln in lines), out(r)
    sarif = json.loads((tmp_path / "r.sarif").read_text())
    results = [x for x in sarif["runs"][0]["results"] if x["ruleId"] == "NF001"]
    assert results and all(x["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith(second.name)
                           for x in results)


# ---- the terminal summary ---------------------------------------------------------------------------

def test_repeated_step_rewinds_are_one_finding_or_one_line_with_a_count(tmp_path):
    run = tmp_path / "resumed"
    steps, values = [], []
    for restart in range(6):  # six resumes, each going back 20 steps
        lo = restart * 80
        steps += list(range(lo, lo + 100))
        values += decaying(100, seed=restart)
    write_events(run, steps, values)
    r = run_cli(run, "--fail-on", "never", cwd=tmp_path)
    text = out(r)
    assert text.count("IN001 step-rewind") == 1 and "! step_rewind" not in text
    assert "goes back 5 time(s)" in text

    ignored = run_cli(run, "--ignore", "IN001", "--fail-on", "never", cwd=tmp_path)
    (line,) = [ln for ln in out(ignored).splitlines() if ln.startswith("  !")]
    assert line.startswith("  ! step_rewind ×5: the step goes back")


def test_integrity_findings_show_no_unknown_cause_and_an_empty_run_no_noise(tmp_path):
    lfs = tmp_path / "runs" / "a"
    lfs.mkdir(parents=True)
    for i in range(2):
        (lfs / f"events.out.tfevents.16723758{i}.host.1.{i}").write_text(
            "version https://git-lfs.github.com/spec/v1\noid sha256:" + "ab" * 32 + "\nsize 4242\n")
    write_csv(tmp_path / "runs" / "ok.csv", decaying(), decaying(seed=5))
    r = run_cli(tmp_path / "runs", "--fail-on", "never", cwd=tmp_path)
    text = out(r)
    assert "likely cause: unknown" not in text and "(50%)" not in text
    assert "epoch axis unknown" not in text.split("ok.csv")[0]  # the empty run's block says nothing of epochs
    assert "steps -" not in text and "0 tags" not in text
    assert "a  [tfevents]  no readable points" in text
    assert text.count("Git LFS pointer") == 1 and "IN003 corrupt-log ×2" in text


def test_a_loss_pinned_at_a_quarter_is_not_named_twice_and_a_nan_from_the_start_has_no_steady_past(tmp_path):
    rng = np.random.default_rng(0)
    write_csv(tmp_path / "pinned.csv", (0.25 + 0.0005 * rng.standard_normal(200)).tolist())
    nan_first = decaying(200)
    nan_first[:] = [float("nan")] * 3 + nan_first[3:]
    nan_first[150:] = [float("nan")] * 50
    write_csv(tmp_path / "nan.csv", nan_first)
    text = out(run_cli(tmp_path / "pinned.csv", tmp_path / "nan.csv", "--fail-on", "never", cwd=tmp_path))
    assert "pinned at 0.25 (MSE of always predicting 0.5" in text and "0.25 = 0.25" not in text
    assert "steady before step 0" not in text
    assert "non-finite from the first logged point (step 0)" in " ".join(text.split())


def test_paths_are_never_wrapped_mid_name(tmp_path):
    deep = tmp_path / ("very-long-directory-name-with-hyphens-" * 3) / "and a space in it" / "run"
    first = write_events(deep, range(50), decaying(50))
    first.write_bytes(first.read_bytes()[:-5])
    r = run_cli(deep, "--fail-on", "never", cwd=tmp_path)
    assert any(str(first) in line for line in out(r).splitlines()), out(r)


def test_a_lightning_csv_twin_is_labelled_as_the_same_run():
    r = subprocess.run([sys.executable, "-m", "loganalyze", "fixtures/bce_nan", "fixtures/healthy_mlp", "--fail-on",
                        "never"], capture_output=True, text=True, cwd=REPO)
    lines = r.stdout.splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.startswith("fixtures/bce_nan/csv/metrics.csv"))
    assert lines[i + 1] == "  same run as fixtures/bce_nan: its csv twin, with the same findings"
    assert r.stdout.count("NF001") == 1  # the twin's finding is not printed a second time
    assert "4 run(s) (2 of them a CSV twin of an event-file run)" in r.stdout


# ---- a subcommand that shadows a directory ----------------------------------------------------------

def test_a_directory_named_like_a_command_gets_the_remedy(tmp_path):
    (tmp_path / "rules").mkdir()
    write_csv(tmp_path / "rules" / "metrics.csv", decaying(), decaying(seed=1))
    listing = run_cli("rules", cwd=tmp_path)
    assert listing.returncode == 0 and "NF001" in out(listing)
    assert "`loganalyze analyze rules/`" in err(listing)
    analyzed = run_cli("analyze", "rules/", cwd=tmp_path)
    assert analyzed.returncode == 0 and "metrics.csv  [csv]" in out(analyzed)
    helptext = out(run_cli("--help", cwd=tmp_path))
    assert "loganalyze analyze train/" in " ".join(helptext.split())
    assert "loganalyze analyze train/" in " ".join(out(run_cli("analyze", "--help", cwd=tmp_path)).split())


# ---- progress on a terminal, and Ctrl-C --------------------------------------------------------------

@pytest.fixture(scope="module")
def many_runs(tmp_path_factory):
    """Enough CSV runs that analyzing them on one process takes several seconds."""
    d = tmp_path_factory.mktemp("many")
    rng = np.random.default_rng(0)
    steps = np.arange(2000)
    for i in range(80):
        loss = 2 * np.exp(-steps / 500) + 0.1 + 0.02 * rng.standard_normal(len(steps))
        np.savetxt(d / f"run{i:03d}.csv", np.c_[steps, loss, loss * 1.1], delimiter=",",
                   header="step,train_loss,val_loss", comments="", fmt=["%d", "%.6f", "%.6f"])
    return d


def test_progress_and_ctrl_c_on_a_terminal(many_runs, tmp_path):
    """On a terminal, long work shows `N/M files read` / `runs analyzed` on stderr; Ctrl-C then exits
    130 and leaves no report, whole or half."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "loganalyze", str(many_runs), "-j", "1", "--json",
                             str(tmp_path / "r.json")], stdin=slave, stdout=subprocess.DEVNULL, stderr=slave,
                            cwd=tmp_path, env=env)
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 120
    while b"files read" not in seen and b"runs analyzed" not in seen and time.monotonic() < deadline:
        if select.select([master], [], [], 0.5)[0]:
            try:
                seen += os.read(master, 4096)
            except OSError:
                break
        if proc.poll() is not None:
            break
    assert proc.poll() is None, f"finished before showing progress: {seen!r}"
    assert b"/80 " in seen or b"/160 " in seen
    proc.send_signal(signal.SIGINT)
    rc = proc.wait(60)
    try:
        while select.select([master], [], [], 0.2)[0]:
            seen += os.read(master, 4096)
    except OSError:
        pass
    os.close(master)
    assert rc == 130, seen
    assert b"interrupted" in seen and b"Traceback" not in seen
    assert list(tmp_path.iterdir()) == []  # no report, no temporary file


def test_no_progress_when_stderr_is_not_a_terminal(many_runs, tmp_path):
    r = run_cli(many_runs, "-j", "1", "--format", "none", "--fail-on", "never", cwd=tmp_path)
    assert r.returncode == 0 and r.stderr == b""


def test_progress_line_is_rewritten_in_place_and_cleared():
    import io

    from loganalyze.cliutil import Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    term = Terminal()
    p = Progress(term, delay=0, interval=0)
    p("read", 5, 10)
    p("analyze", 10, 10)
    p.close()
    shown = term.getvalue()
    assert "\rloganalyze: 5/10 files read" in shown and "\rloganalyze: 10/10 runs analyzed" in shown
    assert shown.endswith("\r") and "\n" not in shown

    quiet = Progress(io.StringIO(), delay=0)
    quiet("read", 1, 1)
    quiet.close()
    assert quiet.stream.getvalue() == ""


def test_analyze_reports_files_read_and_runs_analyzed_to_its_progress_callback(tmp_path):
    from loganalyze.engine import analyze

    for i in range(3):
        write_csv(tmp_path / f"r{i}.csv", decaying(seed=i))
    write_events(tmp_path / "ev", range(50), decaying(50))
    calls = []
    report = analyze([tmp_path], jobs=1, progress=lambda *a: calls.append(a))
    reads = [c for c in calls if c[0] == "read"]
    runs = [c for c in calls if c[0] == "analyze"]
    assert reads[-1] == ("read", 4, 4) and [c[1] for c in reads] == sorted(c[1] for c in reads)
    assert runs == [("analyze", k, 4) for k in range(1, 5)] and len(report.runs) == 4


def test_two_outputs_naming_one_file_is_exit_2(one_log, tmp_path):
    r = run_cli(one_log, "--json", "same.out", "--sarif", "./same.out", cwd=tmp_path)
    assert r.returncode == 2 and "--sarif and --json name the same file" in err(r) and out(r) == ""


def test_the_trainer_reports_each_epoch_as_it_ends(tmp_path):
    """What `loganalyze train` shows on a terminal (`N/M epochs of SCENARIO`), from a tiny real run."""
    pytest.importorskip("torch")
    from loganalyze.trainer.core import Context, pick_device
    from loganalyze.trainer.scenarios import run_scenario

    seen = []
    ctx = Context(tmp_path / "lr_sane", pick_device("cpu"), scale=0.05, epochs=2, csv=False,
                  on_epoch=lambda done, total, loss, seconds: seen.append((done, total, loss > 0, seconds >= 0)))
    run_scenario("lr_sane", ctx)
    assert seen == [(1, 2, True, True), (2, 2, True, True)]


def test_identical_repeats_that_in002_lets_pass_are_not_printed_unless_verbose(tmp_path):
    """Lightning logs `epoch` again with each validation at a step that has it already: IN002 judges
    identical repeats harmless; the summary stays quiet about them, `-v` lists them."""
    from tensorboardX import SummaryWriter

    w = SummaryWriter(str(tmp_path / "run"))
    for i, v in enumerate(decaying(200)):
        w.add_scalar("train/loss", v, i)
        w.add_scalar("epoch", i // 20, i)
        if i % 20 == 19:
            w.add_scalar("val/loss", v * 1.2, i)
            w.add_scalar("epoch", i // 20, i)
    w.close()
    quiet = out(run_cli(tmp_path / "run", "--fail-on", "never", cwd=tmp_path))
    loud = out(run_cli(tmp_path / "run", "--fail-on", "never", "-v", cwd=tmp_path))
    assert "duplicate_steps" not in quiet and "IN002" not in quiet
    assert "  ! duplicate_steps: 'epoch' has 10 point(s)" in loud
