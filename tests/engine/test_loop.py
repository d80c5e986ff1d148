"""The run loop and store: reproducibility, backends, failures, resume after a crash."""

import json
import subprocess
import sys

import numpy as np
import pytest
import yaml
from conftest import StopRunError, cartpole_config, function_config, kill_then_resume, outcome

import evoforge
from evoforge.backends.process import ProcessBackend
from evoforge.backends.serial import SerialBackend
from evoforge.store.run_store import RunStore

ES = {"name": "open_es", "population_size": 16, "sigma": 0.5, "learning_rate": 0.2}
GA_CHAIN = {
    "name": "ga",
    "population_size": 16,
    "sigma": 0.1,
    "encoding": "seed_chain",
    "truncation_size": 4,
}


def test_same_seed_identical_hall_of_fame_other_seed_differs(tmp_path):
    cfg = cartpole_config(ES, generations=4).model_copy(update={"stop": evoforge.engine.config.StopConfig()})
    evoforge.run(cfg, tmp_path / "a")
    evoforge.run(cfg, tmp_path / "b")
    evoforge.run(cfg.model_copy(update={"seed": 1}), tmp_path / "c")
    a, b, c = outcome(tmp_path / "a"), outcome(tmp_path / "b"), outcome(tmp_path / "c")
    assert a == b
    assert a["hof"] != c["hof"]


