"""Optimizer discovery: the task suite, the normalised fitness, containment of failing rules, seeded
reproducibility, resume, and bad configs."""

import json
import math

import numpy as np
import pytest
import torch
import yaml
from conftest import cli, kill_then_resume, outcome

from evoforge.core.genome import genome_id
from evoforge.optim import known_rule
from evoforge.problems.optimizer_search import (
    OptimizerSearchConfig,
    OptimizerSearchProblem,
    normalised_score,
)

pytestmark = pytest.mark.slow  # searches that train networks

QUICK = {
    "kind": "optimizer_search",
    "search_tasks": ["cancer_logreg", "rosenbrock"],
    "heldout_tasks": ["wine_mlp"],
    "budget": 0.25,
    "test_seeds": 1,
    "lr_grid": [1e-3, 1e-2, 1e-1],
}


def quick_config(generations=3, population=6, seed=0, **problem):
    from evoforge import RunConfig

    return RunConfig(
        seed=seed,
        generations=generations,
        strategy={"name": "regularized_evolution", "population_size": population, "sample_size": 3},
        problem={**QUICK, **problem},
        test_episodes=1,
        checkpoint_interval=1,
    )


@pytest.fixture(scope="module")
def problem():
    p = OptimizerSearchProblem(OptimizerSearchConfig(**QUICK))
    return p, p.initial_context()


def test_adam_as_a_rule_scores_one_on_every_task(problem):
    p, context = problem
    result = p.evaluate([known_rule("adam")], np.array([0]), context)[0]
    assert result.error is None
    for task in QUICK["search_tasks"]:
        assert result.metrics[f"score/{task}"] == pytest.approx(1.0, abs=1e-3)
    # tuned Adam really is the best of its grid on each task
    for base in context["adam"].values():
        assert base["lr"] in QUICK["lr_grid"] and base["final"][0] < base["initial"][0]


def test_normalised_score_is_the_share_of_adams_log_progress():
    assert normalised_score(1.0, 0.1, 0.1, 2.0) == pytest.approx(1.0)
    assert normalised_score(1.0, math.sqrt(0.1), 0.1, 2.0) == pytest.approx(0.5)
    assert normalised_score(1.0, 1e-6, 0.1, 2.0) == 2.0  # capped
    assert normalised_score(1.0, 1e6, 0.1, 2.0) == -1.0  # floored
    assert normalised_score(1.0, math.nan, 0.1, 2.0) == -1.0


def test_a_diverging_rule_is_recorded_and_scored_worst(problem):
    p, context = problem
    ascent = known_rule("sgd", lr=1.0).replace(expr=["scale", -10.0, ["g"]])  # climbs every loss
    plain = known_rule("sgd", lr=1e-2)  # fine on logistic regression, blows up on Rosenbrock
    good = known_rule("adam")
    results = p.evaluate([ascent, plain, good], np.array([0, 1, 2]), context)
    assert math.isnan(results[0].fitness)
    assert results[0].error.startswith("diverged on every task: diverged on cancer_logreg at step")
    assert results[1].error is None and results[1].metrics["score/rosenbrock"] == -1.0
    assert results[1].metrics["diverged/rosenbrock/0"] >= 1 and results[1].metrics["score/cancer_logreg"] > 0
    assert results[1].fitness < results[2].fitness


def test_evolution_from_random_rules_reaches_adam_within_80_evaluations(tmp_path):
    from evoforge import run

    for seed in range(3):  # tasks at a quarter of their steps; no hand-designed rule in the start
        result = run(quick_config(seed=seed, generations=10, population=8), tmp_path / str(seed))
        assert result.best_fitness >= 0.95, (seed, result.best_fitness)


def test_rules_that_step_alike_share_an_id():
    sgd = known_rule("sgd")
    assert genome_id(sgd.replace(beta2=0.5, eps=1e-3, beta1=0.1)) == genome_id(sgd)
    assert genome_id(sgd.replace(lr=0.5)) != genome_id(sgd)
    adam = known_rule("adam")
    assert genome_id(adam.replace(beta2=0.99)) != genome_id(adam)


def test_seeded_search_reproduces_and_resumes_after_kill_9(tmp_path):
    from evoforge import run

    a = run(quick_config(seed=3), tmp_path / "a")
    b = run(quick_config(seed=3), tmp_path / "b")
    assert outcome(tmp_path / "a") == outcome(tmp_path / "b")
    assert a.best_fitness == b.best_fitness and math.isfinite(a.test_score)
    c = run(quick_config(seed=4), tmp_path / "c")
    assert outcome(tmp_path / "c") != outcome(tmp_path / "a")
    best = json.loads((tmp_path / "a" / "best_optimizer.json").read_text())
    assert best["genome_id"] == a.best_genome_id
    assert c.best_fitness > -1
    # the report prints the rule as math and writes it as a Python file that defines an optimizer
    proc = cli("report", tmp_path / "a")
    assert proc.returncode == 0 and "\nu = " in proc.stdout, proc.stderr
    namespace = {}
    exec(compile((tmp_path / "a" / "report" / "best_optimizer.py").read_text(), "best", "exec"), namespace)
    assert issubclass(namespace["EvolvedOptimizer"], torch.optim.Optimizer)
    (tmp_path / "a" / "best_optimizer.json").write_text('{"expr": ["sqrt", ["g"]]}')
    proc = cli("report", tmp_path / "a")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "best_optimizer.json: expr: unknown op 'sqrt'" in proc.stderr
    # killed mid-run and resumed: the same as the uninterrupted run
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(quick_config(seed=3, generations=12).model_dump(mode="json")))
    kill_then_resume(path, tmp_path / "killed", settle=0.1)
    run(quick_config(seed=3, generations=12), tmp_path / "straight")
    assert outcome(tmp_path / "killed") == outcome(tmp_path / "straight")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"search_tasks": ["digits_mlp", "sudoku"]}, "unknown tasks ['sudoku']"),
        ({"heldout_tasks": ["rosenbrock"]}, "tasks ['rosenbrock'] are both searched and held out"),
        ({"space": {"ops": ["sign"]}}, "ops need at least one leaf"),
        ({"budget": 0}, "budget"),
    ],
)
def test_a_bad_config_is_one_line_and_exit_2_nothing_written(change, message, tmp_path):
    raw = quick_config().model_dump(mode="json")
    raw["problem"].update(change)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    proc = cli("run", path, "--out", tmp_path / "out")
    assert proc.returncode == 2
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "out").exists()


def test_threads_none_is_a_workers_share_never_torchs_one_per_core(monkeypatch):
    """threads: null gave torch's own default (a thread per core) in the driver, which stalls beside
    other work and changes results with the machine; now the share every problem uses (one here)."""
    p = OptimizerSearchProblem(OptimizerSearchConfig(**QUICK, threads=None))
    seen = []
    monkeypatch.setattr(p, "score", lambda *args: seen.append(torch.get_num_threads()))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        p.evaluate([known_rule("adam")], np.array([0]), {"adam": {}})
    finally:
        torch.set_num_threads(before)
    assert seen == [1]
