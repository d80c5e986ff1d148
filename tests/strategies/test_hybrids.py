"""The hybrids, CEM-RL and ERL: their TD3 learner trains the actors they hand out, their state (replay
buffer, critic, Adam's moments) survives a checkpoint exactly, and a run killed with SIGKILL resumes to
the same result."""

import numpy as np
import pytest
import yaml
from conftest import kill_then_resume, outcome

import evoforge
from evoforge.core.rng import derive_rng
from evoforge.core.state_io import load_state, save_state
from evoforge.problems.policy import MLPPolicy, PolicyConfig, PolicySpace
from evoforge.strategies.cem_rl import CEMRL, CEMRLConfig

POLICY = MLPPolicy(1, 1, PolicyConfig(hidden=[8]), "continuous", np.array([-1.0]), np.array([1.0]))
SETTINGS = {"population_size": 4, "sigma_init": 0.01, "start_steps": 200, "batch_size": 32,
            "critic_hidden": [32, 32], "max_actor_steps": 300, "critic_lr": 3e-3, "actor_lr": 3e-3}  # fmt: skip


def bandit(n=2000):
    """One-step episodes: observation s in [-1, 1], reward -(a - 0.8 s)^2 for action a."""
    rng = np.random.default_rng(5)
    obs = rng.uniform(-1, 1, (n, 1)).astype(np.float32)
    act = rng.uniform(-1, 1, (n, 1)).astype(np.float32)
    reward = -((act[:, 0] - 0.8 * obs[:, 0]) ** 2)
    return {"obs": obs, "action": act, "reward": reward, "next_obs": obs, "terminated": np.ones(n, bool)}


def regret(x):
    grid = np.linspace(-1, 1, 41, dtype=np.float32).reshape(1, -1, 1)
    actions = POLICY.act(POLICY.unflatten(x[None]), grid)[0, :, 0]
    return float(np.mean((actions - 0.8 * grid[0, :, 0]) ** 2))


def test_the_learner_trains_half_of_each_generation_toward_the_best_action():
    strategy = CEMRL(CEMRLConfig(**SETTINGS), PolicySpace(POLICY))
    state = strategy.observe(strategy.init(derive_rng(0, "init")), [bandit(), None])
    assert state["size"] == state["steps_since"] == 2000
    state, genomes, _ = strategy.ask(state, derive_rng(0, 0, "ask"))
    trained, sampled = [regret(g) for g in genomes[:2]], [regret(g) for g in genomes[2:]]
    assert max(trained) < 0.01 < min(sampled)  # the CEM's samples around a random start are far off
    # before start_steps transitions, or with rl_share 0, it is the CEM alone: the same samples
    quiet = CEMRL(CEMRLConfig(**{**SETTINGS, "start_steps": 10_000}), PolicySpace(POLICY))
    alone = CEMRL(CEMRLConfig(**{**SETTINGS, "rl_share": 0.0}), PolicySpace(POLICY))
    asked = []
    for s in (quiet, alone):
        state = s.observe(s.init(derive_rng(0, "init")), [bandit()])
        asked.append(np.stack(s.ask(state, derive_rng(0, 0, "ask"))[1]))
    assert np.array_equal(asked[0], asked[1]) and np.array_equal(asked[0][2:], np.stack(genomes[2:]))
    assert min(regret(g) for g in asked[0]) > 0.01


def test_the_cem_update_is_the_authors_sep_cem():
    """The new mean is the elites' log-weighted mean; the new variance, as the authors' sepCEM computes
    it, the elites' weighted squared distance to the old mean divided by their number K, plus the noise
    decayed first (without the 1/K the spread grew each generation: on HalfCheetah-v5 the mean standard
    deviation per weight went 0.04, 0.12, 0.17, 0.21, 0.24 in five generations, each generation's trained
    actors starting from a near-random network)."""
    config = CEMRLConfig(**{**SETTINGS, "damp": 1e-3, "damp_limit": 1e-5, "damp_tau": 0.95})
    strategy = CEMRL(config, PolicySpace(POLICY))
    state = strategy.init(derive_rng(0, "init"))
    state, genomes, _ = strategy.ask(state, derive_rng(0, 0, "ask"))  # no transitions: the CEM alone
    z, old = np.stack(genomes), state["mean"].copy()
    fitness = np.array([0.5, 3.0, -1.0, 2.0])
    new = strategy.tell(state, genomes, fitness)
    elites = z[[1, 3]]  # K = 2 of 4, best first
    w = np.log(3) - np.log([1, 2])
    w /= w.sum()
    damp = 0.95 * 1e-3 + 0.05 * 1e-5
    np.testing.assert_allclose(new["mean"], w @ elites)
    np.testing.assert_allclose(new["var"], w @ (elites - old) ** 2 / 2 + damp)
    assert new["damp"] == pytest.approx(damp)


