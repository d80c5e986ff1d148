"""CEM-RL of Pourchot & Sigaud 2019, "CEM-RL: combining evolutionary and gradient-based methods for
policy search" (ICLR, arXiv:1810.01222), Algorithm 1: a cross-entropy method over actor weights, half
of each generation first improved by TD3 (Fujimoto et al. 2018, "Addressing function approximation
error in actor-critic methods") from a replay buffer every candidate's episodes fill.

* The CEM (section 3, sep-CEM): a diagonal Gaussian, sampled in mirrored pairs (``antithetic``); the ``elites`` best of a generation, weighted by
  ``log(1 + K) - log(k)``, give the new mean, and their weighted spread around the old mean divided
  by K (as the authors' code computes it) plus a noise ``damp`` (decaying from ``damp`` to
  ``damp_limit`` at rate ``damp_tau``, before it is added) the new variance.
* The learner: a twin critic (``critic_hidden``) and its target. Once the buffer holds ``start_steps``
  transitions, each of the first ``rl_share`` of the candidates is an actor trained before it is
  evaluated: the critic for ``S / n_rl`` steps with that actor's target as the target policy, then the
  actor for ``S`` steps on ``-Q1(s, pi(s))`` (S: the environment steps of the last generation, at
  most ``max_actor_steps``), as the authors' code does; the trained weights are the candidate.
* The actor is the problem's own MLP policy (a ``policy`` search space: the gym problem), rebuilt in
  torch from the weight vector with the same layout, so evaluating a candidate runs exactly the
  network that was trained.

Everything that changes (mean, variance, noise, replay buffer, critic, its target and Adam's moments)
is a value in the state, saved with the checkpoint, so a run resumes exactly. Written in plain torch,
not Stable-Baselines3: its TD3 trains its own actor on its own schedule (the critic and actor steps
cannot be split per candidate as above) and saves by pickle (BENCHMARKS.md, "What is hand-written").
The gym problem must record transitions (``problem.transitions: true``) without observation
normalisation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from evoforge.core.genome import Genome
from evoforge.core.strategy import Asked, Convergence
from evoforge.strategies import td3

__all__ = ["CEMRL", "CEMRLConfig"]

_BUDGET = {"population_size": 16, "sigma_init": 1.0, "damp": 1.0, "damp_limit": 1e-8, "damp_tau": 0.9}


class CEMRLConfig(td3.LearnerConfig):
    """Hyperparameters of CEM-RL (defaults: the paper's MuJoCo settings, Table 3, with a smaller buffer)."""

    population_size: int = Field(10, ge=2, description="Actors per generation.")
    elites: int | None = Field(None, ge=1, description="K: the actors the CEM update uses (None: half).")
    sigma_init: float = Field(1e-3, gt=0, description="The first variance of every weight.")
    damp: float = Field(1e-3, ge=0, description="Noise added to the variance at first.")
    damp_limit: float = Field(1e-5, ge=0, description="The noise's floor.")
    damp_tau: float = Field(0.95, ge=0, lt=1, description="The noise's decay per generation.")
    rl_share: float = Field(0.5, ge=0, le=1, description="Share of each generation trained by TD3 first.")
    antithetic: bool = Field(
        True,
        description="Mirrored samples, mean + e and mean - e (the authors' code, for an even population): "
        "the actors trained are the first half, their mirrors the second.",
    )


class CEMRL(td3.HybridStrategy):
    """CEM-RL: sep-CEM over the policy's weights with TD3-trained actors.

    Without transitions (an empty buffer) it is sep-CEM alone, which its conformance budget checks.
    """

    name = "cem_rl"
    requires = frozenset({"continuous"})  # the learner needs a policy space as well (gym's)
    convergence = (Convergence("sphere", 10, 200, 1e-4, _BUDGET),)
    config_class = CEMRLConfig
    config: CEMRLConfig

    @property
    def parents(self) -> int:
        """K: the actors the CEM update uses."""
        return self.config.elites or max(1, self.population_size // 2)

    # -- state ----------------------------------------------------------------------------------
    def init(self, rng: np.random.Generator) -> dict[str, Any]:
        c, dim = self.config, self.dim
        state: dict[str, Any] = {
            "generation": 0,
            "mean": np.asarray(self.space.initial_point(rng), dtype=np.float64).copy(),
            "var": np.full(dim, c.sigma_init),
            "damp": float(c.damp),
            "asked": None,
        }
        if self.policy is not None:  # the learner (a policy space; the conformance tasks have none)
            state.update(td3.new_learner(self.policy, c, rng))
        return state

    def state_from_tree(self, tree: dict[str, Any]) -> dict[str, Any]:
        state = super().state_from_tree(tree)
        state["damp"] = float(state["damp"])
        return state

    def ask(self, state: dict[str, Any], rng: np.random.Generator) -> Asked:
        c, n = self.config, self.population_size
        if c.antithetic:
            half = rng.standard_normal(((n + 1) // 2, self.dim))
            eps = np.concatenate([half, -half])[:n]
        else:
            eps = rng.standard_normal((n, self.dim))
        z = state["mean"] + np.sqrt(state["var"]) * eps
        trained = int(round(c.rl_share * n))
        if trained and td3.ready(state, c):  # section 3: the first rl_share trained before evaluation
            steps = td3.actor_steps(state, c)
            actors, _, state, _ = td3.train_actors(
                state, list(z[:trained]), max(1, steps // trained), steps, rng, c, self.policy
            )
            z = np.concatenate([np.stack(actors), z[trained:]])
        genomes = [self.space.decode(x) for x in z]
        return Asked({**state, "asked": z}, genomes, [()] * n)

    def tell(self, state: dict[str, Any], genomes: list[Genome], fitness: np.ndarray) -> dict[str, Any]:
        z = state["asked"]
        if z is None:
            raise ValueError("tell() called without a matching ask()")
        c, k = self.config, self.parents
        order = np.argsort(-np.asarray(fitness, dtype=np.float64), kind="stable")[:k]
        weights = np.log(1 + k) - np.log(np.arange(1, k + 1))
        weights /= weights.sum()
        old = state["mean"]
        mean = weights @ z[order]
        # as the authors' sepCEM: the noise decays first, and the elites' spread is divided by K as
        # well as weighted (without the 1/K the spread grew each generation, the trained actors far
        # from the mean they were drawn around, until samples were near-random networks)
        damp = c.damp_tau * state["damp"] + (1 - c.damp_tau) * c.damp_limit
        var = weights @ (z[order] - old) ** 2 / k + damp
        return {
            **state,
            "generation": state["generation"] + 1,
            "mean": mean,
            "var": var,
            "damp": damp,
            "asked": None,
        }

    def mean(self, state: dict[str, Any]) -> np.ndarray | None:
        return state["mean"] if self.space.decodes_to_itself else None

    def report(self, state: dict[str, Any]) -> dict[str, float]:
        out = {"sigma_mean": float(np.sqrt(state["var"]).mean())}
        if "size" in state:
            out["buffer"] = float(state["size"])
        return out
