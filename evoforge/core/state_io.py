"""Save and load strategy state exactly, without pickle.

State is a tree of dicts, lists, numpy arrays and JSON scalars. It is written
as one ``.npz`` file (arrays, plus the tree as JSON) through a temporary file
and an atomic rename, so a kill at any moment leaves the previous checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from evoforge.core.files import atomic_write_bytes

__all__ = ["save_state", "load_state"]

_ARRAY = "__ndarray__"
_SCALARS = {int, float, bool, str, type(None)}


def _encode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = value
        return {_ARRAY: key}
    if isinstance(value, dict):
        for k in value:
            if not isinstance(k, str):
                raise TypeError(f"state keys must be strings, got {k!r}")
        return {k: _encode(v, arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if {type(v) for v in value} <= _SCALARS:  # the common leaf: no recursion per item
            return list(value)
        return [_encode(v, arrays) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot store a {type(value).__name__} in strategy state")


def _decode(value: Any, arrays: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {_ARRAY}:
            return arrays[value[_ARRAY]]
        return {k: _decode(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    return value


def save_state(path: Path, state: Any) -> None:
    """Write ``state`` to ``path`` (an ``.npz`` file) atomically."""
    import io

    arrays: dict[str, np.ndarray] = {}
    tree = _encode(state, arrays)
    meta = np.frombuffer(json.dumps(tree).encode("utf-8"), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, __tree__=meta, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as its flags
    atomic_write_bytes(path, buffer.getvalue())


def load_state(path: Path) -> Any:
    """Read a state written by :func:`save_state` (``allow_pickle`` stays off)."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files if key != "__tree__"}
        tree = json.loads(data["__tree__"].tobytes().decode("utf-8"))
    return _decode(tree, arrays)
