"""The run store: one directory per run.

```
RUN_DIR/
  config.yaml          the resolved config (every default filled in)
  meta.json            seed, package versions, creation time
  evoforge.sqlite      every individual of every generation, and per-generation statistics
  checkpoints/         the loop state after each generation (the last few are kept)
  hall_of_fame.json    the k best ever seen (human-readable copy of the checkpoint's)
  result.json          written once the run has finished: the test score and totals
```

SQLite runs in WAL mode. Writes are batched: what a generation records goes
in one transaction, committed when ``commit_interval`` seconds have passed
since the last commit (at the end of a generation, or as a chunk of costly
evaluations arrives), before every checkpoint and when the run ends. A kill -9
loses at most the evaluations of the last ``commit_interval`` seconds, which
a resumed run makes again with the same seeds. Lookups see what is not yet
committed (this session's evaluations are indexed in memory, the latest
``session_limit`` of them; older ones are looked up in the database), so the
store never evaluates a genome twice. The checkpoint is the authority on where the
loop stands; it is written atomically.

A run directory that cannot be read (a damaged database, a JSON file that is not
what evoforge wrote) raises :class:`StoreError`, one line naming the file;
opening a store only reads, so a damaged one is never overwritten.
"""

from __future__ import annotations

import io
import json
import os
import re
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np

from evoforge.core.files import atomic_write_text
from evoforge.core.genome import Genome, genome_to_blob
from evoforge.core.state_io import load_state, save_state

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, so nothing stops two processes there
    fcntl = None  # type: ignore[assignment]

