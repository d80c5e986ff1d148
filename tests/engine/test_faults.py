"""Faults on the serial and process backends: retries, time limits, dying workers,
custom problem kinds; and the asynchronous steady-state loop."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import StopRunError, function_config, individuals, outcome
from faulty import faulty_config

import evoforge
from evoforge.backends.process import ProcessBackend
from evoforge.store.run_store import RunStore


def rows(run_dir):
    return individuals(run_dir, "generation, idx, cached, fitness, error, metrics")


def test_custom_problem_kind_runs_and_stores_its_kind(tmp_path):
    result = evoforge.run(faulty_config(tmp_path), tmp_path / "r")
    assert result.failed == 0 and result.evaluations == 8 + 3 * 7
    assert "kind: faulty:FaultyProblem" in (tmp_path / "r" / "config.yaml").read_text()
    evoforge.resume(tmp_path / "r")  # the stored config loads the class again


def test_a_problem_breaking_its_contract_fails_its_candidates_with_the_reason(tmp_path):
    """A problem whose evaluate returns one EvalResult instead of a list of one per candidate ended the
    run in a traceback ("'EvalResult' object is not iterable", deep in the engine); now each candidate
    fails with a TypeError that names the problem and what it returned, as any raising evaluation."""
    from evoforge.engine.records import RunFailedError

    with pytest.raises(RunFailedError, match="every evaluation failed"):
        evoforge.run(faulty_config(tmp_path, "bare", above=100.0, evaluation={"retries": 0}), tmp_path / "r")
    errors = {e for _, _, cached, _, e, _ in rows(tmp_path / "r") if not cached}
    assert errors == {
        "ProblemContractError: FaultyProblem.evaluate returned EvalResult, not a list of one EvalResult per "
        "candidate"
    }


def test_a_transient_failure_is_retried_and_counts(tmp_path):
    cfg = faulty_config(tmp_path, "flaky", above=0.0)
    result = evoforge.run(cfg, tmp_path / "r")
    retried = [json.loads(m) for *_, m in rows(tmp_path / "r") if m and "attempts" in m]
    assert result.failed == 0 and retried and all(m["attempts"] == 2 for m in retried)


def test_without_retries_a_transient_failure_is_recorded_and_scored_worst(tmp_path):
    cfg = faulty_config(tmp_path, "flaky", above=0.0, evaluation={"retries": 0})
    result = evoforge.run(cfg, tmp_path / "r")
    errors = [e for *_, e, _ in rows(tmp_path / "r") if e]
    assert result.failed == len(errors) > 0 and set(errors) == {
        "RuntimeError: transient failure at " + errors[0].split(" at ")[1]
    }


@pytest.mark.parametrize("backend", ["serial", "process"])
def test_a_candidate_past_its_time_limit_fails_alone_and_the_run_goes_on(tmp_path, backend):
    cfg = faulty_config(tmp_path, "hang", above=1.0, generations=2, evaluation={"retries": 0, "timeout": 0.3})
    start = time.perf_counter()
    if backend == "serial":
        result = evoforge.run(cfg, tmp_path / "r")
    else:
        with ProcessBackend(workers=2) as b:
            result = evoforge.run(cfg, tmp_path / "r", backend=b)
    took = time.perf_counter() - start
    errors = [e for *_, e, _ in rows(tmp_path / "r") if e]
    assert errors and all(e.startswith("EvalTimeoutError: ran past its time limit of 0.3 s") for e in errors)
    assert result.failed == len(errors) < result.evaluations
    assert took < 30  # each hanging candidate would otherwise take 60 s


@pytest.mark.slow
def test_a_candidate_that_kills_its_worker_process_is_recorded_and_the_others_count(tmp_path):
    cfg = faulty_config(tmp_path, "exit", above=1.2, generations=3, evaluation={"retries": 1})
    evoforge.run(
        cfg.model_copy(update={"problem": cfg.problem.model_copy(update={"mode": "raise"})}), tmp_path / "ref"
    )
    with ProcessBackend(workers=2) as b:
        result = evoforge.run(cfg, tmp_path / "r", backend=b)
    got = rows(tmp_path / "r")
    assert len(got) == len(rows(tmp_path / "ref")) == 8 * 3  # every candidate accounted for
    lost = [r for r in got if r[4]]
    assert lost and all(r[4].startswith("worker lost:") for r in lost)
    # the same candidates fail as when they raise instead of crashing; every other fitness is identical
    ref = rows(tmp_path / "ref")
    assert [(g, i, f) for g, i, _, f, e, _ in got if not e] == [
        (g, i, f) for g, i, _, f, e, _ in ref if not e
    ]
    assert result.failed == len(lost)


STEADY = {"name": "steady_ga", "population_size": 10, "sigma": 0.3, "tournament_size": 3}


def test_asynchronous_serial_run_is_reproducible_and_converges(tmp_path):
    cfg = function_config(STEADY, dim=3, generations=30, asynchronous=True, seed=1)
    a = evoforge.run(cfg, tmp_path / "a")
    evoforge.run(cfg, tmp_path / "b")
    c = evoforge.run(cfg.model_copy(update={"seed": 2}), tmp_path / "c")
    assert outcome(tmp_path / "a") == outcome(tmp_path / "b")
    assert a.best_fitness != c.best_fitness
    assert a.best_fitness < 0.05 and a.evaluations <= 300


def test_asynchronous_run_killed_mid_round_resumes_identically(tmp_path):
    cfg = function_config(STEADY, dim=3, generations=12, asynchronous=True)
    evoforge.run(cfg, tmp_path / "straight")
    seen = []

    def crash_after_55(event, data):
        if event == "chunk":
            seen.append(1)
            if len(seen) == 55:
                raise StopRunError

    with pytest.raises(StopRunError):
        evoforge.run(cfg, tmp_path / "crashed", callback=crash_after_55)
    evoforge.resume(tmp_path / "crashed")
    assert outcome(tmp_path / "crashed") == outcome(tmp_path / "straight")


def test_asynchronous_run_on_two_workers_accounts_for_every_candidate(tmp_path):
    cfg = faulty_config(
        tmp_path,
        "raise",
        above=1.5,
        strategy=STEADY,
        generations=6,
        seconds=0.01,
        asynchronous=True,
        evaluation={"retries": 0},
    )
    with ProcessBackend(workers=2) as b:
        result = evoforge.run(cfg, tmp_path / "r", backend=b)
    got = rows(tmp_path / "r")
    stats = RunStore.open(tmp_path / "r").generation_stats()
    assert [s["evaluations"] + s["cached"] for s in stats] == [10] * 6
    assert len(got) == 60 and result.failed == sum(1 for r in got if r[4])
    assert len({(g, i) for g, i, *_ in got}) == 60


def test_asynchronous_needs_a_steady_state_strategy():
    with pytest.raises(ValueError, match="generational"):
        function_config({"name": "cma_es"}, asynchronous=True)


def _state_and_parent(pid: int) -> tuple[str, int] | None:
    """A process's state letter and parent from /proc, None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], int(fields[1])


