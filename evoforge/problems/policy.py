"""Batched MLP policies: a whole population's forward pass as a few stacked matmuls.

Parameters of P policies arrive as a (P, D) array; each layer becomes a
(P, fan_in, fan_out) weight stack, and observations of shape (P, E, obs_dim)
(E episodes per policy) go through ``numpy.matmul``, which treats every policy
as its own matrix product: a policy's output never depends on which other
policies share the batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from evoforge.core.space import VectorSpace

__all__ = ["PolicyConfig", "MLPPolicy", "PolicySpace", "ACTIVATIONS"]


def _relu(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.maximum(x, 0, out=out)


def _elu(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))


def _gelu(x: np.ndarray) -> np.ndarray:  # tanh approximation (Hendrycks & Gimpel 2016)
    return 0.5 * x * (1.0 + np.tanh(0.7978845608 * (x + 0.044715 * x**3)))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


_IN_PLACE = {"tanh", "relu"}  # ufuncs that accept out=

ACTIVATIONS: dict[str, Callable[..., np.ndarray]] = {
    "tanh": np.tanh,
    "relu": _relu,
    "elu": _elu,
    "gelu": _gelu,
    "sigmoid": _sigmoid,
    "silu": lambda x: x * _sigmoid(x),
    "linear": lambda x: x,
}


class PolicyConfig(BaseModel):
    """An MLP policy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hidden: list[Annotated[int, Field(ge=1)]] = Field(
        [32], description="Widths of the hidden layers ([] = linear policy)."
    )
    activation: Literal["tanh", "relu", "elu", "gelu", "sigmoid", "silu", "linear"] = Field(
        "tanh", description="Hidden-layer activation."
    )
    obs_norm: bool = Field(
        False,
        description="Normalise observations by running mean/std, updated between generations.",
    )
    init_scale: float = Field(1.0, gt=0, description="Multiplier on the 1/sqrt(fan_in) weight init.")


class MLPPolicy:
    """Layout, initialisation and batched forward pass of an MLP policy.

    ``action`` is ``"discrete"`` (argmax over ``act_dim`` logits) or
    ``"continuous"`` (tanh squashed into ``[low, high]`` where finite).

    >>> pol = MLPPolicy(4, 2, PolicyConfig(hidden=[8]), "discrete")
    >>> params = np.stack([pol.initial_params(np.random.default_rng(i)) for i in range(3)])
    >>> pol.act(pol.unflatten(params), np.zeros((3, 5, 4), np.float32)).shape
    (3, 5)
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        config: PolicyConfig,
        action: Literal["discrete", "continuous"],
        low: np.ndarray | None = None,
        high: np.ndarray | None = None,
    ):
        self.obs_dim, self.act_dim, self.config, self.action = obs_dim, act_dim, config, action
        self.sizes = [obs_dim, *config.hidden, act_dim]
        self.shapes = list(zip(self.sizes[:-1], self.sizes[1:], strict=True))
        self.n_params = sum(i * o + o for i, o in self.shapes)
        self._activation = ACTIVATIONS[config.activation]
        self._in_place = config.activation in _IN_PLACE
        self._buffers: dict[tuple, list[np.ndarray]] = {}
        if action == "continuous":
            low = np.asarray(low, np.float32)
            high = np.asarray(high, np.float32)
            self._bounded = bool(np.all(np.isfinite(low)) and np.all(np.isfinite(high)))
            self._centre, self._half = (high + low) / 2, (high - low) / 2

    def initial_params(self, rng: np.random.Generator) -> np.ndarray:
        """Weights N(0, init_scale^2 / fan_in), biases zero."""
        parts = []
        for fan_in, fan_out in self.shapes:
            parts.append(rng.standard_normal(fan_in * fan_out) * self.config.init_scale / np.sqrt(fan_in))
            parts.append(np.zeros(fan_out))
        return np.concatenate(parts)

    def unflatten(self, params: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """(P, D) parameters to per-layer float32 stacks ``(W: (P, in, out), b: (P, 1, out))``."""
        params = np.asarray(params, dtype=np.float32)
        if params.ndim != 2 or params.shape[1] != self.n_params:
            raise ValueError(f"expected parameters of shape (P, {self.n_params}), got {params.shape}")
        layers, offset, n = [], 0, params.shape[0]
        for fan_in, fan_out in self.shapes:
            w = params[:, offset : offset + fan_in * fan_out].reshape(n, fan_in, fan_out)
            offset += fan_in * fan_out
            b = params[:, offset : offset + fan_out].reshape(n, 1, fan_out)
            offset += fan_out
            layers.append((np.ascontiguousarray(w), np.ascontiguousarray(b)))
        return layers

    def logits(self, layers: list[tuple[np.ndarray, np.ndarray]], obs: np.ndarray) -> np.ndarray:
        """Output-layer values for observations of shape (P, E, obs_dim).

        Intermediate results go into buffers kept between calls (a rollout calls this once
        per step with the same shapes), which halves the cost of these small products.
        """
        obs = np.asarray(obs, dtype=np.float32)
        key = (layers[0][0].shape[0], *obs.shape[:-1])
        buffers = self._buffers.get(key)
        if buffers is None:
            buffers = [np.empty((*obs.shape[:-1], w.shape[2]), np.float32) for w, _ in layers]
            self._buffers = {key: buffers}
        h = obs
        last = len(layers) - 1
        for k, (w, b) in enumerate(layers):
            out = buffers[k] if k < last else None
            h = np.matmul(h, w, out=out)
            h += b
            if k < last:
                h = self._activation(h, out=h) if self._in_place else self._activation(h)
        return h

    def act(self, layers: list[tuple[np.ndarray, np.ndarray]], obs: np.ndarray) -> np.ndarray:
        """Actions for observations of shape (P, E, obs_dim)."""
        out = self.logits(layers, obs)
        if self.action == "discrete":
            if out.shape[-1] == 2:  # same as argmax (ties go to action 0), a third of the cost
                return (out[..., 1] > out[..., 0]).astype(np.int64)
            return np.argmax(out, axis=-1)
        out = np.tanh(out)
        if self._bounded:
            return self._centre + self._half * out
        return out


class PolicySpace(VectorSpace):
    """Parameter vectors of an :class:`MLPPolicy` (``policy``): a vector space that also says whose
    weights its vectors are, for strategies that train the policy by gradient (capability ``policy``).

    >>> space = PolicySpace(MLPPolicy(3, 1, PolicyConfig(hidden=[4]), "continuous", [-2.0], [2.0]))
    >>> space.dim, "policy" in space.offers
    (21, True)
    """

    offers = VectorSpace.offers | {"policy"}
    describes = "policy parameter vector"

    def __init__(self, policy: MLPPolicy):
        super().__init__(policy.n_params, policy.initial_params)
        self.policy = policy
