"""Evaluation backends: where evaluations run."""

from evoforge.backends.base import (
    Backend,
    ChunkResult,
    EvalJob,
    EvalTimeoutError,
    WorkerLostError,
    build_problem,
    evaluate_chunk,
)
from evoforge.backends.process import ProcessBackend
from evoforge.backends.serial import SerialBackend

BACKENDS = ("serial", "process", "ray")


def make_backend(name: str, workers: int = 1, address: str | None = None) -> Backend:
    """A backend by name: ``serial``, ``process`` or ``ray`` (``address`` joins a Ray cluster)."""
    if name == "serial":
        return SerialBackend()
    if name == "process":
        return ProcessBackend(workers=workers)
    if name == "ray":
        from evoforge.backends.ray import RayBackend

        return RayBackend(workers=workers, address=address)
    raise ValueError(f"unknown backend {name!r} (known: {', '.join(BACKENDS)})")


__all__ = [
    "BACKENDS",
    "Backend",
    "ChunkResult",
    "EvalJob",
    "EvalTimeoutError",
    "WorkerLostError",
    "ProcessBackend",
    "SerialBackend",
    "build_problem",
    "evaluate_chunk",
    "make_backend",
]
