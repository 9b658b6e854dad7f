"""What a training script leaves behind: TensorBoard event files and a Lightning-style metrics.csv.

Layout of one run directory `<out>/<scenario>/`:

    events.out.tfevents.*   SummaryWriter output (scalars + hparams), one file per "process"
    csv/metrics.csv         Lightning CSVLogger shape: epoch,step,<metrics>, empty cells

The CSV sits in its own sub-directory so a directory-per-run analyzer sees two runs (the event
files and the CSV), never one run holding both copies of the same numbers.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Mapping

from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams as hparams_summary


def clear_run_dir(run_dir: Path) -> None:
    """Remove what an earlier generation wrote, so regenerating never merges two runs' events."""
    if not run_dir.exists():
        return
    for f in run_dir.glob("events.out.tfevents.*"):
        f.unlink()
    csv_file = run_dir / "csv" / "metrics.csv"
    if csv_file.exists():
        csv_file.unlink()


class RunLog:
    """Scalars to a SummaryWriter and, optionally, rows to metrics.csv (written on close)."""

    def __init__(self, run_dir: Path, write_csv: bool = True):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.writer = SummaryWriter(log_dir=str(self.run_dir))
        self.write_csv = write_csv
        self.rows: list[dict[str, Any]] = []
        self.columns: list[str] = []
        self.epoch: float | None = None

    def log(self, step: int, values: Mapping[str, float]) -> None:
        """Log scalars at `step`: one CSV row per call, as Lightning's CSVLogger writes one per log_metrics."""
        for tag, v in values.items():
            self.writer.add_scalar(tag, float(v), step)
        if not self.write_csv:
            return
        self.epoch = values.get("epoch", self.epoch)  # Lightning stamps every row with the current epoch
        self.rows.append({"step": step, "epoch": self.epoch, **{tag: float(v) for tag, v in values.items()}})
        for tag in values:
            if tag not in self.columns and tag != "epoch":
                self.columns.append(tag)

    def hparams(self, hp: Mapping[str, Any], metric_tags: tuple[str, ...]) -> None:
        """Hyper-parameters through the hparams plugin, in the run's own event file.

        `SummaryWriter.add_hparams` would open a sub-directory (a second run to an analyzer),
        so the three plugin summaries are written to this writer directly.
        """
        clean = {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in hp.items()}
        exp, ssi, sei = hparams_summary(clean, {t: 0.0 for t in metric_tags})
        fw = self.writer._get_file_writer()
        for s in (exp, ssi, sei):
            fw.add_summary(s)

    def restart(self) -> None:
        """Simulate a new process after a crash: a fresh SummaryWriter (a new event file) in the same dir."""
        self.writer.close()
        self.writer = SummaryWriter(log_dir=str(self.run_dir))

    def close(self) -> None:
        self.writer.close()
        if self.write_csv and self.rows:
            path = self.run_dir / "csv" / "metrics.csv"
            path.parent.mkdir(exist_ok=True)
            cols = ["epoch", "step", *sorted(self.columns)]
            with open(path, "w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh, lineterminator="\n")
                w.writerow(cols)
                for row in self.rows:
                    w.writerow([_cell(c, row.get(c)) for c in cols])


def _cell(column: str, v: Any) -> str:
    if v is None:
        return ""
    if column in ("epoch", "step"):
        return str(int(v))
    return repr(float(v))  # shortest exact form; nan / inf as Python spells them
