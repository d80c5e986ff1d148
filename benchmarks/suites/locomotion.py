"""MuJoCo locomotion at a fixed budget of environment steps: evoforge's policy searches side by side
with the anchors (EvoTorch's PGPE with ClipUp and SNES, pycma, Stable-Baselines3's TD3).

Every run is a fresh process with both cores (evoforge: its process backend, 2 workers; EvoTorch: 2
Ray actors; pycma: the single-process loop users write; SB3: its own single process). A run ends when
it has taken ``steps`` environment steps of training; its final policy (evoforge: the run's reported
individual; EvoTorch: the search distribution's centre; pycma: its mean; TD3: its actor) is then
tested on 10 fixed episodes no run trained on, reporting the mean return and the mean distance
travelled along x (a policy standing still collecting an alive bonus shows as a return without a
distance). Wall time is reported beside them.

    .bench-venv/bin/python benchmarks/harness.py locomotion --set task=HalfCheetah-v5 [--set seeds=1]

Results are saved after every run (a stopped benchmark resumes); ``methods`` picks which run. A
catalogue entry's own ``steps`` replaces the suite's budget for that method: the methods bound by
gradient steps (TD3, CEM-RL) take far longer per environment step than the population searches, so
they share a smaller budget of their own, equal between them.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from common import policy_actor, run_child

TEST_SEEDS = [20_000 + k for k in range(10)]


def test_policy(act, env_id: str) -> dict[str, float]:
    """Mean return and distance along x of ``act(obs) -> action`` over the 10 fixed test episodes."""
    import gymnasium as gym
    import numpy as np

    env = gym.make(env_id)
    returns, distances = [], []
    for seed in TEST_SEEDS:
        obs, info = env.reset(seed=seed)
        start, total, done = info.get("x_position", 0.0), 0.0, False
        while not done:
            obs, r, term, trunc, info = env.step(np.asarray(act(obs), dtype=np.float32))
            total += float(r)
            done = term or trunc
        returns.append(total)
        distances.append(float(info.get("x_position", 0.0)) - float(start))
    env.close()
    return {"test": float(np.mean(returns)), "distance": float(np.mean(distances))}


def _policy_spec(settings: dict) -> dict:
    return dict(settings.get("policy", {"hidden": [], "obs_norm": True}))


# -- evoforge --------------------------------------------------------------------------------------
def run_evoforge(env_id: str, seed: int, steps: int, settings: dict) -> dict:
    import tempfile
    from pathlib import Path

    import numpy as np

    import evoforge
    from evoforge.core.genome import SeedChainDecoder
    from evoforge.core.hall_of_fame import HallOfFame
    from evoforge.engine.evaluation import build_problem
    from evoforge.store.run_store import RunStore

    problem_cfg = {"kind": "gym", "env_id": env_id, "episodes": 1, "policy": _policy_spec(settings)}
    problem_cfg.update(settings.get("problem", {}))  # a catalogue entry's own problem settings
    if settings["strategy"]["name"] in ("cem_rl", "erl"):
        problem_cfg["transitions"] = True
    cfg = evoforge.RunConfig(
        seed=seed,
        generations=10**7,
        strategy=settings["strategy"],
        problem=problem_cfg,
        stop={"env_steps": steps},
        backend="process",
        workers=2,
        test_episodes=1,  # the suite's own test follows, the same for every library
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "r"
        result = evoforge.run(cfg, run_dir)
        seconds = time.perf_counter() - started
        problem = build_problem(cfg.problem)
        store = RunStore.open(run_dir)
        try:
            hof = HallOfFame.from_tree(store.load_checkpoint()["hof"])
        finally:
            store.close()
        entry = next(e for e in hof if e.genome_id == result.best_genome_id)
        params = np.asarray(SeedChainDecoder(problem.initial_params)(entry.genome))
    act = policy_actor(problem, entry.context, params)
    return {**test_policy(act, env_id), "seconds": seconds, "env_steps": result.env_steps}


# -- EvoTorch --------------------------------------------------------------------------------------
def run_evotorch(env_id: str, seed: int, steps: int, settings: dict) -> dict:
    import numpy as np
    import torch
    from evotorch.algorithms import PGPE, SNES
    from evotorch.neuroevolution import GymNE

    torch.manual_seed(seed)
    hidden = settings.get("hidden", [])
    network = "Linear(obs_length, act_length)"
    if hidden:
        network = f"Linear(obs_length, {hidden[0]}) >> Tanh() >> Linear({hidden[0]}, act_length)"
    problem = GymNE(env=env_id, network=network, num_actors=2, observation_normalization=True)
    algorithm = {"pgpe": PGPE, "snes": SNES}[settings["algorithm"]]
    searcher = algorithm(problem, **settings["options"])
    started = time.perf_counter()
    try:
        while problem.interaction_count < steps:
            searcher.step()
        seconds = time.perf_counter() - started
        policy = problem.to_policy(searcher.status["center"])
        # GymNE normalises observations inside the policy it returns (with its running statistics)
    finally:
        problem.kill_actors()

    def act(obs):
        with torch.no_grad():
            return policy(torch.as_tensor(np.asarray(obs), dtype=torch.float32)).numpy()

    return {**test_policy(act, env_id), "seconds": seconds, "env_steps": float(problem.interaction_count)}


# -- pycma -----------------------------------------------------------------------------------------
def run_pycma(env_id: str, seed: int, steps: int, settings: dict) -> dict:
    """pycma's CMA-ES on a linear policy with running observation normalisation, the loop a user writes."""
    import cma
    import gymnasium as gym
    import numpy as np

    env = gym.make(env_id)
    d_in, d_out = env.observation_space.shape[0], env.action_space.shape[0]
    high = env.action_space.high
    dim = d_in * d_out + d_out
    es = cma.CMAEvolutionStrategy(np.zeros(dim), settings.get("sigma", 0.5),
                                  {"popsize": settings.get("popsize", 32), "seed": seed + 1, "verbose": -9})  # fmt: skip
    rng = np.random.default_rng(seed)
    total_obs, total_sq, count = np.zeros(d_in), np.zeros(d_in), 1e-8
    taken, started = 0, time.perf_counter()

    def policy(x, mean, std):
        w, b = x[: d_in * d_out].reshape(d_in, d_out), x[d_in * d_out :]
        return lambda obs: high * np.tanh(np.clip((obs - mean) / std, -5, 5) @ w + b)

    def stats():
        mean = total_obs / count
        return mean, np.sqrt(np.maximum(total_sq / count - mean**2, 1e-8))

    while taken < steps:
        xs, fitness = es.ask(), []
        mean, std = stats()
        for x in xs:
            act, total = policy(x, mean, std), 0.0
            obs, _ = env.reset(seed=int(rng.integers(2**31)))
            done = False
            while not done:
                total_obs += obs
                total_sq += obs * obs
                count += 1
                obs, r, term, trunc, _ = env.step(act(obs))
                total += float(r)
                taken += 1
                done = term or trunc
            fitness.append(total)
        es.tell(xs, [-f for f in fitness])
    seconds = time.perf_counter() - started
    return {**test_policy(policy(es.mean, *stats()), env_id), "seconds": seconds, "env_steps": float(taken)}


