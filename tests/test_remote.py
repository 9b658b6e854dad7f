"""Logs where they live: a tree in S3 (a real S3 API on loopback: moto's server), single files over HTTP
(a local server answering range requests) and `file://` URLs give the same report as the local
paths, byte for byte apart from the source names; and each way a remote read fails is named, with
the URL, while the other runs and the records read before the failure are kept.

The optional packages (fsspec, s3fs, moto) are in the `test` extra: without them these tests skip,
except under CI, where a missing one is an error.
"""
from __future__ import annotations

import gzip
import importlib
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES, under_ci
from remote_servers import AWS_UNSET, CuttingProxy, RangeServer, aws_env, free_port

from loganalyze.config import Config
from loganalyze.engine import analyze
from loganalyze.ingest import discover, read_source
from loganalyze.report import jsonout

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "logs"


def need(module: str):
    """The module, or a skip when it is not installed (an error under CI, which installs the test extra)."""
    if under_ci():
        return importlib.import_module(module)
    return pytest.importorskip(module)


def report(*paths, jobs: int = 1) -> str:
    return jsonout.dumps(analyze([str(p) for p in paths], Config(), jobs=jobs, summarize=True, charts=False))


def as_remote(local_json: str, local: Path, url: str) -> str:
    """The local report with its source names written as the remote ones: nothing else may differ."""
    return local_json.replace(str(local), url.rstrip("/"))


def cli(*args: str, env: dict | None = None, block: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """`loganalyze ARGS` in a fresh process; `block` makes those modules impossible to import there."""
    code = ("import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in block)
            + "from loganalyze.cli import main\nsys.argv = ['loganalyze', *sys.argv[1:]]\nmain()\n")
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=300)


def copy_tree(src: Path, dst: Path, skip: tuple[str, ...] = ()) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(*skip) if skip else None)
    return dst


def gzip_file(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "rb") as fin, gzip.open(dst, "wb") as fout:
        shutil.copyfileobj(fin, fout)


def runs_of(doc: str) -> dict[str, dict]:
    return {r["name"]: r for r in json.loads(doc)["runs"]}


# ----------------------------------------------------------------------------------------------- S3


class S3:
    def __init__(self, endpoint: str, env: dict[str, str]):
        import boto3

        self.endpoint, self.env = endpoint, env
        self.client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                                   aws_access_key_id="testing", aws_secret_access_key="testing")
        self.client.create_bucket(Bucket=BUCKET)

    def upload(self, local: Path, prefix: str) -> str:
        """Every file under `local` to s3://logs/PREFIX/…; the URL of the prefix."""
        for path in sorted(local.rglob("*")):
            if path.is_file():
                self.client.upload_file(str(path), BUCKET, f"{prefix}/{path.relative_to(local).as_posix()}")
        return f"s3://{BUCKET}/{prefix}"

    def cli_env(self, **changes: str | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in AWS_UNSET}
        env.update(self.env)
        for k, v in changes.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        return env


def _fresh_s3fs() -> None:
    """fsspec keeps one S3 filesystem per set of arguments, with the credentials it started with."""
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture(scope="module")
def s3():
    need("fsspec")
    need("s3fs")
    need("boto3")
    moto_server = need("moto.server")
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    endpoint = f"http://127.0.0.1:{port}"
    env = aws_env(endpoint)
    with pytest.MonkeyPatch.context() as mp:
        for k in AWS_UNSET:
            mp.delenv(k, raising=False)
        for k, v in env.items():
            mp.setenv(k, v)
        _fresh_s3fs()
        try:
            yield S3(endpoint, env)
        finally:
            _fresh_s3fs()
            server.stop()


@pytest.mark.parametrize("tree", ["fixtures", "realworld", "realworld-dev"])
def test_s3_tree_gives_the_local_report(s3, tree, request):
    local = FIXTURES if tree == "fixtures" else request.getfixturevalue(tree.replace("-", "_"))
    url = s3.upload(local, tree)
    want = report(local)
    got = report(url, jobs=2)  # a pool of two: the workers open the objects themselves
    assert got == as_remote(want, local, url)
    names = list(runs_of(got))
    assert len(names) >= 8 and not any(n.startswith("s3:") for n in names)  # named relative to the argument
    assert str(local) not in got


