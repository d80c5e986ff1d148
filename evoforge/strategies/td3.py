"""The TD3 learner inside the hybrid strategies (``cem_rl``, ``erl``): the critic update of Fujimoto et al.
2018, "Addressing function approximation error in actor-critic methods" (ICML, arXiv:1802.09477),
Algorithm 1 (a twin critic trained on the smaller of its two targets, with target policy smoothing),
actors trained on the first critic's value of their actions, target networks following at ``tau``. When
actors and critic step is the hybrid's schedule (CEM-RL's: the critic, then each actor in a block), in
place of TD3's delayed policy updates.

Its state is a dict of arrays kept inside the strategy's state (replay buffer, critic, critic target,
Adam's moments), saved and restored exactly with the checkpoint. The actors are the problem's own MLP
policy (:class:`evoforge.problems.policy.MLPPolicy`), rebuilt in torch from a weight vector with the
same layout, so the network trained is the network evaluated. Plain torch, not Stable-Baselines3: its
TD3 trains its own actor on its own schedule and saves by pickle (BENCHMARKS.md, "What is hand-written").
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from evoforge.core.environ import torch_threads_set
from evoforge.core.strategy import Strategy, StrategyConfig

__all__ = [
    "LearnerConfig",
    "HybridStrategy",
    "new_learner",
    "observe",
    "ready",
    "train_actors",
    "actor_steps",
    "restore",
    "Actor",
]


class LearnerConfig(StrategyConfig):
    """The TD3 learner's hyperparameters (defaults: Fujimoto et al.'s, with a smaller buffer)."""

    start_steps: int = Field(10_000, ge=0, description="Transitions in the buffer before any gradient step.")
    buffer_size: int = Field(
        200_000, ge=1, description="Capacity of the replay buffer (oldest dropped first)."
    )
    max_actor_steps: int | None = Field(
        None,
        ge=1,
        description="Cap on the gradient steps per trained actor (None: the last generation's steps).",
    )
    batch_size: int = Field(100, ge=1, description="Transitions per gradient step.")
    gamma: float = Field(0.99, gt=0, le=1, description="Discount.")
    tau: float = Field(0.005, gt=0, le=1, description="Soft update rate of the target networks.")
    actor_lr: float = Field(1e-3, gt=0, description="Adam's learning rate for an actor.")
    critic_lr: float = Field(1e-3, gt=0, description="Adam's learning rate for the critic.")
    policy_noise: float = Field(
        0.2, ge=0, description="TD3's target policy noise (share of the action range)."
    )
    noise_clip: float = Field(0.5, ge=0, description="TD3's clip of that noise.")
    critic_hidden: list[int] = Field([400, 300], description="Widths of each critic's hidden layers.")
    threads: int = Field(1, ge=1, description="Torch threads of the learner (results depend on the count).")


def _torch_activation(name: str) -> Any:
    import torch

    return {
        "tanh": torch.tanh,
        "relu": torch.relu,
        "elu": torch.nn.functional.elu,
        "gelu": lambda x: torch.nn.functional.gelu(x, approximate="tanh"),
        "sigmoid": torch.sigmoid,
        "silu": torch.nn.functional.silu,
        "linear": lambda x: x,
    }[name]


class Actor:
    """The problem's MLP policy in torch: the same layout (per layer W (in, out) then b), activation
    and squashing into the action bounds as :class:`evoforge.problems.policy.MLPPolicy`."""

    def __init__(self, policy: Any, flat: np.ndarray):
        import torch

        self.activation = _torch_activation(policy.config.activation)
        self.centre = torch.as_tensor(
            policy._centre if policy._bounded else np.zeros(policy.act_dim), dtype=torch.float32
        )
        self.half = torch.as_tensor(
            policy._half if policy._bounded else np.ones(policy.act_dim), dtype=torch.float32
        )
        self.shapes = policy.shapes
        self.params: list[Any] = []
        offset = 0
        for fan_in, fan_out in self.shapes:
            w = flat[offset : offset + fan_in * fan_out].reshape(fan_in, fan_out)
            offset += fan_in * fan_out
            b = flat[offset : offset + fan_out]
            offset += fan_out
            self.params += [torch.tensor(w, dtype=torch.float32), torch.tensor(b, dtype=torch.float32)]

    def __call__(self, obs: Any) -> Any:
        import torch

        h = obs
        for k in range(len(self.shapes)):
            h = h @ self.params[2 * k] + self.params[2 * k + 1]
            if k < len(self.shapes) - 1:
                h = self.activation(h)
        return self.centre + self.half * torch.tanh(h)

    def flat(self) -> np.ndarray:
        return np.concatenate([p.detach().numpy().ravel() for p in self.params]).astype(np.float64)


def _critic_layers(
    obs_dim: int, act_dim: int, hidden: list[int], rng: np.random.Generator
) -> list[np.ndarray]:
    """One critic's weights and biases, torch's default initialisation (uniform in +-1/sqrt(fan_in))."""
    sizes = [obs_dim + act_dim, *hidden, 1]
    out = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        bound = 1.0 / np.sqrt(fan_in)
        out += [rng.uniform(-bound, bound, (fan_in, fan_out)), rng.uniform(-bound, bound, fan_out)]
    return [a.astype(np.float32) for a in out]


def _q(layers: list[Any], obs: Any, act: Any) -> Any:
    import torch

    h = torch.cat([obs, act], dim=1)
    n = len(layers) // 2
    for k in range(n):
        h = h @ layers[2 * k] + layers[2 * k + 1]
        if k < n - 1:
            h = torch.relu(h)
    return h[:, 0]


class HybridStrategy(Strategy):
    """Base of the strategies with a TD3 learner (``cem_rl``, ``erl``): they are shown the transitions
    of the candidates they asked for, train on the problem's own policy (a ``policy`` search space;
    without one, as on the conformance tasks, the learner never runs), and keep their state as a dict
    of values."""

    uses_transitions = True

    @property
    def policy(self) -> Any:
        return getattr(self.space, "policy", None)

    def state_to_tree(self, state: dict[str, Any]) -> dict[str, Any]:
        return dict(state)

    def state_from_tree(self, tree: dict[str, Any]) -> dict[str, Any]:
        state = restore(tree)
        state["generation"] = int(state["generation"])
        return state

    def observe(
        self, state: dict[str, Any], transitions: list[dict[str, np.ndarray] | None]
    ) -> dict[str, Any]:
        return observe(state, transitions)


def new_learner(policy: Any, config: LearnerConfig, rng: np.random.Generator) -> dict[str, Any]:
    """An empty replay buffer and a freshly initialised critic (and its target) for ``policy``."""
    o, a, cap = policy.obs_dim, policy.act_dim, config.buffer_size
    critic = _critic_layers(o, a, config.critic_hidden, rng) + _critic_layers(o, a, config.critic_hidden, rng)
    return {
        "buffer": {
            "obs": np.zeros((cap, o), np.float32),
            "action": np.zeros((cap, a), np.float32),
            "reward": np.zeros(cap, np.float32),
            "next_obs": np.zeros((cap, o), np.float32),
            "terminated": np.zeros(cap, bool),
        },
        "size": 0,
        "pos": 0,
        "steps_since": 0,
        "critic": critic,
        "critic_target": [w.copy() for w in critic],
        "adam_m": [np.zeros_like(w) for w in critic],
        "adam_v": [np.zeros_like(w) for w in critic],
        "adam_step": 0,
    }


def restore(state: dict[str, Any]) -> dict[str, Any]:
    """The learner's entries of a state read back from a checkpoint, in their working types."""
    state = dict(state)
    for key in ("steps_since", "size", "pos", "adam_step", "learner_adam_step"):
        if key in state:
            state[key] = int(state[key])
    for key in ("critic", "critic_target", "adam_m", "adam_v", "learner_adam_m", "learner_adam_v"):
        if key in state:
            state[key] = [np.asarray(w, np.float32) for w in state[key]]
    if "buffer" in state:
        state["buffer"] = {k: np.asarray(v) for k, v in state["buffer"].items()}
        state["buffer"]["terminated"] = state["buffer"]["terminated"].astype(bool)
    return state


