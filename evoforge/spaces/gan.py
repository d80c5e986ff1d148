"""GANs as genomes: the generator's and the discriminator's architecture, each one's optimizer and
learning rate, the latent distribution and size, the adversarial loss, discriminator steps per
generator step, normalisation and batch size, as typed genes (:data:`GENES`).

A genome is a frozen mapping of gene to value; the space samples every gene, mutates one or two
(an Int or Float a step of about a fifth of its range, a Choice to another value) and recombines
gene by gene, so every genome it makes is a GAN that trains. :func:`default_gan` is the untuned
baseline a user starts from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from evoforge.core.genome import register_genome
from evoforge.core.space import SearchSpace
from evoforge.spaces.params import Choice, Float, Int, Spec

__all__ = [
    "GENES",
    "IMAGE_GENES",
    "LOSSES",
    "TOY_GENES",
    "GanGenome",
    "GanSpace",
    "GanSpaceConfig",
    "default_gan",
    "relative_cost",
]

LOSSES = ("minimax", "nonsaturating", "least_squares", "hinge", "wgan_gp")
_WIDTHS = (32, 64, 128, 256, 512)
_ACTIVATIONS = ("relu", "leaky_relu", "tanh", "elu")

#: every gene and its range
GENES: dict[str, Spec] = {
    "g_layers": Int(1, 4),
    "g_width": Choice(_WIDTHS),
    "g_activation": Choice(_ACTIVATIONS),
    "g_norm": Choice(("none", "batch", "layer")),
    "d_layers": Int(1, 4),
    "d_width": Choice(_WIDTHS),
    "d_activation": Choice(_ACTIVATIONS),
    "d_norm": Choice(("none", "layer", "spectral")),  # batch norm mixes real and fake batches: left out
    "latent_dim": Choice((2, 4, 8, 16, 32, 64)),
    "latent": Choice(("normal", "uniform")),
    "loss": Choice(LOSSES),
    "gp_weight": Float(0.1, 10.0, log=True),  # wgan_gp's gradient-penalty weight
    "d_steps": Int(1, 5),
    "g_optimizer": Choice(("adam", "rmsprop")),
    "g_lr": Float(1e-5, 1e-2, log=True),
    "d_optimizer": Choice(("adam", "rmsprop")),
    "d_lr": Float(1e-5, 1e-2, log=True),
    "beta1": Choice((0.0, 0.5, 0.9)),
    "beta2": Choice((0.9, 0.99, 0.999)),
    "batch_size": Choice((32, 64, 128, 256)),
    # images only: DCGAN-style convolutional networks (two resolution steps each way)
    "g_channels": Choice((8, 16, 32, 64)),  # base channels (the first layer has 4x): CPU-sized
    "d_channels": Choice((8, 16, 32, 64)),
    "upsample": Choice(("transpose", "nearest")),
}

#: the genes that shape a 2-D toy GAN, and an image GAN (the others keep their default values there)
_COMMON = {
    "latent_dim",
    "latent",
    "loss",
    "gp_weight",
    "d_steps",
    "g_optimizer",
    "g_lr",
    "d_optimizer",
    "d_lr",
    "beta1",
    "beta2",
    "batch_size",
    "g_activation",
    "d_activation",
    "g_norm",
    "d_norm",
}
TOY_GENES = frozenset(_COMMON | {"g_layers", "g_width", "d_layers", "d_width"})
IMAGE_GENES = frozenset(_COMMON | {"g_channels", "d_channels", "upsample"})


@register_genome
@dataclass(frozen=True)
class GanGenome:
    """A value for every gene of :data:`GENES`, as sorted (name, value) pairs."""

    encoding: ClassVar[str] = "gan"
    genes: tuple[tuple[str, Any], ...]

    def __getitem__(self, name: str) -> Any:
        return dict(self.genes)[name]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.genes)

    def with_genes(self, **changes: Any) -> GanGenome:
        return GanGenome(tuple(sorted({**dict(self.genes), **changes}.items())))

    def to_json(self) -> dict[str, Any]:
        return dict(self.genes)

    @classmethod
    def from_json(cls, data: Any) -> GanGenome:
        """A genome of ``to_json``'s form; ``ValueError`` (one line) naming a missing, unknown or
        out-of-range gene."""
        if not isinstance(data, dict):
            raise ValueError("gan: expected a mapping of genes")
        unknown = sorted(set(data) - set(GENES))
        if unknown:
            raise ValueError(f"gan: unknown gene {unknown[0]!r}")
        missing = sorted(set(GENES) - set(data))
        if missing:
            raise ValueError(f"gan: gene {missing[0]!r} is missing")
        for name, value in data.items():
            if not GENES[name].check(value):
                raise ValueError(f"gan: gene {name}={value!r} is outside {GENES[name]}")
        return cls(tuple(sorted(data.items())))

    def __str__(self) -> str:
        g = self.as_dict()
        parts = [
            f"G {g['g_layers']}x{g['g_width']} {g['g_activation']}"
            + (f" {g['g_norm']}" if g["g_norm"] != "none" else ""),
            f"D {g['d_layers']}x{g['d_width']} {g['d_activation']}"
            + (f" {g['d_norm']}" if g["d_norm"] != "none" else ""),
            f"z {g['latent']}({g['latent_dim']})",
            g["loss"] + (f"(gp {g['gp_weight']:g})" if g["loss"] == "wgan_gp" else ""),
            f"{g['d_steps']} D steps",
            f"G {g['g_optimizer']} {g['g_lr']:.2g}, D {g['d_optimizer']} {g['d_lr']:.2g}, betas ({g['beta1']}, {g['beta2']})",
            f"batch {g['batch_size']}",
        ]
        return ", ".join(parts)


def default_gan() -> GanGenome:
    """The GAN a user writes first: 3 hidden layers of 128 (ReLU in G, leaky ReLU in D), a 16-d
    normal latent, the non-saturating loss, one D step per G step, torch's Adam defaults (learning
    rate 1e-3, betas 0.9 and 0.999) for both, batch 64; for images a DCGAN-style pair with 32 base
    channels and transposed convolutions."""
    return GanGenome.from_json(
        {
            "g_layers": 3,
            "g_width": 128,
            "g_activation": "relu",
            "g_norm": "none",
            "d_layers": 3,
            "d_width": 128,
            "d_activation": "leaky_relu",
            "d_norm": "none",
            "latent_dim": 16,
            "latent": "normal",
            "loss": "nonsaturating",
            "gp_weight": 10.0,
            "d_steps": 1,
            "g_optimizer": "adam",
            "g_lr": 1e-3,
            "d_optimizer": "adam",
            "d_lr": 1e-3,
            "beta1": 0.9,
            "beta2": 0.999,
            "batch_size": 64,
            "g_channels": 32,
            "d_channels": 32,
            "upsample": "transpose",
        }
    )


def _step_cost(genes: dict[str, Any], image: bool) -> float:
    """Multiply-adds of one generator step, up to a constant: a network costs its base channels
    squared (images: its convolutions dominate and grow with the square of the channels; nearest
    upsampling's 3x3 convolutions at full resolution cost the generator about 2.25 times the
    transposed ones) or its layers times its width squared (toy data). A discriminator step runs G
    forward and D forward and backward on a real and a fake batch (6 D + G), the gradient penalty
    another D backward (4 D more); a generator step runs both forward and backward (3 G + 3 D)."""
    if image:
        g = genes["g_channels"] ** 2 * (2.25 if genes["upsample"] == "nearest" else 1.0)
        d = float(genes["d_channels"] ** 2)
    else:
        g = float(genes["g_layers"] * genes["g_width"] ** 2)
        d = float(genes["d_layers"] * genes["d_width"] ** 2)
    d_step = 6 * d + g + (4 * d if genes["loss"] == "wgan_gp" else 0.0)
    return genes["batch_size"] * (genes["d_steps"] * d_step + 3 * g + 3 * d)


def relative_cost(genome: GanGenome, image: bool) -> float:
    """Compute per generator step as a multiple of :func:`default_gan`'s (an estimate from the genes,
    see :func:`_step_cost`).

    >>> relative_cost(default_gan(), image=True)
    1.0
    >>> relative_cost(default_gan().with_genes(batch_size=128, d_steps=2), image=True)
    3.076923076923077
    """
    return _step_cost(genome.as_dict(), image) / _step_cost(default_gan().as_dict(), image)


#: tries at a sample, mutation or crossover within ``max_cost`` before the space gives up on it
_TRIES = 50


class GanSpaceConfig(BaseModel):
    """Restrictions of the GAN space: the genes held fixed, and the most compute a GAN may take."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fixed: dict[str, Any] = Field(
        default_factory=dict,
        description="Genes held at a value, e.g. {loss: wgan_gp, batch_size: 64}; the rest evolve.",
    )
    mutation_genes: int = Field(2, ge=1, le=len(GENES), description="Most genes one mutation changes.")
    max_cost: float | None = Field(
        None,
        ge=1.0,
        description="Most compute per generator step, as a multiple of the default GAN's (estimated from the "
        "genes: batch, discriminator steps, loss, channels or widths; see spaces/gan.py). No GAN above it is "
        "sampled; a mutation or crossover that makes one is drawn again (the parent is kept after 50 tries). "
        "Bounds a search's cost on a CPU: image GANs of the full space differ 50-fold in cost per step.",
    )

    @field_validator("fixed")
    @classmethod
    def _known(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name, v in value.items():
            if name not in GENES:
                raise ValueError(f"unknown gene {name!r} (genes: {', '.join(GENES)})")
            if not GENES[name].check(v):
                raise ValueError(f"gene {name}={v!r} is outside {GENES[name]}")
        return value


class GanSpace(SearchSpace):
    """Every GAN of :data:`GENES` (less the genes held fixed)."""

    offers = frozenset({"sample", "mutate", "crossover"})
    describes = "GAN"
    export_name = "best_gan.json"

    def __init__(self, config: GanSpaceConfig, relevant: frozenset[str] = frozenset(GENES)):
        """``relevant``: the genes that shape this problem's GANs; the rest keep :func:`default_gan`'s
        values (so two genomes that build the same GAN are the same genome)."""
        self.config = config
        self.held = {n: v for n, v in default_gan().as_dict().items() if n not in relevant} | config.fixed
        self.free = [name for name in GENES if name not in self.held]
        self.image = "g_channels" in relevant
        if (
            config.max_cost is not None
            and relative_cost(self._with_held(default_gan()), self.image) > config.max_cost
        ):
            raise ValueError(
                f"max_cost {config.max_cost:g} is below the cost of the default GAN with the fixed genes "
                f"({relative_cost(self._with_held(default_gan()), self.image):.3g})"
            )

    def _with_held(self, genome: GanGenome) -> GanGenome:
        return genome.with_genes(**self.held)

    def _affordable(self, genome: GanGenome) -> bool:
        cap = self.config.max_cost
        return cap is None or relative_cost(genome, self.image) <= cap

    def sample(self, rng: np.random.Generator) -> GanGenome:
        for _ in range(_TRIES):
            genes = {name: GENES[name].sample(rng) for name in GENES}
            genome = GanGenome(tuple(sorted({**genes, **self.held}.items())))
            if self._affordable(genome):
                return genome
        return self._with_held(default_gan())  # within the cap (checked when the space was made)

    def mutate(self, genome: GanGenome, rng: np.random.Generator) -> GanGenome:
        for _ in range(_TRIES):
            count = int(rng.integers(1, self.config.mutation_genes + 1))
            names = rng.choice(len(self.free), size=min(count, len(self.free)), replace=False)
            changes = {self.free[k]: GENES[self.free[k]].perturb(genome[self.free[k]], rng) for k in names}
            child = genome.with_genes(**changes)
            if self._affordable(child):
                return child
        return genome

    def crossover(self, a: GanGenome, b: GanGenome, rng: np.random.Generator) -> GanGenome:
        """Each gene from one parent or the other (the generator's genes travel together, and so do
        the discriminator's: a network's layers, width, activation and normalisation fit each other)."""
        for _ in range(_TRIES):
            child = self._cross(a, b, rng)
            if self._affordable(child):
                return child
        return a

    def _cross(self, a: GanGenome, b: GanGenome, rng: np.random.Generator) -> GanGenome:
        groups = {"g": "g_", "d": "d_"}
        pick = {key: rng.random() < 0.5 for key in groups}
        genes = {}
        for name in GENES:
            group = next((k for k, prefix in groups.items() if name.startswith(prefix)), None)
            take_a = pick[group] if group else rng.random() < 0.5
            genes[name] = a[name] if take_a else b[name]
        return GanGenome(tuple(sorted(genes.items())))
