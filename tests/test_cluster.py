"""A sweep on a Dask cluster reports exactly what one process reports, and a dying worker loses no run.

One LocalCluster (2 worker processes on 127.0.0.1, as `--dask local:2` starts it) serves the module;
the commands reach it by its address, as they would a remote scheduler's.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from distributed import Client
from distributed.diagnostics.plugin import WorkerPlugin

from loganalyze.cluster import cluster_map, parse_target, start_local
from loganalyze.engine import analyze

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k != "LOGANALYZE_DASK"}
    full.update({"PYTHONPATH": str(ROOT), **(env or {})})
    return subprocess.run([sys.executable, "-m", "loganalyze", *args], capture_output=True, text=True, cwd=ROOT,
                          env=full)


def _reports(logs: Path, tmp: Path, label: str, *how: str, env: dict | None = None) -> tuple[str, str]:
    """(JSON, HTML) of `loganalyze logs` run with `how`, after checking it exited as an analysis does."""
    j, h = tmp / f"{label}.json", tmp / f"{label}.html"
    r = _cli(str(logs), *how, "--json", str(j), "--html", str(h), "--format", "none", env=env)
    assert r.returncode in (0, 1), r.stderr
    return j.read_text(), h.read_text()


@pytest.fixture(scope="module")
def cluster():
    with start_local(2) as c, Client(c) as client:
        client.wait_for_workers(2, timeout=120)
        yield c, client


class KillWorkers(WorkerPlugin):
    """Kills the worker process (SIGKILL, as the OOM killer does) as a task starts executing on it.

    The first task to start anywhere is the victim: its key is written to `marker` (created once, with
    O_EXCL, so two workers cannot both claim it). With `again`, every later start of the victim kills
    its worker too; without, the victim runs normally once its worker has died once.
    """

    def __init__(self, marker: str, again: bool):
        self.marker, self.again = marker, again

    def transition(self, key, start, finish, **kwargs):
        if finish != "executing" or not str(key).startswith("loganalyze"):
            return
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            if not (self.again and Path(self.marker).read_text() == str(key)):
                return
        else:
            os.write(fd, str(key).encode())
            os.close(fd)
        os.kill(os.getpid(), signal.SIGKILL)


def _killing(client: Client, marker: Path, again: bool):
    name = f"kill-{marker.name}"
    client.register_plugin(KillWorkers(str(marker), again), name=name)
    return name


@pytest.fixture(scope="module")
def fixtures_one_process(tmp_path_factory) -> tuple[str, str]:
    """The fixtures' (JSON, HTML) reports from `-j 1`: what every sweep of them must write."""
    return _reports(FIXTURES, tmp_path_factory.mktemp("j1"), "j1", "-j", "1")


def test_local_cluster_writes_the_same_reports_as_one_process(fixtures_one_process, tmp_path):
    one = fixtures_one_process
    on_cluster = _reports(FIXTURES, tmp_path, "dask", "--dask", "local:2")
    assert json.loads(one[0])["summary"]["runs"] >= 8 and sum(json.loads(one[0])["summary"]["findings"].values()) > 0
    assert on_cluster == one


@pytest.mark.parametrize("which", ["realworld", "realworld_dev"])
def test_real_logs_on_a_cluster_give_the_same_reports(which, request, cluster, tmp_path):
    logs = request.getfixturevalue(which)
    address = cluster[0].scheduler_address
    one = _reports(logs, tmp_path, "j1", "-j", "1")
    if which == "realworld":
        on_cluster = _reports(logs, tmp_path, "dask", "--dask", address)
    else:  # the environment variable names the scheduler as well
        on_cluster = _reports(logs, tmp_path, "dask", env={"LOGANALYZE_DASK": address})
    assert json.loads(one[0])["summary"]["runs"] > 20
    assert on_cluster == one


def test_a_worker_killed_mid_task_loses_no_run(cluster, fixtures_one_process, tmp_path):
    _, client = cluster
    marker = tmp_path / "killed"
    name = _killing(client, marker, again=False)
    try:
        on_cluster = _reports(FIXTURES, tmp_path, "dask", "--dask", cluster[0].scheduler_address)
    finally:
        client.unregister_worker_plugin(name)
    assert marker.read_text().startswith("loganalyze")  # a worker did die, running a task of this sweep
    assert on_cluster == fixtures_one_process


