"""Policy search on any Gymnasium environment.

Fitness is the mean undiscounted return over ``episodes`` episodes. A whole
batch of policies is rolled out together: P policies x E episodes occupy
P*E environment slots that step in lockstep, with one batched forward pass
for all policies per step.

* CartPole has a native NumPy vector environment in Gymnasium; it is used
  directly, each slot's initial state set from that slot's own seed exactly
  as the single environment would draw it.
* Any other environment runs as a list of ordinary environments where only
  the slots whose episode is still running are stepped (finished slots cost
  nothing, unlike a fixed-shape vector env). Spread over worker processes by
  the process backend, this uses every core.

Every slot's episode is seeded from its individual's seed, so an individual's
return never depends on which other individuals share the batch or the worker.
"""

from __future__ import annotations

import importlib
import math
import os
from typing import Any, ClassVar, Literal

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from pydantic import Field, field_validator

from evoforge.core.problem import (
    TRANSITION_FIELDS,
    Context,
    EvalResult,
    Lineage,
    Problem,
    ProblemConfig,
    TestResult,
    save_transitions,
)
from evoforge.core.rng import derive_seed
from evoforge.core.space import SearchSpace, VectorSpace
from evoforge.problems.cartpole_kernel import CartPoleKernel
from evoforge.problems.policy import MLPPolicy, PolicyConfig, PolicySpace
from evoforge.spaces.neat import NeatGenome, NetworkSpace
from evoforge.spaces.neat_arrays import NeatPopulation
from evoforge.spaces.neat_network import CompiledPopulation

__all__ = ["GymConfig", "GymProblem", "check_env_id"]

_NATIVE = {"CartPole-v0", "CartPole-v1"}
_OBS_CLIP = 5.0


