"""GAN evolution: the toy metrics on hand-made sample sets, the collapse penalty, a diverging GAN
contained, variation keeping genomes valid, and seeded reproducibility."""

from __future__ import annotations

import numpy as np
import pytest

from evoforge.problems.gan import GanConfig, GanProblem, toy_data, toy_scores
from evoforge.spaces.gan import GENES, GanGenome, GanSpace, GanSpaceConfig, default_gan


@pytest.mark.parametrize("name, modes", [("ring8", 8), ("grid25", 25)])
def test_metrics_on_hand_made_sample_sets(name, modes):
    data = toy_data(name)
    rng = np.random.default_rng(0)
    every = data.sample(2000, rng)  # the data itself: every mode, nearly all within 3 sd
    scores = toy_scores(every, data, cover=20)
    assert scores["modes"] == modes and scores["quality"] > 0.98 and 0.9 < scores["spread"] < 1.1
    one = data.modes[0] + data.std * rng.standard_normal((2000, 2))  # total collapse onto one mode
    scores = toy_scores(one, data, cover=20)
    assert scores["modes"] == 1 and scores["quality"] > 0.98 and scores["spread"] < 0.05
    noise = rng.uniform(-6, 6, size=(2000, 2))  # spread everywhere, near no mode
    scores = toy_scores(noise, data, cover=20)
    assert scores["quality"] < 0.05 and scores["modes"] < modes / 2
    half = data.modes[: modes // 2][rng.integers(modes // 2, size=2000)] + data.std * rng.standard_normal(
        (2000, 2)
    )
    assert toy_scores(half, data, cover=20)["modes"] == modes // 2  # partial collapse
    assert toy_scores(np.full((10, 2), np.nan), data, cover=1) == {
        "quality": 0.0,
        "modes": 0.0,
        "spread": 0.0,
        "balanced": 0.0,
    }
    # the balanced mass: near 1 only with every mode covered evenly by good samples
    assert toy_scores(every, data, cover=20)["balanced"] > 0.9
    assert toy_scores(one, data, cover=20)["balanced"] == pytest.approx(1 / modes, abs=0.01)
    assert toy_scores(noise, data, cover=20)["balanced"] < 0.05
    assert toy_scores(half, data, cover=20)["balanced"] == pytest.approx((modes // 2) / modes, abs=0.05)
    # what the old sum of coverage and quality ranked first on 25 modes: two modes, every sample good
    two = data.modes[:2][rng.integers(2, size=2000)] + data.std * rng.standard_normal((2000, 2))
    spread_thin = np.concatenate([every[:1000], noise[:1000]])  # every mode, half the samples good
    assert (
        toy_scores(spread_thin, data, cover=20)["balanced"]
        > 1.5 * toy_scores(two, data, cover=20)["balanced"]
    )


class _FixedGenerator:
    """Stands in for a trained GAN: its samples are given."""

    def __init__(self, points, accuracy=0.7, rising=False):
        self.points, self.d_accuracy, self.g_loss_rising = points, accuracy, rising

    def sample(self, n, rng):
        return self.points[:n]


def test_collapse_and_a_dominating_discriminator_are_penalised(monkeypatch):
    import evoforge.problems.gan_train as gan_train

    problem = GanProblem(GanConfig(samples=2000))
    data, rng = problem.data, np.random.default_rng(1)
    covering = data.sample(2000, rng)
    collapsed = data.modes[3] + data.std * rng.standard_normal((2000, 2))
    fitness = {}
    for label, points, accuracy, rising in [
        ("covering", covering, 0.7, False),
        ("collapsed", collapsed, 0.7, False),
        ("dominated", covering, 1.0, True),
    ]:
        monkeypatch.setattr(
            gan_train, "train_gan", lambda *a, p=points, q=accuracy, r=rising: _FixedGenerator(p, q, r)
        )
        fitness[label] = problem.score_run(default_gan(), 0)["fitness"]
    # a collapsed generator is of high quality (every point on a mode) yet ranks far below a covering one
    assert fitness["covering"] > 0.95
    assert fitness["collapsed"] < fitness["covering"] - 0.5
    assert fitness["dominated"] == pytest.approx(fitness["covering"] - 0.1)


def test_diverging_gan_is_recorded_and_scored_worst():
    problem = GanProblem(GanConfig(steps=40, samples=500))
    wild = default_gan().with_genes(
        loss="wgan_gp", g_lr=1e-2, d_lr=1e-2, gp_weight=0.1, d_optimizer="rmsprop", g_optimizer="rmsprop"
    )
    genomes = [
        wild.with_genes(
            g_width=512, d_width=512, g_layers=4, d_layers=4, g_activation="elu", d_activation="elu"
        )
    ]
    import evoforge.problems.gan_train as gan_train

    original = gan_train._g_loss

    def exploding(loss, fake):  # a generator loss that overflows, as a diverging GAN's does
        return original(loss, fake) * float("inf")

    try:
        gan_train._g_loss = exploding
        result = problem.evaluate(genomes, np.array([3]), {})[0]
    finally:
        gan_train._g_loss = original
    assert np.isnan(result.fitness) and result.error.startswith("diverged: seed")


def test_variation_keeps_genomes_valid():
    space = GanSpace(GanSpaceConfig(fixed={"loss": "hinge"}))
    rng = np.random.default_rng(2)
    population = [space.sample(rng) for _ in range(8)]
    for _ in range(200):
        a, b = (population[i] for i in rng.integers(len(population), size=2))
        child = space.mutate(space.crossover(a, b, rng), rng)
        assert GanGenome.from_json(child.to_json()) == child  # every gene present and in range
        assert child["loss"] == "hinge"
        population[int(rng.integers(len(population)))] = child
    with pytest.raises(ValueError, match="gene g_lr=1.0 is outside"):
        GanGenome.from_json(dict(default_gan().to_json(), g_lr=1.0))
    with pytest.raises(ValueError, match="unknown gene 'x'"):
        GanSpaceConfig(fixed={"x": 1})
    assert set(default_gan().as_dict()) == set(GENES)


def test_a_compute_cap_bounds_every_sampled_and_varied_gan():
    from evoforge.spaces.gan import IMAGE_GENES, relative_cost

    rng = np.random.default_rng(4)
    free = GanSpace(GanSpaceConfig(), IMAGE_GENES)
    assert np.mean([relative_cost(free.sample(rng), True) > 2 for _ in range(200)]) > 0.3  # the cap bites
    space = GanSpace(GanSpaceConfig(max_cost=2.0), IMAGE_GENES)
    population = [space.sample(rng) for _ in range(8)]
    costs = []
    for _ in range(200):
        a, b = (population[i] for i in rng.integers(len(population), size=2))
        child = space.mutate(space.crossover(a, b, rng), rng)
        costs.append(relative_cost(child, True))
        population[int(rng.integers(len(population)))] = child
    assert max(costs) <= 2.0 and len({round(c, 6) for c in costs}) > 10  # bounded, and still varied
    with pytest.raises(
        ValueError, match=r"^max_cost 1.5 is below the cost of the default GAN with the fixed genes \(4\)$"
    ):
        GanSpace(GanSpaceConfig(fixed={"batch_size": 256}, max_cost=1.5), IMAGE_GENES)


def test_seeded_training_reproduces():
    problem = GanProblem(GanConfig(steps=60, samples=500))
    genome = default_gan().with_genes(g_norm="batch", d_norm="spectral", loss="wgan_gp")
    a = problem.evaluate([genome], np.array([11]), {})[0]
    b = problem.evaluate([genome], np.array([11]), {})[0]
    c = problem.evaluate([genome], np.array([12]), {})[0]
    assert a.error is None and a.fitness == b.fitness
    assert {k: v for k, v in a.metrics.items() if k != "train_seconds"} == {
        k: v for k, v in b.metrics.items() if k != "train_seconds"
    }
    assert a.metrics != c.metrics


def test_egan_training_runs_reproduces_and_selection_matters():
    from evoforge.problems.gan import EganConfig

    def run(selection, seed=5):
        problem = GanProblem(
            GanConfig(steps=25, samples=400, training="egan", egan=EganConfig(parents=2, selection=selection))
        )
        return problem.evaluate([default_gan()], np.array([seed]), {})[0]

    comma, again, plus = run("comma"), run("comma"), run("plus")
    assert comma.error is None and plus.error is None
    assert comma.fitness == again.fitness
    assert {k: v for k, v in comma.metrics.items() if k != "train_seconds"} != {
        k: v for k, v in plus.metrics.items() if k != "train_seconds"
    }


@pytest.fixture(scope="module")
def digits_gan():
    return GanProblem(GanConfig(data="digits", steps=20, samples=300, feature_steps=300))


def test_image_metrics_on_hand_made_sets(digits_gan):
    from evoforge.problems.gan_images import image_scores

    p = digits_gan
    real = p.data.images[:1000].numpy()  # training images: every class, close to the test images
    one = np.repeat(real[:1], 300, axis=0)  # total collapse
    noise = np.random.default_rng(0).uniform(-1, 1, size=(300, *p.data.shape)).astype(np.float32)
    scores = {
        name: image_scores(x, p.features, p.reference, 10)
        for name, x in [("real", real), ("one", one), ("noise", noise)]
    }
    assert scores["real"]["coverage"] == 1.0 and scores["real"]["entropy"] > 0.95
    assert scores["one"]["coverage"] == 0.1 and scores["one"]["entropy"] == 0.0
    assert (
        scores["real"]["frechet"] < scores["one"]["frechet"]
        and scores["real"]["frechet"] < scores["noise"]["frechet"]
    )


def test_search_never_scores_against_the_test_images(digits_gan, monkeypatch):
    import evoforge.problems.gan_images as images

    p, seen, score = digits_gan, [], images.image_scores

    def spy(points, features, reference, classes):
        seen.append(reference)
        return score(points, features, reference, classes)

    monkeypatch.setattr(images, "image_scores", spy)
    genome = p.search_space.sample(np.random.default_rng(4))
    assert p.evaluate([genome], np.array([0]), {})[0].error is None
    p.test(genome, 5, 1, {})
    assert seen[0] is p.reference and seen[1] is p.test_reference
    test_features, _ = p.features.features_and_labels(p.data.test_images[:2000])
    np.testing.assert_array_equal(p.test_reference, test_features)
    train_features, _ = p.features.features_and_labels(p.data.images[:2000])  # digits: fewer than 2,000
    np.testing.assert_array_equal(p.reference, train_features)


def test_image_gan_trains_and_workers_share_the_classifier(digits_gan):
    p = digits_gan
    again = GanProblem(p.config, shared=p.shared_inputs())  # what a worker builds from shared inputs
    np.testing.assert_array_equal(again.reference, p.reference)
    genome = p.search_space.sample(np.random.default_rng(3))
    a, b = p.evaluate([genome], np.array([1]), {})[0], again.evaluate([genome], np.array([1]), {})[0]
    assert a.error is None and a.fitness == b.fitness and np.isfinite(a.metrics["frechet"])
    # genes that do not shape an image GAN are held, so they never tell two genomes apart
    assert genome["g_layers"] == default_gan()["g_layers"] and genome["d_width"] == default_gan()["d_width"]


def test_the_feature_classifier_ignores_the_thread_count_the_process_had(digits_gan):
    """A process that ran something on other thread counts first (a test worker, a notebook) trains the
    same classifier: results change in their last digits with torch's thread count."""
    import torch

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        again = GanProblem(digits_gan.config.model_copy(update={"feature_steps": 301}))
        torch.set_num_threads(1)
        other = GanProblem(digits_gan.config.model_copy(update={"feature_steps": 301}))
    finally:
        torch.set_num_threads(before)
    np.testing.assert_array_equal(again.reference, other.reference)


def _image_folder(root, per_class: int, sizes=((8, 8),)) -> str:
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for k in range(per_class):
            h, w = sizes[k % len(sizes)]
            Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8)).save(root / c / f"{k}.png")
    return str(root)


