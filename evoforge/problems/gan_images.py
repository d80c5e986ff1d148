"""Scoring generated images without downloadable Inception weights: a small convolutional classifier,
trained once on the dataset's training split (a fixed seed), supplies the features and the class
predictions.

* Frechet distance (Heusel et al. 2017's FID, in this classifier's 64-d penultimate features instead
  of Inception's): between the generated images and real ones (a search scores against training
  images, a final test against the dataset's test images);
* class coverage: the share of classes that receive at least half their fair share (n / 2k) of the
  generated images' predicted labels;
* class entropy: the entropy of the predicted-label histogram over log k (1: every class equally
  often).

Images are scaled to [-1, 1] for GANs (tanh outputs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["ImageData", "FeatureNet", "train_feature_net", "frechet_distance", "image_scores"]


@dataclass
class ImageData:
    """A dataset's images for a GAN: training images in [-1, 1] (the GAN's real samples), test images
    (the reference of the Frechet distance), classes."""

    images: torch.Tensor  # (n, C, H, W) float32 in [-1, 1]
    labels: np.ndarray
    test_images: torch.Tensor
    test_labels: np.ndarray
    classes: int

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.images.shape[1:])

    @staticmethod
    def from_dataset(dataset: Any) -> ImageData:
        def scaled(x: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(np.asarray(x, dtype=np.float32) * 2 - 1)

        return ImageData(
            scaled(dataset.x_train),
            np.asarray(dataset.y_train),
            scaled(dataset.x_test),
            np.asarray(dataset.y_test),
            dataset.classes,
        )


#: width of the classifier's penultimate layer, the features the Frechet distance compares
FEATURES = 64


class FeatureNet(nn.Module):
    """Two 3x3 convolutions (32, 64 channels, each followed by 2x2 max pooling), a 64-d dense feature
    layer and the class layer."""

    def __init__(self, channels: int, side: int, classes: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * (side // 4) ** 2, FEATURES), nn.ReLU(),
        )  # fmt: skip
        self.head = nn.Linear(FEATURES, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    @torch.no_grad()
    def features_and_labels(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        self.eval()
        feats, labels = [], []
        for k in range(0, len(x), 500):
            f = self.body(x[k : k + 500])
            feats.append(f.double().numpy())
            labels.append(self.head(f).argmax(1).numpy())
        return np.concatenate(feats), np.concatenate(labels)


def train_feature_net(data: ImageData, steps: int = 1500, seed: int = 0) -> FeatureNet:
    """The feature classifier, trained with Adam (1e-3) for ``steps`` batches of 128 training images."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    channels, side, _ = data.shape
    net = FeatureNet(channels, side, data.classes)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    y = torch.as_tensor(data.labels, dtype=torch.long)
    done = 0
    while done < steps:
        order = torch.randperm(len(data.images), generator=gen)
        for k in range(0, len(order), 128):
            batch = order[k : k + 128]
            loss = nn.functional.cross_entropy(net(data.images[batch]), y[batch])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done += 1
            if done == steps:
                break
    return net.eval()


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The Frechet distance between Gaussians fitted to two feature sets (rows are samples)."""
    import warnings

    from scipy import linalg

    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():  # a collapsed generator's covariance is singular: its root still is one
        warnings.simplefilter("ignore")
        root = np.real(linalg.sqrtm(cov_a @ cov_b))
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * root))


def image_scores(
    images: np.ndarray, net: FeatureNet, reference: np.ndarray, classes: int
) -> dict[str, float]:
    """Frechet distance to the reference features, class coverage and class entropy of generated
    ``images`` (n, C, H, W) in [-1, 1]."""
    if not np.all(np.isfinite(images)):
        return {"frechet": float("inf"), "coverage": 0.0, "entropy": 0.0, "spread": 0.0}
    feats, labels = net.features_and_labels(torch.as_tensor(images, dtype=torch.float32))
    counts = np.bincount(labels, minlength=classes)
    share = counts / counts.sum()
    nonzero = share[share > 0]
    return {
        "frechet": frechet_distance(feats, reference),
        "coverage": float((counts >= len(labels) / (2 * classes)).mean()),
        "entropy": float(-(nonzero * np.log(nonzero)).sum() / np.log(classes)),
        "spread": float(np.std(images, axis=0).mean()),
    }
