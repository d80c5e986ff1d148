"""One process at a time runs a run directory: a second ``resume`` of a run that is still going is
refused in one line (two processes wrote the same store side by side, each ending the run), and the
lock dies with its process, so a killed run resumes at once. ``show`` tells a running run from an
interrupted one by the same lock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import _UNFINISHABLE_CLI, cli


@pytest.mark.slow  # four command-line processes
def test_a_run_going_on_is_not_resumed_by_a_second_process_and_a_killed_one_is(tmp_path):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"generations": 3, "backend": "serial", "strategy": {"name": "cma_es"},
                                  "problem": {"kind": "function", "name": "sphere", "dim": 3}}))  # fmt: skip
    run_dir = tmp_path / "r"
    held = subprocess.Popen(  # reaches the end of its run and waits there, before writing its result
        [sys.executable, "-c", _UNFINISHABLE_CLI, "run", str(config), "--out", str(run_dir), "--quiet"],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline, checkpoints = time.time() + 60, run_dir / "checkpoints"
        while not (checkpoints.is_dir() and any(checkpoints.glob("gen_*.npz"))):
            assert time.time() < deadline and held.poll() is None, "the run did not get to its end"
            time.sleep(0.05)
        assert json.loads(cli("show", run_dir, "--json").stdout)["status"] == "running"
        second = cli("resume", run_dir, "--quiet")
        assert second.returncode == 2 and len(second.stderr.strip().splitlines()) == 1, second.stderr
        assert f"is being run by another process (pid {held.pid} on " in second.stderr
        assert not (run_dir / "result.json").exists()
    finally:
        os.kill(held.pid, signal.SIGKILL)
        held.wait()
    assert json.loads(cli("show", run_dir, "--json").stdout)["status"] == "interrupted"
    assert f"interrupted: continue it with 'evoforge resume {run_dir}'" in cli("show", run_dir).stdout
    resumed = cli("resume", run_dir, "--quiet")  # the lock went with the killed process
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(cli("show", run_dir, "--json").stdout)["status"] == "finished"
