"""Scikit-learn pipelines as genomes: one step per slot (imputation, encoding, scaling, feature
selection, feature extraction, model), each with its hyperparameters (see
:mod:`evoforge.spaces.pipeline_steps` for the catalogue).

Every genome of a :class:`PipelineSpace` builds a real ``sklearn.pipeline.Pipeline``: numeric columns
are imputed and scaled, string columns imputed (most frequent) and encoded, side by side in a
``ColumnTransformer``; then selection, extraction and the model. The space is built for one table
(its :class:`~evoforge.spaces.pipeline_steps.Facts`) and offers only the steps that fit it, so
sampling, mutation and crossover (slot by slot) can only make pipelines that fit.

The same description builds the pipeline (:func:`describe_pipeline` then ``.build()``) and writes it
as a Python script (:func:`python_source`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from evoforge.core.genome import register_genome
from evoforge.core.space import SearchSpace
from evoforge.spaces.pipeline_steps import SLOTS, STARTS, STEPS, Facts, Make, Ref, Step, steps_for

__all__ = [
    "Pipeline",
    "PipelineSpace",
    "PipelineSpaceConfig",
    "describe_pipeline",
    "python_source",
]

Params = tuple[tuple[str, Any], ...]


@register_genome
@dataclass(frozen=True)
class Pipeline:
    """One step per slot, in :data:`SLOTS` order: ``(slot, step name, sorted (name, value) pairs)``.

    >>> p = Pipeline.from_json({"steps": [{"slot": "model", "step": "knn", "params": {"p": 1}}]})
    Traceback (most recent call last):
    ValueError: pipeline: expected the slots impute, encode, scale, select, extract, model in order, got model
    """

    encoding: ClassVar[str] = "pipeline"
    steps: tuple[tuple[str, str, Params], ...]

    def step(self, slot: str) -> tuple[str, dict[str, Any]]:
        """(step name, hyperparameters) of ``slot``."""
        for s, name, params in self.steps:
            if s == slot:
                return name, dict(params)
        raise KeyError(slot)

    def with_step(self, slot: str, name: str, params: dict[str, Any]) -> Pipeline:
        return Pipeline(
            tuple(
                (s, name, tuple(sorted(params.items()))) if s == slot else (s, n, p) for s, n, p in self.steps
            )
        )

    def to_json(self) -> dict[str, Any]:
        return {"steps": [{"slot": s, "step": n, "params": dict(p)} for s, n, p in self.steps]}

    @classmethod
    def from_json(cls, data: Any) -> Pipeline:
        """The pipeline of ``to_json``'s form; ``ValueError`` (one line) for anything else."""
        steps = data.get("steps") if isinstance(data, dict) else None
        if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
            raise ValueError("pipeline: expected {'steps': [{'slot', 'step', 'params'}, ...]}")
        slots = [s.get("slot") for s in steps]
        if slots != list(SLOTS):
            raise ValueError(
                f"pipeline: expected the slots {', '.join(SLOTS)} in order, got {', '.join(map(str, slots))}"
            )
        out = []
        for s in steps:
            name, params = s.get("step"), s.get("params", {})
            known = {step.name for step in STEPS[s["slot"]]}
            if name not in known:
                raise ValueError(
                    f"pipeline: {s['slot']} step {name!r} is not one of {', '.join(sorted(known))}"
                )
            if not isinstance(params, dict):
                raise ValueError(f"pipeline: the params of {s['slot']} step {name!r} must be a mapping")
            out.append((s["slot"], name, tuple(sorted(params.items()))))
        return cls(tuple(out))

    def size(self) -> int:
        """Steps that transform the data (imputation by mean or median, and empty slots, are free)."""
        return sum(_step(slot, name).active for slot, name, _ in self.steps)

    def __str__(self) -> str:
        parts = []
        for slot, name, params in self.steps:
            if not _step(slot, name).active and not params:
                continue
            args = ", ".join(f"{k}={v!r}" for k, v in params)
            parts.append(f"{name}({args})" if args else name)
        return " > ".join(parts)


def _step(slot: str, name: str) -> Step:
    """A step of the catalogue by slot and name (for either task: they share flags and names)."""
    return next(step for step in STEPS[slot] if step.name == name)


