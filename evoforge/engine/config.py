"""Typed run configuration. YAML lives at the CLI edge; the Python API takes these objects."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    field_validator,
    model_validator,
)

from evoforge.core.paths import AbsolutePath
from evoforge.core.problem import ProblemConfig
from evoforge.core.strategy import StrategyConfig
from evoforge.engine.registry import STRATEGIES, choose_space, get_problem, get_strategy

__all__ = [
    "RunConfig",
    "StopConfig",
    "EvaluationConfig",
    "LoggingConfig",
    "ConfigError",
    "format_validation_error",
    "apply_overrides",
]


class ConfigError(ValueError):
    """A configuration problem, described in one line."""


class StopConfig(BaseModel):
    """When a run may end before its last generation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fitness: float | None = Field(
        None,
        description="Stop once the best fitness reaches this value (in the problem's direction).",
    )
    solved: bool = Field(
        False,
        description="Stop after the generation in which an individual solves the task (problems that "
        "define solving, e.g. xor and double_pole, report a 'solved' metric of 1).",
    )
    evaluations: int | None = Field(
        None, ge=1, description="Stop after the generation in which this many evaluations have been made."
    )
    env_steps: float | None = Field(
        None,
        gt=0,
        description="Stop after the generation in which the search has taken this many environment "
        "steps (problems that count them, such as gym; validation and test episodes not included).",
    )
    seconds: float | None = Field(
        None,
        gt=0,
        description="Stop after the generation that passes this much wall time (an asynchronous run stops "
        "between two evaluations). A time budget depends on the machine: a run stopped by it is not "
        "reproducible, unlike every other stop.",
    )


class LoggingConfig(BaseModel):
    """Where a run also reports itself, beside its run directory (optional: the ``loggers`` extra)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tensorboard: AbsolutePath | None = Field(
        None,
        description="A folder: the run writes TensorBoard events to FOLDER/<run directory's name> (per "
        "generation scalars named fitness/best, fitness/mean, ..., time/wall_s; the resolved config as text).",
    )
    mlflow: str | None = Field(
        None,
        description="An MLflow tracking URI (sqlite:///mlflow.db, http://host:5000, ...): one MLflow run per "
        "evoforge run, with the resolved config as parameters, the per-generation scalars as metrics and the "
        "result, hall of fame, config and best genome as artefacts. A resumed run continues its MLflow run.",
    )
    mlflow_experiment: str = Field("evoforge", description="The MLflow experiment the runs go to.")


class EvaluationConfig(BaseModel):
    """How failing evaluations are handled, on every backend."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    retries: int = Field(
        1,
        ge=0,
        description="A candidate whose evaluation raised, returned NaN, timed out or lost its worker is "
        "evaluated again (same seed, so a deterministic result does not change) up to this many times, "
        "then recorded as failed and scored worst.",
    )
    timeout: float | None = Field(
        None,
        gt=0,
        description="Seconds one candidate may take, whatever batch it is evaluated in: a batch that takes "
        "longer than this as a whole is re-run one candidate at a time, each with this limit, so the "
        "candidates that fail are those that overrun alone, on every backend. Timeouts depend on the "
        "machine, so a run that hits one is not reproducible elsewhere.",
    )


