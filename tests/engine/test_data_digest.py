"""A resumed run reads the data its run started with: the data's digest is recorded when a run starts,
and a resume on a changed table or dataset is refused in one line (it would quietly continue another
search); on the same data it resumes as before."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import cli, interrupted_run, mixed_csv

import evoforge
from evoforge.engine.config import ConfigError


@pytest.mark.slow  # a resume loop, as every kill-and-resume test (the fast lane has the array case)
def test_a_changed_table_is_refused_and_the_same_table_resumes(tmp_path):
    data = mixed_csv(tmp_path)
    config = {
        "seed": 3, "generations": 3, "test_episodes": 1, "backend": "serial",
        "strategy": {"name": "regularized_evolution", "population_size": 4, "sample_size": 2},
        "problem": {"kind": "tabular", "data": data, "target": "label", "folds": 2},
    }  # fmt: skip
    straight = evoforge.run(evoforge.RunConfig.model_validate(config), tmp_path / "straight")
    interrupted_run(config, tmp_path / "run")
    original = open(data).read()
    open(data, "w").write("".join(original.splitlines(keepends=True)[:-1]))  # one row fewer
    with pytest.raises(ConfigError, match=r"the data of .*run changed since the run started \(.*\.csv\)"):
        evoforge.resume(tmp_path / "run")
    done = cli("resume", tmp_path / "run")  # the command line: one line, exit 2
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "changed since the run started" in done.stderr
    open(data, "w").write(original)
    resumed = evoforge.resume(tmp_path / "run")
    assert resumed.best_fitness == straight.best_fitness and resumed.test_score == straight.test_score


def test_a_changed_array_dataset_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(120, 6)).astype(np.float32), np.arange(120) % 3
    np.savez(tmp_path / "d.npz", x=x, y=y)
    config = {
        "seed": 0, "generations": 2, "test_episodes": 1, "backend": "serial",
        "strategy": {"name": "regularized_evolution", "population_size": 2, "sample_size": 2},
        "problem": {"kind": "classification", "dataset": {"name": "npz", "path": str(tmp_path / "d.npz")},
                    "proxy_epochs": 1, "space": {"max_layers": 2}},
    }  # fmt: skip
    interrupted_run(config, tmp_path / "run")
    y[0] = (y[0] + 1) % 3  # one label changed
    np.savez(tmp_path / "d.npz", x=x, y=y)
    with pytest.raises(ConfigError, match="changed since the run started"):
        evoforge.resume(tmp_path / "run")


def test_a_new_run_in_the_same_process_reads_a_table_edited_since_the_last(tmp_path):
    """The process keeps the problem it last built, for its config; a run with the same config after
    the file changed reads the file again (a notebook's second run saw the first run's table)."""
    from evoforge.engine.evaluation import build_problem

    data = mixed_csv(tmp_path)
    config = evoforge.RunConfig.model_validate(
        {
            "problem": {"kind": "tabular", "data": data, "target": "label", "folds": 2},
            "strategy": {"name": "random_search"},
        }  # fmt: skip
    ).problem
    first = build_problem(config, fresh_files=True)
    assert build_problem(config, fresh_files=True) is first  # unchanged: reused
    rows = open(data).read().splitlines(keepends=True)
    open(data, "w").write("".join(rows[:-1]))
    again = build_problem(config, fresh_files=True)
    assert again is not first and again.table.rows == first.table.rows - 1
