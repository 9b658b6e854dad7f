"""Hostile input, every byte of it generated here: special files, sparse files, bad rows, odd encodings,
compressed logs, LFS pointers, deep nesting, truncation at every offset of a real event file, bit flips.

Each case runs alone and all together next to a valid run. For each: the exit code, no traceback, no
warning (warnings are errors here, and the all-together run is a real `python -W error` process), the
valid run's points all kept, every valid row of the damaged file kept, the problem named with its file.
"""
import gzip
import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from loganalyze.cli import cli
from loganalyze.ingest import load

torch_tb = pytest.importorskip("torch.utils.tensorboard")

pytestmark = pytest.mark.filterwarnings("error")

LFS = "version https://git-lfs.github.com/spec/v1\noid sha256:{}\nsize 123456\n".format("ab" * 32)


@dataclass
class Expect:
    """What the damaged file must give: the problem (kind, file), and the points kept per tag."""

    file: Path
    kind: str | None
    points: dict[str, int] = field(default_factory=dict)


def csv_text(n: int = 20, end: str = "\n") -> str:
    return end.join(["step,loss"] + [f"{i},{1 / (i + 1)}" for i in range(n)]) + end


def jsonl_text(n: int = 20) -> str:
    return "".join(json.dumps({"step": i, "loss": 1 / (i + 1)}) + "\n" for i in range(n))


def event_bytes(tmp: Path, n: int = 8) -> bytes:
    w = torch_tb.SummaryWriter(str(tmp))
    for i in range(n):
        w.add_scalar("loss", 1 / (i + 1), i)
    w.close()
    (f,) = tmp.glob("events.out.tfevents.*")
    data = f.read_bytes()
    f.unlink()
    tmp.rmdir()
    return data


def sparse(path: Path, head: bytes, size: int) -> None:
    path.write_bytes(head)
    with open(path, "r+b") as fh:
        fh.truncate(size)


CASES = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


@case
def fifo_named_like_an_event_file(d):
    os.mkfifo(d / "events.out.tfevents.1700000000.host")
    return Expect(d / "events.out.tfevents.1700000000.host", "not_regular_file")


@case
def fifo_named_like_a_csv(d):
    os.mkfifo(d / "metrics.csv")
    return Expect(d / "metrics.csv", "not_regular_file")


@case
def link_to_dev_zero(d):
    os.symlink("/dev/zero", d / "metrics.csv")
    return Expect(d / "metrics.csv", "not_regular_file")


@case
def socket_named_like_an_event_file(d):
    here = os.getcwd()
    os.chdir(d)  # a socket path is limited to ~100 bytes: bind by a short relative name
    try:
        s = socket.socket(socket.AF_UNIX)
        s.bind("events.out.tfevents.1.sock")
        s.close()
    finally:
        os.chdir(here)
    return Expect(d / "events.out.tfevents.1.sock", "not_regular_file")


@case
def sparse_event_file(d):
    sparse(d / "events.out.tfevents.1700000000.host", b"", 64 << 20)
    return Expect(d / "events.out.tfevents.1700000000.host", "not_event_file")


@case
def csv_with_a_sparse_tail(d):
    sparse(d / "metrics.csv", csv_text(10).encode(), 64 << 20)
    return Expect(d / "metrics.csv", "parse_error", {"loss": 10})


@case
def csv_step_beyond_64_bits(d):
    (d / "metrics.csv").write_text(csv_text(10) + f"{2 ** 63},0.5\n" + "10,0.25\n")
    return Expect(d / "metrics.csv", "bad_value", {"loss": 11})


@case
def csv_cell_over_128_kb(d):
    (d / "metrics.csv").write_text(csv_text(10) + "10," + "9" * 200_000 + "x\n11,0.5\n")
    return Expect(d / "metrics.csv", "bad_value", {"loss": 11})


@case
def csv_quoted_field_over_128_kb(d):
    (d / "metrics.csv").write_text(csv_text(10) + '10,"' + "y" * 200_000 + '"\n11,0.5\n')
    return Expect(d / "metrics.csv", "parse_error", {"loss": 11})