def test_s3_keras_siblings_paired_and_names_relative(s3, realworld):
    case = realworld / "01_keras_tf2_rms10_spiky_val"
    url = s3.upload(case, "keras-pair")
    runs = runs_of(report(url))
    assert list(runs) == list(runs_of(report(case)))
    assert len(runs) == 1  # train/ and validation/ analyzed as one experiment, as for the local tree


def test_s3_single_object_is_one_run_named_by_its_url(s3, tmp_path):
    csv = next(FIXTURES.rglob("metrics.csv"))
    url = s3.upload(csv.parent, "single") + "/metrics.csv"
    assert report(url) == report(csv).replace(str(csv), url)
    assert list(runs_of(report(url))) == [url]


def test_s3_gzip_logs_read_through_the_same_layer(s3, tmp_path):
    local = tmp_path / "gz"
    csv = next(FIXTURES.rglob("metrics.csv"))
    events = next(FIXTURES.rglob("*tfevents*"))
    gzip_file(csv, local / "csvrun" / "metrics.csv.gz")
    gzip_file(events, local / "tbrun" / (events.name + ".gz"))
    url = s3.upload(local, "gz")
    got = report(url)
    assert got == as_remote(report(local), local, url)
    runs = runs_of(got)
    assert all(r["series"] for r in runs.values()) and len(runs) == 2


def _cut(src: Path, dst: Path, keep: float) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * keep)])


def test_s3_truncated_objects_keep_their_records(s3, tmp_path):
    local = tmp_path / "cut"
    events = next(FIXTURES.rglob("*tfevents*"))
    csv = next(FIXTURES.rglob("metrics.csv"))
    _cut(events, local / "tb" / events.name, 0.6)
    _cut(csv, local / "csv" / "metrics.csv", 0.6)
    gzip_file(csv, tmp_path / "whole.csv.gz")
    _cut(tmp_path / "whole.csv.gz", local / "gz" / "metrics.csv.gz", 0.7)
    url = s3.upload(local, "cut")
    got = report(url)
    assert got == as_remote(report(local), local, url)
    doc = json.loads(got)
    problems = [p for r in doc["runs"] for p in r["problems"]]
    cut = {p["file"] for p in problems if p["kind"] == "truncated_record"}
    assert f"{url}/tb/{events.name}" in cut and f"{url}/gz/metrics.csv.gz" in cut
    assert all(r["series"] for r in doc["runs"])  # every record before the cut was read


def test_s3_object_deleted_between_listing_and_reading(s3, tmp_path):
    local = copy_tree(FIXTURES / "healthy_mlp", tmp_path / "del")
    local_csv = copy_tree(next(FIXTURES.rglob("metrics.csv")).parent, tmp_path / "del" / "csvrun")
    url = s3.upload(local, "del")
    sources, problems = discover([url])
    assert not problems and len(sources) >= 2
    gone = next(s for s in sources if s.kind == "tfevents")
    for file in gone.files:
        s3.client.delete_object(Bucket=BUCKET, Key=file.removeprefix(f"s3://{BUCKET}/"))
    runs = {s.name: read_source(s) for s in sources}
    lost = runs[gone.name]
    assert not lost.series
    assert {p.kind for p in lost.problems} == {"not_found"}
    assert {p.file for p in lost.problems} == set(gone.files)
    assert all("deleted" in p.detail and p.file in p.detail for p in lost.problems)
    kept = runs["csvrun/metrics.csv"]
    local_run = read_source(discover([str(local_csv / "metrics.csv")])[0][0])
    assert kept.series.keys() == local_run.series.keys() and kept.series
    for tag, s in kept.series.items():
        assert s.step.tolist() == local_run.series[tag].step.tolist()


