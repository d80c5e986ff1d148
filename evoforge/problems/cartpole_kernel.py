"""Batched CartPole-v1 physics, operation for operation as Gymnasium's ``CartPoleVectorEnv``.

Hand-written because it measurably beats the library for evoforge's use (see BENCHMARKS.md):
Gymnasium's vector env checks every action batch against its action space, stacks a new
state array and performs its own autoreset draws on each step; a rollout that masks finished
episodes needs none of that. The arithmetic below is the same sequence of NumPy operations on
the same float64 arrays (Barto, Sutton & Anderson 1983 dynamics with Euler integration, as in
Gymnasium), so trajectories are bit-identical to Gymnasium's; ``tests/problems/test_gym.py`` checks it.
The physical constants are read from a Gymnasium instance, so they cannot drift apart.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CartPoleKernel"]


class CartPoleKernel:
    """``n`` CartPole-v1 systems stepped together; episodes are never reset.

    >>> k = CartPoleKernel(np.zeros((4, 3)))
    >>> obs, reward, done = k.step(np.array([0, 1, 1]))
    >>> obs.shape, bool(done.any())
    ((3, 4), False)
    """

    def __init__(self, state: np.ndarray, max_episode_steps: int = 500):
        from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv

        ref = CartPoleVectorEnv(num_envs=1, max_episode_steps=max_episode_steps)
        if ref.kinematics_integrator != "euler":
            raise ValueError("CartPoleKernel implements Euler integration only")
        self.gravity, self.masspole, self.total_mass = ref.gravity, ref.masspole, ref.total_mass
        self.length, self.polemass_length = ref.length, ref.polemass_length
        self.force_mag, self.tau = ref.force_mag, ref.tau
        self.theta_threshold, self.x_threshold = ref.theta_threshold_radians, ref.x_threshold
        self.max_episode_steps = ref.max_episode_steps
        ref.close()
        self.x, self.x_dot, self.theta, self.theta_dot = (np.array(row, dtype=np.float64) for row in state)
        n = self.x.shape[0]
        self.steps = np.zeros(n, dtype=np.int32)
        self._reward = np.ones(n, dtype=np.float32)
        self._obs = np.empty((n, 4), dtype=np.float32)
        self._tmp = [np.empty(n) for _ in range(5)]

    @property
    def state(self) -> np.ndarray:
        return np.stack((self.x, self.x_dot, self.theta, self.theta_dot))

    def step(self, action: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Advance every system; return float32 observations (n, 4), rewards and done flags.

        Gymnasium computes, in this order (Euler integration)::

            force = sign(action - 0.5) * force_mag
            temp = (force + polemass_length * theta_dot**2 * sin) / total_mass
            thetaacc = (gravity * sin - cos * temp) / (length * (4/3 - masspole * cos**2 / total_mass))
            xacc = temp - polemass_length * thetaacc * cos / total_mass
            x += tau * x_dot; x_dot += tau * xacc; theta += tau * theta_dot; theta_dot += tau * thetaacc

        Below, the same products, quotients and sums, in place (IEEE addition and multiplication
        are commutative, so a*b and b*a are the same bits).
        """
        x, x_dot, theta, theta_dot = self.x, self.x_dot, self.theta, self.theta_dot
        temp, thetaacc, den, work, cos = self._tmp
        force = np.where(action > 0, self.force_mag, -self.force_mag)
        np.cos(theta, out=cos)
        sin = np.sin(theta)
        np.square(theta_dot, out=temp)
        temp *= self.polemass_length
        temp *= sin
        temp += force
        temp /= self.total_mass
        np.multiply(sin, self.gravity, out=thetaacc)
        np.multiply(cos, temp, out=work)
        thetaacc -= work
        np.square(cos, out=den)
        den *= self.masspole
        den /= self.total_mass
        np.subtract(4.0 / 3.0, den, out=den)
        den *= self.length
        thetaacc /= den
        np.multiply(thetaacc, self.polemass_length, out=work)
        work *= cos
        work /= self.total_mass
        np.subtract(temp, work, out=work)  # work = xacc
        tau = self.tau
        x += np.multiply(x_dot, tau, out=den)
        x_dot += np.multiply(work, tau, out=den)
        theta += np.multiply(theta_dot, tau, out=den)
        theta_dot += np.multiply(thetaacc, tau, out=den)
        done = (x < -self.x_threshold) | (x > self.x_threshold)
        done |= theta < -self.theta_threshold
        done |= theta > self.theta_threshold
        self.steps += 1
        done |= self.steps >= self.max_episode_steps
        obs = self._obs
        obs[:, 0] = x
        obs[:, 1] = x_dot
        obs[:, 2] = theta
        obs[:, 3] = theta_dot
        return obs, self._reward, done

    def compact(self, keep: np.ndarray) -> None:
        """Keep only the systems at indices ``keep``."""
        self.x, self.x_dot, self.theta, self.theta_dot = (
            a[keep] for a in (self.x, self.x_dot, self.theta, self.theta_dot)
        )
        self.steps = self.steps[keep]
        self._reward = self._reward[keep]
        self._obs = np.empty((len(keep), 4), dtype=np.float32)
        self._tmp = [t[: len(keep)].copy() for t in self._tmp]
