"""Typed hyperparameters of a genome: a choice among values, an integer or a float range (uniform
or log-uniform), each of which samples a value, perturbs one (a step of about a fifth of its range)
and checks one. The pipeline and GAN spaces draw their genes from them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Choice", "Int", "Float", "Spec"]


@dataclass(frozen=True)
class Choice:
    """One of ``values``."""

    values: tuple[Any, ...]

    def sample(self, rng: np.random.Generator) -> Any:
        return self.values[int(rng.integers(len(self.values)))]

    def perturb(self, value: Any, rng: np.random.Generator) -> Any:
        others = [v for v in self.values if v != value]
        return others[int(rng.integers(len(others)))] if others else value

    def check(self, value: Any) -> bool:
        return value in self.values


@dataclass(frozen=True)
class Int:
    """An integer in ``[lo, hi]``, uniform or log-uniform."""

    lo: int
    hi: int
    log: bool = False

    def sample(self, rng: np.random.Generator) -> int:
        if self.log:
            return int(round(math.exp(rng.uniform(math.log(self.lo), math.log(self.hi)))))
        return int(rng.integers(self.lo, self.hi + 1))

    def perturb(self, value: int, rng: np.random.Generator) -> int:
        """A step of about a fifth of the range (of its logarithm, for a log range), clipped."""
        if self.log:
            moved = math.exp(math.log(max(value, 1)) + rng.normal(0, 0.2 * math.log(self.hi / self.lo)))
        else:
            moved = value + rng.normal(0, 0.2 * (self.hi - self.lo))
        new = int(round(min(max(moved, self.lo), self.hi)))
        return new if new != value or self.lo == self.hi else (value + 1 if value < self.hi else value - 1)

    def check(self, value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and self.lo <= value <= self.hi


@dataclass(frozen=True)
class Float:
    """A float in ``[lo, hi]``, uniform or log-uniform (stored rounded to 4 significant digits, so
    equal-looking genomes are equal)."""

    lo: float
    hi: float
    log: bool = False

    def sample(self, rng: np.random.Generator) -> float:
        if self.log:
            return _round(math.exp(rng.uniform(math.log(self.lo), math.log(self.hi))))
        return _round(rng.uniform(self.lo, self.hi))

    def perturb(self, value: float, rng: np.random.Generator) -> float:
        if self.log:
            moved = math.exp(math.log(value) + rng.normal(0, 0.2 * math.log(self.hi / self.lo)))
        else:
            moved = value + rng.normal(0, 0.2 * (self.hi - self.lo))
        return _round(min(max(moved, self.lo), self.hi))

    def check(self, value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and self.lo <= value <= self.hi


def _round(x: float) -> float:
    return float(f"{x:.4g}")


Spec = Choice | Int | Float
