"""Training one GAN of :mod:`evoforge.spaces.gan` on 2-D toy data with torch (imported only here).

The five adversarial losses, with ``r`` and ``f`` the discriminator's raw outputs on real and
generated points (softplus(x) = log(1 + e^x)):

* minimax (Goodfellow et al. 2014): D minimises softplus(-r) + softplus(f), G minimises -softplus(f);
* nonsaturating (the same paper's practical form): G minimises softplus(-f);
* least_squares (LSGAN, Mao et al. 2017): D minimises (r - 1)^2 / 2 + f^2 / 2, G (f - 1)^2 / 2;
* hinge (Lim & Ye 2017; Miyato et al. 2018): D minimises relu(1 - r) + relu(1 + f), G -f;
* wgan_gp (Gulrajani et al. 2017): D minimises f - r + gp_weight (|grad D(x_hat)| - 1)^2 on points
  between real and generated ones, G -f.

A run is deterministic for its seed on the CPU (one torch thread).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from evoforge.spaces.gan import GanGenome

__all__ = [
    "DivergedError",
    "TrainedGan",
    "build_generator",
    "build_discriminator",
    "train_gan",
    "train_egan",
    "EGAN_LOSSES",
]


class DivergedError(RuntimeError):
    """A loss became NaN or infinite."""


_ACT: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "tanh": nn.Tanh,
    "elu": nn.ELU,
}


def _mlp(inputs: int, outputs: int, layers: int, width: int, activation: str, norm: str) -> nn.Sequential:
    modules: list[nn.Module] = []
    size = inputs
    for _ in range(layers):
        linear = nn.Linear(size, width)
        modules.append(nn.utils.parametrizations.spectral_norm(linear) if norm == "spectral" else linear)
        if norm == "batch":
            modules.append(nn.BatchNorm1d(width))
        elif norm == "layer":
            modules.append(nn.LayerNorm(width))
        modules.append(_ACT[activation]())
        size = width
    last = nn.Linear(size, outputs)
    modules.append(nn.utils.parametrizations.spectral_norm(last) if norm == "spectral" else last)
    return nn.Sequential(*modules)


class _Reshape(nn.Module):
    def __init__(self, *shape: int):
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)


def _norm2d(norm: str, channels: int, side: int) -> list[nn.Module]:
    if norm == "batch":
        return [nn.BatchNorm2d(channels)]
    if norm == "layer":
        return [nn.LayerNorm([channels, side, side])]
    return []


def _conv_generator(g: dict[str, Any], shape: tuple[int, ...]) -> nn.Sequential:
    """DCGAN-style: a dense layer to (4c, H/4, W/4), two doublings of the side (transposed 4x4
    convolutions, or nearest upsampling then a 3x3 convolution) to 2c then c channels, a 3x3
    convolution to the image's channels, tanh."""
    channels, height, width = shape
    c, act = g["g_channels"], _ACT[g["g_activation"]]
    side = height // 4
    modules: list[nn.Module] = [nn.Linear(g["latent_dim"], 4 * c * side * side), _Reshape(4 * c, side, side)]
    modules += _norm2d(g["g_norm"], 4 * c, side) + [act()]
    for k_in, k_out in ((4 * c, 2 * c), (2 * c, c)):
        side *= 2
        if g["upsample"] == "transpose":
            modules.append(nn.ConvTranspose2d(k_in, k_out, 4, stride=2, padding=1))
        else:
            modules += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(k_in, k_out, 3, padding=1)]
        modules += _norm2d(g["g_norm"], k_out, side) + [act()]
    modules += [nn.Conv2d(c, channels, 3, padding=1), nn.Tanh()]
    return nn.Sequential(*modules)