class PipelineSpaceConfig(BaseModel):
    """Which steps the search may use: by default every step that fits the table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Per slot (impute, encode, scale, extract, select, model), the steps allowed; a slot "
        "not named keeps every step that fits the table. E.g. {model: [svc, random_forest]}.",
    )
    change_step: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Mutation: chance of replacing a slot's step (with fresh hyperparameters) rather than "
        "perturbing one of its hyperparameters.",
    )

    @field_validator("steps")
    @classmethod
    def _known(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for slot, names in value.items():
            if slot not in SLOTS:
                raise ValueError(f"unknown slot {slot!r} (slots: {', '.join(SLOTS)})")
            known = {step.name for step in STEPS[slot]}
            unknown = sorted(set(names) - known)
            if unknown:
                raise ValueError(f"unknown {slot} step {unknown[0]!r} (known: {', '.join(sorted(known))})")
            if not names:
                raise ValueError(f"slot {slot}: name at least one step")
        return value


class PipelineSpace(SearchSpace):
    """The pipelines that fit one table (see the module docstring)."""

    offers = frozenset({"sample", "mutate", "crossover"})
    describes = "pipeline"
    export_name = "best_pipeline.json"

    def __init__(self, config: PipelineSpaceConfig, facts: Facts):
        self.config, self.facts = config, facts
        self.choices: dict[str, dict[str, Step]] = {}
        for slot in SLOTS:
            fitting = steps_for(slot, facts)
            allowed = config.steps.get(slot)
            chosen = {n: s for n, s in fitting.items() if allowed is None or n in allowed}
            if not chosen:
                wanted = ", ".join(allowed or [])
                raise ValueError(
                    f"no {slot} step fits this table among {wanted} (fitting: {', '.join(sorted(fitting))})"
                )
            self.choices[slot] = chosen

    def sample(self, rng: np.random.Generator) -> Pipeline:
        steps = []
        for slot in SLOTS:
            names = sorted(self.choices[slot])
            name = names[int(rng.integers(len(names)))]
            steps.append(
                (slot, name, tuple(sorted(self.choices[slot][name].sample(rng, self.facts).items())))
            )
        return Pipeline(tuple(steps))

    def first(self, index: int, rng: np.random.Generator) -> Pipeline:
        """The untuned defaults of :data:`STARTS` that this space offers, then samples."""
        starts = self.starts()
        return starts[index] if index < len(starts) else self.sample(rng)

    def starts(self) -> list[Pipeline]:
        """The pipelines of :data:`STARTS` whose steps this space offers, in that order."""
        found = []
        encode = "onehot" if self.facts.categorical else "none"
        for model, scale in STARTS[self.facts.task]:
            step = self.choices["model"].get(model)
            wanted = {
                "impute": "median",
                "encode": encode,
                "scale": scale,
                "select": "none",
                "extract": "none",
            }
            if (
                step is None
                or step.defaults is None
                or any(name not in self.choices[slot] for slot, name in wanted.items())
            ):
                continue
            params = {
                "encode": {"min_frequency": None} if encode == "onehot" else {},
                "model": step.defaults(self.facts),
            }
            found.append(
                Pipeline(
                    tuple(
                        (slot, wanted.get(slot, model), tuple(sorted(params.get(slot, {}).items())))
                        for slot in SLOTS
                    )
                )
            )
        return [p for p in found if self.violation(p) is None]

    def mutate(self, genome: Pipeline, rng: np.random.Generator) -> Pipeline:
        """One slot changes: its step (with fresh hyperparameters) or one hyperparameter."""
        slots = [s for s in SLOTS if len(self.choices[s]) > 1 or self.choices[s][genome.step(s)[0]].params]
        slot = slots[int(rng.integers(len(slots)))]
        name, params = genome.step(slot)
        step = self.choices[slot][name]
        if not step.params or (len(self.choices[slot]) > 1 and rng.random() < self.config.change_step):
            others = sorted(n for n in self.choices[slot] if n != name)
            new = others[int(rng.integers(len(others)))]
            return genome.with_step(slot, new, self.choices[slot][new].sample(rng, self.facts))
        key = sorted(step.params)[int(rng.integers(len(step.params)))]
        return genome.with_step(
            slot, name, {**params, key: step.spec(key, self.facts).perturb(params[key], rng)}
        )

    def crossover(self, a: Pipeline, b: Pipeline, rng: np.random.Generator) -> Pipeline:
        """Each slot (step and hyperparameters together) from one parent or the other."""
        pick = rng.random(len(SLOTS)) < 0.5
        return Pipeline(tuple(x if take else y for x, y, take in zip(a.steps, b.steps, pick, strict=True)))

    def violation(self, genome: Pipeline) -> str | None:
        """Why ``genome`` does not belong to this space (a step that does not fit the table, a
        hyperparameter missing or out of range), or None."""
        for slot, name, params in genome.steps:
            step = self.choices[slot].get(name)
            if step is None:
                return f"{slot} step {name!r} does not fit this table (fitting: {', '.join(sorted(self.choices[slot]))})"
            given = dict(params)
            if set(given) != set(step.params):
                return f"{slot} step {name!r} takes {sorted(step.params)}, got {sorted(given)}"
            for key, value in given.items():
                if not step.spec(key, self.facts).check(value):
                    return f"{slot} step {name!r}: {key}={value!r} is outside {step.spec(key, self.facts)}"
        return None


def describe_pipeline(
    genome: Pipeline, facts: Facts, numeric: list[str], categorical: list[str], seed: int
) -> Make:
    """The ``sklearn.pipeline.Pipeline`` of ``genome`` for a table with these columns, as a
    :class:`Make` (``.build()`` makes it). ``seed`` is every random step's ``random_state``."""

    def made(slot: str) -> Make | None:
        name, params = genome.step(slot)
        return _step_for(slot, name, facts).build(params, facts, seed)

    branches = []
    if numeric:
        steps = [("impute", made("impute")), ("scale", made("scale"))]
        branches.append(("numeric", _pipeline(steps), list(numeric)))
    if categorical:
        steps = [
            ("impute", Make("sklearn.impute:SimpleImputer", {"strategy": "most_frequent"})),
            ("encode", made("encode")),
        ]
        branches.append(("categorical", _pipeline(steps), list(categorical)))
    prepare = Make(
        "sklearn.compose:ColumnTransformer",
        {"transformers": branches, "remainder": "drop", "sparse_threshold": 0.0},
    )
    steps = [("prepare", prepare)] + [(slot, made(slot)) for slot in ("select", "extract", "model")]
    return _pipeline(steps)


