"""Evolving GANs: a candidate is a whole GAN (architectures, losses, optimizers; see
:mod:`evoforge.spaces.gan`), trained for a fixed number of generator steps and scored on samples of
its generator.

Toy data (``ring8``: 8 Gaussians on a circle of radius 2, standard deviation 0.02, as in Metz et al.
2017; ``grid25``: 25 Gaussians on the grid {-4, -2, 0, 2, 4}^2, standard deviation 0.05, as in
PacGAN, Lin et al. 2018): of ``samples`` generated points, a point is *high quality* if it lies
within 3 standard deviations of a mode, and a mode is *covered* if at least ``cover`` high-quality
points are nearest to it (20 of 2,000 / 2,500, PacGAN's rule).

Fitness, the mean over ``seeds`` training runs (each seeded by the evaluation): half the share of
modes covered plus half the share of high-quality samples, less 0.25 if the generator collapsed (one
mode or fewer covered, or samples spread less than a tenth of the data's spread) and less 0.1 if the
discriminator dominated (it told real from fake on at least 99% of a fresh batch after training while
the generator's loss rose over the last half of training). A GAN whose losses become NaN or infinite
fails and is scored worst.

The run's test trains the reported GAN from scratch again with ``test_episodes`` fresh seeds.
"""

from __future__ import annotations

import functools
import math
import time
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from evoforge.core.paths import AbsolutePath
from evoforge.core.problem import Context, EvalResult, ProblemConfig, TestResult, digest
from evoforge.core.space import SearchSpace
from evoforge.problems.base import SpaceProblem, torch_threads
from evoforge.spaces.gan import IMAGE_GENES, TOY_GENES, GanGenome, GanSpace, GanSpaceConfig

__all__ = ["EganConfig", "GanConfig", "GanProblem", "ToyData", "toy_data", "toy_scores"]


class ToyData:
    """A mixture of equally weighted isotropic Gaussians in 2-D."""

    shape = (2,)

    def __init__(self, modes: np.ndarray, std: float):
        self.modes, self.std = np.asarray(modes, dtype=np.float64), float(std)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        which = rng.integers(len(self.modes), size=n)
        return self.modes[which] + self.std * rng.standard_normal((n, 2))

    @property
    def spread(self) -> float:
        """Standard deviation of the data (over both coordinates)."""
        return float(np.sqrt(self.modes.var(axis=0).mean() + self.std**2))


def toy_data(name: str) -> ToyData:
    if name == "ring8":
        angles = 2 * np.pi * np.arange(8) / 8
        return ToyData(2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1), 0.02)
    if name == "grid25":
        grid = np.array([(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)], dtype=np.float64)
        return ToyData(grid, 0.05)
    raise ValueError(f"unknown toy data {name!r} (ring8 or grid25)")


def toy_scores(points: np.ndarray, data: ToyData, cover: int) -> dict[str, float]:
    """Quality and diversity of generated ``points`` (n, 2): the share within 3 standard deviations
    of a mode (quality), the modes covered (at least ``cover`` such points nearest to it), the
    samples' spread relative to the data's, and the balanced mass: the sum over the K modes of
    min(share of the samples of good quality at mode k, 1/K). The balanced mass is 1 only when every
    mode gets its fair share of good samples; quality bought by crowding a few modes earns nothing
    past their shares, and a missing mode costs 1/K, so coverage and quality cannot be traded
    against each other (they could in a sum of the two, which on 25 modes selected two-mode GANs)."""
    points = np.asarray(points, dtype=np.float64)
    if not np.all(np.isfinite(points)):
        return {"quality": 0.0, "modes": 0.0, "spread": 0.0, "balanced": 0.0}
    distance = np.linalg.norm(points[:, None, :] - data.modes[None, :, :], axis=2)
    nearest = distance.argmin(axis=1)
    good = distance[np.arange(len(points)), nearest] <= 3 * data.std
    k = len(data.modes)
    counts = np.bincount(nearest[good], minlength=k)
    spread = float(np.sqrt(points.var(axis=0).mean())) / data.spread
    balanced = float(np.minimum(counts / len(points), 1.0 / k).sum())
    return {
        "quality": float(good.mean()),
        "modes": float((counts >= cover).sum()),
        "spread": spread,
        "balanced": balanced,
    }