def test_a_run_does_its_linear_algebra_on_one_blas_thread_whatever_the_process_had(tmp_path, monkeypatch):
    """The driver's BLAS (the strategy's updates, the serial backend's evaluations) on one thread, put
    back after the run: a seed's result must not depend on the core count (BLAS splits work by thread
    count; a CartPole CMA-ES seed ran 12 generations on two threads, 10 on one), and OpenBLAS threads
    beside other work stall (CMA-ES on a 120-dimensional function: 23.9 s on two threads, 1.2 s on
    one, on 2 cores with one busy)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from evoforge.problems.functions import FunctionProblem

    def blas_threads():
        return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

    seen = []
    evaluate = FunctionProblem.evaluate
    monkeypatch.setattr(FunctionProblem, "evaluate", lambda *a: seen.append(blas_threads()) or evaluate(*a))
    with threadpool_limits(limits=2, user_api="blas"):
        evoforge.run(function_config({"name": "cma_es"}, dim=30, generations=3), tmp_path / "r")
        assert blas_threads() == {2}
    assert len(seen) >= 3 and all(threads == {1} for threads in seen)  # the final test too


@pytest.mark.parametrize("strategy", [ES, GA_CHAIN], ids=["open_es", "ga_seed_chain"])
def test_process_backend_any_worker_count_matches_serial(tmp_path, strategy):
    cfg = cartpole_config(strategy, generations=3).model_copy(
        update={"stop": evoforge.engine.config.StopConfig()}
    )
    evoforge.run(cfg, tmp_path / "serial", backend=SerialBackend())
    with ProcessBackend(workers=2, chunks_per_worker=3) as backend:
        evoforge.run(cfg, tmp_path / "process", backend=backend)
    assert outcome(tmp_path / "serial") == outcome(tmp_path / "process")


def test_elites_and_duplicates_are_not_evaluated_twice(tmp_path):
    cfg = function_config({"name": "ga", "population_size": 10, "elite_size": 2}, generations=5)
    result = evoforge.run(cfg, tmp_path / "r")
    stats = RunStore.open(tmp_path / "r").generation_stats()
    assert [s["cached"] for s in stats] == [0, 2, 2, 2, 2]
    assert result.evaluations == sum(s["evaluations"] for s in stats) == 10 + 4 * 8


def test_failing_candidates_are_recorded_scored_worst_and_the_run_goes_on(tmp_path, monkeypatch):
    from evoforge.problems.functions import FunctionProblem

    original = FunctionProblem.evaluate

    def flaky(self, params, seeds, context):
        if np.any(params[:, 0] > 1.0):
            raise RuntimeError("boom")
        return original(self, params, seeds, context)

    monkeypatch.setattr(FunctionProblem, "evaluate", flaky)
    cfg = function_config({"name": "cma_es", "population_size": 12, "sigma": 1.0}, dim=3, generations=15)
    result = evoforge.run(cfg, tmp_path / "r")
    store = RunStore.open(tmp_path / "r")
    errors = store.db.execute("SELECT error, fitness FROM individuals WHERE error IS NOT NULL").fetchall()
    assert result.failed == len(errors) > 0
    assert all(e.startswith("RuntimeError: boom") and f is None for e, f in errors)
    assert result.best_fitness < 1.0 and result.generations == 15
    best = store.genome_of(result.best_genome_id)
    assert best[0] <= 1.0  # a failed candidate never becomes best


def test_nan_fitness_is_a_recorded_failure(tmp_path, monkeypatch):
    from evoforge.core.problem import EvalResult
    from evoforge.problems.functions import FunctionProblem

    original = FunctionProblem.evaluate

    def nan_some(self, params, seeds, context):
        out = original(self, params, seeds, context)
        return [EvalResult(float("nan")) if p[1] > 1.5 else r for p, r in zip(params, out, strict=True)]

    monkeypatch.setattr(FunctionProblem, "evaluate", nan_some)
    result = evoforge.run(
        function_config({"name": "random_search", "population_size": 20}, generations=3),
        tmp_path / "r",
    )
    store = RunStore.open(tmp_path / "r")
    errors = [r[0] for r in store.db.execute("SELECT error FROM individuals WHERE error IS NOT NULL")]
    assert errors and set(errors) == {"non-finite fitness"} and result.failed == len(errors)


class CrashingBackend(SerialBackend):
    """Dies after a given number of chunks: a crash in the middle of a generation."""

    def __init__(self, chunks_before_crash):
        super().__init__()
        self.left = chunks_before_crash

    def run(self, job):
        from evoforge.backends.base import run_chunk, split_chunks

        for idx in split_chunks(len(job.items), 4):
            if self.left == 0:
                raise StopRunError
            self.left -= 1
            yield run_chunk(job.fn, job.common, [job.items[i] for i in idx], idx)


class CountingBackend(SerialBackend):
    """Counts the genomes it evaluates."""

    def __init__(self):
        super().__init__()
        self.evaluated = 0

    def run(self, job):
        self.evaluated += len(job.items)
        yield from super().run(job)


@pytest.mark.parametrize("interval", [0.0, 1e9])
def test_crash_mid_generation_resumes_identically_without_reevaluating(tmp_path, interval):
    """With a checkpoint after every generation, and with none before the crash (every generation
    before it is replayed from the store)."""
    cfg = cartpole_config(GA_CHAIN, generations=6, checkpoint_interval=interval).model_copy(
        update={"stop": evoforge.engine.config.StopConfig()}
    )
    evoforge.run(cfg, tmp_path / "straight")
    with pytest.raises(StopRunError):
        evoforge.run(cfg, tmp_path / "crashed", backend=CrashingBackend(chunks_before_crash=14))
    store = RunStore.open(tmp_path / "crashed")
    before = store.counts()["evaluations"]
    store.close()
    assert before > 0 and not (tmp_path / "crashed" / "result.json").exists()
    assert bool(list((tmp_path / "crashed" / "checkpoints").glob("gen_*.npz"))) == (interval == 0)
    counting = CountingBackend()
    evoforge.resume(tmp_path / "crashed", backend=counting)
    assert outcome(tmp_path / "crashed") == outcome(tmp_path / "straight")
    assert before + counting.evaluated == RunStore.open(tmp_path / "crashed").counts()["evaluations"]


@pytest.mark.parametrize("backend", ["serial", pytest.param("ray", marks=pytest.mark.slow)])
def test_kill_9_then_resume_gives_the_uninterrupted_result(tmp_path, backend):
    cfg = {
        "backend": backend,
        "workers": 2,
        "seed": 3,
        "checkpoint_interval": 0,
        "generations": 15,
        "strategy": {"name": "open_es", "population_size": 64, "sigma": 0.1, "learning_rate": 0.03},
        "problem": {
            "kind": "gym",
            "env_id": "CartPole-v1",
            "episodes": 5,
            "policy": {"hidden": [32, 32]},
        },
    }
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    killed = tmp_path / "killed"
    kill_then_resume(path, killed)
    exe = [sys.executable, "-m", "evoforge.cli"]
    subprocess.run(
        [*exe, "run", str(path), "--out", str(tmp_path / "straight"), "--backend", "serial", "--quiet"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    assert outcome(killed) == outcome(tmp_path / "straight")


def test_resuming_a_finished_run_returns_the_same_result(tmp_path):
    cfg = function_config({"name": "cma_es"}, generations=5)
    first = evoforge.run(cfg, tmp_path / "r")
    again = evoforge.resume(tmp_path / "r")
    assert (again.best_fitness, again.test_score, again.evaluations) == (
        first.best_fitness,
        first.test_score,
        first.evaluations,
    )


def test_run_directory_contents(tmp_path):
    cfg = cartpole_config(ES, generations=2)
    result = evoforge.run(cfg, tmp_path / "r")
    names = {p.name for p in (tmp_path / "r").iterdir()}
    assert {
        "config.yaml",
        "meta.json",
        "evoforge.sqlite",
        "checkpoints",
        "hall_of_fame.json",
        "result.json",
    } <= names
    resolved = yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())
    assert resolved["strategy"]["weight_decay"] == 0.005  # defaults are written out
    meta = json.loads((tmp_path / "r" / "meta.json").read_text())
    assert meta["seed"] == 0 and "numpy" in meta["versions"]
    assert len(result.test_scores) == 10
    with pytest.raises(FileExistsError):
        evoforge.run(cfg, tmp_path / "r")


def test_evaluation_budget_stops_the_run(tmp_path):
    cfg = function_config(
        {"name": "random_search", "population_size": 10}, generations=100, stop={"evaluations": 35}
    )
    result = evoforge.run(cfg, tmp_path / "r")
    assert result.generations == 4 and result.evaluations == 40 and result.stopped_early


def test_validation_and_test_episodes_are_counted_apart_from_the_search(tmp_path):
    """CartPole pays 1 per step, so steps can be checked against returns: the search's steps are its
    fresh evaluations' (2 episodes each), the test's and validation's are reported apart."""
    from conftest import individuals

    cfg = cartpole_config(
        {"name": "open_es", "population_size": 8},
        generations=3,
        hall_of_fame=3,
        test_episodes=4,
        problem={"episodes": 2, "policy": {"hidden": [2]}},
    ).model_copy(update={"validation_episodes": 5})
    result = evoforge.run(cfg, tmp := tmp_path / "r")
    fitness = [f for (f,) in individuals(tmp, "fitness", fresh_only=True)]
    assert result.env_steps == pytest.approx(2 * sum(fitness))
    assert result.test_cases == 4 and result.test_env_steps == pytest.approx(sum(result.test_scores))
    assert result.validation_cases == 3 * 5  # every hall-of-fame member, 5 episodes each
    saved = json.loads((tmp / "result.json").read_text())
    assert saved["test_env_steps"] == result.test_env_steps and saved["validation_cases"] == 15


def test_an_environment_step_budget_stops_the_search_in_the_generation_that_reaches_it(tmp_path):
    cfg = cartpole_config(
        {"name": "open_es", "population_size": 8},
        generations=50,
        problem={"episodes": 1, "policy": {"hidden": [2]}},
    ).model_copy(update={"stop": evoforge.engine.config.StopConfig(env_steps=3000), "validation_episodes": 0})
    result = evoforge.run(cfg, tmp_path / "r")
    store = RunStore.open(tmp_path / "r")
    steps = [row["env_steps"] for row in store.generation_stats()]
    store.close()
    assert result.stopped_by == "env_steps" and result.generations < 50
    assert result.env_steps == sum(steps) >= 3000 > sum(steps[:-1])
