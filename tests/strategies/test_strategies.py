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
    "ars": {"population_size": 16, "step_size": 0.05, "noise": 0.05, "start": "space"},
    "pgpe": {"population_size": 20, "center_learning_rate": 0.05, "stdev_init": 0.5},
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


def test_ars_follows_only_its_top_directions():
    """V1-t: the update uses the b directions whose better end scored highest; what the others
    scored does not matter, and with every direction used it is the paper's step 7 as written."""
    strategy = make("ars", 4, population_size=8, top_directions=2)
    state = strategy.init(derive_rng(0, "init"))
    state, genomes, _ = strategy.ask(state, derive_rng(0, 0, "ask"))
    delta = state.directions
    plus, minus = np.array([5.0, 1.0, 0.0, 9.0]), np.array([2.0, 0.5, 1.0, 3.0])
    told = strategy.tell(state, genomes, np.concatenate([plus, minus]))
    top = [3, 0]  # max(r+, r-): 9 and 5
    used = np.concatenate([plus[top], minus[top]])
    expected = state.mean + 0.05 / (2 * used.std()) * ((plus[top] - minus[top]) @ delta[top])
    assert np.allclose(told.mean, expected)
    others = np.concatenate([[5.0, -7.0, 4.0, 9.0], [2.0, 3.0, -1.0, 3.0]])  # directions 1, 2 changed
    assert np.array_equal(strategy.tell(state, genomes, others).mean, told.mean)
    flat = strategy.tell(state, genomes, np.ones(8))  # no spread, no step
    assert np.array_equal(flat.mean, state.mean)


def test_ars_starts_from_the_zero_policy_by_default_and_checks_its_directions():
    from pydantic import ValidationError

    from evoforge.strategies.ars import ARS, ARSConfig

    strategy = ARS(ARSConfig(population_size=6), VectorSpace(3, lambda rng: np.ones(3)))
    assert np.array_equal(strategy.init(derive_rng(0, "init")).mean, np.zeros(3))
    for bad in ({"population_size": 7}, {"population_size": 6, "top_directions": 4}):
        with pytest.raises(ValidationError):
            ARSConfig(**bad)


def test_pgpe_with_fixed_sigma_and_adam_moves_as_openai_es():
    """Differential test: PGPE's centre gradient is OpenAI-ES's times sigma squared, and Adam does not
    see a constant factor, so with sigma fixed, the same noise and no weight decay, the two agree."""
    pgpe = make(
        "pgpe", 5, optimizer="adam", stdev_learning_rate=0.0, stdev_init=0.1, center_learning_rate=0.05
    )
    es = make("open_es", 5, population_size=20, sigma=0.1, learning_rate=0.05)
    a, b = pgpe.init(derive_rng(0, "init")), es.init(derive_rng(0, "init"))
    assert np.array_equal(a.mean, b.mean)
    for gen in range(20):
        a, ga, _ = pgpe.ask(a, derive_rng(0, gen, "ask"))
        b, gb, _ = es.ask(b, derive_rng(0, gen, "ask"))
        assert np.allclose(np.stack(ga), np.stack(gb), rtol=1e-4, atol=1e-5)  # Adam's epsilon: not scale-free
        fitness = -FUNCTIONS["rosenbrock"](np.stack(ga))
        a, b = pgpe.tell(a, ga, fitness), es.tell(b, gb, fitness)
    assert np.allclose(a.mean, b.mean, rtol=1e-4, atol=1e-5)
    assert not np.allclose(a.mean, pgpe.init(derive_rng(0, "init")).mean)  # it moved


def test_pgpe_sigma_adapts_within_its_bound_and_clipup_caps_the_speed():
    strategy = make("pgpe", 6, max_speed=0.3, stdev_max_change=0.2)
    state = strategy.init(derive_rng(0, "init"))
    for gen in range(30):
        before = state.stdev
        state, genomes, _ = strategy.ask(state, derive_rng(0, gen, "ask"))
        state = strategy.tell(state, genomes, -FUNCTIONS["sphere"](np.stack(genomes)))
        assert np.all(state.stdev <= before * 1.2 + 1e-12) and np.all(state.stdev >= before * 0.8 - 1e-12)
        assert np.linalg.norm(state.m) <= 0.3 + 1e-12
    assert state.stdev.mean() < 0.5  # near the optimum of the sphere sigma shrinks


def test_map_elites_is_checked_against_the_problems_descriptors():
    import evoforge
    from evoforge.engine.loop import ConfigError, prepare

    base = {"generations": 1, "strategy": {"name": "map_elites", "population_size": 4}}
    cartpole = {"kind": "gym", "env_id": "CartPole-v1", "policy": {"hidden": [2]}}
    for problem, message in (
        (cartpole, "strategy 'map_elites' needs behaviour descriptors, and problem 'gym' records none"),
        ({**cartpole, "descriptor": ["descriptors:cart_path"], "episodes": 1, "max_episode_steps": 5}, None),
    ):
        config = evoforge.RunConfig.model_validate({**base, "problem": problem})
        if message is None:
            _, strategy, _ = prepare(config)
            assert strategy.descriptor_size() == 2
            continue
        with pytest.raises(ConfigError, match=message):
            prepare(config)
    three = {**base["strategy"], "descriptor_bounds": [[0, 1]] * 3, "cells": [2, 2, 2]}
    config = evoforge.RunConfig.model_validate(
        {**base, "strategy": three, "problem": {**cartpole, "descriptor": ["descriptors:cart_path"]}}
    )
    with pytest.raises(ConfigError, match="expects descriptors of 3 numbers .* records 2"):
        prepare(config)