@case
def csv_line_over_1_mib(d):
    (d / "metrics.csv").write_text(csv_text(10) + "10," + "1" * (2 << 20) + "\n11,0.5\n")
    return Expect(d / "metrics.csv", "parse_error", {"loss": 11})


@case
def csv_cr_only_line_endings(d):
    (d / "metrics.csv").write_bytes(csv_text(20, "\r").encode())
    return Expect(d / "metrics.csv", None, {"loss": 20})


@case
def csv_nul_bytes_in_a_row(d):
    (d / "metrics.csv").write_bytes(csv_text(10).encode() + b"10,0.\x00\x005\n11,0.5\n")
    return Expect(d / "metrics.csv", "parse_error", {"loss": 11})


@case
def csv_without_a_header(d):
    (d / "metrics.csv").write_text("".join(f"{i},{1 / (i + 1)}\n" for i in range(15)))
    return Expect(d / "metrics.csv", "no_header", {"column_1": 15, "column_2": 15})


@case
def csv_utf16_with_bom(d):
    (d / "metrics.csv").write_bytes(csv_text(20, "\r\n").encode("utf-16"))
    return Expect(d / "metrics.csv", None, {"loss": 20})


@case
def csv_gzip(d):
    (d / "metrics.csv.gz").write_bytes(gzip.compress(csv_text(20).encode()))
    return Expect(d / "metrics.csv.gz", None, {"loss": 20})


