"""The best individual of each generation, as reports read it from a run store."""

from __future__ import annotations

import math

from conftest import function_config, individuals

import evoforge
from evoforge.store.run_store import RunStore


def test_generation_bests_are_each_generations_best_fresh_evaluation(run_dir):
    config = function_config({"name": "open_es", "population_size": 8}, generations=4)
    evoforge.run(config, run_dir)
    rows = individuals(run_dir, "generation, genome_id, fitness", fresh_only=True)
    store = RunStore.open(run_dir)
    try:
        for sign in (1.0, -1.0):  # a maximised and a minimised fitness
            bests = store.generation_bests(sign)
            assert [g for g, _, _ in bests] == [0, 1, 2, 3]
            for generation, gid, fitness in bests:
                scored = [sign * f for g, _, f in rows if g == generation and f is not None]
                assert sign * fitness == max(scored) and not math.isnan(fitness)
                assert (generation, gid, fitness) in rows
    finally:
        store.close()
