"""NEAT: NeuroEvolution of Augmenting Topologies (Stanley & Miikkulainen 2002,
"Evolving Neural Networks through Augmenting Topologies", Evolutionary
Computation 10(2):99-127). The population lives as padded arrays and every step runs on the
whole population at once (:mod:`evoforge.spaces.neat_arrays`); the one-genome form of the same
strategy, kept as the reference these arrays are tested against, is
:mod:`evoforge.strategies.neat_reference`.

Per generation (section 3.3, and the reproduction scheme of the authors' NEAT
implementation that the paper's experiments ran):

* ``tell`` speciates the evaluated population: each genome joins the first
  species whose representative (a member of the previous generation) is within
  the compatibility threshold, else founds a species (section 3.3). The
  threshold can adapt toward a target number of species.
* ``ask`` breeds the next one: a species that has not improved for
  ``stagnation`` generations gets no offspring (the best species is spared);
  offspring are shared out in proportion to each species' summed *adjusted*
  fitness f_i / |S| (explicit fitness sharing, equation 2), with fitness shifted
  to be positive; the champion of every species larger than
  ``elitism_min_species_size`` is copied unchanged; parents are drawn from the
  best ``survival_threshold`` of the species; ``mutation_only_prob`` of the
  children are mutants of one parent, the rest crossovers (with another species
  at ``interspecies_prob``), of which ``mate_only_prob`` are not mutated.

Defaults are the paper's XOR settings (section 4.1, table of parameters):
population 150, c1 = c2 = 1.0, c3 = 0.4, threshold 3.0, stagnation 15, weight
mutation 0.8 (0.9 perturbed / 0.1 replaced), disabled-gene inheritance 0.75,
25% mutation without crossover, interspecies mating 0.001, add-node 0.03,
add-connection 0.05. Values the paper does not give (perturbation size, weight
range, survival fraction) are fields too, with neat-python's or the NEAT C++
package's values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import Field

from evoforge.core.genome import genome_from_tree
from evoforge.core.space import SearchSpace
from evoforge.core.strategy import Asked, Convergence, Strategy, StrategyConfig, TypedState
from evoforge.spaces import neat_arrays as ops
from evoforge.spaces.neat import NetworkSpace  # noqa: F401  (the doctest's)
from evoforge.spaces.neat_arrays import NeatPopulation

__all__ = ["NEAT", "NEATConfig", "NEATState"]

#: add-connection attempts per genome (as :func:`evoforge.spaces.neat.add_connection`)
ATTEMPTS = 20


class NEATConfig(StrategyConfig):
    """NEAT's coefficients; the defaults are the paper's (section 4.1) where it gives them."""

    population_size: int = Field(150, ge=2, description="Genomes per generation.")
    c1: float = Field(1.0, ge=0, description="Weight of excess genes in the compatibility distance (eq. 1).")
    c2: float = Field(1.0, ge=0, description="Weight of disjoint genes in the compatibility distance.")
    c3: float = Field(0.4, ge=0, description="Weight of the mean weight difference of matching genes.")
    compatibility_threshold: float = Field(
        3.0, gt=0, description="Distance under which a genome joins a species."
    )
    target_species: int | None = Field(
        None,
        ge=1,
        description="If set, the threshold moves by threshold_step each generation toward this count.",
    )
    threshold_step: float = Field(0.3, gt=0, description="Adjustment of the threshold per generation.")
    small_genome: int = Field(20, ge=1, description="Below this many genes, N = 1 in the distance (eq. 1).")
    weight_mutation_prob: float = Field(0.8, ge=0, le=1, description="Chance a child's weights are mutated.")
    weight_replace_prob: float = Field(
        0.1,
        ge=0,
        le=1,
        description="Per weight, when mutated: chance of a new value instead of a perturbation.",
    )
    weight_perturb_std: float = Field(
        2.5,
        gt=0,
        description="Standard deviation of a weight perturbation (not given in the paper; 2.5 is the NEAT C++ "
        "package's mutation power, and the best of 0.5/1/2/2.5 on XOR over 20 seeds: 5,131 mean evaluations "
        "with no failure, against 7,688 with 2 failures for 0.5).",
    )
    weight_init_std: float = Field(1.0, gt=0, description="Standard deviation of new weights.")
    weight_limit: float = Field(8.0, gt=0, description="Weights are clipped to [-limit, limit].")
    add_node_prob: float = Field(0.03, ge=0, le=1, description="Chance of an add-node mutation per child.")
    add_connection_prob: float = Field(0.05, ge=0, le=1, description="Chance of an add-connection mutation.")
    toggle_enable_prob: float = Field(
        0.0, ge=0, le=1, description="Chance of flipping one gene's enabled flag."
    )
    disable_inherited_prob: float = Field(
        0.75,
        ge=0,
        le=1,
        description="A gene disabled in either parent is disabled in the child with this chance.",
    )
    mutation_only_prob: float = Field(0.25, ge=0, le=1, description="Children made by mutation alone.")
    mate_only_prob: float = Field(0.2, ge=0, le=1, description="Crossover children left unmutated.")
    average_crossover_prob: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Crossovers whose matching genes take the mean of the parents' weights instead of "
        "one parent's (the paper picks at random; the NEAT C++ package averages in 40% of matings).",
    )
    interspecies_prob: float = Field(
        0.001, ge=0, le=1, description="Crossovers with a parent of another species."
    )
    stagnation: int = Field(
        15, ge=1, description="Generations without improvement before a species is dropped."
    )
    elitism_min_species_size: int = Field(
        5, ge=0, description="The champion of each species with more members than this is copied unchanged."
    )
    survival_threshold: float = Field(
        0.2, gt=0, le=1, description="Fraction of each species allowed to breed."
    )
    feed_forward: bool = Field(True, description="Forbid cycles (False: recurrent networks).")
    activation: Literal["sigmoid", "tanh", "relu", "identity"] = Field(
        "sigmoid", description="Node activation; sigmoid is the paper's 1 / (1 + exp(-4.9 x))."
    )


@dataclass(frozen=True)
class NEATState(TypedState):
    """A generation's networks (arrays) and fitness (None before the first), its species (each a
    record of ``id``, ``members`` (indices into the population), ``best`` and ``improved``, the
    generation its best last rose; species ``j``'s representative is row ``j`` of
    ``representatives``), the compatibility threshold, and the next species id, innovation number
    and node id."""

    generation: int
    population: NeatPopulation | None
    fitness: np.ndarray | None
    species: list[dict[str, Any]]
    representatives: NeatPopulation | None
    next_species: int
    threshold: float
    next_innov: int
    next_node: int


class NEAT(Strategy):
    """NEAT over a population of :class:`~evoforge.spaces.neat.NeatGenome` held as arrays (needs a
    problem with network inputs/outputs).

    >>> neat = NEAT(NEATConfig(population_size=10), NetworkSpace(2, 1))
    >>> state, genomes, parents = neat.ask(neat.init(np.random.default_rng(0)), np.random.default_rng(1))
    >>> len(genomes), len(genomes[0])
    (10, 3)
    """

    name = "neat"
    # below 3.75 every output is on the right side of 0.5: XOR solved
    convergence = (Convergence("xor", 2, 150, 3.75, {"population_size": 150}),)
    config_class = NEATConfig
    config: NEATConfig
    requires = frozenset({"network"})

    def __init__(self, config: NEATConfig, space: SearchSpace):
        super().__init__(config, space)
        self.n_inputs, self.n_outputs = space.inputs, space.outputs  # type: ignore[attr-defined]

    # -- state ---------------------------------------------------------------------------------------
    def init(self, rng: np.random.Generator) -> NEATState:
        return NEATState(
            generation=0,
            population=None,
            fitness=None,
            species=[],
            representatives=None,
            next_species=0,
            threshold=self.config.compatibility_threshold,
            next_innov=0,
            next_node=self.n_inputs + 1 + self.n_outputs,
        )

    # -- ask: breed the next generation ---------------------------------------------------------------
    def ask(self, state: NEATState, rng: np.random.Generator) -> Asked:
        if state.population is None:
            pop, next_node = self._initial(rng), state.next_node
            next_innov = int(pop.count[0])  # the initial connections took 0 .. n - 1
            parents: list[tuple[str, ...]] = [()] * len(pop)
        else:
            pop, parents, next_innov, next_node = self._reproduce(state, rng)
        new = state.with_(population=pop, next_innov=next_innov, next_node=next_node)
        return Asked(new, pop, parents)  # the population as one batch (evoforge.core.genome.GenomeBatch)

    def _initial(self, rng: np.random.Generator) -> NeatPopulation:
        """Every input and the bias connected to every output, no hidden node (section 3.4), with
        innovation numbers 0.. in the order of :func:`evoforge.spaces.neat.initial_genome`."""
        c, p = self.config, self.population_size
        n_in, n_out = self.n_inputs, self.n_outputs
        src = np.tile(np.arange(n_in + 1), n_out)
        dst = np.repeat(np.arange(n_in + 1, n_in + 1 + n_out), n_in + 1)
        n = src.size
        return NeatPopulation(
            n_in,
            n_out,
            count=np.full(p, n, np.int64),
            innov=np.tile(np.arange(n, dtype=np.int64), (p, 1)),
            src=np.tile(src, (p, 1)),
            dst=np.tile(dst, (p, 1)),
            weight=rng.normal(0.0, c.weight_init_std, (p, n)),
            enabled=np.ones((p, n), bool),
            hidden_count=np.zeros(p, np.int64),
            hidden=np.zeros((p, 0), np.int64),
            activation=c.activation,
            feed_forward=c.feed_forward,
        )

    def _reproduce(
        self, state: NEATState, rng: np.random.Generator
    ) -> tuple[NeatPopulation, list[tuple[str, ...]], int, int]:
        c = self.config
        pop = state.population
        assert pop is not None and state.fitness is not None
        fitness = np.asarray(state.fitness, dtype=np.float64)
        gen = state.generation
        best_of = [float(fitness[s["members"]].max()) for s in state.species]
        best_species = int(np.argmax(best_of))
        alive = [
            s for j, s in enumerate(state.species) if gen - s["improved"] < c.stagnation or j == best_species
        ]
        # Sharing needs positive fitness: raw fitness as in the paper when it is, shifted above zero
        # only when some fitness is negative (returns of RL tasks).
        shifted = fitness - min(0.0, float(fitness.min())) + 1e-9
        shares = np.array([shifted[s["members"]].sum() / len(s["members"]) for s in alive])  # eq. 2 summed
        counts = _apportion(shares, self.population_size)
        # members best first (ties: population order), and the best survival_threshold of them
        ranked = [s["members"][np.argsort(-fitness[s["members"]], kind="stable")] for s in alive]
        pools = [r[: max(1, math.ceil(c.survival_threshold * r.size))] for r in ranked]
        sizes = np.array([p.size for p in pools])
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        flat_pool = np.concatenate(pools)
        elite: list[int] = []
        first: list[np.ndarray] = []
        second: list[np.ndarray] = []
        crossed: list[np.ndarray] = []
        for k, (members, count) in enumerate(zip(ranked, counts, strict=True)):
            if count == 0:
                continue
            if members.size > c.elitism_min_species_size:
                elite.append(sum(part.size for part in first))  # the child's position
                first.append(members[:1])
                second.append(members[:1])
                crossed.append(np.zeros(1, bool))
                count -= 1
            pool = pools[k]
            a = pool[rng.integers(pool.size, size=count)]
            mates = ~((pool.size == 1) | (rng.random(count) < c.mutation_only_prob))
            b = pool[rng.integers(pool.size, size=count)]
            if len(alive) > 1:  # a mate from another species, at interspecies_prob
                other = rng.integers(len(alive) - 1, size=count)
                other += other >= k
                foreign = flat_pool[starts[other] + rng.integers(sizes[other])]
                b = np.where(rng.random(count) < c.interspecies_prob, foreign, b)
            first.append(a)
            second.append(np.where(mates, b, a))
            crossed.append(mates)
        a, b, mates = np.concatenate(first), np.concatenate(second), np.concatenate(crossed)
        is_elite = np.zeros(a.size, bool)
        is_elite[elite] = True
        # the fitter parent leads (ties: the smaller genome, as in the NEAT C++ package)
        a_first = (fitness[a] > fitness[b]) | ((fitness[a] == fitness[b]) & (pop.count[a] <= pop.count[b]))
        fitter, weaker = np.where(a_first, a, b), np.where(a_first, b, a)
        children = pop.take(a)
        rows = np.flatnonzero(mates)
        if rows.size:
            width = pop.innov.shape[1]
            average = rng.random(rows.size) < c.average_crossover_prob
            coin, disable = rng.random((rows.size, width)), rng.random((rows.size, width))
            born = ops.crossover(
                pop, fitter[rows], weaker[rows], coin, disable, average, c.disable_inherited_prob
            )
            children = children.assign(rows, born)
        mutated = ~is_elite & (~mates | (rng.random(a.size) >= c.mate_only_prob))
        children, next_innov, next_node = self._mutate(children, mutated, state, rng)
        ids = pop.ids()
        parents: list[tuple[str, ...]] = [
            (ids[x],) if not m else (ids[f], ids[w])
            for x, m, f, w in zip(a.tolist(), mates.tolist(), fitter.tolist(), weaker.tolist(), strict=True)
        ]
        return children, parents, next_innov, next_node

    def _mutate(
        self, pop: NeatPopulation, mutated: np.ndarray, state: NEATState, rng: np.random.Generator
    ) -> tuple[NeatPopulation, int, int]:
        """Per mutated child, in this order (as the reference's): add-node, add-connection, weights,
        toggle, each with its chance; innovation numbers for this generation's splits first, then
        for its new connections."""
        c = self.config
        p = len(pop)
        u = rng.random((p, 4))
        rows = np.flatnonzero(mutated & (u[:, 0] < c.add_node_prob))
        n_on = pop.enabled.sum(axis=1)[rows]
        pick = np.zeros(rows.size, np.int64)
        pick[n_on > 0] = rng.integers(n_on[n_on > 0])
        pop, next_node, next_innov = ops.add_node(pop, rows, pick, state.next_node, state.next_innov)
        rows = np.flatnonzero(mutated & (u[:, 1] < c.add_connection_prob))
        if rows.size:
            sources = (pop.fixed + pop.hidden_count[rows])[:, None]
            targets = (pop.n_outputs + pop.hidden_count[rows])[:, None]
            s_pick = rng.integers(sources, size=(rows.size, ATTEMPTS))
            t_pick = rng.integers(targets, size=(rows.size, ATTEMPTS))
            z = rng.standard_normal(rows.size)
            pop, next_innov = ops.add_connection(pop, rows, s_pick, t_pick, z, c.weight_init_std, next_innov)
        weights = mutated & (u[:, 2] < c.weight_mutation_prob)
        if weights.any():
            shape = pop.innov.shape
            replace_u, init_z, perturb_z = (
                rng.random(shape),
                rng.standard_normal(shape),
                rng.standard_normal(shape),
            )
            pop = ops.mutate_weights(
                pop, weights, replace_u, init_z, perturb_z,
                c.weight_replace_prob, c.weight_perturb_std, c.weight_init_std, c.weight_limit,
            )  # fmt: skip
        rows = np.flatnonzero(mutated & (u[:, 3] < c.toggle_enable_prob) & (pop.count > 0))
        if rows.size:
            pop = ops.toggle_enabled(pop, rows, rng.integers(pop.count[rows]))
        return pop, next_innov, next_node

    # -- tell: speciate ------------------------------------------------------------------------------
    def tell(self, state: NEATState, genomes: Any, fitness: np.ndarray) -> NEATState:
        c = self.config
        pop = state.population
        if pop is None or len(genomes) != len(pop):
            raise ValueError("tell expects the genomes of the last ask")
        fitness = np.asarray(fitness, dtype=np.float64)
        gen = state.generation
        n_old = len(state.species)
        # Distances to the representatives (members of the previous generation), all at once; a genome
        # joins the first species within the threshold, else the first species founded in this call
        # within it, else founds one (the order of section 3.3).
        to_rep = (
            ops.distance_matrix(pop, state.representatives, c.c1, c.c2, c.c3, c.small_genome)
            if state.representatives is not None and n_old
            else np.zeros((len(pop), 0))
        )
        near = to_rep < state.threshold
        joined = near.any(axis=1)
        label = np.where(joined, np.argmax(near, axis=1), -1) if n_old else np.full(len(pop), -1)
        # Founders: the first genome matching no species founds one, and every later unmatched genome
        # within the threshold of it joins it; then the next unmatched genome, and so on.
        founders: list[int] = []
        left = np.flatnonzero(~joined)
        while left.size:
            founder = int(left[0])
            d = ops.distance_matrix(
                pop.take(left), pop.take(np.array([founder])), c.c1, c.c2, c.c3, c.small_genome
            )
            inside = d[:, 0] < state.threshold
            inside[0] = True
            label[left[inside]] = n_old + len(founders)
            founders.append(founder)
            left = left[~inside]
        species, rep_rows = [], []
        for j in range(n_old + len(founders)):
            members = np.flatnonzero(label == j)
            if members.size == 0:
                continue
            if j < n_old:
                old = state.species[j]
                # the new representative: the member closest to the old one (deterministic, as
                # neat-python); a founder stays its species' representative
                rep_rows.append(int(members[np.argmin(to_rep[members, j])]))
                record = dict(old, members=members)
            else:
                rep_rows.append(founders[j - n_old])
                record = {"id": state.next_species + j - n_old, "members": members, "best": -math.inf,
                          "improved": gen}  # fmt: skip
            best = float(fitness[members].max())
            if best > record["best"]:
                record["best"], record["improved"] = best, gen
            species.append(record)
        threshold = state.threshold
        if c.target_species is not None:
            if len(species) > c.target_species:
                threshold += c.threshold_step
            elif len(species) < c.target_species:
                threshold = max(c.threshold_step, threshold - c.threshold_step)
        return state.with_(
            generation=gen + 1,
            fitness=fitness,
            species=species,
            representatives=pop.take(np.array(rep_rows, np.int64)),
            next_species=state.next_species + len(founders),
            threshold=threshold,
        )

    def report(self, state: NEATState) -> dict:
        """Species sizes (id -> members), the compatibility threshold and the largest genome."""
        pop = state.population
        return {
            "species": {str(s["id"]): int(len(s["members"])) for s in state.species},
            "threshold": float(state.threshold),
            "max_genes": int(pop.count.max(initial=0)) if pop is not None else 0,
            "max_hidden": int(pop.hidden_count.max(initial=0)) if pop is not None else 0,
        }

    # -- persistence ---------------------------------------------------------------------------------
    def state_to_tree(self, state: NEATState) -> dict[str, Any]:
        tree = state.to_tree()
        for name in ("population", "representatives"):
            value = getattr(state, name)
            tree[name] = None if value is None else value.to_tree()
        tree["species"] = [dict(s, best=_finite(s["best"])) for s in state.species]
        return tree

    def state_from_tree(self, tree: dict[str, Any]) -> NEATState:
        if "representatives" not in tree:  # a run checkpointed by the one-genome NEAT of earlier versions
            return _from_reference_tree(tree)
        pops = {
            name: None if tree[name] is None else NeatPopulation.from_tree(tree[name])
            for name in ("population", "representatives")
        }
        species = [
            dict(
                s,
                members=np.asarray(s["members"], np.int64),
                best=-math.inf if s["best"] is None else float(s["best"]),
            )
            for s in tree["species"]
        ]
        fitness = None if tree["fitness"] is None else np.asarray(tree["fitness"], np.float64)
        return NEATState(
            generation=int(tree["generation"]),
            population=pops["population"],
            fitness=fitness,
            species=species,
            representatives=pops["representatives"],
            next_species=int(tree["next_species"]),
            threshold=float(tree["threshold"]),
            next_innov=int(tree["next_innov"]),
            next_node=int(tree["next_node"]),
        )


def _from_reference_tree(tree: dict[str, Any]) -> NEATState:
    """The array state of a checkpoint written by the one-genome NEAT (genomes as trees)."""
    population = tree["population"]
    pop = (
        None if population is None else NeatPopulation.from_genomes([genome_from_tree(g) for g in population])
    )
    species = tree["species"]
    reps = [genome_from_tree(s["representative"]) for s in species]
    return NEATState(
        generation=int(tree["generation"]),
        population=pop,
        fitness=None if tree["fitness"] is None else np.asarray(tree["fitness"], np.float64),
        species=[
            {
                "id": s["id"],
                "members": np.asarray(s["members"], np.int64),
                "best": -math.inf if s["best"] is None else float(s["best"]),
                "improved": s["improved"],
            }
            for s in species
        ],  # fmt: skip
        representatives=NeatPopulation.from_genomes(reps) if reps else None,
        next_species=int(tree["next_species"]),
        threshold=float(tree["threshold"]),
        next_innov=int(tree["next_innov"]),
        next_node=int(tree["next_node"]),
    )


def _finite(x: float) -> float | None:
    return None if not math.isfinite(x) else x


def _apportion(shares: np.ndarray, total: int) -> list[int]:
    """``total`` split in proportion to ``shares`` by largest remainders.

    >>> _apportion(np.array([1.0, 1.0, 2.0]), 10)
    [3, 2, 5]
    """
    shares = np.asarray(shares, dtype=np.float64)
    exact = shares / shares.sum() * total if shares.sum() > 0 else np.full(len(shares), total / len(shares))
    counts = np.floor(exact).astype(int)
    for k in np.argsort(-(exact - counts), kind="stable")[: total - counts.sum()]:
        counts[k] += 1
    return counts.tolist()
