"""The conformance suite every registered strategy must pass.

Three checks per strategy (STYLE.md, rule 7), each run from the registry so that adding a strategy
adds it here without editing a test:

* :func:`check_contract`: shapes and parents per ask, finite parameters, a failed candidate (NaN,
  made worst by the engine) never becomes a parent of choice, and a state saved with
  :func:`evoforge.core.state_io.save_state` and loaded again continues exactly as the live one;
* :func:`check_reproducible`: the same seed gives the same genomes, another seed others;
* :func:`check_convergence`: every budget the strategy states (``Strategy.convergence``) is met.

The tasks are small (:mod:`evoforge.testing.toys`): the first the strategy can search of sphere
(parameter vectors), OneMax (bit strings) and XOR (NEAT networks).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from evoforge.core.genome import SeedChainDecoder, genome_id
from evoforge.core.rng import derive_rng
from evoforge.core.shaping import nan_to_worst
from evoforge.core.state_io import load_state, save_state
from evoforge.core.strategy import Convergence, Strategy
from evoforge.engine.registry import STRATEGIES
from evoforge.testing.toys import TASKS, Task, task_for

__all__ = [
    "build",
    "small_population",
    "strategy_names",
    "check_contract",
    "check_reproducible",
    "check_convergence",
    "budgets",
]

_SMALL = {"sphere": 4, "rosenbrock": 4, "onemax": 12, "xor": 2}


def strategy_names() -> list[str]:
    return STRATEGIES.names()


def budgets() -> list[tuple[str, int]]:
    """``(strategy name, index)`` of every convergence budget a registered strategy states."""
    return [(name, k) for name in STRATEGIES.names() for k in range(len(STRATEGIES[name].convergence))]


def _task(cls: type[Strategy], name: str | None = None, dim: int | None = None) -> Task:
    names = [name] if name else list(TASKS)
    for candidate in names:
        task = task_for(candidate, dim or _SMALL[candidate])
        if cls.requires <= task.space.offers:
            return task
    raise AssertionError(
        f"strategy {cls.name!r} requires {sorted(cls.requires)}, which no conformance task offers"
    )


def build(name: str, space, population_size: int = 8, **settings) -> Strategy:
    """Strategy ``name`` over ``space`` with ``settings``, its population as small as
    ``population_size`` where its config allows (the (1+1)-ES has one child, whatever is asked)."""
    cls = STRATEGIES[name]
    return cls(cls.config_class(**{**small_population(name, population_size), **settings}), space)


def small_population(name: str, population_size: int) -> dict[str, int]:
    """``{"population_size": population_size}`` for strategy ``name``, unless its population is
    already smaller (the (1+1)-ES has one child): settings for a quick test run."""
    default = STRATEGIES[name].config_class.model_fields["population_size"].default
    return {"population_size": population_size} if default is None or default > population_size else {}


def _told(strategy: Strategy, task: Task, genomes: list, decode, failed: int | None = None) -> np.ndarray:
    """What the engine would tell: the loss made a fitness to maximise, NaN (the ``failed``
    candidate's) made worst, and for a multi-objective strategy one column per objective."""
    phenotypes = [decode(g) for g in genomes]
    columns = [-task.loss(phenotypes)]
    for _ in getattr(strategy.config, "objectives", ()):
        columns.append(-task.second(phenotypes))
    if failed is not None:
        columns = [np.where(np.arange(len(c)) == failed, np.nan, c) for c in columns]
    told = np.column_stack([nan_to_worst(c) for c in columns])
    if strategy.uses_descriptors:  # as the engine tells them: raw, NaN for the failed candidate
        descriptors = task.describe(phenotypes, strategy.descriptor_size() or 2)
        if failed is not None:
            descriptors[failed] = np.nan
        return np.column_stack([told, descriptors])
    return told if len(columns) > 1 else told[:, 0]


def _decoder(task: Task):
    prior = getattr(task.space, "init_params", None)
    return SeedChainDecoder(prior) if prior is not None else (lambda g: g)


def _trajectory(strategy: Strategy, task: Task, seed: int, generations: int, save_at: int | None = None):
    decode = _decoder(task)
    state = strategy.init(derive_rng(seed, "init"))
    ids = []
    for gen in range(generations):
        if gen == save_at:
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "state.npz"
                save_state(path, strategy.state_to_tree(state))
                state = strategy.state_from_tree(load_state(path))
        state, genomes, parents = strategy.ask(state, derive_rng(seed, gen, "ask"))
        ids.append([genome_id(g) for g in genomes])
        state = strategy.tell(state, genomes, _told(strategy, task, genomes, decode))
    return ids


def check_contract(name: str) -> None:
    """Shapes, parents, finiteness, NaN handling and an exact save/load round trip."""
    cls = STRATEGIES[name]
    assert cls.name == name, f"registered as {name!r}, but the class says {cls.name!r}"
    task = _task(cls)
    strategy = build(name, task.space)
    decode = _decoder(task)
    state = strategy.init(derive_rng(0, "init"))
    for gen in range(3):
        state, genomes, parents = strategy.ask(state, derive_rng(0, gen, "ask"))
        assert len(genomes) == len(parents) == strategy.population_size, name
        assert all(isinstance(p, tuple) for p in parents), name
        if (
            "vector" in task.space.offers
            or "continuous" in task.space.offers
            and task.space.decodes_to_itself
        ):
            params = np.stack([decode(g) for g in genomes])
            assert params.shape == (strategy.population_size, task.space.dim) and np.isfinite(params).all()
        # in the second generation one candidate failed: the engine tells it as the worst
        state = strategy.tell(state, genomes, _told(strategy, task, genomes, decode, 0 if gen == 1 else None))
    live = _trajectory(strategy, task, 0, 5)
    restored = _trajectory(strategy, task, 0, 5, save_at=3)
    assert live == restored, f"{name}: a state saved and loaded does not continue as the live one"


def check_reproducible(name: str) -> None:
    """The same seed gives the same genomes; another seed others."""
    task = _task(STRATEGIES[name])
    a = _trajectory(build(name, task.space), task, 1, 4)
    b = _trajectory(build(name, task.space), task, 1, 4)
    c = _trajectory(build(name, task.space), task, 2, 4)
    assert a == b, f"{name}: the same seed gave different genomes"
    assert a != c, f"{name}: two seeds gave the same genomes"


def check_convergence(name: str, index: int, seeds: tuple[int, ...] = (0,)) -> float:
    """The strategy's ``index``-th budget is met for every seed; returns the worst best loss."""
    cls = STRATEGIES[name]
    budget: Convergence = cls.convergence[index]
    task = _task(cls, budget.task, budget.dim)
    worst = -np.inf
    for seed in seeds:
        strategy = cls(cls.config_class(**budget.settings), task.space)
        decode = _decoder(task)
        state = strategy.init(derive_rng(seed, "init"))
        best = np.inf
        for gen in range(budget.generations):
            state, genomes, _ = strategy.ask(state, derive_rng(seed, gen, "ask"))
            phenotypes = [decode(g) for g in genomes]
            best = min(best, float(np.nanmin(task.loss(phenotypes))))
            centre = strategy.mean(state)
            if centre is not None:  # the engine evaluates a search distribution's centre too
                best = min(best, float(task.loss([centre])[0]))
            if best < budget.below:
                break
            state = strategy.tell(state, genomes, _told(strategy, task, genomes, decode))
        assert best < budget.below, (
            f"{name} on {budget.task}-{budget.dim}, seed {seed}: best loss {best:.3g} is not below "
            f"{budget.below:g} within {budget.generations} generations"
        )
        worst = max(worst, best)
    return worst