@case
def csv_gzip_cut_short(d):
    data = gzip.compress(csv_text(2000).encode())
    (d / "metrics.csv.gz").write_bytes(data[: len(data) // 2])
    return Expect(d / "metrics.csv.gz", "truncated_record", {"loss": -1})  # some rows, as many as came through


@case
def csv_gzip_under_a_plain_name(d):
    (d / "metrics.csv").write_bytes(gzip.compress(csv_text(20).encode()))
    return Expect(d / "metrics.csv", "misnamed_gzip", {"loss": 20})


@case
def csv_lfs_pointer(d):
    (d / "metrics.csv").write_text(LFS)
    return Expect(d / "metrics.csv", "lfs_pointer")


@case
def binary_named_csv(d):
    (d / "metrics.csv").write_bytes(b"\x00\x01\x02" + np.random.default_rng(0).bytes(5000))
    return Expect(d / "metrics.csv", "not_csv")


@case
def event_file_gzip(d):
    (d / "events.out.tfevents.1700000000.host.gz").write_bytes(gzip.compress(event_bytes(d / "tmp")))
    return Expect(d / "events.out.tfevents.1700000000.host.gz", None, {"loss": 8})


@case
def event_file_gzip_under_a_plain_name(d):
    (d / "events.out.tfevents.1700000000.host").write_bytes(gzip.compress(event_bytes(d / "tmp")))
    return Expect(d / "events.out.tfevents.1700000000.host", "misnamed_gzip", {"loss": 8})


@case
def event_file_lfs_pointer(d):
    (d / "events.out.tfevents.1700000000.host").write_text(LFS)
    return Expect(d / "events.out.tfevents.1700000000.host", "lfs_pointer")


@case
def json_lines_gzip(d):
    (d / "log.json.gz").write_bytes(gzip.compress(jsonl_text(20).encode()))
    return Expect(d / "log.json.gz", None, {"loss": 20})


@case
def json_lines_nested_too_deep(d):
    deep = '{"a": ' * 50_000 + "1" + "}" * 50_000
    (d / "metrics.json").write_text(jsonl_text(10) + deep + "\n" + "[" * 100_000 + "\n"
                                    + json.dumps({"step": 10, "loss": 0.5}) + "\n")
    return Expect(d / "metrics.json", "parse_error", {"loss": 11})


def trainer_state_text(n: int = 12) -> str:
    """As the Hugging Face Trainer writes it: indent=2, sorted keys."""
    return json.dumps({"global_step": 10 * n, "log_history": [{"loss": 1 / (i + 1), "step": 10 * i} for i in range(n)],
                       "train_batch_size": 8}, indent=2, sort_keys=True)


@case
def trainer_state_cut_inside_an_entry(d):
    text = trainer_state_text()
    (d / "trainer_state.json").write_text(text[:text.index('"step": 110')])  # entry 11 cut short
    return Expect(d / "trainer_state.json", "truncated_record", {"loss": 11})


@case
def trainer_state_torn_with_zeros(d):
    text = trainer_state_text()
    sparse(d / "trainer_state.json", text[:text.index('"step": 110')].encode(), 1 << 20)  # the rest never written
    return Expect(d / "trainer_state.json", "truncated_record", {"loss": 11})


@case
def trainer_state_with_a_damaged_entry(d):
    (d / "trainer_state.json").write_text(trainer_state_text().replace('"step": 50', '"step": 5$0'))
    return Expect(d / "trainer_state.json", "parse_error", {"loss": 11})


@case
def json_lines_moderately_nested(d):
    deep = '{"step": 10, "a": ' + '{"a": ' * 500 + "1" + "}" * 501
    (d / "metrics.json").write_text(jsonl_text(10) + deep + "\n" + json.dumps({"step": 11, "loss": 0.5}) + "\n")
    return Expect(d / "metrics.json", "parse_error", {"loss": 11})


@case
def json_document_nested_too_deep(d):
    (d / "trainer_state.json").write_text("[" * 100_000 + "]" * 100_000)
    return Expect(d / "trainer_state.json", "parse_error")


@case
def json_step_beyond_64_bits(d):
    (d / "metrics.json").write_text(jsonl_text(10) + json.dumps({"step": 2 ** 64, "loss": 1.0}) + "\n"
                                    + json.dumps({"step": 10, "loss": 0.5}) + "\n")
    return Expect(d / "metrics.json", "bad_value", {"loss": 11})


@case
def json_integer_beyond_float(d):
    (d / "metrics.json").write_text(jsonl_text(10) + '{"step": 10, "loss": 1' + "0" * 400 + "}\n")
    return Expect(d / "metrics.json", None, {"loss": 11})  # an integer beyond float range is +inf, kept


def extreme_csv(d, name, columns):
    n = max(len(v) for v in columns.values())
    lines = ["step," + ",".join(columns)]
    for i in range(n):
        lines.append(f"{i}," + ",".join(repr(v[i]) if i < len(v) else "" for v in columns.values()))
    (d / name).write_text("\n".join(lines) + "\n")


@case
def extreme_values(d):
    rng = np.random.default_rng(3)
    huge = (rng.standard_normal(300) * 1e307).tolist()
    extreme_csv(d, "metrics.csv", {"train_loss": huge, "val_loss": [1e308, -1e308, float("inf")] * 100,
                                   "lr": [1e-320] * 300, "grad_norm": [float("nan")] * 300})
    return Expect(d / "metrics.csv", None, {"train_loss": 300, "val_loss": 300, "lr": 300, "grad_norm": 300})


@case
def all_nan_and_tiny_series(d):
    extreme_csv(d, "metrics.csv", {"train_loss": [float("nan")] * 50, "val_loss": [0.5],
                                   "train_acc": [0.25] * 50, "val_acc": [float("inf"), float("-inf")]})
    return Expect(d / "metrics.csv", None, {"train_loss": 50, "val_loss": 1, "train_acc": 50, "val_acc": 2})


@case
def growing_loss_that_overflows(d):
    extreme_csv(d, "metrics.csv", {"loss": [10.0 ** min(i, 308) for i in range(400)] + [float("inf")] * 20,
                                   "val_loss": [10.0 ** min(4 * i, 308) for i in range(105)]})
    return Expect(d / "metrics.csv", None, {"loss": 420, "val_loss": 105})


@case
def one_step_repeated_with_other_values(d):
    extreme_csv(d, "metrics.csv", {"loss": [1.0] * 3})
    (d / "metrics.csv").write_text("step,loss,val_loss\n" + "".join(f"0,{i},{-i}\n" for i in range(200)))
    return Expect(d / "metrics.csv", "duplicate_steps", {"loss": 200, "val_loss": 200})


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    """A healthy run of each format, and the points each series holds when read alone."""
    root = tmp_path_factory.mktemp("valid")
    w = torch_tb.SummaryWriter(str(root / "tb"))
    for i in range(120):
        w.add_scalar("train/loss", 2.0 * np.exp(-i / 40) + 0.1, i)
        w.add_scalar("lr", 1e-3, i)
    w.close()
    (root / "metrics.csv").write_text(csv_text(60))
    points = {r.name: {t: s.points for t, s in r.series.items()} for r in load([root]).runs}
    assert points == {"tb": {"train/loss": 120, "lr": 120}, "metrics.csv": {"loss": 60}}
    return root, points


def analyze_json(*paths):
    result = CliRunner().invoke(cli, ["analyze", *map(str, paths), "--json", "-", "--format", "none",
                                      "--fail-on", "never", "-j", "1"])
    return result


def problems_of(doc):
    return [p for r in doc["runs"] for p in r["problems"]] + doc["problems"]


def points_under(doc, root: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in doc["runs"]:
        if all(Path(s).is_relative_to(root) for s in r["sources"]):
            for s in r["series"]:
                out[s["tag"]] = out.get(s["tag"], 0) + s["points"]
    return out


def check(doc, expect: Expect, root: Path) -> None:
    found = [(p["kind"], p["file"]) for p in problems_of(doc) if p["file"] == str(expect.file)]
    if expect.kind is None:
        assert not [k for k, _ in found if k != "misnamed_gzip"], found
    else:
        assert (expect.kind, str(expect.file)) in found, problems_of(doc)
        if expect.kind == "lfs_pointer":
            assert len(found) == 1  # said once
    got = points_under(doc, root)
    if expect.points.get("loss") == -1:  # a cut stream: some rows, each one whole
        assert 0 < got.get("loss", 0) < 2000
    else:
        assert got == expect.points
    for r in doc["runs"]:
        assert not [n for n in r["notes"] if "internal error" in n]
    assert "reader_error" not in {p["kind"] for p in problems_of(doc)}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_case_alone(tmp_path, name):
    d = tmp_path / name
    d.mkdir()
    expect = CASES[name](d)
    result = analyze_json(d)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    readable = any(v != 0 for v in expect.points.values())
    assert result.exit_code == (0 if readable else 2), result.output
    check(json.loads(result.stdout), expect, d)


def test_all_cases_together_next_to_a_valid_run(tmp_path, valid):
    """One real process with every warning an error: the whole corpus, and a valid run beside it."""
    root, points = valid
    expects = []
    for name, make in sorted(CASES.items()):
        d = tmp_path / name
        d.mkdir()
        expects.append((make(d), d))
    out = tmp_path.parent / f"{tmp_path.name}-out"
    out.mkdir()
    proc = subprocess.run([sys.executable, "-W", "error", "-m", "loganalyze", "analyze", str(tmp_path), str(root),
                           "--json", "-", "--format", "text", "--fail-on", "never", "-j", "1",
                           "--html", str(out / "r.html"), "--sarif", str(out / "r.sarif"),
                           "--junit", str(out / "r.xml")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert all((out / f).stat().st_size for f in ("r.html", "r.sarif", "r.xml"))
    assert "Traceback" not in proc.stdout + proc.stderr and "Warning" not in proc.stderr, proc.stderr
    doc = json.loads(proc.stdout)
    for expect, d in expects:
        check(doc, expect, d)
    kept = {Path(r["sources"][0]).parent.name if r["format"] == "tfevents" else Path(r["sources"][0]).name:
            {s["tag"]: s["points"] for s in r["series"]}
            for r in doc["runs"] if all(Path(s).is_relative_to(root) for s in r["sources"])}
    assert kept == points


# --- damage to a real event file ---------------------------------------------------------------------------


def frames(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each TFRecord frame of an intact file."""
    out, pos = [], 0
    while pos < len(data):
        end = pos + 16 + int.from_bytes(data[pos : pos + 8], "little")
        out.append((pos, end))
        pos = end
    return out


@pytest.fixture(scope="module")
def small_event_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("small")
    w = torch_tb.SummaryWriter(str(d))
    for i in range(6):
        w.add_scalar("loss", 1 / (i + 1), i)
        w.add_scalar("acc", i / 10, i)
    w.close()
    (f,) = d.glob("events.out.tfevents.*")
    data = f.read_bytes()
    points = {t: (s.step.tolist(), s.value.tolist()) for t, s in load([f]).runs[0].series.items()}
    assert {t: len(v[0]) for t, v in points.items()} == {"loss": 6, "acc": 6}
    return data, points


def read_pair(path: Path, valid_root: Path):
    result = load([path, valid_root])
    damaged = [r for r in result.runs if r.sources == (str(path),)]
    others = {r.name: {t: s.points for t, s in r.series.items()} for r in result.runs if r not in damaged}
    return damaged, others, result


def test_truncation_at_every_byte_offset(tmp_path, small_event_file, valid):
    """A cut anywhere keeps exactly the records wholly before it, names the file, and leaves the valid run whole."""
    data, points = small_event_file
    root, valid_points = valid
    bounds = frames(data)
    # records after the first (file_version) hold one scalar each, written loss, acc, loss, acc, ...
    order = [t for i in range(6) for t in ("loss", "acc")]
    path = tmp_path / "events.out.tfevents.1700000000.cut"
    for cut in range(len(data) + 1):
        path.write_bytes(data[:cut])
        damaged, others, _ = read_pair(path, root)
        assert {k.rsplit("/", 1)[-1]: v for k, v in others.items()} == valid_points
        (run,) = damaged
        whole = sum(1 for _, end in bounds[1:] if end <= cut)
        expected = {t: order[:whole].count(t) for t in ("loss", "acc") if order[:whole].count(t)}
        assert {t: s.points for t, s in run.series.items()} == expected, cut
        for t, s in run.series.items():
            assert s.step.tolist() == points[t][0][: s.points] and s.value.tolist() == points[t][1][: s.points]
        at_boundary = cut in {0} | {end for _, end in bounds}
        kinds = {p.kind for p in run.problems}
        assert all(p.file == str(path) for p in run.problems)
        if cut == 0:
            assert kinds == {"empty_file"}
        elif at_boundary:
            assert not kinds, (cut, kinds)
        else:
            assert kinds & {"truncated_record", "not_event_file"}, (cut, kinds)


def test_random_bit_flips(tmp_path, small_event_file, valid):
    """Flipped bits lose at most the records they hit; every point kept is a point written; each is reported."""
    data, points = small_event_file
    root, valid_points = valid
    written = {(t, s, v) for t, (steps, values) in points.items() for s, v in zip(steps, values)}
    rng = np.random.default_rng(12)
    path = tmp_path / "events.out.tfevents.1700000000.flip"
    for trial in range(300):
        flips = int(rng.integers(1, 4))
        buf = bytearray(data)
        for bit in rng.choice(len(data) * 8, size=flips, replace=False).tolist():
            buf[bit // 8] ^= 1 << (bit % 8)
        path.write_bytes(bytes(buf))
        damaged, others, _ = read_pair(path, root)
        assert {k.rsplit("/", 1)[-1]: v for k, v in others.items()} == valid_points
        (run,) = damaged
        kept = {(t, s, v) for t, ser in run.series.items() for s, v in zip(ser.step.tolist(), ser.value.tolist())}
        assert kept <= written, trial
        assert len(kept) >= len(written) - flips, trial
        assert run.problems and all(p.file == str(path) for p in run.problems), trial


def test_a_damaged_file_in_a_run_is_the_file_named(tmp_path):
    """A run of several event files: the problem names the damaged one, not the run's first file."""
    w = torch_tb.SummaryWriter(str(tmp_path), filename_suffix=".a")
    for i in range(10):
        w.add_scalar("loss", 1 / (i + 1), i)
    w.close()
    w = torch_tb.SummaryWriter(str(tmp_path), filename_suffix=".b")
    for i in range(10, 20):
        w.add_scalar("loss", 1 / (i + 1), i)
    w.close()
    a, b = (next(tmp_path.glob(f"events.out.tfevents.*{x}")) for x in (".a", ".b"))
    first = tmp_path / "events.out.tfevents.1700000000.host.a"
    second = tmp_path / "events.out.tfevents.1700000001.host.b"
    a.rename(first)  # timestamps in the names say which file comes first
    b.rename(second)
    second.write_bytes(second.read_bytes()[:-3])
    (run,) = load([tmp_path]).runs
    assert run.series["loss"].points == 19
    assert [(p.kind, p.file) for p in run.problems] == [("truncated_record", str(second))]
