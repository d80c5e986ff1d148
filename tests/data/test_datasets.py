"""The dataset readers: well-formed files of every format, files that would run code refused, broken
ones reported in one line (exit 2, nothing written), and the test session's guard against reading
data this repository does not create."""

import gzip
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import cli, write_idx_folder

from evoforge.data.datasets import DatasetError, DatasetSpec, load_dataset


def _png_folder(root, sizes=((8, 8),) * 4):
    from PIL import Image

    for label in ("cat", "dog"):
        (root / label).mkdir(parents=True)
        for k, size in enumerate(sizes):
            Image.fromarray(np.full(size, 40 * k, dtype=np.uint8)).save(root / label / f"{k}.png")
    return root


def test_readers_on_well_formed_files(tmp_path):
    mnist = load_dataset(DatasetSpec(name="mnist", path=str(write_idx_folder(tmp_path / "idx"))))
    assert mnist.x_train.shape == (30, 1, 28, 28) and mnist.x_test.shape == (10, 1, 28, 28)
    assert mnist.x_train.max() <= 1.0 and mnist.classes == 10

    folder = load_dataset(DatasetSpec(name="folder", path=str(_png_folder(tmp_path / "png"))))
    assert folder.class_names == ("cat", "dog") and folder.input_shape == (1, 8, 8)
    assert len(folder.x_train) + len(folder.x_test) == 8

    (tmp_path / "t.csv").write_text(
        "a,b,label\n" + "".join(f"{i},{i % 3},{'xy'[i % 2]}\n" for i in range(20))
    )
    csv = load_dataset(DatasetSpec(name="csv", path=str(tmp_path / "t.csv")))
    assert csv.input_shape == (2,) and csv.class_names == ("x", "y") and len(csv.x_test) == 4

    np.savez(tmp_path / "d.npz", x=np.random.rand(20, 5), y=np.arange(20) % 2)
    npz = load_dataset(DatasetSpec(name="npz", path=str(tmp_path / "d.npz")))
    assert npz.input_shape == (5,) and len(npz.x_train) == 16

    cifar = tmp_path / "cifar"
    cifar.mkdir()

    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": np.random.randint(0, 256, (4, 3072), dtype=np.uint8), b"labels": [0, 1, 2, 9]}
        (cifar / name).write_bytes(pickle.dumps(batch))
    c10 = load_dataset(DatasetSpec(name="cifar10", path=str(cifar)))
    assert c10.x_train.shape == (20, 3, 32, 32) and c10.classes == 10


def test_a_cifar_batch_that_would_run_code_is_refused(tmp_path):

    class Exploit:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    cifar = tmp_path / "cifar"
    cifar.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (cifar / name).write_bytes(pickle.dumps({b"data": Exploit(), b"labels": [0]}))
    with pytest.raises(DatasetError, match="refusing to load"):
        load_dataset(DatasetSpec(name="cifar10", path=str(cifar)))
    assert not (tmp_path / "pwned").exists()


def test_the_test_session_hides_system_and_cached_datasets(tmp_path, monkeypatch):
    # the guard in conftest: Fashion-MNIST named without a path is looked for in an empty folder
    from evoforge.data import datasets

    with pytest.raises(DatasetError, match="evoforge-no-data-.*cache/fashion-mnist"):
        load_dataset(DatasetSpec(name="fashion-mnist"))
    # real runs look where Debian's package and the download cache put the files
    monkeypatch.delenv("EVOFORGE_SYSTEM_DATA")
    monkeypatch.delenv("EVOFORGE_DATA")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert datasets.system_data_dir() == Path(datasets._SYSTEM_DATA)
    assert datasets.cache_dir() == tmp_path / ".cache" / "evoforge" / "data"
    # and where the variables say, for a package or cache that lives elsewhere
    write_idx_folder(tmp_path / "elsewhere" / "fashion-mnist")
    monkeypatch.setenv("EVOFORGE_SYSTEM_DATA", str(tmp_path / "elsewhere"))
    assert load_dataset(DatasetSpec(name="fashion-mnist")).x_train.shape == (30, 1, 28, 28)


