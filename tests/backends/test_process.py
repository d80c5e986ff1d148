"""The process backend with candidates deaf to their time limit (stuck in native code, where no
signal reaches Python): stopped at the hard limit during a run, and never waited for when a run
ends with them still in flight."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import individuals
from faulty import faulty_config

import evoforge
from evoforge.backends.process import ProcessBackend


@pytest.mark.slow
def test_a_candidate_deaf_to_its_time_limit_is_stopped_and_fails_alone(tmp_path):
    cfg = faulty_config(
        tmp_path, "stuck", above=1.5, generations=2, evaluation={"retries": 0, "timeout": 1.0},
        backend="process", workers=2,
    )  # fmt: skip
    result = evoforge.run(cfg, tmp_path / "run")
    got = individuals(tmp_path / "run", "generation, idx, fitness, error", fresh_only=True)
    errors = [r[3] for r in got if r[3]]
    # the stuck chunk is stopped whole, then its candidates run alone (limit 1 s, hard limit 2 s)
    assert errors and all("stopped at its hard time limit of 2 s" in e for e in errors), errors
    assert result.failed == len(errors) < result.evaluations
    # the same candidates failing at once, serially: the healthy ones that went down with the stopped
    # workers were run again with the same results, and only the stuck ones failed
    raising = cfg.model_copy(
        update={"backend": "serial", "problem": cfg.problem.model_copy(update={"mode": "raise"})}
    )
    evoforge.run(raising, tmp_path / "ref")
    ref = individuals(tmp_path / "ref", "generation, idx, fitness, error", fresh_only=True)
    assert [r[:3] for r in got if not r[3]] == [r[:3] for r in ref if not r[3]]
    assert [r[:2] for r in got if r[3]] == [r[:2] for r in ref if r[3]]


def test_a_finished_asynchronous_run_does_not_wait_for_work_in_flight(tmp_path):
    strategy = {"name": "steady_ga", "population_size": 6, "sigma": 0.3}
    cfg = faulty_config(
        tmp_path, "stuck", above=0.0, strategy=strategy, generations=1000, asynchronous=True,
        stop={"seconds": 2.0}, evaluation={"retries": 0, "timeout": 20.0}, backend="process", workers=2,
    )  # fmt: skip
    start = time.perf_counter()
    with ProcessBackend(workers=2) as backend:
        evoforge.run(cfg, tmp_path / "run", backend=backend)
        # candidates stuck for 60 s (hard limit 60 s) were in flight at the stop: dropped, not awaited
        assert time.perf_counter() - start < 15
        assert backend.pending() == 0
        # and the backend still works afterwards, on fresh workers
        again = faulty_config(tmp_path, generations=2, backend="process", workers=2)
        assert evoforge.run(again, tmp_path / "again", backend=backend).failed == 0


@pytest.mark.slow
def test_a_slow_worker_start_does_not_count_against_a_candidates_time_limit(tmp_path, monkeypatch):
    """A chunk's hard limit counted from its launch, so the seconds a new worker process took to start
    (a busy machine, a pool rebuilt after a crash) were charged to the candidate: healthy candidates
    were stopped and recorded as failed (found with the load average at 8 on 2 cores). It counts
    from when the worker began the chunk, as on Ray."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import time\ntime.sleep(3)\n")  # every worker starts 3 s late
    monkeypatch.setenv("PYTHONPATH", str(site))
    cfg = evoforge.RunConfig(
        generations=2, backend="process", workers=2, strategy={"name": "random_search", "population_size": 2},
        problem={"kind": "function", "name": "sphere", "dim": 3}, evaluation={"retries": 0, "timeout": 1.0},
    )  # fmt: skip
    result = evoforge.run(
        cfg, tmp_path / "run"
    )  # one candidate a chunk: a hard limit of 2 s, below the 3 s start
    assert result.failed == 0, individuals(tmp_path / "run", "error", fresh_only=True)


def test_a_problem_workers_cannot_load_stops_the_run_in_one_line_not_as_lost_workers(tmp_path):
    """Workers that cannot load the problem (its module fails to import in a fresh process) died on
    every chunk: 27 candidates recorded as "worker lost", 78 worker tracebacks on stderr, exit 1. Now
    the first chunk says why, the run stops in one line (exit 2) with no candidate recorded, and it
    resumes once the problem loads."""
    import json
    import os
    import sqlite3
    import subprocess
    import sys

    config = {"seed": 0, "generations": 3, "strategy": {"name": "open_es", "population_size": 8},
              "problem": {"kind": "shy:ShyProblem"}, "backend": "process", "workers": 2}  # fmt: skip
    (tmp_path / "c.json").write_text(json.dumps(config))
    tests = str(Path(__file__).resolve().parents[1])  # tests/shy.py: loads in the driver alone
    env = {**os.environ, "PYTHONPATH": tests, "EVOFORGE_TEST_DRIVER": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "evoforge.cli", "run", str(tmp_path / "c.json"), "--out", str(tmp_path / "r"), "--quiet"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "evoforge: error: a worker process cannot load the run's work (RuntimeError: no licence server in "
        "this process): the problem must load in a fresh process; fix that, then 'evoforge resume "
        f"{tmp_path / 'r'}'"
    ], done.stderr
    with sqlite3.connect(tmp_path / "r" / "evoforge.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM individuals").fetchone() == (0,)
    resumed = subprocess.run(
        [sys.executable, "-m", "evoforge.cli", "resume", str(tmp_path / "r"), "--quiet"],
        capture_output=True, text=True, env={**env, "EVOFORGE_SHY_OFF": "1"}, timeout=300,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
