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
    descriptor: Literal["none", "projection"] = Field(
        "none",
        description="A behaviour descriptor for quality-diversity strategies: 'projection' records the "
        "linear projection of Fontaine et al. 2020 (CMA-ME, section 5.1), the sums of the first and the "
        "second half of the coordinates, each clipped to +-5.12 (so 5.12 x dim/2 at most), as "
        "descriptor_0 and descriptor_1.",
    )


class FunctionProblem(Problem):
    """Minimise a benchmark function; the fitness is the function value.

    >>> p = FunctionProblem(FunctionConfig(name="sphere", dim=2))
    >>> p.evaluate(np.array([[3.0, 4.0]]), np.array([0]), {})[0].fitness
    25.0
    >>> q = FunctionProblem(FunctionConfig(name="sphere", dim=4, descriptor="projection"))
    >>> q.evaluate(np.array([[1.0, 2.0, 9.0, -1.0]]), np.array([0]), {})[0].metrics  # 9 clipped to 5.12
    {'descriptor_0': 3.0, 'descriptor_1': 4.12}
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

    @property
    def descriptor_size(self) -> int:  # type: ignore[override]  # set by the config
        return 2 if self.config.descriptor == "projection" else 0

    @property
    def recorded_metrics(self) -> tuple[str, ...]:  # type: ignore[override]  # set by the config
        return ("descriptor_0", "descriptor_1") if self.descriptor_size else ()

    def evaluate(self, params: np.ndarray, seeds: np.ndarray, context: Context) -> list[EvalResult]:
        x = np.asarray(params, dtype=np.float64)
        values = FUNCTIONS[self.config.name](x)
        if not self.descriptor_size:
            return [EvalResult(float(v)) for v in values]
        half = max(1, x.shape[1] // 2)
        clipped = np.clip(x, -5.12, 5.12)  # Fontaine et al.'s clip: the projection's range is bounded
        first, second = clipped[:, :half].sum(axis=1), clipped[:, half:].sum(axis=1)
        return [
            EvalResult(float(v), {"descriptor_0": float(a), "descriptor_1": float(b)})
            for v, a, b in zip(values, first, second, strict=True)
        ]
