"""Novelty-seeking evolution strategies of Conti et al. 2018, "Improving exploration in evolution
strategies for deep reinforcement learning via a population of novelty-seeking agents" (NeurIPS,
arXiv:1712.06560): NS-ES, NSR-ES and NSRA-ES.

* A meta-population of ``agents`` parameter vectors and an archive of behaviour descriptors (BCs).
  Each generation one agent is chosen with probability proportional to its novelty (section 3.1), its
  antithetic Gaussian perturbations are evaluated, and its parameters move along the OpenAI-ES
  gradient estimate of the perturbations' score (with Adam, as OpenAI-ES).
* Novelty (equation 2): the mean Euclidean distance from a BC to its ``neighbours`` nearest BCs in the
  archive. The score of a perturbation is the novelty's centred rank (NS-ES), or a weighted mean of
  the centred ranks of reward and novelty, ``w * reward + (1 - w) * novelty`` (NSR-ES: w = 0.5, section
  3.2); NSRA-ES (section 3.3) adapts w: up by ``weight_step`` when the best reward improved, down after
  ``patience`` generations without improvement.
* The agent moved in one generation is evaluated again in the next (the population's last member),
  and its BC joins the archive then, as the paper adds the updated agent's BC each iteration. So
  ``population_size`` is the perturbations plus one (mirrored in pairs; an odd one out is drawn alone).

Told behaviour descriptors by the run: ``problem.descriptor`` for gym (the paper's BC for locomotion
is the final (x, y) position), the maze problem's final position.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from pydantic import Field

from evoforge.core.ascent import adam_step
from evoforge.core.genome import Genome
from evoforge.core.shaping import centered_ranks
from evoforge.core.space import VectorSpace  # noqa: F401  (the doctest's)
from evoforge.core.strategy import Asked, Convergence, Strategy, StrategyConfig, TypedState

__all__ = ["NSES", "NSESConfig", "novelty"]

#: the settings of its conformance budget: rewarded too (NSR-ES), since pure novelty does not optimise
_BUDGET = {"population_size": 21, "sigma": 0.1, "learning_rate": 0.1, "reward_weight": 0.5, "agents": 2}


def novelty(descriptors: np.ndarray, archive: np.ndarray, neighbours: int) -> np.ndarray:
    """Mean distance from each descriptor to its ``neighbours`` nearest archive members (Conti et al.,
    equation 2); 0 for a descriptor with a NaN (a failed candidate: never novel), inf with an empty
    archive.

    >>> novelty(np.array([[0.0], [3.0], [np.nan]]), np.array([[0.0], [1.0], [2.0]]), 2).tolist()
    [0.5, 1.5, 0.0]
    """
    d = np.asarray(descriptors, dtype=np.float64)
    valid = np.asarray(np.isfinite(d).all(axis=1))
    if len(archive) == 0:
        return np.where(valid, np.inf, 0.0)
    distance = np.sqrt(((np.where(valid[:, None], d, 0.0)[:, None, :] - archive[None]) ** 2).sum(axis=2))
    k = min(neighbours, len(archive))
    nearest = np.partition(distance, k - 1, axis=1)[:, :k]
    return np.where(valid, nearest.mean(axis=1), 0.0)


class NSESConfig(StrategyConfig):
    """Hyperparameters of NS-ES and its variants (defaults: the paper's MuJoCo settings, Table S1)."""

    population_size: int = Field(
        101, ge=3, description="Evaluations per generation: the perturbations plus the agent moved last."
    )
    agents: int = Field(5, ge=1, description="M: the meta-population's size.")
    sigma: float = Field(0.02, gt=0, description="Standard deviation of the perturbations.")
    learning_rate: float = Field(0.01, gt=0, description="Adam's step size on the chosen agent.")
    weight_decay: float = Field(0.005, ge=0, description="L2 coefficient pulling an agent to zero.")
    neighbours: int = Field(10, ge=1, description="k: the nearest archive members a novelty averages over.")
    reward_weight: float = Field(
        0.0, ge=0, le=1, description="w: 0 for NS-ES (novelty alone), 0.5 for NSR-ES; NSRA-ES's start."
    )
    adaptive: bool = Field(False, description="NSRA-ES: adapt reward_weight from the best reward's progress.")
    weight_step: float = Field(0.05, gt=0, le=1, description="NSRA-ES: the change of w.")
    patience: int = Field(10, ge=1, description="NSRA-ES: generations without improvement before w falls.")


@dataclass(frozen=True)
class NSESState(TypedState):
    """The agents, their Adam moments and last known BCs (NaN: not evaluated yet), the BC archive, the
    reward weight and progress (NSRA-ES), the agent being perturbed and the one evaluated again, and
    the noise of the last ask (until told)."""

    generation: int
    agents: np.ndarray  # (M, dim)
    m: np.ndarray  # (M, dim)
    v: np.ndarray  # (M, dim)
    steps: np.ndarray  # (M,) Adam's step count per agent
    agent_descriptors: np.ndarray | None  # (M, k), None before the first tell
    archive: np.ndarray | None  # (A, k)
    reward_weight: float
    best_reward: float
    stale: int
    chosen: int = 0
    moved: int = 0
    noise: np.ndarray | None = None
    array_fields: ClassVar[dict[str, str]] = {
        "agents": "float64",
        "m": "float64",
        "v": "float64",
        "steps": "int64",
        "agent_descriptors": "float64",
        "archive": "float64",
        "noise": "float64",
    }


class NSES(Strategy):
    """NS-ES, NSR-ES (``reward_weight: 0.5``) and NSRA-ES (``adaptive: true``).

    >>> es = NSES(NSESConfig(population_size=5, agents=2), VectorSpace(2, lambda r: np.zeros(2)))
    >>> state = es.init(np.random.default_rng(0))
    >>> state, genomes, _ = es.ask(state, np.random.default_rng(1))
    >>> len(genomes), bool(np.allclose(genomes[0] + genomes[2], 2 * genomes[4]))  # pairs, then the agent
    (5, True)
    """

    name = "ns_es"
    uses_descriptors = True
    convergence = (Convergence("sphere", 4, 300, 1e-2, _BUDGET),)
    config_class = NSESConfig
    config: NSESConfig
    state_class = NSESState

    @property
    def pairs(self) -> int:
        return (self.population_size - 1) // 2

    @property
    def odd(self) -> int:
        """1 if the perturbations are an odd number: the last one is drawn alone."""
        return (self.population_size - 1) % 2

    def init(self, rng: np.random.Generator) -> NSESState:
        m = self.config.agents
        agents = np.stack([np.asarray(self.space.initial_point(rng), dtype=np.float64) for _ in range(m)])
        zeros = np.zeros_like(agents)
        w = self.config.reward_weight
        return NSESState(0, agents, zeros, zeros.copy(), np.zeros(m, np.int64), None, None, w, -np.inf, 0)

    def _choose(self, state: NSESState, rng: np.random.Generator) -> int:
        """An agent with no BC yet (the first such), else one drawn with probability proportional to
        its novelty against the archive (section 3.1)."""
        if state.agent_descriptors is None:
            return 0
        unknown = np.flatnonzero(~np.isfinite(state.agent_descriptors).all(axis=1))
        if len(unknown):
            return int(unknown[0])
        archive = (
            state.archive if state.archive is not None else np.empty((0, state.agent_descriptors.shape[1]))
        )
        scores = novelty(state.agent_descriptors, archive, self.config.neighbours)
        total = scores.sum()
        if not np.isfinite(total) or total <= 0:
            return int(rng.integers(len(scores)))
        return int(rng.choice(len(scores), p=scores / total))

    def ask(self, state: NSESState, rng: np.random.Generator) -> Asked:
        chosen = self._choose(state, rng)
        half = rng.standard_normal((self.pairs, self.dim))
        noise = np.concatenate([half, -half, rng.standard_normal((self.odd, self.dim))])
        points = [*(state.agents[chosen] + self.config.sigma * noise), state.agents[state.moved]]
        genomes = [self.space.decode(x) for x in points]
        return Asked(state.with_(noise=noise, chosen=chosen), genomes, [()] * len(genomes))

    def tell(self, state: NSESState, genomes: list[Genome], fitness: np.ndarray) -> NSESState:
        c, noise = self.config, state.noise
        if noise is None:
            raise ValueError("tell() called without a matching ask()")
        told = np.asarray(fitness, dtype=np.float64)
        if told.ndim != 2 or told.shape[1] < 2:
            raise ValueError("ns_es is told fitness plus behaviour descriptor numbers per candidate")
        reward, descriptors = told[:-1, 0], told[:-1, 1:]
        # the agent moved last: its BC, known now, joins the archive (section 3.1, step "add b(pi) to A")
        known = state.agent_descriptors
        if known is None:
            known = np.full((c.agents, descriptors.shape[1]), np.nan)
        known = known.copy()
        archive = state.archive if state.archive is not None else np.empty((0, descriptors.shape[1]))
        agent_bc = told[-1, 1:]
        if np.isfinite(agent_bc).all():
            known[state.moved] = agent_bc
            archive = np.vstack([archive, agent_bc])
        # the chosen agent's step along the score of its perturbations (equations 3 and 4)
        score = centered_ranks(novelty(descriptors, archive, c.neighbours))
        w = state.reward_weight
        if w > 0:
            score = w * centered_ranks(reward) + (1 - w) * score
        k = state.chosen
        agent = state.agents[k]
        grad = score @ noise / (len(score) * c.sigma) - c.weight_decay * agent
        t = int(state.steps[k]) + 1
        step, m_k, v_k = adam_step(grad, state.m[k], state.v[k], t, c.learning_rate)
        agents, m, v, steps = state.agents.copy(), state.m.copy(), state.v.copy(), state.steps.copy()
        agents[k], m[k], v[k], steps[k] = agent + step, m_k, v_k, t
        # NSRA-ES (section 3.3): reward matters more while it improves, less once it stalls
        best, stale = state.best_reward, state.stale
        generation_best = float(np.max(told[:, 0]))
        if generation_best > best:
            best, stale = generation_best, 0
            if c.adaptive:
                w = min(1.0, w + c.weight_step)
        else:
            stale += 1
            if c.adaptive and stale >= c.patience:
                w, stale = max(0.0, w - c.weight_step), 0
        return NSESState(
            state.generation + 1, agents, m, v, steps, known, archive, w, best, stale, chosen=k, moved=k
        )

    def report(self, state: NSESState) -> dict[str, float]:
        size = 0 if state.archive is None else len(state.archive)
        return {"archive": size, "reward_weight": state.reward_weight, "agent": state.chosen}
