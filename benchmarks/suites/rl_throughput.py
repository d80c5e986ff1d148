"""Population rollout throughput on CartPole-v1: evoforge side by side with the anchors.

Every measurement runs in its own interpreter pinned to one core with single-threaded BLAS.
A population of 256 policies (4-16-2 tanh MLPs; neat-python evolves its own topologies) plays
one episode each; throughput is *valid* environment steps per second (steps of episodes still
running), including the policy forward pass. Fixed-length rollouts (evosax/gymnax) also report
the steps they compute.

Two populations:
* ``random``: each library's own random initial policies (most episodes end in ~10-30 steps);
* ``balanced``: 256 small perturbations of one policy that balances the pole, so nearly every
  episode lasts 500 steps (the steady state of a run that is learning). Same weights everywhere.

    .bench-venv/bin/python benchmarks/harness.py rl_throughput [--set seeds=5]
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from common import ROOT, median, neat_population, pin_from_env, run_child

POP = 256
HIDDEN = 16
BALANCED = ROOT / "benchmarks" / "results" / "cartpole_balanced_policy.json"


def population(scenario: str, seed: int):
    import numpy as np

    from evoforge.problems.gym import GymConfig, GymProblem

    problem = GymProblem(GymConfig(env_id="CartPole-v1", policy={"hidden": [HIDDEN]}))
    rng = np.random.default_rng(seed)
    if scenario == "random":
        return np.stack([problem.initial_params(rng) for _ in range(POP)])
    base = np.array(json.loads(BALANCED.read_text())["params"])
    return base + 0.01 * rng.standard_normal((POP, base.size))


def split(params):
    """evoforge's flat layout -> (W1 (4,16), b1, W2 (16,2), b2)."""
    w1 = params[: 4 * HIDDEN].reshape(4, HIDDEN)
    b1 = params[4 * HIDDEN : 5 * HIDDEN]
    w2 = params[5 * HIDDEN : 7 * HIDDEN].reshape(HIDDEN, 2)
    b2 = params[7 * HIDDEN :]
    return w1, b1, w2, b2


# -- one measurement per library -------------------------------------------------------------------
# Every library is timed the same way (:func:`timed`): one untimed call (environments made, code
# compiled), then the median of ``REPS`` timed calls, each evaluating the whole population once.
REPS = 5