def test_an_image_folder_of_mixed_sizes_trains_resized(tmp_path):
    """A user's folder: images of two sizes resized to image_size; a GAN trains on them to a finite
    score, and its test score is finite."""
    folder = _image_folder(tmp_path / "imgs", 170, sizes=((8, 8), (12, 10)))
    p = GanProblem(
        GanConfig(data="folder", path=folder, image_size=8, steps=5, samples=100, feature_steps=20)
    )
    assert p.data.shape == (1, 8, 8) and len(p.data.test_images) == 68
    genome = p.search_space.sample(np.random.default_rng(0))
    result = p.evaluate([genome], np.array([1]), {})[0]
    assert result.error is None and np.isfinite(result.fitness)
    assert np.isfinite(p.test(genome, 1, 1, {}).score)


def test_image_folder_settings_and_too_few_images_are_named(tmp_path):
    from pydantic import ValidationError

    from evoforge.core.problem import InputError

    with pytest.raises(ValidationError, match="data 'folder' needs path"):
        GanConfig(data="folder")
    with pytest.raises(ValidationError, match="image_size is for data 'folder'"):
        GanConfig(data="digits", image_size=8)
    with pytest.raises(ValidationError, match="multiple of 4"):
        GanConfig(data="folder", path="x", image_size=10)
    folder = _image_folder(tmp_path / "few", 20)  # 32 training and 8 test images: a NaN test score
    with pytest.raises(InputError, match=r"few: 32 training and 8 test images; the Frechet distance over 64"):
        GanProblem(GanConfig(data="folder", path=folder, steps=5, feature_steps=5))


def test_the_report_trains_again_on_the_search_threads(monkeypatch):
    """``report`` and ``export`` train the reported GAN again as the search trained it: on the problem's
    thread count, not torch's one per core (results change in their last digits with the count, and
    a tiny GAN on two threads beside other work ran 7x slower: 37 s against 5 s)."""
    import torch

    from evoforge.problems import gan_export, gan_train

    seen = []
    monkeypatch.setattr(gan_train, "train_gan", lambda *args: seen.append(torch.get_num_threads()))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        gan_export._trained(GanProblem(GanConfig(steps=5, samples=100)), default_gan(), 7)
        assert seen == [1] and torch.get_num_threads() == 2  # and the process's count put back
    finally:
        torch.set_num_threads(before)
