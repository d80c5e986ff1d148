"""Small search spaces and tasks the conformance suites run every strategy on, each cheap enough to
solve in a fraction of a second: bit strings (OneMax), parameter vectors (sphere, Rosenbrock) and
NEAT networks (XOR)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from evoforge.core.genome import register_genome
from evoforge.core.space import SearchSpace, VectorSpace

__all__ = ["Bits", "BitSpace", "Task", "TASKS", "task_for"]


@register_genome
@dataclass(frozen=True)
class Bits:
    """An immutable bit string, a structured genome of its own (encoding ``bits``).

    >>> Bits((1, 0, 1)).to_json()
    {'bits': [1, 0, 1]}
    """

    bits: tuple[int, ...]
    encoding = "bits"

    def to_json(self) -> dict[str, Any]:
        return {"bits": list(self.bits)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Bits:
        return cls(tuple(int(b) for b in data["bits"]))


class BitSpace(SearchSpace):
    """Bit strings of length ``n``: uniform samples, one flipped bit per mutation, uniform
    crossover, and a box encoding (a coordinate above one half is a one).

    >>> space = BitSpace(4)
    >>> space.decode(np.array([0.9, 0.1, 0.6, 0.4])).bits
    (1, 0, 1, 0)
    """

    offers = frozenset({"sample", "mutate", "crossover", "continuous"})
    describes = "bit string"

    def __init__(self, n: int):
        self.n = n

    @property
    def dim(self) -> int:
        return self.n

    @property
    def bounds(self) -> tuple[float, float]:
        return (0.0, 1.0)

    def sample(self, rng: np.random.Generator) -> Bits:
        return Bits(tuple(int(b) for b in rng.integers(0, 2, self.n)))

    def mutate(self, genome: Bits, rng: np.random.Generator) -> Bits:
        bits = list(genome.bits)
        i = int(rng.integers(self.n))
        bits[i] = 1 - bits[i]
        return Bits(tuple(bits))

    def crossover(self, a: Bits, b: Bits, rng: np.random.Generator) -> Bits:
        take = rng.random(self.n) < 0.5
        return Bits(tuple(x if t else y for x, y, t in zip(a.bits, b.bits, take, strict=True)))

    def initial_point(self, rng: np.random.Generator) -> np.ndarray:
        return np.full(self.n, 0.5)

    def decode(self, x: np.ndarray) -> Bits:
        return Bits(tuple(int(v > 0.5) for v in np.asarray(x)))


@dataclass(frozen=True)
class Task:
    """A conformance task: its space, and ``loss`` of a list of genomes (lower is better; 0 solved)."""

    name: str
    space: Any
    loss: Any
    #: a second objective per genome (lower is better), for multi-objective strategies
    second: Any

    def describe(self, genomes: list, size: int) -> np.ndarray:
        """A behaviour descriptor of ``size`` numbers in [0, 1] per genome, for quality-diversity
        strategies: the first coordinates squashed by the logistic function (parameter vectors) or the
        share of ones in ``size`` stretches (bit strings)."""
        if self.name in ("sphere", "rosenbrock"):
            x = np.stack(genomes)
            first = np.zeros((len(x), size))
            first[:, : min(size, x.shape[1])] = x[:, :size]
            return 1.0 / (1.0 + np.exp(-first))
        if self.name == "onemax":
            return np.array(
                [[np.mean(part) for part in np.array_split(np.array(g.bits), size)] for g in genomes]
            )
        raise ValueError(f"task {self.name!r} has no behaviour descriptor")


def _sphere(genomes: list) -> np.ndarray:
    x = np.stack(genomes)
    return np.sum(x * x, axis=1)


def _rosenbrock(genomes: list) -> np.ndarray:
    x = np.stack(genomes)
    return np.sum(100.0 * (x[:, 1:] - x[:, :-1] ** 2) ** 2 + (1 - x[:, :-1]) ** 2, axis=1)


def _xor(genomes: list) -> np.ndarray:
    from evoforge.problems.xor import XORConfig, XORProblem

    results = XORProblem(XORConfig()).evaluate(genomes, np.zeros(len(genomes), np.uint64), {})
    return np.array([16.0 - r.fitness for r in results])  # 0 once every pattern is exact


def _prior(dim: int):
    return lambda rng: rng.uniform(-3.0, 3.0, dim)


def task_for(name: str, dim: int) -> Task:
    """The task ``name`` (sphere, rosenbrock, onemax, xor) at ``dim`` (bits, or coordinates)."""
    if name in ("sphere", "rosenbrock"):
        fn = _sphere if name == "sphere" else _rosenbrock
        return Task(name, VectorSpace(dim, _prior(dim)), fn, lambda gs: np.abs(np.stack(gs)).sum(axis=1))
    if name == "onemax":
        return Task(
            name,
            BitSpace(dim),
            lambda gs: np.array([dim - sum(g.bits) for g in gs], dtype=np.float64),
            lambda gs: np.array([sum(g.bits[: dim // 2]) for g in gs], dtype=np.float64),
        )
    if name == "xor":
        from evoforge.spaces.neat import NetworkSpace

        return Task(name, NetworkSpace(2, 1), _xor, lambda gs: np.array([float(len(g)) for g in gs]))
    raise ValueError(f"unknown conformance task {name!r} (sphere, rosenbrock, onemax, xor)")


#: the tasks tried, in order, for a strategy's contract and reproducibility checks
TASKS = ("sphere", "onemax", "xor")
