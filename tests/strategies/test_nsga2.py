"""Architecture search, part 2: Pareto sorting, NSGA-II, the Pareto front of a run."""

import json
import sqlite3

import numpy as np
import pytest
import yaml
from conftest import cli, kill_then_resume, outcome

from evoforge.core.genome import genome_id
from evoforge.core.pareto import (
    crowding_distance,
    dominates,
    non_dominated_sort,
    objective_matrix,
    pareto_front,
)
from evoforge.core.rng import derive_rng
from evoforge.engine.registry import get_strategy
from evoforge.spaces.chain import ChainSpace, ChainSpaceConfig
from evoforge.testing.strategies import build as build_strategy

pytestmark = pytest.mark.slow  # searches that train networks


# Seven points, both objectives maximised; fronts worked out by hand:
# A(4,1) B(3,3) C(1,4) are dominated by nothing; D(2,2) only by B; F(3,1) by A and B; E(1,1) by D
# and F too; G(0,0) by everything.
POINTS = np.array([[4, 1], [3, 3], [1, 4], [2, 2], [1, 1], [3, 1], [0, 0]], dtype=float)


def test_non_dominated_sort_matches_hand_computed_fronts():
    assert [f.tolist() for f in non_dominated_sort(POINTS)] == [[0, 1, 2], [3, 5], [4], [6]]
    assert pareto_front(POINTS).tolist() == [0, 1, 2]


def test_non_dominated_sort_three_objectives_and_duplicates():
    f = np.array(
        [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.5, 0.5, 0], [0.2, 0.2, 0.2], [0.1, 0.1, 0.1], [0.2, 0.2, 0.2]]
    )
    # (0.2, 0.2, 0.2) beats every unit vector in some objective; its twin does not dominate it
    assert [x.tolist() for x in non_dominated_sort(f)] == [[0, 1, 2, 3, 4, 6], [5]]


def test_failed_rows_are_dominated_by_every_finite_row():
    f = np.array([[np.nan, 5.0], [0.0, 0.0], [-3.0, -3.0]])
    assert [x.tolist() for x in non_dominated_sort(f)] == [[1], [2], [0]]


def test_non_dominated_sort_agrees_with_the_definition_on_random_points():
    rng = np.random.default_rng(0)
    f = rng.integers(0, 6, size=(60, 3)).astype(float)  # many ties
    rank = np.empty(len(f), dtype=int)
    for k, front in enumerate(non_dominated_sort(f)):
        rank[front] = k
    for i in range(len(f)):
        dominators = [j for j in range(len(f)) if dominates(f[j], f[i])]
        # front k: every dominator sits in an earlier front, and one sits in front k - 1
        assert all(rank[j] < rank[i] for j in dominators)
        assert rank[i] == 0 if not dominators else max(rank[j] for j in dominators) == rank[i] - 1


def test_crowding_distance_matches_hand_computation():
    # front 0 of POINTS: A(4,1) B(3,3) C(1,4); span 3 in each objective; B's neighbours are 3 apart
    # in both, so 3/3 + 3/3 = 2; the extremes are infinite
    assert crowding_distance(POINTS[[0, 1, 2]]).tolist() == [np.inf, 2.0, np.inf]
    d = crowding_distance(np.array([[0.0, 10.0], [1.0, 9.0], [2.0, 5.0], [4.0, 0.0]]))
    # second point: (2-0)/4 + (10-5)/10 = 1.0; third: (4-1)/4 + (9-0)/10 = 1.65
    np.testing.assert_allclose(d, [np.inf, 1.0, 1.65, np.inf])


def test_objective_matrix_negates_minimised_metrics_and_fails_whole_rows():
    m = objective_matrix(
        np.array([0.5, 0.7, np.nan]), [{"params": 3}, {}, {"params": 1}], ("params",), sign=-1.0
    )
    assert m[0].tolist() == [-0.5, -3.0]
    assert m[1, 0] == -0.7 and np.isnan(m[1, 1])
    assert np.isnan(m[2]).all()


# -- NSGA-II ----------------------------------------------------------------------------------------
def _nsga2(population=8, **params):
    space = ChainSpace(ChainSpaceConfig(max_layers=4, max_params=20_000), (1, 8, 8), 10)
    return build_strategy("nsga2", space, population, **params)


