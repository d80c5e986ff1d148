"""GANs on Fashion-MNIST: the evolved GAN against the default DCGAN-style GAN and DCGAN's published
recipe, each trained for the same wall time, scored on the test images by the Frechet distance in
the shipped feature classifier's features, class coverage and class entropy
(:mod:`evoforge.problems.gan_images`).

    python benchmarks/harness.py gan_images          (``make data`` first)

* evolved: ``examples/gan-fashion.yaml`` (with the suite's ``overrides``), run in
  ``RESULTS/gan-images-run`` and resumed there if a session stopped it; its cost is the run's wall
  time on 2 cores (recorded by the run across resumes, one final-test training included).
* default: ``evoforge.spaces.gan.default_gan()`` (32 base channels, transposed convolutions, no
  normalisation, the non-saturating loss, torch's Adam defaults: learning rate 1e-3, betas 0.9 and
  0.999, batch 64).
* dcgan: Radford et al. 2016's recipe on the same networks: batch norm in the generator, ReLU in
  the generator and leaky ReLU in the discriminator, Adam at 2e-4 with beta1 0.5, batch 128.

Equal time: the evolved GAN trains for the search's ``steps`` generator steps; each baseline trains
for as many steps as fit the same time, from seconds per step measured side by side (both
calibrations at once on the 2 cores, ``calibration_steps`` steps each after 5 warm-up steps). Every
contender is trained with the test seeds 1000..1000+seeds-1 (used by no search), one thread each,
two at a time; the first seed's 8x8 sample grid is saved as ``RESULTS/gan-images-CONTENDER.png``.
"""

from __future__ import annotations

import json
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import yaml
from common import evolved_gan, example

from evoforge.engine.config import apply_overrides

TEST_SEED = 1000
DATA = "fashion-mnist"


def dcgan():
    from evoforge.spaces.gan import default_gan

    return default_gan().with_genes(
        g_norm="batch",
        g_activation="relu",
        d_activation="leaky_relu",
        g_lr=2e-4,
        d_lr=2e-4,
        beta1=0.5,
        beta2=0.999,
        batch_size=128,
    )


_PROBLEM: dict = {}


def _problem(config: dict):
    """The worker's problem (the data and the feature classifier, trained once per worker with its
    fixed seed)."""
    from evoforge.problems.gan import GanConfig, GanProblem

    key = json.dumps(config, sort_keys=True)
    if key not in _PROBLEM:
        _PROBLEM[key] = GanProblem(GanConfig.model_validate(config))
    return _PROBLEM[key]


def _calibrate(args: tuple) -> float:
    """Seconds per generator step of ``genome`` in a worker (one thread): ``steps`` steps timed after
    5 warm-up steps."""
    import torch

    from evoforge.problems.gan_train import train_gan
    from evoforge.spaces.gan import GanGenome

    torch.set_num_threads(1)
    config, genome, steps = args
    problem = _problem(config)
    genome = GanGenome.from_json(genome)
    train_gan(genome, problem.data, 5, 0)
    started = time.perf_counter()
    train_gan(genome, problem.data, steps, 0)
    return (time.perf_counter() - started) / steps


def _train(args: tuple) -> dict:
    """One training run in a worker: (problem config, genome JSON, steps, seed, grid path or None)
    -> its test scores; a diverging GAN is recorded and scored worst."""
    import numpy as np
    import torch

    from evoforge.problems.gan_images import image_scores
    from evoforge.problems.gan_train import DivergedError, train_gan
    from evoforge.spaces.gan import GanGenome

    torch.set_num_threads(1)
    config, genome, steps, seed, grid = args
    problem = _problem(config)
    started = time.perf_counter()
    try:
        trained = train_gan(GanGenome.from_json(genome), problem.data, steps, seed)
    except DivergedError as exc:
        return {"frechet": float("inf"), "coverage": 0.0, "entropy": 0.0, "error": str(exc)[:200],
                "seconds": time.perf_counter() - started, "steps": steps}  # fmt: skip
    seconds = time.perf_counter() - started
    images = trained.sample(problem.samples, np.random.default_rng(seed + 1))
    scores = image_scores(images, problem.features, problem.test_reference, problem.data.classes)
    if grid:
        _save_grid(trained.sample(64, np.random.default_rng(seed + 2)), Path(grid))
    return dict(scores, seconds=seconds, steps=steps)


