"""Tables for pipeline search: a CSV or Parquet file (or one of scikit-learn's bundled tables) with a
target column, checked before anything runs.

A bad table is one ``TableError`` line naming the problem: a missing file, rows of uneven length, no
rows, no such target column, missing target values, a column with no values, a classification
target with one class (or a class too rare to split). Columns are typed once: numeric columns
(numbers and booleans) and string columns (everything else, categories included); missing values
stay missing, for the pipeline to impute.

pandas is imported only when a table is read.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from evoforge.core.problem import InputError

__all__ = ["Table", "TableError", "BUNDLED", "load_table", "read_frame", "infer_task", "typed_frame"]

Task = Literal["classification", "regression"]

#: scikit-learn's bundled tables (no download), by the name a config gives as ``sklearn:NAME``
BUNDLED = {
    "breast_cancer": "load_breast_cancer",
    "diabetes": "load_diabetes",
    "digits": "load_digits",
    "iris": "load_iris",
    "wine": "load_wine",
}


class TableError(InputError):
    """A table that cannot be searched, said in one line."""


@dataclass
class Table:
    """Features split by type, and the target (class codes 0..k-1 for classification)."""

    numeric: np.ndarray  # (rows, numeric columns) float64, NaN for missing
    categorical: np.ndarray  # (rows, string columns) object: str or None
    numeric_names: list[str]
    categorical_names: list[str]
    y: np.ndarray  # int64 class codes, or float64 targets
    task: Task
    classes: list[str]  # class names (classification), else []
    target: str

    @property
    def rows(self) -> int:
        return len(self.y)

    def frame(self, rows: np.ndarray | None = None) -> Any:
        """The features as a pandas DataFrame (the rows ``rows``, or all)."""
        import pandas as pd

        take = slice(None) if rows is None else rows
        data = {n: self.numeric[take, k] for k, n in enumerate(self.numeric_names)}
        data.update({n: self.categorical[take, k] for k, n in enumerate(self.categorical_names)})
        columns = [*self.numeric_names, *self.categorical_names]
        return pd.DataFrame(data, columns=columns)


def typed_frame(frame: Any, numeric: list[str], categorical: list[str]) -> Any:
    """The feature columns of a DataFrame typed as evoforge types a table's: ``numeric`` as float64,
    ``categorical`` as str or None; ``TableError`` for a missing column or text in a numeric one."""
    import pandas as pd

    missing = [c for c in numeric + categorical if c not in frame.columns]
    if missing:
        raise TableError(f"no column {missing[0]!r} (the pipeline needs {', '.join(numeric + categorical)})")
    try:
        numbers = {c: frame[c].to_numpy(dtype=np.float64) for c in numeric}
    except (TypeError, ValueError) as exc:
        raise TableError(f"a numeric column holds text ({exc})") from None
    strings = {
        c: np.array([None if pd.isna(v) else str(v) for v in frame[c]], dtype=object) for c in categorical
    }
    return pd.DataFrame(numbers | strings, columns=numeric + categorical)


def _check_rows(path: Path, sep: str) -> None:
    """Every row has as many fields as the header (pandas pads short rows silently)."""
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.reader(handle, delimiter=sep)
        width = None
        for row in reader:
            if not row:  # blank lines are skipped, as pandas does
                continue
            if width is None:
                width = len(row)
            elif len(row) != width:
                raise TableError(
                    f"{path}: line {reader.line_num} has {len(row)} fields, the header has {width}"
                )


def read_frame(source: str) -> Any:
    """A DataFrame from a CSV, TSV or Parquet file, or ``sklearn:NAME`` (its target column is
    ``target``)."""
    import pandas as pd

    if source.startswith("sklearn:"):
        name = source.partition(":")[2]
        if name not in BUNDLED:
            raise TableError(f"no bundled table {name!r} (known: {', '.join(sorted(BUNDLED))})")
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, BUNDLED[name])(as_frame=True)
        return bunch.frame
    path = Path(source)
    if not path.is_file():
        raise TableError(f"data file {source} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            sep = "\t" if suffix in (".tsv", ".tab") else ","
            _check_rows(path, sep)
            frame = pd.read_csv(path, sep=sep)
    except TableError:
        raise
    except ImportError as exc:  # Parquet without an engine
        raise TableError(f"{source}: reading Parquet needs pyarrow ({exc})") from None
    except (ValueError, OSError, UnicodeDecodeError) as exc:  # pandas' parser errors are ValueErrors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TableError(f"{source}: {first}") from None
    if frame.shape[0] == 0:  # a header alone (a search has nothing to learn, a model nothing to predict)
        raise TableError(f"{source}: the table has no rows")
    if frame.shape[1] == 1 and suffix not in (".parquet", ".pq"):
        header = str(frame.columns[0])
        other = next((s for s in (";", "\t", "|") if s in header), None)
        if other is not None:  # read as one column of joined fields: a misread, not a table
            shown = {"\t": "tabs"}.get(other, repr(other))
            raise TableError(
                f"{source}: one column named {header[:60]!r}: its fields seem separated by {shown}; "
                "save it with commas (or tabs, as .tsv)"
            )
    return frame


def infer_task(y: Any) -> Task:
    """Classification for strings, booleans and integers with few distinct values; else regression."""
    import pandas as pd

    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        return "classification"
    values = y.dropna()
    integral = bool(np.all(np.mod(values.to_numpy(dtype=float), 1) == 0))
    return "classification" if integral and values.nunique() <= 20 else "regression"


def load_table(source: str, target: str, task: Task | Literal["auto"] = "auto", min_class: int = 2) -> Table:
    """Read and check a table (see the module docstring); ``min_class``: fewest rows any class
    must have (the splits that follow need them)."""
    import pandas as pd

    frame = read_frame(source)
    if target not in frame.columns:
        shown = ", ".join(map(str, list(frame.columns)[:20])) + (", ..." if frame.shape[1] > 20 else "")
        raise TableError(f"{source}: no column {target!r} (columns: {shown})")
    y = frame[target]
    missing = int(y.isna().sum())
    if missing:
        raise TableError(f"{source}: target column {target!r} has {missing} missing values")
    features = frame.drop(columns=[target])
    if features.shape[1] == 0:
        raise TableError(f"{source}: no columns besides the target {target!r}")
    empty = [str(c) for c in features.columns if features[c].isna().all()]
    if empty:
        raise TableError(f"{source}: column {empty[0]!r} is empty (every value missing)")
    task = infer_task(y) if task == "auto" else task
    if task == "regression":
        if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
            raise TableError(f"{source}: target column {target!r} is not numeric, so it cannot be regressed")
        codes, classes = y.to_numpy(dtype=np.float64), []
    else:
        names, codes = np.unique(y.astype(str).to_numpy(), return_inverse=True)
        classes = [str(n) for n in names]
        if len(classes) < 2:
            raise TableError(
                f"{source}: target column {target!r} has one class ({classes[0]!r}): nothing to classify"
            )
        counts = np.bincount(codes)
        if counts.min() < min_class:
            rare = classes[int(np.argmin(counts))]
            raise TableError(
                f"{source}: class {rare!r} of {target!r} has {counts.min()} rows; every class needs at least {min_class}"
            )
        codes = codes.astype(np.int64)
    is_numeric = [
        pd.api.types.is_numeric_dtype(features[c]) or pd.api.types.is_bool_dtype(features[c])
        for c in features.columns
    ]
    numeric_names = [str(c) for c, n in zip(features.columns, is_numeric, strict=True) if n]
    categorical_names = [str(c) for c, n in zip(features.columns, is_numeric, strict=True) if not n]
    numeric = features[[c for c, n in zip(features.columns, is_numeric, strict=True) if n]].to_numpy(
        dtype=np.float64
    )
    cat_frame = features[[c for c, n in zip(features.columns, is_numeric, strict=True) if not n]]
    categorical = np.empty(cat_frame.shape, dtype=object)
    for k, column in enumerate(cat_frame.columns):
        values = cat_frame[column]
        categorical[:, k] = [None if pd.isna(v) else str(v) for v in values]
    return Table(
        numeric.reshape(len(frame), len(numeric_names)),
        categorical,
        numeric_names,
        categorical_names,
        codes,
        task,
        classes,
        target,
    )
