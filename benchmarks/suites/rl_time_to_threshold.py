"""Wall time to a policy that reaches a return threshold, evoforge side by side with the anchors.

A library's run counts as solved when a policy it produced scores at least the threshold as the
mean of 10 fresh test episodes (seeds no library trained on). Anchors are checked every
generation whose best training fitness reaches the threshold; that test is not charged to
their clock. evoforge stops by its own rule (training fitness, then a validation re-evaluation)
and is then tested the same way; its validation is charged to its clock.

Every run has a wall-time cap; a run that hits it is reported as not solved. Each run is a fresh
process with both cores available (evoforge uses its process backend with 2 workers; EvoTorch
gets 2 Ray actors; neat-python a 2-process ParallelEvaluator; pycma's loop is single-process, as
users write it; evosax/jax uses its own threads).

    .bench-venv/bin/python benchmarks/harness.py rl_time_to_threshold --set task=Acrobot-v1 \
        [--set seeds=3 --set cap=180]
"""

from __future__ import annotations

import time
from pathlib import Path

from common import median, neat_population, policy_actor, run_child

THRESHOLDS = {"Acrobot-v1": -100.0, "LunarLander-v3": 200.0, "CartPole-v1": 475.0, "HalfCheetah-v5": None}
# For environments without a threshold (None) every run uses its whole budget (--cap) and the
# result is the test return of the best policy found.
HIDDEN = 16
EPISODES = 5
TEST_SEEDS = [10_000 + k for k in range(10)]


def test_policy(act, env_id: str) -> float:
    """Mean return of ``act(obs) -> action`` over the 10 fixed test episodes."""
    import gymnasium as gym

    env = gym.make(env_id)
    total = 0.0
    for seed in TEST_SEEDS:
        obs, _ = env.reset(seed=seed)
        done = False
        while not done:
            obs, r, term, trunc, _ = env.step(act(obs))
            total += float(r)
            done = term or trunc
    env.close()
    return total / len(TEST_SEEDS)


class Clock:
    """Wall time with pauses (for test episodes that are not charged)."""

    def __init__(self):
        self.start, self.paused = time.perf_counter(), 0.0

    def pause(self):
        return _Pause(self)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start - self.paused


class _Pause:
    def __init__(self, clock):
        self.clock = clock

    def __enter__(self):
        self.t = time.perf_counter()

    def __exit__(self, *exc):
        self.clock.paused += time.perf_counter() - self.t


# -- evoforge --------------------------------------------------------------------------------------
EVOFORGE_STRATEGY = {
    "Acrobot-v1": {"name": "cma_es", "population_size": 32, "sigma": 0.5},
    "LunarLander-v3": {"name": "cma_es", "population_size": 48, "sigma": 0.5},
    "CartPole-v1": {"name": "cma_es", "population_size": 32, "sigma": 0.5},
    "HalfCheetah-v5": {"name": "open_es", "population_size": 64, "sigma": 0.05, "learning_rate": 0.02},
}


class _SolvedError(Exception):
    pass


def run_evoforge(env_id: str, seed: int, cap: float) -> dict:
    """evoforge as a user runs it (process backend, 2 workers), checked by the same protocol as the
    anchors: after each generation whose best-ever training fitness reaches the threshold, that
    policy is tested on the 10 test episodes (clock paused)."""
    import tempfile

    import numpy as np

    import evoforge
    from evoforge.core.hall_of_fame import HallOfFame
    from evoforge.engine.evaluation import build_problem
    from evoforge.store.run_store import RunStore

    threshold = THRESHOLDS[env_id]
    cfg = evoforge.RunConfig(
        seed=seed,
        generations=100_000,
        strategy=EVOFORGE_STRATEGY[env_id],
        problem={
            "kind": "gym",
            "env_id": env_id,
            "episodes": EPISODES if threshold is not None else 1,
            "policy": {"hidden": [HIDDEN], "obs_norm": threshold is None},
        },
        stop={"seconds": cap},
        backend="process",
        workers=2,
        # a checkpoint every generation, so the best policy can be read back for its test (a cost
        # charged to evoforge's clock; by default it checkpoints every few minutes)
        checkpoint_interval=0,
    )
    problem = build_problem(cfg.problem)
    clock, tested = Clock(), set()
    outcome: dict = {}

    def policy_of(run_dir: Path, genome_id: str):
        store = RunStore.open(run_dir)
        try:
            params = np.asarray(store.genome_of(genome_id))
            hof = HallOfFame.from_tree(store.load_checkpoint()["hof"])
        finally:
            store.close()
        context = next(e.context for e in hof if e.genome_id == genome_id)
        return policy_actor(problem, context, params)

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "r"

        def check(event: str, data: dict) -> None:
            if event != "generation" or threshold is None or data["best_ever"] < threshold:
                return
            if data["best_ever_id"] in tested:
                return
            with clock.pause():
                tested.add(data["best_ever_id"])
                score = test_policy(policy_of(run_dir, data["best_ever_id"]), env_id)
            if score >= threshold:
                outcome.update(solved=True, seconds=clock.seconds, test=score)
                raise _SolvedError

        try:
            result = evoforge.run(cfg, run_dir, callback=check)
        except _SolvedError:
            store = RunStore.open(run_dir)
            outcome["evaluations"] = store.counts()["evaluations"]
            store.close()
            return outcome
        seconds = clock.seconds
        score = test_policy(policy_of(run_dir, result.best_genome_id), env_id)
    return {"solved": False, "seconds": seconds, "evaluations": result.evaluations, "test": score}


