"""The training recipe every architecture genome carries (optimizer, learning rate, momentum, weight
decay, batch size, epochs, schedule, augmentation (shift, flip, cutout), label smoothing), the choices a search space draws
it from, and the recipe half of sampling, mutation, crossover and the continuous encoding, shared by
the chain and cell spaces."""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Recipe", "RecipeChoices", "Optimizer", "Schedule"]

Optimizer = Literal["sgd", "adam", "adamw", "rmsprop"]
Schedule = Literal["constant", "cosine", "step"]
_MOMENTUM_OPTIMIZERS = ("sgd", "rmsprop")
#: recipe gene -> the choices field of RecipeChoices it is drawn from
CHOICES = {
    "optimizer": "optimizers",
    "momentum": "momenta",
    "weight_decay": "weight_decays",
    "batch_size": "batch_sizes",
    "schedule": "schedules",
    "shift": "shifts",
    "flip": "flips",
    "cutout": "cutouts",
    "label_smoothing": "label_smoothings",
}


class Recipe(BaseModel):
    """The training recipe evolved with the architecture."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    optimizer: Optimizer = "adam"
    lr: float = Field(1e-3, gt=0, le=10)
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD and RMSprop only.")
    weight_decay: float = Field(0.0, ge=0, le=1)
    batch_size: int = Field(64, ge=1)
    epochs: int = Field(20, ge=1, description="Epochs of the final training (the search uses its proxy).")
    schedule: Schedule = "cosine"
    shift: int = Field(
        0, ge=0, le=8, description="Augmentation: random translation by up to this many pixels."
    )
    flip: bool = Field(False, description="Augmentation: random horizontal flips.")
    cutout: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="Augmentation: a square of this fraction of the image side, at a random centre, "
        "set to zero in every image (cutout, DeVries & Taylor 2017).",
    )
    label_smoothing: float = Field(0.0, ge=0, lt=1)

    def expressed(self) -> dict[str, Any]:
        out = self.model_dump()
        if self.optimizer not in _MOMENTUM_OPTIMIZERS:
            del out["momentum"]
        return out


class RecipeChoices(BaseModel):
    """What a search space may put in a recipe."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    optimizers: tuple[Optimizer, ...] = Field(("sgd", "adam", "adamw", "rmsprop"), min_length=1)
    lr_range: tuple[float, float] = Field((1e-4, 3e-2), description="Learning rates (log-uniform).")
    momenta: tuple[float, ...] = Field((0.0, 0.5, 0.9, 0.95, 0.99), min_length=1)
    weight_decays: tuple[float, ...] = Field((0.0, 1e-5, 1e-4, 5e-4, 1e-3), min_length=1)
    batch_sizes: tuple[int, ...] = Field((32, 64, 128, 256), min_length=1)
    epochs_range: tuple[int, int] = Field(
        (10, 60), description="Epochs of the final training (the search itself trains proxy_epochs)."
    )
    schedules: tuple[Schedule, ...] = Field(("constant", "cosine", "step"), min_length=1)
    shifts: tuple[int, ...] = Field((0, 1, 2, 3), min_length=1, description="Translation augmentations.")
    flips: tuple[bool, ...] = Field((False, True), min_length=1, description="Flip augmentation choices.")
    cutouts: tuple[float, ...] = Field(
        (0.0,), min_length=1, description="Cutout sizes (fractions of the image side; 0 is none)."
    )
    label_smoothings: tuple[float, ...] = Field((0.0, 0.05, 0.1), min_length=1)


def nearest(options: tuple, wanted: Any) -> Any:
    """The option equal to ``wanted``, else the numerically nearest (the first for non-numbers).

    >>> nearest((16, 32, 64), 48), nearest(("sgd", "adamw"), "adam"), nearest((0.0, 0.1), 0.0)
    (32, 'sgd', 0.0)
    """
    if wanted in options:
        return wanted
    if isinstance(wanted, bool) or not all(isinstance(o, (int, float)) for o in options):
        return options[0]
    return min(options, key=lambda o: (abs(o - wanted), o))


