"""JSON step logs: Hugging Face `trainer_state.json` (`log_history`) and JSON Lines (detectron2 `metrics.json`)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from ..model import Problem, Run, Series

STEP_KEYS = ("step", "global_step", "iteration", "iter", "_step")
HF_HPARAMS = ("train_batch_size", "num_train_epochs", "max_steps", "logging_steps", "eval_steps", "save_steps",
              "best_metric")


def _flatten(d: dict, prefix: str = "") -> Iterable[tuple[str, Any]]:
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            yield from _flatten(v, key + "/")
        else:
            yield key, v


def _num(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str) and v.strip().lower() in ("nan", "inf", "-inf", "infinity", "-infinity"):
        return float(v.strip().lower().replace("infinity", "inf"))
    return None


def _rows_to_series(rows: list[tuple[int, dict]], step_key_hint: str | None = None) -> dict[str, Series]:
    cols: dict[str, tuple[list[int], list[float]]] = {}
    for i, row in rows:
        step_key = next((k for k in STEP_KEYS if k in row and _num(row[k]) is not None), None)
        step = int(_num(row[step_key])) if step_key else i
        for key, v in _flatten(row):
            if key == step_key:
                continue
            x = _num(v)
            if x is None:
                continue
            s, vals = cols.setdefault(key, ([], []))
            s.append(step)
            vals.append(x)
    return {k: Series.from_lists(k, s, v) for k, (s, v) in sorted(cols.items())}


def read_json_log(path: str | Path, name: str) -> Run:
    path = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig", errors="replace")
    except OSError as e:
        return Run(name, (path,), {}, (Problem("unreadable", path, f"cannot read: {e.strerror or e}"),), format="json")
    if not text.strip():
        return Run(name, (path,), {}, (Problem("empty_file", path, "the file is empty"),), format="json")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("log_history"), list):
        rows = [(i, r) for i, r in enumerate(doc["log_history"]) if isinstance(r, dict)]
        hparams = {k: doc[k] for k in HF_HPARAMS if k in doc and doc[k] is not None}
        return Run(name, (path,), _rows_to_series(rows), (), hparams, format="json")
    if isinstance(doc, list) and doc and all(isinstance(r, dict) for r in doc):
        return Run(name, (path,), _rows_to_series(list(enumerate(doc))), (), format="json")
    if isinstance(doc, dict):
        return Run(name, (path,), {}, (Problem("unknown_file", path,
                                                "a JSON document without `log_history` or metric rows: not a log"),),
                   format="json")
    # JSON Lines: one object per line; a bad line is reported and skipped
    rows: list[tuple[int, dict]] = []
    bad: list[int] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            bad.append(lineno)
            continue
        if isinstance(obj, dict):
            rows.append((len(rows), obj))
        else:
            bad.append(lineno)
    problems = []
    if bad:
        problems.append(Problem("parse_error", path,
                                f"{len(bad)} line(s) are not JSON objects (first: line {bad[0]}); the other "
                                f"{len(rows)} were read", {"count": len(bad), "lines": bad[:10]}))
    if not rows:
        return Run(name, (path,), {}, (Problem("unknown_file", path, "no JSON metric rows found"),), format="json")
    return Run(name, (path,), _rows_to_series(rows), tuple(problems), format="jsonl")
