"""Where a run stands between generations: a typed value, saved with every checkpoint."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from evoforge.core.genome import genome_from_tree, genome_to_tree
from evoforge.core.hall_of_fame import HallOfFame
from evoforge.core.strategy import Strategy

__all__ = ["LoopState"]


@dataclass(frozen=True)
class LoopState:
    """The run loop's state after ``generation`` generations.

    ``validated`` maps genome ids to validation scores (filled in as members are validated);
    ``solver`` is the first individual that solved the task; ``in_flight`` and ``asked`` are the
    asynchronous loop's individuals asked for and not yet told, and how many were asked in all;
    ``stopped_by`` names the stop rule that ended the run early (fitness, solved, evaluations,
    seconds), empty while none has."""

    generation: int
    strategy: Any
    hof: HallOfFame
    context: dict[str, Any]
    env_steps: float = 0.0
    wall_seconds: float = 0.0
    stopped_early: bool = False
    validated: dict[str, float] = field(default_factory=dict)
    evaluations: int = 0
    solved: bool = False
    solver: str | None = None
    in_flight: list[dict[str, Any]] = field(default_factory=list)
    asked: int = 0
    stopped_by: str = ""

    def with_(self, **changes: Any) -> LoopState:
        return replace(self, **changes)

    def to_tree(self, strategy: Strategy) -> dict[str, Any]:
        """A tree :func:`evoforge.core.state_io.save_state` writes (the checkpoint format)."""
        tree = {f: getattr(self, f) for f in self.__dataclass_fields__}
        tree["strategy"] = strategy.state_to_tree(self.strategy)
        tree["hof"] = self.hof.to_tree()
        tree["in_flight"] = [
            dict(e, genome=genome_to_tree(e["genome"]), parents=list(e["parents"])) for e in self.in_flight
        ]
        return tree

    @classmethod
    def from_tree(cls, tree: dict[str, Any], strategy: Strategy) -> LoopState:
        """Inverse of :meth:`to_tree` (also reads checkpoints written before ``asked`` existed)."""
        in_flight = [
            dict(e, n=int(e["n"]), genome=genome_from_tree(e["genome"]), parents=tuple(e["parents"]))
            for e in tree.get("in_flight", [])
        ]
        return cls(
            generation=int(tree["generation"]),
            strategy=strategy.state_from_tree(tree["strategy"]),
            hof=HallOfFame.from_tree(tree["hof"]),
            context=tree["context"],
            env_steps=float(tree["env_steps"]),
            wall_seconds=float(tree["wall_seconds"]),
            stopped_early=bool(tree["stopped_early"]),
            validated={str(k): float(v) for k, v in tree["validated"].items()},
            evaluations=int(tree["evaluations"]),
            solved=bool(tree["solved"]),
            solver=tree.get("solver"),
            in_flight=in_flight,
            asked=int(tree.get("asked", 0)),
            stopped_by=str(tree.get("stopped_by", "")),
        )