def start_recipe(choices: RecipeChoices) -> Recipe:
    """The textbook recipe, within ``choices``: Adam at 1e-3 (clipped into ``lr_range``), batches of
    64, a cosine schedule over 20 epochs, no weight decay, augmentation or label smoothing (each gene
    the nearest choice the space offers). A first population starts from it so the search never
    does worse than the usual hand-written training for want of trying it."""
    values = {
        gene: nearest(getattr(choices, field), wanted)
        for gene, field, wanted in (
            ("optimizer", "optimizers", "adam"),
            ("momentum", "momenta", 0.9),
            ("weight_decay", "weight_decays", 0.0),
            ("batch_size", "batch_sizes", 64),
            ("schedule", "schedules", "cosine"),
            ("shift", "shifts", 0),
            ("flip", "flips", False),
            ("cutout", "cutouts", 0.0),
            ("label_smoothing", "label_smoothings", 0.0),
        )
    }
    lo, hi = choices.lr_range
    epochs = min(max(20, choices.epochs_range[0]), choices.epochs_range[1])
    return Recipe(lr=float(min(max(1e-3, lo), hi)), epochs=epochs, **values)


def pick(rng: np.random.Generator, options: tuple) -> Any:
    """One of ``options``, uniformly, as a plain Python value."""
    value = options[int(rng.integers(len(options)))]
    return value.item() if isinstance(value, np.generic) else value


def random_recipe(choices: RecipeChoices, rng: np.random.Generator) -> Recipe:
    """Every gene uniform over its choices; the learning rate log-uniform over ``lr_range``."""
    values = {gene: pick(rng, getattr(choices, field)) for gene, field in CHOICES.items()}
    lo, hi = choices.lr_range
    lr = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    epochs = int(rng.integers(choices.epochs_range[0], choices.epochs_range[1] + 1))
    return Recipe(lr=lr, epochs=epochs, **values)


def mutate_recipe(recipe: Recipe, choices: RecipeChoices, rng: np.random.Generator) -> Recipe:
    """One gene changed: the learning rate by a factor up to sqrt(10), the epochs by up to 2x, any
    other gene redrawn from its choices."""
    gene = pick(rng, ("lr", "epochs", *CHOICES))
    if gene == "lr":
        lo, hi = choices.lr_range
        value: Any = float(np.clip(recipe.lr * 10 ** rng.uniform(-0.5, 0.5), lo, hi))
    elif gene == "epochs":
        lo, hi = choices.epochs_range
        value = int(np.clip(round(recipe.epochs * 2 ** rng.uniform(-1, 1)), lo, hi))
    else:
        value = pick(rng, getattr(choices, CHOICES[gene]))
    return recipe.model_copy(update={gene: value})


def cross_recipes(a: Recipe, b: Recipe, rng: np.random.Generator) -> Recipe:
    """Uniform crossover: each gene from either parent."""
    ra, rb = a.model_dump(), b.model_dump()
    return Recipe(**{k: ra[k] if rng.random() < 0.5 else rb[k] for k in ra})


def recipe_genes(choices: RecipeChoices) -> list[tuple[str, tuple]]:
    """The recipe's coordinates in a continuous encoding, as (gene, choices); the learning rate is
    the one continuous gene (empty choices)."""
    epochs = tuple(range(choices.epochs_range[0], choices.epochs_range[1] + 1))
    return [("lr", ()), ("epochs", epochs)] + [(g, getattr(choices, f)) for g, f in CHOICES.items()]


def decode_gene(x: float, choices: tuple, lr_range: tuple[float, float] | None = None) -> Any:
    """A coordinate in [0, 1] as a gene value: choice ``floor(x k)`` of k choices (every choice owns an
    interval of width 1/k), or, with empty ``choices``, a log-uniform value over ``lr_range``."""
    x = min(1.0, max(0.0, float(x)))
    if not choices:
        if lr_range is None:
            raise ValueError("a gene without choices needs lr_range")
        lo, hi = lr_range
        return float(math.exp(math.log(lo) + x * (math.log(hi) - math.log(lo))))
    choice = choices[min(len(choices) - 1, int(x * len(choices)))]
    return choice.item() if isinstance(choice, np.generic) else choice
