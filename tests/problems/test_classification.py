"""Architecture search: the chain space, the strategies over it, proxy fitness (the classification
problem), train-final. The cell and tree spaces: tests/spaces; NSGA-II: tests/strategies; dataset
readers: tests/data."""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import cli, individuals, kill_then_resume, outcome

from evoforge.core.genome import genome_id
from evoforge.core.rng import derive_rng
from evoforge.core.state_io import load_state, save_state
from evoforge.data.datasets import DatasetSpec, load_dataset
from evoforge.engine.registry import STRATEGIES, get_strategy
from evoforge.problems.classification import ClassificationConfig, ClassificationProblem, train_final
from evoforge.spaces.base import ArchitectureSpace
from evoforge.spaces.chain import ChainGenome, ChainSpace, ChainSpaceConfig
from evoforge.spaces.chain_torch import build
from evoforge.testing.strategies import build as build_strategy

get_strategy("random_search")  # fill the registry
SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32), (3, 5, 17), (13,)]
SPACE_STRATEGIES = sorted(n for n, c in STRATEGIES.items() if c.requires <= ArchitectureSpace.offers)

# A hand-designed digits CNN (about 111 k parameters) for the training tests.
DIGITS_CNN = {
    "layers": [
        {"type": "conv", "channels": 32, "norm": "batch"},
        {"type": "conv", "channels": 64, "norm": "batch"},
        {"type": "pool"},
        {"type": "conv", "channels": 128, "norm": "batch"},
        {"type": "dense", "units": 128, "dropout": 0.3},
    ],
    "head": "gap",
    "recipe": {
        "optimizer": "adamw",
        "lr": 3e-3,
        "weight_decay": 5e-4,
        "batch_size": 64,
        "epochs": 30,
        "schedule": "cosine",
        "shift": 1,
        "label_smoothing": 0.1,
    },
}


def nas_config(strategy="regularized_evolution", generations=3, population=6, seed=0, **problem):
    from evoforge import RunConfig

    base = {
        "kind": "classification",
        "dataset": {"name": "digits"},
        "proxy_epochs": 1,
        "proxy_fraction": 0.3,
        "threads": 1,
        "space": {"max_layers": 4, "max_params": 50_000, "channels": [8, 16], "units": [16, 32]},
    }
    base.update(problem)
    return RunConfig(
        seed=seed,
        generations=generations,
        strategy={"name": strategy, "population_size": population},
        problem=base,
        test_episodes=1,
        checkpoint_interval=0,
    )


# -- the space ------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_random_genomes_build_valid_modules(shape):
    space = ChainSpace(ChainSpaceConfig(max_layers=6, max_params=200_000), shape, 7)
    rng = np.random.default_rng(1)
    for _ in range(25):
        genome = space.sample(rng)
        assert space.valid(genome)
        built = build(genome, shape, 7)
        built.model.train()
        y = built.model(torch.randn(3, *shape))
        assert y.shape == (3, 7) and torch.all(torch.isfinite(y))
        assert built.params == sum(p.numel() for p in built.model.parameters()) <= 200_000
        assert built.flops > 0
    torch.jit.script(built.model)  # exportable


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 32, 32), (13,)], ids=str)
def test_mutation_and_crossover_keep_genomes_valid(shape):
    cfg = ChainSpaceConfig(max_layers=5, max_params=30_000, epochs_range=(5, 9))
    space = ChainSpace(cfg, shape, 10)
    rng = np.random.default_rng(2)
    pool = [space.sample(rng) for _ in range(10)]
    changed = 0
    for _ in range(150):
        a, b = pool[rng.integers(len(pool))], pool[rng.integers(len(pool))]
        child = space.mutate(space.crossover(a, b, rng), rng)
        mutant = space.mutate(a, rng)
        changed += genome_id(mutant) != genome_id(a)
        for g in (child, mutant):
            assert 1 <= len(g.layers) <= 5 and 5 <= g.recipe.epochs <= 9
            assert space.size(g)[0] <= 30_000
            assert ChainGenome.from_json(json.loads(json.dumps(g.to_json()))).to_json() == g.to_json()
        pool.append(child)
    assert changed == 150  # a mutation always changes what the genome expresses


