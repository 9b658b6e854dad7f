"""The data model every stage shares: what was read, how it is aligned, what was found.

Ingest produces `Run`s; alignment turns them into `AlignedRun`s; detectors return
`Finding`s; reports render a `Report`. All frozen: a stage never edits another's output.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:  # numpy is imported where arrays are made: `loganalyze rules` / `explain` never need it
    import numpy as np

SEVERITIES = ("error", "warning", "info")
SEVERITY_RANK = {"error": 3, "warning": 2, "info": 1, "never": 99}

FAMILIES = (
    "periodicity",
    "divergence",
    "oscillation",
    "anticorrelation",
    "nonfinite",
    "spikes",
    "plateau",
    "integrity",
)

CAUSES = (
    "memorization",
    "running_mean_reset",
    "unshuffled_data",
    "small_last_batch",
    "eval_side_effect",
    "lr_schedule",
    "lr_too_high",
    "unstable_loss",
    "fp16_overflow",
    "overfitting",
    "resumed_run",
    "lr_too_low",
    "bad_initialization",
    "exploding_gradients",
    "unnormalized_inputs",
    "unbounded_loss",
    "noisy_validation",
    "train_val_mismatch",
    "corrupt_samples",
    "probabilities_as_logits",
    "unknown",
)


@dataclass(frozen=True, eq=False)
class Series:
    """One scalar tag: three aligned arrays. Non-finite values are kept; they are findings."""

    tag: str
    step: np.ndarray  # int64
    value: np.ndarray  # float64
    wall_time: np.ndarray  # float64, NaN where the format records none

    def __post_init__(self) -> None:
        n = len(self.step)
        if len(self.value) != n or len(self.wall_time) != n:
            raise ValueError(f"series {self.tag!r}: arrays of unequal length")

    @property
    def points(self) -> int:
        return int(len(self.step))

    @property
    def nonfinite(self) -> int:
        import numpy as np

        return int(np.count_nonzero(~np.isfinite(self.value)))

    @property
    def first_step(self) -> int | None:
        return int(self.step.min()) if len(self.step) else None

    @property
    def last_step(self) -> int | None:
        return int(self.step.max()) if len(self.step) else None

    @property
    def last_value(self) -> float | None:
        """The value at the last step (the first point written there)."""
        import numpy as np

        return float(self.value[np.argmax(self.step)]) if len(self.step) else None

    @classmethod
    def from_lists(cls, tag: str, step, value, wall_time=None) -> "Series":
        import numpy as np

        step_a = np.asarray(step, dtype=np.int64)
        value_a = np.asarray(value, dtype=np.float64)
        if wall_time is None:
            wall_a = np.full(len(step_a), np.nan)
        else:
            wall_a = np.asarray(wall_time, dtype=np.float64)
        return cls(tag, step_a, value_a, wall_a)


@dataclass(frozen=True)
class Problem:
    """Something wrong with the input itself (ingest), kept for the report and the integrity rules.

    kind: a stable short name, e.g. `crc_mismatch`, `truncated_record`, `step_rewind`,
    `duplicate_steps`, `unreadable`, `symlink_loop`, `unknown_file`, `lfs_pointer`,
    `ragged_row`, `empty_file`, `bad_value`, `parse_error`, `task_failed` (the analysis failed on a cluster).
    data: JSON-able numbers a reader can check (byte offsets, counts, steps).
    """

    kind: str
    file: str
    detail: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Run:
    """What one log source holds: a directory of event files, or one CSV / JSON file."""

    name: str
    sources: tuple[str, ...]
    series: Mapping[str, Series]
    problems: tuple[Problem, ...] = ()
    hparams: Mapping[str, Any] = field(default_factory=dict)
    format: str = ""  # "tfevents", "csv", "json", "jsonl"
    # earlier training attempts that a restart from scratch superseded (TensorBoard shows only the last):
    # whole runs of their own, analyzed as such so that nothing logged is lost
    attempts: tuple["Run", ...] = ()
    # when a run has several files: per tag, (file, first step, last step) of what each file logged,
    # in write order — so that a finding can point at the file that holds its steps
    tag_files: Mapping[str, tuple[tuple[str, int, int], ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class IngestResult:
    runs: tuple[Run, ...]
    problems: tuple[Problem, ...]  # problems that belong to no run (unknown files, loops)


@dataclass(frozen=True, eq=False)
class EpochAxis:
    """Where each epoch starts, and how we know.

    provenance, from the strongest evidence to the weakest:
    "config" (user said steps per epoch); "epoch_tag" (an epoch series/column, HF's `epoch` /
    `train/epoch`, or Keras' once-per-epoch `epoch_*` tags — the detail then also gives the
    iterations per epoch where `evaluation_*_vs_iterations` tells them); "eval_iterations" (a
    per-iteration train loss, with Keras' `evaluation_*_vs_iterations` closing each epoch);
    "val_cadence" (validation logged at a regular cadence, possibly rounded to whole steps: each
    evaluation taken as an epoch end); "loss_cycle" (nothing else says the epoch: the period of a
    cycle that dominates the train loss itself — an inference, the detail gives its numbers); or
    "unknown" (starts is empty). `detail` says how exact the boundaries are.
    """

    starts: np.ndarray  # int64 step of each epoch's first step, increasing
    provenance: str
    detail: str = ""
    evals_per_epoch: int | None = None

    @property
    def known(self) -> bool:
        return self.provenance != "unknown" and len(self.starts) > 0

    @property
    def count(self) -> int:
        return int(len(self.starts))

    def epoch_of(self, steps: np.ndarray) -> np.ndarray:
        """Epoch index (0-based) of each step; -1 before the first epoch start."""
        import numpy as np

        return np.searchsorted(self.starts, np.asarray(steps), side="right").astype(np.int64) - 1

    @staticmethod
    def unknown(detail: str = "") -> "EpochAxis":
        import numpy as np

        return EpochAxis(np.zeros(0, dtype=np.int64), "unknown", detail)


@dataclass(frozen=True)
class MetricPair:
    """The same quantity on training and validation data, e.g. `train_loss` / `val_loss`."""

    quantity: str  # "loss", "acc", "HR@10", ...
    train: str | None  # tag
    val: str | None  # tag
    higher_is_better: bool


@dataclass(frozen=True)
class Roles:
    """Which tag plays which part. Any of them may be missing."""

    train_loss: str | None = None
    val_loss: str | None = None
    lr: str | None = None
    grad_norm: str | None = None
    epoch: str | None = None
    pairs: tuple[MetricPair, ...] = ()
    higher_is_better: Mapping[str, bool] = field(default_factory=dict)  # every metric tag -> direction


@dataclass(frozen=True, eq=False)
class AlignedRun:
    """What a detector sees: one experiment's series with their roles and the epoch axis.

    Usually one `Run`. Keras' sibling `…/train` and `…/validation` directories become one
    experiment whose tags are prefixed `train/` and `validation/`.
    """

    name: str
    runs: tuple[Run, ...]
    series: Mapping[str, Series]
    roles: Roles
    epochs: EpochAxis
    hparams: Mapping[str, Any] = field(default_factory=dict)

    @property
    def problems(self) -> tuple[Problem, ...]:
        return tuple(p for r in self.runs for p in r.problems)

    def get(self, tag: str | None) -> Series | None:
        return None if tag is None else self.series.get(tag)


@dataclass(frozen=True)
class Cause:
    cause: str  # one of CAUSES
    confidence: float  # 0..1
    evidence: str  # what in the logs supports it, in words with numbers


@dataclass(frozen=True)
class Finding:
    """One thing wrong with a run, anchored to tags and steps, with the numbers it rests on."""

    rule: str  # rule id, e.g. "PD001"
    family: str  # one of FAMILIES
    severity: str  # one of SEVERITIES
    tags: tuple[str, ...]
    step_range: tuple[int, int]
    summary: str
    stats: Mapping[str, Any] = field(default_factory=dict)
    causes: tuple[Cause, ...] = ()
    ranges: tuple[tuple[int, int], ...] = ()  # further step ranges to highlight
    name: str = ""  # rule name, e.g. "epoch-periodicity"; filled by the engine


@dataclass(frozen=True)
class RunReport:
    run: AlignedRun
    findings: tuple[Finding, ...]
    notes: tuple[str, ...] = ()  # e.g. "epoch axis unknown: periodicity not checked"


@dataclass(frozen=True)
class Report:
    runs: tuple[RunReport, ...]
    problems: tuple[Problem, ...]  # ingest problems outside any run
    config: Any = None

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(f for r in self.runs for f in r.findings)