def test_a_run_whose_worker_dies_twice_is_reported_and_the_others_go_on(cluster, fixtures_one_process, tmp_path):
    _, client = cluster
    one = json.loads(fixtures_one_process[0])
    name = _killing(client, tmp_path / "killed", again=True)
    try:
        r = _cli(str(FIXTURES), "--dask", cluster[0].scheduler_address, "--json", "-", "--format", "none")
    finally:
        client.unregister_worker_plugin(name)
    assert r.returncode == 1, r.stderr  # as for an unreadable log: an error finding
    got = json.loads(r.stdout)
    failed = [run for run in got["runs"] if any(p["kind"] == "task_failed" for p in run["problems"])]
    assert len(failed) == 1
    run = failed[0]
    assert "died on each of 2 tries" in run["problems"][0]["detail"]
    assert run["problems"][0]["file"] in run["sources"]
    assert [f["rule"] for f in run["findings"]] == ["IN003"] and run["findings"][0]["severity"] == "error"
    # the others as one process reports them; of the lost one, nothing was read: no superseded attempts either
    superseded = run["name"] + " [attempt "
    assert [x["name"] for x in got["runs"]] == [x["name"] for x in one["runs"] if not x["name"].startswith(superseded)]
    assert [x for x in got["runs"] if x is not run] == [x for x in one["runs"] if x["name"] != run["name"]
                                                         and not x["name"].startswith(superseded)]


def _half_but_three(item: tuple[int, str]) -> float:
    x, tries = item
    if x == 3:
        with open(tries, "a") as fh:
            fh.write("try\n")
        raise ValueError("three is not allowed")
    return x / 2


def test_a_task_that_raises_is_tried_twice_then_given_up_and_the_others_come_back(cluster, tmp_path):
    tries = str(tmp_path / "tries")
    got = list(cluster_map(cluster[0].scheduler_address, _half_but_three, [(x, tries) for x in range(6)],
                           lambda item, why: (item[0], why)))
    assert got[:3] == [0.0, 0.5, 1.0] and got[4:] == [2.0, 2.5]  # in the order of the items
    assert got[3] == (3, "not analyzed: it failed on the Dask cluster on each of 2 tries "
                         "(ValueError: three is not allowed)")
    assert Path(tries).read_text() == "try\n" * 2


def test_progress_counts_runs_done_of_total(cluster):
    calls = []
    report = analyze([FIXTURES], dask=cluster[0].scheduler_address, summarize=True,
                     progress=lambda stage, done, total: calls.append((stage, done, total)))
    n = len([rr for rr in report.runs if "[attempt " not in rr.run.name])  # experiments, as runs done / total counts them
    assert [c for c in calls if c[0] == "analyze"] == [("analyze", k, n) for k in range(1, n + 1)]
    local = analyze([FIXTURES], jobs=1, summarize=True)
    assert [rr.run.name for rr in report.runs] == [rr.run.name for rr in local.runs]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unusable_clusters_are_usage_errors(tmp_path):
    csv = FIXTURES / "memorization"
    r = _cli(str(csv), "--dask", "local:0")
    assert r.returncode == 2 and "whole number" in r.stderr
    r = _cli(str(csv), "--dask", "local:2", "-j", "2")
    assert r.returncode == 2 and "-j" in r.stderr
    address = f"tcp://127.0.0.1:{_free_port()}"  # nothing listens there
    r = _cli(str(csv), "--dask", address, env={"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s"})
    assert r.returncode == 2 and address in r.stderr and "cannot use this Dask scheduler" in r.stderr
    assert parse_target("local:3").workers == 3 and parse_target("tcp://h:8786").address == "tcp://h:8786"


NO_DASK = """
import sys
sys.modules["dask"] = sys.modules["distributed"] = None  # what an install without the extra sees: ImportError
sys.argv = ["loganalyze", *sys.argv[1:]]
from loganalyze.cli import main
main()
"""


def test_without_dask_the_error_names_the_extra():
    r = subprocess.run([sys.executable, "-c", NO_DASK, str(FIXTURES / "memorization"), "--dask", "local"],
                       capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 2 and "pip install 'loganalyze[dask]'" in r.stderr, r.stderr


LOADED = """
import sys
from loganalyze.cli import cli
for args in (["--help"], [sys.argv[1], "-j", "1", "--format", "none"]):
    try:
        cli.main(args, prog_name="loganalyze")
    except SystemExit:
        pass
print(sorted({m.split(".")[0] for m in sys.modules} & {"dask", "distributed", "tornado"}))
"""


def test_local_runs_and_help_never_import_dask():
    r = subprocess.run([sys.executable, "-c", LOADED, str(FIXTURES / "memorization")], capture_output=True, text=True,
                       cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[]"
