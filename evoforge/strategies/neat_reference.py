"""NEAT one genome at a time: the reference the array strategy :class:`evoforge.strategies.neat.NEAT`
is tested and measured against (Stanley & Miikkulainen 2002, "Evolving Neural Networks through
Augmenting Topologies", Evolutionary Computation 10(2):99-127). The same scheme, settings and
defaults (see :mod:`evoforge.strategies.neat`), with each genome an object and the operators of
:mod:`evoforge.spaces.neat` applied one genome at a time. Registered as ``neat_reference`` so that a
benchmark can run the two side by side (``strategy.name=neat_reference``). Not a subclass of the
array strategy: its state is another type, so every method differs.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from evoforge.core.genome import genome_from_tree, genome_id, genome_to_tree
from evoforge.core.space import SearchSpace
from evoforge.core.strategy import Asked, Convergence, Strategy, TypedState
from evoforge.spaces.neat import (
    InnovationTracker,
    NeatGenome,
    NetworkSpace,  # noqa: F401  (the doctest's)
    add_connection,
    add_node,
    crossover,
    distance,
    distance_matrix,
    initial_genome,
    mutate_weights,
    toggle_enabled,
)
from evoforge.strategies.neat import NEATConfig, _apportion, _finite

__all__ = ["NEATReference"]


def _distance_to(distances: np.ndarray, member: int) -> float:
    return float(distances[member])


@dataclass(frozen=True)
class NEATState(TypedState):
    """A generation's networks and fitness (None before the first), its species (each a record of
    ``id``, ``representative``, ``members`` (indices into the population), ``best`` and ``improved``,
    the generation its best last rose), the compatibility threshold, and the next species id,
    innovation number and node id."""

    generation: int
    population: list[NeatGenome] | None
    fitness: np.ndarray | None
    species: list[dict[str, Any]]
    next_species: int
    threshold: float
    next_innov: int
    next_node: int
    genome_fields: ClassVar[tuple[str, ...]] = ("population",)
    array_fields: ClassVar[dict[str, str]] = {"fitness": "float64"}


class NEATReference(Strategy):
    """NEAT over :class:`~evoforge.spaces.neat.NeatGenome` (needs a problem with network inputs/outputs).

    >>> neat = NEATReference(NEATConfig(population_size=10), NetworkSpace(2, 1))
    >>> state, genomes, parents = neat.ask(neat.init(np.random.default_rng(0)), np.random.default_rng(1))
    >>> len(genomes), len(genomes[0])
    (10, 3)
    """

    name = "neat_reference"
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
            next_species=0,
            threshold=self.config.compatibility_threshold,
            next_innov=0,
            next_node=self.n_inputs + 1 + self.n_outputs,
        )

    def _tracker(self, state: NEATState) -> InnovationTracker:
        return InnovationTracker(self.n_inputs, self.n_outputs, state.next_innov, state.next_node)

    # -- ask: breed the next generation ---------------------------------------------------------------
    def ask(self, state: NEATState, rng: np.random.Generator) -> Asked:
        c = self.config
        tracker = self._tracker(state)
        if state.population is None:
            genomes = [
                initial_genome(
                    self.n_inputs,
                    self.n_outputs,
                    rng,
                    tracker,
                    c.weight_init_std,
                    c.activation,
                    c.feed_forward,
                )
                for _ in range(self.population_size)
            ]
            parents: list[tuple[str, ...]] = [()] * len(genomes)
        else:
            genomes, parents = self._reproduce(state, rng, tracker)
        new = state.with_(population=genomes, next_innov=tracker.next_innov, next_node=tracker.next_node)
        return Asked(new, genomes, parents)

    def _reproduce(
        self, state: NEATState, rng: np.random.Generator, tracker: InnovationTracker
    ) -> tuple[list[NeatGenome], list[tuple[str, ...]]]:
        c = self.config
        population, fitness = state.population or [], np.asarray(state.fitness, dtype=np.float64)
        gen = state.generation
        best_species = max(state.species, key=lambda s: max(fitness[m] for m in s["members"]))
        alive = [s for s in state.species if gen - s["improved"] < c.stagnation or s is best_species]
        # Sharing needs positive fitness: raw fitness as in the paper when it is, shifted above zero
        # only when some fitness is negative (returns of RL tasks).
        shifted = fitness - min(0.0, float(fitness.min())) + 1e-9
        shares = np.array([shifted[s["members"]].sum() / len(s["members"]) for s in alive])  # eq. 2 summed
        counts = _apportion(shares, self.population_size)
        ranked = {id(s): sorted(s["members"], key=lambda m: -fitness[m]) for s in alive}
        survivors = {
            id(s): ranked[id(s)][: max(1, math.ceil(c.survival_threshold * len(s["members"])))] for s in alive
        }
        ids = [genome_id(g) for g in population]
        children: list[NeatGenome] = []
        parents: list[tuple[str, ...]] = []
        for s, count in zip(alive, counts, strict=True):
            if count == 0:
                continue
            members = ranked[id(s)]
            if len(members) > c.elitism_min_species_size:
                children.append(population[members[0]])
                parents.append((ids[members[0]],))
                count -= 1
            pool = survivors[id(s)]
            for _ in range(count):
                a = pool[int(rng.integers(len(pool)))]
                if len(pool) == 1 or rng.random() < c.mutation_only_prob:
                    children.append(self._mutate(population[a], rng, tracker))
                    parents.append((ids[a],))
                    continue
                if rng.random() < c.interspecies_prob and len(alive) > 1:
                    others = [x for x in alive if x is not s]
                    other_pool = survivors[id(others[int(rng.integers(len(others)))])]
                    b = other_pool[int(rng.integers(len(other_pool)))]
                else:
                    b = pool[int(rng.integers(len(pool)))]
                fitter, weaker = (a, b) if _fitter(population, fitness, a, b) else (b, a)
                average = c.average_crossover_prob > 0 and rng.random() < c.average_crossover_prob
                child = crossover(
                    population[fitter], population[weaker], rng, c.disable_inherited_prob, average
                )
                if rng.random() >= c.mate_only_prob:
                    child = self._mutate(child, rng, tracker)
                children.append(child)
                parents.append((ids[fitter], ids[weaker]))
        return children, parents

    def _mutate(self, g: NeatGenome, rng: np.random.Generator, tracker: InnovationTracker) -> NeatGenome:
        c = self.config
        if rng.random() < c.add_node_prob:
            g = add_node(g, rng, tracker)
        if rng.random() < c.add_connection_prob:
            g = add_connection(g, rng, tracker, c.feed_forward, c.weight_init_std)
        if rng.random() < c.weight_mutation_prob:
            g = mutate_weights(
                g, rng, c.weight_replace_prob, c.weight_perturb_std, c.weight_init_std, c.weight_limit
            )
        if rng.random() < c.toggle_enable_prob:
            g = toggle_enabled(g, rng)
        return g

    # -- tell: speciate ------------------------------------------------------------------------------
    def tell(self, state: NEATState, genomes: list[NeatGenome], fitness: np.ndarray) -> NEATState:
        c = self.config
        fitness = np.asarray(fitness, dtype=np.float64)
        gen = state.generation
        species = [dict(s, members=[]) for s in state.species]
        next_species = state.next_species
        # Distances to the representatives (members of the previous generation), all at once; a genome
        # joins the first species within the threshold, else the first species founded in this call
        # within it, else founds one (the order of section 3.3).
        to_rep = distance_matrix(
            genomes, [s["representative"] for s in species], c.c1, c.c2, c.c3, c.small_genome
        )
        founded: list[dict] = []
        for i, g in enumerate(genomes):
            near = np.flatnonzero(to_rep[i] < state.threshold)
            if near.size:
                species[int(near[0])]["members"].append(i)
                continue
            for s in founded:
                if distance(g, s["representative"], c.c1, c.c2, c.c3, c.small_genome) < state.threshold:
                    s["members"].append(i)
                    break
            else:
                founded.append(
                    {
                        "id": next_species,
                        "representative": g,
                        "members": [i],
                        "best": -math.inf,
                        "improved": gen,
                    }
                )
                next_species += 1
        for j, s in enumerate(species):
            if s["members"]:
                # the new representative: the member closest to the old one (deterministic, as
                # neat-python); a founder stays its species' representative
                closest = min(s["members"], key=functools.partial(_distance_to, to_rep[:, j]))
                s["representative"] = genomes[closest]
        species = [s for s in species if s["members"]] + founded
        for s in species:
            best = float(fitness[s["members"]].max())
            if best > s["best"]:
                s["best"], s["improved"] = best, gen
        threshold = state.threshold
        if c.target_species is not None:
            if len(species) > c.target_species:
                threshold += c.threshold_step
            elif len(species) < c.target_species:
                threshold = max(c.threshold_step, threshold - c.threshold_step)
        return state.with_(
            generation=gen + 1,
            population=list(genomes),
            fitness=fitness,
            species=species,
            next_species=next_species,
            threshold=threshold,
        )

    def report(self, state: NEATState) -> dict:
        """Species sizes (id -> members), the compatibility threshold and the largest genome."""
        population = state.population or []
        return {
            "species": {str(s["id"]): len(s["members"]) for s in state.species},
            "threshold": float(state.threshold),
            "max_genes": max((len(g) for g in population), default=0),
            "max_hidden": max((len(g.hidden) for g in population), default=0),
        }

    # -- persistence ---------------------------------------------------------------------------------
    def state_to_tree(self, state: NEATState) -> dict[str, Any]:
        tree = state.to_tree()
        tree["species"] = [
            dict(sp, representative=genome_to_tree(sp["representative"]), best=_finite(sp["best"]))
            for sp in state.species
        ]
        return tree

    def state_from_tree(self, tree: dict[str, Any]) -> NEATState:
        species = [
            dict(
                sp,
                representative=genome_from_tree(sp["representative"]),
                members=[int(m) for m in sp["members"]],
                best=-math.inf if sp["best"] is None else float(sp["best"]),
            )
            for sp in tree["species"]
        ]
        return NEATState.from_tree(dict(tree, species=[])).with_(species=species)


def _fitter(population: list[NeatGenome], fitness: np.ndarray, a: int, b: int) -> bool:
    """Whether ``a`` is the fitter parent (ties: the smaller genome, as in the NEAT C++ package)."""
    if fitness[a] != fitness[b]:
        return bool(fitness[a] > fitness[b])
    return len(population[a]) <= len(population[b])
