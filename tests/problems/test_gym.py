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


@pytest.mark.parametrize("kind", ["mlp", "neat"])
def test_validating_many_together_gives_each_what_it_gets_alone(kind):
    """The hall of fame is validated in one rollout: each score must equal one validation at a time,
    with the individuals sharing a normaliser run together and a different normaliser kept apart."""
    if kind == "neat":
        from evoforge.spaces.neat import InnovationTracker, add_node, initial_genome

        problem = GymProblem(GymConfig(env_id="CartPole-v1"))
        tracker = InnovationTracker(4, 2)
        params = [initial_genome(4, 2, np.random.default_rng(i), tracker) for i in range(5)]
        params[1] = add_node(params[1], np.random.default_rng(9), tracker)
        contexts = [{}] * 5
    else:
        problem = GymProblem(GymConfig(env_id="CartPole-v1", policy={"hidden": [8], "obs_norm": True}))
        params = [problem.initial_params(np.random.default_rng(i)) * 3 for i in range(5)]
        first = problem.initial_context()
        second = problem.update_context(
            first, [r.aux for r in problem.evaluate(np.stack(params), np.arange(5), first)]
        )
        contexts = [first, second, first, second, first]
    together = problem.validate_all(params, 7, 4, contexts)
    alone = [problem.validate(p, 7, 4, c) for p, c in zip(params, contexts, strict=True)]
    assert [(r.score, r.scores, r.metrics) for r in together] == [
        (r.score, r.scores, r.metrics) for r in alone
    ]
    assert len({r.score for r in alone}) > 1


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


def test_locomotion_records_the_distance_travelled_and_info_descriptors():
    """A standing policy is visible: the distance along x is recorded beside the return, and a
    descriptor of info names is their value at the episode's end (mean over episodes). Swimmer: its
    episodes follow the single environment's to float32 precision whatever the batch (HalfCheetah's
    contacts turn the last bit of a batched product into another episode)."""
    problem = GymProblem(
        GymConfig(
            env_id="Swimmer-v5",
            episodes=2,
            max_episode_steps=60,
            descriptor=["x_position", "y_position"],
            policy={"hidden": []},
        )  # fmt: skip
    )
    assert problem.recorded_metrics == ("env_steps", "return_std", "distance", "descriptor_0", "descriptor_1")
    params = np.stack([problem.initial_params(np.random.default_rng(i)) * 3 for i in range(2)])
    params[0] = 0.0  # the zero policy: stays where it starts
    results = problem.evaluate(params, np.array([7, 8]), {})
    for i, result in enumerate(results):
        first, last = [], []
        for k in range(2):
            env = gym.make("Swimmer-v5", max_episode_steps=60)
            obs, info = env.reset(seed=derive_seed(7 + i, k))
            first.append(info["x_position"])
            layers, done = problem.policy.unflatten(params[i][None]), False
            while not done:
                action = problem.policy.act(layers, np.asarray(obs, np.float32).reshape(1, 1, -1))[0, 0]
                obs, _, term, trunc, info = env.step(action)
                done = term or trunc
            last.append((info["x_position"], info["y_position"]))
        x, y = np.mean(last, axis=0)
        assert result.metrics["descriptor_0"] == pytest.approx(x, rel=1e-5, abs=1e-6)
        assert result.metrics["descriptor_1"] == pytest.approx(y, rel=1e-5, abs=1e-6)
        assert result.metrics["distance"] == pytest.approx(x - np.mean(first), rel=1e-5, abs=1e-6)
    assert abs(results[0].metrics["distance"]) < 0.2 < abs(results[1].metrics["distance"])  # drift; swimming
    assert "distance" in problem.test(params[1], 3, 2, {}).metrics


def test_a_descriptor_function_sees_the_whole_episode_and_bad_descriptors_are_refused():
    base = {"env_id": "CartPole-v1", "episodes": 2, "policy": {"hidden": [4]}}
    described = GymProblem(GymConfig(**base, descriptor=["descriptors:cart_path"]))
    plain = GymProblem(GymConfig(**base))
    assert described.descriptor_size == 2 and plain.descriptor_size == 0
    params = np.stack([plain.initial_params(np.random.default_rng(i)) for i in range(4)])
    with_d, without = described.evaluate(params, np.arange(4), {}), plain.evaluate(params, np.arange(4), {})
    for a, b in zip(with_d, without, strict=True):
        assert a.fitness == b.fitness  # the list of envs reproduces the kernel exactly
        assert a.metrics["descriptor_0"] == b.metrics["env_steps"] / 2 + 1  # steps + the reset row
        assert 0 <= a.metrics["descriptor_1"] <= 2.4
    for descriptor, message in (
        (
            ["x_pos"],
            "descriptor 'x_pos' is not a number CartPole-v1's step info reports (it reports: nothing)",
        ),
        (["nowhere:f"], "descriptor function 'nowhere:f' cannot be imported"),
        (["descriptors:cart_path", "x"], "a descriptor function ('module:function') comes alone"),
    ):
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
            GymProblem(GymConfig(**base, descriptor=descriptor))
    with pytest.raises(ValueError, match="needs vectorization 'list'"):
        GymProblem(GymConfig(**base, descriptor=["descriptors:cart_path"], vectorization="kernel"))


