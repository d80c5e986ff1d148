"""Evaluation backends: where evaluations run."""

from evoforge.backends.base import Backend, ChunkResult, EvalJob, build_problem, evaluate_chunk
from evoforge.backends.process import ProcessBackend
from evoforge.backends.serial import SerialBackend

BACKENDS = {"serial": SerialBackend, "process": ProcessBackend}


def make_backend(name: str, workers: int = 1) -> Backend:
    """A backend by name: ``serial`` or ``process``."""
    if name == "serial":
        return SerialBackend()
    if name == "process":
        return ProcessBackend(workers=workers)
    raise ValueError(f"unknown backend {name!r} (known: {', '.join(BACKENDS)})")


__all__ = [
    "BACKENDS",
    "Backend",
    "ChunkResult",
    "EvalJob",
    "ProcessBackend",
    "SerialBackend",
    "build_problem",
    "evaluate_chunk",
    "make_backend",
]
