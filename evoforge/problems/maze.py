"""The deceptive mazes of Lehman & Stanley 2011, "Abandoning objectives: evolution through the search
for novelty alone" (Evolutionary Computation 19(2)), section 4: a wheeled robot must reach the goal of
the medium or the hard maze within 400 steps; the fitness (closeness to the goal at the end) leads into
dead ends, which is what novelty search escapes.

* The robot (section 4.1): radius 8; six rangefinders at -90, -45, 0, 45, 90 and 180 degrees from its
  heading, range 100; four pie-slice radars that fire when the goal lies in their quarter (front, left,
  back, right). The network sees the rangefinders (distance / range, 1 when nothing is in range) and the
  radars (0 or 1), and its two outputs in [0, 1] change the angular velocity and the speed by
  ``output - 0.5`` per step, each kept within [-3, 3]. A move into a wall (a wall closer than the radius
  to the new position) is not made. Reaching within 5 of the goal ends the episode.
* The mazes: the wall segments, start and goal of the medium and hard maps of the paper's experiments
  (``medium_maze.txt`` and ``hard_maze.txt`` of its released code; start heading 0 degrees).
* Fitness: minus the distance to the goal at the end (the paper's ``b_dist - d``, up to a constant);
  the behaviour descriptor: the final (x, y) position (section 4.1), recorded as ``descriptor_0`` and
  ``descriptor_1``; also recorded: ``reached`` (1 if the goal was reached) and ``distance_to_goal``.

Every robot of a batch steps together in NumPy. The task is deterministic: an individual's seed
changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from evoforge.core.problem import BehaviourMap, Context, EvalResult, Problem, ProblemConfig, TestResult
from evoforge.core.space import SearchSpace, VectorSpace
from evoforge.problems.policy import MLPPolicy, PolicyConfig

__all__ = ["MazeConfig", "MazeProblem", "Maze", "MAZES", "simulate"]

RADIUS = 8.0
RANGE = 100.0
MAX_SPEED = 3.0
EXIT_RANGE = 5.0
FINDERS = np.radians([-90.0, -45.0, 0.0, 45.0, 90.0, -180.0])
RADARS = ((315.0, 405.0), (45.0, 135.0), (135.0, 225.0), (225.0, 315.0))


@dataclass(frozen=True)
class Maze:
    """Start point, start heading (degrees), goal, and wall segments ``(x1, y1, x2, y2)``."""

    start: tuple[float, float]
    heading: float
    goal: tuple[float, float]
    walls: tuple[tuple[float, float, float, float], ...]

    @property
    def segments(self) -> np.ndarray:
        return np.asarray(self.walls, dtype=np.float64)


MAZES = {
    "medium": Maze(
        (30.0, 22.0),
        0.0,
        (270.0, 100.0),
        (
            (5, 5, 295, 5),
            (295, 5, 295, 135),
            (295, 135, 5, 135),
            (5, 135, 5, 5),
            (241, 135, 58, 65),
            (114, 5, 73, 42),
            (130, 91, 107, 46),
            (196, 5, 139, 51),
            (219, 125, 182, 63),
            (267, 5, 214, 63),
            (271, 135, 237, 88),
        ),
    ),  # fmt: skip
    "hard": Maze(
        (36.0, 184.0),
        0.0,
        (31.0, 20.0),
        (
            (5, 5, 5, 200),
            (5, 200, 200, 200),
            (200, 200, 200, 5),
            (200, 5, 5, 5),
            (5, 49, 57, 53),
            (56, 54, 56, 157),
            (57, 106, 158, 162),
            (77, 200, 108, 164),
            (5, 80, 33, 121),
            (200, 146, 87, 91),
            (56, 55, 133, 30),
        ),
    ),  # fmt: skip
}


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def _rangefinders(xy: np.ndarray, heading: np.ndarray, walls: np.ndarray) -> np.ndarray:
    """(n, 6) distances to the nearest wall along each rangefinder, divided by the range (1: none)."""
    angles = np.radians(heading)[:, None] + FINDERS[None, :]
    d = np.stack([np.cos(angles), np.sin(angles)], axis=-1) * RANGE  # (n, 6, 2): the rays
    a, e = walls[:, :2], walls[:, 2:] - walls[:, :2]  # (W, 2)
    ap = a[None, None, :, :] - xy[:, None, None, :]  # (n, 1, W, 2)
    denom = _cross(d[:, :, None, :], e[None, None, :, :])  # (n, 6, W)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = _cross(ap, e[None, None]) / denom  # along the ray, in ranges
        u = _cross(ap, d[:, :, None, :]) / denom  # along the wall
    hit = (denom != 0) & (t >= 0) & (t <= 1) & (u >= 0) & (u <= 1)
    return np.where(hit, t, 1.0).min(axis=2)


def _radars(xy: np.ndarray, heading: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """(n, 4) which quarter (front, left, back, right) the goal lies in, relative to the heading."""
    toward = np.degrees(np.arctan2(goal[1] - xy[:, 1], goal[0] - xy[:, 0]))
    angle = np.mod(toward - heading, 360.0)[:, None]
    low, high = np.array([r[0] for r in RADARS]), np.array([r[1] for r in RADARS])
    inside = ((angle >= low) & (angle < high)) | ((angle + 360.0 >= low) & (angle + 360.0 < high))
    return inside.astype(np.float64)


def _near_wall(xy: np.ndarray, walls: np.ndarray) -> np.ndarray:
    """(n,) whether a robot at ``xy`` would overlap a wall: one closer than its radius."""
    a, e = walls[:, :2], walls[:, 2:] - walls[:, :2]
    ap = xy[:, None, :] - a[None]  # (n, W, 2)
    t = np.clip((ap * e[None]).sum(axis=2) / (e * e).sum(axis=1)[None], 0.0, 1.0)
    gap = ap - t[..., None] * e[None]
    return ((gap * gap).sum(axis=2) < RADIUS * RADIUS).any(axis=1)


def simulate(act, n: int, maze: Maze, steps: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Run ``n`` robots through ``maze``; ``act(inputs (n, 10)) -> outputs (n, 2)`` in [0, 1].
    Returns the final positions (n, 2) and whether each reached the goal."""
    walls, goal = maze.segments, np.asarray(maze.goal)
    xy = np.tile(np.asarray(maze.start, dtype=np.float64), (n, 1))
    heading = np.full(n, maze.heading)
    speed, turn = np.zeros(n), np.zeros(n)
    reached = np.zeros(n, dtype=bool)
    for _ in range(steps):
        moving = ~reached
        if not moving.any():
            break
        inputs = np.concatenate([_rangefinders(xy, heading, walls), _radars(xy, heading, goal)], axis=1)
        out = np.asarray(act(inputs), dtype=np.float64)
        turn = np.clip(turn + out[:, 0] - 0.5, -MAX_SPEED, MAX_SPEED)
        speed = np.clip(speed + out[:, 1] - 0.5, -MAX_SPEED, MAX_SPEED)
        step = speed[:, None] * np.stack([np.cos(np.radians(heading)), np.sin(np.radians(heading))], axis=1)
        heading = np.where(moving, np.mod(heading + turn, 360.0), heading)
        new = xy + step
        move = moving & ~_near_wall(new, walls)
        xy = np.where(move[:, None], new, xy)
        reached |= np.hypot(*(xy - goal).T) < EXIT_RANGE
    return xy, reached