def test_s3_object_shrunk_between_listing_and_reading(s3, tmp_path):
    events = max(FIXTURES.rglob("*tfevents*"), key=lambda p: p.stat().st_size)
    url = s3.upload(events.parent, "shrunk")
    sources, _ = discover([url])
    data = events.read_bytes()
    half = data[: len(data) // 2]
    key = f"shrunk/{events.name}"
    s3.client.put_object(Bucket=BUCKET, Key=key, Body=half)  # rewritten shorter after the listing
    (tmp_path / events.name).write_bytes(half)
    run = read_source(next(s for s in sources if s.kind == "tfevents"))
    local = read_source(discover([str(tmp_path)])[0][0])
    assert run.series and run.series.keys() == local.series.keys()
    for tag, s in run.series.items():
        assert s.value.tolist() == local.series[tag].value.tolist()
    assert any(p.kind == "truncated_record" and p.file == f"s3://{BUCKET}/{key}" for p in run.problems)


def test_s3_network_cut_mid_file_keeps_what_was_read(s3, realworld, monkeypatch):
    """The connection to S3 dies in the middle of an event file's second window (a relay on loopback
    stops passing bytes): the records of the first window are kept, the failure is named, and the
    run beside it, read before the cut, is whole."""
    events = next((realworld / "18_torch_long_noisy_partial_plateau").glob("*tfevents*"))
    csv = next(FIXTURES.rglob("metrics.csv"))
    s3.client.upload_file(str(csv), BUCKET, "cut-net/a_csv/metrics.csv")
    s3.client.upload_file(str(events), BUCKET, f"cut-net/b_tb/{events.name}")
    proxy = CuttingProxy(int(s3.endpoint.rsplit(":", 1)[1]), budget=1_700_000)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    _fresh_s3fs()
    try:
        sources, problems = discover([f"s3://{BUCKET}/cut-net"])
        runs = {s.name: read_source(s) for s in sorted(sources, key=lambda s: s.kind)}  # the CSV first
    finally:
        proxy.stop()
        _fresh_s3fs()
    assert not problems and set(runs) == {"a_csv/metrics.csv", "b_tb"}
    broken, whole = runs["b_tb"], runs["a_csv/metrics.csv"]
    full = read_source(discover([str(events)])[0][0])
    got = sum(len(s.step) for s in broken.series.values())
    assert 0 < got < sum(len(s.step) for s in full.series.values())
    for tag, s in broken.series.items():
        assert s.step.tolist() == full.series[tag].step[: len(s.step)].tolist()
    url = f"s3://{BUCKET}/cut-net/b_tb/{events.name}"
    failed = [p for p in broken.problems if p.kind == "unreadable"]
    assert len(failed) == 1 and failed[0].file == url and "failed at byte" in failed[0].detail
    assert whole.series and not whole.problems


@pytest.fixture
def s3_reader(s3):
    """IAM credentials allowed to list the bucket and read it, except under `private/`, with moto checking
    every request from now on (the listing of a prefix fails moto's own signature check, so the tree is
    listed before the check starts: what the test needs is an object that cannot be read)."""
    from moto import settings

    iam = __import__("boto3").client("iam", endpoint_url=s3.endpoint, region_name="us-east-1",
                                     aws_access_key_id="testing", aws_secret_access_key="testing")
    try:
        iam.create_user(UserName="reader")
    except iam.exceptions.EntityAlreadyExistsException:
        pass
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    iam.put_user_policy(UserName="reader", PolicyName="read-but-private", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetObject"],
             "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]},
            {"Effect": "Deny", "Action": ["s3:GetObject"], "Resource": [f"arn:aws:s3:::{BUCKET}/denied/private/*"]}]}))
    creds = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}

    def check_from_now(mp: pytest.MonkeyPatch) -> None:
        mp.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)

    with pytest.MonkeyPatch.context() as mp:
        for k, v in creds.items():
            mp.setenv(k, v)
        _fresh_s3fs()
        try:
            yield creds, lambda: check_from_now(mp)
        finally:
            mp.undo()
            _fresh_s3fs()


