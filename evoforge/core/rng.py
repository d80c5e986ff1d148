"""Explicit, derived randomness.

Every random draw in evoforge comes from a generator derived from the run seed
and a tuple of keys (generation, purpose, individual id, ...). Nothing is ever
seeded globally, so a draw never depends on which worker or process made it.
"""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["derive_seed", "derive_rng"]

_MASK32 = 0xFFFFFFFF


def _key_to_ints(key: object) -> list[int]:
    if isinstance(key, (bool, np.bool_)):
        return [int(key)]
    if isinstance(key, (int, np.integer)):
        value = int(key)
        if value < 0:
            raise ValueError(f"seed keys must be non-negative, got {value}")
        words = []
        while True:
            words.append(value & _MASK32)
            value >>= 32
            if not value:
                return words
    if isinstance(key, str):
        # crc32 is stable across processes and Python versions (unlike hash()).
        return [zlib.crc32(key.encode("utf-8"))]
    if isinstance(key, bytes):
        return [zlib.crc32(key)]
    raise TypeError(f"unsupported seed key type: {type(key).__name__}")


def derive_seed(seed: int, *keys: object) -> int:
    """Return a 63-bit seed derived from ``seed`` and ``keys``.

    >>> derive_seed(0, 3, "ask") == derive_seed(0, 3, "ask")
    True
    """
    entropy = _key_to_ints(seed)
    for key in keys:
        entropy.extend(_key_to_ints(key))
        entropy.append(len(entropy))  # separates ("ab",) from ("a", "b")
    state = np.random.SeedSequence(entropy).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1])) & ((1 << 63) - 1)


def derive_rng(seed: int, *keys: object) -> np.random.Generator:
    """A fresh ``numpy.random.Generator`` for ``(seed, *keys)``.

    >>> derive_rng(1, "init").standard_normal() == derive_rng(1, "init").standard_normal()
    True
    """
    return np.random.default_rng(derive_seed(seed, *keys))