def test_nsga2_survival_keeps_whole_fronts_then_the_least_crowded():
    s = _nsga2(population=4)
    state = s.init(derive_rng(0, "init"))
    state, genomes, _ = s.ask(state, derive_rng(0, 0, "ask"))
    state = s.tell(state, genomes, np.array([[0, 0], [1, 1], [2, 0], [0, 2]], dtype=float))
    state, children, _ = s.ask(state, derive_rng(0, 1, "ask"))
    children = [c for c in children if genome_id(c) not in {genome_id(g) for g in genomes}][:4]
    assert len(children) == 4
    # merged with the parents, the four children are front 0 ((3, 3) dominates every parent)
    told = np.array([[3, 3], [5, 0], [0, 5], [4, 1]], dtype=float)
    state = s.tell(state, children, told)
    assert sorted(genome_id(g) for g in state.population) == sorted(genome_id(c) for c in children)
    # one more child on the front (1, 4.5): five on front 0, the least crowded interior one leaves
    state, more, _ = s.ask(state, derive_rng(0, 2, "ask"))
    extra = next(c for c in more if genome_id(c) not in {genome_id(g) for g in state.population})
    state = s.tell(state, [extra], np.array([[1.0, 4.5]]))
    kept = {genome_id(g) for g in state.population}
    # front 0: (0,5) (1,4.5) (3,3) (4,1) (5,0); crowding of the interior: (1,4.5): 3/5 + 2/5 = 1.0;
    # (3,3): 3/5 + 3.5/5 = 1.3; (4,1): 2/5 + 3/5 = 1.0: the first of the two ties by order stays
    assert (
        genome_id(children[0]) in kept and genome_id(children[1]) in kept and genome_id(children[2]) in kept
    )
    assert len(kept) == 4 and (genome_id(extra) in kept) != (genome_id(children[3]) in kept)


def test_nsga2_spreads_along_a_known_front():
    """Toy problem: maximise layer count, minimise first-layer channels. After 25 generations the
    population covers both extremes of the trade-off."""
    s = _nsga2(population=16)
    state = s.init(derive_rng(0, "init"))
    for gen in range(25):
        state, genomes, _ = s.ask(state, derive_rng(0, gen, "ask"))
        told = np.array([[len(g.layers), -g.layers[0].channels] for g in genomes], dtype=float)
        state = s.tell(state, genomes, told)
    f = state.fitness
    assert f[:, 0].max() == 4  # max_layers reached
    assert f[:, 1].max() == -16  # the smallest channel choice reached
    assert len(non_dominated_sort(f)[0]) >= 2


def test_nsga2_rejects_a_vector_of_fitness():
    s = _nsga2()
    state = s.init(derive_rng(0, "init"))
    state, genomes, _ = s.ask(state, derive_rng(0, 0, "ask"))
    with pytest.raises(ValueError, match="objective matrix"):
        s.tell(state, genomes, np.zeros(len(genomes)))


def _nsga2_run_config(tmp_path, seed=0, objectives=("params",)):
    cfg = {
        "seed": seed,
        "generations": 3,
        "strategy": {"name": "nsga2", "population_size": 6, "objectives": list(objectives)},
        "problem": {
            "kind": "classification",
            "dataset": {"name": "digits"},
            "proxy_epochs": 1,
            "proxy_fraction": 0.3,
            "threads": 1,
            "space": {"max_layers": 3, "max_params": 30_000, "channels": [4, 8, 16], "units": [16, 32]},
        },
        "test_episodes": 1,
    }
    path = tmp_path / f"nsga2-{seed}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _run(config, out):
    return cli("run", config, "--out", out, "--quiet")


