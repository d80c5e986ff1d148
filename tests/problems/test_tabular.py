"""Pipeline search on tables: every pipeline the space makes fits a mixed-type table, variation keeps
pipelines valid, the exported script rebuilds the saved pipeline exactly, a seeded search
reproduces, and bad tables are refused in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import mixed_csv

from evoforge.data.tables import TableError, load_table
from evoforge.problems.tabular import TabularConfig, TabularProblem
from evoforge.spaces.pipeline import (
    Pipeline,
    PipelineSpace,
    PipelineSpaceConfig,
    describe_pipeline,
    python_source,
)
from evoforge.spaces.pipeline_steps import SLOTS, STEPS, Facts


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    return TabularProblem(
        TabularConfig(data=mixed_csv(tmp_path_factory.mktemp("t")), target="label", folds=3)
    )


def test_table_is_typed_and_split(mixed):
    t = mixed.table
    assert t.task == "classification" and t.classes == ["no", "yes"]
    assert t.numeric_names == ["x1", "x2", "flag", "constant"] and t.categorical_names == ["colour", "size"]
    assert np.isnan(t.numeric[0, 0]) and t.categorical[0, 0] is None
    assert len(np.intersect1d(mixed.search_rows, mixed.test_rows)) == 0
    assert len(mixed.test_rows) == 32  # 20% held out
    for train, test in mixed.folds:  # the folds cut the search part only
        assert set(train) | set(test) <= set(mixed.search_rows)


@pytest.mark.slow  # end to end (make test runs it; make test-fast stays under 2 minutes)
def test_every_sampled_pipeline_fits_a_mixed_table(mixed):
    rng = np.random.default_rng(1)
    space = mixed.search_space
    seen = {slot: set() for slot in SLOTS}
    for k in range(25):
        genome = space.sample(rng)
        for slot in SLOTS:
            seen[slot].add(genome.step(slot)[0])
        result = mixed.evaluate([genome], np.array([k]), {})[0]
        assert result.error is None, f"{genome}: {result.error}"
        assert 0.0 <= result.fitness <= 1.0 and result.metrics["steps"] == genome.size()
    assert seen["encode"] == {"onehot", "ordinal"}  # string columns: never left unencoded
    assert len(seen["model"]) >= 5


def test_mutation_and_crossover_keep_pipelines_valid(mixed):
    rng = np.random.default_rng(2)
    space = mixed.search_space
    population = [space.sample(rng) for _ in range(10)]
    for _ in range(300):
        a, b = (population[i] for i in rng.integers(len(population), size=2))
        child = space.mutate(space.crossover(a, b, rng), rng)
        assert space.violation(child) is None, f"{child}: {space.violation(child)}"
        assert child != a or a == b  # a mutation changes something
        population[int(rng.integers(len(population)))] = child
    fits = [mixed.evaluate([g], np.array([0]), {})[0] for g in population[:5]]
    assert all(r.error is None for r in fits), [r.error for r in fits]


def test_space_offers_only_what_fits_the_table():
    numeric_only = Facts("regression", samples=50, numeric=3, categorical=0, encoded=3)
    space = PipelineSpace(PipelineSpaceConfig(), numeric_only)
    assert set(space.choices["encode"]) == {"none"}  # no string columns: nothing to encode
    assert "svc" not in space.choices["model"] and "ridge" in space.choices["model"]
    wide = Facts("classification", samples=50, numeric=60, categorical=0, encoded=60, classes=2)
    assert "polynomial" not in PipelineSpace(PipelineSpaceConfig(), wide).choices["extract"]
    assert "iterative" not in PipelineSpace(PipelineSpaceConfig(), wide).choices["impute"]
    with pytest.raises(ValueError, match="no model step fits"):
        PipelineSpace(PipelineSpaceConfig(steps={"model": ["svc"]}), numeric_only)
    with pytest.raises(ValueError, match="unknown model step 'svm'"):
        PipelineSpaceConfig(steps={"model": ["svm"]})


def test_exported_script_rebuilds_the_pipeline_exactly(mixed, tmp_path):
    rng = np.random.default_rng(3)
    t = mixed.table
    for _ in range(6):
        genome = mixed.search_space.sample(rng)
        make = describe_pipeline(genome, mixed.facts, t.numeric_names, t.categorical_names, seed=11)
        source = python_source(make, header="test")
        namespace: dict = {}
        exec(compile(source, "pipeline.py", "exec"), namespace)
        ours, theirs = make.build(), namespace["pipeline"]
        x, y = t.frame(mixed.search_rows), t.y[mixed.search_rows]
        new = t.frame(mixed.test_rows)
        ours.fit(x, y)
        theirs.fit(x, y)
        np.testing.assert_array_equal(ours.predict(new), theirs.predict(new))


def test_genome_json_round_trip_and_bad_json(mixed):
    genome = mixed.search_space.sample(np.random.default_rng(4))
    assert Pipeline.from_json(genome.to_json()) == genome
    bad = genome.to_json()
    bad["steps"][5]["step"] = "deep_forest"
    with pytest.raises(ValueError, match="model step 'deep_forest' is not one of"):
        Pipeline.from_json(bad)


def test_test_split_scored_once_by_refitting(mixed):
    genome = mixed.search_space.sample(np.random.default_rng(5))
    result = mixed.test(genome, 3, 1, {})
    assert 0.0 <= result.score <= 1.0 and result.metrics == {"accuracy": result.score}


def test_regression_error_metric_is_negated():
    problem = TabularProblem(TabularConfig(data="sklearn:diabetes", metric="rmse", folds=3))
    genome = problem.search_space.sample(np.random.default_rng(0))
    result = problem.evaluate([genome], np.array([0]), {})[0]
    assert result.error is None and result.fitness == -result.metrics["rmse"] < 0


def test_failing_pipeline_is_recorded_not_raised(mixed, monkeypatch):
    genome = mixed.search_space.sample(np.random.default_rng(6))

    def broken(*args, **kwargs):
        raise RuntimeError("the model exploded")

    monkeypatch.setattr(mixed, "build", broken)
    result = mixed.evaluate([genome], np.array([0]), {})[0]
    assert np.isnan(result.fitness) and result.error == "RuntimeError: the model exploded"


@pytest.mark.parametrize(
    "content, target, message",
    [
        ("a,b\n1,2\n3,4,5\n", "b", "line 3 has 3 fields, the header has 2"),
        ("a,b\n1,2\n3\n", "b", "line 3 has 1 fields, the header has 2"),
        ("a,b\n", "b", "the table has no rows"),
        ("a,b\n1,x\n2,y\n", "c", "no column 'c' (columns: a, b)"),
        ("a,b\n1,x\n2,x\n3,x\n", "b", "has one class ('x')"),
        ("a,e,b\n1,,x\n2,,y\n3,,x\n4,,y\n", "b", "column 'e' is empty"),
        ("a,b\n1,x\n2,\n", "b", "target column 'b' has 1 missing values"),
        ("a,b\n1,x\n2,y\n3,x\n", "b", "class 'y' of 'b' has 1 rows"),
        # a table whose fields are separated otherwise, read as one column of joined fields
        (
            "a;b\n1;x\n2;y\n",
            "b",
            "one column named 'a;b': its fields seem separated by ';'; save it with commas",
        ),
        ("a\tb\n1\tx\n2\ty\n", "b", "its fields seem separated by tabs; save it with commas"),
    ],
)
def test_bad_tables_are_refused_in_one_line(tmp_path, content, target, message):
    file = tmp_path / "bad.csv"
    file.write_text(content)
    with pytest.raises(TableError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        load_table(str(file), target)
    assert "\n" not in str(info.value)


def test_missing_file_and_unknown_bundled_table(tmp_path):
    with pytest.raises(TableError, match="does not exist"):
        load_table(str(tmp_path / "nope.csv"), "y")
    with pytest.raises(TableError, match="no bundled table 'titanic'"):
        load_table("sklearn:titanic", "target")


def test_parquet_reads_like_csv(tmp_path):
    import pandas as pd

    csv = mixed_csv(tmp_path)
    pd.read_csv(csv).to_parquet(tmp_path / "mixed.parquet")
    a, b = load_table(csv, "label"), load_table(str(tmp_path / "mixed.parquet"), "label")
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(a.numeric, b.numeric)
    assert a.categorical.tolist() == b.categorical.tolist()


def test_catalogue_covers_the_issue():
    names = {slot: {s.name for s in STEPS[slot]} for slot in SLOTS}
    assert {"mean", "median", "knn", "iterative"} <= names["impute"]
    assert {"onehot", "ordinal"} <= names["encode"]
    assert {"none", "standard", "robust", "quantile"} <= names["scale"]
    assert {"pca", "polynomial", "nystroem", "rbf_sampler"} <= names["extract"]
    assert {"variance", "univariate", "model"} <= names["select"]
    assert {"svc", "svr", "hist_gradient_boosting", "random_forest", "extra_trees"} <= names["model"]
    assert {"logistic_regression", "ridge", "knn", "lightgbm", "xgboost"} <= names["model"]


@pytest.mark.slow
def test_pipeline_search_estimator(tmp_path):
    import pandas as pd

    import evoforge

    frame = pd.read_csv(mixed_csv(tmp_path))
    x, y = frame.drop(columns=["label"]), frame["label"]
    search = evoforge.PipelineSearch(
        minutes=None, generations=2, population_size=4, folds=3, backend="serial", run_dir=tmp_path / "s"
    )
    search.fit(x, y)
    assert (search.run_dir_ / "best_pipeline.skops").is_file()
    assert list(search.classes_) == ["no", "yes"]
    pred = search.predict(x)
    assert set(pred) <= {"no", "yes"} and search.score(x, y) == np.mean(pred == y)
    assert search.predict_proba(x.iloc[:5]).shape == (5, 2)
    assert 0 <= search.report_["test"] <= 1


def test_pipeline_search_is_a_scikit_learn_estimator():
    """get_params / set_params / clone, and the task decides what scikit-learn takes it for."""
    from sklearn.base import clone, is_classifier, is_regressor

    import evoforge

    search = evoforge.PipelineSearch(task="classification", generations=3, minutes=None)
    copy = clone(search)
    assert copy is not search and copy.get_params() == search.get_params()
    assert copy.set_params(generations=5).generations == 5 and search.generations == 3
    assert is_classifier(search) and not is_regressor(search)
    assert is_regressor(evoforge.PipelineSearch(task="regression"))
    assert not is_classifier(evoforge.PipelineSearch()) and not is_regressor(evoforge.PipelineSearch())


@pytest.mark.slow
def test_pipeline_search_in_cross_validation_refits_into_folders_of_its_own(tmp_path):
    """cross_val_score clones and fits it once per fold (stratified, being a classifier): each fit a
    search of its own in run_dir's next fit-N folder; a bad setting leaves no folder behind."""
    from sklearn.datasets import load_iris
    from sklearn.model_selection import cross_val_score

    import evoforge

    x, y = load_iris(return_X_y=True)
    search = evoforge.PipelineSearch(
        task="classification", minutes=None, generations=1, population_size=4, folds=3,
        backend="serial", run_dir=tmp_path / "cv",
    )  # fmt: skip
    scores = cross_val_score(search, x, y, cv=2, error_score="raise")
    assert min(scores) > 0.85  # unstratified folds of the sorted iris would score about 1/3
    assert sorted(p.name for p in (tmp_path / "cv").iterdir()) == ["fit-1", "fit-2"]
    assert all((tmp_path / "cv" / f / "run" / "best_pipeline.skops").is_file() for f in ("fit-1", "fit-2"))
    search.fit(x[::2], y[::2])
    assert search.run_dir_ == tmp_path / "cv" / "fit-3" / "run"
    with pytest.raises(ValueError, match="problem.task"):
        search.set_params(task="neither").fit(x, y)
    assert sorted(p.name for p in (tmp_path / "cv").iterdir()) == ["fit-1", "fit-2", "fit-3"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "strategy",
    [
        {"name": "tournament_ga", "population_size": 6},
        {"name": "nsga2", "population_size": 6, "objectives": ["steps"]},
    ],
    ids=["tournament", "nsga2-size"],
)
def test_other_strategies_search_pipelines(tmp_path, strategy):
    import evoforge

    cfg = evoforge.RunConfig(
        seed=2,
        generations=2,
        strategy=strategy,
        problem={"kind": "tabular", "data": "sklearn:wine", "folds": 3},
        test_episodes=1,
    )
    result = evoforge.run(cfg, tmp_path / "r")
    assert result.failed == 0 and result.evaluations >= 6 and 0.5 < result.best_fitness <= 1.0