def test_unexpressed_genes_share_a_content_id():
    adam = ChainGenome.from_json(
        {"layers": [{"type": "dense"}], "recipe": {"optimizer": "adam", "momentum": 0.5}}
    )
    adam2 = ChainGenome.from_json(
        {"layers": [{"type": "dense"}], "recipe": {"optimizer": "adam", "momentum": 0.9}}
    )
    sgd = ChainGenome.from_json(
        {"layers": [{"type": "dense"}], "recipe": {"optimizer": "sgd", "momentum": 0.5}}
    )
    sgd2 = ChainGenome.from_json(
        {"layers": [{"type": "dense"}], "recipe": {"optimizer": "sgd", "momentum": 0.9}}
    )
    pool = ChainGenome.from_json({"layers": [{"type": "pool", "channels": 8}]})
    pool2 = ChainGenome.from_json({"layers": [{"type": "pool", "channels": 64}]})
    assert genome_id(adam) == genome_id(adam2) and genome_id(pool) == genome_id(pool2)
    assert genome_id(sgd) != genome_id(sgd2)


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"layers": []}, "non-empty 'layers'"),
        ({"layers": [{"type": "lstm"}]}, "layers.0.type"),
        ({"layers": [{"type": "conv", "kernel": 4}]}, "layers.0.kernel"),
        ({"layers": [{"type": "dense"}], "recipe": {"lr": -1}}, "gene recipe.lr"),
        ({"layers": [{"type": "dense"}], "colour": 1}, "unknown chain genome field 'colour'"),
    ],
)
def test_bad_genome_json_names_the_gene(bad, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        ChainGenome.from_json(bad)


# -- strategies -----------------------------------------------------------------------------------
def _space_strategy(name, **params):
    space = ChainSpace(ChainSpaceConfig(max_layers=4, max_params=20_000), (1, 8, 8), 10)
    return build_strategy(name, space, 8, **params)


def _toy_fitness(genomes, strategy=None):
    """A cheap stand-in for training: prefers more layers and a learning rate near 1e-3. For a
    multi-objective strategy, a second column: fewer channels in the first layer."""
    fitness = np.array([len(g.layers) - abs(np.log10(g.recipe.lr) + 3) for g in genomes])
    if getattr(strategy, "multi_objective", False):
        return np.column_stack([fitness, [-g.layers[0].channels for g in genomes]])
    if getattr(strategy, "uses_descriptors", False):  # quality diversity: depth and learning rate
        descriptors = [[len(g.layers) / 10, (np.log10(g.recipe.lr) + 5) / 4] for g in genomes]
        return np.column_stack([fitness, descriptors])
    return fitness


@pytest.mark.parametrize("name", SPACE_STRATEGIES)
def test_space_strategy_contract_and_reproducibility(name, tmp_path):
    def trajectory(seed, generations=4, save_at=None):
        s = _space_strategy(name)
        state = s.init(derive_rng(seed, "init"))
        ids = []
        for gen in range(generations):
            if gen == save_at:
                save_state(tmp_path / "state.npz", s.state_to_tree(state))
                state = s.state_from_tree(load_state(tmp_path / "state.npz"))
            state, genomes, parents = s.ask(state, derive_rng(seed, gen, "ask"))
            assert len(genomes) == len(parents) == s.population_size
            assert all(s.space.valid(g) for g in genomes)
            ids.append([genome_id(g) for g in genomes])
            state = s.tell(state, genomes, _toy_fitness(genomes, s))
        return ids

    assert trajectory(0) == trajectory(0) == trajectory(0, save_at=2)
    assert trajectory(0) != trajectory(1)


@pytest.mark.parametrize("name", ["regularized_evolution", "tournament_ga", "crossover_mutation", "elitist"])
def test_space_strategies_beat_their_random_start(name):
    """On the toy fitness, 15 generations of each strategy improve on the best of its random start."""
    s = _space_strategy(name)
    state = s.init(derive_rng(0, "init"))
    best = []
    for gen in range(15):
        state, genomes, _ = s.ask(state, derive_rng(0, gen, "ask"))
        fitness = _toy_fitness(genomes)
        best.append(fitness.max())
        state = s.tell(state, genomes, fitness)
    assert max(best[5:]) > best[0]


def test_elitist_mode_keeps_the_fittest_half_and_refills_at_random():
    s = _space_strategy("elitist")
    state = s.init(derive_rng(0, "init"))
    state, genomes, _ = s.ask(state, derive_rng(0, 0, "ask"))
    fitness = np.arange(8.0)
    state = s.tell(state, genomes, fitness)
    _, children, parents = s.ask(state, derive_rng(0, 1, "ask"))
    assert [genome_id(g) for g in children[:4]] == [genome_id(genomes[i]) for i in (7, 6, 5, 4)]
    assert all(p == () for p in parents[4:])


def test_regularized_evolution_removes_the_oldest_not_the_worst():
    s = _space_strategy("regularized_evolution")
    state = s.init(derive_rng(0, "init"))
    state, genomes, _ = s.ask(state, derive_rng(0, 0, "ask"))
    state = s.tell(state, genomes, np.array([100.0] + [0.0] * 7))  # the oldest is the fittest
    state, child, _ = s.ask_one(state, derive_rng(0, 1, "ask"))
    state = s.tell_one(state, child, -5.0)
    assert [genome_id(g) for g in state.population] == [genome_id(g) for g in genomes[1:]] + [
        genome_id(child)
    ]


# -- proxy fitness ----------------------------------------------------------------------------------
@pytest.mark.parametrize("metric", ["accuracy", "f1", "precision", "recall"])
def test_the_chosen_metric_is_the_fitness(metric):
    genomes = [
        ChainGenome.from_json({"layers": [{"type": "dense", "units": u}], "recipe": {"lr": lr}})
        for u, lr in ((16, 1e-3), (64, 1e-2))
    ]
    config = ClassificationConfig(
        dataset={"name": "digits"}, metric=metric, proxy_epochs=1, proxy_fraction=0.3
    )
    exact = ClassificationProblem(config.model_copy(update={"tie_break": False}))
    results = exact.evaluate(genomes, np.array([1, 2]), {})
    for r in results:
        assert r.error is None and r.fitness == r.metrics[metric]
    assert len({r.metrics["accuracy"] - r.metrics[metric] for r in results}) == (
        1 if metric == "accuracy" else 2
    )
    # with the tie-break (the default) the fitness is below the metric by less than half an example
    broken = ClassificationProblem(config).evaluate(genomes, np.array([1, 2]), {})
    half = 0.5 / len(exact.val_idx)
    for r, e in zip(broken, results, strict=True):
        assert r.metrics[metric] == e.metrics[metric] and r.metrics["val_loss"] == e.metrics["val_loss"]
        assert r.metrics[metric] - half < r.fitness < r.metrics[metric]
        assert r.fitness == pytest.approx(r.metrics[metric] - half * (1 - np.exp(-r.metrics["val_loss"])))


def test_the_search_ranks_by_the_chosen_metric(tmp_path):
    import evoforge

    result = evoforge.run(nas_config(metric="recall", generations=2), tmp_path / "r")
    rows = individuals(tmp_path / "r", "fitness, metrics", fresh_only=True)
    recalls = [json.loads(m)["recall"] for _, m in rows]
    best_row = max(rows, key=lambda r: r[0])
    assert result.best_fitness == best_row[0] and json.loads(best_row[1])["recall"] == max(recalls)
    hof = json.loads((tmp_path / "r" / "hall_of_fame.json").read_text())["entries"]
    best_arch = json.loads((tmp_path / "r" / "best_arch.json").read_text())
    assert best_arch["genome_id"] == hof[0]["genome_id"] and hof[0]["genome"]["layers"] == best_arch["layers"]


def test_a_diverging_candidate_is_contained():
    problem = ClassificationProblem(ClassificationConfig(dataset={"name": "digits"}, proxy_epochs=2))
    diverging = ChainGenome.from_json(
        {
            "layers": [{"type": "dense", "units": 256, "activation": "leaky_relu"}] * 3,
            "recipe": {"optimizer": "sgd", "lr": 10.0, "momentum": 0.99},
        }
    )
    fine = ChainGenome.from_json({"layers": [{"type": "dense", "units": 32}], "recipe": {"lr": 1e-2}})
    bad, good = problem.evaluate([diverging, fine], np.array([0, 1]), {})
    assert np.isnan(bad.fitness) and bad.error.startswith("diverged")
    assert good.error is None and good.fitness > 0.5


def test_a_candidate_over_its_parameter_limit_fails_with_the_reason():
    problem = ClassificationProblem(
        ClassificationConfig(dataset={"name": "digits"}, space={"max_params": 1_000})
    )
    big = ChainGenome.from_json({"layers": [{"type": "dense", "units": 256}]})
    (r,) = problem.evaluate([big], np.array([0]), {})
    assert np.isnan(r.fitness) and r.error == "constraint: 19,210 parameters > max_params 1,000"


def test_a_candidate_past_its_time_fails_alone():
    # proxy_epochs None: each candidate trains for its own recipe's epochs
    problem = ClassificationProblem(
        ClassificationConfig(dataset={"name": "digits"}, proxy_epochs=None, max_seconds=2.0, threads=1)
    )  # 2 s: the quick candidate trains in about 0.1 s quiet, and keeps a margin with both cores busy
    # (on one thread: two torch threads on cores that other work keeps busy wait on each other)
    slow = ChainGenome.from_json(
        {"layers": [{"type": "conv", "channels": 128}] * 3, "recipe": {"epochs": 60}}
    )
    fast = ChainGenome.from_json({"layers": [{"type": "dense", "units": 16}], "recipe": {"epochs": 10}})
    late, quick = problem.evaluate([slow, fast], np.array([0, 1]), {})
    assert np.isnan(late.fitness) and late.error.startswith("training passed its limit of 2 s at epoch ")
    assert int(late.error.split("at epoch ")[1].split()[0]) < 60  # stopped early, not at the end
    assert quick.error is None and np.isfinite(quick.fitness)


def test_seeded_search_reproduces_exactly_and_identical_genomes_train_once(tmp_path):
    import evoforge

    evoforge.run(nas_config(strategy="tournament_ga", generations=3), tmp_path / "a")
    evoforge.run(nas_config(strategy="tournament_ga", generations=3), tmp_path / "b")
    evoforge.run(nas_config(strategy="tournament_ga", generations=3, seed=1), tmp_path / "c")
    assert outcome(tmp_path / "a") == outcome(tmp_path / "b")
    assert outcome(tmp_path / "a")["individuals"] != outcome(tmp_path / "c")["individuals"]
    fresh = [gid for (gid,) in individuals(tmp_path / "a", "genome_id", fresh_only=True)]
    assert len(fresh) == len(set(fresh)) and len(fresh) < 18  # the elite is not trained again


@pytest.mark.slow
def test_kill_9_then_resume_gives_the_uninterrupted_result(tmp_path):
    # with weight inheritance, the hardest case: the states a killed evaluation wrote are written again
    # (a plain search's resume is the engine's, tested in tests/engine for every kind of run)
    cfg = nas_config(generations=6, population=6, inherit_weights=True).model_dump(mode="json")
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    killed = tmp_path / "killed"
    kill_then_resume(path, killed, settle=0.3)
    assert cli("run", path, "--out", tmp_path / "straight", "--quiet").returncode == 0
    assert outcome(killed) == outcome(tmp_path / "straight")
    assert (killed / "best_arch.json").read_text() == (tmp_path / "straight" / "best_arch.json").read_text()
    states = sorted(p.name for p in (killed / "states").iterdir())
    assert states == sorted(p.name for p in (tmp_path / "straight" / "states").iterdir())
    assert not [name for name in states if name.endswith(".partial")]


def test_augmentation_shifts_flips_and_cuts_out_as_its_genes_say():
    from evoforge.problems.training import _augment
    from evoforge.spaces.recipe import Recipe

    x = torch.arange(1.0, 1 + 4 * 12 * 12).reshape(4, 1, 12, 12)
    gen = torch.Generator().manual_seed(0)
    assert torch.equal(_augment(x, Recipe(), gen), x)
    # a translation keeps every pixel value or pads with zeros; nothing new appears
    shifted = _augment(x, Recipe(shift=2), gen)
    assert set(shifted.unique().tolist()) <= set(x.unique().tolist()) | {0.0}
    flipped = _augment(x, Recipe(flip=True), torch.Generator().manual_seed(1))
    for a, b in zip(flipped, x, strict=True):
        assert torch.equal(a, b) or torch.equal(a, b.flip(2))
    # cutout: a square of side 0.5 * 12 = 6 pixels, clipped at the border, zeroed in every image
    cut = _augment(x, Recipe(cutout=0.5), torch.Generator().manual_seed(2))
    for a, b in zip(cut, x, strict=True):
        zero = a[0] == 0
        rows, cols = zero.any(1).nonzero().flatten(), zero.any(0).nonzero().flatten()
        assert 3 <= len(rows) <= 6 and 3 <= len(cols) <= 6
        assert zero.sum() == len(rows) * len(cols)  # one rectangle
        assert torch.equal(a[0][~zero], b[0][~zero])


def test_shifted_batches_have_the_standard_layout_and_train_a_strided_projection():
    # a shifted batch once kept channels-last strides, and oneDNN's backward of a 1x1 stride-2
    # convolution then corrupted the heap (one thread, AVX2 CPU, torch 2.13): the process aborted
    from evoforge.problems.training import _augment, _standard_layout
    from evoforge.spaces.recipe import Recipe

    x = torch.rand(46, 1, 8, 8)
    shifted = _augment(x, Recipe(shift=3), torch.Generator().manual_seed(0))
    assert shifted.stride() == x.stride() == (64, 64, 8, 1)
    # an RGB image folder arrives channels-last (numpy keeps the transposed stack's layout)
    rgb = torch.rand(4, 8, 8, 3).permute(0, 3, 1, 2)
    assert _standard_layout(rgb).stride() == (192, 64, 8, 1) and torch.equal(_standard_layout(rgb), rgb)
    script = (
        "import torch\n"
        "from evoforge.problems.training import _augment\n"
        "from evoforge.spaces.recipe import Recipe\n"
        "torch.set_num_threads(1)\n"
        "conv, gen = torch.nn.Conv2d(1, 16, 1, 2), torch.Generator().manual_seed(0)\n"
        "for step in range(60):\n"
        "    x = _augment(torch.rand(64 if step % 6 else 46, 1, 8, 8), Recipe(shift=3), gen)\n"
        "    conv(x).square().sum().backward()\n"
        "print('trained')\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout == "trained\n", proc.stderr[-500:]


# -- train-final ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_train_final_on_digits_reaches_98_percent_and_exports(tmp_path):
    data = load_dataset(DatasetSpec(name="digits"))
    metrics = train_final(ChainGenome.from_json(DIGITS_CNN), data, tmp_path / "final", seed=0)
    assert metrics["accuracy"] >= 0.98
    assert np.asarray(metrics["confusion"]).sum() == len(data.x_test) == 359
    saved = json.loads((tmp_path / "final" / "metrics.json").read_text())
    assert saved["accuracy"] == metrics["accuracy"] and saved["f1"] > 0.97
    # the weights load without pickle into a freshly built model, and TorchScript agrees with it
    model = build(ChainGenome.from_json(DIGITS_CNN), data.input_shape, data.classes).model
    model.load_state_dict(torch.load(tmp_path / "final" / "model.pt", weights_only=True))
    scripted = torch.jit.load(str(tmp_path / "final" / "model.ts"))
    x = torch.as_tensor(data.x_test)
    model.eval()
    with torch.no_grad():
        pred = model(x).argmax(1).numpy()
        assert np.array_equal(pred, scripted(x).argmax(1).numpy())
    assert np.mean(pred == data.y_test) == metrics["accuracy"]


@pytest.mark.slow  # end to end (make test runs it; make test-fast stays under 2 minutes)
def test_load_model_and_predict_reproduce_train_final(tmp_path):
    import evoforge

    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps({"layers": [{"type": "conv", "channels": 8}, {"type": "dense", "units": 32}]}))
    final = tmp_path / "final"
    proc = cli("train-final", "--arch", str(arch), "--dataset", "digits", "--epochs", "3", "--threads", "1",
               "--output", str(final))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((final / "metrics.json").read_text())
    assert metrics["input_shape"] == [1, 8, 8] and metrics["divide_by"] == 16.0
    data = load_dataset(DatasetSpec(name="digits"))
    raw = data.x_test * 16  # digits as scikit-learn gives them: 0..16
    model = evoforge.load_model(final)
    assert model.class_names == tuple(str(c) for c in range(10))
    assert (model.predict(raw) == data.y_test).mean() == metrics["accuracy"]  # exactly
    assert np.array_equal(model.predict(raw.reshape(len(raw), 64)), model.predict(data.x_test, scaled=True))
    # the command line, from an npz and from a CSV of one input per row
    np.savez(tmp_path / "new.npz", x=raw)
    np.savetxt(tmp_path / "new.csv", raw.reshape(len(raw), 64), delimiter=",", fmt="%g")
    for source in ("new.npz", "new.csv"):
        out = tmp_path / f"{source}.predictions.csv"
        proc = cli("predict", str(final), str(tmp_path / source), "--output", str(out))
        assert proc.returncode == 0, proc.stderr
        rows = out.read_text().splitlines()
        assert (
            rows[0] == "input,predicted," + ",".join(f"p_{c}" for c in range(10))
            and len(rows) == len(raw) + 1
        )
        predicted = np.array([int(r.split(",")[1]) for r in rows[1:]])
        assert (predicted == data.y_test).mean() == metrics["accuracy"]
    # inputs that do not fit: one line, exit 2
    (tmp_path / "bad.csv").write_text("1,2,3\n")
    for source, message in (("bad.csv", "row 1 has 3 columns, the model takes 64 inputs"),
                            ("none.npz", "no such file or folder")):  # fmt: skip
        proc = cli("predict", str(final), str(tmp_path / source))
        assert proc.returncode == 2 and message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_train_final_on_a_time_budget_trains_the_epochs_that_fit_and_repeats_exactly(tmp_path):
    """--seconds: as many epochs as an estimate from a few timed batches says fit, at most --epochs;
    the count and its estimate recorded and printed, and --epochs of that count trains the same model
    exactly (the estimate leaves the model and torch's random state as they were)."""
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps({"layers": [{"type": "conv", "channels": 8}, {"type": "dense", "units": 32}],
                                "recipe": {"schedule": "cosine"}}))  # fmt: skip
    common = ["--arch", str(arch), "--dataset", "digits", "--threads", "1"]
    proc = cli(
        "train-final", *common, "--epochs", "40", "--seconds", "2", "--output", str(tmp_path / "timed")
    )
    assert proc.returncode == 0, proc.stderr
    timed = json.loads((tmp_path / "timed" / "metrics.json").read_text())
    box = timed["time_box"]
    assert box["seconds"] == 2 and box["epochs_at_most"] == 40 and box["epoch_estimate_seconds"] > 0
    assert timed["epochs"] == max(1, min(40, int(2 // box["epoch_estimate_seconds"])))
    assert f"--epochs {timed['epochs']} repeats this training exactly" in proc.stderr
    assert f"epoch {timed['epochs']}/{timed['epochs']}:" in proc.stderr
    proc = cli("train-final", *common, "--epochs", str(timed["epochs"]), "--output", str(tmp_path / "again"))
    assert proc.returncode == 0, proc.stderr
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert "time_box" not in again
    assert (again["accuracy"], again["final_loss"]) == (timed["accuracy"], timed["final_loss"])


@pytest.mark.slow  # end to end (make test runs it; make test-fast stays under 2 minutes)
def test_predict_reads_image_folders_like_the_training_data(tmp_path):
    from PIL import Image

    import evoforge

    rng = np.random.default_rng(0)
    images = {}
    for label, brightness in (("dark", 40), ("light", 215)):
        for part in ("train", "test"):
            (tmp_path / "data" / part / label).mkdir(parents=True)
            for k in range(12 if part == "train" else 4):
                pixels = np.clip(rng.normal(brightness, 20, (10, 10)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(tmp_path / "data" / part / label / f"{k}.png")
                images[f"{label}/{k}.png"] = pixels
    final = tmp_path / "final"
    proc = cli("train-final", "--arch", str(tmp_path / "a.json"), "--dataset", "folder", "--data-path",
               str(tmp_path / "data"), "--epochs", "5", "--threads", "1", "--output", str(final))  # fmt: skip
    assert proc.returncode == 2  # no such architecture file yet
    (tmp_path / "a.json").write_text(json.dumps({"layers": [{"type": "dense", "units": 8}]}))
    proc = cli("train-final", "--arch", str(tmp_path / "a.json"), "--dataset", "folder", "--data-path",
               str(tmp_path / "data"), "--epochs", "5", "--threads", "1", "--output", str(final))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    proc = cli("predict", str(final), str(tmp_path / "data" / "test"), "--output", str(tmp_path / "p.csv"))
    assert proc.returncode == 0, proc.stderr
    rows = [r.split(",") for r in (tmp_path / "p.csv").read_text().splitlines()[1:]]
    model = evoforge.load_model(final)
    expected = model.predict(np.stack([images[name][None] for name, *_ in rows]))  # raw 8-bit pixels
    assert [model.class_names.index(r[1]) for r in rows] == expected.tolist()
    accuracy = np.mean([r[0].split("/")[0] == r[1] for r in rows])
    assert accuracy == json.loads((final / "metrics.json").read_text())["accuracy"]


def test_train_final_bad_inputs_are_one_line_and_exit_2(tmp_path):
    (tmp_path / "arch.json").write_text('{"layers": [{"type": "conv", "kernel": 4}]}')
    cases = [
        (["--arch", str(tmp_path / "arch.json"), "--dataset", "digits"], "layers.0.kernel"),
        (["--arch", str(tmp_path / "none.json"), "--dataset", "digits"], "architecture file not found"),
        ([str(tmp_path)], "is not a run directory"),
        (["--arch", str(tmp_path / "arch.json")], "--arch needs --dataset"),
    ]
    # each answered before torch is imported (seconds of a mistyped path's wait, on a loaded machine)
    said = "import atexit, sys; atexit.register(lambda: print(sorted({'torch'} & set(sys.modules))))"
    for args, message in cases:
        argv = ["evoforge", "train-final", *args, "--output", str(tmp_path / "o")]
        code = f"{said}; sys.argv = {argv!r}; from evoforge.cli import main; main()"
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert proc.returncode == 2 and message in proc.stderr.replace("\n", ""), (args, proc.stderr)
        assert proc.stdout.strip() == "[]", args
        assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_each_candidate_is_its_own_chunk_and_backends_agree(tmp_path):
    """Training runs of uneven length go to the backend one per chunk (a free worker takes the next),
    and the process backend reproduces the serial run exactly."""
    import evoforge
    from evoforge.backends.serial import SerialBackend

    class Counting(SerialBackend):
        sizes: list[int] = []

        def run(self, job):
            for chunk in super().run(job):
                self.sizes.append(len(chunk.indices))
                yield chunk

    counting = Counting()
    evoforge.run(nas_config(generations=2), tmp_path / "serial", backend=counting)
    assert counting.sizes and set(counting.sizes) == {1}
    cfg = nas_config(generations=2).model_copy(update={"backend": "process", "workers": 2})
    evoforge.run(cfg, tmp_path / "process")
    assert outcome(tmp_path / "serial") == outcome(tmp_path / "process")


def test_asynchronous_regularized_evolution_reproduces_on_one_worker(tmp_path):
    import evoforge

    cfg = nas_config(generations=3).model_copy(update={"asynchronous": True})
    first = evoforge.run(cfg, tmp_path / "a")
    evoforge.run(cfg, tmp_path / "b")
    assert outcome(tmp_path / "a") == outcome(tmp_path / "b")
    assert first.evaluations >= 12  # children of the aging population, not only the random start


def test_a_chain_search_starts_from_the_textbook_network_within_its_constraints():
    from evoforge.spaces.chain import ChainSpace, ChainSpaceConfig

    rng = np.random.default_rng(0)
    images = ChainSpace(ChainSpaceConfig(), (1, 8, 8), 10)
    start = images.first(0, rng)
    assert [layer.type for layer in start.layers] == ["conv", "conv", "pool", "dense"]
    assert [start.layers[0].channels, start.layers[1].channels, start.layers[3].units] == [32, 64, 128]
    assert (start.recipe.optimizer, start.recipe.lr, start.recipe.schedule) == ("adam", 1e-3, "cosine")
    assert images.first(1, rng).content_bytes() != start.content_bytes()  # then samples
    vectors = ChainSpace(ChainSpaceConfig(), (30,), 3).first(0, rng)
    assert [(layer.type, layer.units) for layer in vectors.layers] == [("dense", 256), ("dense", 128)]
    # every gene the nearest the space offers; over the budget, repaired like any genome
    small = ChainSpaceConfig(max_layers=2, max_params=5000, channels=(8,), units=(16,), lr_range=(0.01, 0.1),
                             optimizers=("sgd",), epochs_range=(30, 40))  # fmt: skip
    space = ChainSpace(small, (1, 8, 8), 10)
    fitted = space.first(0, rng)
    assert (
        space.valid(fitted) and len(fitted.layers) <= 2 and {layer.channels for layer in fitted.layers} == {8}
    )
    assert (fitted.recipe.optimizer, fitted.recipe.lr, fitted.recipe.epochs) == ("sgd", 0.01, 30)


def test_small_data_presets_fill_only_what_the_config_leaves_unset():
    preset = ClassificationConfig(small_data=True)
    assert (preset.folds, preset.fold_repeats, preset.proxy_epochs) == (5, 2, 30)
    assert preset.space.max_params == 1_000_000 and preset.space.batch_sizes == (8, 16, 32)
    assert 0.35 in preset.space.cutouts and preset.space.kind == "chain"
    mine = ClassificationConfig(small_data=True, folds=3, proxy_epochs=4, space={"max_params": 5000})
    assert (mine.folds, mine.fold_repeats, mine.proxy_epochs, mine.space.max_params) == (3, 2, 4, 5000)
    assert mine.space.batch_sizes == (8, 16, 32)
    with pytest.raises(ValueError, match="folds must be 0"):
        ClassificationConfig(folds=1)
    with pytest.raises(ValueError, match="early_stop needs one validation split"):
        ClassificationConfig(folds=3, early_stop={"k": 2}, proxy_epochs=3)


def test_cross_validated_fitness_is_the_mean_over_folds_and_reproduces(tmp_path):
    from evoforge.problems.classification import fold_splits

    x = np.random.default_rng(0).normal(size=(60, 1, 8, 8)).astype(np.float32)
    y = np.repeat(np.arange(3), 20)
    x[y == 1] += 1.0
    x[y == 2] -= 1.0
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y, x_test=x[:6], y_test=y[:6])
    config = ClassificationConfig(dataset={"name": "npz", "path": str(tmp_path / "d.npz")}, folds=3,
                                  fold_repeats=2, proxy_epochs=3, threads=1, tie_break=False)  # fmt: skip
    problem = ClassificationProblem(config)
    genome = ChainGenome.from_json({"layers": [{"type": "dense", "units": 16}]})
    [a] = problem.evaluate([genome], np.array([5]), {})
    [b] = problem.evaluate([genome], np.array([5]), {})
    timing = ("train_seconds", "latency_ms")
    assert a.fitness == b.fitness and "fold_sd" in a.metrics
    assert {k: v for k, v in a.metrics.items() if k not in timing} == {
        k: v for k, v in b.metrics.items() if k not in timing
    }
    splits = fold_splits(y, 3, 2)
    assert len(splits) == 6 and all(19 <= len(va) <= 21 and len(np.unique(y[va])) == 3 for _, va in splits)
    single = [problem._fit(genome, 5 + k, None, tr, va).fitness for k, (tr, va) in enumerate(splits)]
    assert a.fitness == pytest.approx(np.mean(single), abs=1e-12)
    assert problem.test_label.startswith("cross-validated score")


# -- weight inheritance ----------------------------------------------------------------------------
def test_inheritance_copies_aligned_layers_past_an_inserted_one():
    from evoforge.problems.inheritance import inherit

    space = ChainSpace(ChainSpaceConfig(), (1, 8, 8), 10)
    parent = ChainGenome.from_json(DIGITS_CNN)
    layers = [*DIGITS_CNN["layers"][:2], {"type": "conv", "channels": 48}, *DIGITS_CNN["layers"][2:]]
    child = ChainGenome.from_json(dict(DIGITS_CNN, layers=layers))
    torch.manual_seed(0)
    trained = build(parent, (1, 8, 8), 10).model.state_dict()
    torch.manual_seed(1)
    same = build(parent, (1, 8, 8), 10).model
    assert inherit(same, trained) == 1.0
    assert all(torch.equal(v, trained[k]) for k, v in same.state_dict().items())
    torch.manual_seed(1)
    grown = build(child, (1, 8, 8), 10).model
    share = inherit(grown, trained)
    # everything but the inserted conv (64->48) and the conv after it (its input is now 48 wide)
    assert 0.3 < share < 1.0
    state = grown.state_dict()
    copied = [
        k
        for k in state
        if any(torch.equal(state[k], t) for t in trained.values() if t.shape == state[k].shape)
    ]
    assert any(k.endswith("weight") for k in copied)
    assert space.violation(child) is None
    unrelated = torch.nn.Sequential(torch.nn.Linear(3, 5))
    assert inherit(unrelated, trained) == 0.0


def test_an_inheriting_child_starts_where_its_parent_ended():
    """One proxy epoch from the parent's weights beats one epoch from scratch: the child keeps what its
    lineage learned (and without a parent's state it is exactly the scratch run)."""
    from evoforge.core.problem import Lineage

    problem = ClassificationProblem(
        ClassificationConfig.model_validate(
            dict(nas_config().problem.model_dump(), inherit_weights=True, proxy_fraction=0.5)
        )
    )
    genome = ChainGenome.from_json(
        dict(DIGITS_CNN, layers=[{"type": "conv", "channels": 16}, {"type": "pool"}], head="flatten")
    )
    folder = str(Path(tempfile.mkdtemp()))

    def fit(gid, parents):
        return problem.evaluate_lineage([genome], np.array([5]), {}, Lineage(folder, [gid], [parents]))[0]

    scratch = problem.evaluate([genome], np.array([5]), {})[0]
    orphan = fit("a" * 16, ())
    assert orphan.fitness == scratch.fitness and orphan.metrics["inherited"] == 0.0
    child = fit("b" * 16, ("a" * 16,))
    assert child.metrics["inherited"] == 1.0 and child.fitness > scratch.fitness + 0.1
    assert sorted(p.name for p in Path(folder).iterdir()) == ["a" * 16 + ".pt", "b" * 16 + ".pt"]


def test_an_inheriting_search_reproduces_on_every_backend_and_keeps_every_state(tmp_path):
    import evoforge

    cfg = nas_config(generations=3, inherit_weights=True)
    evoforge.run(cfg, tmp_path / "a")
    evoforge.run(cfg.model_copy(update={"backend": "process", "workers": 2}), tmp_path / "b")
    assert outcome(tmp_path / "a") == outcome(tmp_path / "b")
    rows = individuals(tmp_path / "a", "genome_id, parents, metrics", fresh_only=True)
    assert sorted(p.stem for p in (tmp_path / "a" / "states").glob("*.pt")) == sorted(r[0] for r in rows)
    shares = [(json.loads(parents), json.loads(metrics)["inherited"]) for _, parents, metrics in rows]
    assert all(share == 0.0 for parents, share in shares if not parents)
    assert any(share > 0.5 for parents, share in shares if parents)
    # a run in which nothing has a parent's state is the plain search, exactly
    evoforge.run(nas_config(generations=1, inherit_weights=True), tmp_path / "c")
    evoforge.run(nas_config(generations=1), tmp_path / "d")
    assert outcome(tmp_path / "c")["individuals"] == outcome(tmp_path / "d")["individuals"]


def test_inheritance_refuses_folds():
    with pytest.raises(ValueError, match="inherit_weights needs one validation split"):
        ClassificationConfig(folds=3, inherit_weights=True)


def test_classification_metrics_are_scikit_learns_exactly():
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    from evoforge.problems.training import classification_metrics

    rng = np.random.default_rng(0)
    for classes, n, skew in [(2, 10, 0.0), (5, 200, 0.5), (10, 57, 0.9), (4, 3, 0.0)]:
        y = rng.integers(0, classes, n)
        pred = np.where(
            rng.random(n) < skew, y, rng.integers(0, max(1, classes - 1), n)
        )  # one never predicted
        got = classification_metrics(y, pred, classes)
        p, r, f, _ = precision_recall_fscore_support(
            y, pred, labels=list(range(classes)), average="macro", zero_division=0
        )
        assert (got["precision"], got["recall"]) == pytest.approx((p, r), abs=1e-12)
        assert got["f1"] == pytest.approx(f, abs=1e-12)
        assert got["confusion"] == confusion_matrix(y, pred, labels=list(range(classes))).tolist()


@pytest.mark.slow  # trains and predicts in subprocesses
def test_a_csv_model_reads_its_columns_by_name(tmp_path):
    """A model trained on a CSV predicts from a CSV like its training file: the label column there and
    the columns in any order (a 5-column file was refused for a 4-input model, and a file with its
    columns reordered was read by position, silently wrong). A separate test file is aligned by name
    too (it was read by position)."""
    import evoforge

    rng = np.random.default_rng(0)
    x = rng.normal(size=(160, 3))
    label = np.where(x[:, 0] - x[:, 2] > 0, "up", "down")
    frame = {"a": x[:, 0], "b": x[:, 1], "c": x[:, 2]}

    def write(path, columns, rows):
        with open(path, "w") as f:
            f.write(",".join(columns) + "\n")
            for k in rows:
                f.write(
                    ",".join(str(label[k]) if c == "label" else repr(float(frame[c][k])) for c in columns)
                    + "\n"
                )

    write(tmp_path / "train.csv", ["a", "b", "c", "label"], range(120))
    write(tmp_path / "test.csv", ["label", "c", "a", "b"], range(120, 160))  # another order
    data = load_dataset(
        DatasetSpec(name="csv", path=str(tmp_path / "train.csv"), test_path=str(tmp_path / "test.csv"))
    )
    np.testing.assert_allclose(data.x_test, x[120:160], rtol=1e-6)
    assert data.feature_names == ("a", "b", "c")
    (tmp_path / "arch.json").write_text(json.dumps({"layers": [{"type": "dense", "units": 16}]}))
    final = tmp_path / "final"
    proc = cli("train-final", "--arch", str(tmp_path / "arch.json"), "--dataset", "csv", "--data-path",
               str(tmp_path / "train.csv"), "--epochs", "3", "--threads", "1", "--output", str(final))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    model = evoforge.load_model(final)
    assert model.feature_names == ("a", "b", "c")
    expected = model.predict(x[120:160])
    write(tmp_path / "new.csv", ["b", "label", "c", "a"], range(120, 160))  # the label column too
    proc = cli("predict", str(final), str(tmp_path / "new.csv"), "--output", str(tmp_path / "p.csv"))
    assert proc.returncode == 0, proc.stderr
    predicted = [r.split(",")[1] for r in (tmp_path / "p.csv").read_text().splitlines()[1:]]
    assert predicted == [model.class_names[k] for k in expected]
    write(tmp_path / "short.csv", ["a", "c"], range(3))
    proc = cli("predict", str(final), str(tmp_path / "short.csv"))
    assert proc.returncode == 2 and "no column 'b' (the model takes a, b, c)" in proc.stderr