def test_nsga2_run_writes_the_pareto_front_of_everything_evaluated(tmp_path):
    out = tmp_path / "run"
    proc = _run(_nsga2_run_config(tmp_path), out)
    assert proc.returncode == 0, proc.stderr
    hof = json.loads((out / "hall_of_fame.json").read_text())
    assert hof["objectives_minimised"] == ["params"]
    front = hof["pareto_front"]
    db = sqlite3.connect(out / "evoforge.sqlite")
    rows = db.execute(
        "SELECT genome_id, fitness, metrics FROM individuals WHERE cached = 0 AND fitness IS NOT NULL"
    )
    points = {gid: (f, json.loads(m)["params"]) for gid, f, m in rows}
    assert len(points) >= 12
    on_front = {e["genome_id"] for e in front}
    for gid, (f, p) in points.items():
        dominated = any(f2 >= f and p2 <= p and (f2 > f or p2 < p) for f2, p2 in points.values())
        assert dominated == (gid not in on_front)
    # fittest first; along the front, more accuracy costs parameters
    assert [e["fitness"] for e in front] == sorted((e["fitness"] for e in front), reverse=True)
    assert all(a["params"] >= b["params"] for a, b in zip(front, front[1:], strict=False))
    assert all("layers" in e["genome"] for e in front)
    threshold = sorted(e["fitness"] for e in front)[len(front) // 2]
    proc = cli("report", out, "--above", threshold)
    assert proc.returncode == 0, proc.stderr
    assert (out / "report" / "pareto.png").stat().st_size > 10_000
    smallest = min((e for e in front if e["fitness"] >= threshold), key=lambda e: e["params"])
    assert f"smallest front member with fitness >= {threshold:g}: {smallest['genome_id']}" in " ".join(
        proc.stdout.split()
    )


def test_nsga2_run_reproduces_under_a_seed(tmp_path):
    fronts = []
    for k in range(2):
        out = tmp_path / f"run{k}"
        assert _run(_nsga2_run_config(tmp_path), out).returncode == 0
        fronts.append(
            [e["genome_id"] for e in json.loads((out / "hall_of_fame.json").read_text())["pareto_front"]]
        )
    assert fronts[0] == fronts[1]


def test_nas_flag_form_takes_nsga2_objectives(tmp_path):
    args = ["nas", "--dataset", "digits", "--strategy", "nsga2", "--objectives", "flops,latency_ms"]
    args += ["--generations", "1", "--popsize", "4", "--proxy-epochs", "1", "--proxy-fraction", "0.1"]
    args += ["--backend", "serial"]  # the backend is not what this tests: no worker start-up
    proc = cli(*args, "--max-layers", 2, "--max-params", 20_000, "--output", tmp_path / "r", "--quiet")
    assert proc.returncode == 0, proc.stderr
    hof = json.loads((tmp_path / "r" / "hall_of_fame.json").read_text())
    assert hof["objectives_minimised"] == ["flops", "latency_ms"]
    assert all(e["latency_ms"] > 0 and e["flops"] > 0 for e in hof["pareto_front"])


def test_unknown_objective_is_one_line_and_exit_2(tmp_path):
    proc = _run(_nsga2_run_config(tmp_path, objectives=("weight",)), tmp_path / "bad")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "objective 'weight' is not a metric problem 'classification' records" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "bad").exists()


# -- CMA-ES over the chain space's continuous encoding -----------------------------------------------
def test_chain_decoding_covers_every_choice_of_every_gene():
    space = ChainSpace(
        ChainSpaceConfig(max_layers=3, max_params=10**9, epochs_range=(5, 8), layer_types=("conv", "dense")),
        (1, 8, 8),
        10,
    )
    genes = space._genes()
    assert space.encoding_dim == len(genes) == 1 + 3 * 10 + 1 + 1 + 1 + 9
    for g, (name, choices) in enumerate(genes):
        if not choices:
            continue
        seen = set()
        for i in range(len(choices)):
            x = np.full(space.encoding_dim, 0.999)  # three layers, dense last
            x[g] = (i + 0.5) / len(choices)
            genome = space.decode(x)
            if name == "depth":
                seen.add(len(genome.layers))
            elif name.endswith(".type"):  # a convolution moves before the dense layers
                seen.update(layer.type for layer in genome.layers)
            elif "." in name:
                slot, gene = name.split(".")
                seen.add(getattr(genome.layers[int(slot)], gene))
            elif name == "head":
                seen.add(genome.head)
            else:
                seen.add(getattr(genome.recipe, name))
        assert seen == set(choices), name
    # the ends of the box and beyond decode to the first and last choices; lr spans lr_range
    lo, hi = space.config.lr_range
    x = np.zeros(space.encoding_dim)
    assert space.decode(x - 5).recipe.lr == pytest.approx(lo)
    assert space.decode(x + 5).recipe.lr == pytest.approx(hi)