class RunConfig(BaseModel):
    """A complete, resolved run.

    >>> cfg = RunConfig(problem={"kind": "function", "name": "sphere", "dim": 3},
    ...                 strategy={"name": "cma_es"}, generations=5)
    >>> cfg.strategy.name, cfg.strategy.sigma
    ('cma_es', 0.5)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field("run", description="A label for the run.")
    seed: int = Field(0, ge=0, description="The run seed; every random draw derives from it.")
    generations: int = Field(50, ge=1, description="Generations to run (at most).")
    strategy: SerializeAsAny[StrategyConfig] = Field(
        ...,
        description="'name' of a registered strategy plus its hyperparameters (its config class: "
        "evoforge.engine.registry.STRATEGIES[name].config_class).",
    )
    problem: SerializeAsAny[ProblemConfig] = Field(
        ...,
        description="What fitness means; 'kind' selects the problem: a registered kind (function, gym, ...) "
        "or 'package.module:ClassName' for a Problem subclass of your own.",
    )
    stop: StopConfig = Field(StopConfig(), description="Early stopping.")
    hall_of_fame: int = Field(10, ge=1, description="How many of the best individuals to keep.")
    test_episodes: int = Field(10, ge=1, description="Fresh cases the best individual is re-evaluated on.")
    validation_episodes: int = Field(
        0,
        ge=0,
        description="If > 0, hall-of-fame members are re-evaluated on this many fresh validation cases "
        "(never the test cases); the reported individual is the best on validation, and stop.fitness "
        "must also be reached on validation. Guards against a lucky training score (Such et al. 2017 "
        "re-evaluate their elite candidates the same way).",
    )
    asynchronous: bool = Field(
        False,
        description="Steady-state strategies only (steady_ga, regularized_evolution): propose a new individual whenever a worker "
        "frees instead of waiting for a whole generation; a 'generation' is then population_size "
        "individuals told. With more than one worker the result depends on the order evaluations finish "
        "in, so it is not reproducible; with one (the serial backend) it is.",
    )
    evaluation: EvaluationConfig = Field(EvaluationConfig(), description="Retries and time limits.")
    logging: LoggingConfig = Field(
        LoggingConfig(), description="TensorBoard and MLflow, beside the run store."
    )
    backend: Literal["serial", "process", "ray"] = Field("serial", description="Where evaluations run.")
    workers: int | None = Field(
        None,
        ge=1,
        description="Worker processes (process backend), or CPUs of the local Ray instance the ray backend "
        "starts when no ray_address is given; None: one per core this process may use. Results do not "
        "depend on it.",
    )
    ray_address: str | None = Field(
        None,
        description="Ray cluster to join: 'auto' (the cluster this machine is part of) or 'HOST:PORT'. "
        "None starts a local Ray instance sized by workers.",
    )
    checkpoints_kept: int = Field(3, ge=1, description="Most recent checkpoints kept on disk.")
    checkpoint_interval: float = Field(
        2.0,
        ge=0,
        description="Seconds of run time between checkpoints (0: after every generation); the last "
        "generation is always checkpointed, asynchronous runs after every round. Every evaluation is "
        "in the run store the moment it finishes, so a resumed run replays the generations since its "
        "last checkpoint from the store, evaluating nothing again, and ends exactly as an "
        "uninterrupted run. Writing the strategy state costs milliseconds, which dominate runs whose "
        "generations take milliseconds (NEAT on XOR).",
    )

    @field_validator("ray_address")
    @classmethod
    def _validate_address(cls, value: str | None) -> str | None:
        if value is None or value == "auto" or value.startswith("ray://"):
            return value
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"{value!r} is not auto, HOST:PORT or ray://HOST:PORT")
        return value

    @field_validator("problem", mode="before")
    @classmethod
    def _validate_problem(cls, value: Any) -> ProblemConfig:
        if isinstance(value, ProblemConfig):
            return value
        if not isinstance(value, dict) or "kind" not in value:
            raise ValueError("problem needs a 'kind'")
        try:
            problem_class = get_problem(str(value["kind"]))
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None
        return problem_class.config_class.model_validate(value)

    @field_validator("strategy", mode="before")
    @classmethod
    def _validate_strategy(cls, value: Any) -> StrategyConfig:
        if isinstance(value, StrategyConfig):
            if not value.name:
                raise ValueError("strategy needs a 'name' (the config object's name is empty)")
            value = value.model_dump()
        if not isinstance(value, dict) or "name" not in value:
            raise ValueError("strategy needs a 'name'")
        name = STRATEGIES.canonical(str(value["name"]))
        try:
            strategy_class = get_strategy(name)
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None
        return strategy_class.config_class.model_validate({**value, "name": name})

    @model_validator(mode="after")
    def _check_space(self) -> RunConfig:
        choose_space(get_strategy(self.strategy.name), get_problem(self.problem.kind))
        return self

    @model_validator(mode="after")
    def _check_asynchronous(self) -> RunConfig:
        if self.asynchronous and not get_strategy(self.strategy.name).steady_state:
            raise ValueError(
                f"asynchronous: strategy {self.strategy.name!r} is generational; "
                "asynchronous runs need a steady-state strategy ("
                + ", ".join(sorted(n for n, c in STRATEGIES.items() if c.steady_state))
                + ")"
            )
        return self


def format_validation_error(exc: ValidationError) -> str:
    """The first problem of a pydantic error as one line, e.g. ``strategy.sigma: must be > 0``."""
    errors = exc.errors()
    first = errors[0]
    loc = ".".join(str(p) for p in first["loc"] if not str(p).startswith("function-")) or "config"
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown field"
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return f"{loc}: {msg}{more}"


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` strings (values parsed as YAML) to a raw config dict."""
    import copy

    import yaml

    raw = copy.deepcopy(raw)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        key, text = item.split("=", 1)
        parts = key.strip().split(".")
        if not all(parts):
            raise ConfigError(f"--set has an empty key in {item!r}")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            raise ConfigError(f"--set value for {key!r} is not valid YAML: {text!r}") from None
        node = raw
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"--set {key}: {part!r} is not a section")
            node = child
        node[parts[-1]] = value
    return raw