class MazeConfig(ProblemConfig):
    """Navigate a deceptive maze (Lehman & Stanley 2011) with an MLP controller."""

    kind: Literal["maze"] = "maze"
    maze: Literal["medium", "hard"] = Field("hard", description="The map: the paper's medium or hard maze.")
    steps: int = Field(400, ge=1, description="Time steps of an episode (the paper's 400).")
    policy: PolicyConfig = Field(PolicyConfig(hidden=[8]), description="The controller network.")


class MazeProblem(Problem):
    """Closeness to the goal at the end of an episode (maximised); final position as the descriptor."""

    kind = "maze"
    config_class = MazeConfig
    example = {"kind": "maze", "maze": "medium", "steps": 50, "policy": {"hidden": [4]}}
    direction = "maximize"
    deterministic = True
    spaces: ClassVar[tuple[type[SearchSpace], ...]] = (VectorSpace,)
    recorded_metrics = ("distance_to_goal", "reached", "descriptor_0", "descriptor_1")
    descriptor_size = 2
    config: MazeConfig

    def __init__(self, config: MazeConfig, shared: dict[str, np.ndarray] | None = None):
        super().__init__(config, shared)
        self.maze = MAZES[config.maze]
        self.policy = MLPPolicy(10, 2, config.policy, "continuous", np.zeros(2), np.ones(2))

    @classmethod
    def behaviour_map(cls, config: ProblemConfig) -> BehaviourMap:
        assert isinstance(config, MazeConfig)
        maze = MAZES[config.maze]
        x, y = maze.segments[:, [0, 2]], maze.segments[:, [1, 3]]
        box = ((float(x.min()), float(x.max())), (float(y.min()), float(y.max())))
        return BehaviourMap(maze.walls, {"start": maze.start, "goal": maze.goal}, box)

    @property
    def dim(self) -> int:
        return self.policy.n_params

    def initial_params(self, rng: np.random.Generator) -> np.ndarray:
        return self.policy.initial_params(rng)

    def run(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Final positions and goal reached of the policies ``params`` (P, dim)."""
        layers = self.policy.unflatten(np.atleast_2d(params))
        return simulate(lambda x: self.policy.act(layers, x[:, None, :])[:, 0], len(layers[0][0]), self.maze,
                        self.config.steps)  # fmt: skip

    def evaluate(self, params: np.ndarray, seeds: np.ndarray, context: Context) -> list[EvalResult]:
        xy, reached = self.run(params)
        distance = np.hypot(*(xy - np.asarray(self.maze.goal)).T)
        return [
            EvalResult(
                -float(distance[i]),
                {
                    "distance_to_goal": float(distance[i]),
                    "reached": float(reached[i]),
                    "descriptor_0": float(xy[i, 0]),
                    "descriptor_1": float(xy[i, 1]),
                },
            )
            for i in range(len(xy))
        ]

    def test(self, params: np.ndarray, seed: int, cases: int, context: Context) -> TestResult:
        result = self.evaluate(np.asarray(params)[None, :], np.array([seed]), context)[0]
        return TestResult(result.fitness, [result.fitness], result.metrics)
