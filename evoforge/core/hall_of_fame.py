"""The hall of fame: the k best individuals ever seen, unique by content id."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from evoforge.core.genome import Genome, genome_from_tree, genome_to_tree

__all__ = ["HallOfFame", "Entry"]


@dataclass(frozen=True)
class Entry:
    """One remembered individual. ``score`` is the fitness converted to maximisation."""

    genome_id: str
    fitness: float
    score: float
    generation: int
    genome: Genome
    context: dict[str, Any] = field(default_factory=dict)


class HallOfFame:
    """Keeps the ``size`` best entries by score (ties: the earlier one stays ahead).

    >>> import numpy as np
    >>> hof = HallOfFame(2)
    >>> for i, s in enumerate([1.0, 3.0, 2.0]):
    ...     _ = hof.add(Entry(str(i), s, s, 0, np.zeros(1)))
    >>> [e.genome_id for e in hof]
    ['1', '2']
    """

    def __init__(self, size: int = 10, entries: list[Entry] | None = None):
        if size < 1:
            raise ValueError("hall of fame size must be >= 1")
        self.size = size
        self.entries: list[Entry] = list(entries or [])

    def add(self, entry: Entry) -> bool:
        """Insert ``entry`` if it is among the best and new; return whether it was kept."""
        if not self.would_keep(entry.score) or any(e.genome_id == entry.genome_id for e in self.entries):
            return False
        position = len(self.entries)
        for k, e in enumerate(self.entries):
            if entry.score > e.score:
                position = k
                break
        if position >= self.size:
            return False
        self.entries.insert(position, entry)
        del self.entries[self.size :]
        return True

    def would_keep(self, score: float) -> bool:
        """Whether an individual of ``score`` would enter (if it is new): the test that spares
        building an entry for most individuals."""
        if not math.isfinite(score):
            return False
        return len(self.entries) < self.size or score > self.entries[-1].score

    @property
    def best(self) -> Entry | None:
        return self.entries[0] if self.entries else None

    def __iter__(self):
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def to_tree(self) -> dict:
        items = []
        for e in self.entries:
            genome = genome_to_tree(e.genome)
            items.append(
                {
                    "genome_id": e.genome_id,
                    "fitness": e.fitness,
                    "score": e.score,
                    "generation": e.generation,
                    "genome": genome,
                    "context": e.context,
                }
            )
        return {"size": self.size, "entries": items}

    @classmethod
    def from_tree(cls, tree: dict) -> HallOfFame:
        entries = []
        for item in tree["entries"]:
            genome = genome_from_tree(item["genome"])
            entries.append(
                Entry(
                    item["genome_id"],
                    float(item["fitness"]),
                    float(item["score"]),
                    int(item["generation"]),
                    genome,
                    item.get("context") or {},
                )
            )
        return cls(int(tree["size"]), entries)
