"""The ray backend on a local Ray instance (2 CPUs, started and stopped here): same results
as serial, and faults (a killed worker, a raising, crashing or stuck candidate) survived."""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import after_checkpoints, cartpole_config, function_config, individuals, outcome
from faulty import faulty_config

import evoforge
from evoforge.backends.serial import SerialBackend
from evoforge.core.space import VectorSpace
from evoforge.engine.config import StopConfig
from evoforge.engine.evaluation import build_problem
from evoforge.engine.registry import STRATEGIES, get_strategy
from evoforge.store.run_store import RunStore
from evoforge.testing.strategies import small_population

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # a Ray instance and its workers start in seconds
from evoforge.backends.ray import RayBackend  # noqa: E402

TESTS = str(Path(__file__).resolve().parents[1])
get_strategy("ga")  # fill the registry


@pytest.fixture(scope="module")
def backend():
    # workers import the test problem (kind faulty:FaultyProblem) from this folder
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [TESTS, os.environ.get("PYTHONPATH")]))
    b = RayBackend(workers=2)  # starts its own local instance, on the loopback address
    assert b.slots == 2
    yield b
    b.close()


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


# the hybrids with an RL learner need a gym problem's transitions: tests/strategies/test_hybrids.py
@pytest.mark.parametrize(
    "name",
    sorted(n for n, c in STRATEGIES.items() if c.requires <= VectorSpace.offers and not c.uses_transitions),
)
def test_every_vector_strategy_runs_identically_to_serial(tmp_path, backend, name):
    cfg = function_config({"name": name, **small_population(name, 12)}, generations=5)
    if STRATEGIES[name].uses_descriptors:  # quality diversity: the function's projection descriptors
        cfg = cfg.model_copy(update={"problem": cfg.problem.model_copy(update={"descriptor": "projection"})})
    serial, on_ray = both(cfg, tmp_path, backend)
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


def test_a_problem_ray_workers_cannot_load_stops_the_run_unrecorded(tmp_path, backend, monkeypatch):
    """A problem whose module fails to import in Ray's workers: the run stops with the reason (as on
    the process backend), no candidate recorded as failed or lost."""
    from evoforge.backends.base import WorkerSetupError

    monkeypatch.setenv(
        "EVOFORGE_TEST_DRIVER", "1"
    )  # the driver only: the instance's workers started without it
    cfg = {"seed": 0, "generations": 2, "strategy": {"name": "open_es", "population_size": 4},
           "problem": {"kind": "shy:ShyProblem"}}  # fmt: skip
    message = "a worker process cannot load the run's work (RuntimeError: no licence server in this process)"
    with pytest.raises(WorkerSetupError, match=re.escape(message) + "$"):
        evoforge.run(cfg, tmp_path / "r", backend=backend)
    assert rows(tmp_path / "r") == []


# with a time limit: after a crash Ray starts a new worker process, which takes seconds; the limit of
# the candidates that then run alone counts from when they begin, not from their launch
@pytest.mark.parametrize(
    "evaluation", [{"retries": 0}, {"retries": 1, "timeout": 1.0}], ids=["plain", "limit"]
)
def test_a_candidate_that_kills_its_worker_fails_alone(tmp_path, backend, evaluation):
    cfg = faulty_config(tmp_path, "exit", above=1.5, generations=3, evaluation=evaluation)  # 3 crashers
    raising = cfg.model_copy(update={"problem": cfg.problem.model_copy(update={"mode": "raise"})})
    evoforge.run(raising, tmp_path / "ref", backend=SerialBackend())
    evoforge.run(cfg, tmp_path / "ray", backend=backend)
    got, ref = rows(tmp_path / "ray"), rows(tmp_path / "ref")
    assert len(got) == len(ref)
    assert [r for r in got if not r[3]] == [r for r in ref if not r[3]]
    lost = [r[3] for r in got if r[3]]
    assert lost and all(e.startswith("worker lost: WorkerCrashedError") for e in lost), lost


def test_a_candidate_deaf_to_its_time_limit_is_stopped(tmp_path, backend):
    cfg = faulty_config(
        tmp_path, "stuck", above=1.5, generations=2, evaluation={"retries": 0, "timeout": 1.0}
    )  # 1 s: enough for a healthy candidate on a loaded machine (0.2 s and 0.5 s failed with both cores busy)
    start = time.perf_counter()
    result = evoforge.run(cfg, tmp_path / "ray", backend=backend)
    errors = [e for *_, e in rows(tmp_path / "ray") if e]
    assert errors and all("stopped at its hard time limit of 2 s" in e for e in errors)
    assert result.failed == len(errors) < result.evaluations
    assert time.perf_counter() - start < 40