def observe(state: dict[str, Any], transitions: list[dict[str, np.ndarray] | None]) -> dict[str, Any]:
    """``state`` with ``transitions`` in its ring buffer and ``steps_since`` their count."""
    if "buffer" not in state:
        return state
    buffer = {k: v.copy() for k, v in state["buffer"].items()}
    cap, size, pos, added = len(buffer["reward"]), state["size"], state["pos"], 0
    for t in transitions:
        if t is None:
            continue
        m = len(t["reward"])
        keep = slice(max(0, m - cap), m)  # a ring: the oldest transitions give way
        where = (pos + np.arange(m)[keep]) % cap
        for key in buffer:
            buffer[key][where] = t[key][keep]
        pos, size, added = (pos + m) % cap, min(size + m, cap), added + m
    return {**state, "buffer": buffer, "size": size, "pos": pos, "steps_since": added}


def ready(state: dict[str, Any], config: LearnerConfig) -> bool:
    """Whether the learner trains now: enough transitions, and new ones since it last did."""
    return (
        "buffer" in state
        and state["size"] >= max(config.start_steps, config.batch_size)
        and state["steps_since"] > 0
    )


def actor_steps(state: dict[str, Any], config: LearnerConfig) -> int:
    """Gradient steps per actor: the last generation's environment steps, capped by ``max_actor_steps``."""
    steps = int(state["steps_since"])
    return steps if config.max_actor_steps is None else min(steps, config.max_actor_steps)


