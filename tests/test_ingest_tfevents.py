"""Event files from real writers read back exactly; damaged files never raise and keep every valid record."""
import math
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2

from loganalyze.ingest import load
from loganalyze.ingest.tfevents import masked_crc, read_event_files

VALUES = [0.5, -1.25, 3e-8, math.nan, math.inf, -math.inf, 1e30, 0.0]


def frame(payload: bytes) -> bytes:
    head = struct.pack("<Q", len(payload))
    return head + struct.pack("<I", masked_crc(head)) + payload + struct.pack("<I", masked_crc(payload))


def scalar_event(step, tag, value, wall=1.7e9):
    return event_pb2.Event(wall_time=wall + step, step=step, summary=summary_pb2.Summary(
        value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])).SerializeToString()


def tf2_event(step, tag, tensor, first):
    value = summary_pb2.Summary.Value(tag=tag, tensor=tensor)
    if first:
        value.metadata.plugin_data.plugin_name = "scalars"
    return event_pb2.Event(wall_time=1.7e9 + step, step=step,
                           summary=summary_pb2.Summary(value=[value])).SerializeToString()


def write(path, payloads):
    path.write_bytes(b"".join(frame(p) for p in payloads))
    return path


def test_pytorch_summarywriter_every_point_exact(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(str(tmp_path))
    for i, v in enumerate(VALUES * 20):
        w.add_scalar("train/loss", v, i)
        if i % 7 == 0:
            w.add_scalar("val/loss", v * 2, i)
    last = len(VALUES) * 20 - 1
    w.add_scalar("train/loss", 0.25, last)  # a duplicate step is kept, not de-duplicated
    w.close()
    data = read_event_files(sorted(tmp_path.glob("events*")))
    s = data.series["train/loss"]
    expect = np.array(VALUES * 20 + [0.25], dtype=np.float32).astype(np.float64)
    assert s.points == len(expect)
    np.testing.assert_array_equal(s.value, expect)  # NaN == NaN for assert_array_equal
    assert s.step.tolist() == list(range(len(VALUES) * 20)) + [last]
    assert [p.kind for p in data.problems] == ["duplicate_steps"]
    assert np.all(np.diff(s.wall_time[:-1]) >= 0) and np.all(s.wall_time > 1e9)
    assert data.series["val/loss"].step.tolist() == list(range(0, 160, 7))


def test_tensorboardx_writer(tmp_path):
    from tensorboardX import SummaryWriter

    w = SummaryWriter(str(tmp_path))
    for i in range(50):
        w.add_scalar("loss", 1.0 / (i + 1), i)
    w.add_scalar("loss", math.nan, 50)
    w.close()
    s = read_event_files(sorted(tmp_path.glob("events*"))).series["loss"]
    assert s.points == 51 and s.nonfinite == 1
    np.testing.assert_allclose(s.value[:50], [np.float32(1.0 / (i + 1)) for i in range(50)])


@pytest.mark.parametrize("dtype, field", [
    (types_pb2.DT_FLOAT, "float_val"), (types_pb2.DT_DOUBLE, "double_val"), (types_pb2.DT_HALF, "half_val"),
    (types_pb2.DT_FLOAT, "tensor_content"), (types_pb2.DT_DOUBLE, "tensor_content"), (types_pb2.DT_HALF, "tensor_content"),
])
def test_tf2_tensor_scalars_of_every_dtype_and_encoding(tmp_path, dtype, field):
    np_type = {types_pb2.DT_FLOAT: np.float32, types_pb2.DT_DOUBLE: np.float64, types_pb2.DT_HALF: np.float16}[dtype]
    values = np.array([0.5, -2.0, 1e-3, np.nan, np.inf, 65504.0 if np_type is np.float16 else 1e20], dtype=np_type)
    payloads = [event_pb2.Event(wall_time=1.7e9, file_version="brain.Event:2").SerializeToString()]
    for i, v in enumerate(values):
        t = tensor_pb2.TensorProto(dtype=dtype, tensor_shape=tensor_shape_pb2.TensorShapeProto())
        if field == "tensor_content":
            t.tensor_content = np.array([v], dtype=np_type).astype(np_type().dtype.newbyteorder("<")).tobytes()
        elif field == "half_val":
            t.half_val.append(int(np.array([v], dtype=np.float16).view(np.uint16)[0]))
        else:
            getattr(t, field).append(v)
        payloads.append(tf2_event(i, "epoch_loss", t, first=(i == 0)))
    path = write(tmp_path / "events.out.tfevents.1.host.v2", payloads)
    s = read_event_files([path]).series["epoch_loss"]
    np.testing.assert_array_equal(s.value, values.astype(np.float64))
    assert s.step.tolist() == list(range(len(values)))


def test_fast_path_and_protobuf_path_agree(tmp_path):
    """Multi-value summaries take the protobuf path; single values the vectorized one. Same points."""
    single = [scalar_event(i, f"t{i % 3}", float(i) / 7) for i in range(60)]
    multi = [event_pb2.Event(wall_time=1.7e9 + i, step=i, summary=summary_pb2.Summary(value=[
        summary_pb2.Summary.Value(tag=f"t{j}", simple_value=float(i * 3 + j) / 7) for j in range(3)
        if (i * 3 + j) % 3 == j])).SerializeToString() for i in range(20)]
    a = read_event_files([write(tmp_path / "events.out.tfevents.1.a", single)]).series
    b = read_event_files([write(tmp_path / "events.out.tfevents.1.b", multi)]).series
    for tag in ("t0", "t1", "t2"):
        assert a[tag].points == 20 and b[tag].points == 20
    np.testing.assert_array_equal(a["t0"].value, np.float32(np.arange(0, 60, 3) / 7))
    np.testing.assert_array_equal(b["t0"].value, np.float32(np.arange(0, 60, 3) / 7))


def test_step_zero_and_file_version_records_read_without_the_protobuf_classes(tmp_path):
    """Step 0 is left out of the record (proto3) and the file's first record holds only its version: both are
    read on the fast path, so a SummaryWriter file never imports the classes; the points are what they decode."""
    import subprocess
    import sys

    payloads = [event_pb2.Event(wall_time=1.7e9, file_version="brain.Event:2").SerializeToString()]
    payloads += [scalar_event(step, tag, v, wall=1.7e9 + 0.5) for step in (0, 0, 1, 200, 70_000)
                 for tag, v in (("train/loss", 0.5 + step), ("lr", 1e-3), ("epoch", 0.0))]
    path = write(tmp_path / "events.out.tfevents.1.host", payloads)
    assert event_pb2.Event.FromString(payloads[1]).step == 0 and b"\x10" not in payloads[1][9:10]
    want: dict[str, list] = {}
    for p in payloads[1:]:
        ev = event_pb2.Event.FromString(p)
        want.setdefault(ev.summary.value[0].tag, []).append((ev.step, ev.summary.value[0].simple_value, ev.wall_time))
    code = ("import sys; from loganalyze.ingest.tfevents import read_event_files as r; "
            f"d = r([{str(path)!r}]); print(sorted(d.series), [p.kind for p in d.problems], "
            "'tensorboard.compat.proto.event_pb2' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split("]")[-1].strip() == "False", out
    data = read_event_files([path])
    assert sorted(data.series) == sorted(want)
    for tag, points in want.items():
        s = data.series[tag]
        assert list(zip(s.step.tolist(), s.value.tolist(), s.wall_time.tolist())) == points


def test_agrees_with_tbparse(tmp_path):
    tbparse = pytest.importorskip("tbparse")
    from torch.utils.tensorboard import SummaryWriter

    rng = np.random.default_rng(0)
    w = SummaryWriter(str(tmp_path))
    for i in range(300):
        w.add_scalar("a", float(rng.standard_normal()), i)
        w.add_scalar("b/c", float(rng.random()), i * 2)
    w.close()
    ours = read_event_files(sorted(tmp_path.glob("events*"))).series
    df = tbparse.SummaryReader(str(tmp_path)).scalars
    for tag, group in df.groupby("tag"):
        np.testing.assert_array_equal(ours[tag].step, group["step"].to_numpy())
        np.testing.assert_array_equal(ours[tag].value, group["value"].to_numpy().astype(np.float64))


@pytest.fixture
def small_file(tmp_path):
    return write(tmp_path / "events.out.tfevents.1.x", [scalar_event(i + 1, "loss", 1.0 / (i + 1)) for i in range(6)])


def record_starts(data: bytes) -> list[int]:
    starts, pos = [], 0
    while pos < len(data):
        starts.append(pos)
        pos += 16 + struct.unpack_from("<Q", data, pos)[0]
    return starts


def test_truncated_at_every_byte_keeps_the_complete_records(small_file, tmp_path):
    data = small_file.read_bytes()
    ends = [s for s in record_starts(data)[1:]] + [len(data)]
    for cut in range(len(data) + 1):
        p = tmp_path / f"events.out.tfevents.2.cut{cut}"
        p.write_bytes(data[:cut])
        got = read_event_files([p])
        points = got.series["loss"].points if "loss" in got.series else 0
        assert points == sum(e <= cut for e in ends), cut
        if cut and cut not in ends:
            assert any(pr.kind in ("truncated_record", "not_event_file") for pr in got.problems), cut


def test_flipped_payload_byte_drops_only_that_record(small_file):
    data = bytearray(small_file.read_bytes())
    record = record_starts(bytes(data))[1]
    data[2 * record + 14] ^= 0xFF
    small_file.write_bytes(bytes(data))
    got = read_event_files([small_file])
    assert got.series["loss"].step.tolist() == [1, 2, 4, 5, 6]
    crc = [p for p in got.problems if p.kind == "crc_mismatch"]
    assert crc and crc[0].data["count"] == 1 and crc[0].data["offsets"] == [2 * record]


def test_flipped_payload_bytes_among_many_records_of_one_length_drop_only_those(tmp_path):
    """Hundreds of scalar records of one length have their checksums computed together, as a matrix."""
    path = write(tmp_path / "events.out.tfevents.1.many", [scalar_event(i + 1, "loss", 0.5) for i in range(600)])
    data = bytearray(path.read_bytes())
    starts = record_starts(bytes(data))
    for i in (100, 377):
        data[starts[i] + 12 + 5] ^= 0x01  # one bit of the payload
    path.write_bytes(bytes(data))
    got = read_event_files([path])
    assert got.series["loss"].step.tolist() == [i + 1 for i in range(600) if i not in (100, 377)]
    crc = next(p for p in got.problems if p.kind == "crc_mismatch")
    assert crc.data["count"] == 2 and crc.data["offsets"] == [starts[100], starts[377]]


def test_flipped_length_byte_resynchronizes(small_file):
    data = bytearray(small_file.read_bytes())
    record = record_starts(bytes(data))[1]
    data[record + 1] ^= 0x40  # the length of the second record
    small_file.write_bytes(bytes(data))
    got = read_event_files([small_file])
    assert got.series["loss"].step.tolist() == [1, 3, 4, 5, 6]
    framing = [p for p in got.problems if p.kind == "corrupt_framing"]
    assert framing and framing[0].data["offsets"] == [record]


@pytest.mark.parametrize("content, kind", [
    (b"", "empty_file"),
    (bytes(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8)), "not_event_file"),
    (b"step,loss\n1,0.5\n", "not_event_file"),
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n", "lfs_pointer"),
])
def test_bad_files_are_reported_not_raised(tmp_path, content, kind):
    p = tmp_path / "events.out.tfevents.1.bad"
    p.write_bytes(content)
    got = read_event_files([p])
    assert got.series == {} and [pr.kind for pr in got.problems] == [kind]