def _alive(pid: int) -> bool:
    stat = _state_and_parent(pid)
    return stat is not None and stat[0] != "Z"


def _children(pid: int) -> list[int]:
    stats = {int(e.name): _state_and_parent(int(e.name)) for e in Path("/proc").iterdir() if e.name.isdigit()}
    return [k for k, stat in stats.items() if stat is not None and stat[0] != "Z" and stat[1] == pid]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_workers_end_with_their_killed_run(tmp_path, sig):
    config = tmp_path / "slow.yaml"
    config.write_text(
        "problem: {kind: classification, dataset: {name: digits}, proxy_epochs: 30, threads: 1}\n"
        "strategy: {name: random_search, population_size: 8}\n"
        "generations: 50\nbackend: process\nworkers: 2\ntest_episodes: 1\n"
    )
    run = subprocess.Popen(
        [sys.executable, "-m", "evoforge.cli", "run", str(config), "--out", str(tmp_path / "run"), "--quiet"]
    )
    deadline = time.time() + 60
    workers: list[int] = []
    while len(workers) < 2 and time.time() < deadline:
        time.sleep(0.2)
        workers = [k for k in _children(run.pid) if b"spawn_main" in Path(f"/proc/{k}/cmdline").read_bytes()]
    assert len(workers) == 2
    time.sleep(2)  # candidates in training
    run.send_signal(sig)
    run.wait()
    deadline = time.time() + 10
    while time.time() < deadline and any(_alive(k) for k in workers):
        time.sleep(0.1)
    alive = [k for k in workers if _alive(k)]
    for k in alive:
        os.kill(k, signal.SIGKILL)
    assert not alive


