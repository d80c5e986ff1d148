"""Genome encodings and content ids.

Two encodings travel through the engine:

* a parameter vector (``numpy.ndarray`` of float64), and
* a :class:`SeedChain` (Such et al. 2017, section 3.1): the list of RNG seeds
  whose Gaussian draws, summed onto an initialisation, produce the parameters.
  It is a few bytes whatever the network size, so it is cheap to ship and store.

and a *structured* genome: any immutable object with a class attribute
``encoding`` and ``to_json()``, whose class is registered with
:func:`register_genome` and rebuilds it with ``from_json`` (NEAT networks,
architectures). It is stored as JSON, hashed as JSON (or as the bytes of its
``content_bytes()``, where it has one) and passed to problems as is.

Identical genomes share a content id, so nothing is evaluated twice.

A strategy may also hand the engine a whole population as one :class:`GenomeBatch` (NEAT's padded
arrays): the engine then takes the ids and store forms of all its genomes at once, hands problems
that accept batches slices of it, and builds a genome object only for what it keeps (the hall of
fame).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "Genome",
    "GenomeBatch",
    "batch_blobs",
    "is_batch",
    "SeedChain",
    "SeedChainDecoder",
    "genome_id",
    "genome_to_blob",
    "blob_to_genome",
    "register_genome",
    "genome_to_tree",
    "genome_from_tree",
    "GENOME_TYPES",
    "add_genome_finder",
    "genome_encoding",
]


@dataclass(frozen=True)
class SeedChain:
    """Parameters ``init(seeds[0]) + sigma * sum_i N(0, I; seeds[i])`` for i >= 1.

    >>> chain = SeedChain((7,), 0.02).child(11)
    >>> chain.seeds
    (7, 11)
    """

    seeds: tuple[int, ...]
    sigma: float

    def child(self, seed: int) -> SeedChain:
        """The chain of a mutant of this individual, mutated with ``seed``."""
        return SeedChain(self.seeds + (int(seed),), self.sigma)

    @property
    def parent(self) -> SeedChain | None:
        return SeedChain(self.seeds[:-1], self.sigma) if len(self.seeds) > 1 else None

    def to_json(self) -> dict:
        return {"seeds": list(self.seeds), "sigma": self.sigma}


#: a genome: a parameter vector (``numpy.ndarray``), a :class:`SeedChain`, or a registered structured
#: genome (NEAT network, architecture, update rule, ...); typed loosely on purpose, as any
#: representation a search space defines is one
Genome = Any

#: structured genome classes by encoding name
GENOME_TYPES: dict[str, Any] = {}


def register_genome(cls: Any) -> Any:
    """Class decorator: a structured genome type, stored as ``cls.encoding`` + ``to_json()``."""
    if cls.encoding in GENOME_TYPES or cls.encoding in ("vector", "f8", "seed_chain"):
        raise ValueError(f"genome encoding {cls.encoding!r} is registered twice")
    GENOME_TYPES[cls.encoding] = cls
    return cls


_FINDERS: list[Callable[[str], None]] = []
_BINARY = b"\x00"  # marks a stored genome in its class's to_bytes form


def add_genome_finder(finder: Callable[[str], None]) -> None:
    """Add a function that, given an encoding no class has registered yet, imports the module that
    registers it (the engine's registry does: genome modules are imported only when needed)."""
    _FINDERS.append(finder)


def _genome_class(encoding: str) -> Any:
    if encoding not in GENOME_TYPES:
        for find in _FINDERS:
            find(encoding)
    try:
        return GENOME_TYPES[encoding]
    except KeyError:
        raise ValueError(f"unknown genome encoding {encoding!r}") from None


def _structured(genome: object) -> bool:
    return type(genome) in GENOME_TYPES.values()


def genome_id(genome: Genome) -> str:
    """A 16-hex-digit content id: equal genomes have equal ids.

    >>> genome_id(np.zeros(3)) == genome_id(np.zeros(3))
    True
    """
    if type(genome) is np.ndarray and genome.dtype == np.float64 and genome.flags.c_contiguous:
        # the common case, hashed in one call (the same digest as the general path below)
        data = b"vector" + str(genome.shape).encode() + genome.tobytes()
        return hashlib.blake2b(data, digest_size=8).hexdigest()
    if _structured(genome):
        cached = genome.__dict__.get("_content_id")  # structured genomes are immutable: hash once
        if cached is not None:
            return cached
    digest = hashlib.blake2b(digest_size=8)
    if isinstance(genome, SeedChain):
        digest.update(b"seed-chain")
        digest.update(json.dumps(genome.to_json(), sort_keys=True).encode())
    elif _structured(genome):
        digest.update(genome.encoding.encode())
        content = getattr(genome, "content_bytes", None)  # optional: a cheaper canonical form
        digest.update(content() if content else json.dumps(genome.to_json(), sort_keys=True).encode())
    else:
        array = np.ascontiguousarray(genome, dtype=np.float64)
        digest.update(b"vector")
        digest.update(str(array.shape).encode())
        digest.update(array.tobytes())
    content_id = digest.hexdigest()
    if _structured(genome):
        genome.__dict__["_content_id"] = content_id
    return content_id


@runtime_checkable
class GenomeBatch(Protocol):
    """A population held as arrays (see the module docstring). ``genome(i)`` and ``ids()`` must agree
    with :func:`genome_id`, ``row_bytes()`` with the genome class's ``to_bytes``."""

    encoding: ClassVar[str]

    def __len__(self) -> int: ...

    def ids(self) -> list[str]: ...

    def take(self, rows: np.ndarray) -> Any: ...

    def genome(self, i: int) -> Any: ...

    def row_bytes(self) -> list[bytes]: ...


def is_batch(genomes: Any) -> bool:
    """Whether a strategy handed over a :class:`GenomeBatch` rather than a list of genomes."""
    return isinstance(genomes, GenomeBatch)


def batch_blobs(batch: GenomeBatch) -> list[tuple[str, bytes]]:
    """Every genome of ``batch`` as :func:`genome_to_blob` stores it."""
    return [(batch.encoding, _BINARY + b) for b in batch.row_bytes()]


def genome_encoding(genome: Genome) -> str:
    """The name of a genome's encoding: ``vector``, ``seed_chain``, or a structured genome's own."""
    if isinstance(genome, SeedChain):
        return "seed_chain"
    return genome.encoding if _structured(genome) else "vector"


def genome_to_blob(genome: Genome) -> tuple[str, bytes]:
    """Serialise for the run store: ``(encoding, bytes)``; never pickle."""
    if isinstance(genome, SeedChain):
        return "seed_chain", json.dumps(genome.to_json()).encode()
    if _structured(genome):
        to_bytes = getattr(genome, "to_bytes", None)  # optional: a compact binary form
        if to_bytes is not None:
            return genome.encoding, _BINARY + to_bytes()
        return genome.encoding, json.dumps(genome.to_json()).encode()
    array = np.asarray(genome)
    if array.ndim == 1:  # the common case, stored compactly: raw little-endian float64
        return "f8", array.astype("<f8", copy=False).tobytes()
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(genome, dtype=np.float64), allow_pickle=False)
    return "vector", buffer.getvalue()