def train_actors(
    state: dict[str, Any],
    actors: list[np.ndarray],
    critic_steps: int,
    steps: int,
    rng: np.random.Generator,
    config: LearnerConfig,
    policy: Any,
    targets: list[np.ndarray] | None = None,
    moments: list[dict[str, Any]] | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray], dict[str, Any], list[dict[str, Any]]]:
    """Each actor in turn: the critic trained ``critic_steps`` with that actor's target as the target
    policy, then the actor ``steps`` on the critic (CEM-RL's schedule; ERL's with one actor). Returns
    the trained actors, their targets (``targets``, or copies of the actors at the start), the state
    with the critic moved on, and each actor's Adam moments after its steps.

    An actor's Adam starts from ``moments[i]`` (``{"m", "v", "step"}``, as returned) where given, and
    afresh otherwise: ERL's learner is one actor trained across generations, so its optimiser goes on
    with it, as the DDPG agent's does in the paper's code; CEM-RL's actors are new draws from the
    distribution every generation, each given a new optimiser, as in the authors' code."""
    import torch

    c = config
    with torch_threads_set(c.threads):
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        buffer = {k: torch.as_tensor(v[: state["size"]]) for k, v in state["buffer"].items()}
        critic = [torch.tensor(w, requires_grad=True) for w in state["critic"]]
        target = [torch.tensor(w) for w in state["critic_target"]]
        optimizer = torch.optim.Adam(critic, lr=c.critic_lr)
        if state["adam_step"]:
            optimizer.load_state_dict(
                _adam_state(
                    optimizer, {"m": state["adam_m"], "v": state["adam_v"], "step": state["adam_step"]}
                )
            )
        half = len(critic) // 2
        trained, trained_targets, actor_moments = [], [], []
        for i, flat in enumerate(actors):
            actor = Actor(policy, flat)
            actor_target = Actor(policy, targets[i] if targets is not None else flat)
            for p in actor.params:
                p.requires_grad_(True)
            actor_opt = torch.optim.Adam(actor.params, lr=c.actor_lr)
            if moments is not None and moments[i]["step"]:
                actor_opt.load_state_dict(_adam_state(actor_opt, moments[i]))
            for _ in range(critic_steps):  # the critic, with this actor's target
                s, a, r, s2, done = _batch(buffer, c.batch_size, state["size"], rng)
                with torch.no_grad():
                    noise = (torch.randn(a.shape, generator=generator) * c.policy_noise).clamp(
                        -c.noise_clip, c.noise_clip
                    )
                    low, high = actor.centre - actor.half, actor.centre + actor.half
                    a2 = torch.maximum(torch.minimum(actor_target(s2) + noise * actor.half, high), low)
                    q_next = torch.minimum(_q(target[:half], s2, a2), _q(target[half:], s2, a2))
                    y = r + c.gamma * (1.0 - done) * q_next
                loss = ((_q(critic[:half], s, a) - y) ** 2).mean() + (
                    (_q(critic[half:], s, a) - y) ** 2
                ).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                with torch.no_grad():
                    for w, t in zip(critic, target, strict=True):
                        t.mul_(1 - c.tau).add_(c.tau * w)
            for _ in range(steps):  # the actor, on the first critic's value of its actions
                s = _batch(buffer, c.batch_size, state["size"], rng)[0]
                loss = -_q(critic[:half], s, actor(s)).mean()
                actor_opt.zero_grad()
                loss.backward()
                actor_opt.step()
                with torch.no_grad():
                    for w, t in zip(actor.params, actor_target.params, strict=True):
                        t.mul_(1 - c.tau).add_(c.tau * w)
            trained.append(actor.flat())
            trained_targets.append(actor_target.flat())
            actor_moments.append(_moments(actor_opt, len(actor.params)))
        if not actors:
            return [], [], state, []
        critic_moments = _moments(optimizer, len(critic))
        new = {
            **state,
            "critic": [w.detach().numpy().copy() for w in critic],
            "critic_target": [t.numpy().copy() for t in target],
            "adam_m": critic_moments["m"],
            "adam_v": critic_moments["v"],
            "adam_step": critic_moments["step"],
        }
        return trained, trained_targets, new, actor_moments


def _batch(buffer: dict[str, Any], batch: int, size: int, rng: np.random.Generator) -> tuple:
    import torch

    idx = torch.as_tensor(rng.integers(size, size=batch))
    return (
        buffer["obs"][idx],
        buffer["action"][idx],
        buffer["reward"][idx],
        buffer["next_obs"][idx],
        buffer["terminated"][idx].float(),
    )


def _adam_state(optimizer: Any, moments: dict[str, Any]) -> dict[str, Any]:
    """Adam's state as torch's ``load_state_dict`` takes it, from saved ``moments`` (``{"m", "v", "step"}``)."""
    import torch

    saved = optimizer.state_dict()
    saved["state"] = {
        k: {
            "step": torch.tensor(float(moments["step"])),
            "exp_avg": torch.tensor(m),
            "exp_avg_sq": torch.tensor(v),
        }
        for k, (m, v) in enumerate(zip(moments["m"], moments["v"], strict=True))
    }
    return saved


def _moments(optimizer: Any, n: int) -> dict[str, Any]:
    """The first and second moments and step count of an Adam over ``n`` tensors, as arrays."""
    saved = optimizer.state_dict()["state"]
    if not saved:  # no step taken
        return {"m": [], "v": [], "step": 0}
    return {
        "m": [saved[k]["exp_avg"].numpy().copy() for k in range(n)],
        "v": [saved[k]["exp_avg_sq"].numpy().copy() for k in range(n)],
        "step": int(saved[0]["step"]),
    }