def test_the_samples_come_in_mirrored_pairs_the_first_of_each_trained():
    """As the authors' sepCEM samples an even population: mean + e for the first half (the actors the
    learner trains), mean - e for the second; antithetic: false draws every sample on its own."""
    for antithetic in (True, False):
        strategy = CEMRL(CEMRLConfig(**{**SETTINGS, "antithetic": antithetic}), PolicySpace(POLICY))
        state = strategy.init(derive_rng(0, "init"))
        _, genomes, _ = strategy.ask(state, derive_rng(0, 0, "ask"))  # no transitions: the CEM alone
        z = np.stack(genomes)
        mirrored = np.allclose(z[:2] + z[2:], 2 * state["mean"])
        assert mirrored == antithetic


def test_a_saved_state_continues_exactly(tmp_path):
    strategy = CEMRL(CEMRLConfig(**SETTINGS), PolicySpace(POLICY))

    def step(state, gen):
        state, genomes, _ = strategy.ask(state, derive_rng(0, gen, "ask"))
        state = strategy.tell(state, genomes, -np.array([regret(g) for g in genomes]))
        return strategy.observe(state, [bandit(300)] * len(genomes)), genomes

    state = strategy.observe(strategy.init(derive_rng(0, "init")), [bandit()])
    state, _ = step(state, 0)
    save_state(tmp_path / "s.npz", strategy.state_to_tree(state))
    restored = strategy.state_from_tree(load_state(tmp_path / "s.npz"))
    live, a = step(state, 1)
    again, b = step(restored, 1)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert all(np.array_equal(x, y) for x, y in zip(live["critic"], again["critic"], strict=True))
    assert live["pos"] == again["pos"] and np.array_equal(live["buffer"]["obs"], again["buffer"]["obs"])


LEARNER = {k: v for k, v in SETTINGS.items() if k not in ("population_size", "sigma_init")}
HYBRIDS = {
    "cem_rl": {"name": "cem_rl", **SETTINGS, "start_steps": 100, "max_actor_steps": 40},
    "erl": {"name": "erl", **LEARNER, "population_size": 5, "elites": 1, "sync_period": 2,
            "start_steps": 100, "max_actor_steps": 40},
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HYBRIDS))
def test_a_hybrid_on_pendulum_resumes_after_kill_9_to_the_same_result(tmp_path, name):
    cfg = {
        "seed": 1,
        "generations": 6,
        "checkpoint_interval": 0,
        "strategy": HYBRIDS[name],
        "problem": {"kind": "gym", "env_id": "Pendulum-v1", "max_episode_steps": 50, "transitions": True,
                    "policy": {"hidden": [8]}},
        "test_episodes": 2,
    }  # fmt: skip
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    result = evoforge.run(evoforge.RunConfig.model_validate(cfg), tmp_path / "straight")
    assert result.generations == 6 and result.failed == 0
    # the transitions every kept checkpoint covers are gone; those of later generations wait for a
    # resume from the oldest kept checkpoint
    from conftest import individuals

    from evoforge.store.run_store import RunStore

    store = RunStore.open(tmp_path / "straight")
    oldest = store.checkpoint_generations()[0]
    store.close()
    later = {
        gid
        for g, gid in individuals(tmp_path / "straight", "generation, genome_id", fresh_only=True)
        if g >= oldest
    }
    assert {p.stem for p in (tmp_path / "straight" / "transitions").glob("*.npz")} == later
    kill_then_resume(tmp_path / "cfg.yaml", tmp_path / "killed", checkpoints=3)
    assert outcome(tmp_path / "killed") == outcome(tmp_path / "straight")
    a, b = (
        load_state(sorted((tmp_path / r / "checkpoints").glob("gen_*.npz"))[-1])
        for r in ("straight", "killed")
    )
    assert all(
        np.array_equal(x, y) for x, y in zip(a["strategy"]["critic"], b["strategy"]["critic"], strict=True)
    )


