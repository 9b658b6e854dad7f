"""loganalyze: find what is wrong with a training curve, and why."""
__version__ = "0.1.0"