def test_decoding_is_deterministic_and_always_valid():
    space = ChainSpace(ChainSpaceConfig(max_layers=5, max_params=20_000), (1, 8, 8), 10)
    rng = np.random.default_rng(0)
    for _ in range(40):
        x = rng.uniform(-0.2, 1.2, space.encoding_dim)
        genome = space.decode(x)
        assert space.valid(genome)
        assert genome_id(space.decode(x.copy())) == genome_id(genome)


def test_cma_es_over_the_encoding_improves_on_its_first_generation():
    cls = get_strategy("cma_es")
    space = ChainSpace(ChainSpaceConfig(max_layers=4, max_params=20_000), (1, 8, 8), 10)
    s = cls(cls.config_class(population_size=12, sigma=0.3), space)
    state = s.init(derive_rng(0, "init"))
    best = []
    for gen in range(20):
        state, genomes, _ = s.ask(state, derive_rng(0, gen, "ask"))
        fitness = np.array([len(g.layers) - abs(np.log10(g.recipe.lr) + 3) for g in genomes])
        best.append(fitness.max())
        state = s.tell(state, genomes, fitness)
    assert max(best[10:]) > best[0]
    assert max(best[10:]) >= 3.8  # four layers and a learning rate within a factor 1.6 of 1e-3


def test_nas_flag_form_runs_cma_es_and_reproduces(tmp_path):
    def search(out):
        args = ["nas", "--dataset", "digits", "--strategy", "cmaes", "--generations", "2", "--popsize", "5"]
        args += [
            "--backend",
            "serial",
            "--proxy-epochs",
            "1",
            "--proxy-fraction",
            "0.2",
            "--max-layers",
            "3",
            "--max-params",
            "30000",
        ]
        proc = cli(*args, "--output", out, "--quiet")
        assert proc.returncode == 0, proc.stderr
        return json.loads((out / "best_arch.json").read_text())

    first = search(tmp_path / "a")
    assert first == search(tmp_path / "b")
    assert yaml.safe_load((tmp_path / "a" / "config.yaml").read_text())["strategy"]["name"] == "cma_es"


# -- learning-curve early stopping -----------------------------------------------------------------
def _digits_problem(**early):
    from evoforge.problems.classification import ClassificationConfig, ClassificationProblem

    cfg = ClassificationConfig(
        dataset={"name": "digits"},
        proxy_epochs=4,
        proxy_fraction=0.5,
        threads=1,
        early_stop=early or {"k": 2, "min_completed": 2},
        space={"max_layers": 3, "max_params": 50_000},
    )
    return ClassificationProblem(cfg)


def test_early_stop_context_keeps_the_k_best_and_the_largest_gain_per_epoch():
    p = _digits_problem()
    ctx = p.initial_context()
    assert ctx["completed"] == 0 and ctx["gain"].tolist() == [0, 0, 0]
    ctx = p.update_context(ctx, [{"curve": np.array([0.5, 0.6, 0.7, 0.9])}, {}])
    ctx = p.update_context(
        ctx, [{"curve": np.array([0.1, 0.3, 0.4, 0.5])}, {"curve": np.array([0.8, 0.9, 0.95, 0.95])}]
    )
    assert ctx["completed"] == 3
    np.testing.assert_allclose(ctx["best"], [0.95, 0.9])  # k = 2
    np.testing.assert_allclose(ctx["gain"], [0.4, 0.3, 0.2])  # from the first and second curves


WEAK = {
    "layers": [{"type": "dense", "units": 16}],
    "recipe": {"optimizer": "sgd", "lr": 1e-4, "momentum": 0.0},
}
GOOD = {"layers": [{"type": "dense", "units": 64}], "recipe": {"optimizer": "adam", "lr": 3e-3}}