def _step_for(slot: str, name: str, facts: Facts) -> Step:
    step = steps_for(slot, facts).get(name)
    if step is None:
        raise ValueError(f"{slot} step {name!r} does not fit this table")
    return step


def _pipeline(steps: list[tuple[str, Make | None]]) -> Make:
    kept = [(name, make) for name, make in steps if make is not None]
    return Make("sklearn.pipeline:Pipeline", {"steps": kept or [("identity", "passthrough")]})


def python_source(make: Make, header: str = "") -> str:
    """``make`` as a Python script that builds it as ``pipeline`` (the imports, then one
    expression)."""
    imports: dict[str, set[str]] = {}
    requires: list[str] = []

    def render(value: Any, indent: int) -> str:
        pad = " " * indent
        if isinstance(value, (Make, Ref)):
            module, _, name = value.path.partition(":")
            imports.setdefault(module, set()).add(name)
        if isinstance(value, Ref):
            return value.path.partition(":")[2]
        if isinstance(value, Make):
            requires.extend(r for r in value.requires if r not in requires)
            name = value.path.partition(":")[2]
            if not value.kwargs:
                return f"{name}()"
            args = [f"{pad}    {k}={render(v, indent + 4)}," for k, v in value.kwargs.items()]
            return f"{name}(\n" + "\n".join(args) + f"\n{pad})"
        if isinstance(value, list):
            if not value:
                return "[]"
            items = [f"{pad}    {render(v, indent + 4)}," for v in value]
            return "[\n" + "\n".join(items) + f"\n{pad}]"
        if isinstance(value, tuple):
            return "(" + ", ".join(render(v, indent) for v in value) + ("," if len(value) == 1 else "") + ")"
        if isinstance(value, float) and not np.isfinite(value):
            raise ValueError(f"cannot write {value!r} as source")
        return repr(value)

    body = render(make, 0)
    lines = [f'"""{header}"""' if header else "", ""]
    lines += [f"import {module}  # noqa: F401  (enables it)" for module in requires]
    lines += [f"from {m} import {', '.join(sorted(n))}" for m, n in sorted(imports.items())]
    lines += ["", f"pipeline = {body}", ""]
    return "\n".join(lines).lstrip("\n")
