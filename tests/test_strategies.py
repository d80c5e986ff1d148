"""Every registered strategy: contract, convergence within a fixed budget, reproducibility."""

import numpy as np
import pytest

from evoforge.core.rng import derive_rng
from evoforge.core.space import VectorSpace
from evoforge.core.state_io import load_state, save_state
from evoforge.engine.registry import STRATEGIES, get_strategy
from evoforge.problems.functions import FUNCTIONS

NAMES = sorted(
    n for n, cls in STRATEGIES.items() if cls.requires <= VectorSpace.offers
)  # NEAT: tests/test_neat.py

# Hyperparameters for the convergence tests (defaults are tuned for neural networks).
SETTINGS = {
    "ga": {"population_size": 100, "sigma": 0.05},
    "open_es": {"population_size": 50, "sigma": 0.1, "learning_rate": 0.05, "weight_decay": 0.0},
    "cma_es": {},
    "sep_cma_es": {},
    "random_search": {"population_size": 100},
    "steady_ga": {"population_size": 50, "sigma": 0.05, "tournament_size": 10},
}

# (function, dim, generations, threshold): f(best) must fall below the threshold.
BUDGETS = {
    "cma_es": [("sphere", 10, 200, 1e-8), ("rosenbrock", 5, 500, 1e-6)],
    # A diagonal covariance cannot follow Rosenbrock's curved valley: slow, as expected.
    "sep_cma_es": [("sphere", 10, 200, 1e-8), ("rosenbrock", 2, 300, 0.5)],
    "open_es": [("sphere", 10, 300, 1e-4), ("rosenbrock", 2, 500, 0.2)],
    "ga": [("sphere", 10, 300, 1e-2), ("rosenbrock", 2, 300, 1e-4)],
    "random_search": [("sphere", 2, 50, 1e-2), ("rosenbrock", 2, 50, 1.0)],
    "steady_ga": [("sphere", 10, 300, 1e-2), ("rosenbrock", 2, 300, 1e-4)],
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


@pytest.mark.parametrize("name", NAMES)
def test_contract_shapes_finiteness_and_state_roundtrip(name, tmp_path):
    strategy = make(name, 4)
    state = strategy.init(derive_rng(0, "init"))
    for gen in range(3):
        state, genomes, parents = strategy.ask(state, derive_rng(0, gen, "ask"))
        assert len(genomes) == strategy.population_size == len(parents)
        params = np.stack([decode(strategy, g) for g in genomes])
        assert params.shape == (strategy.population_size, 4)
        assert np.isfinite(params).all()
        state = strategy.tell(state, genomes, -FUNCTIONS["sphere"](params))
    save_state(tmp_path / "s.npz", strategy.state_to_tree(state))
    restored = strategy.state_from_tree(load_state(tmp_path / "s.npz"))
    _, a, _ = strategy.ask(state, derive_rng(0, 9, "ask"))
    _, b, _ = strategy.ask(restored, derive_rng(0, 9, "ask"))
    assert [np.asarray(decode(strategy, x)).tolist() for x in a] == [
        np.asarray(decode(strategy, x)).tolist() for x in b
    ]


@pytest.mark.parametrize(
    "name,fn,dim,generations,threshold",
    [(n, *b) for n in NAMES for b in BUDGETS[n]],
)
def test_converges_within_budget(name, fn, dim, generations, threshold):
    best, _ = optimise(make(name, dim), fn, generations)
    assert best < threshold, (
        f"{name} on {fn}-{dim}: {best} not below {threshold} in {generations} generations"
    )


def test_ga_seed_chain_converges_too():
    best, state = optimise(make("ga", 10, encoding="seed_chain"), "sphere", 300)
    assert best < 1e-2
    assert all(len(g.seeds) >= 2 for g in state["population"])


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_result_other_seed_differs(name):
    a, _ = optimise(make(name, 5), "rosenbrock", 15, seed=1)
    b, _ = optimise(make(name, 5), "rosenbrock", 15, seed=1)
    c, _ = optimise(make(name, 5), "rosenbrock", 15, seed=2)
    assert a == b
    assert a != c


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