def test_a_hopeless_candidate_is_stopped_and_recorded_as_such():
    from evoforge.spaces.chain import ChainGenome

    p = _digits_problem()
    history = {"best": np.array([0.99, 0.97]), "gain": np.array([0.05, 0.04, 0.02]), "completed": 5}
    weak = p.evaluate([ChainGenome.from_json(WEAK)], np.array([1]), history)[0]
    assert weak.error is None and weak.metrics["early_stopped"] == 1.0
    assert weak.metrics["epochs_trained"] == 1 and "curve" not in weak.aux
    assert weak.fitness < 0.97 - 0.05
    # the same candidate without enough history trains all four epochs, and its curve is returned
    young = dict(history, completed=1)
    full = p.evaluate([ChainGenome.from_json(WEAK)], np.array([1]), young)[0]
    assert "early_stopped" not in full.metrics and full.metrics["epochs_trained"] == 4
    assert len(full.aux["curve"]) == 4 and full.aux["curve"][-1] == full.metrics["accuracy"]
    # a good candidate is not stopped by a reachable bar
    reachable = dict(history, best=np.array([0.9, 0.8]), gain=np.array([0.3, 0.2, 0.1]))
    good = p.evaluate([ChainGenome.from_json(GOOD)], np.array([1]), reachable)[0]
    assert "early_stopped" not in good.metrics and good.metrics["accuracy"] > 0.8


def _completed_history(n=40, epochs=4, seed=0):
    """Completed curves of n candidates: final scores 0.6-0.98, curves rising to them with noise, and
    static features (log parameters, log FLOPs, log learning rate) in the ranges of digits networks."""
    rng = np.random.default_rng(seed)
    final = rng.uniform(0.6, 0.98, n)
    shape = np.linspace(0.55, 1.0, epochs)
    curves = np.clip(final[:, None] * shape + rng.normal(0, 0.01, (n, epochs)), 0, 1)
    static = np.column_stack([rng.uniform(3, 5, n), rng.uniform(3, 6, n), rng.uniform(-4, -2, n)])
    return curves, static


def test_the_predictor_learns_where_a_curve_ends_and_how_far_it_may_miss():
    from evoforge.problems.curve_predictor import CurvePredictor

    curves, static = _completed_history(60)
    predictor = CurvePredictor(curves, static)
    fresh, fresh_static = _completed_history(20, seed=1)
    for t in (1, 2, 3):
        pairs = [predictor.predict(t, c, s) for c, s in zip(fresh, fresh_static, strict=True)]
        errors = np.array([mean for mean, _ in pairs]) - fresh[:, -1]
        miss = pairs[0][1]
        assert np.sqrt(np.mean(errors**2)) < 0.05 and 0 < miss < 0.05, (t, errors, miss)
    # the miss shrinks as the curve lengthens: the last points tell more
    assert (
        predictor.predict(3, fresh[0], fresh_static[0])[1]
        < predictor.predict(1, fresh[0], fresh_static[0])[1]
    )


def test_the_predictor_rule_stops_a_hopeless_candidate_and_spares_a_promising_one():
    from evoforge.spaces.chain import ChainGenome

    p = _digits_problem(rule="predictor", k=2, min_completed=2)
    curves, static = _completed_history(40)
    history = p.initial_context()
    assert history["curves"].shape == (0, 4) and history["static"].shape == (0, 3)
    history = p.update_context(
        history, [{"curve": c, "static": s} for c, s in zip(curves, static, strict=True)]
    )
    assert history["completed"] == 40 and history["curves"].shape == (40, 4)
    weak = p.evaluate([ChainGenome.from_json(WEAK)], np.array([1]), history)[0]
    assert weak.metrics["early_stopped"] == 1.0 and weak.metrics["epochs_trained"] == 1
    good = p.evaluate([ChainGenome.from_json(GOOD)], np.array([1]), dict(history, best=np.array([0.8, 0.7])))[
        0
    ]
    assert "early_stopped" not in good.metrics and good.metrics["accuracy"] > 0.8
    assert good.aux["static"].shape == (3,) and len(good.aux["curve"]) == 4


