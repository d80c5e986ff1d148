"""File names in a config are relative to the folder a run starts in; the run directory records them
absolute, so resuming (or reporting, or training the winner) from another folder reads the same
files (it failed with "No such file or directory")."""

from __future__ import annotations

import numpy as np
from conftest import interrupted_run

import evoforge
from evoforge.data.datasets import DatasetSpec
from evoforge.engine.config import LoggingConfig
from evoforge.problems.gan import GanConfig
from evoforge.problems.tabular import TabularConfig


def test_a_run_started_with_relative_paths_resumes_from_another_folder(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    rng = np.random.default_rng(0)
    np.savez(project / "data" / "d.npz", x=rng.normal(size=(120, 6)).astype(np.float32), y=np.arange(120) % 3)
    config = {
        "seed": 0, "generations": 2, "test_episodes": 1, "backend": "serial",
        "strategy": {"name": "regularized_evolution", "population_size": 2, "sample_size": 2},
        "problem": {"kind": "classification", "dataset": {"name": "npz", "path": "data/d.npz"},
                    "proxy_epochs": 1, "space": {"max_layers": 2}},
    }  # fmt: skip
    monkeypatch.chdir(project)
    straight = evoforge.run(evoforge.RunConfig.model_validate(config), tmp_path / "straight")
    interrupted_run(config, tmp_path / "run")
    monkeypatch.chdir(tmp_path)
    resumed = evoforge.resume(tmp_path / "run")
    assert resumed.best_fitness == straight.best_fitness and resumed.test_score == straight.test_score
    assert f"path: {project / 'data' / 'd.npz'}" in (tmp_path / "run" / "config.yaml").read_text()


def test_every_file_name_a_config_holds_is_made_absolute_and_named_sources_stay(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    here = str(tmp_path)
    spec = DatasetSpec(name="csv", path="train.csv", test_path="../test.csv")
    assert (spec.path, spec.test_path) == (f"{here}/train.csv", str(tmp_path.parent / "test.csv"))
    table = TabularConfig(data="t.csv", test_data="sub/u.parquet")
    assert (table.data, table.test_data) == (f"{here}/t.csv", f"{here}/sub/u.parquet")
    assert TabularConfig(data="sklearn:iris").data == "sklearn:iris"  # a bundled table, not a file
    assert TabularConfig(data="/abs/t.csv").data == "/abs/t.csv"
    assert GanConfig(data="folder", path="imgs").path == f"{here}/imgs"
    assert LoggingConfig(tensorboard="tb").tensorboard == f"{here}/tb"
    assert LoggingConfig(mlflow="sqlite:///mlflow.db").mlflow == "sqlite:///mlflow.db"  # a URI, as given
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # "~" expanded: only a name, nothing read
    assert DatasetSpec(name="csv", path="~/x.csv").path == str(tmp_path / "home" / "x.csv")