# -- pycma on a numpy MLP --------------------------------------------------------------------------
def numpy_mlp(env_id: str):
    import gymnasium as gym
    import numpy as np

    env = gym.make(env_id)
    discrete = isinstance(env.action_space, gym.spaces.Discrete)
    d_in = env.observation_space.shape[0]
    d_out = env.action_space.n if discrete else env.action_space.shape[0]
    high = None if discrete else env.action_space.high
    shapes = [(d_in, HIDDEN), (HIDDEN,), (HIDDEN, d_out), (d_out,)]
    sizes = [int(np.prod(s)) for s in shapes]

    def act_fn(x):
        parts, k = [], 0
        for shape, size in zip(shapes, sizes, strict=True):
            parts.append(x[k : k + size].reshape(shape))
            k += size
        w1, b1, w2, b2 = parts
        if discrete:
            return lambda obs: int(np.argmax(np.tanh(obs @ w1 + b1) @ w2 + b2))
        return lambda obs: high * np.tanh(np.tanh(obs @ w1 + b1) @ w2 + b2)

    return env, sum(sizes), act_fn


def run_pycma(env_id: str, seed: int, cap: float) -> dict:
    import cma
    import numpy as np

    threshold = THRESHOLDS[env_id]
    env, dim, act_fn = numpy_mlp(env_id)
    budget_mode = threshold is None
    episodes = 1 if budget_mode else EPISODES
    es = cma.CMAEvolutionStrategy(np.zeros(dim), 0.5, {"popsize": 32, "seed": seed + 1, "verbose": -9})
    rng = np.random.default_rng(seed)
    clock, evaluations = Clock(), 0
    best_seen = (-np.inf, None)
    while clock.seconds < cap:
        xs = es.ask()
        fitness = []
        for x in xs:
            act, total = act_fn(x), 0.0
            for _ in range(episodes):
                obs, _ = env.reset(seed=int(rng.integers(2**31)))
                done = False
                while not done:
                    obs, r, term, trunc, _ = env.step(act(obs))
                    total += float(r)
                    done = term or trunc
            fitness.append(total / episodes)
        evaluations += len(xs)
        es.tell(xs, [-f for f in fitness])
        best = int(np.argmax(fitness))
        if fitness[best] > best_seen[0]:
            best_seen = (fitness[best], np.array(xs[best]))
        if budget_mode:
            continue
        if fitness[best] >= threshold:
            with clock.pause():
                score = test_policy(act_fn(xs[best]), env_id)
            if score >= threshold:
                return {"solved": True, "seconds": clock.seconds, "evaluations": evaluations, "test": score}
    score = test_policy(act_fn(best_seen[1]), env_id) if best_seen[1] is not None else None
    return {"solved": False, "seconds": clock.seconds, "evaluations": evaluations, "test": score}