def test_s3_access_denied_object_is_named_and_the_others_read(s3, s3_reader, tmp_path):
    creds, check_from_now = s3_reader
    csv = next(FIXTURES.rglob("metrics.csv"))
    gzip_file(csv, tmp_path / "denied" / "private" / "metrics.csv.gz")
    shutil.copy(csv, tmp_path / "denied" / "metrics.csv")
    url = s3.upload(tmp_path / "denied", "denied")
    sources, _ = discover([url])
    check_from_now()
    runs = {s.name: read_source(s) for s in sources}
    denied = runs["private/metrics.csv.gz"]
    assert not denied.series
    (p,) = denied.problems
    assert p.file == f"{url}/private/metrics.csv.gz" and p.file in p.detail and "access denied" in p.detail
    assert runs["metrics.csv"].series  # the run beside it is read


def test_s3_access_denied_at_the_root_exits_2(s3, s3_reader, tmp_path):
    creds, check_from_now = s3_reader
    csv = next(FIXTURES.rglob("metrics.csv"))
    shutil.copy(csv, tmp_path / "metrics.csv")
    url = s3.upload(tmp_path, "denied/private") + "/metrics.csv"
    check_from_now()
    r = cli(url, env=s3.cli_env(**creds))
    assert r.returncode == 2, r.stderr
    assert url in r.stderr and "access denied" in r.stderr and "Traceback" not in r.stderr
    wrong = cli(url, env=s3.cli_env(AWS_SECRET_ACCESS_KEY="not-the-secret", AWS_ACCESS_KEY_ID=creds["AWS_ACCESS_KEY_ID"]))
    assert wrong.returncode == 2 and url in wrong.stderr and "access denied" in wrong.stderr


def test_s3_missing_bucket_exits_2_even_beside_a_valid_path(s3):
    url = "s3://no-such-bucket/runs/"
    for args in ([url], [url, str(FIXTURES / "healthy_mlp")]):
        r = cli(*args, "--format", "none", env=s3.cli_env())
        assert r.returncode == 2, r.stderr
        assert url in r.stderr and "bucket does not exist" in r.stderr and "Traceback" not in r.stderr


def test_s3_missing_prefix_exits_2(s3):
    s3.upload(FIXTURES / "healthy_mlp", "present")
    r = cli(f"s3://{BUCKET}/absent/", env=s3.cli_env())
    assert r.returncode == 2 and f"s3://{BUCKET}/absent/" in r.stderr and "not found" in r.stderr


def test_s3_no_credentials_exits_2(s3):
    url = s3.upload(FIXTURES / "healthy_mlp", "nocreds")
    r = cli(url, env=s3.cli_env(AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None))
    assert r.returncode == 2, r.stderr
    assert url in r.stderr and "no credentials" in r.stderr and "Traceback" not in r.stderr


def test_s3_cli_writes_the_local_reports(s3, tmp_path):
    local = copy_tree(FIXTURES / "lr_too_high", tmp_path / "runs" / "lr_too_high").parent
    url = s3.upload(local, "cli")
    r = cli(url + "/", "--json", str(tmp_path / "r.json"), "--html", str(tmp_path / "r.html"), "--fail-on", "never",
            env=s3.cli_env())
    assert r.returncode == 0, r.stderr
    mine = cli(str(local), "--json", str(tmp_path / "l.json"), "--fail-on", "never")
    assert mine.returncode == 0
    assert (tmp_path / "r.json").read_text() == as_remote((tmp_path / "l.json").read_text(), local, url)
    assert (tmp_path / "r.html").stat().st_size > 10_000


# ------------------------------------------------------------------------------- backends, imports


def test_missing_backend_names_the_extra(tmp_path):
    need("fsspec")
    for url, blocked, extra in (("s3://bucket/runs/", ("s3fs",), "loganalyze[s3]"),
                                ("gs://bucket/runs/", ("gcsfs",), "loganalyze[gcs]"),
                                ("s3://bucket/runs/", ("fsspec",), "loganalyze[s3]"),
                                ("https://example.invalid/metrics.csv", ("fsspec",), "loganalyze[remote]")):
        r = cli(url, block=blocked)
        assert r.returncode == 2, (url, r.stderr)
        assert extra in r.stderr and url in r.stderr and "Traceback" not in r.stderr


