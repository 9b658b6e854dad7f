"""`loganalyze train`: run a reference scenario and write its logs.

torch is imported only once a scenario is to be trained, so `loganalyze` works without the
`train` extra and this command can say how to get it.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from .catalog import CPU_SECONDS, FIXES, SCENARIOS, fixed_by

INSTALL_HINT = "torch is not installed: pip install 'loganalyze[train]'"


def _torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


@click.command("train")
@click.argument("scenario", required=False)
@click.option("--out", "out", type=click.Path(file_okay=False), help="Directory to write <out>/<scenario>/ into.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="auto picks CUDA when available.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Override the scenario's epoch count.")
@click.option("--scale", type=click.FloatRange(min=0.01), default=1.0, show_default=True,
              help="Multiply the dataset sizes (1 = the small test size of the fixtures).")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="torch CPU threads; the scenarios' models are small enough that one is fastest on a busy machine.")
@click.option("--amp", is_flag=True, help="Mixed precision (autocast + GradScaler); CUDA only.")
@click.option("--csv/--no-csv", "csv", default=True, show_default=True,
              help="Also write a Lightning-style <out>/<scenario>/csv/metrics.csv.")
@click.option("--list", "list_", is_flag=True, help="List the scenarios and exit.")
@click.option("--all", "all_", is_flag=True, help="Train every scenario (how fixtures/ is generated).")
def train_command(scenario, out, device, seed, epochs, scale, threads, amp, csv, list_, all_):
    """Train a reference SCENARIO and write TensorBoard events (+ metrics.csv) to OUT/SCENARIO/.

    Each scenario is a real model on generated data that shows one phenomenon the analyzer
    must recognise; `--list` names them.
    """
    if list_:
        _list()
        return
    names = list(SCENARIOS) if all_ else [scenario] if scenario else []
    if not names:
        raise click.UsageError("name a SCENARIO, or use --all or --list")
    if all_ and scenario:
        raise click.UsageError("give either a SCENARIO or --all, not both")
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise click.UsageError(f"unknown scenario {unknown[0]!r}; `loganalyze train --list` names them")
    if not out:
        raise click.UsageError("--out DIR is required")
    if not _torch_available():
        click.echo(INSTALL_HINT, err=True)
        sys.exit(2)

    from .core import Context, pick_device
    from .scenarios import run_scenario

    try:
        dev = pick_device(device)
    except RuntimeError as e:
        click.echo(f"loganalyze train: {e}", err=True)
        sys.exit(2)
    if amp and dev.type != "cuda":
        click.echo("note: --amp has no effect on CPU; training in float32", err=True)
    from ..cliutil import Progress

    for name in names:
        progress = Progress(delay=0)  # epochs as they end, on a terminal only

        def on_epoch(done, total, loss, seconds, name=name, progress=progress):
            progress(f"epochs of {name} (loss {loss:.4g}, {seconds:.1f} s/epoch)", done, total)

        ctx = Context(Path(out) / name, dev, seed=seed, scale=scale, epochs=epochs, amp=amp, csv=csv,
                      on_epoch=on_epoch, threads=threads)
        if progress.enabled:
            click.echo(f"{name}: training on {dev.type} (about {CPU_SECONDS[name] * scale:.0f} CPU-s at this scale)",
                       err=True)
        try:
            seconds = run_scenario(name, ctx)
        finally:
            progress.close()
        click.echo(f"{name}: wrote {ctx.run_dir} on {dev.type} in {seconds:.1f}s")


def _list() -> None:
    """One line per scenario: name, expected CPU seconds at --scale 1, what it shows; then the bug/fix pairs."""
    width = max(map(len, SCENARIOS))
    click.echo(f"{'scenario':<{width}}  {'CPU-s':>5}  what it shows")
    for name, text in SCENARIOS.items():
        bug = fixed_by(name)
        fix = f" [fix of {bug}: {FIXES[bug][name]}]" if bug else ""
        click.echo(f"{name:<{width}}  {CPU_SECONDS[name]:>5.0f}  {text}{fix}")
    click.echo("\nbug -> fixed twin (the same run with one fix applied):")
    for bug, twins in FIXES.items():
        for twin, how in twins.items():
            click.echo(f"  {bug} -> {twin}  ({how})")


__all__ = ["train_command", "INSTALL_HINT"]
