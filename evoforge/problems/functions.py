"""Benchmark functions (minimised): the standard test bed for the strategies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
from pydantic import Field

from evoforge.core.problem import Context, EvalResult, Problem, ProblemConfig

__all__ = ["FunctionProblem", "FunctionConfig", "FUNCTIONS"]


def sphere(x: np.ndarray) -> np.ndarray:
    return np.sum(x * x, axis=-1)


def rosenbrock(x: np.ndarray) -> np.ndarray:
    return np.sum(100.0 * (x[..., 1:] - x[..., :-1] ** 2) ** 2 + (1.0 - x[..., :-1]) ** 2, axis=-1)


def rastrigin(x: np.ndarray) -> np.ndarray:
    return 10.0 * x.shape[-1] + np.sum(x * x - 10.0 * np.cos(2 * np.pi * x), axis=-1)


def ackley(x: np.ndarray) -> np.ndarray:
    n = x.shape[-1]
    a = -20.0 * np.exp(-0.2 * np.sqrt(np.sum(x * x, axis=-1) / n))
    return a - np.exp(np.sum(np.cos(2 * np.pi * x), axis=-1) / n) + 20.0 + np.e


FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sphere": sphere,
    "rosenbrock": rosenbrock,
    "rastrigin": rastrigin,
    "ackley": ackley,
}


class FunctionConfig(ProblemConfig):
    """A benchmark function to minimise."""

    kind: Literal["function"] = "function"
    name: Literal["sphere", "rosenbrock", "rastrigin", "ackley"] = Field(
        "sphere", description="Which function."
    )
    dim: int = Field(10, ge=1, description="Number of variables.")
    init_low: float = Field(-3.0, description="Lower bound of the uniform initial distribution.")
    init_high: float = Field(3.0, description="Upper bound of the uniform initial distribution.")


class FunctionProblem(Problem):
    """Minimise a benchmark function; the fitness is the function value.

    >>> p = FunctionProblem(FunctionConfig(name="sphere", dim=2))
    >>> p.evaluate(np.array([[3.0, 4.0]]), np.array([0]), {})[0].fitness
    25.0
    """

    kind = "function"
    config_class = FunctionConfig
    example = {"kind": "function", "name": "rosenbrock", "dim": 3}
    deterministic = True
    direction = "minimize"
    config: FunctionConfig

    @property
    def dim(self) -> int:
        return self.config.dim

    def initial_params(self, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(self.config.init_low, self.config.init_high, self.config.dim)

    def evaluate(self, params: np.ndarray, seeds: np.ndarray, context: Context) -> list[EvalResult]:
        values = FUNCTIONS[self.config.name](np.asarray(params, dtype=np.float64))
        return [EvalResult(float(v)) for v in values]
