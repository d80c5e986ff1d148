"""Readers for the datasets supervised search runs on.

Every reader returns a :class:`Dataset`: float32 inputs, shaped ``(N, C, H, W)`` for images
(scaled to [0, 1]) or ``(N, F)`` for tabular data, int64 labels ``0..K-1``, and a train/test split.
Sources without a test split of their own (digits, one CSV, one .npz, one image folder) are split
once, stratified, with a fixed seed, so every run and ``train-final`` see the same test images.

Anything wrong with a dataset (missing files, an unreadable image, a truncated IDX file, labels that
do not match the images) raises :class:`DatasetError` with one line naming the problem.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
import urllib.request
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from evoforge.core.paths import AbsolutePath
from evoforge.core.problem import InputError

__all__ = ["Dataset", "DatasetError", "DatasetSpec", "DATASETS", "load_dataset", "read_idx"]

DATASETS = ("digits", "fashion-mnist", "mnist", "cifar10", "cifar100", "folder", "npz", "csv")

#: where Debian's dataset packages put their files (``dataset-fashion-mnist``: ``fashion-mnist/``);
#: ``EVOFORGE_SYSTEM_DATA`` moves it (the test suite points it at an empty folder)
_SYSTEM_DATA = "/usr/share/datasets"
_URLS = {
    "fashion-mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
}
_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}


class DatasetError(InputError):
    """A dataset that cannot be used, described in one line."""


class DatasetSpec(BaseModel):
    """Which dataset to read, and from where."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["digits", "fashion-mnist", "mnist", "cifar10", "cifar100", "folder", "npz", "csv"] = Field(
        "digits",
        description="digits (scikit-learn's, embedded), fashion-mnist / mnist (IDX files), cifar10 / "
        "cifar100 (python or binary batch files), folder (one subfolder of PNG/JPEG per class, optionally "
        "under train/ and test/), npz (x_train, y_train[, x_test, y_test] or x, y), csv (numeric columns "
        "plus a label column).",
    )
    path: AbsolutePath | None = Field(
        None,
        description="File or folder to read (made absolute when the config is read). fashion-mnist defaults to the Debian package's "
        "/usr/share/datasets/fashion-mnist (the environment variable EVOFORGE_SYSTEM_DATA moves "
        "/usr/share/datasets), then to the download cache ~/.cache/evoforge/data (EVOFORGE_DATA moves it).",
    )
    test_path: AbsolutePath | None = Field(None, description="csv only: a separate test file.")
    label_column: str | None = Field(None, description="csv only: the label column (default: the last).")
    test_fraction: float = Field(
        0.2, gt=0, lt=1, description="Held-out test share for sources without a test split of their own."
    )
    image_size: int | None = Field(
        None, ge=4, description="folder only: images are resized to this square size (default: as read)."
    )
    download: bool = Field(
        False,
        description="fashion-mnist / mnist: download into the cache if the files are not found (needs a "
        "network; never done unless asked).",
    )