def test_random_damage_never_raises(small_file, tmp_path):
    rng = np.random.default_rng(7)
    data = small_file.read_bytes()
    for i in range(200):
        b = bytearray(data)
        for _ in range(rng.integers(1, 6)):
            b[rng.integers(0, len(b))] = rng.integers(0, 256)
        p = tmp_path / f"events.out.tfevents.3.f{i}"
        p.write_bytes(bytes(b))
        got = read_event_files([p])
        assert sum(s.points for s in got.series.values()) <= 6


def test_resumed_run_later_write_supersedes_overlap(tmp_path):
    write(tmp_path / "events.out.tfevents.100.host", [scalar_event(i, "loss", 1.0) for i in range(100)])
    write(tmp_path / "events.out.tfevents.200.host", [scalar_event(i, "loss", 2.0) for i in range(60, 151)])
    got = read_event_files(sorted(tmp_path.glob("events*")))
    s = got.series["loss"]
    assert s.step.tolist() == list(range(151))
    assert np.all(s.value[:60] == 1.0) and np.all(s.value[60:] == 2.0)
    rewind = [p for p in got.problems if p.kind == "step_rewind"]
    assert len(rewind) == 1 and rewind[0].file.endswith("tfevents.200.host")
    assert rewind[0].data["from_step"] == 99 and rewind[0].data["to_step"] == 60
    assert rewind[0].data["superseded_points"] == 40


