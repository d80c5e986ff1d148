"""Process settings made for the length of a ``with`` block, then put back as they were: environment
variables, and torch's intra-op thread count."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["environment", "torch_threads_set"]


@contextmanager
def environment(values: dict[str, str], keep_set: bool = False) -> Iterator[None]:
    """Set ``values`` in ``os.environ`` inside the block (``keep_set``: only those not set already,
    a user's own setting winning), and restore every one of them after it, removed if it was unset.

    >>> with environment({"EVOFORGE_DOCTEST": "1"}):
    ...     os.environ["EVOFORGE_DOCTEST"]
    '1'
    >>> "EVOFORGE_DOCTEST" in os.environ
    False
    """
    saved = {k: os.environ.get(k) for k in values}
    for k, v in values.items():
        if not (keep_set and k in os.environ):
            os.environ[k] = v
    try:
        yield
    finally:
        for k, before in saved.items():
            if before is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = before


@contextmanager
def torch_threads_set(threads: int) -> Iterator[None]:
    """torch's intra-op threads set to ``threads`` inside the block, and put back after it (torch is
    imported here, so only code that uses it pays for the import).

    >>> import torch
    >>> before = torch.get_num_threads()
    >>> with torch_threads_set(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
