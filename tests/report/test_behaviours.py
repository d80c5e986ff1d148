"""Where a search looked: every evaluated individual's behaviour, read back from the run store and
drawn over the problem's own map (the maze's walls, start and goal)."""

import numpy as np

import evoforge
from evoforge.problems.maze import MAZES, MazeConfig, MazeProblem
from evoforge.report.plots import draw_behaviours, pyplot
from evoforge.store.run_store import RunStore


def test_the_behaviours_of_a_run_are_drawn_over_the_maze(tmp_path):
    config = {
        "seed": 2,
        "generations": 3,
        "strategy": {"name": "novelty_search", "population_size": 12},
        "problem": {"kind": "maze", "maze": "medium", "steps": 40, "policy": {"hidden": [2]}},
        "test_episodes": 1,
    }
    evoforge.run(evoforge.RunConfig.model_validate(config), tmp_path / "r")
    store = RunStore.open(tmp_path / "r", read_only=True)
    try:
        fitness, behaviours = store.behaviours()
        recorded = [(f, m) for _, f, m in store.evaluations()]
    finally:
        store.close()
    # every evaluation, in order, with the final position its metrics recorded
    assert len(behaviours) == len(recorded) == 12 * 3  # three generations of 12
    assert fitness.tolist() == [f for f, _ in recorded]
    assert behaviours.tolist() == [[m["descriptor_0"], m["descriptor_1"]] for _, m in recorded]
    world = MazeProblem.behaviour_map(MazeConfig(maze="medium"))
    assert world.points == {"start": (30.0, 22.0), "goal": (270.0, 100.0)}
    assert world.bounds == ((5.0, 295.0), (5.0, 135.0))
    fig, ax = pyplot().subplots()
    best = behaviours[np.argmax(fitness)]
    points, walls = draw_behaviours(ax, behaviours, world, best)
    np.testing.assert_array_equal(points.get_offsets(), behaviours)
    drawn = [np.asarray(segment).ravel().tolist() for segment in walls.get_segments()]
    assert drawn == [list(map(float, wall)) for wall in MAZES["medium"].walls]
    star = ax.collections[-1]  # the best behaviour, drawn last
    np.testing.assert_array_equal(star.get_offsets(), [best])
    assert ax.get_xlim() == (0.0, 300.0) and ax.get_ylim() == (0.0, 140.0)
    pyplot().close(fig)
    # a problem with no map (descriptors that are not positions): the behaviours alone
    fig, ax = pyplot().subplots()
    points, walls = draw_behaviours(ax, behaviours, None)
    assert walls is None and len(ax.collections) == 1
    pyplot().close(fig)


def test_behaviours_are_read_whatever_else_the_metrics_hold(tmp_path):
    # a metric of NaN or infinity (written as JSON's non-standard NaN/Infinity) beside the descriptors,
    # and individuals with no descriptors at all: the report must still read the ones that have them
    store = RunStore.create(tmp_path / "s", "seed: 0\n", {})
    row = {"parents": (), "wall_seconds": 0.0, "aux": {}, "genome": np.zeros(2), "error": None}
    store.record_evaluations(
        0,
        [
            dict(
                row,
                idx=0,
                genome_id="aa",
                fitness=1.0,
                metrics={"loss": float("nan"), "descriptor_0": 3.0, "descriptor_1": 4.0},
            ),
            dict(row, idx=1, genome_id="bb", fitness=2.0, metrics={"loss": float("inf")}),
            dict(row, idx=2, genome_id="cc", fitness=float("nan"), error="RuntimeError: x", metrics={}),
            dict(
                row,
                idx=3,
                genome_id="dd",
                fitness=float("nan"),
                metrics={"descriptor_0": -1.0, "descriptor_1": 0.5, "x": float("-inf")},
            ),
        ],
    )
    store.flush()
    fitness, behaviours = store.behaviours()
    store.close()
    np.testing.assert_array_equal(fitness, [1.0, np.nan])
    assert behaviours.tolist() == [[3.0, 4.0], [-1.0, 0.5]]
