"""The Gymnasium problem: vectorised rollouts equal single-environment rollouts."""

import gymnasium as gym
import numpy as np
import pytest

from evoforge.core.rng import derive_seed
from evoforge.problems.gym import GymConfig, GymProblem


def reference_return(problem, params, seed):
    """One episode on an ordinary single gymnasium env, policy applied one observation at a time."""
    env = gym.make(problem.config.env_id)
    obs, _ = env.reset(seed=seed)
    layers = problem.policy.unflatten(params[None])
    total, done = 0.0, False
    while not done:
        action = problem.policy.act(layers, np.asarray(obs, np.float32).reshape(1, 1, -1))[0, 0]
        obs, r, term, trunc, _ = env.step(action)
        total += float(r)
        done = term or trunc
    return total


@pytest.mark.parametrize(
    "env_id,vectorization",
    [("CartPole-v1", "native"), ("CartPole-v1", "list"), ("Pendulum-v1", "auto")],
)
def test_batched_rollout_equals_single_env_episodes(env_id, vectorization):
    problem = GymProblem(
        GymConfig(env_id=env_id, episodes=2, policy={"hidden": [8]}, vectorization=vectorization)
    )
    params = np.stack([problem.initial_params(np.random.default_rng(i)) * 2 for i in range(6)])
    seeds = np.arange(100, 106)
    results = problem.evaluate(params, seeds, {})
    for i in range(6):
        expected = np.mean(
            [reference_return(problem, params[i], derive_seed(int(seeds[i]), k)) for k in range(2)]
        )
        assert results[i].fitness == pytest.approx(expected, rel=1e-6, abs=1e-6)
        assert results[i].metrics["env_steps"] > 0


def test_an_individual_scores_the_same_whatever_shares_its_batch():
    problem = GymProblem(GymConfig(env_id="CartPole-v1", episodes=3, policy={"hidden": [8]}))
    params = np.stack([problem.initial_params(np.random.default_rng(i)) * 3 for i in range(9)])
    seeds = np.arange(9)
    together = [r.fitness for r in problem.evaluate(params, seeds, {})]
    alone = [problem.evaluate(params[i : i + 1], seeds[i : i + 1], {})[0].fitness for i in range(9)]
    assert together == alone
    assert len(set(together)) > 1


def test_continuous_actions_stay_in_bounds():
    problem = GymProblem(GymConfig(env_id="Pendulum-v1", policy={"hidden": []}))
    layers = problem.policy.unflatten(np.full((1, problem.dim), 100.0))
    actions = problem.policy.act(layers, np.ones((1, 4, 3), np.float32))
    assert actions.shape == (1, 4, 1) and np.all(np.abs(actions) <= 2.0) and np.allclose(np.abs(actions), 2.0)


def test_observation_normalisation_context_accumulates():
    problem = GymProblem(GymConfig(env_id="CartPole-v1", policy={"hidden": [4], "obs_norm": True}))
    params = np.stack([problem.initial_params(np.random.default_rng(i)) for i in range(4)])
    results = problem.evaluate(params, np.arange(4), problem.initial_context())
    context = problem.update_context(problem.initial_context(), [r.aux for r in results])
    assert context["obs_count"] == sum(r.metrics["env_steps"] for r in results)
    mean, std = problem._normaliser(context)
    assert mean.shape == (4,) and np.all(std > 0)


def test_unknown_environment_is_a_clear_error():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="unknown environment id 'NoSuchEnv-v0'"):
        GymConfig(env_id="NoSuchEnv-v0")


def test_compaction_keeps_results_exact_for_long_and_short_episodes():
    problem = GymProblem(GymConfig(env_id="CartPole-v1", episodes=2, policy={"hidden": [32, 32]}))
    rng = np.random.default_rng(1)
    params = np.stack([problem.initial_params(rng) * rng.uniform(0.1, 3) for _ in range(70)])
    seeds = np.arange(70)
    together = [r.fitness for r in problem.evaluate(params, seeds, {})]
    alone = [problem.evaluate(params[i : i + 1], seeds[i : i + 1], {})[0].fitness for i in range(70)]
    assert together == alone
    assert min(together) < 30 and max(together) > 100  # short and long episodes in one batch


def test_cartpole_kernel_is_bit_identical_to_gymnasium_vector_env():
    from evoforge.problems.cartpole_kernel import CartPoleKernel

    venv = gym.make_vec("CartPole-v1", num_envs=128, vectorization_mode="vector_entry_point")
    venv.reset(seed=3)
    kernel = CartPoleKernel(venv.unwrapped.state.copy())
    rng = np.random.default_rng(0)
    alive = np.ones(128, dtype=bool)
    for t in range(500):
        # a balancing controller with random flips, so some episodes run to the time limit
        theta, theta_dot = venv.unwrapped.state[2], venv.unwrapped.state[3]
        action = ((theta + 0.5 * theta_dot > 0) ^ (rng.random(128) < 0.1)).astype(np.int64)
        obs, _, term, trunc, _ = venv.step(action)
        k_obs, _, k_done = kernel.step(action)
        assert np.array_equal(obs[alive], k_obs[alive]), t
        assert np.array_equal((term | trunc)[alive], k_done[alive]), t
        alive &= ~(term | trunc)
    assert not alive.any() and kernel.steps.max() == 500


def test_kernel_and_gymnasium_native_give_identical_fitness():
    params = None
    out = {}
    for mode in ("kernel", "native"):
        problem = GymProblem(
            GymConfig(env_id="CartPole-v1", episodes=3, policy={"hidden": [8]}, vectorization=mode)
        )
        if params is None:
            rng = np.random.default_rng(5)
            params = np.stack([problem.initial_params(rng) * rng.uniform(0.2, 4) for _ in range(100)])
        out[mode] = [r.fitness for r in problem.evaluate(params, np.arange(100), {})]
    assert out["kernel"] == out["native"] and max(out["kernel"]) > 100
