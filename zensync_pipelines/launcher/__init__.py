"""zensync's Dagster run launcher: runs start as forks of a warm process (warm.py)."""

from .warm import WarmRunLauncher

__all__ = ["WarmRunLauncher"]