# -- EvoTorch --------------------------------------------------------------------------------------
def run_evotorch(env_id: str, seed: int, cap: float) -> dict:
    import numpy as np
    import torch
    from evotorch.algorithms import SNES
    from evotorch.neuroevolution import GymNE

    torch.manual_seed(seed)
    threshold = THRESHOLDS[env_id]
    problem = GymNE(
        env=env_id,
        network=f"Linear(obs_length, {HIDDEN}) >> Tanh() >> Linear({HIDDEN}, act_length)",
        num_actors=2,
        num_episodes=EPISODES if threshold is not None else 1,
        observation_normalization=threshold is None,
    )
    searcher = SNES(problem, stdev_init=0.5 if threshold is not None else 0.05, popsize=32)
    clock = Clock()

    def make_act(values):
        policy = problem.to_policy(values)
        import gymnasium as gym

        space = gym.make(env_id).action_space
        box = None if hasattr(space, "n") else space

        def act(obs):
            with torch.no_grad():
                out = policy(torch.as_tensor(np.asarray(obs), dtype=torch.float32)).numpy()
            return int(np.argmax(out)) if box is None else np.clip(out, box.low, box.high)

        return act

    try:
        while clock.seconds < cap:
            searcher.step()
            best = searcher.status["pop_best"]
            if threshold is None or float(best.evals[0]) < threshold:
                continue
            with clock.pause():
                score = test_policy(make_act(best.values), env_id)
            if score >= threshold:
                return {
                    "solved": True,
                    "seconds": clock.seconds,
                    "evaluations": searcher.steps_count * 32,
                    "test": score,
                }
        result = {"solved": False, "seconds": clock.seconds, "evaluations": searcher.steps_count * 32}
        result["test"] = test_policy(make_act(searcher.status["best"].values), env_id)
        return result
    finally:
        problem.kill_actors()


# -- evosax on gymnax ------------------------------------------------------------------------------
GYMNAX = {"Acrobot-v1": "Acrobot-v1", "CartPole-v1": "CartPole-v1"}


def run_evosax(env_id: str, seed: int, cap: float) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np
    from evosax.algorithms import CMA_ES
    from evosax.problems.networks import MLP
    from evosax.problems.rl.gymnax import GymnaxProblem

    if env_id not in GYMNAX:
        return {"skipped": f"gymnax has no {env_id}"}
    threshold = THRESHOLDS[env_id]
    policy = MLP(
        layer_sizes=(HIDDEN, 3 if env_id == "Acrobot-v1" else 2),
        output_fn=lambda x, key=None: jnp.argmax(x, axis=-1),
    )
    problem = GymnaxProblem(GYMNAX[env_id], policy, num_rollouts=EPISODES, use_normalize_obs=False)
    key = jax.random.key(seed)
    sample = (
        problem.sample(key)
        if hasattr(problem, "sample")
        else policy.init(key, jnp.zeros(problem.observation_shape), key)
    )
    strategy = CMA_ES(population_size=32, solution=sample)
    params = strategy.default_params.replace(std_init=0.5)
    clock = Clock()
    state = strategy.init(key, jax.tree.map(jnp.zeros_like, sample), params)
    pstate = problem.init(key)
    ask, tell = jax.jit(strategy.ask), jax.jit(strategy.tell)
    evaluations = 0
    while clock.seconds < cap:
        key, k1, k2 = jax.random.split(key, 3)
        population, state = ask(k1, state, params)
        fitness, pstate, _ = problem.eval(k2, population, pstate)
        fitness = jax.block_until_ready(fitness)
        evaluations += 32
        state, _ = tell(k1, population, -fitness, state, params)  # evosax minimises
        best = int(jnp.argmax(fitness))
        if float(fitness[best]) >= threshold:
            with clock.pause():
                member = jax.tree.map(lambda x, best=best: x[best], population)
                score = gymnax_test(problem, member, env_id)
            if score >= threshold:
                return {"solved": True, "seconds": clock.seconds, "evaluations": evaluations, "test": score}
    del np
    return {"solved": False, "seconds": clock.seconds, "evaluations": evaluations}


def gymnax_test(problem, member, env_id) -> float:
    """10 fresh episodes in gymnax itself (its own dynamics, equal to Gymnasium's for these tasks)."""
    import jax

    keys = jax.random.split(jax.random.key(123_456), len(TEST_SEEDS))
    state = problem.init(keys[0])
    returns, _ = jax.vmap(problem._rollout, in_axes=(0, None, None))(keys, member, state)
    return float(returns.mean())


