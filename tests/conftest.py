import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")


@pytest.fixture
def run_dir(tmp_path):
    return tmp_path / "run"


def function_config(
    strategy: dict, name: str = "sphere", dim: int = 5, generations: int = 20, seed: int = 0, **kw
):
    from evoforge import RunConfig

    return RunConfig(
        seed=seed,
        generations=generations,
        strategy=strategy,
        problem={"kind": "function", "name": name, "dim": dim},
        **kw,
    )


def cartpole_config(strategy: dict, generations: int = 30, seed: int = 0, **kw):
    from evoforge import RunConfig

    problem = {"kind": "gym", "env_id": "CartPole-v1", "episodes": 10, "policy": {"hidden": [16]}}
    problem.update(kw.pop("problem", {}))
    return RunConfig(
        seed=seed,
        generations=generations,
        strategy=strategy,
        problem=problem,
        stop={"fitness": 500},
        validation_episodes=20,
        **kw,
    )


TIME_FIELDS = {"eval_seconds", "wall_seconds"}


def outcome(run_dir: Path) -> dict:
    """Everything a run decides, without wall times."""
    from evoforge.store.run_store import RunStore

    store = RunStore.open(run_dir)
    stats = [{k: v for k, v in s.items() if k not in TIME_FIELDS} for s in store.generation_stats()]
    rows = store.db.execute(
        "SELECT generation, idx, genome_id, cached, fitness, error FROM individuals ORDER BY generation, idx"
    ).fetchall()
    store.close()
    result = json.loads((run_dir / "result.json").read_text())
    result = {k: v for k, v in result.items() if k not in TIME_FIELDS | {"run_dir"}}
    hof = json.loads((run_dir / "hall_of_fame.json").read_text())
    return {"stats": stats, "individuals": rows, "result": result, "hof": hof}
