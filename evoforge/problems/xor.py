"""XOR, the NEAT paper's first test (Stanley & Miikkulainen 2002, section 4.1).

Two inputs (plus NEAT's bias input), one output. Fitness is the paper's
``(4 - sum |output - target|)^2`` over the four patterns (16 at best); a
network *solves* XOR when every output is on the right side of 0.5. XOR
cannot be solved without a hidden node, so the task measures how quickly a
method adds the structure it needs.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from evoforge.core.problem import Context, EvalResult, ProblemConfig
from evoforge.problems.base import NetworkProblem
from evoforge.spaces.neat import NeatGenome
from evoforge.spaces.neat_arrays import NeatPopulation
from evoforge.spaces.neat_network import CompiledPopulation

__all__ = ["XORProblem", "XORConfig"]

INPUTS = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
TARGETS = np.array([0.0, 1.0, 1.0, 0.0])


class XORConfig(ProblemConfig):
    """The XOR task (no settings)."""

    kind: Literal["xor"] = "xor"


class XORProblem(NetworkProblem):
    """Fitness ``(4 - sum |error|)^2`` of a network on the four XOR patterns; metric ``solved``.

    >>> from evoforge.spaces.neat import InnovationTracker, initial_genome
    >>> g = initial_genome(2, 1, np.random.default_rng(0), InnovationTracker(2, 1))
    >>> r = XORProblem(XORConfig()).evaluate([g], np.array([0]), {})[0]
    >>> 0.0 <= r.fitness <= 16.0, r.metrics["solved"]
    (True, 0.0)
    """

    kind = "xor"
    config_class = XORConfig
    example = {"kind": "xor"}
    deterministic = True
    accepts_batches = True  # CompiledPopulation builds from a NeatPopulation's arrays
    direction = "maximize"

    @property
    def network_io(self) -> tuple[int, int]:
        return 2, 1

    def evaluate(
        self, params: list[NeatGenome] | NeatPopulation, seeds: np.ndarray, context: Context
    ) -> list[EvalResult]:
        net = CompiledPopulation(params)
        out = net.activate(np.broadcast_to(INPUTS, (net.size, 4, 2)))[..., 0]
        error = np.abs(out - TARGETS).sum(axis=1)
        solved = np.all(np.abs(out - TARGETS) < 0.5, axis=1)
        return [
            EvalResult(float((4.0 - e) ** 2), {"error": float(e), "solved": float(s)})
            for e, s in zip(error, solved, strict=True)
        ]
