"""A run killed with SIGKILL at any write it makes, the final phase included (after the last
checkpoint, before the last output file, and half-way through an atomic write), resumes to the
same outputs as a run never interrupted: every file byte-identical but for wall times, no
temporary file left behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import outcome

import evoforge

pytestmark = pytest.mark.slow

#: the run under test writes through these; the driver counts every call and kills itself at one
_DRIVER = r"""
import os, signal, sys
from pathlib import Path
import yaml
import evoforge
from evoforge.core import files, state_io
from evoforge.store.run_store import RunStore

config_path, run_dir, target, torn = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "torn"
count = 0


def point(what, path=None, data=None):
    global count
    count += 1
    if count == target:
        if torn and path is not None:  # the temporary file half written, never renamed
            Path(path).with_name(f".{Path(path).name}.tmp{os.getpid()}").write_bytes(data[: len(data) // 2])
        os.kill(os.getpid(), signal.SIGKILL)


write = files.atomic_write_bytes


def atomic_write_bytes(path, data):
    point("write", path, data)
    write(path, data)


files.atomic_write_bytes = state_io.atomic_write_bytes = atomic_write_bytes  # text files and states
for name in ("record_evaluations", "record_cached", "record_generation"):
    method = getattr(RunStore, name)

    def wrapped(self, *args, _method=method, **kwargs):
        point("commit")
        return _method(self, *args, **kwargs)

    setattr(RunStore, name, wrapped)
config = evoforge.RunConfig.model_validate(yaml.safe_load(open(config_path)))
evoforge.run(config, run_dir)
print(count)
"""

CONFIGS = {
    # NEAT on XOR: structured genomes, species state, a checkpoint after every generation
    "neat": {
        "seed": 1,
        "generations": 6,
        "strategy": {"name": "neat", "population_size": 40},
        "problem": {"kind": "xor"},
        "test_episodes": 1,
        "checkpoint_interval": 0,
    },
    # MAP-Elites on MuJoCo's Swimmer: an archive in the strategy's state, told the behaviour
    # descriptors the store keeps with each evaluation (read back from it on resume)
    "map_elites": {
        "seed": 4,
        "generations": 5,
        "strategy": {
            "name": "map_elites",
            "population_size": 8,
            "descriptor_bounds": [[-0.3, 0.3], [-0.3, 0.3]],
            "cells": [4, 4],
            "iso_sigma": 0.05,
        },
        "problem": {
            "kind": "gym",
            "env_id": "Swimmer-v5",
            "max_episode_steps": 30,
            "descriptor": ["x_position", "y_position"],
            "policy": {"hidden": []},
        },
        "test_episodes": 1,
        "checkpoint_interval": 0,
    },
    # CMA-ES on CartPole with validation: a mean genome, validation and test re-evaluations, and only
    # the final checkpoint (the default interval outlasts the run), so most kills replay from the start
    "cma": {
        "seed": 2,
        "generations": 5,
        "strategy": {"name": "cma_es", "population_size": 8, "sigma": 0.5},
        "problem": {"kind": "gym", "env_id": "CartPole-v1", "episodes": 2, "policy": {"hidden": [4]}},
        "test_episodes": 3,
        "validation_episodes": 3,
    },
}


def _drive(config: Path, run_dir: Path, target: int, torn: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", _DRIVER, str(config), str(run_dir), str(target), "torn" if torn else "clean"],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _files(run_dir: Path) -> dict[str, bytes]:
    """The run's outputs that users read, as bytes (result.json without its wall time and folder)."""
    out = {}
    for path in sorted(run_dir.glob("*.json")):
        if path.name == "result.json":
            data = json.loads(path.read_text())
            data.pop("wall_seconds"), data.pop("run_dir")
            out[path.name] = json.dumps(data, sort_keys=True).encode()
        elif path.name != "meta.json":  # its creation time differs between any two runs
            out[path.name] = path.read_bytes()
    return out


def _leftovers(run_dir: Path) -> list[str]:
    return [p.name for p in run_dir.rglob(".*") if ".tmp" in p.name]


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_a_run_killed_at_random_writes_and_in_its_final_phase_resumes_identically(name, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(CONFIGS[name]))
    whole = _drive(config, tmp_path / "whole", target=0)
    assert whole.returncode == 0, whole.stderr
    total = int(whole.stdout.strip())  # write points of an uninterrupted run
    reference, reference_files = outcome(tmp_path / "whole"), _files(tmp_path / "whole")
    rng = np.random.default_rng(7)
    targets = sorted({*rng.choice(np.arange(2, total - 2), size=5, replace=False).tolist()})
    final = [total - 2, total - 1, total]  # last checkpoint, hall of fame (and export), result.json
    plan = [(t, False) for t in targets + final] + [(total, True), (total - 1, True)]
    for target, torn in plan:
        killed = tmp_path / f"killed-{target}-{torn}"
        proc = _drive(config, killed, target, torn)
        assert proc.returncode == -9, (target, proc.stderr)
        assert not (killed / "result.json").exists()
        evoforge.resume(killed)
        assert outcome(killed) == reference, (target, torn)
        assert _files(killed) == reference_files, (target, torn)
        assert _leftovers(killed) == [], (target, torn)


def test_resume_after_the_final_checkpoint_writes_every_output(tmp_path):
    # the state a kill between the last checkpoint and the last output files leaves (issue 18, item 3)
    example = Path(__file__).resolve().parents[2] / "examples" / "neat-xor.yaml"
    config = evoforge.RunConfig.model_validate(yaml.safe_load(example.read_text()))
    run = tmp_path / "x"
    evoforge.run(config, run)
    expected = _files(run)
    for name in ("result.json", "hall_of_fame.json"):
        (run / name).unlink()
    (run / ".hall_of_fame.json.tmp12345").write_text('{"entries": [')
    evoforge.resume(run)
    assert _files(run) == expected
    assert _leftovers(run) == []
    summary = json.loads(
        subprocess.run(
            [sys.executable, "-m", "evoforge.cli", "show", str(run), "--json"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert summary["hall_of_fame"] and summary["hall_of_fame"][0]["genome_id"] == summary_best(run)


def summary_best(run: Path) -> str:
    return json.loads((run / "result.json").read_text())["best_genome_id"]


def test_resuming_a_finished_run_changes_nothing(tmp_path):
    config = evoforge.RunConfig.model_validate(CONFIGS["neat"])
    run = tmp_path / "r"
    first = evoforge.run(config, run)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    again = evoforge.resume(run)
    assert again == first  # wall time included: the stored result, not a new one
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