def test_local_paths_do_not_import_fsspec():
    code = ("import sys\nfrom loganalyze.cli import main\nsys.argv = ['loganalyze', *sys.argv[1:]]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\nprint('fsspec' in sys.modules, file=sys.stderr)\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for args in (["--help"], [str(FIXTURES / "healthy_mlp"), "--format", "none"]):
        r = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=120)
        assert r.stderr.strip().splitlines()[-1] == "False", r.stderr


def test_file_url_gives_the_local_report():
    need("fsspec")
    url = FIXTURES.as_uri()
    assert report(url) == as_remote(report(FIXTURES), FIXTURES, url)


# --------------------------------------------------------------------------------------------- HTTP


@pytest.fixture
def http(tmp_path):
    need("fsspec")
    need("aiohttp")
    root = tmp_path / "www"
    root.mkdir()
    server = RangeServer(root)
    yield server
    server.stop()


def test_http_single_files_give_the_local_report(http):
    csv = next(FIXTURES.rglob("metrics.csv"))
    events = next(FIXTURES.rglob("*tfevents*"))
    shutil.copy(csv, http.root / "metrics.csv")
    shutil.copy(events, http.root / events.name)
    gzip_file(csv, http.root / "metrics.csv.gz")
    for name in ("metrics.csv", events.name, "metrics.csv.gz"):
        url = f"{http.url}/{name}"
        assert report(url) == report(http.root / name).replace(str(http.root / name), url)
        assert runs_of(report(url))[url]["series"]


def test_http_event_file_read_in_windows_by_range_requests(http, realworld):
    events = next((realworld / "18_torch_long_noisy_partial_plateau").glob("*tfevents*"))
    shutil.copy(events, http.root / events.name)
    size = events.stat().st_size
    url = f"{http.url}/{events.name}"
    assert report(url) == report(http.root / events.name).replace(str(http.root / events.name), url)
    gets = [g for g in http.served.gets if g[0] == f"/{events.name}"]
    assert len(gets) >= 2 and all(rng for _, rng, _ in gets)  # every GET a range, never the whole file at once
    assert max(n for _, _, n in gets) <= 2 * (1 << 20) + 64 < size
    assert size <= sum(n for _, _, n in gets) < 1.5 * size  # each byte fetched about once


def test_http_network_failure_mid_file_keeps_what_was_read(http, realworld, tmp_path):
    events = next((realworld / "18_torch_long_noisy_partial_plateau").glob("*tfevents*"))
    csv = next(FIXTURES.rglob("metrics.csv"))
    shutil.copy(events, http.root / events.name)
    shutil.copy(csv, http.root / "metrics.csv")
    http.served.drop_from = 1 << 20  # the connection drops for any range from 1 MiB on
    url = f"{http.url}/{events.name}"
    result = analyze([url, f"{http.url}/metrics.csv"], Config(), jobs=1)
    runs = {rr.run.name: rr.run for rr in result.runs}
    broken, whole = runs[url], runs[f"{http.url}/metrics.csv"]
    full = read_source(discover([str(events)])[0][0])
    got = sum(len(s.step) for s in broken.series.values())
    assert 0 < got < sum(len(s.step) for s in full.series.values())  # the records before the failure are kept
    for tag, s in broken.series.items():
        assert s.step.tolist() == full.series[tag].step[: len(s.step)].tolist()
    failed = [p for p in broken.problems if p.kind == "unreadable"]
    assert len(failed) == 1 and failed[0].file == url and url in failed[0].detail and "failed at byte" in failed[0].detail
    assert whole.series and not whole.problems  # the other run goes on


def test_http_server_without_ranges_is_streamed_once(http, realworld):
    """`python -m http.server` ignores Range: the file is then streamed once to a temporary file."""
    events = next((realworld / "18_torch_long_noisy_partial_plateau").glob("*tfevents*"))
    shutil.copy(events, http.root / events.name)
    http.served.ranges = False
    url = f"{http.url}/{events.name}"
    got = report(url)
    assert got == report(http.root / events.name).replace(str(http.root / events.name), url)
    assert not runs_of(got)[url]["problems"]