def _save_grid(images, path: Path) -> None:
    from evoforge.report.plots import pyplot

    plt = pyplot()
    n, channels, height, width = images.shape
    tiles = ((images + 1) / 2).reshape(8, 8, channels, height, width).transpose(0, 3, 1, 4, 2)
    picture = tiles.reshape(8 * height, 8 * width, channels).squeeze()
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(picture, cmap="gray" if channels == 1 else None, vmin=0, vmax=1)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(settings: dict, save) -> dict:
    from evoforge.spaces.gan import GanGenome, default_gan

    seeds = [TEST_SEED + k for k in range(int(settings["seeds"]))]
    results = save.previous or {}
    out = Path(save.out).parent
    raw = apply_overrides(yaml.safe_load(example("gan-fashion").read_text()), list(settings["overrides"]))
    raw["test_episodes"] = 1
    config = dict(raw["problem"])
    steps = int(config["steps"])
    if "evolved" not in results:
        work = out / "gan-images-run"
        result, data = evolved_gan(raw, work)
        results["evolved"] = {
            "genome": GanGenome.from_json(data).to_json(),
            "search_seconds": result.wall_seconds,
            "evaluations": result.evaluations,
            "failed": result.failed,
        }
        save(results)
    pool = ProcessPoolExecutor(2)
    contenders = {"evolved": GanGenome.from_json(results["evolved"]["genome"]), "default": default_gan(),
                  "dcgan": dcgan()}  # fmt: skip
    for name in ("default", "dcgan"):
        if name not in results:
            calib = int(settings["calibration_steps"])
            evolved_s, own_s = pool.map(
                _calibrate, [(config, g.to_json(), calib) for g in (contenders["evolved"], contenders[name])]
            )
            results[name] = {
                "genome": contenders[name].to_json(),
                "seconds_per_step": own_s,
                "evolved_seconds_per_step": evolved_s,
                "steps": max(1, round(steps * evolved_s / own_s)),
            }
            save(results)
    for name, genome in contenders.items():
        if "runs" not in results[name]:
            n = steps if name == "evolved" else results[name]["steps"]
            grids = [str(out / f"gan-images-{name}.png")] + [None] * (len(seeds) - 1)
            results[name]["runs"] = list(
                pool.map(
                    _train, [(config, genome.to_json(), n, s, g) for s, g in zip(seeds, grids, strict=True)]
                )
            )
            save(results)
    pool.shutdown()
    return results


def describe(genome) -> str:
    """The genes that shape an image GAN."""
    g = genome.as_dict()
    norm = lambda n: "" if n == "none" else f" {n}"  # noqa: E731
    return (
        f"G {g['g_channels']}ch {g['upsample']} {g['g_activation']}{norm(g['g_norm'])}, "
        f"D {g['d_channels']}ch {g['d_activation']}{norm(g['d_norm'])}, z {g['latent']}({g['latent_dim']}), "
        f"{g['loss']}, {g['d_steps']} D steps, G {g['g_optimizer']} {g['g_lr']:.2g}, "
        f"D {g['d_optimizer']} {g['d_lr']:.2g}, betas ({g['beta1']}, {g['beta2']}), batch {g['batch_size']}"
    )


def table(results: dict, settings: dict) -> str:
    from evoforge.spaces.gan import GanGenome

    seeds = int(settings["seeds"])
    lines = [
        f"Fashion-MNIST; every contender trained with the test seeds {TEST_SEED}..{TEST_SEED + seeds - 1} "
        "(used by no search) for the same wall time, one thread each; scored on 1,000 samples against "
        "2,000 test images (Frechet distance in the shipped classifier's 64-d features: lower is better).",
        "",
        "| contender | generator steps | Frechet per seed | mean Frechet | class coverage | class entropy | seconds per training | setting |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in ("evolved", "default", "dcgan"):
        if name not in results or "runs" not in results[name]:
            continue
        entry, runs = results[name], results[name]["runs"]
        per_seed = ", ".join(f"{r['frechet']:.1f}" for r in runs)
        lines.append(
            f"| {name} | {runs[0]['steps']} | {per_seed} | "
            f"{statistics.mean(r['frechet'] for r in runs):.1f} | "
            f"{statistics.mean(r['coverage'] for r in runs):.0%} | {statistics.mean(r['entropy'] for r in runs):.3f} | "
            f"{statistics.median(r['seconds'] for r in runs):.0f} | {describe(GanGenome.from_json(entry['genome']))} |"
        )
    if "evolved" in results:
        e = results["evolved"]
        lines += [
            "",
            f"Search: {e['evaluations']} GANs trained in {e['search_seconds'] / 60:.1f} minutes on 2 cores "
            f"({e['failed']} failed).",
        ]
    return "\n".join(lines)