def test_map_elites_keeps_the_fittest_per_cell_and_ignores_failures():
    from evoforge.strategies.map_elites import MAPElites, MAPElitesConfig

    me = MAPElites(
        MAPElitesConfig(population_size=4, cells=[2, 2], iso_sigma=0.1),
        VectorSpace(2, lambda r: r.uniform(size=2)),
    )
    state = me.init(derive_rng(0, "init"))
    state, genomes, _ = me.ask(state, derive_rng(0, 0, "ask"))
    told = np.array([[1.0, 0.1, 0.1], [3.0, 0.2, 0.2], [-1e30, np.nan, np.nan], [2.0, 0.9, 0.9]])
    state = me.tell(state, genomes, told)  # cell (0, 0) keeps the second, the third failed
    assert me.report(state)["elites"] == 2 and me.report(state)["archive_best"] == 3.0
    assert np.array_equal(state.params[0], genomes[1]) and np.array_equal(state.params[3], genomes[3])
    state, children, parents = me.ask(state, derive_rng(0, 1, "ask"))
    from evoforge.core.genome import genome_id

    assert {p for (p,) in parents} <= {genome_id(genomes[1]), genome_id(genomes[3])}  # varied elites
    with pytest.raises(ValueError, match="told fitness plus 2 descriptor numbers"):
        me.tell(state, children, np.ones(4))


def _ns_run(generations, **settings):
    from evoforge.strategies.ns_es import NSES, NSESConfig

    es = NSES(NSESConfig(**{"population_size": 21, "agents": 2, "sigma": 0.1, "learning_rate": 0.05, **settings}),
              VectorSpace(2, lambda r: np.zeros(2)))  # fmt: skip
    state, rewards = es.init(derive_rng(0, "init")), []
    for gen in range(generations):
        state, genomes, _ = es.ask(state, derive_rng(0, gen, "ask"))
        x = np.stack(genomes)
        reward = -np.abs(x).sum(axis=1)  # stay home; the descriptor is where it went
        rewards.append(reward.max())
        state = es.tell(state, genomes, np.column_stack([reward, x]))
    return es, state


def test_novelty_search_spreads_its_archive_where_reward_would_keep_it_home():
    es, novel = _ns_run(40)
    _, rewarded = _ns_run(40, reward_weight=1.0)
    assert len(novel.archive) == 40  # each generation the agent moved last joins the archive
    spread = lambda s: float(np.abs(s.archive).max())  # noqa: E731
    assert spread(novel) > 5 * spread(rewarded)
    assert spread(rewarded) < 0.3  # reward alone stays near the origin, where it is best


def test_nsra_es_weight_rises_with_progress_and_falls_when_it_stalls():
    # the first generation improves on nothing (w up), and its agent at the origin already has the
    # best reward there is: every 2 stale generations after it, w falls by a step
    weights = [_ns_run(g, reward_weight=0.5, adaptive=True, weight_step=0.1, patience=2)[1].reward_weight
               for g in (1, 2, 3, 5, 7)]  # fmt: skip
    assert np.allclose(weights, [0.6, 0.6, 0.5, 0.4, 0.3])


def test_cma_mae_anneals_thresholds_keeps_the_best_apart_and_restarts_idle_emitters():
    """Algorithm 1 of Fontaine & Nikolaidis 2023 on hand-made fitness: a solution enters when it beats
    its cell's threshold, which moves alpha of the way toward it; the result archive keeps the best."""
    from evoforge.strategies.cma_mae import CMAMAE, CMAMAEConfig

    s = CMAMAE(
        CMAMAEConfig(
            population_size=8,
            emitters=2,
            cells=[2, 1],
            descriptor_bounds=[(0, 1), (0, 1)],
            archive_learning_rate=0.5,
            threshold_min=0.0,
        ),  # fmt: skip
        VectorSpace(3, lambda r: np.zeros(3)),
    )
    state = s.init(derive_rng(0, "init"))
    state, genomes, _ = s.ask(state, derive_rng(0, 0, "ask"))
    left, right = [0.2, 0.5], [0.8, 0.5]
    # emitter 0 (first 4): into the left cell, fitness 4 then 3 (3 > threshold 2: enters, worse than 4);
    # emitter 1 (last 4): nothing above the threshold 0 of the right cell
    told = np.array([[4.0, *left], [3.0, *left], [-1.0, *left], [-2.0, *left]] + [[-1.0, *right]] * 4)
    state = s.tell(state, genomes, told)
    assert state.thresholds[0] == pytest.approx(0.5 * (0.5 * 0 + 0.5 * 4) + 0.5 * 3)  # 2, then 2.5
    assert state.archive.fitness[0] == 3.0 and state.best.fitness[0] == 4.0  # annealed vs result archive
    assert np.array_equal(state.best.params[0], genomes[0])
    assert state.restart.tolist() == [False, True]  # emitter 1 found nothing: it restarts at an elite
    assert state.archive.occupied.tolist() == [True, False]  # below its threshold, -1 stays out ...
    assert s.report(state)["coverage"] == 1.0  # ... of the annealed archive, not of the result archive
    state, again, _ = s.ask(state, derive_rng(0, 1, "ask"))
    spread = np.stack(again[4:]) - genomes[1]  # around the left cell's elite, at sigma 0.5
    assert np.abs(spread.mean(axis=0)).max() < 1.0


