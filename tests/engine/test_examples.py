"""The example configs are executable documentation: each CartPole example must solve
CartPole-v1 (mean of 10 fresh test episodes >= 475) for 5 of 5 seeds within its budget, and every
example, run with a tiny budget, must decide exactly what it decided when its result was recorded
(``tests/recorded/example_results.json``): a reshaping of the engine may not change any result.

The last bits of float results depend on the machine as well as the code (OpenBLAS chooses its
kernels by CPU model, torch by instruction set and maker), and a chaotic task like CartPole turns a
last bit into another run: results are recorded per platform (:func:`platform`). On a platform with
no record the test still checks every example's evaluation count and warns that the rest went
unchecked; recording adds the platform without touching the others.

To record (again, after a change that must alter random streams: say so in the commit)::

    EVOFORGE_RECORD_EXAMPLES=1 .venv/bin/pytest tests/engine/test_examples.py -k reproduces
"""

import hashlib
import json
import math
import os
import re
import warnings
from pathlib import Path

import pytest
import yaml
from conftest import individuals, write_idx_folder

import evoforge

pytestmark = pytest.mark.slow  # the examples at their full budgets


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RECORDED = Path(__file__).resolve().parents[1] / "recorded" / "example_results.json"


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


def test_every_example_config_is_valid_runs_and_reproduces_its_recorded_result(tmp_path, monkeypatch):
    # Examples that read Fashion-MNIST run on a small IDX dataset of the same shape, written here: the
    # real one is a system package no test may need. Those naming no path find it where Debian puts it.
    system = tmp_path / "system-data"
    write_idx_folder(system / "fashion-mnist", n_train=400, n_test=100)
    monkeypatch.setenv("EVOFORGE_SYSTEM_DATA", str(system))
    names = sorted(p.name for p in EXAMPLES.glob("*.yaml"))
    got: dict[str, dict] = {}
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
        if raw["problem"]["kind"] == "gan":  # a few short trainings (the feature classifier too)
            update["strategy"] = dict(raw["strategy"], population_size=4)
            small = {
                "g_channels": 8,
                "d_channels": 8,
                "batch_size": 32,
                "d_steps": 1,
                "g_width": 32,
                "d_width": 32,
            }
            update["problem"] = dict(
                raw["problem"], steps=20, samples=300, feature_steps=30, space={"fixed": small}
            )
            update["test_episodes"] = 1
        if raw["problem"]["kind"] == "maze":  # short episodes
            update["strategy"] = dict(raw["strategy"], population_size=8)
            update["problem"] = dict(raw["problem"], steps=40)
        if raw["problem"]["kind"] == "tabular":  # generations, not a time budget: reproducible
            update["strategy"] = dict(raw["strategy"], population_size=4)
            update["problem"] = dict(raw["problem"], folds=3)
            update["stop"] = {}
            update["asynchronous"] = False
        if raw["problem"]["kind"] == "optimizer_search":
            update["strategy"] = dict(raw["strategy"], population_size=4)
            update["problem"] = dict(raw["problem"], budget=0.05, test_seeds=1, lr_grid=[1e-3, 1e-2])
        config = load(name, **update)
        result = evoforge.run(config, tmp_path / name)
        assert result.generations >= 1 and result.evaluations > 0
        got[name] = fingerprint(result, tmp_path / name)
    platforms = json.loads(RECORDED.read_text()) if RECORDED.exists() else {}
    here = platform()
    if os.environ.get("EVOFORGE_RECORD_EXAMPLES"):
        platforms[here] = got
        RECORDED.parent.mkdir(exist_ok=True)
        RECORDED.write_text(json.dumps(platforms, indent=1, sort_keys=True) + "\n")
    assert platforms, "no recorded results"
    for recorded in platforms.values():  # a platform recorded before an example was added lacks it
        assert set(recorded) <= set(names), sorted(set(recorded) - set(names))
        for name in recorded:  # the budgets decide the count, whatever the platform
            assert got[name]["evaluations"] == recorded[name]["evaluations"], name
    if here not in platforms:
        warnings.warn(
            f"no results recorded on this platform ({here}): only evaluation counts compared", stacklevel=1
        )
        return
    unrecorded = sorted(set(names) - set(platforms[here]))
    if unrecorded:  # examples added since this platform recorded
        warnings.warn(f"not recorded on this platform: {', '.join(unrecorded)}", stacklevel=1)
    for name in sorted(platforms[here]):
        want, have = platforms[here][name], got[name]
        assert have["decisions"] == want["decisions"], name  # every individual of every generation
        assert have["best_genome_id"] == want["best_genome_id"], name
        assert have["evaluations"] == want["evaluations"], name
        # The choices above are exact; a score may differ in its last bits between CPUs that share a
        # platform key: oneDNN picks its kernels by the CPU's own extensions (seen: AMX against plain
        # AVX-512 moved nas-pareto-fashion's best fitness by 2.4e-9, relative, same decisions).
        for key in ("best_fitness", "test_score"):
            assert math.isclose(have[key], want[key], rel_tol=1e-6, abs_tol=1e-9), (name, key)


def platform() -> str:
    """What besides the code decides the last bits of a float result here: numpy's BLAS kernels,
    torch's vector instruction set, the CPU's maker, and the two libraries' versions."""
    import numpy
    import torch
    from threadpoolctl import threadpool_info

    blas = sorted(
        {f"{i['internal_api']} {i.get('architecture')}" for i in threadpool_info() if i["user_api"] == "blas"}
    )
    maker = (
        re.search(r"vendor_id\s*:\s*(\S+)", Path("/proc/cpuinfo").read_text())
        if Path("/proc/cpuinfo").exists()
        else None
    )
    return ", ".join([*blas, f"torch {torch.__version__} {torch.backends.cpu.get_cpu_capability()}",
                      f"numpy {numpy.__version__}", maker.group(1) if maker else "cpu unknown"])  # fmt: skip


def fingerprint(result: evoforge.RunResult, run_dir: Path) -> dict:
    """What a run decided: its reported individual and scores, and a digest of every individual's
    content id in (generation, position) order."""
    rows = individuals(run_dir, "generation, idx, genome_id")
    return {
        "best_genome_id": result.best_genome_id,
        "best_fitness": result.best_fitness,
        "test_score": result.test_score,
        "evaluations": result.evaluations,
        "decisions": hashlib.blake2b(json.dumps(rows).encode(), digest_size=8).hexdigest(),
    }