def test_a_learner_on_a_problem_without_transitions_is_one_line():
    from evoforge.engine.loop import ConfigError, prepare

    cfg = {"strategy": {"name": "cem_rl"}, "problem": {"kind": "gym", "env_id": "Pendulum-v1"}}
    with pytest.raises(
        ConfigError, match="learns from environment transitions, and problem 'gym' records none"
    ):
        prepare(evoforge.RunConfig.model_validate(cfg))


def test_erl_trains_its_learner_and_copies_it_into_the_population_every_sync_period():
    from evoforge.strategies.erl import ERL, ERLConfig

    strategy = ERL(ERLConfig(**LEARNER, population_size=5, elites=1, sync_period=2), PolicySpace(POLICY))
    state = strategy.observe(strategy.init(derive_rng(0, "init")), [bandit()])
    before = state["learner"].copy()
    for gen in range(2):
        state, genomes, _ = strategy.ask(state, derive_rng(0, gen, "ask"))
        assert np.array_equal(genomes[-1], state["learner"])  # the learner's actor is the last member
        fitness = -np.array([regret(g) for g in genomes])
        fitness[-1] = 1.0  # above everyone: once copied in, it survives as the elite
        state = strategy.tell(state, genomes, fitness)
        state = strategy.observe(state, [bandit(300)])
        if gen == 0:
            assert regret(genomes[-1]) < 0.01 < regret(before)  # trained toward the best action
            assert not any(np.array_equal(p, genomes[-1]) for p in state["population"])
    assert any(np.array_equal(p, genomes[-1]) for p in state["population"])  # generation 2: synced
    state, children, _ = strategy.ask(state, derive_rng(0, 2, "ask"))
    assert np.array_equal(children[0], genomes[-1])  # the synced learner is the elite, unchanged


def test_erl_learner_keeps_its_adam_across_generations_and_checkpoints(tmp_path):
    from evoforge.strategies.erl import ERL, ERLConfig

    strategy = ERL(ERLConfig(**LEARNER, population_size=5, elites=1, sync_period=2), PolicySpace(POLICY))

    def step(state, gen):
        state, genomes, _ = strategy.ask(state, derive_rng(0, gen, "ask"))
        state = strategy.tell(state, genomes, -np.array([regret(g) for g in genomes]))
        return strategy.observe(state, [bandit(300)] * len(genomes)), genomes

    state = strategy.init(derive_rng(0, "init"))
    save_state(tmp_path / "fresh.npz", strategy.state_to_tree(state))  # no moments yet: still saved
    state = strategy.observe(strategy.state_from_tree(load_state(tmp_path / "fresh.npz")), [bandit()])
    state, _ = step(state, 0)
    assert state["learner_adam_step"] == 300  # max_actor_steps of the 2,000 transitions
    save_state(tmp_path / "s.npz", strategy.state_to_tree(state))
    restored = strategy.state_from_tree(load_state(tmp_path / "s.npz"))
    live, a = step(state, 1)
    again, b = step(restored, 1)
    assert live["learner_adam_step"] == again["learner_adam_step"] == 300 + 300  # goes on, not reset
    assert np.array_equal(a[-1], b[-1]) and np.array_equal(live["learner"], again["learner"])
    # the same generation with the learner's Adam started afresh (as before the moments were kept)
    reset, _ = step({**state, "learner_adam_m": [], "learner_adam_v": [], "learner_adam_step": 0}, 1)
    assert reset["learner_adam_step"] == 300 and not np.allclose(reset["learner"], live["learner"])
