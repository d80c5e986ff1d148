import os

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
