"""The deceptive mazes of Lehman & Stanley 2011: the robot's sensors and motion, checked by hand on
the medium maze's start (30, 22), heading 0 (east); the goal (270, 100)."""

import numpy as np
import pytest

from evoforge.problems.maze import (
    MAZES,
    RADIUS,
    MazeConfig,
    MazeProblem,
    _near_wall,
    _radars,
    _rangefinders,
    simulate,
)


def test_rangefinders_and_radars_read_the_walls_and_the_goal():
    maze = MAZES["medium"]
    xy, heading = np.array([[30.0, 22.0]]), np.array([0.0])
    readings = _rangefinders(xy, heading, maze.segments)[0]
    # -90 deg: the top wall y = 5, 17 away; -45: the same wall, 17 * sqrt(2); 0: the wall from (114, 5)
    # to (73, 42) crosses y = 22 at x = 114 - 41 * 17 / 37; 45: the wall from (58, 65) to (241, 135)
    # meets the diagonal y = x - 8 at x = 50.81 / (1 - 70 / 183); 90: nothing within 100; 180: x = 5
    east = 114 - 41 * 17 / 37 - 30
    diagonal = (50.81 / (1 - 70 / 183) - 30) * np.sqrt(2)
    expected = [0.17, 0.17 * np.sqrt(2), east / 100, diagonal / 100, 1.0, 0.25]
    assert readings == pytest.approx(expected, abs=1e-3)
    # the goal at atan2(78, 240) = 18 degrees: in front; turned around, it is behind
    assert _radars(xy, heading, np.array(maze.goal)).tolist() == [[1.0, 0.0, 0.0, 0.0]]
    assert _radars(xy, np.array([180.0]), np.array(maze.goal)).tolist() == [[0.0, 0.0, 1.0, 0.0]]
    assert _radars(xy, np.array([270.0]), np.array(maze.goal)).tolist() == [[0.0, 1.0, 0.0, 0.0]]


def test_a_robot_driving_into_a_wall_stops_short_of_it_and_the_goal_ends_the_episode():
    maze = MAZES["medium"]
    full_ahead = lambda x: np.tile([0.5, 1.0], (len(x), 1))  # noqa: E731  (no turn, accelerate)
    xy, reached = simulate(full_ahead, 1, maze, steps=200)
    east = 114 - 41 * 17 / 37
    assert not reached[0] and xy[0, 1] == 22.0 and east - 3 * RADIUS < xy[0, 0] < east
    assert not _near_wall(xy, maze.segments)[0]
    # a maze whose goal is straight ahead: reached, and the robot stops there
    near = type(maze)(maze.start, 0.0, (60.0, 22.0), maze.walls)
    xy, reached = simulate(full_ahead, 1, near, steps=200)
    assert reached[0] and abs(xy[0, 0] - 60.0) < 5.0


def test_the_problem_records_the_final_position_as_its_descriptor():
    problem = MazeProblem(MazeConfig(maze="hard", steps=100))
    assert problem.descriptor_size == 2 and problem.dim == 10 * 8 + 8 + 8 * 2 + 2
    params = np.stack([problem.initial_params(np.random.default_rng(i)) for i in range(5)])
    results = problem.evaluate(params, np.zeros(5), {})
    xy, _ = problem.run(params)
    goal = np.array(MAZES["hard"].goal)
    for r, (x, y) in zip(results, xy, strict=True):
        assert (r.metrics["descriptor_0"], r.metrics["descriptor_1"]) == (x, y)
        assert (
            r.fitness == -r.metrics["distance_to_goal"] == pytest.approx(-np.hypot(x - goal[0], y - goal[1]))
        )
        assert 5 + RADIUS <= x <= 200 - RADIUS and 5 + RADIUS <= y <= 200 - RADIUS  # inside the outer walls
    assert problem.test(params[0], 1, 1, {}).score == results[0].fitness  # deterministic


@pytest.mark.slow
def test_novelty_search_on_the_maze_resumes_exactly_after_kill_9(tmp_path):
    """The GA of novelty search (its population, archive and threshold in the state, the descriptors
    read back from the store) killed mid-run resumes to the run never interrupted."""
    import yaml
    from conftest import kill_then_resume, outcome

    import evoforge

    config = {
        "seed": 3,
        "generations": 8,
        "strategy": {"name": "novelty_search", "population_size": 40, "threshold": 3.0},
        "problem": {"kind": "maze", "maze": "hard", "steps": 100},
        "checkpoint_interval": 0,
        "test_episodes": 1,
    }
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(config))
    evoforge.run(evoforge.RunConfig.model_validate(config), tmp_path / "whole")
    kill_then_resume(path, tmp_path / "killed", checkpoints=3)
    reference = outcome(tmp_path / "whole")
    assert outcome(tmp_path / "killed") == reference
    # the archive filled and its threshold rose (more than 4 joined a generation): state that resumed
    last = reference["stats"][-1]["strategy"]
    assert last["archive"] > 40 and last["threshold"] > 3.0