def test_curves_are_scored_on_a_fixed_validation_sample_and_fitness_on_the_whole_split():
    from evoforge.problems.classification import ClassificationConfig, ClassificationProblem
    from evoforge.spaces.chain import ChainGenome

    cfg = ClassificationConfig(
        dataset={"name": "digits"},
        validation_fraction=0.5,
        proxy_epochs=3,
        threads=1,
        early_stop={"k": 2, "min_completed": 2, "curve_examples": 100},
        space={"max_layers": 3, "max_params": 50_000},
    )
    p = ClassificationProblem(cfg)
    n = len(p.val_idx)
    assert n > 500 and len(p.curve_idx) == 100 and len(set(p.curve_idx.tolist())) == 100
    assert p.curve_idx.tolist() == ClassificationProblem(cfg).curve_idx.tolist()  # fixed
    result = p.evaluate([ChainGenome.from_json(GOOD)], np.array([1]), p.initial_context())[0]
    curve = result.aux["curve"]
    assert len(curve) == 3 and np.allclose(curve * 100, np.round(curve * 100))  # k / 100
    accuracy = result.metrics["accuracy"]
    assert np.isclose(accuracy * n, round(accuracy * n)) and not np.isclose(
        accuracy * 100, round(accuracy * 100)
    )
    raw = cfg.model_dump()
    raw["early_stop"]["curve_examples"] = None
    whole = ClassificationProblem(ClassificationConfig(**raw))
    assert len(whole.curve_idx) == n


def test_early_stop_needs_fixed_proxy_epochs_and_enough_history():
    from pydantic import ValidationError

    from evoforge.problems.classification import ClassificationConfig

    with pytest.raises(ValidationError, match="proxy_epochs of at least 2"):
        ClassificationConfig(proxy_epochs=None, early_stop={})
    with pytest.raises(ValidationError, match="min_completed"):
        ClassificationConfig(early_stop={"k": 5, "min_completed": 3})


@pytest.mark.parametrize("rule", ["max_gain", "predictor"])
def test_a_search_with_early_stopping_reproduces_and_stops_only_below_the_bar(tmp_path, rule):
    cfg = yaml.safe_load(_nsga2_run_config(tmp_path).read_text())
    cfg["strategy"] = {"name": "regularized_evolution", "population_size": 8, "sample_size": 3}
    cfg["generations"] = 3
    early = {"k": 1, "min_completed": 4, "rule": rule}
    cfg["problem"].update(proxy_epochs=3, proxy_fraction=1.0, early_stop=early)
    path = tmp_path / "early.yaml"
    path.write_text(yaml.safe_dump(cfg))
    runs = []
    for k in range(2):
        out = tmp_path / f"run{k}"
        proc = _run(path, out)
        assert proc.returncode == 0, proc.stderr
        db = sqlite3.connect(out / "evoforge.sqlite")
        runs.append(
            db.execute(
                "SELECT genome_id, fitness, metrics FROM individuals WHERE cached = 0 ORDER BY rowid"
            ).fetchall()
        )
    assert [r[:2] for r in runs[0]] == [r[:2] for r in runs[1]]
    metrics = [json.loads(m) for _, _, m in runs[0]]
    stopped = [m for m in metrics if m.get("early_stopped")]
    completed = sorted((m["accuracy"] for m in metrics if "early_stopped" not in m), reverse=True)
    assert stopped and all(m["epochs_trained"] < 3 for m in stopped)
    assert all(m["accuracy"] < completed[0] for m in stopped)


def test_nsga2_with_early_stopping_resumes_after_kill_to_the_identical_result(tmp_path):

    cfg = yaml.safe_load(_nsga2_run_config(tmp_path).read_text())
    cfg["generations"] = 5
    cfg["checkpoint_interval"] = 0
    cfg["problem"].update(proxy_epochs=2, early_stop={"k": 1, "min_completed": 3})
    path = tmp_path / "resume.yaml"
    path.write_text(yaml.safe_dump(cfg))
    kill_then_resume(path, tmp_path / "killed", settle=0.3)
    assert _run(path, tmp_path / "straight").returncode == 0
    assert outcome(tmp_path / "killed") == outcome(tmp_path / "straight")
    hof = json.loads((tmp_path / "straight" / "hall_of_fame.json").read_text())
    assert (
        hof["pareto_front"]
        == json.loads((tmp_path / "killed" / "hall_of_fame.json").read_text())["pareto_front"]
    )
