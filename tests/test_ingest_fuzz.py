"""Fuzzing the CSV and JSON-lines readers: valid rows mixed with junk lines, in any encoding, line ending
and compression a log arrives in. Never an exception; every valid row kept, at its step, with its value.
The same for a trainer_state.json with damaged entries, cut at any point.
"""
import gzip
import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loganalyze.ingest.csvlog import _number, read_csv_log
from loganalyze.ingest.jsonlog import read_json_log

values = st.floats(allow_nan=True, allow_infinity=True, width=64)
# junk: any text on one line (NUL, form feeds, U+2028, delimiters, huge digits...) but no quote character
# (a quote may legitimately open a field that runs over the next lines) and never a usable step in the
# first cell (that would be a row, and could go back in steps)
junk_text = st.text(st.characters(blacklist_characters='"\n\r', blacklist_categories=("Cs",)), max_size=60)
junk_csv = junk_text.filter(lambda t: _number(t.split(",")[0].strip()) is None)
encodings = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-be-bom", "utf-32"])
endings = st.sampled_from(["\n", "\r\n", "\r"])


def encode(text: str, encoding: str) -> bytes:
    if encoding == "utf-16-be-bom":
        return b"\xfe\xff" + text.encode("utf-16-be")
    return text.encode(encoding)


def same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def kept(run) -> dict[str, dict[int, float]]:
    return {t: dict(zip(s.step.tolist(), s.value.tolist())) for t, s in run.series.items()}


@st.composite
def mixed(draw, junk):
    """Valid rows at increasing steps, with junk lines between them: [(step, loss, acc) | junk str]."""
    n = draw(st.integers(1, 30))
    steps = sorted(draw(st.sets(st.integers(0, 2**62), min_size=n, max_size=n)))
    out = []
    for s in steps:
        out += draw(st.lists(junk, max_size=2))
        out.append((s, draw(values), draw(values)))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(lines=mixed(junk_csv), encoding=encodings, end=endings, gz=st.booleans())
def test_csv_reader_keeps_every_valid_row(tmp_path_factory, lines, encoding, end, gz):
    text = end.join(["step,loss,acc"] + [ln if isinstance(ln, str) else f"{ln[0]},{ln[1]!r},{ln[2]!r}"
                                           for ln in lines]) + end
    data = encode(text, encoding)
    path = tmp_path_factory.mktemp("csv") / ("metrics.csv.gz" if gz else "metrics.csv")
    path.write_bytes(gzip.compress(data) if gz else data)
    run = read_csv_log(path, "fuzz")
    got = kept(run)
    for ln in lines:
        if isinstance(ln, tuple):
            s, loss, acc = ln
            assert same(got["loss"][s], loss) and same(got["acc"][s], acc)
    assert all(p.file == str(path) for p in run.problems)


def json_row(s: int, loss: float, acc: float) -> str:
    return json.dumps({"step": s, "loss": loss, "metrics": {"acc": acc}, "note": "x" * 3})


junk_json = junk_text.filter(lambda t: not isinstance(_loads(t), dict))
deep = st.integers(1, 200_000).map(lambda d: "[" * d)


def _loads(t: str):
    try:
        return json.loads(t)
    except (ValueError, RecursionError):
        return None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(lines=mixed(st.one_of(junk_json, deep)), encoding=encodings, end=endings, gz=st.booleans())
def test_json_lines_reader_keeps_every_valid_row(tmp_path_factory, lines, encoding, end, gz):
    text = end.join(ln if isinstance(ln, str) else json_row(*ln) for ln in lines) + end
    data = encode(text, encoding)
    path = tmp_path_factory.mktemp("json") / ("metrics.json.gz" if gz else "metrics.json")
    path.write_bytes(gzip.compress(data) if gz else data)
    run = read_json_log(path, "fuzz")
    got = kept(run)
    for ln in lines:
        if isinstance(ln, tuple):
            s, loss, acc = ln
            assert same(got["loss"][s], loss) and same(got["metrics/acc"][s], acc)
    assert all(p.file == str(path) for p in run.problems)


# junk in place of a log_history entry: no brace, bracket or quote, so it cannot pass for an entry
junk_entry = st.text(st.characters(blacklist_characters='{}[]"', blacklist_categories=("Cs",)), max_size=30)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=st.lists(st.one_of(st.tuples(st.integers(0, 2**62), values), junk_entry), min_size=1, max_size=25),
       indent=st.sampled_from([None, 2]), cut=st.floats(0, 1), whole=st.booleans(), gz=st.booleans())
def test_trainer_state_reader_keeps_every_entry_that_is_whole(tmp_path_factory, items, indent, cut, whole, gz):
    head = '{"global_step": 5, "log_history": ['
    text, ends, entries = head, [], []
    step = 0
    for k, item in enumerate(items):
        text += ", " if k else ""
        if isinstance(item, tuple):
            step += 1 + item[0] % 1000  # steps go up: no rewind to supersede anything
            text += json.dumps({"loss": item[1], "step": step}, indent=indent)
            ends.append(len(text))
            entries.append((step, item[1]))
        else:
            text += item
    text += '], "train_batch_size": 8}'
    if not whole:
        text = text[:int(cut * len(text))]
    path = tmp_path_factory.mktemp("state") / ("trainer_state.json.gz" if gz else "trainer_state.json")
    path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    run = read_json_log(path, "fuzz")
    got = kept(run).get("loss", {})
    for end, (s, loss) in zip(ends, entries):
        if end <= len(text):
            assert s in got and same(got[s], loss), (s, got)
    assert all(p.file == str(path) for p in run.problems)
