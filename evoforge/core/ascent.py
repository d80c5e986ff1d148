"""Steps of gradient ascent on a search distribution's centre, shared by the distribution strategies.

Each step is a pure function of the gradient estimate and the optimizer's moments, which the caller
keeps in its strategy state; nothing here holds state of its own.

* :func:`adam_step`: Adam (Kingma & Ba 2015, Algorithm 1, with the bias corrections folded into the
  step size as in section 2 of the paper).
* :func:`clipup_step`: ClipUp (Toklu et al. 2020, "ClipUp: a simple and powerful optimizer for
  distribution-based policy evolution", section 3): the gradient normalised to unit length, heavy-ball
  momentum, and the velocity's length capped at ``max_speed``, so one step never moves the centre more
  than ``max_speed`` whatever the scale of the fitness.
"""

from __future__ import annotations

import numpy as np

__all__ = ["adam_step", "clipup_step"]


def adam_step(
    grad: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    t: int,
    learning_rate: float,
    beta1: float = 0.9,
    beta2: float = 0.999,
    epsilon: float = 1e-8,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(step, m, v)``: Adam's ascent step at step count ``t`` (from 1) and its new moments.

    >>> step, m, v = adam_step(np.array([2.0, -1.0]), np.zeros(2), np.zeros(2), 1, 0.1)
    >>> np.round(step, 6).tolist()  # the first step has the learning rate's size in every coordinate
    [0.1, -0.1]
    """
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad * grad
    step_size = learning_rate * np.sqrt(1 - beta2**t) / (1 - beta1**t)
    return step_size * m / (np.sqrt(v) + epsilon), m, v


def clipup_step(
    grad: np.ndarray, velocity: np.ndarray, step_size: float, max_speed: float, momentum: float = 0.9
) -> np.ndarray:
    """The new velocity (the step to add to the centre) after ``grad``; a zero gradient adds nothing.

    >>> v = clipup_step(np.array([3.0, 4.0]), np.zeros(2), step_size=0.5, max_speed=1.0)
    >>> np.round(v, 12).tolist()  # the unit gradient (0.6, 0.8) times the step size
    [0.3, 0.4]
    >>> for _ in range(50):
    ...     v = clipup_step(np.array([3.0, 4.0]), v, step_size=0.5, max_speed=1.0)
    >>> round(float(np.linalg.norm(v)), 9)  # momentum builds up to the speed limit, never past it
    1.0
    """
    norm = float(np.linalg.norm(grad))
    velocity = momentum * velocity + (step_size / norm * grad if norm > 0 else 0.0)
    speed = float(np.linalg.norm(velocity))
    if speed > max_speed:
        velocity = velocity * (max_speed / speed)
    return velocity
