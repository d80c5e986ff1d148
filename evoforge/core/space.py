"""The search-space protocol: every representation a strategy searches, behind one interface.

A strategy is built as ``Strategy(config, space)`` whatever it evolves: parameter vectors
(:class:`VectorSpace`), NEAT networks, architectures or optimizer update rules (in
:mod:`evoforge.spaces`). A space says what it *offers* and a strategy what it *requires*, both as
sets of capability names; the engine pairs them once, when a config is validated, and nothing
after that asks what kind a genome is.

Capabilities:

* ``sample``: ``sample(rng)`` draws a genome from the space's prior;
* ``mutate`` and ``crossover``: ``mutate(genome, rng)``, ``crossover(a, b, rng)`` (new genomes;
  genomes are immutable);
* ``continuous``: a box encoding of ``dim`` coordinates that ``decode(x)`` turns into a genome,
  with ``initial_point(rng)`` and ``bounds`` (None: unbounded), for CMA-ES and OpenAI-ES;
* ``vector``: genomes *are* float vectors of length ``dim`` (or seed chains of them), so a
  strategy may add Gaussian noise to them itself (the GAs of Such et al. 2017);
* ``network``: NEAT genomes over ``inputs`` and ``outputs`` nodes, which a NEAT strategy grows
  with its own innovation bookkeeping;
* ``policy``: vectors that are the weights of a known MLP policy (its ``policy`` attribute gives the
  layout, activation and action bounds), so a strategy with a gradient learner can rebuild it
  (CEM-RL).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

__all__ = ["SearchSpace", "VectorSpace", "CAPABILITIES"]

CAPABILITIES = frozenset({"sample", "mutate", "crossover", "continuous", "vector", "network", "policy"})


class SearchSpace:
    """Base of every search space; subclasses set :attr:`offers` and implement what it names."""

    #: the capabilities this space offers (see the module docstring)
    offers: ClassVar[frozenset[str]] = frozenset()
    #: what its genomes are called in messages ("parameter vector", "architecture", ...)
    describes: ClassVar[str] = "genome"
    #: genomes users take away (architectures, update rules) are listed whole in a run's hall of fame
    #: and Pareto front, and the reported one is written to this file of the run directory
    export_name: ClassVar[str | None] = None

    def sample(self, rng: np.random.Generator) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not sample")

    def first(self, index: int, rng: np.random.Generator) -> Any:
        """Member ``index`` of a first population. A space with known good starting points (a
        pipeline space's untuned library defaults) returns them first, so a search never does worse
        than they do for lack of trying them; otherwise, and after them, a sample."""
        return self.sample(rng)

    def mutate(self, genome: Any, rng: np.random.Generator) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not mutate")

    def crossover(self, a: Any, b: Any, rng: np.random.Generator) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not recombine")

    # -- the continuous view ---------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """Coordinates of the continuous encoding (0 for spaces without one)."""
        return 0

    @property
    def bounds(self) -> tuple[float, float] | None:
        """The box every coordinate lives in, or None for an unbounded encoding."""
        return None

    def initial_point(self, rng: np.random.Generator) -> np.ndarray:
        """Where a search distribution over the encoding starts."""
        raise NotImplementedError(f"{type(self).__name__} has no continuous encoding")

    def decode(self, x: np.ndarray) -> Any:
        """The genome of a point of the encoding (the same point always decodes to the same genome)."""
        raise NotImplementedError(f"{type(self).__name__} has no continuous encoding")

    @property
    def decodes_to_itself(self) -> bool:
        """Whether a point of the encoding is its own genome (parameter vectors): a search
        distribution's centre is then a candidate the loop can evaluate."""
        return False


class VectorSpace(SearchSpace):
    """Parameter vectors of length ``dim`` drawn from a problem's prior ``init_params(rng)``.

    >>> space = VectorSpace(3, lambda rng: rng.normal(size=3))
    >>> space.sample(np.random.default_rng(0)).shape, space.dim
    ((3,), 3)
    """

    offers = frozenset({"sample", "continuous", "vector"})
    describes = "parameter vector"

    def __init__(self, dim: int, init_params: Callable[[np.random.Generator], np.ndarray]):
        if dim < 1:
            raise ValueError(f"dimension must be >= 1, got {dim}")
        self._dim = int(dim)
        self.init_params = init_params

    @property
    def dim(self) -> int:
        return self._dim

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        return np.asarray(self.init_params(rng), dtype=np.float64)

    def initial_point(self, rng: np.random.Generator) -> np.ndarray:
        return self.sample(rng)

    def decode(self, x: np.ndarray) -> np.ndarray:
        return x

    @property
    def decodes_to_itself(self) -> bool:
        return True
