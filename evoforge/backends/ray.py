"""Run jobs on a Ray cluster: the local machine, or any cluster Ray can join.

Each chunk is a Ray task running the job's function; worker processes keep what
it caches (an evaluation's problem, with its environments and datasets) between
tasks, as process-pool workers do. What travels per task is the chunk's items
(for an evaluation: genomes, a parameter vector or a seed chain of a few integers
each, and their seeds) and the job's common arguments (the problem config and
the generation's context). The job's shared inputs (a dataset), and a common
argument larger than 64 KiB, are put in Ray's object store once and passed
as references that every worker reads from there (zero-copy for arrays on the
same node); smaller ones ride inside the task, which costs less than an
object-store read (about 1 ms less per task round trip here; BENCHMARKS.md).

Faults: a task whose worker process dies or whose node is lost raises in Ray;
the backend turns that into a re-run (see :class:`Backend`), and a candidate
lost on its own into a failed result. Ray tasks are stopped (``ray.cancel``
with ``force``) at their hard time limit, so even a candidate stuck in native
code cannot hold a worker for ever. Ray's own task retries are off: retries
are the run loop's, counted per candidate, the same on every backend.
"""

from __future__ import annotations

import logging
import os
import pickle
import time
from collections import OrderedDict
from typing import Any

from evoforge.backends.base import (
    Backend,
    BackendLostError,
    ChunkResult,
    WorkerLostError,
    WorkerSetupError,
    _Task,
    one_line,
    run_chunk,
)

__all__ = ["RayBackend"]

#: arguments larger than this (pickled) go through the object store once instead of with every task
INLINE_BYTES = 64 * 1024

_THREAD_VARS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
_LOCAL_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RuntimeError("the ray backend needs Ray: pip install 'evoforge[ray]'") from None
    return ray


#: what an HTTP/2 client sends first (the preface, then an empty SETTINGS frame): a gRPC server, as
#: Ray's GCS is, answers with a SETTINGS frame of its own (frame type 4, the fourth byte)
_HTTP2_HELLO = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])


def _check_reachable(address: str, seconds: float = 5.0) -> None:
    """Fail fast on a HOST:PORT where nobody answers, or where something other than a Ray cluster
    answers: Ray itself retries either for minutes (more than ten, with a web server on the port),
    printing a warning every few seconds. Ray's GCS is a gRPC server, so it must answer an HTTP/2
    greeting as HTTP/2 does (skipped with TLS, RAY_USE_TLS, which wraps the greeting)."""
    import socket

    if address == "auto" or address.startswith("ray://"):
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"ray address {address!r} is not auto or HOST:PORT")
    try:
        with socket.create_connection((host, int(port)), timeout=seconds) as sock:
            if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
                return
            sock.sendall(_HTTP2_HELLO)
            head = b""
            while len(head) < 9:
                chunk = sock.recv(9 - len(head))
                if not chunk:
                    break
                head += chunk
    except OSError as exc:
        raise ConnectionError(f"no Ray cluster answers at {address} ({exc.strerror or exc})") from None
    if len(head) < 9 or head[3] != 4:
        raise ConnectionError(
            f"{address} answers, but not as a Ray cluster (no gRPC server there; a Ray head listens on "
            "the port 'ray start --head' printed, 6379 by default)"
        )


def _init_on_loopback(ray: Any, **kwargs: Any) -> None:
    """Start a local Ray instance whose every server (GCS, raylet, object manager, workers) listens on
    the loopback address only. Ray has no authentication, so an instance listening on the machine's
    network address would run code for anyone who can reach it; Ray binds to loopback when its node
    address is the loopback one, which it chooses where clusters are disabled (its switch for
    Windows and macOS, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0). The switch is on only while the instance
    starts (its processes inherit it); joining a cluster later in this process is unaffected."""
    from ray._private import ray_constants

    saved_env = os.environ.get(_LOCAL_ONLY)
    saved = ray_constants.ENABLE_RAY_CLUSTER
    os.environ[_LOCAL_ONLY], ray_constants.ENABLE_RAY_CLUSTER = "0", False
    try:
        ray.init(**kwargs)
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved
        if saved_env is None:
            os.environ.pop(_LOCAL_ONLY, None)
        else:
            os.environ[_LOCAL_ONLY] = saved_env


class _Clock:
    """A tiny Ray actor (no CPU of its own) that chunks report their start to: a chunk's hard time
    limit counts from when a worker began it, not from its launch, since after a worker crash Ray
    starts a new worker process first (seconds, more on a busy machine)."""

    def __init__(self) -> None:
        self.began: dict[int, float] = {}

    def start(self, key: int) -> None:
        self.began[key] = time.time()

    def since(self, keys: list[int]) -> dict[int, float]:
        return {k: self.began[k] for k in keys if k in self.began}

    def forget(self, keys: list[int]) -> None:
        for k in keys:
            self.began.pop(k, None)


def _timed_chunk(clock: Any, key: int, *args: Any) -> ChunkResult:
    """:func:`run_chunk`, after telling ``clock`` that chunk ``key`` has begun."""
    clock.start.remote(key)
    return run_chunk(*args)


#: Ray's errors that mean the Ray instance itself is gone, not one worker: the run cannot go on
_LOST = ("LocalRayletDiedError", "RaySystemError")


