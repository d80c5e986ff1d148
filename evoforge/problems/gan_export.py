"""What a GAN search hands back (:func:`export`): the reported GAN trained once more from scratch with
the seed of the final test's first run, its generator saved as a state dict
(``best_generator.pt``, loaded with ``torch.load(weights_only=True)``) and as TorchScript
(``best_generator.ts``, usable without evoforge), and a figure of its samples: over the true modes
for toy data, an 8 x 8 grid for images."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from evoforge.core.rng import derive_seed
from evoforge.problems.gan import GanConfig, GanProblem
from evoforge.spaces.gan import GanGenome

__all__ = ["export", "load_generator", "sample", "best_of"]


def best_of(run_dir: Path) -> tuple[GanProblem, GanGenome, int]:
    """The problem of a finished run, its reported GAN, and the seed of its final test's first run."""
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    problem = GanProblem(GanConfig.model_validate(config["problem"]))
    data = json.loads((run_dir / "best_gan.json").read_text())
    data.pop("genome_id", None)
    seed = derive_seed(int(config.get("seed", 0)), "test") % 2**31 + 104_729  # GanProblem.test's first run
    return problem, GanGenome.from_json(data), seed


def export(run_dir: Path) -> dict[str, Path]:
    import torch

    from evoforge.problems.gan_train import train_egan, train_gan
    from evoforge.report.plots import pyplot

    run_dir = Path(run_dir)
    problem, genome, seed = best_of(run_dir)
    c = problem.config
    if c.training == "egan":
        trained = train_egan(
            genome, problem.data, c.steps, seed, c.egan.parents, c.egan.selection, c.egan.gamma
        )
    else:
        trained = train_gan(genome, problem.data, c.steps, seed)
    paths = {
        "state_dict": run_dir / "best_generator.pt",
        "torchscript": run_dir / "best_generator.ts",
        "samples": run_dir / "best_samples.png",
    }
    generator = trained.generator.eval()
    shape = list(problem.data.shape)
    torch.save(
        {"genome": genome.to_json(), "shape": shape, "state_dict": generator.state_dict()},
        paths["state_dict"],
    )
    example = torch.zeros(2, genome["latent_dim"])  # batch norm in eval mode: any batch traces
    torch.jit.trace(generator, example).save(str(paths["torchscript"]))
    plt = pyplot()
    if problem.toy:
        points = trained.sample(problem.samples, np.random.default_rng(seed))
        fig, ax = plt.subplots(figsize=(5, 5))
        ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.4, label="generated")
        modes = problem.data.modes
        ax.scatter(modes[:, 0], modes[:, 1], s=40, marker="x", color="red", label="modes")
        ax.set_aspect("equal")
        ax.legend(loc="upper right", fontsize=7)
    else:  # an 8 x 8 grid of generated images
        images = trained.sample(64, np.random.default_rng(seed))
        fig, axes = plt.subplots(8, 8, figsize=(6, 6))
        for image, ax in zip(images, axes.ravel(), strict=True):
            ax.imshow((image.transpose(1, 2, 0).squeeze() + 1) / 2, cmap="gray", vmin=0, vmax=1)
            ax.axis("off")
    fig.suptitle(str(genome)[:90], fontsize=6)
    fig.tight_layout()
    fig.savefig(paths["samples"], dpi=120)
    plt.close(fig)
    return paths


def load_generator(path: Path) -> Any:
    """The generator saved by :func:`export` as a ``torch.nn.Module`` (weights only, no pickle)."""
    import torch

    from evoforge.problems.gan_train import build_generator

    saved = torch.load(path, weights_only=True)
    generator = build_generator(GanGenome.from_json(saved["genome"]), tuple(saved["shape"]))
    generator.load_state_dict(saved["state_dict"])
    return generator.eval()


def sample(path: Path, n: int, seed: int = 0) -> np.ndarray:
    """``n`` points from a saved generator."""
    import torch

    from evoforge.problems.gan_train import latent

    generator = load_generator(path)
    saved = torch.load(path, weights_only=True)
    genome = GanGenome.from_json(saved["genome"])
    with torch.no_grad():
        return generator(latent(genome, n, torch.Generator().manual_seed(seed))).double().numpy()
