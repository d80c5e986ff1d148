"""Double pole balancing (Wieland 1991), as used in the NEAT paper (Stanley &
Miikkulainen 2002, section 4.2) and earlier by Gruau, Whitley and Pyeatt (1996).

Two poles (half-lengths 0.5 m and 0.05 m, masses 0.1 kg and 0.01 kg) are hinged
on a 1 kg cart on a 4.8 m track; a force of up to 10 N pushes the cart either
way. The equations of motion (with hinge friction 2e-6) are integrated by
4th-order Runge-Kutta with a 0.01 s step, the controller acting every two steps.
A trial fails when the cart leaves the track (|x| > 2.4 m) or either pole leans
more than 36 degrees. The long pole starts at 0.07 rad (about 4 degrees), the
rest at rest, as in the code of the NEAT experiments.

* ``velocities: true`` (DPV): the network sees x, x', theta1, theta1', theta2,
  theta2' (scaled by 4.8, 2, 0.52, 2, 0.52, 2); fitness is the number of steps
  balanced; solved when it balances ``solve_steps`` (100,000: 30 minutes).
* ``velocities: false`` (DPNV): only x, theta1, theta2, so the network must be
  recurrent to infer velocities. Fitness is Gruau et al.'s anti-jiggle fitness
  over 1,000 steps, ``0.1 t / 1000 + 0.9 * 0.75 / sum of (|x| + |x'| + |theta1| +
  |theta1'|) over the last 100 steps`` (the second term only after 100 steps).
  A network that balances 1,000 steps is also tested: it must balance 100,000
  steps from the start state, and then pass the generalisation test: from 625
  start states (x, x', theta1, theta1' each at 5 points of their ranges, the
  short pole upright) balance 1,000 steps in at least 200 of them. It is solved
  when it passes both.

Every individual is simulated in one vectorised batch with the rest of the
population; finished trials are dropped from the batch as they end.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from evoforge.core.problem import Context, EvalResult, ProblemConfig
from evoforge.problems.base import NetworkProblem
from evoforge.spaces.neat import NeatGenome
from evoforge.spaces.neat_arrays import NeatPopulation

__all__ = ["DoublePoleProblem", "DoublePoleConfig", "derivatives", "rk4_step", "simulate"]

GRAVITY = -9.8
MASS_CART = 1.0
MASS_1, HALF_1 = 0.1, 0.5
MASS_2, HALF_2 = 0.01, 0.05
HINGE_FRICTION = 0.000002
FORCE = 10.0
TAU = 0.01
FAIL_ANGLE = 0.628329  # 36 degrees
TRACK = 2.4
START_ANGLE = 0.07


def derivatives(state: np.ndarray, force: np.ndarray) -> np.ndarray:
    """d(state)/dt for states (6, n) = (x, x', theta1, theta1', theta2, theta2') under ``force`` (n,)."""
    x_dot, t1, t1_dot, t2, t2_dot = state[1], state[2], state[3], state[4], state[5]
    cos1, sin1, cos2, sin2 = np.cos(t1), np.sin(t1), np.cos(t2), np.sin(t2)
    g1, g2 = GRAVITY * sin1, GRAVITY * sin2
    ml1, ml2 = HALF_1 * MASS_1, HALF_2 * MASS_2
    fr1, fr2 = HINGE_FRICTION * t1_dot / ml1, HINGE_FRICTION * t2_dot / ml2
    # effective forces and masses of the poles on the cart
    f1 = ml1 * t1_dot * t1_dot * sin1 + 0.75 * MASS_1 * cos1 * (fr1 + g1)
    f2 = ml2 * t2_dot * t2_dot * sin2 + 0.75 * MASS_2 * cos2 * (fr2 + g2)
    m1 = MASS_1 * (1.0 - 0.75 * cos1 * cos1)
    m2 = MASS_2 * (1.0 - 0.75 * cos2 * cos2)
    x_acc = (force + f1 + f2) / (m1 + m2 + MASS_CART)
    t1_acc = -0.75 * (x_acc * cos1 + g1 + fr1) / HALF_1
    t2_acc = -0.75 * (x_acc * cos2 + g2 + fr2) / HALF_2
    return np.stack([x_dot, x_acc, t1_dot, t1_acc, t2_dot, t2_acc])


def rk4_step(state: np.ndarray, force: np.ndarray) -> np.ndarray:
    """One 4th-order Runge-Kutta step of ``TAU`` seconds."""
    k1 = derivatives(state, force)
    k2 = derivatives(state + 0.5 * TAU * k1, force)
    k3 = derivatives(state + 0.5 * TAU * k2, force)
    k4 = derivatives(state + TAU * k3, force)
    return state + (TAU / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


def _failed(state: np.ndarray) -> np.ndarray:
    return (np.abs(state[0]) > TRACK) | (np.abs(state[2]) > FAIL_ANGLE) | (np.abs(state[4]) > FAIL_ANGLE)


def _observe(state: np.ndarray, velocities: bool) -> np.ndarray:
    if velocities:
        scale = np.array([4.8, 2.0, 0.52, 2.0, 0.52, 2.0])[:, None]
        return (state / scale).T
    return np.stack([state[0] / 4.8, state[2] / 0.52, state[4] / 0.52], axis=1)


def simulate(controller, start: np.ndarray, steps: int, velocities: bool, jiggle: bool = False):
    """Run one trial per column of ``start`` (6, n) for at most ``steps`` actions.

    ``controller(obs (n, d), alive_idx) -> outputs in [0, 1]`` (n_alive,). Returns the steps each
    trial lasted and, with ``jiggle``, the sum of |x| + |x'| + |theta1| + |theta1'| over each trial's
    last 100 steps (Gruau et al. 1996).
    """
    state = np.array(start, dtype=np.float64)
    n = state.shape[1]
    lasted = np.zeros(n, dtype=np.int64)
    alive = np.arange(n)
    recent = np.zeros((100, n if jiggle else 0))
    for t in range(steps):
        if alive.size == 0:
            break
        out = controller(_observe(state, velocities), alive)
        force = (np.asarray(out, np.float64) - 0.5) * FORCE * 2.0
        for _ in range(2):  # the controller acts every other 0.01 s step
            state = rk4_step(state, force)
        if jiggle:
            recent[t % 100, alive] = np.abs(state[0]) + np.abs(state[1]) + np.abs(state[2]) + np.abs(state[3])
        ok = ~_failed(state)
        lasted[alive[ok]] = t + 1
        if not ok.all():
            alive, state = alive[ok], state[:, ok]
    return lasted, (recent.sum(axis=0) if jiggle else None)


class DoublePoleConfig(ProblemConfig):
    """Double pole balancing, with (DPV) or without (DPNV) velocity inputs."""

    kind: Literal["double_pole"] = "double_pole"
    velocities: bool = Field(True, description="DPV (true) or DPNV (false; needs recurrent networks).")
    solve_steps: int = Field(100_000, ge=1, description="Steps to balance to count as solved.")
    fitness_steps: int = Field(
        1_000, ge=100, description="DPNV: steps of the Gruau fitness trial (DPV trials run to solve_steps)."
    )
    generalization_required: int = Field(
        200, ge=0, le=625, description="DPNV: of the 625 generalisation starts, how many must balance."
    )


class _NetworkController:
    """Adapts a compiled NEAT population to :func:`simulate` (one trial per network)."""

    def __init__(self, genomes: list[NeatGenome] | NeatPopulation, trials_per_net: int = 1):
        from evoforge.spaces.neat_network import CompiledPopulation

        self.size = len(genomes)
        self.k = trials_per_net
        self.net = CompiledPopulation(genomes)
        self.state = None if self.net.feed_forward else self.net.initial_state(trials_per_net)

    def __call__(self, obs: np.ndarray, alive: np.ndarray) -> np.ndarray:
        p, k = self.size, self.k
        full = np.zeros((p * k, obs.shape[1]))
        full[alive] = obs
        x = full.reshape(p, k, -1)
        if self.net.feed_forward:
            out = self.net.activate(x)
        else:
            out, self.state = self.net.step(x, self.state)  # type: ignore[arg-type]  # recurrent: set
        return out.reshape(p * k, -1)[alive, 0]


def _starts(velocities: bool, n: int) -> np.ndarray:
    start = np.zeros((6, n))
    start[2] = START_ANGLE
    return start


def _subset(
    genomes: list[NeatGenome] | NeatPopulation, rows: np.ndarray
) -> list[NeatGenome] | NeatPopulation:
    """The genomes of ``rows``, in the form given (a list, or a slice of a population's arrays)."""
    if isinstance(genomes, NeatPopulation):
        return genomes.take(rows)
    return [genomes[i] for i in rows]


def generalization_starts() -> np.ndarray:
    """The 625 start states of the generalisation test (Gruau et al. 1996), shape (6, 625)."""
    points = np.array([0.05, 0.25, 0.5, 0.75, 0.95])
    x = points * 4.32 - 2.16
    x_dot = points * 2.70 - 1.35
    t1 = points * 0.12566304 - 0.06283152
    t1_dot = points * 0.30019504 - 0.15009752
    grid = np.stack(np.meshgrid(x, x_dot, t1, t1_dot, indexing="ij")).reshape(4, -1)
    return np.concatenate([grid, np.zeros((2, grid.shape[1]))])


class DoublePoleProblem(NetworkProblem):
    """Double pole balancing for NEAT networks (one output: the force, 0 = full left, 1 = full right)."""

    kind = "double_pole"
    config_class = DoublePoleConfig
    example = {"kind": "double_pole"}
    deterministic = True
    direction = "maximize"
    config: DoublePoleConfig
    accepts_batches = True  # a NeatPopulation slice compiles as a list of genomes does

    @property
    def network_io(self) -> tuple[int, int]:
        return (6 if self.config.velocities else 3), 1

    def evaluate(
        self, params: list[NeatGenome] | NeatPopulation, seeds: np.ndarray, context: Context
    ) -> list[EvalResult]:
        c = self.config
        n = len(params)
        if c.velocities:
            lasted, _ = simulate(_NetworkController(params), _starts(True, n), c.solve_steps, True)
            return [
                EvalResult(float(t), {"steps": float(t), "solved": float(t >= c.solve_steps)}) for t in lasted
            ]
        lasted, jiggle = simulate(_NetworkController(params), _starts(False, n), c.fitness_steps, False, True)
        fitness = 0.1 * lasted / c.fitness_steps + np.where(
            (lasted >= 100) & (jiggle > 0), 0.9 * 0.75 / np.maximum(jiggle, 1e-300), 0.0
        )
        metrics = [{"steps": float(t), "solved": 0.0} for t in lasted]
        balanced = np.flatnonzero(lasted >= c.fitness_steps)
        for i, tests in zip(balanced, self._champion_tests(_subset(params, balanced)), strict=True):
            metrics[i].update(tests)
        return [EvalResult(float(f), m) for f, m in zip(fitness, metrics, strict=True)]

    def _champion_tests(self, genomes: list[NeatGenome] | NeatPopulation) -> list[dict[str, float]]:
        """DPNV, for every network that balanced the fitness trial: 100,000 steps from the start
        state, then, for those that last, the 625-start generalisation test. Each stage simulates all
        its networks in one batch (a network's result does not depend on its batch-mates)."""
        c = self.config
        if not genomes:
            return []
        long_run, _ = simulate(
            _NetworkController(genomes), _starts(False, len(genomes)), c.solve_steps, False
        )
        out = [{"long_steps": float(t), "generalization": 0.0, "solved": 0.0} for t in long_run]
        lasting = np.flatnonzero(long_run >= c.solve_steps)
        if lasting.size:
            starts = np.tile(generalization_starts(), (1, lasting.size))  # 625 trials per network
            lasted, _ = simulate(_NetworkController(_subset(genomes, lasting), 625), starts, 1_000, False)
            passed = (lasted.reshape(lasting.size, 625) >= 1_000).sum(axis=1)
            for i, score in zip(lasting, passed, strict=True):
                out[i]["generalization"] = float(score)
                out[i]["solved"] = float(score >= c.generalization_required)
        return out
