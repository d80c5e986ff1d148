"""What a GAN search hands back (:func:`export`): the reported GAN trained once more from scratch with
the seed of the final test's first run, its generator saved as a state dict
(``best_generator.pt``, loaded with ``torch.load(weights_only=True)``) and as TorchScript
(``best_generator.ts``, usable without evoforge), and a figure of its samples: over the true modes
for toy data, an 8 x 8 grid for images. A second figure (:func:`progress`) shows how the search
went: the best GAN of a few generations, each trained again the same way, side by side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from evoforge.core.environ import torch_threads_set
from evoforge.core.rng import derive_seed
from evoforge.problems.base import torch_threads
from evoforge.problems.gan import GanConfig, GanProblem
from evoforge.spaces.gan import GanGenome

__all__ = ["export", "progress", "load_generator", "sample", "best_of"]


def best_of(run_dir: Path) -> tuple[GanProblem, GanGenome, int]:
    """The problem of a finished run, its reported GAN, and the seed of its final test's first run."""
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    problem = GanProblem(GanConfig.model_validate(config["problem"]))
    data = json.loads((run_dir / "best_gan.json").read_text())
    data.pop("genome_id", None)
    seed = derive_seed(int(config.get("seed", 0)), "test") % 2**31 + 104_729  # GanProblem.test's first run
    return problem, GanGenome.from_json(data), seed


def _trained(problem: GanProblem, genome: GanGenome, seed: int) -> Any:
    """``genome`` trained from scratch as the search trained it (its thread count too), seeded by
    ``seed``."""
    from evoforge.problems import gan_train

    c = problem.config
    with torch_threads_set(torch_threads(c.threads)):
        if c.training == "egan":
            return gan_train.train_egan(
                genome, problem.data, c.steps, seed, c.egan.parents, c.egan.selection, c.egan.gamma
            )
        return gan_train.train_gan(genome, problem.data, c.steps, seed)


def _draw(ax: Any, problem: GanProblem, trained: Any, seed: int, points: int, side: int) -> None:
    """Samples of a trained GAN on ``ax``: ``points`` over the true modes (toy data), or a ``side`` x
    ``side`` grid of images in one picture."""
    rng = np.random.default_rng(seed)
    if problem.toy:
        drawn = trained.sample(points, rng)
        modes = problem.data.modes
        ax.scatter(drawn[:, 0], drawn[:, 1], s=2, alpha=0.4, label="generated")
        ax.scatter(modes[:, 0], modes[:, 1], s=40, marker="x", color="red", label="modes")
        ax.set_aspect("equal")
        return
    images = (trained.sample(side * side, rng) + 1) / 2  # (n, channels, height, width) in [0, 1]
    n, channels, height, width = images.shape
    tiles = images.reshape(side, side, channels, height, width).transpose(0, 3, 1, 4, 2)
    picture = tiles.reshape(side * height, side * width, channels).squeeze()
    ax.imshow(picture, cmap="gray" if channels == 1 else None, vmin=0, vmax=1)
    ax.axis("off")


def export(run_dir: Path) -> dict[str, Path]:
    import torch

    from evoforge.report.plots import pyplot

    run_dir = Path(run_dir)
    problem, genome, seed = best_of(run_dir)
    trained = _trained(problem, genome, seed)
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
    fig, ax = plt.subplots(figsize=(5, 5) if problem.toy else (6, 6))
    _draw(ax, problem, trained, seed, problem.samples, 8)
    if problem.toy:
        ax.legend(loc="upper right", fontsize=7)
    fig.suptitle(str(genome)[:90], fontsize=6)
    fig.tight_layout()
    fig.savefig(paths["samples"], dpi=120)
    plt.close(fig)
    return paths


def progress(run_dir: Path, shown: int = 6) -> Path | None:
    """``generations.png`` in ``run_dir``: the best GAN of up to ``shown`` generations, spread evenly
    from the first to the last, each trained again from scratch with the export's seed (as the search
    trained it), its samples side by side with its fitness. None for a run with no evaluated GAN."""
    from evoforge.report.plots import pyplot
    from evoforge.store.run_store import RunStore

    run_dir = Path(run_dir)
    problem, _, seed = best_of(run_dir)
    store = RunStore.open(run_dir)
    try:
        bests = store.generation_bests()
        picks = sorted({round(k) for k in np.linspace(0, len(bests) - 1, min(shown, len(bests)))})
        genomes = [(bests[k], store.genome_of(bests[k][1])) for k in picks]
        chosen = [(best, genome) for best, genome in genomes if genome is not None]
    finally:
        store.close()
    if not chosen:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, len(chosen), figsize=(2.6 * len(chosen), 2.9), squeeze=False)
    for ax, ((generation, _, fitness), genome) in zip(axes[0], chosen, strict=True):
        _draw(ax, problem, _trained(problem, genome, seed), seed, min(problem.samples, 1000), 4)
        ax.set_title(f"generation {generation}\nfitness {fitness:.3f}", fontsize=8)
        if problem.toy:
            ax.tick_params(labelsize=6)
    fig.tight_layout()
    path = run_dir / "generations.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def load_generator(path: Path) -> Any:
    """The generator saved by :func:`export` as a ``torch.nn.Module`` (weights only, no pickle)."""
    import torch

    from evoforge.problems.gan_train import build_generator

    saved = torch.load(path, weights_only=True)
    generator = build_generator(GanGenome.from_json(saved["genome"]), tuple(saved["shape"]))
    generator.load_state_dict(saved["state_dict"])
    return generator.eval()


def sample(path: Path, n: int, seed: int = 0) -> np.ndarray:
    """``n`` points from a saved generator, the same for the same ``seed`` every time.

    Drawn on one thread: with two, torch 2.13's CPU convolutions returned images differing by up to
    5e-5 from one process to the next on an AVX-512/AMX machine (a test caught it), and a sample drawn
    with a seed should not change. One forward pass of a generator is cheap on one thread."""
    import torch

    from evoforge.problems.gan_train import latent

    generator = load_generator(path)
    saved = torch.load(path, weights_only=True)
    genome = GanGenome.from_json(saved["genome"])
    with torch_threads_set(1), torch.no_grad():
        return generator(latent(genome, n, torch.Generator().manual_seed(seed))).double().numpy()