def test_hparams_from_the_hparams_plugin(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(str(tmp_path))
    w.add_hparams({"lr": 0.01, "batch_size": 32, "optim": "adam"}, {"hp/loss": 0.5}, run_name=".")
    w.close()
    run = load([tmp_path]).runs[0]
    assert run.hparams["lr"] == pytest.approx(0.01) and run.hparams["optim"] == "adam"


# --- windowed reading: the file is read a window at a time; the window size changes nothing ---

def snapshot(data):
    """Everything a reader returns, in a form `==` compares exactly (NaN included)."""
    series = {t: (s.step.tolist(), s.value.tobytes(), s.wall_time.tobytes()) for t, s in data.series.items()}
    return series, [(p.kind, p.file, p.detail, dict(p.data)) for p in data.problems], data.hparams


def same_for_every_window(paths, windows=(16, 64, 100, 333)):
    """Read with one window larger than the file, then with tiny ones: identical results."""
    whole = read_event_files(paths, window=1 << 30)
    for w in windows:
        assert snapshot(read_event_files(paths, window=w)) == snapshot(whole), w
    return whole


def synthetic(tmp_path, n=40, name="events.out.tfevents.1.syn"):
    """n PyTorch-style records over three tags; returns (path, bytes, record start offsets)."""
    path = write(tmp_path / name, [scalar_event(i + 1, f"t{i % 3}", VALUES[i % len(VALUES)]) for i in range(n)])
    data = path.read_bytes()
    return path, data, record_starts(data)


def test_summarywriter_file_same_for_every_window(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(str(tmp_path))
    for i in range(300):
        w.add_scalar("train/loss", VALUES[i % len(VALUES)], i)
        w.add_scalar(f"val/acc_{i % 5}", i / 300, i)
    w.add_hparams({"lr": 0.01, "batch_size": 32}, {"hp/loss": 0.5}, run_name=".")
    w.close()
    got = same_for_every_window(sorted(tmp_path.glob("events*")))
    assert got.series["train/loss"].points == 300 and got.problems == []
    assert got.hparams["lr"] == pytest.approx(0.01)


def test_crc_damage_in_the_middle_same_for_every_window(tmp_path):
    path, data, starts = synthetic(tmp_path)
    b = bytearray(data)
    b[starts[10] + 20] ^= 0x01  # payload of record 10: dropped, reported at its offset
    b[starts[25] + 2] ^= 0x10  # length of record 25: resynchronized on record 26
    path.write_bytes(bytes(b))
    got = same_for_every_window([path])
    assert sum(s.points for s in got.series.values()) == 38
    crc = next(p for p in got.problems if p.kind == "crc_mismatch")
    framing = next(p for p in got.problems if p.kind == "corrupt_framing")
    assert crc.data == {"count": 1, "offsets": [starts[10]]}
    assert framing.data == {"count": 1, "offsets": [starts[25]], "skipped_bytes": starts[26] - starts[25]}


def test_truncated_file_reported_only_at_its_true_end(tmp_path):
    path, data, starts = synthetic(tmp_path)
    assert same_for_every_window([path]).problems == []  # records cut by a window boundary are no damage
    path.write_bytes(data[: starts[-1] + 30])
    got = same_for_every_window([path])
    assert [p.kind for p in got.problems] == ["truncated_record"]
    assert got.problems[0].data == {"offset": starts[-1], "expected_bytes": len(data) - starts[-1],
                                    "available_bytes": 30}
    path.write_bytes(data[: starts[-1] + 5])
    assert same_for_every_window([path]).problems[0].data["offset"] == starts[-1]


def test_garbage_between_records_same_for_every_window(tmp_path):
    path, data, starts = synthetic(tmp_path)
    rng = np.random.default_rng(3)
    junk = [bytes(rng.integers(0, 256, 90, dtype=np.uint8)), bytes(200), b"\xff" * 7]
    at = [starts[5], starts[17], starts[30]]
    pieces, last = [], 0
    for pos, j in zip(at, junk):
        pieces += [data[last:pos], j]
        last = pos
    path.write_bytes(b"".join(pieces) + data[last:])
    got = same_for_every_window([path])
    assert sum(s.points for s in got.series.values()) == 40  # every record before and after survives
    framing = [p for p in got.problems if p.kind == "corrupt_framing"]
    shifted = [at[0], at[1] + len(junk[0]), at[2] + len(junk[0]) + len(junk[1])]
    assert framing[0].data == {"count": 3, "offsets": shifted, "skipped_bytes": sum(map(len, junk))}


def test_tf2_tensors_and_hparams_same_for_every_window(tmp_path):
    """Records longer than the window (a 3 KB tensor, hparams) get a window of their own."""
    from tensorboard.plugins.hparams import plugin_data_pb2

    payloads = [event_pb2.Event(wall_time=1.7e9, file_version="brain.Event:2").SerializeToString()]
    hp = plugin_data_pb2.HParamsPluginData(session_start_info=plugin_data_pb2.SessionStartInfo())
    hp.session_start_info.hparams["lr"].number_value = 0.003
    hp.session_start_info.hparams["optim"].string_value = "adam" * 200
    value = summary_pb2.Summary.Value(tag="_hparams_/session_start_info", tensor=tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING))
    value.metadata.plugin_data.plugin_name = "hparams"
    value.metadata.plugin_data.content = hp.SerializeToString()
    payloads.append(event_pb2.Event(wall_time=1.7e9, summary=summary_pb2.Summary(value=[value])).SerializeToString())
    for i in range(30):
        t = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_shape=tensor_shape_pb2.TensorShapeProto())
        t.float_val.append(float(i) / 3)
        payloads.append(tf2_event(i, "epoch_loss", t, first=(i == 0)))
        big = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_content=bytes(3000))  # not a scalar: skipped
        payloads.append(tf2_event(i, "weights", big, first=False))
        payloads.append(scalar_event(i, "lr", 0.1))  # a v1 simple_value in the same file
    path = write(tmp_path / "events.out.tfevents.1.host.v2", payloads)
    got = same_for_every_window([path])
    assert got.series["epoch_loss"].points == 30 and got.series["lr"].points == 30
    assert "weights" not in got.series and got.problems == []
    assert got.hparams["lr"] == pytest.approx(0.003) and got.hparams["optim"] == "adam" * 200