def _conv_discriminator(g: dict[str, Any], shape: tuple[int, ...]) -> nn.Sequential:
    """A 3x3 convolution to c channels, two 4x4 stride-2 convolutions to 2c and 4c, a dense output."""
    channels, height, width = shape
    c, act, norm = g["d_channels"], _ACT[g["d_activation"]], g["d_norm"]

    def conv(k_in: int, k_out: int, kernel: int, stride: int) -> nn.Module:
        layer = nn.Conv2d(k_in, k_out, kernel, stride=stride, padding=1)
        return nn.utils.parametrizations.spectral_norm(layer) if norm == "spectral" else layer

    side = height
    modules: list[nn.Module] = [conv(channels, c, 3, 1), act()]
    for k_in, k_out in ((c, 2 * c), (2 * c, 4 * c)):
        side //= 2
        modules.append(conv(k_in, k_out, 4, 2))
        if norm == "layer":
            modules.append(nn.LayerNorm([k_out, side, side]))
        modules.append(act())
    last = nn.Linear(4 * c * side * side, 1)
    modules += [nn.Flatten(), nn.utils.parametrizations.spectral_norm(last) if norm == "spectral" else last]
    return nn.Sequential(*modules)


def build_generator(genome: GanGenome, shape: tuple[int, ...] = (2,)) -> nn.Sequential:
    """The generator for points of ``shape``: (2,) for toy data (an MLP), (C, H, W) for images (H and
    W multiples of 4)."""
    g = genome.as_dict()
    if len(shape) == 3:
        return _conv_generator(g, shape)
    return _mlp(g["latent_dim"], shape[0], g["g_layers"], g["g_width"], g["g_activation"], g["g_norm"])


def build_discriminator(genome: GanGenome, shape: tuple[int, ...] = (2,)) -> nn.Sequential:
    g = genome.as_dict()
    if len(shape) == 3:
        return _conv_discriminator(g, shape)
    return _mlp(shape[0], 1, g["d_layers"], g["d_width"], g["d_activation"], g["d_norm"])


def real_sampler(data: Any, gen: torch.Generator) -> Callable[[int], torch.Tensor]:
    """Draws of ``n`` real points: Gaussian-mixture toy data, or images of ``data.images``."""
    if hasattr(data, "images"):
        images = data.images

        def draw(n: int) -> torch.Tensor:
            return images[torch.randint(len(images), (n,), generator=gen)]

        return draw
    modes = torch.as_tensor(data.modes, dtype=torch.float32)
    std = float(data.std)

    def mixture(n: int) -> torch.Tensor:
        which = torch.randint(len(modes), (n,), generator=gen)
        return modes[which] + std * torch.randn(n, 2, generator=gen)

    return mixture


def latent(genome: GanGenome, n: int, generator: torch.Generator) -> torch.Tensor:
    dim = genome["latent_dim"]
    if genome["latent"] == "uniform":
        return torch.rand(n, dim, generator=generator) * 2 - 1
    return torch.randn(n, dim, generator=generator)


def _optimizer(name: str, params: Any, lr: float, beta1: float, beta2: float) -> torch.optim.Optimizer:
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=beta2)
    return torch.optim.Adam(params, lr=lr, betas=(beta1, beta2))


def _d_loss(loss: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    softplus = nn.functional.softplus
    if loss in ("minimax", "nonsaturating"):
        return softplus(-real).mean() + softplus(fake).mean()
    if loss == "least_squares":
        return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake**2).mean()
    if loss == "hinge":
        return torch.relu(1 - real).mean() + torch.relu(1 + fake).mean()
    return fake.mean() - real.mean()  # wgan_gp (its penalty is added by the caller)


def _g_loss(loss: str, fake: torch.Tensor) -> torch.Tensor:
    softplus = nn.functional.softplus
    if loss == "minimax":
        return -softplus(fake).mean()
    if loss == "nonsaturating":
        return softplus(-fake).mean()
    if loss == "least_squares":
        return 0.5 * ((fake - 1) ** 2).mean()
    return -fake.mean()  # hinge, wgan_gp


def _gradient_penalty(
    d: nn.Module, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), generator=generator)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    grad = torch.autograd.grad(d(mixed).sum(), mixed, create_graph=True)[0]
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def _d_step(
    genome: GanGenome,
    discriminator: nn.Module,
    opt_d: torch.optim.Optimizer,
    real: torch.Tensor,
    fake: torch.Tensor,
    gen: torch.Generator,
) -> float:
    """One discriminator step on a real and a generated batch, with the genome's loss (and, for
    wgan_gp, its gradient penalty); the loss before the step."""
    loss = genome["loss"]
    d_loss = _d_loss(loss, discriminator(real), discriminator(fake))
    if loss == "wgan_gp":
        d_loss = d_loss + genome["gp_weight"] * _gradient_penalty(discriminator, real, fake, gen)
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()
    return float(d_loss.item())


