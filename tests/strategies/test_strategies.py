"""What particular strategies promise beyond the conformance suite (tests/strategies/test_strategies_conformance.py)."""

import numpy as np
import pytest

from evoforge.core.rng import derive_rng
from evoforge.core.space import VectorSpace
from evoforge.engine.registry import STRATEGIES, get_strategy
from evoforge.problems.functions import FUNCTIONS

NAMES = sorted(
    n for n, cls in STRATEGIES.items() if cls.requires <= VectorSpace.offers
)  # NEAT: tests/strategies/test_neat.py

# Hyperparameters for the tests below (defaults are tuned for neural networks). Contract, convergence
# and reproducibility of every registered strategy: tests/strategies/test_strategies_conformance.py (evoforge.testing).
SETTINGS = {
    "ga": {"population_size": 100, "sigma": 0.05},
    "open_es": {"population_size": 50, "sigma": 0.1, "learning_rate": 0.05, "weight_decay": 0.0},
    "cma_es": {},
    "sep_cma_es": {},
    "random_search": {"population_size": 100},
    "steady_ga": {"population_size": 50, "sigma": 0.05, "tournament_size": 10},
}


def make(name, dim, **overrides):
    cls = get_strategy(name)
    params = dict(SETTINGS[name])
    params.update(overrides)
    config = cls.config_class(**params)
    return cls(config, VectorSpace(dim, lambda rng: rng.uniform(-3, 3, dim)))


def optimise(strategy, fn, generations, seed=0):
    state = strategy.init(derive_rng(seed, "init"))
    best = np.inf
    for gen in range(generations):
        state, genomes, _ = strategy.ask(state, derive_rng(seed, gen, "ask"))
        values = FUNCTIONS[fn](np.stack([decode(strategy, g) for g in genomes]))
        best = min(best, float(values.min()))
        centre = strategy.mean(state)
        if centre is not None:  # the run loop evaluates the centre too
            best = min(best, float(FUNCTIONS[fn](centre[None])[0]))
        state = strategy.tell(state, genomes, -values)
    return best, state


def decode(strategy, genome):
    from evoforge.core.genome import SeedChainDecoder

    if not hasattr(strategy, "_decoder"):
        strategy._decoder = SeedChainDecoder(strategy.space.init_params)
    return strategy._decoder(genome)


def test_registry_has_the_issue_strategies():
    assert {"ga", "open_es", "cma_es", "sep_cma_es", "random_search"} <= set(STRATEGIES)


def test_nan_fitness_never_drives_selection():
    from evoforge.core.shaping import nan_to_worst

    strategy = make("ga", 3, population_size=10, elite_size=1, truncation_size=2)
    state = strategy.init(derive_rng(0, "init"))
    state, genomes, _ = strategy.ask(state, derive_rng(0, 0, "ask"))
    fitness = np.full(10, np.nan)
    fitness[7] = -5.0
    state = strategy.tell(state, genomes, nan_to_worst(fitness))
    _, children, _ = strategy.ask(state, derive_rng(0, 1, "ask"))
    assert np.array_equal(children[0], genomes[7])  # the only finite one is the elite


def test_cma_es_maximises_and_reports_its_mean():
    strategy = make("cma_es", 3)
    _, state = optimise(strategy, "sphere", 150)
    assert np.abs(strategy.mean(state)).max() < 1e-4


def test_open_es_antithetic_pairs_and_even_population():
    from pydantic import ValidationError

    from evoforge.strategies.open_es import OpenESConfig

    strategy = make("open_es", 3)
    state = strategy.init(derive_rng(0, "init"))
    state, genomes, _ = strategy.ask(state, derive_rng(0, 0, "ask"))
    half = len(genomes) // 2
    mean = strategy.mean(state)
    for k in range(half):
        assert np.allclose(genomes[k] - mean, -(genomes[k + half] - mean))
    with pytest.raises(ValidationError):
        OpenESConfig(population_size=5)