def _normalise(obs: np.ndarray, norm: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Observations standardised by running statistics and clipped (Salimans et al. 2017, appendix)."""
    return np.clip((obs - norm[0]) / norm[1], -_OBS_CLIP, _OBS_CLIP)


class GymConfig(ProblemConfig):
    """Evolve an MLP policy for a Gymnasium environment."""

    kind: Literal["gym"] = "gym"
    env_id: str = Field(..., description="Gymnasium environment id, e.g. 'CartPole-v1'.")
    env_kwargs: dict[str, Any] = Field({}, description="Keyword arguments for gymnasium.make.")
    episodes: int = Field(1, ge=1, description="Episodes per fitness evaluation (fitness = mean return).")
    max_episode_steps: int | None = Field(None, ge=1, description="Override the environment's time limit.")
    reward_shift: float = Field(
        0.0,
        description="Subtracted from every step's reward in the search's episodes: the alive bonus "
        "(1 on Hopper, Walker2d, Ant and Humanoid) makes standing still a local optimum, and Mania et "
        "al. 2018 (ARS) train without it. Fitness is then the shifted return (stop.fitness compares "
        "it); the environment's own return is recorded beside it (metric 'return'), validation and test "
        "episodes score the environment's return, and saved transitions keep its rewards.",
    )
    policy: PolicyConfig = Field(PolicyConfig(), description="The policy network.")
    descriptor: list[str] = Field(
        [],
        description="A behaviour descriptor per episode, for quality-diversity and novelty strategies "
        "(recorded per individual as metrics descriptor_0, descriptor_1, ..., the mean over episodes): "
        "names of numbers the environment's step info reports, taken at the episode's end (MuJoCo "
        "locomotion: [x_position, y_position]), or one 'module:function' called with the episode's "
        "observations (an array, one row per step, the first from reset) and step infos, returning "
        "the descriptor's numbers.",
    )
    transitions: bool = Field(
        False,
        description="Save every evaluated candidate's environment transitions (observation, action, "
        "reward, next observation, terminated) for strategies with a reinforcement-learning learner "
        "(cem_rl); needs vectorization 'list' or 'auto', and no observation normalisation.",
    )
    vectorization: Literal["auto", "kernel", "native", "list"] = Field(
        "auto",
        description="How slots step together. 'native': Gymnasium's NumPy vector env (CartPole only); "
        "'kernel': evoforge's bit-identical, faster CartPole kernel; 'list': one ordinary env per slot, "
        "only running episodes stepped (any environment); 'auto': kernel for CartPole, else list.",
    )

    @field_validator("env_id")
    @classmethod
    def _known_env(cls, value: str) -> str:
        check_env_id(value)
        return value

    @field_validator("descriptor")
    @classmethod
    def _one_function(cls, value: list[str]) -> list[str]:
        if any(":" in name for name in value) and len(value) > 1:
            raise ValueError("a descriptor function ('module:function') comes alone, without info names")
        return value


def check_env_id(env_id: str) -> None:
    """Raise ``ValueError`` with one readable line if ``env_id`` cannot be made here."""
    try:
        gym.spec(env_id)
    except gym.error.Error as exc:
        raise ValueError(f"unknown environment id {env_id!r} ({exc})") from None


def _space_info(env: gym.Env) -> tuple[int, int, str, Any, Any]:
    obs_space, act_space = env.observation_space, env.action_space
    if not isinstance(obs_space, spaces.Box):
        raise ValueError(f"observation space {obs_space} is not supported (a Box is needed)")
    obs_dim = int(np.prod(obs_space.shape))
    if isinstance(act_space, spaces.Discrete):
        return obs_dim, int(act_space.n), "discrete", None, None
    if isinstance(act_space, spaces.Box):
        return (
            obs_dim,
            int(np.prod(act_space.shape)),
            "continuous",
            act_space.low.ravel(),
            act_space.high.ravel(),
        )
    raise ValueError(f"action space {act_space} is not supported (Discrete or Box needed)")


class GymProblem(Problem):
    """Mean episode return of an MLP policy on a Gymnasium environment (maximised)."""

    kind = "gym"
    config_class = GymConfig
    example = {"kind": "gym", "env_id": "CartPole-v1", "episodes": 2, "policy": {"hidden": [4]}}
    direction = "maximize"
    accepts_batches = True  # NEAT populations as arrays: NeatController compiles a slice of them
    spaces: ClassVar[tuple[type[SearchSpace], ...]] = (PolicySpace, NetworkSpace)
    config: GymConfig

    def __init__(self, config: GymConfig, shared: dict[str, np.ndarray] | None = None):
        super().__init__(config, shared)
        check_env_id(config.env_id)
        self._probe = self._make(None)
        obs_dim, act_dim, action, low, high = _space_info(self._probe)
        self.policy = MLPPolicy(obs_dim, act_dim, config.policy, action, low, high)
        self._obs_shape = self._probe.observation_space.shape
        native = config.env_id in _NATIVE and not config.env_kwargs
        if config.vectorization in ("native", "kernel") and not native:
            raise ValueError(f"{config.env_id} has no '{config.vectorization}' vectorization in evoforge")
        mode = config.vectorization
        if config.descriptor and mode in ("native", "kernel"):
            raise ValueError(
                "a behaviour descriptor needs vectorization 'list' (or 'auto'): it reads step infos"
            )
        if config.transitions and mode in ("native", "kernel"):
            raise ValueError("recording transitions needs vectorization 'list' (or 'auto')")
        if config.transitions and config.policy.obs_norm:
            raise ValueError(
                "recording transitions for a learner needs policy.obs_norm: false (the learner sees raw observations)"
            )
        stepwise = bool(config.descriptor) or config.transitions  # one env per slot, infos and all
        self._mode = ("kernel" if native and not stepwise else "list") if mode == "auto" else mode
        self._describe = _descriptor_function(config.descriptor)
        _, first = self._probe.reset(seed=0)
        self._locomotion = "x_position" in first  # distance travelled is recorded
        if config.descriptor and self._describe is None:
            info = self._probe.step(self._probe.action_space.sample())[4]
            missing = [name for name in config.descriptor if name not in info]
            if missing:
                raise ValueError(
                    f"descriptor {missing[0]!r} is not a number {config.env_id}'s step info reports "
                    f"(it reports: {', '.join(sorted(info)) or 'nothing'})"
                )
        self._envs: list[gym.Env] = []
        self._vec: dict[int, gym.vector.VectorEnv] = {}

    # -- environments ----------------------------------------------------------------------------
    def _make(self, render_mode: str | None) -> gym.Env:
        kwargs = dict(self.config.env_kwargs)
        if self.config.max_episode_steps is not None:
            kwargs["max_episode_steps"] = self.config.max_episode_steps
        if render_mode is not None:
            kwargs["render_mode"] = render_mode
        _route_mujoco_warnings(self.config.env_id)
        try:
            return gym.make(self.config.env_id, **kwargs)
        except gym.error.DependencyNotInstalled as exc:
            if "mujoco" in str(exc).lower():
                raise ValueError(
                    f"{self.config.env_id} needs MuJoCo: pip install 'evoforge[mujoco]'"
                ) from None
            raise

    def _list_envs(self, n: int) -> list[gym.Env]:
        while len(self._envs) < n:
            self._envs.append(self._make(None))
        return self._envs[:n]

    def _native_env(self, n: int) -> gym.vector.VectorEnv:
        if n not in self._vec:
            if len(self._vec) > 64:  # compaction makes many sizes; keep the cache bounded
                self._vec.clear()
            kwargs = {}
            if self.config.max_episode_steps is not None:
                kwargs["max_episode_steps"] = self.config.max_episode_steps
            self._vec[n] = gym.make_vec(
                self.config.env_id, num_envs=n, vectorization_mode="vector_entry_point", **kwargs
            )
        return self._vec[n]

    # -- the problem interface ------------------------------------------------------------------
    @property
    def network_io(self) -> tuple[int, int]:
        """NEAT networks see the observation and have one output per discrete action (argmax) or per
        action dimension (scaled into the action bounds)."""
        return self.policy.obs_dim, self.policy.act_dim

    def space_for(self, space_class: type[SearchSpace]) -> SearchSpace:
        if space_class is NetworkSpace:
            return NetworkSpace(*self.network_io)
        if space_class in (VectorSpace, PolicySpace):  # the MLP policy's weights
            return PolicySpace(self.policy)
        return super().space_for(space_class)

    def batch(self, genomes: list) -> Any:
        if genomes and isinstance(genomes[0], NeatGenome):
            return list(genomes)
        return np.stack(genomes)

    def _controller(self, params: Any) -> Any:
        if isinstance(params, (list, NeatPopulation)):
            return NeatController(params, self.policy)
        return MLPController(self.policy, params)

    @property
    def dim(self) -> int:
        return self.policy.n_params

    @property
    def recorded_metrics(self) -> tuple[str, ...]:  # depends on the config
        return (
            "env_steps",
            "return_std",
            *(("return",) if self.config.reward_shift else ()),
            *(("distance",) if self._locomotion else ()),
            *(f"descriptor_{k}" for k in range(self.descriptor_size)),
        )

    @property
    def descriptor_size(self) -> int:
        """Numbers in a behaviour descriptor (0: none recorded)."""
        if self._describe is None:
            return len(self.config.descriptor)
        obs, info = self._probe.reset(seed=0)  # an episode of no steps
        probe = self._describe(np.asarray(obs, np.float32).reshape(1, -1), [info])
        return len(np.atleast_1d(np.asarray(probe, dtype=np.float64)))

    def initial_params(self, rng: np.random.Generator) -> np.ndarray:
        return self.policy.initial_params(rng)

    def initial_context(self) -> Context:
        if not self.config.policy.obs_norm:
            return {}
        d = self.policy.obs_dim
        return {"obs_sum": np.zeros(d), "obs_sumsq": np.zeros(d), "obs_count": 0.0}

    def update_context(self, context: Context, aux: list[dict[str, np.ndarray]]) -> Context:
        if not self.config.policy.obs_norm:
            return context
        total, sumsq, count = (
            context["obs_sum"].copy(),
            context["obs_sumsq"].copy(),
            context["obs_count"],
        )
        for item in aux:  # in population order, so the sum is the same on every backend
            if "obs_sum" in item:
                total += item["obs_sum"]
                sumsq += item["obs_sumsq"]
                count += float(item["obs_count"])
        return {"obs_sum": total, "obs_sumsq": sumsq, "obs_count": count}

    def _normaliser(self, context: Context) -> tuple[np.ndarray, np.ndarray] | None:
        if not self.config.policy.obs_norm:
            return None
        count = context["obs_count"]
        if count < 2:
            return np.zeros(self.policy.obs_dim, np.float32), np.ones(self.policy.obs_dim, np.float32)
        mean = context["obs_sum"] / count
        var = np.maximum(context["obs_sumsq"] / count - mean**2, 1e-8)
        return mean.astype(np.float32), np.sqrt(var).astype(np.float32)

    def evaluate(
        self, params: np.ndarray, seeds: np.ndarray, context: Context, capture: bool = False
    ) -> list[EvalResult]:
        params = params if isinstance(params, (list, NeatPopulation)) else np.atleast_2d(params)
        n, e = len(params), self.config.episodes
        slot_seeds = [derive_seed(int(s), k) for s in seeds for k in range(e)]
        returns, steps, obs_stats, extra = self.rollout(params, slot_seeds, e, context, capture=capture)
        results = []
        for i in range(n):
            r = returns[i]
            metrics = {"env_steps": float(steps[i].sum()), "return_std": float(r.std())}
            if self.config.reward_shift:
                metrics["return"] = float(r.mean())
                r = r - self.config.reward_shift * steps[i]
            for name, values in extra.items():  # distance, descriptor_k: (policies, episodes) each
                metrics[name] = float(values[i].mean())
            aux = {}
            if obs_stats is not None:
                aux = {
                    "obs_sum": obs_stats[0][i],
                    "obs_sumsq": obs_stats[1][i],
                    "obs_count": obs_stats[2][i],
                }
            fitness = float(r.mean())
            error = None if math.isfinite(fitness) else "non-finite return"
            results.append(EvalResult(fitness if error is None else math.nan, metrics, error, aux))
        return results

    @property
    def records_transitions(self) -> bool:
        return self.config.transitions

    def evaluate_lineage(
        self, params: np.ndarray, seeds: np.ndarray, context: Context, lineage: Lineage
    ) -> list[EvalResult]:
        """:meth:`evaluate`, saving each candidate's transitions (all its episodes, in order) in the
        lineage folder for the strategy's learner."""
        results = self.evaluate(params, seeds, context, capture=True)
        slots, e = self._captured, self.config.episodes
        for i, gid in enumerate(lineage.ids):
            mine = slots[i * e : (i + 1) * e]
            joined = {k: np.concatenate([slot[k] for slot in mine]) for k in TRANSITION_FIELDS}
            save_transitions(lineage.folder, gid, joined)
        return results

    def test(self, params: np.ndarray, seed: int, cases: int, context: Context) -> TestResult:
        return self._retest_batch(_one(params), seed, cases, context)[0]

    def validate_all(
        self, params: list[Any], seed: int, cases: int, contexts: list[Context]
    ) -> list[TestResult]:
        """The individuals that share a context (the same object: the same observation normaliser)
        run their validation episodes in one rollout, which gives each exactly the returns it gets
        alone (a policy's actions never depend on its batch-mates)."""
        results: list[TestResult | None] = [None] * len(params)
        groups: dict[int, list[int]] = {}
        for i, context in enumerate(contexts):
            groups.setdefault(id(context), []).append(i)
        for members in groups.values():
            batch = [params[i] for i in members]
            together = batch if isinstance(batch[0], NeatGenome) else np.stack([np.asarray(p) for p in batch])
            scored = self._retest_batch(together, seed, cases, contexts[members[0]])
            for i, result in zip(members, scored, strict=True):
                results[i] = result
        return results

    def _retest_batch(self, params: Any, seed: int, cases: int, context: Context) -> list[TestResult]:
        """Each policy of ``params`` on the same ``cases`` episodes (drawn from ``seed``)."""
        slot_seeds = [derive_seed(seed, "test", k) for k in range(cases)] * len(params)
        returns, steps, _, extra = self.rollout(params, slot_seeds, cases, context)
        out = []
        for i in range(len(params)):
            metrics = {"env_steps": float(steps[i].sum())}
            if "distance" in extra:
                metrics["distance"] = float(extra["distance"][i].mean())
            scores = [float(x) for x in returns[i]]
            out.append(TestResult(float(np.mean(scores)), scores, metrics))
        return out

    # -- rollouts -------------------------------------------------------------------------------
    def rollout(
        self,
        params: np.ndarray,
        slot_seeds: list[int],
        episodes: int,
        context: Context,
        capture: bool = False,
    ) -> tuple[np.ndarray, np.ndarray, tuple | None, dict[str, np.ndarray]]:
        """Run one episode per slot; return per-(policy, episode) returns and valid step counts, the
        observation statistics (``obs_norm``), and per-(policy, episode) distance and descriptor numbers
        (:meth:`_ListBatch.extras`).

        Slots are laid out policy-major: slot ``i * episodes + k`` is episode k of policy i.
        On the native vector env, policies whose episodes have all ended are compacted away
        whenever they are half of those left, so long episodes do not drag dead ones along.
        Compaction keeps whole policies: every policy's forward pass is always the same
        (episodes x fan_in) product, whose result does not depend on its batch-mates.
        """
        n_pol, d = len(params), self.policy.obs_dim
        n = n_pol * episodes
        norm = self._normaliser(context)
        collect = self.config.policy.obs_norm
        returns = np.zeros((n_pol, episodes))
        steps = np.zeros((n_pol, episodes), dtype=np.int64)
        obs_sums = np.zeros((n_pol, episodes, d)) if collect else None
        obs_sumsq = np.zeros((n_pol, episodes, d)) if collect else None
        # Accumulators for the policies still stepping ("current layout"); written back to the
        # full arrays at each compaction and at the end, so the hot loop indexes nothing.
        policies = np.arange(n_pol)
        cur_returns, cur_steps = np.zeros(n), np.zeros(n, dtype=np.int64)
        cur_sums = np.zeros((n, d)) if collect else None
        cur_sumsq = np.zeros((n, d)) if collect else None
        controller = self._controller(params)
        batch = {"kernel": _KernelBatch, "native": _NativeBatch, "list": _ListBatch}[self._mode](
            self, slot_seeds
        )
        if capture:  # each slot's transitions, for a learner (list mode only: checked at build)
            batch.capture()
        obs = batch.obs
        alive = np.ones(n, dtype=bool)
        gained = np.empty(n)

        def write_back() -> None:
            m = len(policies)
            returns[policies] = cur_returns.reshape(m, episodes)
            steps[policies] = cur_steps.reshape(m, episodes)
            if collect:
                obs_sums[policies] = cur_sums.reshape(m, episodes, d)
                obs_sumsq[policies] = cur_sumsq.reshape(m, episodes, d)

        while True:
            m = len(policies)
            if collect:
                o = obs.astype(np.float64) * alive[:, None]
                cur_sums += o
                cur_sumsq += o * o
            x = obs.reshape(m, episodes, d)
            if norm is not None:
                x = _normalise(x, norm)
            actions = controller.act(x)
            actions = actions.reshape(m * episodes, *actions.shape[2:])
            obs, reward, done = batch.step(actions, alive)
            np.multiply(reward, alive, out=gained)
            cur_returns += gained
            cur_steps += alive
            alive &= ~done
            n_alive = np.count_nonzero(alive)
            if n_alive == 0:
                break
            # Half of the policies can only be finished once half of the slots are.
            if batch.compactable and n_alive * 2 <= m * episodes and m * episodes >= 64:
                live = alive.reshape(m, episodes).any(axis=1)
                if np.count_nonzero(live) * 2 <= m:
                    write_back()
                    keep = np.flatnonzero(np.repeat(live, episodes))
                    obs = batch.compact(keep, obs)
                    alive, gained = alive[keep], gained[keep]
                    cur_returns, cur_steps = cur_returns[keep], cur_steps[keep]
                    if collect:
                        cur_sums, cur_sumsq = cur_sums[keep], cur_sumsq[keep]
                    policies = policies[live]
                    controller = controller.keep(live)
        write_back()
        extra = batch.extras(self, n_pol, episodes) if isinstance(batch, _ListBatch) else {}
        if capture:
            self._captured = batch.transitions()
        stats = None
        if collect:
            stats = (obs_sums.sum(axis=1), obs_sumsq.sum(axis=1), steps.sum(axis=1).astype(np.float64))
        return returns, steps, stats, extra

    def _slot_states(self, slot_seeds: list[int]) -> np.ndarray:
        """CartPole states (4, n): where the single env starts with each slot's seed."""
        state = np.empty((4, len(slot_seeds)))
        for j, seed in enumerate(slot_seeds):
            self._probe.reset(seed=seed)
            state[:, j] = self._probe.unwrapped.state
        return state

    # -- rendering ------------------------------------------------------------------------------
    def play(
        self, params: np.ndarray, seed: int, episodes: int, context: Context, render_every: int = 0
    ) -> tuple[list[float], list[np.ndarray]]:
        """Run the policy one episode at a time on a single env; return the returns and, with
        ``render_every`` k, frames of the first episode, one every k steps from its start (rendering
        costs more than the step on MuJoCo: frames not kept are not drawn)."""
        render = render_every > 0
        if render and not os.environ.get("DISPLAY"):
            # headless: render offscreen, no window (pygame's dummy video driver; MuJoCo through EGL,
            # where its default, GLFW, needs a display)
            os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
            os.environ.setdefault("MUJOCO_GL", "egl")
        env = self._make("rgb_array" if render else None)
        controller = self._controller(_one(params))
        norm = self._normaliser(context)
        returns, frames = [], []
        try:
            for k in range(episodes):
                obs, _ = env.reset(seed=derive_seed(seed, "play", k))
                total, done, step = 0.0, False, 0
                while not done:
                    if render and k == 0 and step % render_every == 0:
                        frames.append(env.render())
                    step += 1
                    x = np.asarray(obs, np.float32).reshape(1, 1, -1)
                    if norm is not None:
                        x = _normalise(x, norm)
                    action = controller.act(x)[0, 0]
                    obs, r, term, trunc, _ = env.step(action)
                    total += float(r)
                    done = term or trunc
                returns.append(total)
        finally:
            env.close()
        return returns, frames


def _route_mujoco_warnings(env_id: str) -> None:
    """Before a MuJoCo environment is made: MuJoCo's warnings go through Python's ``warnings``.

    Left to itself, MuJoCo prints every warning and appends it to ``MUJOCO_LOG.TXT`` in the working
    directory; with mujoco 4 and gymnasium's v5 models that is a deprecation notice about their XML
    (``settotalmass``) on every environment made, a stray file in the user's folder, and nothing the
    user can act on. Deprecations become :class:`DeprecationWarning` (hidden unless asked for, as
    Python hides those of libraries), anything else (an unstable simulation, say) a
    :class:`RuntimeWarning`. A handler someone else installed is left in place."""
    try:
        entry = str(gym.spec(env_id).entry_point)
    except gym.error.Error:  # gym.make says what is wrong with the id
        return
    if "mujoco" not in entry:
        return
    try:
        import mujoco
    except ImportError:  # gym.make names the missing extra
        return
    if mujoco.get_mju_user_warning() is None:
        mujoco.set_mju_user_warning(_mujoco_warning)


def _mujoco_warning(message: str) -> None:
    import warnings

    category = DeprecationWarning if "deprecated" in message else RuntimeWarning
    warnings.warn(f"MuJoCo: {message}", category, stacklevel=1)


def _one(params: Any) -> Any:
    """A batch of one individual: a (1, D) array or a one-genome list."""
    return [params] if isinstance(params, NeatGenome) else np.asarray(params)[None, :]


class MLPController:
    """Actions of a population of MLP policies (the rollout's view of a policy batch)."""

    def __init__(self, policy: MLPPolicy, params: np.ndarray, layers: list | None = None):
        self.policy = policy
        self.layers = policy.unflatten(params) if layers is None else layers

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.policy.act(self.layers, obs)

    def keep(self, live: np.ndarray) -> MLPController:
        return MLPController(self.policy, None, [(w[live], b[live]) for w, b in self.layers])


class NeatController:
    """Actions of a population of NEAT networks: argmax over one output per discrete action, or
    outputs squashed into [0, 1] and scaled into the action bounds. Recurrent networks keep their
    node values from step to step, per episode."""

    def __init__(
        self, genomes: list[NeatGenome] | NeatPopulation, policy: MLPPolicy, state: np.ndarray | None = None
    ):
        self.genomes, self.policy = genomes, policy
        self.net = CompiledPopulation(genomes)
        self.state = state
        activation = genomes.activation if isinstance(genomes, NeatPopulation) else genomes[0].activation
        self._unit = {"sigmoid": lambda y: y, "tanh": lambda y: (y + 1.0) / 2.0}.get(
            activation, lambda y: 1.0 / (1.0 + np.exp(-y))
        )

    def act(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, np.float64)
        if self.net.feed_forward:
            out = self.net.activate(obs)
        else:
            if self.state is None:
                self.state = self.net.initial_state(obs.shape[1])
            out, self.state = self.net.step(obs, self.state)
        if self.policy.action == "discrete":
            return np.argmax(out, axis=-1)
        unit = np.clip(self._unit(out), 0.0, 1.0)
        if self.policy._bounded:
            low = self.policy._centre - self.policy._half
            return (low + 2.0 * self.policy._half * unit).astype(np.float32)
        return (2.0 * unit - 1.0).astype(np.float32)

    def keep(self, live: np.ndarray) -> NeatController:
        kept: list[NeatGenome] | NeatPopulation
        if isinstance(self.genomes, NeatPopulation):
            kept = self.genomes.take(np.flatnonzero(live))
        else:
            kept = [g for g, alive in zip(self.genomes, live, strict=True) if alive]
        state = None
        if self.state is not None:
            columns = np.concatenate([self.net.columns(p) for p in np.flatnonzero(live)])
            state = self.state[:, columns]
        return NeatController(kept, self.policy, state)


class _KernelBatch:
    """CartPole slots on :class:`CartPoleKernel`."""

    compactable = True

    def __init__(self, problem: GymProblem, slot_seeds: list[int]):
        state = problem._slot_states(slot_seeds)
        limit = problem.config.max_episode_steps or 500
        self.kernel = CartPoleKernel(state, max_episode_steps=limit)
        self.obs = state.T.astype(np.float32)

    def step(self, actions: np.ndarray, alive: np.ndarray):
        return self.kernel.step(actions)

    def compact(self, keep: np.ndarray, obs: np.ndarray) -> np.ndarray:
        self.kernel.compact(keep)
        return obs[keep]


class _NativeBatch:
    """CartPole slots on Gymnasium's own NumPy vector env."""

    compactable = True

    def __init__(self, problem: GymProblem, slot_seeds: list[int]):
        self.problem = problem
        self.venv = problem._native_env(len(slot_seeds))
        self.venv.reset(seed=0)
        state = problem._slot_states(slot_seeds)
        self.venv.unwrapped.state = state
        self.obs = state.T.astype(np.float32)

    def step(self, actions: np.ndarray, alive: np.ndarray):
        obs, reward, terminated, truncated, _ = self.venv.step(actions)
        return obs, reward, terminated | truncated

    def compact(self, keep: np.ndarray, obs: np.ndarray) -> np.ndarray:
        old = self.venv.unwrapped
        self.venv = self.problem._native_env(len(keep))
        self.venv.reset(seed=0)
        inner = self.venv.unwrapped
        inner.state = old.state[:, keep].copy()
        inner.steps = old.steps[keep].copy()
        inner.prev_done = np.zeros(len(keep), dtype=np.bool_)
        return obs[keep]


class _ListBatch:
    """One ordinary environment per slot; only slots whose episode runs are stepped."""

    compactable = False

    def __init__(self, problem: GymProblem, slot_seeds: list[int]):
        n = len(slot_seeds)
        self.envs = problem._list_envs(n)
        resets = [env.reset(seed=s) for env, s in zip(self.envs, slot_seeds, strict=True)]
        self.obs = np.stack([np.asarray(o, np.float32).ravel() for o, _ in resets])
        self.first_info = [info for _, info in resets]
        self.last_info = list(self.first_info)
        # a descriptor function sees the whole episode: every observation and info, kept per slot
        self.trajectory = (
            [([o], [info]) for o, info in zip(self.obs.copy(), self.first_info, strict=True)]
            if problem._describe is not None
            else None
        )
        self.reward = np.zeros(n)
        self.done = np.zeros(n, dtype=bool)
        self.steps: list[list[tuple]] | None = None

    def capture(self) -> None:
        self.steps = [[] for _ in self.envs]

    def transitions(self) -> list[dict[str, np.ndarray]]:
        """Each slot's transitions: (obs, action, reward, next_obs, terminated) per step taken."""
        out = []
        for rows in self.steps or []:
            obs, act, rew, nxt, term = zip(*rows, strict=True) if rows else ((),) * 5
            out.append({
                "obs": np.asarray(obs, np.float32).reshape(len(rows), -1),
                "action": np.asarray(act, np.float32).reshape(len(rows), -1),
                "reward": np.asarray(rew, np.float32),
                "next_obs": np.asarray(nxt, np.float32).reshape(len(rows), -1),
                "terminated": np.asarray(term, bool),
            })  # fmt: skip
        return out

    def step(self, actions: np.ndarray, alive: np.ndarray):
        self.reward[:] = 0.0
        for j in np.flatnonzero(alive):
            o, r, term, trunc, info = self.envs[j].step(actions[j])
            if self.steps is not None:  # terminated, not truncated: a time limit is no end state
                self.steps[j].append(
                    (self.obs[j].copy(), np.asarray(actions[j]).ravel(), r, np.ravel(o), term)
                )
            self.obs[j] = np.asarray(o, np.float32).ravel()
            self.reward[j] = r
            self.done[j] = term or trunc
            self.last_info[j] = info
            if self.trajectory is not None:
                self.trajectory[j][0].append(self.obs[j].copy())
                self.trajectory[j][1].append(info)
        return self.obs, self.reward, self.done.copy()

    def extras(self, problem: GymProblem, policies: int, episodes: int) -> dict[str, np.ndarray]:
        """Per (policy, episode): the distance travelled along x (environments whose infos report
        ``x_position``) and the behaviour descriptor's numbers (``descriptor_k``)."""
        out: dict[str, np.ndarray] = {}
        shape = (policies, episodes)
        if problem._locomotion:
            out["distance"] = np.array(
                [
                    float(b["x_position"]) - float(a["x_position"])
                    for a, b in zip(self.first_info, self.last_info, strict=True)
                ]
            ).reshape(shape)
        names = problem.config.descriptor
        if not names:
            return out
        if self.trajectory is not None:
            rows = [
                np.atleast_1d(np.asarray(problem._describe(np.stack(obs), infos), dtype=np.float64))
                for obs, infos in self.trajectory
            ]
        else:
            rows = [np.array([_info_number(info, name) for name in names]) for info in self.last_info]
        values = np.stack(rows).reshape(*shape, -1)
        for k in range(values.shape[-1]):
            out[f"descriptor_{k}"] = values[..., k]
        return out


def _info_number(info: dict, name: str) -> float:
    """The number ``info[name]``; NaN (a failed descriptor) if the environment does not report it."""
    try:
        return float(info[name])
    except (KeyError, TypeError, ValueError):
        return math.nan


def _descriptor_function(names: list[str]) -> Any:
    """The user's descriptor function of ``module:function`` (the only name), or None for info names."""
    if len(names) != 1 or ":" not in names[0]:
        return None
    module, _, attr = names[0].partition(":")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"descriptor function {names[0]!r} cannot be imported ({exc})") from None
    if not callable(fn):
        raise ValueError(f"descriptor function {names[0]!r} is not callable")
    return fn