@dataclass
class TrainedGan:
    """A trained generator and how its training ended."""

    generator: nn.Module
    genome: GanGenome
    d_accuracy: (
        float  # share of a fresh batch of real and generated points D tells apart (sign of its output)
    )
    g_loss_rising: bool  # the generator's loss rose from the first to the second half of its last half
    seed: int

    @torch.no_grad()
    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` generated points (n, 2), or images (n, C, H, W) in [-1, 1]."""
        gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
        self.generator.eval()
        return (
            torch.cat([self.generator(latent(self.genome, min(500, n - k), gen)) for k in range(0, n, 500)])
            .double()
            .numpy()
        )


def train_gan(genome: GanGenome, data: Any, steps: int, seed: int, device: str = "cpu") -> TrainedGan:
    """Train ``genome``'s GAN for ``steps`` generator steps on samples of ``data`` (toy data with
    ``modes``, ``std`` and ``shape`` (2,), or images with ``images`` in [-1, 1] and ``shape``
    (C, H, W)); :class:`DivergedError` if a loss stops being finite."""
    g = genome.as_dict()
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    real_batch = real_sampler(data, gen)
    shape = tuple(data.shape)
    generator = build_generator(genome, shape).to(device)
    discriminator = build_discriminator(genome, shape).to(device)
    opt_g = _optimizer(g["g_optimizer"], generator.parameters(), g["g_lr"], g["beta1"], g["beta2"])
    opt_d = _optimizer(g["d_optimizer"], discriminator.parameters(), g["d_lr"], g["beta1"], g["beta2"])
    batch, loss = g["batch_size"], g["loss"]
    g_losses = np.empty(steps)
    for step in range(steps):
        for _ in range(g["d_steps"]):
            real = real_batch(batch).to(device)
            with torch.no_grad():
                fake = generator(latent(genome, batch, gen).to(device))
            d_loss = _d_step(genome, discriminator, opt_d, real, fake, gen)
        g_loss = _g_loss(loss, discriminator(generator(latent(genome, batch, gen).to(device))))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        g_losses[step] = g_loss.item()
        if not (np.isfinite(g_losses[step]) and np.isfinite(d_loss)):
            raise DivergedError(f"the losses became {d_loss} (D) and {g_losses[step]} (G) at step {step}")
    with torch.no_grad():
        real = real_batch(512).to(device)
        fake = generator(latent(genome, 512, gen).to(device))
        if loss == "wgan_gp":  # a critic's sign means nothing: split at the midpoint of its outputs
            r, f = discriminator(real), discriminator(fake)
            cut = (r.median() + f.median()) / 2
            accuracy = float(((r > cut).float().mean() + (f <= cut).float().mean()) / 2)
        else:
            accuracy = float(
                ((discriminator(real) > 0).float().mean() + (discriminator(fake) <= 0).float().mean()) / 2
            )
    last = g_losses[steps // 2 :]
    rising = len(last) >= 4 and float(np.mean(last[len(last) // 2 :])) > float(
        np.mean(last[: len(last) // 2])
    )
    return TrainedGan(generator.cpu(), genome, accuracy, rising, seed)


# -- E-GAN: generators evolved inside one training run ---------------------------------------------
#: the variation losses of E-GAN (Wang et al. 2019): each parent makes one child per loss
EGAN_LOSSES = ("minimax", "nonsaturating", "least_squares")


def _egan_fitness(
    generator: nn.Module,
    discriminator: nn.Module,
    genome: GanGenome,
    real: torch.Tensor,
    gen: torch.Generator,
    gamma: float,
) -> float:
    """E-GAN's fitness of a child: quality, the mean probability the discriminator gives its samples,
    plus ``gamma`` times diversity, minus the log of the norm of the discriminator's gradient on the
    loss of telling them from ``real`` (a generator that spreads out leaves D a flatter loss)."""
    z = latent(genome, real.shape[0], gen)
    with torch.no_grad():
        fake = generator(z)
    out_fake = discriminator(fake)
    quality = torch.sigmoid(out_fake).mean()
    d_loss = nn.functional.softplus(-discriminator(real)).mean() + nn.functional.softplus(out_fake).mean()
    grads = torch.autograd.grad(d_loss, [p for p in discriminator.parameters() if p.requires_grad])
    norm = torch.sqrt(torch.stack([(g**2).sum() for g in grads]).sum())
    return float(quality.detach()) - gamma * float(torch.log(norm + 1e-12))


def train_egan(
    genome: GanGenome,
    data: Any,
    steps: int,
    seed: int,
    parents: int = 1,
    selection: str = "comma",
    gamma: float = 0.05,
    device: str = "cpu",
) -> TrainedGan:
    """E-GAN (Wang et al. 2019): ``parents`` generators share one discriminator; every step each
    parent makes one child per loss of :data:`EGAN_LOSSES` (one generator step with that loss), the
    children are scored by :func:`_egan_fitness` on a fresh batch, and the ``parents`` best survive:
    among the children alone (``comma``, the (mu, lambda) rule) or among children and parents
    (``plus``, elitism). Then the discriminator trains (``d_steps``, the genome's loss) against the
    survivors' samples. The genome's own ``loss`` gene sets only the discriminator's loss."""
    import copy

    g = genome.as_dict()
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    real_batch = real_sampler(data, gen)
    shape = tuple(data.shape)

    def new_optimizer(g_net: nn.Module) -> torch.optim.Optimizer:
        return _optimizer(g["g_optimizer"], g_net.parameters(), g["g_lr"], g["beta1"], g["beta2"])

    first = build_generator(genome, shape).to(device)
    population: list[tuple[nn.Module, torch.optim.Optimizer]] = [(first, new_optimizer(first))]
    for _ in range(parents - 1):
        twin = copy.deepcopy(first)
        population.append((twin, new_optimizer(twin)))
    discriminator = build_discriminator(genome, shape).to(device)
    opt_d = _optimizer(g["d_optimizer"], discriminator.parameters(), g["d_lr"], g["beta1"], g["beta2"])
    batch = g["batch_size"]
    g_losses = np.empty(steps)
    for step in range(steps):
        for _ in range(g["d_steps"]):
            real = real_batch(batch).to(device)
            with torch.no_grad():
                parent = population[int(torch.randint(len(population), (1,), generator=gen))][0]
                fake = parent(latent(genome, batch, gen).to(device))
            d_loss = _d_step(genome, discriminator, opt_d, real, fake, gen)
        if not np.isfinite(d_loss):
            raise DivergedError(f"the discriminator's loss became {d_loss} at step {step}")
        candidates: list[tuple[float, nn.Module, torch.optim.Optimizer, float]] = []
        real = real_batch(batch).to(device)
        if selection == "plus":
            for net, opt in population:
                candidates.append(
                    (_egan_fitness(net, discriminator, genome, real, gen, gamma), net, opt, math.nan)
                )
        for net, opt in population:
            for child_loss in EGAN_LOSSES:
                child = copy.deepcopy(net)
                child_opt = new_optimizer(child)
                child_opt.load_state_dict(opt.state_dict())
                value = _g_loss(child_loss, discriminator(child(latent(genome, batch, gen).to(device))))
                child_opt.zero_grad(set_to_none=True)
                value.backward()
                child_opt.step()
                if not np.isfinite(value.item()):
                    continue  # a child whose loss overflowed does not survive
                fitness = _egan_fitness(child, discriminator, genome, real, gen, gamma)
                candidates.append((fitness, child, child_opt, value.item()))
        if not candidates:
            raise DivergedError(f"every child's loss overflowed at step {step}")
        candidates.sort(key=lambda c: -c[0] if np.isfinite(c[0]) else math.inf)
        population = [(net, opt) for _, net, opt, _ in candidates[:parents]]
        g_losses[step] = next((c[3] for c in candidates if np.isfinite(c[3])), math.nan)
    best = population[0][0]
    with torch.no_grad():
        real, fake = real_batch(512).to(device), best(latent(genome, 512, gen).to(device))
        accuracy = float(
            ((discriminator(real) > 0).float().mean() + (discriminator(fake) <= 0).float().mean()) / 2
        )
    last = g_losses[steps // 2 :]
    last = last[np.isfinite(last)]
    rising = len(last) >= 4 and float(np.mean(last[len(last) // 2 :])) > float(
        np.mean(last[: len(last) // 2])
    )
    return TrainedGan(best.cpu(), genome, accuracy, rising, seed)