def _broken(kind, tmp_path):
    """A broken dataset of each kind: (dataset flag, path, expected message)."""
    if kind == "missing_idx":
        return "mnist", tmp_path / "nothing", "train-images-idx3-ubyte[.gz] not found"
    if kind == "truncated_idx":
        folder = write_idx_folder(tmp_path / "idx")
        raw = gzip.decompress((folder / "train-images-idx3-ubyte.gz").read_bytes())
        (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw[:-100]))
        return "mnist", folder, "IDX data holds"
    if kind == "labels_mismatch":
        return (
            "mnist",
            write_idx_folder(tmp_path / "idx", labels_train=np.arange(29) % 10),
            "30 train images but 29 labels",
        )
    if kind == "unreadable_image":
        root = _png_folder(tmp_path / "png")
        (root / "dog" / "broken.png").write_bytes(b"not a png")
        return "folder", root, "broken.png: unreadable image"
    if kind == "csv_text":
        (tmp_path / "t.csv").write_text("a,label\n1,x\nhello,y\n")
        return "csv", tmp_path / "t.csv", "'hello' is not a number"
    if kind == "csv_ragged":
        (tmp_path / "t.csv").write_text("a,b,label\n1,2,x\n3,y\n")
        return "csv", tmp_path / "t.csv", "t.csv:3: 2 fields, the header has 3"
    if kind == "npz_keys":
        np.savez(tmp_path / "d.npz", images=np.zeros((4, 2)))
        return "npz", tmp_path / "d.npz", "needs arrays x_train"
    if kind == "cifar_missing":
        (tmp_path / "cifar").mkdir()
        return "cifar10", tmp_path / "cifar", "data_batch_1 (or the binary version's files) not found"
    raise AssertionError(kind)


BROKEN = [
    "missing_idx",
    "truncated_idx",
    "labels_mismatch",
    "unreadable_image",
    "csv_text",
    "csv_ragged",
    "npz_keys",
    "cifar_missing",
]


@pytest.mark.parametrize("kind", BROKEN)
def test_a_broken_dataset_is_one_line_and_exit_2_nothing_written(kind, tmp_path):
    dataset, path, message = _broken(kind, tmp_path)
    out = tmp_path / "out"
    proc = cli(
        "nas", "--dataset", dataset, "--data-path", str(path), "--generations", "1", "--output", str(out)
    )
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr.replace("\n", "")
    assert "Traceback" not in proc.stderr and not out.exists()


def test_digits_are_scikit_learns_read_without_importing_it():
    """The digits every search worker loads are load_digits' exactly, without scikit-learn's import."""
    from sklearn.datasets import load_digits

    from evoforge.data.datasets import _digits_arrays

    images, target = _digits_arrays()
    bunch = load_digits()
    np.testing.assert_array_equal(images, bunch.images)
    np.testing.assert_array_equal(target, bunch.target)
    code = "import sys; from evoforge.data.datasets import _digits_arrays; _digits_arrays(); print('sklearn' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "False", proc.stderr


def test_array_files_that_are_not_an_npz_of_named_arrays_are_named_in_one_line(tmp_path):
    """Not an .npz, a lone .npy, a damaged zip, object arrays: each a DatasetError saying which; a
    lone .npy array is taken as the inputs to predict."""
    from evoforge.data.datasets import _npz_inputs, read_inputs

    (tmp_path / "table.csv").write_text("a,b\n1,2\n")
    np.save(tmp_path / "x.npy", np.ones((3, 4)))
    np.savez(tmp_path / "whole.npz", x=np.ones((3, 4)), y=np.arange(3))
    (tmp_path / "cut.npz").write_bytes((tmp_path / "whole.npz").read_bytes()[:100])
    np.savez(tmp_path / "objects.npz", x=np.array([{"a": 1}], dtype=object))
    for name, message in (
        ("table.csv", "table.csv: not a readable .npz file (not numpy's .npz or .npy format)"),
        ("x.npy", "x.npy: a single array (.npy); training needs named arrays x and y"),
        ("cut.npz", "cut.npz: not a readable .npz file ("),
        ("objects.npz", "objects.npz: not a readable .npz file (Object arrays cannot be loaded"),
    ):
        with pytest.raises(DatasetError) as caught:
            load_dataset(DatasetSpec(name="npz", path=str(tmp_path / name)))
        assert str(caught.value).startswith(f"{tmp_path / name}"[: -len(name)] + message), caught.value
    np.testing.assert_array_equal(_npz_inputs(tmp_path / "x.npy"), np.ones((3, 4)))
    names, x = read_inputs(str(tmp_path / "x.npy"), (2, 2), 1.0)
    assert names == ["0", "1", "2"] and x.shape == (3, 2, 2)