# -- neat-python -----------------------------------------------------------------------------------
def run_neat(env_id: str, seed: int, cap: float) -> dict:
    import neat

    if env_id != "Acrobot-v1":
        return {"skipped": "no neat config written for this environment"}
    threshold = THRESHOLDS[env_id]
    config, pop = neat_population("neat_acrobot.cfg", seed)
    evaluator = neat.ParallelEvaluator(2, _neat_eval)
    clock = Clock()
    evaluations = 0
    try:
        while clock.seconds < cap:
            best = pop.run(evaluator.evaluate, 1)
            evaluations += config.pop_size
            if best.fitness is not None and best.fitness >= threshold:
                with clock.pause():
                    net = neat.nn.FeedForwardNetwork.create(best, config)
                    score = test_policy(lambda o, net=net: _argmax(net.activate(o)), env_id)
                if score >= threshold:
                    return {
                        "solved": True,
                        "seconds": clock.seconds,
                        "evaluations": evaluations,
                        "test": score,
                    }
    except neat.CompleteExtinctionException:
        pass
    finally:
        evaluator.close() if hasattr(evaluator, "close") else None
    return {"solved": False, "seconds": clock.seconds, "evaluations": evaluations}


def _argmax(values):
    return max(range(len(values)), key=values.__getitem__)


def _neat_eval(genome, config):
    import gymnasium as gym
    import neat

    net = neat.nn.FeedForwardNetwork.create(genome, config)
    env = gym.make("Acrobot-v1")
    total = 0.0
    for k in range(EPISODES):
        obs, _ = env.reset(seed=hash((genome.key, k)) % 2**31)
        done = False
        while not done:
            obs, r, term, trunc, _ = env.step(_argmax(net.activate(obs)))
            total += float(r)
            done = term or trunc
    return total / EPISODES


LIBRARIES = {
    "evoforge": run_evoforge,
    "pycma": run_pycma,
    "EvoTorch": run_evotorch,
    "evosax": run_evosax,
    "neat-python": run_neat,
}


def child(name: str, env_id: str, seed: str, cap: str) -> dict:
    return LIBRARIES[name](env_id, int(seed), float(cap))


def run(settings: dict, save) -> dict:
    env_id, cap, seeds = settings["task"], float(settings["cap"]), int(settings["seeds"])
    runs: dict[str, list[dict]] = (save.previous or {}).get("runs") or {}
    for name in settings["libraries"]:
        done = runs.setdefault(name, [])
        for seed in range(len(done), seeds):
            done.append(
                run_child(
                    "rl_time_to_threshold",
                    [name, env_id, str(seed), str(cap)],
                    core=None,
                    timeout=cap * 3 + 300,
                )
            )
            print(name, seed, done[-1], flush=True)
            save({"runs": runs})
    return {"runs": runs}


def table(results: dict, settings: dict) -> str:
    env_id, cap = settings["task"], float(settings["cap"])
    threshold = THRESHOLDS[env_id]
    label = f"{env_id} ({threshold:g})" if threshold is not None else f"{env_id} (budget)"
    lines = [
        "| environment (threshold) | library | solved | median s (solved) | median s (all runs) | median "
        "evaluations | median test return | evoforge ÷ this (all runs) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def all_runs(runs: list[dict]) -> float:
        return median([x["seconds"] if x.get("solved") else cap for x in runs if "seconds" in x])

    ours = all_runs(results["runs"]["evoforge"]) if "evoforge" in results["runs"] else None
    for library, every in results["runs"].items():
        runs = [x for x in every if "seconds" in x]
        if not runs:
            reason = every[0].get("skipped") or every[0].get("error", "")
            lines.append(f"| {label} | {library} | not run: {reason} | | | | | |")
            continue
        solved = [x for x in runs if x["solved"]]
        med_solved = f"{median([x['seconds'] for x in solved]):.1f}" if solved else "-"
        ratio = f"{ours / all_runs(runs):.2f}" if ours is not None and threshold is not None else "-"
        tests = [x["test"] for x in runs if x.get("test") is not None]
        test = f"{median(tests):.1f}" if tests else "-"
        lines.append(
            f"| {label} | {library} | {len(solved)}/{len(every)} | {med_solved} | {all_runs(runs):.1f} (cap "
            f"{cap:.0f}) | {median([x['evaluations'] for x in runs]):.0f} | {test} | {ratio} |"
        )
    return "\n".join(lines)