# -- Stable-Baselines3 TD3 -------------------------------------------------------------------------
def run_td3(env_id: str, seed: int, steps: int, settings: dict) -> dict:
    import gymnasium as gym
    import numpy as np
    import torch
    from stable_baselines3 import TD3
    from stable_baselines3.common.noise import NormalActionNoise

    torch.set_num_threads(2)
    env = gym.make(env_id)
    n = env.action_space.shape[0]
    noise = NormalActionNoise(mean=np.zeros(n), sigma=0.1 * np.ones(n))
    model = TD3("MlpPolicy", env, action_noise=noise, seed=seed, verbose=0, **settings.get("options", {}))
    started = time.perf_counter()
    model.learn(total_timesteps=steps)
    seconds = time.perf_counter() - started
    return {
        **test_policy(lambda obs: model.predict(obs, deterministic=True)[0], env_id),
        "seconds": seconds,
        "env_steps": float(steps),
    }


RUNNERS = {"evoforge": run_evoforge, "evotorch": run_evotorch, "pycma": run_pycma, "td3": run_td3}


def child(method_json: str, env_id: str, seed: str, steps: str) -> dict:
    import json

    method = json.loads(method_json)
    return RUNNERS[method["library"]](env_id, int(seed), int(steps), method)


def _budget(method: dict, steps: int) -> int:
    """The method's environment steps of training: its own ``steps`` if the catalogue gives one."""
    return int(method.get("steps", steps))


def deciding(settings: dict) -> dict:
    """The settings that decide the results: the catalogue's entries for the methods run (an entry
    added for another method changes nothing measured)."""
    chosen = settings.get("methods") or list(settings["catalogue"])
    return {
        **settings,
        "catalogue": {m: settings["catalogue"][m] for m in chosen if m in settings["catalogue"]},
    }


def run(settings: dict, save) -> dict:
    import json

    task, steps = settings["task"], int(settings["steps"])
    chosen = settings.get("methods") or list(settings["catalogue"])
    results: dict[str, Any] = dict(save.previous or {})
    for seed in _seeds(settings):  # interleaved: every method's first seed, then the next, ...
        for name in chosen:
            key = f"{name}/{seed}"
            if key in results:
                continue
            method = settings["catalogue"][name]
            # the harness's --until: the method's longest time on the seeds measured so far
            times = [r["seconds"] for k, r in results.items() if k.split("/")[0] == name]
            save.expect(max(times) if times else None)
            results[key] = run_child(
                "locomotion",
                [json.dumps(method), task, str(seed), str(_budget(method, steps))],
                core=None,
                timeout=6 * 3600,
            )
            save(results)
    return results


def _seeds(settings: dict) -> range:
    """The training seeds: ``first_seed`` (0 unless set) and the ``seeds - 1`` after it."""
    first = int(settings.get("first_seed", 0))
    return range(first, first + int(settings["seeds"]))


def table(results: dict, settings: dict) -> str:
    steps = int(settings["steps"])
    chosen = settings.get("methods") or list(settings["catalogue"])
    lines = [
        f"{settings['task']}, {steps:,} environment steps of training per run unless the method's row says"
        f" otherwise; training seeds {_seeds(settings).start}-{_seeds(settings).stop - 1}; test: 10 fixed episodes.",
        "",
        "| method | steps | test return per seed | median | distance along x (median) | wall time (median, s) |",
        "|---|---|---|---|---|---|",
    ]
    for name in chosen:
        runs = [results.get(f"{name}/{s}") for s in _seeds(settings)]
        done = [r for r in runs if r and "test" in r]
        budget = _budget(settings["catalogue"][name], steps)
        if not done:
            lines.append(f"| {name} | {budget:,} | - | - | - | - |")
            continue
        returns = ", ".join(f"{r['test']:.0f}" for r in done)
        lines.append(
            f"| {name} | {budget:,} | {returns} | {statistics.median(r['test'] for r in done):.0f} | "
            f"{statistics.median(r['distance'] for r in done):.1f} | "
            f"{statistics.median(r['seconds'] for r in done):.0f} |"
        )
    return "\n".join(lines)