class EganConfig(BaseModel):
    """E-GAN training (Wang et al. 2019; see :func:`evoforge.problems.gan_train.train_egan`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    parents: int = Field(1, ge=1, le=8, description="Generators that survive each step.")
    selection: Literal["comma", "plus"] = Field(
        "comma",
        description="Survivors among the children alone ((mu, lambda)) or children and parents (elitism).",
    )
    gamma: float = Field(0.05, ge=0, description="Weight of the diversity term of a child's fitness.")


class GanConfig(ProblemConfig):
    """Whole GANs trained for a budget of generator steps and scored on their samples."""

    kind: Literal["gan"] = "gan"
    data: Literal["ring8", "grid25", "digits", "mnist", "fashion-mnist", "folder"] = Field(
        "ring8", description="A toy distribution (ring8, grid25) or an image dataset (see evoforge.data)."
    )
    path: AbsolutePath | None = Field(
        None, description="Images: the dataset's file or folder (folder: required)."
    )
    image_size: int | None = Field(
        None,
        ge=4,
        multiple_of=4,
        description="folder only: images are resized to this square side, a multiple of 4 (default: as read).",
    )
    feature_steps: int = Field(
        1500,
        ge=1,
        description="Images: training steps (batches of 128) of the feature classifier behind the Frechet distance.",
    )
    steps: int = Field(2000, ge=1, description="Generator steps of one training run.")
    seeds: int = Field(1, ge=1, le=10, description="Training runs averaged into one fitness.")
    samples: int | None = Field(
        None,
        ge=100,
        description="Points generated to score a GAN (default 2,000 for ring8, 2,500 for grid25, 1,000 images).",
    )
    cover: int = Field(20, ge=1, description="High-quality points a mode needs to count as covered.")
    space: GanSpaceConfig = Field(GanSpaceConfig(), description="Genes held fixed.")
    training: Literal["whole", "egan"] = Field(
        "whole",
        description="whole: each GAN trains as its genome says; egan: its generators evolve inside the run, "
        "E-GAN style (the genome's loss gene then sets the discriminator's loss only).",
    )
    egan: EganConfig = Field(EganConfig(), description="E-GAN settings (training: egan).")
    threads: int | None = Field(1, ge=1, description="Torch CPU threads per evaluation.")
    device: str = Field("cpu", description="cpu, cuda or cuda:N.")

    @model_validator(mode="after")
    def _folder_needs_a_path(self) -> GanConfig:
        if self.data == "folder" and self.path is None:
            raise ValueError("data 'folder' needs path: a folder of images (sub-folders: classes)")
        if self.image_size is not None and self.data != "folder":
            raise ValueError("image_size is for data 'folder' (the other datasets have their size)")
        return self

    @field_validator("device")
    @classmethod
    def _usable_device(cls, value: str) -> str:
        from evoforge.problems.training import check_device

        return check_device(value)


class GanProblem(SpaceProblem):
    """GANs scored by mode coverage and sample quality (see the module docstring)."""

    kind = "gan"
    config_class = GanConfig
    example = {"kind": "gan", "steps": 30, "samples": 500}
    direction = "maximize"
    spaces: ClassVar[tuple[type[SearchSpace], ...]] = (GanSpace,)
    candidates_per_chunk: ClassVar[int | None] = 1  # training runs of uneven length
    recorded_metrics = ("train_seconds",)
    config: GanConfig

    def __init__(self, config: GanConfig, shared: dict[str, np.ndarray] | None = None):
        super().__init__(config, shared)
        self.toy = config.data in ("ring8", "grid25")
        if self.toy:
            self.data: Any = toy_data(config.data)
            self.samples = config.samples or (2000 if config.data == "ring8" else 2500)
            return
        self.samples = config.samples or 1000
        self._images(shared)

    def _images(self, shared: dict[str, np.ndarray] | None) -> None:
        """Images, the feature classifier and the reference features: from the driver's shared
        inputs, or loaded and trained here (a fixed seed: every process gets the same classifier)."""
        import torch

        from evoforge.problems.gan_images import FeatureNet, ImageData, train_feature_net

        # the classifier and the reference features on a fixed thread count: the same in every
        # process, whatever it ran before (results change in their last digits with the count)
        torch.set_num_threads(torch_threads(self.config.threads))
        if shared and "images" in shared:
            self.data = ImageData(
                torch.as_tensor(shared["images"]),
                shared["labels"],
                torch.as_tensor(shared["test_images"]),
                shared["test_labels"],
                int(shared["classes"]),
            )
            channels, side, _ = self.data.shape
            self.features = FeatureNet(channels, side, self.data.classes)
            self.features.load_state_dict(
                {k[8:]: torch.as_tensor(v) for k, v in shared.items() if k.startswith("feature.")}
            )
            self.features.eval()
        else:
            from evoforge.data.datasets import DatasetSpec, load_dataset

            dataset = load_dataset(
                DatasetSpec(name=self.config.data, path=self.config.path, image_size=self.config.image_size)
            )
            self.data = ImageData.from_dataset(dataset)
            if (
                len(self.data.shape) != 3
                or self.data.shape[1] % 4
                or self.data.shape[1] != self.data.shape[2]
            ):
                from evoforge.core.problem import InputError

                raise InputError(
                    f"GAN images must be square with a side divisible by 4, got {self.data.shape}"
                )
            from evoforge.problems.gan_images import FEATURES

            # more images than the Frechet distance's features, or the covariances it compares lack
            # full rank (a folder of a few images gave a test score of NaN)
            train_n, test_n = len(self.data.images), len(self.data.test_images)
            if min(train_n, test_n) <= FEATURES:
                from evoforge.core.problem import InputError

                raise InputError(
                    f"{self.config.path or self.config.data}: {train_n} training and {test_n} test images; "
                    f"the Frechet distance over {FEATURES} features needs more than {FEATURES} of each "
                    "(more images, or train/ and test/ sub-folders)"
                )
            self.features = train_feature_net(self.data, self.config.feature_steps, seed=0)
        # the search's Frechet distance is to training images (a fixed draw of 2,000), the final
        # test's to the test images, which no selection sees
        draw = np.random.default_rng(0).permutation(len(self.data.images))[:2000]
        self.reference, _ = self.features.features_and_labels(self.data.images[np.sort(draw)])
        self.test_reference, _ = self.features.features_and_labels(self.data.test_images[:2000])

    def data_digest(self) -> str | None:
        """The training and test images and labels of an image GAN (toy data is made, not read)."""
        if self.toy:
            return None
        return digest(
            self.data.images.numpy(), self.data.labels, self.data.test_images.numpy(),
            self.data.test_labels,
        )  # fmt: skip

    def shared_inputs(self) -> dict[str, np.ndarray]:
        if self.toy:
            return {}
        d = self.data
        weights = {f"feature.{k}": v.numpy() for k, v in self.features.state_dict().items()}
        return {
            "images": d.images.numpy(),
            "labels": d.labels,
            "test_images": d.test_images.numpy(),
            "test_labels": d.test_labels,
            "classes": np.array(d.classes),
            **weights,
        }

    @functools.cached_property
    def search_space(self) -> GanSpace:  # type: ignore[override]
        return GanSpace(self.config.space, TOY_GENES if self.toy else IMAGE_GENES)

    def score_run(self, genome: GanGenome, seed: int, test: bool = False) -> dict[str, float]:
        """Train ``genome`` once (seed ``seed``) and score its generator (images: the Frechet distance
        to training images, or with ``test`` to the test images)."""
        from evoforge.problems.gan_train import train_egan, train_gan

        c = self.config
        if c.training == "egan":
            trained = train_egan(
                genome, self.data, c.steps, seed, c.egan.parents, c.egan.selection, c.egan.gamma, c.device
            )
        else:
            trained = train_gan(genome, self.data, c.steps, seed, c.device)
        rng = np.random.default_rng(seed + 1)
        points = trained.sample(self.samples, rng)
        dominated = trained.d_accuracy >= 0.99 and trained.g_loss_rising
        if self.toy:
            scores = toy_scores(points, self.data, self.config.cover)
            collapsed = scores["modes"] <= 1 or scores["spread"] < 0.1
            value = scores["balanced"]
        else:
            from evoforge.problems.gan_images import image_scores

            reference = self.test_reference if test else self.reference
            scores = image_scores(points, self.features, reference, self.data.classes)
            data_spread = float(self.data.images.std(dim=0).mean())
            collapsed = scores["coverage"] <= 1 / self.data.classes or scores["spread"] < 0.1 * data_spread
            value = 0.5 * scores["coverage"] + 0.5 * scores["entropy"] - 0.1 * math.log1p(scores["frechet"])
        fitness = value - 0.25 * collapsed - 0.1 * dominated
        return {
            "fitness": fitness,
            **scores,
            "collapsed": float(collapsed),
            "dominated": float(dominated),
            "d_accuracy": trained.d_accuracy,
        }

    def _score(self, genome: GanGenome, seeds: list[int]) -> tuple[float, dict[str, float]]:
        from evoforge.problems.gan_train import DivergedError

        started = time.perf_counter()
        runs = []
        for seed in seeds:
            try:
                runs.append(self.score_run(genome, seed))
            except DivergedError as exc:
                raise DivergedError(f"seed {seed}: {exc}") from None
        metrics = {k: float(np.mean([r[k] for r in runs])) for k in runs[0] if k != "fitness"}
        metrics["train_seconds"] = time.perf_counter() - started
        return float(np.mean([r["fitness"] for r in runs])), metrics

    def evaluate(self, params: list[Any], seeds: np.ndarray, context: Context) -> list[EvalResult]:
        import torch

        from evoforge.problems.gan_train import DivergedError

        torch.set_num_threads(torch_threads(self.config.threads))
        out = []
        for genome, seed in zip(params, seeds, strict=True):
            base = int(seed) % 2**31
            try:
                fitness, metrics = self._score(genome, [base + 7919 * k for k in range(self.config.seeds)])
            except DivergedError as exc:
                out.append(EvalResult(float("nan"), error=f"diverged: {exc}"))
                continue
            out.append(EvalResult(fitness, metrics))
        return out

    def test(self, params: Any, seed: int, cases: int, context: Context) -> TestResult:
        """Train the GAN from scratch ``cases`` times with fresh seeds; the mean fitness, each run's,
        and the mean modes covered and quality."""
        from evoforge.problems.gan_train import DivergedError

        base = seed % 2**31
        scores, runs = [], []
        for k in range(cases):
            try:
                run = self.score_run(params, base + 104_729 * (k + 1), test=True)
            except DivergedError:
                run = {"fitness": math.nan}
            runs.append(run)
            scores.append(run["fitness"])
        keys = ("modes", "quality") if self.toy else ("frechet", "coverage", "entropy")
        metrics = {k: float(np.mean([r.get(k, math.nan) for r in runs])) for k in keys}
        if self.toy:
            metrics["all_modes_runs"] = float(sum(r["modes"] == len(self.data.modes) for r in runs))
        return TestResult(float(np.mean(scores)), [float(s) for s in scores], metrics)