@dataclass(frozen=True)
class Dataset:
    """Train and test arrays of a classification dataset.

    >>> d = load_dataset(DatasetSpec(name="digits"))
    >>> d.x_train.shape[1:], d.classes, len(d.x_test)
    ((1, 8, 8), 10, 359)
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...] = field(default=())
    #: what raw inputs were divided by to give these (digits' 0..16: 16; 8-bit images: 255; 1 for
    #: inputs taken as they are), so a trained model can be fed new raw data the same way
    divide_by: float = 1.0
    #: the input columns by name, in the order of the features (a CSV's header): new inputs are
    #: read by these names
    feature_names: tuple[str, ...] = ()

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def classes(self) -> int:
        return len(self.class_names)


def load_dataset(spec: DatasetSpec) -> Dataset:
    """Read the dataset ``spec`` names; :class:`DatasetError` with one line if it cannot be used."""
    reader = {
        "digits": _digits,
        "fashion-mnist": _idx_dataset,
        "mnist": _idx_dataset,
        "cifar10": _cifar,
        "cifar100": _cifar,
        "folder": _folder,
        "npz": _npz,
        "csv": _csv,
    }[spec.name]
    data = reader(spec)
    _check(data)
    fixed = {"digits": 16.0, "fashion-mnist": 255.0, "mnist": 255.0, "cifar10": 255.0, "cifar100": 255.0,
             "folder": 255.0}  # fmt: skip
    if spec.name in fixed:
        data = replace(data, divide_by=fixed[spec.name])
    return data


def _check(d: Dataset) -> None:
    for part, x, y in (("train", d.x_train, d.y_train), ("test", d.x_test, d.y_test)):
        if len(x) != len(y):
            raise DatasetError(f"{d.name}: {len(x)} {part} inputs but {len(y)} labels")
        if len(x) == 0:
            raise DatasetError(f"{d.name}: the {part} split is empty")
        if not np.all(np.isfinite(x)):
            raise DatasetError(f"{d.name}: the {part} inputs contain NaN or infinite values")
        if y.min() < 0 or y.max() >= d.classes:
            raise DatasetError(f"{d.name}: {part} labels outside 0..{d.classes - 1}")
    if d.classes < 2:
        raise DatasetError(f"{d.name}: needs at least 2 classes, found {d.classes}")
    if d.x_train.shape[1:] != d.x_test.shape[1:]:
        raise DatasetError(
            f"{d.name}: train inputs {d.x_train.shape[1:]} but test inputs {d.x_test.shape[1:]}"
        )


def _split(name: str, x: np.ndarray, y: np.ndarray, fraction: float, names: tuple[str, ...]) -> Dataset:
    """A stratified split with a fixed seed: the same test set for every run on this data."""
    rng = np.random.default_rng(20_021_119)
    test = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        rng.shuffle(members)
        test[members[: int(round(fraction * len(members)))]] = True
    return Dataset(name, x[~test], y[~test], x[test], y[test], names)


def _labels(raw: np.ndarray, source: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Labels as ints 0..K-1 (sorted original values give the class names)."""
    values, codes = np.unique(np.asarray(raw), return_inverse=True)
    if len(values) < 2:
        raise DatasetError(f"{source}: needs at least 2 classes, found {len(values)}")
    return codes.astype(np.int64), tuple(str(v) for v in values)


