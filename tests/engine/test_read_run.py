"""``evoforge.read_run``: a run directory as tables for analysis (pandas), read-only, so it can be read
while the run goes on; the same status ``show`` and the dashboard give."""

from __future__ import annotations

import math

import pytest
from conftest import interrupted_run

import evoforge
from evoforge.store.run_store import StoreError

CONFIG = {"seed": 2, "generations": 4, "backend": "serial", "strategy": {"name": "cma_es", "population_size": 6},
          "problem": {"kind": "function", "name": "rastrigin", "dim": 3}}  # fmt: skip


def test_a_finished_run_as_tables(tmp_path):
    result = evoforge.run(CONFIG, tmp_path / "r")
    record = evoforge.read_run(tmp_path / "r")
    assert record.status == "finished" and record.result == result
    assert record.config == evoforge.RunConfig.model_validate(CONFIG)
    gens = record.generations
    assert list(gens["generation"]) == [0, 1, 2, 3]
    assert gens["best_ever"].iloc[-1] == result.best_fitness  # minimised: the lowest, as the run reports it
    assert gens["evaluations"].sum() == result.evaluations
    fresh = record.individuals[~record.individuals["cached"]]
    assert len(fresh) == result.evaluations
    assert fresh["fitness"].min() == result.best_fitness
    assert {"generation", "idx", "genome_id", "parents", "fitness", "error", "wall_seconds"} <= set(
        record.individuals.columns
    )
    assert record.hall_of_fame[0]["genome_id"] == result.best_genome_id


def test_an_interrupted_run_reads_as_far_as_it_went_and_a_damaged_one_is_one_line(tmp_path):
    interrupted_run(CONFIG, tmp_path / "r", generation=1)
    record = evoforge.read_run(tmp_path / "r")
    assert record.status == "interrupted" and record.result is None
    assert list(record.generations["generation"]) == [0, 1]
    assert not math.isnan(record.individuals["fitness"].iloc[0])
    (tmp_path / "r" / "evoforge.sqlite").write_bytes(b"not a database at all")
    with pytest.raises(StoreError, match="evoforge.sqlite: not a readable run store"):
        evoforge.read_run(tmp_path / "r")
    with pytest.raises(FileNotFoundError, match="not an evoforge run directory"):
        evoforge.read_run(tmp_path / "nowhere")