BASE = b"".join(frame(scalar_event(i + 1, f"t{i % 2}", 1.0 / (i + 1))) for i in range(12))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, len(BASE)), window=st.integers(16, 400), seed=st.integers(0, 2**32 - 1),
       edits=st.lists(st.tuples(st.integers(0, len(BASE) - 1), st.sampled_from(["flip", "insert", "zeros", "delete"])),
                      max_size=4))
def test_any_damage_same_for_any_window(tmp_path, cut, window, seed, edits):
    rng = np.random.default_rng(seed)
    b = bytearray(BASE)
    for pos, op in sorted(edits, reverse=True):  # from the end, so earlier positions stay valid
        if pos >= len(b):
            continue
        if op == "flip":
            b[pos] ^= 1 << int(rng.integers(8))
        elif op == "insert":
            b[pos:pos] = rng.integers(0, 256, int(rng.integers(1, 60)), dtype=np.uint8).tobytes()
        elif op == "zeros":
            b[pos:pos] = bytes(int(rng.integers(1, 60)))
        else:
            del b[pos : pos + int(rng.integers(1, 40))]
    path = tmp_path / "events.out.tfevents.1.h"
    path.write_bytes(bytes(b[:cut]))
    whole = read_event_files([path], window=1 << 30)
    assert snapshot(read_event_files([path], window=window)) == snapshot(whole)