def _novelty_run(generations, told_by, **settings):
    from evoforge.strategies.novelty_search import NoveltySearch, NoveltySearchConfig

    ns = NoveltySearch(NoveltySearchConfig(**{"population_size": 20, "sigma": 0.1, **settings}),
                       VectorSpace(2, lambda r: r.normal(size=2)))  # fmt: skip
    state = ns.init(derive_rng(0, "init"))
    for gen in range(generations):
        state, genomes, _ = ns.ask(state, derive_rng(0, gen, "ask"))
        state = ns.tell(state, genomes, told_by(np.stack(genomes)))
    return state


def _stay_home(x):
    """Reward for staying at the origin; the behaviour is where the point went."""
    return np.column_stack([-np.abs(x).sum(axis=1), x])


def test_novelty_search_spreads_where_reward_keeps_the_population_home():
    novel = _novelty_run(30, _stay_home, threshold=0.5)
    rewarded = _novelty_run(30, _stay_home, threshold=0.5, reward_weight=1.0)
    spread = lambda s: float(np.abs(s.descriptors).max(axis=1).mean())  # noqa: E731
    assert spread(novel) > 10 * spread(rewarded)
    assert spread(rewarded) < 0.1  # reward alone stays near the origin, where it is best
    assert len(novel.archive) > 20 and np.abs(novel.archive).max() > 1.0


def test_the_archive_threshold_rises_when_many_join_and_falls_when_none_do():
    # generation 0: 20 children all far apart (novelty > 0.01): more than 4 join, rho rises 20%
    assert _novelty_run(1, _stay_home, threshold=0.01).threshold == pytest.approx(0.012)
    # a rho nothing reaches: after 3 idle generations it falls 5%, 3 more and again
    still = _novelty_run(6, _stay_home, threshold=1e6, patience=3)
    assert still.threshold == pytest.approx(1e6 * 0.95**2) and len(still.archive) == 0
    # random joins: about archive_rate of the children, the same ones for the same seed
    state = _novelty_run(20, _stay_home, archive="random", archive_rate=0.25)
    assert 60 <= len(state.archive) <= 140
    assert np.array_equal(
        state.archive, _novelty_run(20, _stay_home, archive="random", archive_rate=0.25).archive
    )


def test_plus_keeps_the_best_parents_and_comma_replaces_them():
    from evoforge.strategies.novelty_search import NoveltySearch, NoveltySearchConfig

    def first_two(**settings):
        # no archive (a rho nobody reaches): an archived parent would be its own nearest neighbour
        ns = NoveltySearch(NoveltySearchConfig(population_size=4, sigma=1e-3, neighbours=1, threshold=1e6, **settings),
                           VectorSpace(2, lambda r: np.zeros(2)))  # fmt: skip
        state, genomes, _ = ns.ask(ns.init(derive_rng(0, "init")), derive_rng(0, 0, "ask"))
        # four parents at the corners of a large square, the children in two close pairs within it:
        # each parent far more novel (its nearest behaviour 42 away) than any child (1 away)
        corners = np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0], [100.0, 100.0]])
        state = ns.tell(state, genomes, np.column_stack([np.zeros(4), corners]))
        state, children, _ = ns.ask(state, derive_rng(0, 1, "ask"))
        told = np.column_stack([np.zeros(4), [[30.0, 30.0], [30.0, 31.0], [50.0, 50.0], [50.0, 51.0]]])
        return ns.tell(state, children, told)

    plus, comma = first_two(), first_two(replacement="comma")
    assert {tuple(b) for b in plus.descriptors} == {(0, 0), (100, 0), (0, 100), (100, 100)}
    assert {tuple(b) for b in comma.descriptors} == {(30, 30), (30, 31), (50, 50), (50, 51)}


def test_a_failed_candidate_never_joins_the_archive_and_survives_last():
    def with_a_failure(x):
        told = _stay_home(x) * 100
        told[3] = [-np.inf, np.nan, np.nan]  # as the engine tells a failed candidate
        return told

    state = _novelty_run(1, with_a_failure, threshold=0.01, population_size=20)
    assert np.isfinite(state.archive).all() and len(state.archive) == 19
    state = _novelty_run(1, with_a_failure, threshold=0.01, population_size=20, replacement="comma")
    assert np.isnan(state.descriptors[-1]).all() and np.isfinite(state.descriptors[:-1]).all()
