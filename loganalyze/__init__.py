"""loganalyze: find what is wrong with a training curve, and why."""
__version__ = "0.1.0"


def __getattr__(name: str):
    """`loganalyze.read` / `read_arrays`, imported on first use so `import loganalyze` stays light."""
    if name in ("read", "read_arrays"):
        from . import export

        return getattr(export, name)
    raise AttributeError(f"module 'loganalyze' has no attribute {name!r}")
