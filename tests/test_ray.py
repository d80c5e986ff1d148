"""The ray backend on a local Ray instance (2 CPUs, started and stopped here): same results
as serial, and faults (a killed worker, a raising, crashing or stuck candidate) survived."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import after_checkpoints, cartpole_config, function_config, individuals, outcome
from faulty import faulty_config

import evoforge
from evoforge.backends import SerialBackend, build_problem
from evoforge.core.config import StopConfig
from evoforge.core.strategy import STRATEGIES, get_strategy
from evoforge.store.run_store import RunStore

ray = pytest.importorskip("ray")
from evoforge.backends.ray import RayBackend  # noqa: E402

TESTS = str(Path(__file__).parent)
get_strategy("ga")  # fill the registry


@pytest.fixture(scope="module")
def backend():
    # workers import the test problem (kind faulty:FaultyProblem) from this folder
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [TESTS, os.environ.get("PYTHONPATH")]))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    b = RayBackend(workers=2)
    yield b
    b.close()
    ray.shutdown()


def both(cfg, tmp_path, backend):
    evoforge.run(cfg, tmp_path / "serial", backend=SerialBackend())
    evoforge.run(cfg, tmp_path / "ray", backend=backend)
    return outcome(tmp_path / "serial"), outcome(tmp_path / "ray")


def rows(run_dir):
    return individuals(run_dir, "generation, idx, fitness, error", fresh_only=True)


def test_joins_the_running_instance_and_uses_its_cpus(backend):
    assert backend.slots == 2


@pytest.mark.parametrize(
    "strategy",
    [
        {"name": "open_es", "population_size": 16, "sigma": 0.5, "learning_rate": 0.2},
        {"name": "ga", "population_size": 16, "sigma": 0.1, "encoding": "seed_chain", "truncation_size": 4},
    ],
    ids=["open_es", "ga_seed_chain"],
)
def test_rl_run_is_identical_to_serial(tmp_path, backend, strategy):
    cfg = cartpole_config(strategy, generations=3).model_copy(update={"stop": StopConfig()})
    serial, on_ray = both(cfg, tmp_path, backend)
    assert serial == on_ray


@pytest.mark.parametrize("name", sorted(n for n, c in STRATEGIES.items() if "vector" in c.genome_kinds))
def test_every_vector_strategy_runs_identically_to_serial(tmp_path, backend, name):
    serial, on_ray = both(
        function_config({"name": name, "population_size": 12}, generations=5), tmp_path, backend
    )
    assert serial == on_ray


def test_neat_run_is_identical_to_serial(tmp_path, backend):
    cfg = evoforge.RunConfig(
        seed=5, generations=6, strategy={"name": "neat", "population_size": 60}, problem={"kind": "xor"}
    )
    serial, on_ray = both(cfg, tmp_path, backend)
    assert serial == on_ray
    assert serial["stats"][-1]["evaluations"] > 0


def test_killing_a_worker_mid_run_loses_nothing(tmp_path, backend):
    cfg = faulty_config(tmp_path, generations=8, seconds=0.05, checkpoint_interval=0)
    evoforge.run(cfg, tmp_path / "serial", backend=SerialBackend())
    markers = Path(cfg.problem.marker_dir)
    for f in markers.glob("pid-*"):
        f.unlink()

    def kill_a_worker():
        os.kill(int(next(markers.glob("pid-*")).name[4:]), signal.SIGKILL)

    thread, killed = after_checkpoints(
        tmp_path / "ray", kill_a_worker, timeout=30, ready=lambda: any(markers.glob("pid-*"))
    )
    result = evoforge.run(cfg, tmp_path / "ray", backend=backend)
    thread.join()
    assert killed, "no worker was killed"
    assert result.failed == 0
    assert len(rows(tmp_path / "ray")) == len(rows(tmp_path / "serial")) == 8 + 7 * 7  # all accounted for
    assert outcome(tmp_path / "ray") == outcome(tmp_path / "serial")


def test_a_raising_evaluation_is_recorded_and_the_run_completes(tmp_path, backend):
    cfg = faulty_config(tmp_path, "raise", above=1.0, evaluation={"retries": 1})
    serial, on_ray = both(cfg, tmp_path, backend)
    errors = [e for *_, e in rows(tmp_path / "ray") if e]
    assert errors and all(e.startswith("RuntimeError: candidate blew up") for e in errors)
    assert serial == on_ray


def test_a_candidate_that_kills_its_worker_fails_alone(tmp_path, backend):
    cfg = faulty_config(tmp_path, "exit", above=1.2, generations=3, evaluation={"retries": 0})
    raising = cfg.model_copy(update={"problem": cfg.problem.model_copy(update={"mode": "raise"})})
    evoforge.run(raising, tmp_path / "ref", backend=SerialBackend())
    evoforge.run(cfg, tmp_path / "ray", backend=backend)
    got, ref = rows(tmp_path / "ray"), rows(tmp_path / "ref")
    assert len(got) == len(ref)
    assert [r for r in got if not r[3]] == [r for r in ref if not r[3]]
    lost = [r[3] for r in got if r[3]]
    assert lost and all(e.startswith("worker lost: WorkerCrashedError") for e in lost)


def test_a_candidate_deaf_to_its_time_limit_is_stopped(tmp_path, backend):
    cfg = faulty_config(
        tmp_path, "stuck", above=1.5, generations=2, evaluation={"retries": 0, "timeout": 1.0}
    )  # 1 s: enough for a healthy candidate on a loaded machine (0.2 s and 0.5 s failed with both cores busy)
    start = time.perf_counter()
    result = evoforge.run(cfg, tmp_path / "ray", backend=backend)
    errors = [e for *_, e in rows(tmp_path / "ray") if e]
    assert errors and all("stopped at its hard time limit of 3 s" in e for e in errors)
    assert result.failed == len(errors) < result.evaluations
    assert time.perf_counter() - start < 40


def test_shared_inputs_travel_through_the_object_store(tmp_path, backend):
    cfg = faulty_config(tmp_path, needs_shared=True)
    markers = Path(cfg.problem.marker_dir)
    np.save(markers / "offset.npy", np.array([100.0]))
    build_problem(cfg.problem)  # the driver reads the file ...
    (markers / "offset.npy").unlink()  # ... which workers never see
    result = evoforge.run(cfg, tmp_path / "ray", backend=backend)
    assert result.failed == 0 and result.best_fitness >= 100.0


def test_asynchronous_run_accounts_for_every_candidate(tmp_path, backend):
    strategy = {"name": "steady_ga", "population_size": 10, "sigma": 0.3}
    cfg = faulty_config(
        tmp_path, "raise", above=1.5, strategy=strategy, generations=5, seconds=0.01, asynchronous=True
    )
    result = evoforge.run(cfg, tmp_path / "ray", backend=backend)
    stats = RunStore.open(tmp_path / "ray").generation_stats()
    assert [s["evaluations"] + s["cached"] for s in stats] == [10] * 5
    assert result.failed == sum(1 for r in rows(tmp_path / "ray") if r[3])


def test_cli_starts_and_stops_its_own_ray_instance(tmp_path):
    cfg = function_config({"name": "cma_es", "population_size": 8}, generations=3)
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    env = dict(os.environ, RAY_ADDRESS="")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "evoforge.cli",
            "run",
            str(path),
            "--out",
            str(tmp_path / "r"),
            "--backend",
            "ray",
            "--workers",
            "2",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    evoforge.run(cfg, tmp_path / "serial")
    assert outcome(tmp_path / "r") == outcome(tmp_path / "serial")
