"""The conformance suite every registered problem kind, and every search space it offers, must pass.

Each problem class states a small ``example`` config. For each of its spaces, a registered strategy
that can search it proposes a few genomes, and:

* :func:`check_space`: genomes have stable content ids, survive the run store's serialisation with
  the same id, and (where the space offers them) mutation, crossover and decoding give genomes the
  problem can evaluate;
* :func:`check_evaluation`: the engine's :func:`~evoforge.engine.evaluation.evaluate_chunk` gives one
  result per genome, each a finite fitness or an error, the metrics the problem says it records,
  and the same results again for the same seeds (an evaluation depends on its seed alone);
* the problem declares its direction and builds from its example without touching the network.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from evoforge.core.genome import blob_to_genome, genome_id, genome_to_blob
from evoforge.core.problem import Problem
from evoforge.core.rng import derive_rng
from evoforge.core.space import SearchSpace
from evoforge.engine.evaluation import build_problem, evaluate_chunk
from evoforge.engine.registry import PROBLEMS, STRATEGIES
from evoforge.testing.strategies import build

__all__ = ["cases", "check_space", "check_evaluation"]


def cases() -> list[tuple[str, int]]:
    """``(problem kind, index of one of its spaces)`` for every registered problem kind."""
    return [(kind, k) for kind in PROBLEMS.names() for k in range(len(PROBLEMS[kind].spaces))]


def _setup(kind: str, index: int) -> tuple[Problem, SearchSpace, list[Any]]:
    cls = PROBLEMS[kind]
    assert cls.kind == kind, f"registered as {kind!r}, but the class says {cls.kind!r}"
    assert cls.direction in ("maximize", "minimize")
    assert cls.example, f"problem {kind!r} states no example config"
    problem = build_problem(cls.config_class.model_validate(cls.example))
    space_class = cls.spaces[index]
    space = problem.space_for(space_class)
    assert isinstance(space, space_class)
    name = next((n for n in STRATEGIES.names() if STRATEGIES[n].requires <= space.offers), None)
    assert name is not None, f"no registered strategy searches the {space_class.__name__} of {kind!r}"
    strategy = build(name, space, 4)
    _, genomes, _ = strategy.ask(strategy.init(derive_rng(0, "init")), derive_rng(0, 0, "ask"))
    return problem, space, list(genomes)


def check_space(kind: str, index: int) -> None:
    problem, space, genomes = _setup(kind, index)
    rng = np.random.default_rng(0)
    for g in genomes:
        assert genome_id(g) == genome_id(g)
        encoding, blob = genome_to_blob(g)
        assert genome_id(blob_to_genome(encoding, blob)) == genome_id(g), f"{kind}: {encoding} round trip"
    made = []
    if "mutate" in space.offers:
        made.append(space.mutate(genomes[0], rng))
    if "crossover" in space.offers:
        made.append(space.crossover(genomes[0], genomes[-1], rng))
    if "continuous" in space.offers and space.dim:
        made.append(space.decode(rng.random(space.dim)))
    if made:
        results = evaluate_chunk(problem.config, problem.initial_context(), None, [(g, 1) for g in made])
        assert len(results) == len(made)


def check_evaluation(kind: str, index: int) -> None:
    problem, _, genomes = _setup(kind, index)
    context = problem.initial_context()
    items = [(g, 1000 + i) for i, g in enumerate(genomes)]
    first = evaluate_chunk(problem.config, context, None, items)
    again = evaluate_chunk(problem.config, context, None, items)
    assert len(first) == len(genomes)
    for r, s in zip(first, again, strict=True):
        assert (r.error is None and math.isfinite(r.fitness)) or (r.error and math.isnan(r.fitness)), r
        if r.error is None:
            assert set(problem.recorded_metrics) <= set(r.metrics), (kind, sorted(r.metrics))
        assert (r.fitness == s.fitness) or (math.isnan(r.fitness) and math.isnan(s.fitness)), (
            f"{kind}: the same seed gave {r.fitness} then {s.fitness}"
        )
    assert any(r.error is None for r in first), f"{kind}: every example candidate failed: {first[0].error}"