__all__ = ["RunStore", "StoredEvaluation", "StoreError"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS individuals (
    generation INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    genome_id TEXT NOT NULL,
    parents TEXT NOT NULL,
    cached INTEGER NOT NULL,
    fitness REAL,
    error TEXT,
    metrics TEXT,
    wall_seconds REAL,
    encoding TEXT,
    genome BLOB,
    aux BLOB,
    created REAL NOT NULL,
    PRIMARY KEY (generation, idx)
);
CREATE INDEX IF NOT EXISTS individuals_genome ON individuals (genome_id, cached);
CREATE TABLE IF NOT EXISTS generations (
    generation INTEGER PRIMARY KEY,
    stats TEXT NOT NULL
);
"""

_CHECKPOINT = re.compile(r"gen_(\d{6})\.npz$")
_TABLES = {"individuals", "generations"}
#: how the error of a candidate whose worker was lost begins (see evoforge.backends.base)
WORKER_LOST = "worker lost"
#: the file a run's one writing process (run or resume) holds an exclusive lock on while it runs; the
#: operating system drops the lock when that process ends, however it ends
LOCK_FILE = ".evoforge.lock"
#: what an atomic write leaves behind when it is killed between writing and renaming
_TEMPORARY = re.compile(r"^\..+\.tmp\d+$")


class StoreError(ValueError):
    """A run directory whose files cannot be read, or disagree with each other: one line naming the
    file."""


class StoredEvaluation:
    """What the store knows about one evaluated genome; ``generation`` and ``idx`` say where it was
    evaluated, ``seq`` the order in which evaluations were recorded."""

    __slots__ = ("fitness", "error", "metrics", "aux", "generation", "idx", "seq")

    def __init__(
        self,
        fitness: float,
        error: str | None,
        metrics: dict,
        aux: dict[str, np.ndarray],
        generation: int = -1,
        idx: int = -1,
        seq: int = -1,
    ):
        self.fitness, self.error, self.metrics, self.aux = fitness, error, metrics, aux
        self.generation, self.idx, self.seq = generation, idx, seq


def _aux_to_blob(aux: dict[str, np.ndarray]) -> bytes | None:
    if not aux:
        return None
    buffer = io.BytesIO()
    np.savez(buffer, **{k: np.asarray(v) for k, v in aux.items()})  # type: ignore[arg-type]  # numpy's stub, as in state_io
    return buffer.getvalue()


def _blob_to_aux(blob: bytes | None) -> dict[str, np.ndarray]:
    if not blob:
        return {}
    with np.load(io.BytesIO(blob), allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


class RunStore:
    """Reads and writes one run directory."""

    #: seconds between commits of batched writes (see the module docstring)
    commit_interval: float = 1.0
    #: this session's evaluations indexed in memory (about 400 bytes each) before they are left to
    #: the database and looked up there
    session_limit: int = 100_000

    def __init__(self, path: Path):
        self.path = Path(path)
        self.checkpoint_dir = self.path / "checkpoints"
        self._db: sqlite3.Connection | None = None
        self._before: int | None = None  # last row recorded before this session
        self._pending: list[tuple[str, list[tuple]]] = []  # (statement, rows) not yet committed
        self._committed = time.monotonic()
        self._session: dict[str, StoredEvaluation] = {}  # this session's evaluations, by genome id
        self._sequence = 0
        self.read_only = False  # opened to watch a run: the database is opened read-only
        self._lock: io.TextIOWrapper | None = None  # held while this process runs the run

    # -- lifecycle ------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: Path, config_yaml: str, meta: dict[str, Any]) -> RunStore:
        """A new run directory at ``path``. ``FileExistsError`` if it holds a run; on any other failure
        whatever this call made is removed again (an unwritable place: :class:`StoreError`)."""
        path = Path(path)
        if (path / "config.yaml").exists():
            raise FileExistsError(f"{path} already holds a run; use 'evoforge resume {path}'")
        made = [p for p in (path, *path.parents) if not p.exists()]
        store = cls(path)
        try:
            path.mkdir(parents=True, exist_ok=True)
            store.checkpoint_dir.mkdir(exist_ok=True)
            atomic_write_text(path / "meta.json", json.dumps(meta, indent=2) + "\n")
            store._connect().executescript(_SCHEMA)
            store.db.commit()
            store._before = 0
            # config.yaml is written last: its presence marks a complete run directory.
            atomic_write_text(path / "config.yaml", config_yaml)
        except BaseException as exc:
            store.close()
            made_here = [path / name for name in ("config.yaml", "meta.json")]
            made_here += [path / f"evoforge.sqlite{end}" for end in ("", "-wal", "-shm")]
            for leftover in (*made_here, store.checkpoint_dir, *made):  # innermost folders first
                try:
                    leftover.rmdir() if leftover.is_dir() else leftover.unlink()
                except OSError:
                    pass  # not there, or not ours to remove (a folder that was not empty)
            if isinstance(exc, OSError):
                raise StoreError(f"{path}: cannot create the run directory ({exc.strerror or exc})") from None
            raise
        return store

    @classmethod
    def open(cls, path: Path, check: bool = True, read_only: bool = False) -> RunStore:
        """The run directory at ``path``; ``FileNotFoundError`` if it is none, :class:`StoreError` if its
        database is missing or damaged (``check``: a quick integrity check of every page). Only reads.
        ``read_only``: SQLite opens the database read-only (a watcher of a run another process writes:
        it can neither write nor change the journal mode; WAL lets it read while the run commits)."""
        path = Path(path)
        if not (path / "config.yaml").is_file():
            raise FileNotFoundError(f"{path} is not an evoforge run directory (no config.yaml)")
        store = cls(path)
        store.read_only = read_only
        database = path / "evoforge.sqlite"
        if not database.is_file():
            raise StoreError(f"{database}: missing (the run's history is gone)")
        with open(database, "rb") as handle:  # before SQLite, which would turn an empty file into a store
            header = handle.read(16)
        if not header:
            raise StoreError(f"{database}: holds no run history (an empty file)")
        if header != b"SQLite format 3\x00":
            raise StoreError(f"{database}: not a readable run store (not an SQLite database)")
        try:
            db = store._connect()
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not _TABLES <= tables:
                raise StoreError(
                    f"{database}: holds no run history (tables {', '.join(sorted(_TABLES))} missing)"
                )
            store._before = int(db.execute("SELECT COALESCE(MAX(rowid), 0) FROM individuals").fetchone()[0])
            if check:
                verdict = db.execute("PRAGMA quick_check").fetchone()[0]
                if verdict != "ok":
                    raise StoreError(f"{database}: damaged ({verdict})")
        except sqlite3.DatabaseError as exc:
            store.close()
            raise StoreError(f"{database}: not a readable run store ({exc})") from None
        except StoreError:
            store.close()
            raise
        return store

    def claim(self) -> None:
        """Hold the run directory for this process's writes (a run or a resume) until :meth:`close`:
        :class:`StoreError` naming the holder if another process runs it now. Nothing to clean up
        after a kill: the lock ends with the process that held it."""
        if fcntl is None or self._lock is not None:
            return
        handle = open(self.path / LOCK_FILE, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if not isinstance(exc, BlockingIOError):  # a file system without locks: run unguarded
                handle.close()
                return
            handle.seek(0)
            holder = handle.read().strip() or "its process unknown"
            handle.close()
            raise StoreError(
                f"{self.path} is being run by another process ({holder}): wait for it to end, or stop it, "
                "before resuming"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        self._lock = handle

    def in_use(self) -> bool:
        """Whether a process runs this run now (holds the lock :meth:`claim` takes)."""
        if fcntl is None:
            return False
        try:
            handle = open(self.path / LOCK_FILE)
        except OSError:  # never run since locks came in, or not readable: nobody can be holding it
            return False
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            except OSError:  # a file system without locks: nobody can be holding one
                return False
            return False  # closing the file lets the shared lock go

    def _connect(self) -> sqlite3.Connection:
        if self._db is None and self.read_only:
            uri = (self.path / "evoforge.sqlite").resolve().as_uri() + "?mode=ro"
            self._db = sqlite3.connect(uri, uri=True, timeout=30)
        if self._db is None:
            self._db = sqlite3.connect(self.path / "evoforge.sqlite", timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        return self._db

    @property
    def db(self) -> sqlite3.Connection:
        """The database, with every batched write committed (for readers)."""
        self.flush()
        return self._connect()

    def flush(self) -> None:
        """Commit every batched write in one transaction."""
        if self._pending:
            db = self._connect()
            with db:
                for statement, rows in self._pending:
                    db.executemany(statement, rows)
            self._pending.clear()
        self._committed = time.monotonic()

    def flush_if_due(self) -> None:
        """Commit the batched writes if ``commit_interval`` seconds have passed since the last commit."""
        if self._pending and time.monotonic() - self._committed >= self.commit_interval:
            self.flush()

    def remove_temporary_files(self) -> None:
        """Delete what atomic writes killed half-way left behind (they never replaced a real file)."""
        for folder in (self.path, self.checkpoint_dir):
            if folder.is_dir():
                for p in folder.iterdir():
                    if _TEMPORARY.match(p.name):
                        p.unlink(missing_ok=True)

    def close(self) -> None:
        """Commit what is batched and close the database."""
        if self._pending and self._db is not None:
            self.flush()
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._lock is not None:
            self._lock.close()  # lets the lock go
            self._lock = None

    def read_config_yaml(self) -> str:
        return (self.path / "config.yaml").read_text()

    # -- individuals ----------------------------------------------------------------------------
    def lookup(self, genome_ids: list[str]) -> dict[str, StoredEvaluation]:
        """Evaluations already stored for any of ``genome_ids`` (the latest of each). A candidate whose
        worker was lost in an earlier session is not among them: that loss may have been the
        infrastructure's, not the candidate's, so a resumed run evaluates it again."""
        if self._before is None or len(self._session) > self.session_limit:
            # past the limit, this session's evaluations so far are committed and looked up in the
            # database as an earlier session's are: the index in memory stays bounded (a NEAT run of
            # population 10,000 records 10 million individuals in 1,000 generations)
            self.flush()
            self._before = int(
                self._connect().execute("SELECT COALESCE(MAX(rowid), 0) FROM individuals").fetchone()[0]
            )
            self._session.clear()
            self._sequence = 0
        session = self._session
        found = {gid: session[gid] for gid in genome_ids if gid in session}
        if not self._before:  # a new run: everything it has evaluated is in memory
            return found
        unique = [gid for gid in dict.fromkeys(genome_ids) if gid not in found]
        db = self._connect()
        for start in range(0, len(unique), 500):
            part = unique[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = db.execute(
                f"SELECT genome_id, fitness, error, metrics, aux, generation, idx, rowid FROM individuals "
                f"WHERE cached = 0 AND genome_id IN ({marks}) AND rowid <= ? "
                f"AND NOT COALESCE(error, '') LIKE '{WORKER_LOST}%' ORDER BY rowid",
                [*part, self._before],
            )
            for gid, fitness, error, metrics, aux, generation, idx, seq in rows:
                found[gid] = StoredEvaluation(
                    float("nan") if fitness is None else fitness,
                    error,
                    json.loads(metrics) if metrics else {},
                    _blob_to_aux(aux),
                    generation,
                    idx,
                    seq,
                )
        return found

    def record_evaluations(self, generation: int, rows: list[dict[str, Any]]) -> None:
        """Record evaluated individuals (batched; see the module docstring)."""
        now = time.time()
        values = []
        for r in rows:
            genome = r["genome"]  # or its (encoding, blob) already: a batch's genomes come so
            encoding, blob = genome if type(genome) is tuple else genome_to_blob(genome)
            fitness = r["fitness"]
            finite = fitness == fitness
            metrics = r["metrics"]
            values.append(
                (
                    generation,
                    r["idx"],
                    r["genome_id"],
                    _parents_json(r["parents"]),
                    0,
                    fitness if finite else None,
                    r["error"],
                    _metrics_json(metrics) if metrics else None,
                    r["wall_seconds"],
                    encoding,
                    blob,
                    _aux_to_blob(r["aux"]),
                    now,
                )
            )
            self._sequence += 1
            self._session[r["genome_id"]] = StoredEvaluation(
                fitness if finite else float("nan"),
                r["error"],
                metrics,
                {},  # aux goes to the context with the fresh result; a later lookup does not need it
                generation,
                r["idx"],
                (self._before or 0) + self._sequence,
            )
        self._pending.append(
            ("INSERT OR REPLACE INTO individuals VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", values)
        )

    def record_cached(self, generation: int, rows: list[tuple[int, str, tuple[str, ...], float]]) -> None:
        """Record population members whose fitness came from an earlier evaluation (batched)."""
        now = time.time()
        self._pending.append(
            (
                "INSERT OR REPLACE INTO individuals "
                "(generation, idx, genome_id, parents, cached, fitness, created) VALUES (?,?,?,?,1,?,?)",
                [(generation, i, g, _parents_json(p), None if f != f else f, now) for i, g, p, f in rows],
            )
        )

    def genome_of(self, genome_id: str) -> Genome | None:
        from evoforge.core.genome import blob_to_genome

        row = self.db.execute(
            "SELECT encoding, genome FROM individuals WHERE genome_id = ? AND cached = 0 LIMIT 1",
            (genome_id,),
        ).fetchone()
        return None if row is None else blob_to_genome(row[0], row[1])

    def evaluations(self) -> list[tuple[str, float, dict[str, Any]]]:
        """Every evaluated individual (not cache hits) as ``(genome_id, fitness, metrics)``, in the
        order they were committed; a failed one has fitness NaN."""
        rows = self.db.execute(
            "SELECT genome_id, fitness, metrics FROM individuals WHERE cached = 0 ORDER BY rowid"
        )
        return [
            (gid, float("nan") if f is None else float(f), json.loads(m) if m else {})
            for gid, f, m in rows.fetchall()
        ]

    def behaviours(self, since: int = 0, through: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(fitness (n,), descriptors (n, 2))`` of every evaluated individual (not cache hits) that
        recorded two behaviour descriptors (metrics ``descriptor_0`` and ``descriptor_1``), in the
        order committed, from generation ``since`` through ``through`` (None: the last); a failed one
        has fitness NaN."""
        # Parsed here, not with SQLite's json_extract: a metrics text may hold NaN or Infinity (what
        # json.dumps writes for them), which SQLite rejects as malformed JSON.
        rows = self.db.execute(
            "SELECT fitness, metrics FROM individuals WHERE cached = 0 AND metrics LIKE '%\"descriptor_1\"%' "
            "AND generation >= ? AND (? IS NULL OR generation <= ?) ORDER BY rowid",
            (since, through, through),
        ).fetchall()
        picked = []
        for fitness, text in rows:
            metrics = json.loads(text)
            if "descriptor_0" in metrics and "descriptor_1" in metrics:
                picked.append((fitness, metrics["descriptor_0"], metrics["descriptor_1"]))
        table = np.array(picked, dtype=np.float64).reshape(-1, 3)  # None (a failed one's fitness): NaN
        return table[:, 0], table[:, 1:]

    def first_errors(self, n: int = 5) -> list[dict[str, Any]]:
        """The ``n`` distinct errors of failed evaluations that came first, each with how many
        evaluations failed with it."""
        rows = self.db.execute(
            "SELECT error, COUNT(*) FROM individuals WHERE cached = 0 AND error IS NOT NULL "
            "GROUP BY error ORDER BY MIN(rowid) LIMIT ?",
            (n,),
        )
        return [{"error": e, "count": int(c)} for e, c in rows.fetchall()]

    def generation_bests(self, sign: float = 1.0) -> list[tuple[int, str, float]]:
        """The best individual evaluated in each generation as ``(generation, genome_id, fitness)``,
        in generation order: the highest ``sign * fitness`` (the first evaluated on ties); failures and
        cache hits never count."""
        rows = self.db.execute(
            "SELECT generation, genome_id, fitness FROM individuals "
            "WHERE cached = 0 AND fitness IS NOT NULL ORDER BY generation, rowid"
        )
        best: dict[int, tuple[int, str, float]] = {}
        for generation, gid, fitness in rows.fetchall():
            held = best.get(generation)
            if held is None or sign * fitness > sign * held[2]:
                best[generation] = (int(generation), gid, float(fitness))
        return [best[g] for g in sorted(best)]

    def generation_best_metrics(self, since: int = 0, sign: float = 1.0) -> dict[int, dict[str, Any]]:
        """The metrics of the best individual evaluated in each generation from ``since`` on, by
        generation: the highest ``sign * fitness`` (the first evaluated on ties), failures and cache hits
        never counting, as in :meth:`generation_bests`."""
        rows = self.db.execute(
            "SELECT generation, fitness, metrics FROM individuals "
            "WHERE cached = 0 AND fitness IS NOT NULL AND generation >= ? ORDER BY generation, rowid",
            (since,),
        )
        best: dict[int, tuple[float, str | None]] = {}
        for generation, fitness, metrics in rows.fetchall():
            held = best.get(generation)
            if held is None or sign * fitness > sign * held[0]:
                best[generation] = (fitness, metrics)
        return {int(g): json.loads(m) if m else {} for g, (_, m) in sorted(best.items())}

    # -- generations and checkpoints ------------------------------------------------------------
    def record_generation(self, generation: int, stats: dict[str, Any]) -> None:
        """Record a generation's statistics (batched with its individuals)."""
        self._pending.append(
            ("INSERT OR REPLACE INTO generations VALUES (?, ?)", [(generation, json.dumps(stats))])
        )

    def generation_stats(self) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT stats FROM generations ORDER BY generation")
        return [json.loads(r[0]) for r in rows]

    def counts(self) -> dict[str, int]:
        evaluated, failed = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(fitness IS NULL), 0) FROM individuals WHERE cached = 0"
        ).fetchone()
        return {"evaluations": int(evaluated), "failed": int(failed)}

    def save_checkpoint(self, generation: int, tree: dict[str, Any], keep: int) -> None:
        """Write the loop state reached after ``generation`` generations (after committing everything
        it accounts for); prune old checkpoints."""
        self.flush()
        self.checkpoint_dir.mkdir(exist_ok=True)
        save_state(self.checkpoint_dir / f"gen_{generation:06d}.npz", tree)
        for old in self._checkpoints()[:-keep]:
            old.unlink(missing_ok=True)

    def checkpoint_generations(self) -> list[int]:
        """The generation counts of the checkpoints kept (a checkpoint of n covers generations
        0..n-1), oldest first."""
        return [int(_CHECKPOINT.match(p.name).group(1)) for p in self._checkpoints()]  # type: ignore[union-attr]

    def _checkpoints(self) -> list[Path]:
        if not self.checkpoint_dir.is_dir():
            return []
        return sorted(p for p in self.checkpoint_dir.iterdir() if _CHECKPOINT.match(p.name))

    def load_checkpoint(self, damaged: list[str] | None = None) -> dict[str, Any] | None:
        """The most recent readable checkpoint, or None for a run that has not finished a generation
        (or none of whose checkpoints can be read). Each checkpoint passed over as unreadable is
        appended to ``damaged`` as one line."""
        for path in reversed(self._checkpoints()):
            try:
                tree = load_state(path)
                if not isinstance(tree, dict) or "generation" not in tree:
                    raise ValueError("not a loop state")
                return tree
            except Exception as exc:  # noqa: BLE001  (atomic writes cannot tear a file, but disks and people can)
                if damaged is not None:
                    damaged.append(f"{path}: unreadable ({type(exc).__name__}: {exc})".splitlines()[0])
        return None

    def generation_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM generations").fetchone()[0])

    # -- results --------------------------------------------------------------------------------
    def write_json(self, name: str, data: Any) -> None:
        atomic_write_text(self.path / name, json.dumps(data, indent=2, default=_json_default) + "\n")

    def read_json(self, name: str, required: tuple[str, ...] = ()) -> dict[str, Any] | None:
        """The JSON object in ``name`` (None if there is no such file); :class:`StoreError` if it is not
        a JSON object holding every key of ``required``."""
        path = self.path / name
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise StoreError(f"{path}: not readable JSON ({exc})".splitlines()[0]) from None
        if not isinstance(data, dict):
            raise StoreError(f"{path}: expected a JSON object, found {type(data).__name__}")
        missing = [k for k in required if k not in data]
        if missing:
            raise StoreError(f"{path}: has no {missing[0]!r}")
        return data


def _parents_json(parents: tuple[str, ...] | list[str]) -> str:
    """Content ids (hex digits) as a JSON list, without the JSON encoder's cost per row."""
    return "[" + ",".join(f'"{p}"' for p in parents) + "]"


_KEYS: dict[str, str] = {}  # metric names as JSON strings, encoded once


def _metrics_json(metrics: dict[str, Any]) -> str:
    """``json.dumps(metrics)``, the same text, built directly when every value is a finite float (the
    common case, a few times cheaper than the encoder: it runs once per individual)."""
    parts = []
    for key, value in metrics.items():
        if type(key) is not str or type(value) is not float or value - value != 0.0:  # NaN, inf: the encoder
            return json.dumps(metrics)
        name = _KEYS.get(key)
        if name is None:
            name = _KEYS[key] = json.dumps(key)
        parts.append(f"{name}: {value!r}")
    return "{" + ", ".join(parts) + "}"


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