class RayBackend(Backend):
    """Evaluate chunks as Ray tasks.

    With ``address`` None, a local Ray instance with ``workers`` CPUs is started (and shut down
    by :meth:`close`); with ``"auto"`` or ``"HOST:PORT"``, an existing cluster is joined and every
    CPU it has is used. If Ray is already initialised in this process, that instance is used.
    """

    name = "ray"
    can_stop = True

    def __init__(self, workers: int | None = None, address: str | None = None, chunks_per_worker: int = 1):
        super().__init__(workers, chunks_per_worker)
        self.address = address
        self._ray = _import_ray()
        self._owns = False
        self._refs: OrderedDict[tuple[int, bool], tuple[Any, Any]] = OrderedDict()
        self._stopped: set[Any] = set()
        self._task: Any = None
        self._clock: Any = None
        self._keys: dict[Any, int] = {}  # running handle -> its key on the clock
        self._next_key = 0

    @classmethod
    def create(cls, workers: int | None = None, address: str | None = None) -> RayBackend:
        return cls(workers=workers, address=address)

    def _start(self) -> None:
        ray = self._ray
        if self._task is not None:
            return
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "logging_level": logging.WARNING,
                "runtime_env": {"env_vars": dict(_THREAD_VARS)},
            }
            if self.address is None:
                # sized by workers; the driver itself needs no CPU of its own. "local": a new
                # instance even when another runs on this machine (with None, Ray joins that one)
                _init_on_loopback(ray, address="local", num_cpus=self.workers, **kwargs)
            else:
                _check_reachable(self.address)
                ray.init(address=self.address, **kwargs)
            self._owns = True
        if self.address is not None or not self._owns:
            self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._task = ray.remote(num_cpus=1, max_retries=0)(_timed_chunk)
        self._clock = ray.remote(num_cpus=0)(_Clock).remote()

    def _arg(self, obj: Any, store: bool = False) -> Any:
        """``obj`` as a task argument: itself if small (inlined in the task, cheaper than an object-store
        read), else (or with ``store``) an object-store reference, put once while ``obj`` is in use."""
        key = (id(obj), store)
        if key not in self._refs:
            if store or len(pickle.dumps(obj, protocol=5)) > INLINE_BYTES:
                arg = self._ray.put(obj)
            else:
                arg = obj
            self._refs[key] = (obj, arg)  # holding obj keeps its id from being reused while cached
            while len(self._refs) > 8:
                self._refs.popitem(last=False)
        self._refs.move_to_end(key)
        return self._refs[key][1]

    @property
    def slots(self) -> int:
        self._start()
        return self.workers

    def _launch(self, task: _Task) -> Any:
        self._start()
        fn, common, items, indices = task.payload()
        shared = None if task.job.shared is None else self._arg(task.job.shared, store=True)
        key, self._next_key = self._next_key, self._next_key + 1
        common = tuple(self._arg(arg) for arg in common)
        handle = self._task.remote(self._clock, key, fn, common, items, indices, shared)
        self._keys[handle] = key
        return handle

    def _began(self, handles: list[Any]) -> dict[Any, float]:
        keys = {self._keys[h]: h for h in handles if h in self._keys}
        try:
            since = self._ray.get(self._clock.since.remote(list(keys)), timeout=10)
        except self._ray.exceptions.RayError:  # no clock: count from the launch, as other backends do
            return super()._began(handles)
        offset = time.monotonic() - time.time()
        return {keys[k]: t + offset for k, t in since.items()}

    def _wait(self, handles: list[Any], timeout: float | None) -> list[Any]:
        ready, rest = self._ray.wait(handles, num_returns=1, timeout=timeout)
        if ready and rest:
            more, _ = self._ray.wait(rest, num_returns=len(rest), timeout=0)
            ready += more
        return ready

    def _collect(self, handle: Any, task: _Task) -> ChunkResult:
        ray = self._ray
        key = self._keys.pop(handle, None)
        if key is not None and self._clock is not None:
            self._clock.forget.remote([key])
        try:
            return ray.get(handle)
        except ray.exceptions.RayTaskError as exc:
            # the job's function contains item failures (evaluate_chunk does), so this is the work failing
            # to load in the worker (a user's module that does not import there): the run's set-up
            cause = exc.cause
            if cause is not None and cause.args and isinstance(cause.args[0], BaseException):
                cause = cause.args[0]  # Ray's system error around what unpickling the work raised
            raise WorkerSetupError(
                f"a worker process cannot load the run's work ({one_line(cause)})"
            ) from None
        except ray.exceptions.RayError as exc:
            if type(exc).__name__ in _LOST:
                where = f"the Ray cluster at {self.address}" if self.address else "its local Ray instance"
                raise BackendLostError(f"the ray backend lost {where} ({type(exc).__name__})") from None
            if handle in self._stopped:
                self._stopped.discard(handle)
                raise WorkerLostError(
                    f"stopped at its hard time limit of {task.hard_limit:g} s", stopped=True
                ) from None
            raise WorkerLostError(type(exc).__name__) from None

    def _stop(self, handle: Any) -> None:
        if handle not in self._stopped:
            self._stopped.add(handle)
            try:
                self._ray.cancel(handle, force=True)
            except self._ray.exceptions.RayError:
                pass  # the instance is gone (the run is ending): nothing left to stop

    def close(self) -> None:
        self._refs.clear()
        self._keys.clear()
        self._clock = None
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()
        self._owns = False
        self._task = None