def test_shared_inputs_travel_through_the_object_store(tmp_path, backend):
    cfg = faulty_config(tmp_path, needs_shared=True)
    markers = Path(cfg.problem.marker_dir)
    np.save(markers / "offset.npy", np.array([100.0]))
    build_problem(cfg.problem)  # the driver reads the file ...
    # ... which workers never read: rewritten in place with another offset, its time set back so the
    # driver's cached problem still counts as built from it (a run's start rebuilds on changed files)
    before = os.stat(markers / "offset.npy")
    np.save(markers / "offset.npy", np.array([0.0]))
    os.utime(markers / "offset.npy", ns=(before.st_atime_ns, before.st_mtime_ns))
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
    # a stale record of an earlier `ray start` cluster, which Ray would join when asked for no address
    ray_tmp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: Ray's socket paths live there
    (ray_tmp / "ray").mkdir()
    (ray_tmp / "ray" / "ray_current_cluster").write_text("127.0.0.1:1")
    env = dict(os.environ, RAY_ADDRESS="", RAY_TMPDIR=str(ray_tmp))
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
    shutil.rmtree(ray_tmp, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr
    evoforge.run(cfg, tmp_path / "serial")
    assert outcome(tmp_path / "r") == outcome(tmp_path / "serial")


def _listening() -> set[tuple[str, int]]:
    """(address, port) of every TCP socket listening on this machine, from /proc/net."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state == "0A":  # LISTEN
                address, port = local.split(":")
                found.add((address, int(port, 16)))
    return found


#: the loopback address as /proc/net writes it: 127.0.0.0/8, ::1, and IPv4-mapped 127.x
def _loopback(address: str) -> bool:
    if len(address) == 8:
        return address.endswith("7F")  # little-endian 127.x.y.z
    return address == "00000000000000000000000001000000" or (
        address.startswith("0000000000000000FFFF0000") and address.endswith("7F")
    )


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads /proc/net")
def test_a_local_instance_listens_on_the_loopback_address_only(backend, tmp_path):
    # the module's backend started its instance: every socket listening now that did not before Ray
    # started belongs to it, and the test compares against a run's workers being up
    cfg = faulty_config(tmp_path, generations=1)
    evoforge.run(cfg, tmp_path / "r", backend=backend)
    listening = _listening()
    ray_ports = {p for a, p in listening} - _BEFORE_RAY
    assert ray_ports, "Ray listens on nothing?"
    exposed = sorted((a, p) for a, p in listening if p in ray_ports and not _loopback(a))
    assert exposed == [], exposed


_BEFORE_RAY = {p for _, p in _listening()} if Path("/proc/net/tcp").exists() else set()


def test_a_candidate_past_its_time_limit_fails_on_every_backend_whatever_its_batch(tmp_path, backend):
    from evoforge.backends.process import ProcessBackend

    # some candidates take 0.8 s, the others almost nothing: with a limit of 0.5 s the slow ones fail
    # however many fast ones share their chunk (a chunk of 10 has 5 s of budget between them all)
    cfg = faulty_config(
        tmp_path,
        "slow",
        above=0.8,
        slow=0.8,
        generations=2,
        strategy={"name": "ga", "population_size": 10, "sigma": 0.3, "elite_size": 1},
        evaluation={"retries": 0, "timeout": 0.5},
    )
    evoforge.run(cfg, tmp_path / "serial", backend=SerialBackend())
    with ProcessBackend(workers=2) as process:
        evoforge.run(cfg, tmp_path / "process", backend=process)
    evoforge.run(cfg, tmp_path / "ray", backend=backend)
    got = {name: rows(tmp_path / name) for name in ("serial", "process", "ray")}
    failed = [r for r in got["serial"] if r[3]]
    assert failed and all(
        r[3].startswith("EvalTimeoutError: ran past its time limit of 0.5 s") for r in failed
    )
    assert len(failed) < len(got["serial"])
    assert got["process"] == got["serial"] and got["ray"] == got["serial"]


def _children_named(pid: int, name: str) -> list[int]:
    """Processes called ``name`` whose parent is ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # ended while listed
        comm = text[text.index("(") + 1 : text.rindex(")")]
        ppid = int(text[text.rindex(")") + 2 :].split()[1])
        if comm == name and ppid == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_losing_the_local_ray_instance_stops_the_run_and_resume_recovers(tmp_path):
    # generations enough that the run is still going when its raylet is killed on a loaded machine
    cfg = faulty_config(tmp_path, generations=30, seconds=0.05, checkpoint_interval=0)
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    env = dict(
        os.environ, RAY_ADDRESS="", PYTHONPATH=os.pathsep.join([TESTS, os.environ.get("PYTHONPATH", "")])
    )
    exe = [sys.executable, "-m", "evoforge.cli"]
    run = tmp_path / "r"
    proc = subprocess.Popen(
        [*exe, "run", str(path), "--out", str(run), "--backend", "ray", "--workers", "2", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    # Ray starts slowly on a loaded machine (CI shares it with benchmarks): wait long, but not on a dead run
    deadline, raylets = time.time() + 300, []
    while proc.poll() is None and time.time() < deadline:
        if len(list((run / "checkpoints").glob("gen_*.npz"))) >= 2:
            raylets = _children_named(proc.pid, "raylet")
            if raylets:
                break
        time.sleep(0.05)
    if proc.poll() is not None:
        out, err = proc.communicate()
        pytest.fail(f"the run ended (exit {proc.returncode}) before its raylet was killed: {err[-2000:]}")
    assert raylets, "no raylet under the run after 300 s"
    for pid in raylets:
        os.kill(pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    line = [x for x in err.splitlines() if x.startswith("evoforge:")]
    assert len(line) == 1 and "run stopped: the ray backend lost its local Ray instance" in line[0], err
    assert not (run / "result.json").exists()
    lost = [e for *_, e in rows(run) if e]
    assert lost == []  # nothing recorded as the candidates' result
    # resumed and compared on local processes: the candidates sleep, so two at a time halve the wait
    done = subprocess.run(
        [*exe, "resume", str(run), "--backend", "process", "--workers", "2", "--quiet"],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    from evoforge.backends.process import ProcessBackend

    with ProcessBackend(workers=2) as local:
        evoforge.run(cfg, tmp_path / "local", backend=local)
    assert outcome(run) == outcome(tmp_path / "local")
