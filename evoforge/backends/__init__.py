"""Backends: where work runs (this process, a pool of processes, a Ray cluster). They run a function
over items and know nothing of problems or algorithms."""

from evoforge.backends.base import (
    Backend,
    BackendLostError,
    ChunkResult,
    Job,
    WorkerLostError,
    WorkerSetupError,
)

__all__ = ["Backend", "BackendLostError", "ChunkResult", "Job", "WorkerLostError", "WorkerSetupError"]
