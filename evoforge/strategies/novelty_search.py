"""Novelty search (Lehman & Stanley 2011, "Abandoning objectives: evolution through the search for
novelty alone", Evolutionary Computation 19(2)) as a genetic algorithm over parameter vectors.

* A population of ``population_size`` vectors; each generation as many children, each a parent chosen
  by tournament on its score, plus Gaussian noise of standard deviation ``sigma``.
* The score is novelty (section 3.2, equation 1): the mean distance from a behaviour descriptor to its
  ``neighbours`` nearest among the current population, the new children and the archive; or a
  weighted mean of the centred ranks of reward and novelty (``reward_weight``; 0, pure novelty, is
  the paper's method).
* The archive keeps behaviours already found, so that novelty stays relative to where the search has
  been: a child joins when its novelty exceeds ``threshold`` (the paper's rho_min), which rises by
  20% when more than ``max_added`` join in one generation and falls by 5% after ``patience``
  generations in which none did (the paper's dynamic threshold, counted in generations); or
  (``archive: random``) each child joins with probability ``archive_rate``, which Gomes, Mariano &
  Christensen 2015 ("Devising effective novelty search algorithms", GECCO) found as good and which
  needs no scale.
* Survivors: the ``population_size`` best-scoring of parents and children (``replacement: plus``,
  the (mu + lambda) of Doncieux et al. 2019), or the children alone (``comma``, generational as the
  paper's NEAT is).

Where NS-ES (:mod:`evoforge.strategies.ns_es`) moves a few agents along a gradient of novelty, this
keeps a whole population spread over behaviours; the paper's mazes are solved by it. Reward is the
problem's fitness (column 0 of what the run tells), the descriptors the columns after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from evoforge.core.genome import Genome, genome_id
from evoforge.core.shaping import centered_ranks
from evoforge.core.space import VectorSpace  # noqa: F401  (the doctest's)
from evoforge.core.strategy import Asked, Convergence, Strategy, StrategyConfig, TypedState

__all__ = ["NoveltySearch", "NoveltySearchConfig", "sparseness"]

#: the settings of its conformance budget: rewarded too, since pure novelty does not optimise
_BUDGET = {"population_size": 32, "sigma": 0.05, "reward_weight": 0.8, "archive": "random"}


def sparseness(
    descriptors: np.ndarray, reference: np.ndarray, neighbours: int, self_first: bool
) -> np.ndarray:
    """Mean distance from each descriptor to its ``neighbours`` nearest rows of ``reference``
    (Lehman & Stanley, equation 1). With ``self_first`` the descriptors are the first rows of
    ``reference`` and a row is not its own neighbour. A descriptor with a NaN (a failed candidate)
    scores 0 and is nobody's neighbour; with no neighbour at all a descriptor scores inf.

    >>> b = np.array([[0.0], [1.0], [3.0], [np.nan]])
    >>> sparseness(b, b, 1, self_first=True).tolist()
    [1.0, 1.0, 2.0, 0.0]
    """
    d = np.asarray(descriptors, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    valid = np.asarray(np.isfinite(d).all(axis=1))
    ref_valid = np.asarray(np.isfinite(ref).all(axis=1))
    diff = np.where(valid[:, None], d, 0.0)[:, None, :] - np.where(ref_valid[:, None], ref, 0.0)[None]
    distance = np.sqrt((diff**2).sum(axis=2))
    distance[:, ~ref_valid] = np.inf
    if self_first:
        distance[np.arange(len(d)), np.arange(len(d))] = np.inf
    k = min(neighbours, int(ref_valid.sum()) - (1 if self_first else 0))
    if k <= 0:
        return np.where(valid, np.inf, 0.0)
    nearest = np.partition(distance, k - 1, axis=1)[:, :k]
    with np.errstate(invalid="ignore"):
        score = nearest.mean(axis=1)
    return np.where(valid, score, 0.0)


class NoveltySearchConfig(StrategyConfig):
    """Hyperparameters of novelty search (defaults: the paper's maze settings where they carry over)."""

    population_size: int = Field(250, ge=2, description="Parents kept, and children per generation.")
    sigma: float = Field(0.1, gt=0, description="Standard deviation of the Gaussian mutation.")
    tournament_size: int = Field(2, ge=1, description="Entrants per tournament choosing a parent.")
    neighbours: int = Field(15, ge=1, description="k: the nearest behaviours a novelty averages over.")
    reward_weight: float = Field(
        0.0,
        ge=0,
        le=1,
        description="w: score = w * rank(reward) + (1 - w) * rank(novelty); 0 is the paper's.",
    )
    replacement: Literal["plus", "comma"] = Field(
        "plus", description="Survivors: the best of parents and children, or the children alone."
    )
    archive: Literal["threshold", "random"] = Field(
        "threshold", description="Who joins the archive: novelty above a dynamic threshold, or a random few."
    )
    threshold: float = Field(
        6.0, gt=0, description="rho_min at the start (archive: threshold), in the descriptors' units."
    )
    max_added: int = Field(4, ge=0, description="More joining in one generation raise the threshold 20%.")
    patience: int = Field(10, ge=1, description="Generations with none joining before it falls 5%.")
    archive_rate: float = Field(0.02, gt=0, le=1, description="Chance a child joins (archive: random).")


@dataclass(frozen=True)
class NoveltySearchState(TypedState):
    """The population (parameters, rewards, descriptors, scores), the archive of descriptors, its
    threshold and the generations since one joined, and the children of the last ask with the numbers
    drawn for their archive entry (until told)."""

    generation: int
    params: np.ndarray | None = None  # (N, dim), None before the first tell
    reward: np.ndarray | None = None  # (N,)
    descriptors: np.ndarray | None = None  # (N, k)
    score: np.ndarray | None = None  # (N,) what tournaments compare
    archive: np.ndarray | None = None  # (A, k)
    threshold: float = 0.0
    idle: int = 0
    children: np.ndarray | None = None
    # (lambda,) uniforms of the last ask: a child joins a "random" archive if its number is below the rate
    draws: np.ndarray | None = None
    array_fields: ClassVar[dict[str, str]] = {
        "params": "float64",
        "reward": "float64",
        "descriptors": "float64",
        "score": "float64",
        "archive": "float64",
        "children": "float64",
        "draws": "float64",
    }


class NoveltySearch(Strategy):
    """Novelty search: a GA selecting on the novelty of behaviours, with an archive.

    >>> ns = NoveltySearch(NoveltySearchConfig(population_size=4), VectorSpace(2, lambda r: np.zeros(2)))
    >>> state, genomes, _ = ns.ask(ns.init(np.random.default_rng(0)), np.random.default_rng(1))
    >>> told = np.column_stack([np.zeros(4), [[0.0, 0], [0, 9], [0, 10], [20, 0]]])  # reward, (x, y)
    >>> state = ns.tell(state, genomes, told)
    >>> state.descriptors.tolist()  # the survivors, most novel first: the loner at (20, 0) leads
    [[20.0, 0.0], [0.0, 0.0], [0.0, 10.0], [0.0, 9.0]]
    >>> len(state.archive), state.threshold  # all four above rho_min = 6 joined; 4 is not "more than 4"
    (4, 6.0)
    """

    name = "novelty_search"
    uses_descriptors = True
    convergence = (Convergence("sphere", 4, 300, 1e-2, _BUDGET),)
    config_class = NoveltySearchConfig
    config: NoveltySearchConfig
    state_class = NoveltySearchState

    def init(self, rng: np.random.Generator) -> NoveltySearchState:
        return NoveltySearchState(0, threshold=self.config.threshold)

    def ask(self, state: NoveltySearchState, rng: np.random.Generator) -> Asked:
        n = self.population_size
        if state.params is None:  # the first generation: drawn from the search space
            children = np.stack(
                [np.asarray(self.space.initial_point(rng), dtype=np.float64) for _ in range(n)]
            )
            parents: list[tuple[str, ...]] = [()] * n
        else:
            score = np.asarray(state.score)
            entrants = rng.integers(len(score), size=(n, self.config.tournament_size))
            chosen = entrants[np.arange(n), np.argmax(score[entrants], axis=1)]
            x = state.params[chosen]
            children = x + self.config.sigma * rng.standard_normal(x.shape)
            ids = {int(k): genome_id(self.space.decode(state.params[k])) for k in set(chosen.tolist())}
            parents = [(ids[int(k)],) for k in chosen]
        genomes = [self.space.decode(x) for x in children]
        draws = rng.random(n)
        return Asked(state.with_(children=children, draws=draws), genomes, parents)

    def tell(
        self, state: NoveltySearchState, genomes: list[Genome], fitness: np.ndarray
    ) -> NoveltySearchState:
        c = self.config
        children = state.children
        if children is None:
            raise ValueError("tell() called without a matching ask()")
        told = np.asarray(fitness, dtype=np.float64)
        if told.ndim != 2 or told.shape[1] < 2:
            raise ValueError("novelty_search is told fitness plus behaviour descriptor numbers per candidate")
        reward = np.nan_to_num(told[:, 0], nan=-np.inf)
        descriptors = told[:, 1:]
        archive = state.archive if state.archive is not None else np.empty((0, descriptors.shape[1]))
        pool, pool_reward, pool_bc, reference = children, reward, descriptors, descriptors
        if state.params is not None and state.reward is not None and state.descriptors is not None:
            if c.replacement == "plus":  # parents and children compete, scored among them all
                pool = np.vstack([state.params, children])
                pool_reward = np.concatenate([state.reward, reward])
                pool_bc = reference = np.vstack([state.descriptors, descriptors])
            else:  # children alone survive, scored among themselves and their parents
                reference = np.vstack([descriptors, state.descriptors])
        novelty = sparseness(pool_bc, np.vstack([reference, archive]), c.neighbours, self_first=True)
        # the archive: the children that join it (scored before they do)
        child_novelty = novelty[len(pool) - len(descriptors) :]
        valid = np.isfinite(descriptors).all(axis=1)
        threshold, idle = state.threshold, state.idle
        if c.archive == "threshold":
            joins = valid & (child_novelty > threshold)
            if joins.sum() > c.max_added:
                threshold, idle = threshold * 1.2, 0
            elif joins.any():
                idle = 0
            else:
                idle += 1
                if idle >= c.patience:
                    threshold, idle = threshold * 0.95, 0
        else:
            joins = valid & (np.asarray(state.draws) < c.archive_rate)
        archive = np.vstack([archive, descriptors[joins]])
        finite_novelty = np.where(np.isinf(novelty), np.finfo(np.float64).max, novelty)
        score = centered_ranks(finite_novelty)
        if c.reward_weight > 0:
            score = c.reward_weight * centered_ranks(pool_reward) + (1 - c.reward_weight) * score
        keep = np.argsort(-score, kind="stable")[: self.population_size]
        return NoveltySearchState(
            state.generation + 1,
            pool[keep],
            pool_reward[keep],
            pool_bc[keep],
            score[keep],
            archive,
            threshold,
            idle,
        )

    def report(self, state: NoveltySearchState) -> dict[str, float]:
        size = 0 if state.archive is None else len(state.archive)
        return {"archive": size, "threshold": state.threshold}