@pytest.mark.slow
def test_seeded_search_reproduces(tmp_path):
    from conftest import outcome

    import evoforge

    cfg = evoforge.RunConfig(
        seed=5,
        generations=2,
        strategy={"name": "regularized_evolution", "population_size": 4, "sample_size": 2},
        problem={"kind": "tabular", "data": "sklearn:wine", "folds": 2},
        test_episodes=1,
    )
    evoforge.run(cfg, tmp_path / "a")
    evoforge.run(cfg, tmp_path / "b")
    evoforge.run(cfg.model_copy(update={"seed": 6}), tmp_path / "c")
    assert outcome(tmp_path / "a") == outcome(tmp_path / "b")
    assert outcome(tmp_path / "a") != outcome(tmp_path / "c")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the address space from /proc")
def test_candidate_that_blows_memory_is_recorded_not_fatal(mixed):
    """In a worker process with max_memory_mb set, a pipeline allocating past it fails with its reason."""
    import multiprocessing

    def address_space_mb() -> int:
        line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmSize"))
        return int(line.split()[1]) // 1024

    def worker(queue):
        problem = mixed
        problem.config = problem.config.model_copy(update={"max_memory_mb": address_space_mb() + 400})

        def greedy(genome, seed):
            np.ones(2**30 // 8 * 2)  # 2 GiB
            raise AssertionError("the allocation should have failed")

        problem.build = greedy
        genome = problem.search_space.sample(np.random.default_rng(0))
        result = problem.evaluate([genome], np.array([0]), {})[0]
        queue.put((result.fitness, result.error))

    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    proc = context.Process(target=worker, args=(queue,))
    proc.start()
    fitness, error = queue.get(timeout=60)
    proc.join()
    assert np.isnan(fitness) and error.startswith("out of memory (max_memory_mb")


def test_validation_never_touches_the_test_part(mixed, monkeypatch):
    """validation_episodes re-scores the hall of fame by cross-validation with fresh folds; the test
    part is scored by the final test alone."""
    seen = []
    original = type(mixed)._fit_score

    def spy(self, genome, seed, train, test, table):
        seen.append(set(test.tolist()))
        return original(self, genome, seed, train, test, table)

    monkeypatch.setattr(type(mixed), "_fit_score", spy)
    genome = mixed.search_space.sample(np.random.default_rng(7))
    result = mixed.validate(genome, 11, 2, {})
    assert len(result.scores) == 2 and len(seen) == 2 * mixed.config.folds
    assert all(rows <= set(mixed.search_rows.tolist()) for rows in seen)
    assert seen[0] != set(mixed.folds[0][1].tolist())  # fresh folds, not the search's own


# scikit-learn's defaults a start may change: speed and seeding (LogisticRegression's max_iter is raised
# so that unscaled columns converge; SVC's gamma "scale" is written as its value on scaled columns, its
# probability follows the metric)
_SET_BY_US = {
    "max_iter",
    "random_state",
    "n_jobs",
    "cache_size",
    "degree",
    "gamma",
    "l2_regularization",
    "probability",
}


@pytest.mark.parametrize(
    "data, target, models",
    [
        ("mixed", "label", ["logistic_regression", "svc", "random_forest", "hist_gradient_boosting"]),
        ("sklearn:diabetes", None, ["ridge", "svr", "random_forest", "hist_gradient_boosting"]),
    ],
)
def test_search_starts_from_the_untuned_defaults(mixed, data, target, models):
    problem = mixed if data == "mixed" else TabularProblem(TabularConfig(data=data, folds=3))
    space = problem.search_space
    starts = space.starts()
    assert [g.step("model")[0] for g in starts] == models
    rng = np.random.default_rng(0)
    assert [space.first(i, rng) for i in range(4)] == starts  # a first population begins with them
    assert space.first(4, rng) not in starts
    for genome in starts:
        model = problem.build(genome, 0).steps[-1][1]
        ours = model.get_params()
        library = type(model)().get_params()
        changed = {k for k in library if k not in _SET_BY_US and ours[k] != library[k]}
        assert not changed, f"{genome}: {changed} differ from scikit-learn's defaults"
        result = problem.evaluate([genome], np.array([0]), {})[0]
        assert result.error is None


def test_regularized_evolution_asks_the_starts_first(mixed):
    from evoforge.strategies.regularized_evolution import RegularizedEvolution, RegularizedEvolutionConfig

    strategy = RegularizedEvolution(
        RegularizedEvolutionConfig(name="regularized_evolution", population_size=6, sample_size=2),
        mixed.search_space,
    )
    rng = np.random.default_rng(0)
    state, asked = strategy.init(rng), []
    for _ in range(5):
        state, genome, _ = strategy.ask_one(state, rng)
        asked.append(genome)
    assert asked[:4] == mixed.search_space.starts() and asked[4] not in asked[:4]