def blob_to_genome(encoding: str, blob: bytes) -> Genome:
    """Inverse of :func:`genome_to_blob`."""
    if encoding == "seed_chain":
        data = json.loads(blob)
        return SeedChain(tuple(int(s) for s in data["seeds"]), float(data["sigma"]))
    if encoding == "f8":
        return np.frombuffer(blob, dtype="<f8").astype(np.float64)
    if encoding == "vector":  # any shape, as .npy (also every vector of stores written before "f8")
        return np.load(io.BytesIO(blob), allow_pickle=False)
    cls = _genome_class(encoding)
    if blob[:1] == _BINARY:  # a genome's own binary form (JSON never starts with a NUL byte)
        return cls.from_bytes(blob[1:])
    return cls.from_json(json.loads(blob))


def genome_to_tree(genome: Genome) -> Any:
    """A genome as a state-tree value (see :mod:`evoforge.core.state_io`): a vector stays an array,
    others become ``{"encoding": ..., "data": ...}``."""
    if isinstance(genome, SeedChain):
        return {"encoding": "seed_chain", "data": genome.to_json()}
    if _structured(genome):
        return {"encoding": genome.encoding, "data": genome.to_json()}
    return np.asarray(genome, dtype=np.float64)


def genome_from_tree(tree: Any) -> Genome:
    """Inverse of :func:`genome_to_tree` (also reads the bare ``{"seeds", "sigma"}`` of older runs)."""
    if not isinstance(tree, dict):
        return np.asarray(tree, dtype=np.float64)
    encoding, data = tree.get("encoding", "seed_chain"), tree.get("data", tree)
    if encoding == "seed_chain":
        return SeedChain(tuple(int(s) for s in data["seeds"]), float(data["sigma"]))
    return _genome_class(encoding).from_json(data)


class SeedChainDecoder:
    """Turns seed chains into vectors, caching recent ones (a child is its parent plus one draw).

    ``init_params`` draws the initial parameters from a generator seeded with
    ``seeds[0]``; the noise of seed ``s`` is ``default_rng(s).standard_normal(dim)``.
    """

    def __init__(self, init_params: Callable[[np.random.Generator], np.ndarray], capacity: int = 512):
        self._init_params = init_params
        self._cache: OrderedDict[SeedChain, np.ndarray] = OrderedDict()
        self._capacity = capacity

    def __call__(self, genome: Genome) -> np.ndarray:
        if _structured(genome):
            return genome  # structured genomes go to the problem as they are
        if not isinstance(genome, SeedChain):
            return np.asarray(genome, dtype=np.float64)
        cached = self._cache.get(genome)
        if cached is not None:
            self._cache.move_to_end(genome)
            return cached
        parent = genome.parent
        if parent is None:
            vector = np.asarray(self._init_params(np.random.default_rng(genome.seeds[0])), np.float64)
        else:
            base = self(parent)
            noise = np.random.default_rng(genome.seeds[-1]).standard_normal(base.shape[0])
            vector = base + genome.sigma * noise
        vector.setflags(write=False)
        self._cache[genome] = vector
        if len(self._cache) > self._capacity:
            self._cache.popitem(last=False)
        return vector