def test_tag_codes_survive_a_hash_collision():
    """Two different 16-byte tags built to share the grouping hash still get two codes."""
    from loganalyze.ingest.tfevents import _tag_codes

    k, mask = 1099511628211, 2**64 - 1
    a0, a1, b0 = 0x6161616161616161, 0x6262626262626262, 0x6161616161616162
    b1 = ((a0 * k) & mask) ^ a1 ^ ((b0 * k) & mask)
    tags = [struct.pack("<QQ", a0, a1), struct.pack("<QQ", b0, b1)] * 3
    codes, names = _tag_codes(np.frombuffer(b"".join(tags), np.uint8), np.arange(6) * 16, np.full(6, 16))
    assert [names[c] for c in codes] == [t.decode("utf-8", "replace") for t in tags]
    assert len(set(codes.tolist())) == 2


def test_tag_codes_ignore_the_bytes_after_a_tag():
    """Tags are read as whole 8-byte words where the buffer goes on: what follows a tag never splits it."""
    from loganalyze.ingest.tfevents import _tag_codes

    rng = np.random.default_rng(3)
    tags = [b"train/loss", b"grad_norm", b"train/acc", b"lr", b"val/loss"] * 40
    buf, starts = b"", []
    for t in tags:
        starts.append(len(buf))
        buf += t + rng.integers(0, 256, int(rng.integers(0, 12)), dtype=np.uint8).tobytes()
    a = np.frombuffer(buf, np.uint8)
    codes, names = _tag_codes(a, np.asarray(starts), np.asarray([len(t) for t in tags]))
    assert [names[c] for c in codes] == [t.decode() for t in tags] and len(names) == 5