def test_a_lost_worker_from_an_earlier_session_is_evaluated_again_on_resume(tmp_path):
    from evoforge.store.run_store import RunStore

    store = RunStore.create(tmp_path / "s", "seed: 0\n", {})
    row = {"parents": (), "metrics": {}, "wall_seconds": 0.0, "aux": {}, "genome": np.zeros(2)}
    store.record_evaluations(
        0,
        [
            dict(row, idx=0, genome_id="aa", fitness=1.0, error=None),
            dict(row, idx=1, genome_id="bb", fitness=float("nan"), error="worker lost: LocalRayletDiedError"),
            dict(row, idx=2, genome_id="cc", fitness=float("nan"), error="RuntimeError: candidate blew up"),
        ],
    )
    assert set(store.lookup(["aa", "bb", "cc"])) == {"aa", "bb", "cc"}  # this session: its own verdicts
    store.close()
    again = RunStore.open(tmp_path / "s")
    # a later session: the loss may have been the infrastructure's, so the candidate runs again; its
    # own failure (an exception) stands
    assert set(again.lookup(["aa", "bb", "cc"])) == {"aa", "cc"}
    again.record_evaluations(0, [dict(row, idx=1, genome_id="bb", fitness=2.0, error=None)])
    assert again.lookup(["bb"])["bb"].fitness == 2.0
    again.close()


def test_asynchronous_time_budget_stops_between_evaluations(tmp_path):
    # 0.2 s a candidate, 20 a round: a budget of 1 s ends the first round after about 5 evaluations,
    # not after the 20 a generation-level check would wait for
    cfg = faulty_config(
        tmp_path,
        strategy={"name": "steady_ga", "population_size": 20, "sigma": 0.3, "tournament_size": 3},
        generations=5,
        seconds=0.2,
        asynchronous=True,
        stop={"seconds": 1.0},
    )
    result = evoforge.run(cfg, tmp_path / "r")
    assert result.stopped_early and result.generations == 1
    assert 4 <= result.evaluations <= 8
    assert result.wall_seconds < 2.5


def test_a_time_budget_starts_no_candidate_after_it(tmp_path):
    # 0.2 s a candidate, one per chunk, 20 a generation: a budget of 1 s ends the first generation after
    # about 5 candidates (less the final test's estimate, one candidate), not after the 20 a check at
    # the end of the generation would wait for; the run is reported, and says what stopped it
    cfg = faulty_config(
        tmp_path,
        strategy={"name": "ga", "population_size": 20, "sigma": 0.3, "elite_size": 1},
        generations=5,
        seconds=0.2,
        stop={"seconds": 1.0},
        test_episodes=1,
    )
    result = evoforge.run(cfg, tmp_path / "r")
    assert result.stopped_early and result.stopped_by == "seconds" and result.generations == 0
    assert 2 <= result.evaluations <= 10 and result.wall_seconds < 3.0
    assert len(rows(tmp_path / "r")) == result.evaluations  # every candidate that ran is recorded
    assert evoforge.resume(tmp_path / "r") == result  # a finished run stays finished


def test_a_lone_candidate_that_fails_is_not_run_twice(tmp_path):
    from faulty import FaultyConfig

    from evoforge.engine.evaluation import evaluate_chunk

    # "flaky" fails on a candidate's first run only: a second run would hide the failure
    config = FaultyConfig(mode="flaky", above=0.0, marker_dir=str(tmp_path))
    genome = np.array([1.0, 0.0, 0.0])
    [alone] = evaluate_chunk(config, {}, 5.0, [(genome, 0)])
    assert alone.error is not None and "transient failure" in alone.error
    # a failing batch of several is re-run one candidate at a time, to find who failed (here the
    # flaky one's second run succeeds)
    other = np.array([-1.0, 0.0, 0.0])
    batch = evaluate_chunk(config, {}, 5.0, [(other, 1), (genome * 2, 2)])
    assert [r.error for r in batch] == [None, None] and batch[1].fitness == 4.0