# -- digits ---------------------------------------------------------------------------------------
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits (images 0..16, labels), read from the data file it ships, as its
    ``load_digits`` reads it, without importing scikit-learn: that import (scipy with it) costs every
    process that loads digits (each worker of a search) 1.5 s or more; ``load_digits`` where the file
    is not where scikit-learn keeps it."""
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz" if spec and spec.origin else None
    if path is None or not path.is_file():
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return bunch.images, bunch.target
    data = np.loadtxt(gzip.open(path, "rt"), delimiter=",")
    return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(int)


def _digits(spec: DatasetSpec) -> Dataset:
    images, target = _digits_arrays()
    x = (images.astype(np.float32) / 16.0)[:, None, :, :]
    y = target.astype(np.int64)
    return _split("digits", x, y, spec.test_fraction, tuple(str(c) for c in range(10)))


# -- IDX (MNIST, Fashion-MNIST) -------------------------------------------------------------------
def _open_maybe_gz(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DatasetError(f"{path}: corrupt gzip data ({exc})") from None
    return raw


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (LeCun's MNIST format, optionally gzipped) as an array of unsigned bytes.

    >>> import tempfile; p = Path(tempfile.mkdtemp()) / "x-idx1-ubyte"
    >>> _ = p.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9]))
    >>> read_idx(p).tolist()
    [7, 8, 9]
    """
    raw = _open_maybe_gz(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DatasetError(f"{path}: not an IDX file (bad magic number)")
    if raw[2] != 0x08:
        raise DatasetError(f"{path}: IDX element type {raw[2]:#04x} is not unsigned bytes")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path}: IDX header is truncated")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(shape)) if shape else 0
    if len(raw) - header != expected:
        raise DatasetError(
            f"{path}: IDX data holds {len(raw) - header} bytes, its header promises {expected} {shape}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _idx_file(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem, folder / stem.replace("-idx", ".idx")):
        if candidate.is_file():
            return candidate
    return None


def _idx_folder(spec: DatasetSpec) -> Path:
    if spec.path is not None:
        return Path(spec.path)
    candidates = [system_data_dir() / spec.name] if spec.name == "fashion-mnist" else []
    candidates.append(cache_dir() / spec.name)
    for folder in candidates:
        if _idx_file(folder, _IDX_FILES["train"][0]) is not None:
            return folder
    return candidates[-1]


def system_data_dir() -> Path:
    """Where system-wide dataset packages are looked for (read at each call, so it can be moved)."""
    return Path(os.environ.get("EVOFORGE_SYSTEM_DATA") or _SYSTEM_DATA)


def cache_dir() -> Path:
    """The download cache, ``~/.cache/evoforge/data`` unless ``EVOFORGE_DATA`` moves it (read at each
    call)."""
    return Path(os.environ.get("EVOFORGE_DATA") or Path.home() / ".cache" / "evoforge" / "data")


def _download(name: str, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for stems in _IDX_FILES.values():
        for stem in stems:
            target = folder / f"{stem}.gz"
            if target.is_file():
                continue
            partial = target.with_suffix(".part")
            try:
                with urllib.request.urlopen(_URLS[name] + f"{stem}.gz", timeout=60) as response:
                    partial.write_bytes(response.read())
            except OSError as exc:
                raise DatasetError(f"cannot download {name} ({stem}.gz): {exc}") from None
            partial.replace(target)  # never a half-written file under the real name


def _idx_dataset(spec: DatasetSpec) -> Dataset:
    folder = _idx_folder(spec)
    if spec.download and _idx_file(folder, _IDX_FILES["train"][0]) is None:
        _download(spec.name, folder)
    arrays = {}
    for part, (images, labels) in _IDX_FILES.items():
        paths = [_idx_file(folder, images), _idx_file(folder, labels)]
        for stem, p in zip((images, labels), paths, strict=True):
            if p is None:
                hint = (
                    " (apt-get install dataset-fashion-mnist, or download: true)" if spec.path is None else ""
                )
                raise DatasetError(f"{spec.name}: {stem}[.gz] not found in {folder}{hint}")
        assert paths[0] is not None and paths[1] is not None  # checked just above
        x, y = read_idx(paths[0]), read_idx(paths[1])
        if x.ndim != 3 or y.ndim != 1:
            raise DatasetError(
                f"{paths[0]}: expected images (N, H, W) and labels (N,), got {x.shape} and {y.shape}"
            )
        if len(x) != len(y):
            raise DatasetError(f"{spec.name}: {len(x)} {part} images but {len(y)} labels in {folder}")
        arrays[part] = ((x.astype(np.float32) / 255.0)[:, None], y.astype(np.int64))
    classes = int(max(arrays["train"][1].max(), arrays["test"][1].max())) + 1
    return Dataset(spec.name, *arrays["train"], *arrays["test"], tuple(str(c) for c in range(classes)))


# -- CIFAR ----------------------------------------------------------------------------------------
class _ArrayUnpickler(pickle.Unpickler):
    """CIFAR's python batches are pickles of a dict holding a numpy array: this unpickler rebuilds
    exactly that and refuses any other class, so a hostile file cannot run code."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise DatasetError(f"refusing to load {module}.{name} from a CIFAR batch file")
        return super().find_class(module, name)


def _cifar_python_batch(path: Path, label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = _ArrayUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()
    except DatasetError:
        raise
    except Exception as exc:  # noqa: BLE001  (any decoding failure is a broken file)
        raise DatasetError(f"{path}: not a CIFAR python batch ({type(exc).__name__})") from None
    if not isinstance(batch, dict) or b"data" not in batch or label_key not in batch:
        raise DatasetError(f"{path}: a CIFAR batch needs 'data' and '{label_key.decode()}'")
    x = np.asarray(batch[b"data"], dtype=np.uint8)
    y = np.asarray(batch[label_key], dtype=np.int64)
    if x.ndim != 2 or x.shape[1] != 3072:
        raise DatasetError(f"{path}: CIFAR data must be (N, 3072), got {x.shape}")
    if len(x) != len(y):
        raise DatasetError(f"{path}: {len(x)} images but {len(y)} labels")
    return x.reshape(-1, 3, 32, 32), y


def _cifar_binary_batch(path: Path, label_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    raw = np.frombuffer(_open_maybe_gz(path), dtype=np.uint8)
    record = label_bytes + 3072
    if len(raw) % record:
        raise DatasetError(f"{path}: {len(raw)} bytes is not a whole number of {record}-byte CIFAR records")
    rows = raw.reshape(-1, record)
    return rows[:, label_bytes:].reshape(-1, 3, 32, 32), rows[:, label_bytes - 1].astype(np.int64)


def _cifar(spec: DatasetSpec) -> Dataset:
    if spec.path is None:
        raise DatasetError(f"{spec.name}: give the folder of its batch files as path")
    folder = Path(spec.path)
    if not folder.is_dir():
        raise DatasetError(f"{spec.name}: {folder} is not a folder")
    if spec.name == "cifar10":
        python = ([f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], b"labels")
        binary = ([f"data_batch_{i}.bin" for i in range(1, 6)], ["test_batch.bin"], 1)
        classes = 10
    else:
        python = (["train"], ["test"], b"fine_labels")
        binary = (["train.bin"], ["test.bin"], 2)
        classes = 100
    parts = {}
    if all((folder / f).is_file() for f in python[0] + python[1]):
        for part, files in (("train", python[0]), ("test", python[1])):
            loaded = [_cifar_python_batch(folder / f, python[2]) for f in files]
            parts[part] = (np.concatenate([b[0] for b in loaded]), np.concatenate([b[1] for b in loaded]))
    elif all((folder / f).is_file() for f in binary[0] + binary[1]):
        for part, files in (("train", binary[0]), ("test", binary[1])):
            loaded = [_cifar_binary_batch(folder / f, binary[2]) for f in files]
            parts[part] = (np.concatenate([b[0] for b in loaded]), np.concatenate([b[1] for b in loaded]))
    else:
        missing = next(f for f in python[0] + python[1] if not (folder / f).is_file())
        raise DatasetError(f"{spec.name}: {missing} (or the binary version's files) not found in {folder}")
    (xtr, ytr), (xte, yte) = parts["train"], parts["test"]
    return Dataset(
        spec.name,
        xtr.astype(np.float32) / 255.0,
        ytr,
        xte.astype(np.float32) / 255.0,
        yte,
        tuple(str(c) for c in range(classes)),
    )


# -- image folders --------------------------------------------------------------------------------
def _read_image_tree(root: Path, size: int | None) -> tuple[list[np.ndarray], list[str]]:
    from PIL import Image, UnidentifiedImageError

    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise DatasetError(f"{root}: no class subfolders")
    images, labels = [], []
    for name in classes:
        files = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
        if not files:
            raise DatasetError(f"{root / name}: no PNG or JPEG images")
        for f in files:
            try:
                with Image.open(f) as opened:
                    opened.load()
                    im = opened.convert("L" if opened.mode in ("1", "L", "I", "I;16", "F") else "RGB")
                    if size is not None:
                        im = im.resize((size, size))
                    images.append(np.asarray(im))
            except (UnidentifiedImageError, OSError, ValueError) as exc:
                raise DatasetError(f"{f}: unreadable image ({type(exc).__name__})") from None
            labels.append(name)
    return images, labels


def _stack_images(images: list[np.ndarray], root: Path) -> np.ndarray:
    gray = all(im.ndim == 2 for im in images)  # all grayscale: one channel; else RGB
    arrays = [
        im[:, :, None] if gray else (np.repeat(im[:, :, None], 3, axis=2) if im.ndim == 2 else im)
        for im in images
    ]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise DatasetError(f"{root}: images of different sizes {sorted(shapes)[:2]}; set image_size")
    return np.stack(arrays).transpose(0, 3, 1, 2).astype(np.float32, order="C") / 255.0


def _folder(spec: DatasetSpec) -> Dataset:
    if spec.path is None or not Path(spec.path).is_dir():
        raise DatasetError(f"folder: {spec.path} is not a folder")
    root = Path(spec.path)
    if (root / "train").is_dir() and (root / "test").is_dir():
        tr_images, tr_labels = _read_image_tree(root / "train", spec.image_size)
        te_images, te_labels = _read_image_tree(root / "test", spec.image_size)
        x = _stack_images(tr_images + te_images, root)
        y, names = _labels(np.array(tr_labels + te_labels), str(root))
        n = len(tr_images)
        return Dataset("folder", x[:n], y[:n], x[n:], y[n:], names)
    images, labels = _read_image_tree(root, spec.image_size)
    y, names = _labels(np.array(labels), str(root))
    return _split("folder", _stack_images(images, root), y, spec.test_fraction, names)


# -- arrays ---------------------------------------------------------------------------------------
def _arrays(path: str | Path) -> dict[str, np.ndarray]:
    """The named arrays of an .npz file (numpy.savez), or a lone .npy array as ``{"": array}``; never
    unpickled (an object array is refused)."""
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            return {"": loaded}
        with loaded as f:
            return {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "pickled" in why:  # numpy's word for anything that is not .npy or .npz
            why = "not numpy's .npz or .npy format"
        raise DatasetError(f"{path}: not a readable .npz file ({why})") from None


def _npz(spec: DatasetSpec) -> Dataset:
    if spec.path is None:
        raise DatasetError("npz: give the file as path")
    arrays = _arrays(spec.path)
    if "" in arrays:
        raise DatasetError(
            f"{spec.path}: a single array (.npy); training needs named arrays x and y (or x_train, "
            "y_train, x_test, y_test) in one .npz file: numpy.savez(path, x=..., y=...)"
        )
    if {"x_train", "y_train", "x_test", "y_test"} <= arrays.keys():
        y, names = _labels(np.concatenate([arrays["y_train"], arrays["y_test"]]), spec.path)
        n = len(arrays["y_train"])
        xtr, xte = arrays["x_train"], arrays["x_test"]
        if len(xtr) != n or len(xte) != len(y) - n:
            raise DatasetError(f"{spec.path}: inputs and labels differ in length")
        return Dataset(
            "npz", _as_inputs(xtr, spec.path), y[:n], _as_inputs(xte, spec.path), y[n:], names, _divisor(xtr)
        )
    if {"x", "y"} <= arrays.keys():
        if len(arrays["x"]) != len(arrays["y"]):
            raise DatasetError(f"{spec.path}: {len(arrays['x'])} inputs but {len(arrays['y'])} labels")
        y, names = _labels(arrays["y"], spec.path)
        data = _split("npz", _as_inputs(arrays["x"], spec.path), y, spec.test_fraction, names)
        return replace(data, divide_by=_divisor(arrays["x"]))
    raise DatasetError(
        f"{spec.path}: needs arrays x_train, y_train, x_test, y_test (or x, y); has {sorted(arrays)}"
    )


def _divisor(x: np.ndarray, otherwise: float = 1.0) -> float:
    """What raw inputs ``x`` are divided by: 255 for 8-bit images, else ``otherwise``."""
    return 255.0 if x.dtype == np.uint8 else otherwise


def _as_inputs(x: np.ndarray, source: str) -> np.ndarray:
    """Inputs as float32: (N, F) stays, (N, H, W) gains a channel, uint8 images are scaled to [0, 1]."""
    if x.dtype.kind not in "fiub":
        raise DatasetError(f"{source}: inputs must be numeric, got {x.dtype}")
    x = x.astype(np.float32) / _divisor(x)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim not in (2, 4):
        raise DatasetError(f"{source}: inputs must be (N, F), (N, H, W) or (N, C, H, W), got {x.shape}")
    return x


def _read_csv(path: str, label_column: str | None) -> tuple[np.ndarray, np.ndarray, list[str], str]:
    """(features, labels, the feature columns' names, the label column's name) of a CSV file."""
    import csv

    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from None
    rows = [r for r in rows if r]
    if len(rows) < 2:
        raise DatasetError(f"{path}: needs a header line and at least one row")
    header = [h.strip() for h in rows[0]]
    if label_column is None:
        col = len(header) - 1
    elif label_column in header:
        col = header.index(label_column)
    else:
        raise DatasetError(f"{path}: no column {label_column!r} (columns: {', '.join(header)})")
    features, labels = [], []
    for n, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise DatasetError(f"{path}:{n}: {len(row)} fields, the header has {len(header)}")
        try:
            features.append([float(v) for k, v in enumerate(row) if k != col])
        except ValueError:
            bad = next(v for k, v in enumerate(row) if k != col and not _is_float(v))
            raise DatasetError(f"{path}:{n}: {bad!r} is not a number") from None
        labels.append(row[col].strip())
    names = [h for k, h in enumerate(header) if k != col]
    return np.asarray(features, dtype=np.float32), np.asarray(labels), names, header[col]


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _csv(spec: DatasetSpec) -> Dataset:
    if spec.path is None:
        raise DatasetError("csv: give the file as path")
    x, labels, columns, label_name = _read_csv(spec.path, spec.label_column)
    if spec.test_path is None:
        y, names = _labels(labels, spec.path)
        return replace(_split("csv", x, y, spec.test_fraction, names), feature_names=tuple(columns))
    xt, labels_t, test_columns, _ = _read_csv(spec.test_path, label_name)
    if sorted(test_columns) != sorted(columns):  # the same columns, in any order: aligned by name
        missing = [c for c in columns if c not in test_columns]
        extra = [c for c in test_columns if c not in columns]
        raise DatasetError(
            f"{spec.test_path}: its columns differ from {spec.path}'s"
            + (f" (missing: {', '.join(missing)})" if missing else "")
            + (f" (not in {spec.path}: {', '.join(extra)})" if extra else "")
        )
    xt = xt[:, [test_columns.index(c) for c in columns]]
    y, names = _labels(np.concatenate([labels, labels_t]), spec.path)
    return Dataset("csv", x, y[: len(x)], xt, y[len(x) :], names, feature_names=tuple(columns))


# -- new inputs for a trained model ---------------------------------------------------------------
def read_inputs(
    source: str, input_shape: tuple[int, ...], divide_by: float, feature_names: tuple[str, ...] = ()
) -> tuple[list[str], np.ndarray]:
    """New inputs for a model trained on inputs of ``input_shape`` that were raw values divided by
    ``divide_by``: (a name per input, float32 array ``(N, *input_shape)``). ``source`` is a PNG or
    JPEG image or a folder of them (searched recursively; resized to the model's size, converted to
    its channels; names are paths relative to the folder), an IDX file (``.gz`` too), a ``.npz``
    (array ``x``, ``x_test`` or its only array), a ``.npy`` array or a CSV of one input per row (``prod(input_shape)``
    numeric columns, a header line optional; with ``feature_names``, a model trained on a CSV, a header
    naming them is read by name: columns in any order, others, such as the label, left out). 8-bit
    arrays are divided by 255, other numbers by
    ``divide_by``: inputs are given in the raw units of the training data (digits 0..16, pixels
    0..255). :class:`DatasetError` with one line if the inputs cannot be read or do not fit."""
    path = Path(source)
    if not path.exists():
        raise DatasetError(f"{source}: no such file or folder")
    if path.is_dir() or path.suffix.lower() in _IMAGE_SUFFIXES:
        names, x = _read_images(path, input_shape)
    elif path.suffix.lower() in (".npz", ".npy"):
        x = _npz_inputs(path)
        names = [str(k) for k in range(len(x))]
    elif path.suffix.lower() == ".csv":
        x = _csv_inputs(path, int(np.prod(input_shape)), feature_names)
        names = [str(k) for k in range(len(x))]
    else:  # IDX, as MNIST ships it
        x = read_idx(path)
        names = [str(k) for k in range(len(x))]
    if len(x) == 0:
        raise DatasetError(f"{source}: no inputs")
    x = x.astype(np.float32) / _divisor(x, divide_by)
    want = int(np.prod(input_shape))
    if int(np.prod(x.shape[1:])) != want:
        raise DatasetError(
            f"{source}: inputs of shape {tuple(x.shape[1:])}, the model takes {tuple(input_shape)}"
        )
    x = x.reshape((len(x), *input_shape))
    if not np.all(np.isfinite(x)):
        raise DatasetError(f"{source}: the inputs contain NaN or infinite values")
    return names, x


def _read_images(path: Path, input_shape: tuple[int, ...]) -> tuple[list[str], np.ndarray]:
    from PIL import Image, UnidentifiedImageError

    if len(input_shape) != 3:
        raise DatasetError(f"{path}: images, but the model takes vectors of {input_shape[0]} features")
    channels, height, width = input_shape
    files = (
        [path]
        if path.is_file()
        else sorted(p for p in path.rglob("*") if p.suffix.lower() in _IMAGE_SUFFIXES)
    )
    if not files:
        raise DatasetError(f"{path}: no PNG or JPEG images")
    arrays = []
    for f in files:
        try:
            with Image.open(f) as opened:
                im = opened.convert("L" if channels == 1 else "RGB").resize((width, height))
                arrays.append(np.asarray(im, dtype=np.uint8).reshape(height, width, channels))
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise DatasetError(f"{f}: unreadable image ({type(exc).__name__})") from None
    names = [f.name if path.is_file() else str(f.relative_to(path)) for f in files]
    return names, np.stack(arrays).transpose(0, 3, 1, 2)


def _npz_inputs(path: Path) -> np.ndarray:
    arrays = _arrays(path)
    key = next((k for k in ("x", "x_test") if k in arrays), next(iter(arrays)) if len(arrays) == 1 else None)
    if key is None:
        raise DatasetError(f"{path}: needs an array x or x_test (or a single array); has {sorted(arrays)}")
    x = arrays[key]
    if x.dtype.kind not in "fiub" or x.ndim < 2:
        raise DatasetError(f"{path}: inputs must be numeric, one input per row; got {x.dtype} {x.shape}")
    return x


def _csv_inputs(path: Path, features: int, names: tuple[str, ...] = ()) -> np.ndarray:
    import csv

    try:
        with open(path, newline="") as f:
            rows = [r for r in csv.reader(f) if r]
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from None
    if rows and not all(_is_float(v) for v in rows[0]):
        header, rows = [h.strip() for h in rows[0]], rows[1:]  # a header line
        if names and any(n in header for n in names):  # the model's columns, by name
            for n in names:
                if n not in header:
                    raise DatasetError(f"{path}: no column {n!r} (the model takes {', '.join(names)})")
            width, keep = len(header), [header.index(n) for n in names]
            for k, row in enumerate(rows):
                if len(row) != width:
                    raise DatasetError(f"{path}: row {k + 1} has {len(row)} fields, the header has {width}")
            rows = [[row[i] for i in keep] for row in rows]
    for k, row in enumerate(rows):
        if len(row) != features:
            raise DatasetError(
                f"{path}: row {k + 1} has {len(row)} columns, the model takes {features} inputs"
            )
        if not all(_is_float(v) for v in row):
            raise DatasetError(f"{path}: row {k + 1} has a value that is not a number")
    return np.array([[float(v) for v in row] for row in rows], dtype=np.float64).reshape(len(rows), features)
