"""The example configs are executable documentation: each CartPole example must solve
CartPole-v1 (mean of 10 fresh test episodes >= 475) for 5 of 5 seeds within its budget."""

from pathlib import Path

import pytest
import yaml
from conftest import write_idx_folder

import evoforge

pytestmark = pytest.mark.slow  # the examples at their full budgets


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str, **update) -> evoforge.RunConfig:
    raw = yaml.safe_load((EXAMPLES / name).read_text())
    raw.update(update)
    return evoforge.RunConfig.model_validate(raw)


@pytest.mark.parametrize("name", ["cartpole-ga.yaml", "cartpole-es.yaml", "cartpole-cmaes.yaml"])
def test_cartpole_example_solves_for_five_seeds(name, tmp_path):
    scores = []
    for seed in range(5):
        result = evoforge.run(load(name, seed=seed), tmp_path / f"s{seed}")
        scores.append(result.test_score)
    assert all(score >= 475 for score in scores), scores


def test_every_example_config_is_valid_and_runs(tmp_path, monkeypatch):
    # Examples that read Fashion-MNIST run on a small IDX dataset of the same shape, written here: the
    # real one is a system package no test may need. Those naming no path find it where Debian puts it.
    system = tmp_path / "system-data"
    write_idx_folder(system / "fashion-mnist", n_train=400, n_test=100)
    monkeypatch.setenv("EVOFORGE_SYSTEM_DATA", str(system))
    names = sorted(p.name for p in EXAMPLES.glob("*.yaml"))
    assert {
        "cartpole-ga.yaml",
        "cartpole-es.yaml",
        "cartpole-cmaes.yaml",
        "pendulum-cmaes.yaml",
    } <= set(names)
    for name in names:
        raw = yaml.safe_load((EXAMPLES / name).read_text())
        update = {"generations": 2, "backend": "serial"}
        if raw["problem"]["kind"] == "classification":  # tiny budgets: a few short trainings
            update["strategy"] = dict(raw["strategy"], population_size=4)
            problem = raw["problem"]
            space = dict(problem.get("space", {}), max_params=20_000, max_flops=None)
            small = problem.get("dataset", {}).get("name") == "fashion-mnist"  # 400 images, not 60,000
            update["problem"] = dict(
                problem,
                proxy_epochs=2 if problem.get("early_stop") else 1,  # curves need two epochs
                proxy_fraction=0.25 if small else 0.02,
                validation_fraction=0.25 if small else 0.02,
                space=space,
            )
            update["stop"] = {}
        if raw["problem"]["kind"] == "optimizer_search":
            update["strategy"] = dict(raw["strategy"], population_size=4)
            update["problem"] = dict(raw["problem"], budget=0.05, test_seeds=1, lr_grid=[1e-3, 1e-2])
        config = load(name, **update)
        result = evoforge.run(config, tmp_path / name)
        assert result.generations >= 1 and result.evaluations > 0