def test_missing_mujoco_names_the_extra_to_install(monkeypatch):
    def no_mujoco(*args, **kwargs):
        raise gym.error.DependencyNotInstalled(
            'MuJoCo is not installed, run `pip install "gymnasium[mujoco]"`'
        )

    monkeypatch.setattr(gym, "make", no_mujoco)
    with pytest.raises(ValueError, match=r"^HalfCheetah-v5 needs MuJoCo: pip install 'evoforge\[mujoco\]'$"):
        GymProblem(GymConfig(env_id="HalfCheetah-v5"))


def test_transitions_are_saved_per_candidate_in_step_order():
    """For a learner: every step of every episode of a candidate, as the environment gave it, in a
    file named by its content id; a time limit is not a terminal state."""
    import tempfile

    from evoforge.core.problem import Lineage, load_transitions

    problem = GymProblem(
        GymConfig(
            env_id="Pendulum-v1", episodes=2, max_episode_steps=30, transitions=True, policy={"hidden": [4]}
        )
    )
    params = np.stack([problem.initial_params(np.random.default_rng(i)) for i in range(3)])
    folder = tempfile.mkdtemp()
    results = problem.evaluate_lineage(params, np.arange(3), {}, Lineage(folder, ["a", "b", "c"], [()] * 3))
    plain = problem.evaluate(params, np.arange(3), {})
    for gid, result, again in zip("abc", results, plain, strict=True):
        t = load_transitions(folder, gid)
        assert result.fitness == again.fitness  # recording changes nothing
        assert len(t["reward"]) == 60 and t["obs"].shape == (60, 3) and t["action"].shape == (60, 1)
        assert t["reward"].sum() == pytest.approx(2 * result.fitness, rel=1e-5)
        assert np.array_equal(t["obs"][1:30], t["next_obs"][:29])  # one episode, step after step
        assert not t["terminated"].any()  # Pendulum only truncates
    assert load_transitions(folder, "none") is None
    for bad, message in (({"vectorization": "kernel"}, "needs vectorization 'list'"),
                         ({"policy": {"obs_norm": True}}, "needs policy.obs_norm: false")):  # fmt: skip
        with pytest.raises(ValueError, match=message):
            GymProblem(GymConfig(**{"env_id": "CartPole-v1", "transitions": True, **bad}))


def test_mujoco_warnings_go_through_python_warnings_not_a_log_file(tmp_path):
    """Making a MuJoCo environment prints nothing and leaves no MUJOCO_LOG.TXT in the working folder
    (mujoco 4 warns about gymnasium's v5 XML on every model compiled); a deprecation is a hidden
    DeprecationWarning, any other MuJoCo warning a RuntimeWarning."""
    import subprocess
    import sys
    import warnings

    script = (
        "import mujoco\n"
        "from evoforge.problems.gym import GymConfig, GymProblem, _mujoco_warning\n"
        "GymProblem(GymConfig(env_id='HalfCheetah-v5', episodes=1))\n"
        "assert mujoco.get_mju_user_warning() is _mujoco_warning\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and list(tmp_path.iterdir()) == []
    from evoforge.problems.gym import _mujoco_warning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _mujoco_warning("attribute 'x' is deprecated")
        _mujoco_warning("Nan, Inf or huge value in QACC at DOF 0")
    assert [(w.category, str(w.message)) for w in caught] == [
        (DeprecationWarning, "MuJoCo: attribute 'x' is deprecated"),
        (RuntimeWarning, "MuJoCo: Nan, Inf or huge value in QACC at DOF 0"),
    ]


def test_a_reward_shift_takes_the_alive_bonus_from_the_search_not_from_the_test():
    """CartPole pays 1 a step for staying up, all it pays: shifted by 1, every policy's fitness is 0 (a
    policy standing still earns nothing), the environment's return is recorded beside it, and the
    test scores the environment's return."""
    plain = GymProblem(GymConfig(env_id="CartPole-v1", episodes=2))
    shifted = GymProblem(GymConfig(env_id="CartPole-v1", episodes=2, reward_shift=1.0))
    params = np.stack([plain.initial_params(np.random.default_rng(i)) * 3 for i in range(5)])
    seeds = np.arange(5)
    before, after = plain.evaluate(params, seeds, {}), shifted.evaluate(params, seeds, {})
    assert len({r.fitness for r in before}) > 1 and all(r.fitness == 0.0 for r in after)
    assert [r.metrics["return"] for r in after] == [r.fitness for r in before]
    assert "return" in shifted.recorded_metrics and "return" not in plain.recorded_metrics
    assert shifted.test(params[0], 3, 4, {}).score == plain.test(params[0], 3, 4, {}).score > 0