def test_vectorized_crcs_are_the_c_librarys_for_every_width_and_length():
    """The two-bytes-a-step table walk (odd and even widths) and the header check by length value."""
    from loganalyze.ingest.tfevents import _by_value, _length_crcs_ok, _masked_crc_rows

    rng = np.random.default_rng(11)
    for width in range(1, 40):
        rows = rng.integers(0, 256, (50, width), dtype=np.uint8)
        assert _masked_crc_rows(rows).tolist() == [masked_crc(r.tobytes()) for r in rows]
    lengths = rng.choice([5, 9, 300, 70_000], 400)
    heads = b"".join(struct.pack("<Q", int(n)) + struct.pack("<I", masked_crc(struct.pack("<Q", int(n)))) + b"\0" * 4
                     for n in lengths)
    a = np.frombuffer(heads, np.uint8).copy()
    a[16 * 7 + 9] ^= 1  # one stored CRC damaged
    ok = _length_crcs_ok(a, np.arange(len(lengths)) * 16, lengths)
    assert np.flatnonzero(~ok).tolist() == [7]
    for x in (lengths, rng.integers(0, 10_000, 300), np.array([3, 3, 3])):
        groups = _by_value(x)
        assert [v for v, _ in groups] == sorted(set(x.tolist()))
        assert all((x[rows] == v).all() and np.all(np.diff(rows) > 0) for v, rows in groups)
        assert sum(len(rows) for _, rows in groups) == len(x)


def test_a_long_cyclic_log_same_for_every_window(tmp_path):
    """Thousands of records in a cycle of lengths (five tags a step, two more every 50): the walk predicts
    positions from the cycle, and carries the lengths it ended with into the next window."""
    payloads = [event_pb2.Event(wall_time=1.7e9, file_version="brain.Event:2").SerializeToString()]
    for step in range(3000):
        payloads += [scalar_event(step, tag, step * 0.5) for tag in ("train/loss", "acc", "lr", "gnorm", "epoch")]
        if step % 50 == 49:
            payloads += [scalar_event(step, "val/loss", 1.0), scalar_event(step, "val/acc", 0.5)]
    path = write(tmp_path / "events.out.tfevents.1.cyc", payloads)
    got = same_for_every_window([path], windows=(4096, 10_000, 65_536, 200_001))
    assert got.series["train/loss"].points == 3000 and got.series["val/acc"].points == 60 and got.problems == []
