"""Explicit, derived randomness.

Every random draw in evoforge comes from a generator derived from the run seed
and a tuple of keys (generation, purpose, individual id, ...). Nothing is ever
seeded globally, so a draw never depends on which worker or process made it.
"""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["derive_seed", "derive_seeds", "derive_rng"]

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


# numpy's SeedSequence (O'Neill's seed_seq_fe, numpy/random/bit_generator.pyx): its hash constants
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R, _POOL = 0xCA01F9DD, 0x4973F715, 4
_VECTORISE_FROM = 32  # below this many values SeedSequence one by one is faster


def derive_seeds(seed: int, keys: tuple[object, ...], last: np.ndarray | list[int]) -> np.ndarray:
    """``derive_seed(seed, *keys, v)`` for every ``v`` of ``last`` (integers in [0, 2**64)), equal to
    the one-by-one values, computed for the whole batch at once: numpy's SeedSequence hashing
    re-implemented over arrays of 32-bit words (one candidate's seed costs about 22 us through
    SeedSequence, a NEAT generation of 150 of them 3 ms; together about 0.2 ms).

    >>> v = [5, 2**40 + 3]
    >>> derive_seeds(1, ("eval",), v).tolist() == [derive_seed(1, "eval", x) for x in v]
    True
    """
    values = np.asarray(last, dtype=np.uint64).reshape(-1)
    if values.size < _VECTORISE_FROM:
        return np.array([derive_seed(seed, *keys, int(v)) for v in values], dtype=np.int64)
    prefix = _key_to_ints(seed)
    for key in keys:
        prefix.extend(_key_to_ints(key))
        prefix.append(len(prefix))
    low = np.bitwise_and(values, np.uint64(_MASK32)).astype(np.uint32)
    high = np.right_shift(values, np.uint64(32)).astype(np.uint32)
    out = np.empty(values.size, dtype=np.int64)
    for two_words in (False, True):  # a value below 2**32 is one entropy word, else two
        rows = np.flatnonzero((high != 0) == two_words)
        if rows.size:
            words = [*prefix, low[rows], *([high[rows]] if two_words else [])]
            words.append(len(prefix) + 1 + two_words)
            out[rows] = _seed_sequence_63(words, rows.size)
    return out


def _seed_sequence_63(words: list, n: int) -> np.ndarray:
    """The 63-bit seeds of :func:`derive_seed` for ``n`` entropy arrays given column by column (an int
    where every array has the same word)."""
    columns = [np.full(n, w, np.uint32) if isinstance(w, int) else w for w in words]
    hash_const = _INIT_A

    def hashmix(value: np.ndarray) -> np.ndarray:
        nonlocal hash_const
        value = value ^ np.uint32(hash_const)
        hash_const = (hash_const * _MULT_A) & _MASK32
        value = value * np.uint32(hash_const)
        return np.bitwise_xor(value, np.right_shift(value, np.uint32(16)))

    def mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        result = np.uint32(_MIX_L) * x - np.uint32(_MIX_R) * y
        return np.bitwise_xor(result, np.right_shift(result, np.uint32(16)))

    with np.errstate(over="ignore"):
        zeros = np.zeros(n, np.uint32)
        pool = [hashmix(columns[i] if i < len(columns) else zeros) for i in range(_POOL)]
        for src in range(_POOL):
            for dst in range(_POOL):
                if src != dst:
                    pool[dst] = mix(pool[dst], hashmix(pool[src]))
        for src in range(_POOL, len(columns)):
            for dst in range(_POOL):
                pool[dst] = mix(pool[dst], hashmix(columns[src]))
        state, hash_b = [], _INIT_B
        for word in pool[:2]:  # generate_state(2)
            value = word ^ np.uint32(hash_b)
            hash_b = (hash_b * _MULT_B) & _MASK32
            value = value * np.uint32(hash_b)
            state.append(np.bitwise_xor(value, np.right_shift(value, np.uint32(16))))
    return ((state[0].astype(np.int64) << 31) ^ state[1].astype(np.int64)) & ((1 << 63) - 1)