def timed(evaluate, reps: int = REPS, **extra) -> dict:
    """Median-time call of ``evaluate() -> (valid steps, computed steps)``, after one untimed call."""
    evaluate()
    times, steps = [], (0.0, 0.0)
    for _ in range(reps):
        start = time.perf_counter()
        steps = evaluate()
        times.append(time.perf_counter() - start)
    return {"valid_steps": steps[0], "computed_steps": steps[1], "seconds": sorted(times)[reps // 2], **extra}


def bench_raw(scenario, seed):
    import gymnasium as gym
    import numpy as np

    venv = gym.make_vec("CartPole-v1", num_envs=POP, vectorization_mode="vector_entry_point")
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, 2, size=(500, POP))

    def evaluate():
        venv.reset(seed=seed)
        for t in range(500):
            venv.step(actions[t])
        return 500 * POP, 500 * POP

    return timed(evaluate)


def bench_evoforge(scenario, seed, episodes=1):
    import numpy as np

    from evoforge.problems.gym import GymConfig, GymProblem

    params = population(scenario, seed)
    problem = GymProblem(GymConfig(env_id="CartPole-v1", episodes=episodes, policy={"hidden": [HIDDEN]}))
    seeds = np.arange(POP) + 1000 * seed
    return timed(lambda: _steps(problem.evaluate(params, seeds, {})), episodes=POP * episodes)


def _steps(results) -> tuple[float, float]:
    steps = sum(r.metrics["env_steps"] for r in results)
    return steps, steps


def bench_evoforge_gym_native(scenario, seed):
    """evoforge's rollout on Gymnasium's own CartPoleVectorEnv instead of its kernel."""
    import numpy as np

    from evoforge.problems.gym import GymConfig, GymProblem

    params = population(scenario, seed)
    problem = GymProblem(GymConfig(env_id="CartPole-v1", vectorization="native", policy={"hidden": [HIDDEN]}))
    return timed(lambda: _steps(problem.evaluate(params, np.arange(POP) + 1000 * seed, {})))


def bench_numpy_loop(scenario, seed):
    """The loop a pycma user writes: one gymnasium env, one numpy MLP forward per step."""
    import gymnasium as gym
    import numpy as np

    params = population(scenario, seed)
    env = gym.make("CartPole-v1")

    def evaluate():
        steps = 0
        for i, p in enumerate(params):
            w1, b1, w2, b2 = split(p)
            obs, _ = env.reset(seed=1000 * seed + i)
            done = False
            while not done:
                action = int(np.argmax(np.tanh(obs @ w1 + b1) @ w2 + b2))
                obs, _, term, trunc, _ = env.step(action)
                done = term or trunc
                steps += 1
        return steps, steps

    return timed(evaluate)


def _evotorch_batch(problem, scenario, seed):
    import numpy as np
    import torch

    flat = []
    for p in population(scenario, seed):
        w1, b1, w2, b2 = split(p)
        flat.append(np.concatenate([w1.T.ravel(), b1, w2.T.ravel(), b2]))
    batch = problem.generate_batch(POP)
    batch.set_values(torch.as_tensor(np.stack(flat), dtype=torch.float32))
    return batch


def _evotorch_timed(problem, scenario, seed) -> dict:
    """An EvoTorch problem (GymNE or VecGymNE) timed on the population, steps by its own count."""
    batch = _evotorch_batch(problem, scenario, seed)

    def evaluate():
        before = problem.interaction_count
        problem.evaluate(batch)
        steps = problem.interaction_count - before
        return steps, steps

    return timed(evaluate)


def bench_evotorch(scenario, seed):
    import torch
    from evotorch.neuroevolution import GymNE

    torch.set_num_threads(1)
    problem = GymNE(
        env="CartPole-v1",
        network=f"Linear(obs_length, {HIDDEN}) >> Tanh() >> Linear({HIDDEN}, act_length)",
        num_actors=0,
        num_episodes=1,
    )
    return _evotorch_timed(problem, scenario, seed)


def bench_evotorch_vec(scenario, seed):
    """EvoTorch's vectorised path: VecGymNE runs the population on Gymnasium vector environments,
    its policies as one batched torch forward per step."""
    import torch
    from evotorch.neuroevolution import VecGymNE

    torch.set_num_threads(1)
    problem = VecGymNE(
        env="CartPole-v1",
        network=f"Linear(obs_length, {HIDDEN}) >> Tanh() >> Linear({HIDDEN}, act_length)",
        num_actors=0,
        num_episodes=1,
        device="cpu",
    )
    return _evotorch_timed(problem, scenario, seed)


def bench_evosax(scenario, seed):
    import jax
    import jax.numpy as jnp
    import numpy as np
    from evosax.problems.networks import MLP
    from evosax.problems.rl.gymnax import GymnaxProblem

    policy = MLP(layer_sizes=(HIDDEN, 2), output_fn=lambda x, key=None: jnp.argmax(x, axis=-1))
    problem = GymnaxProblem("CartPole-v1", policy, use_normalize_obs=False)
    params = population(scenario, seed)
    w1, b1, w2, b2 = (np.stack(x) for x in zip(*(split(p) for p in params), strict=True))
    tree = {
        "params": {
            "Dense_0": {"kernel": jnp.asarray(w1, jnp.float32), "bias": jnp.asarray(b1, jnp.float32)},
            "Dense_1": {"kernel": jnp.asarray(w2, jnp.float32), "bias": jnp.asarray(b2, jnp.float32)},
        }
    }
    holder = {"state": problem.init(jax.random.key(seed)), "k": 0}
    start = time.perf_counter()
    fitness, holder["state"], _ = problem.eval(jax.random.key(seed), tree, holder["state"])
    jax.block_until_ready(fitness)
    compile_s = time.perf_counter() - start  # the second trace (see ANCHORS.md) is timed's untimed call

    def evaluate():
        holder["k"] += 1
        fitness, holder["state"], _ = problem.eval(jax.random.key(seed + holder["k"]), tree, holder["state"])
        jax.block_until_ready(fitness)
        return float(np.asarray(fitness).sum()), POP * problem.episode_length  # CartPole pays 1 per step

    return timed(evaluate, compile_seconds=compile_s)


def bench_neat(scenario, seed):
    import gymnasium as gym
    import neat

    config, pop = neat_population("neat_cartpole.cfg", seed)
    env = gym.make("CartPole-v1")
    genomes = list(pop.population.values())

    def evaluate():
        steps = 0
        for i, genome in enumerate(genomes):
            net = neat.nn.FeedForwardNetwork.create(genome, config)
            obs, _ = env.reset(seed=1000 * seed + i)
            done = False
            while not done:
                out = net.activate(obs)
                obs, _, term, trunc, _ = env.step(int(out[1] > out[0]))
                done = term or trunc
                steps += 1
        return steps, steps

    return timed(evaluate)


LIBRARIES = {
    "gymnasium vector env, random actions, no policy (ceiling)": bench_raw,
    "evoforge (batched numpy MLP, CartPole kernel)": bench_evoforge,
    "evoforge, 4 episodes per policy (1,024 slots)": lambda s, seed: bench_evoforge(s, seed, episodes=4),
    "evoforge on Gymnasium's CartPoleVectorEnv (vectorization=native)": bench_evoforge_gym_native,
    "pycma-style loop (one env, numpy MLP per step)": bench_numpy_loop,
    "EvoTorch 0.6.1 GymNE (num_actors=0)": bench_evotorch,
    "EvoTorch 0.6.1 VecGymNE (vector envs, batched forward)": bench_evotorch_vec,
    "evosax 0.3.2 GymnaxProblem (jit, fixed 500-step scan)": bench_evosax,
    "neat-python 2.0.0 (own random genomes, FeedForwardNetwork)": bench_neat,
}


def make_balanced_policy() -> None:
    """Evolve one balancing 4-16-2 policy with evoforge (seeded), for the 'balanced' population."""
    import tempfile

    import evoforge

    cfg = evoforge.RunConfig(
        seed=0,
        generations=60,
        strategy={"name": "cma_es", "population_size": 32},
        problem={"kind": "gym", "env_id": "CartPole-v1", "episodes": 10, "policy": {"hidden": [HIDDEN]}},
        stop={"fitness": 500},
        validation_episodes=20,
    )
    with tempfile.TemporaryDirectory() as tmp:
        result = evoforge.run(cfg, Path(tmp) / "r")
        from evoforge.store.run_store import RunStore

        store = RunStore.open(Path(tmp) / "r")
        params = store.genome_of(result.best_genome_id)
        store.close()
    BALANCED.parent.mkdir(parents=True, exist_ok=True)
    BALANCED.write_text(json.dumps({"test_score": result.test_score, "params": params.tolist()}))


def child(name: str, scenario: str, seed: str) -> dict:
    pin_from_env()
    return LIBRARIES[name](scenario, int(seed))


def run(settings: dict, save) -> dict:
    if not BALANCED.exists():
        make_balanced_policy()
    rows = []
    for scenario in ("random", "balanced"):
        names = [n for n in LIBRARIES if not (scenario == "balanced" and n.startswith("neat"))]
        # Seeds outermost: every library is measured in each time window, so drift in the
        # machine's speed (it is shared) spreads evenly instead of favouring one library.
        by_name: dict[str, list[dict]] = {n: [] for n in names}
        for seed in range(int(settings["seeds"])):
            for name in names:
                by_name[name].append(run_child("rl_throughput", [name, scenario, str(seed)]))
        for name in names:
            runs = by_name[name]
            ok = [r for r in runs if "error" not in r]
            row = {
                "scenario": scenario,
                "library": name,
                "errors": [r["error"] for r in runs if "error" in r],
            }
            if ok:
                row["valid_steps_per_s"] = median([r["valid_steps"] / r["seconds"] for r in ok])
                row["computed_steps_per_s"] = median([r["computed_steps"] / r["seconds"] for r in ok])
                row["mean_episode"] = median([r["valid_steps"] / r.get("episodes", POP) for r in ok])
                row["compile_seconds"] = (
                    median([r.get("compile_seconds") for r in ok]) if "compile_seconds" in ok[0] else None
                )
            rows.append(row)
            print(json.dumps(row), flush=True)
        save({"rows": rows})
    return {"rows": rows}


def table(results: dict, settings: dict) -> str:
    lines = [
        "Each cell is the median over seeds (each seed a fresh process pinned to one core, libraries "
        "interleaved, single-threaded BLAS; every library's time per seed is the median of 5 evaluations "
        "of the whole population after one untimed call). "
        "Valid steps are steps of episodes still running; the policy forward pass is included. "
        "Ratio = evoforge (1 episode per policy) / that row, on valid steps per second.",
        "",
    ]
    for scenario in ("random", "balanced"):
        sub = [r for r in results["rows"] if r["scenario"] == scenario]
        ours = next(r for r in sub if r["library"].startswith("evoforge (batched"))
        lines += [
            f"**{scenario} population**",
            "",
            "| library | valid steps/s | computed steps/s | mean episode | evoforge ÷ this |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for r in sub:
            if "valid_steps_per_s" not in r:
                lines.append(f"| {r['library']} | failed: {r['errors'][0]} | | | |")
                continue
            ratio = ours["valid_steps_per_s"] / r["valid_steps_per_s"]
            extra = f" (+{r['compile_seconds']:.1f} s compile)" if r.get("compile_seconds") else ""
            lines.append(
                f"| {r['library']}{extra} | {r['valid_steps_per_s']:,.0f} | {r['computed_steps_per_s']:,.0f} | "
                f"{r['mean_episode']:.0f} | {ratio:.2f} |"
            )
        lines.append("")
    return "\n".join(lines)
