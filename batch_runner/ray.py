"""The Ray engine: actors that hold the model, fed one file at a time from the driver.

Each actor builds its worker (loads the separator model, builds the chain) once,
then processes many files. The driver hands every actor at most ``queue_depth``
files at a time (one running, the rest queued so it never waits on the driver)
and tops it up as files finish, so fast workers take more and only a bounded
number of files is ever in flight. Files are read and written by the actors, on
storage every node mounts (their paths are made absolute before they are sent);
every write is atomic, as in local runs.

Faults: when an actor dies (killed, out of memory, its node lost) the file it was
running is retried on another worker, up to ``max_retries`` times, and a new actor
takes the dead one's place; the files queued behind it go back to the queue
unharmed. A file that fails because of its content is an ordinary failed result:
reported once, never retried.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any

from batch_runner.base import EngineError, Worker, WorkerFactory, attempt, describe
from batch_runner.policy import check_count
from batch_runner.results import FAILED, FileResult, Progress, ProgressFn, Task

INSTALL_HINT = "pip install 'stemsplit[cluster]'"
POLL_SECONDS = 1.0


def import_ray() -> ModuleType:
    """The ``ray`` module.

    Raises:
        EngineError: Ray is not installed (the message names the extra to install).
    """
    try:
        import ray
    except ImportError as exc:
        raise EngineError(f"--engine ray needs Ray, which is not installed; install the cluster extra: {INSTALL_HINT}") from exc
    return ray


class RayEngine:
    """Run tasks on Ray actors.

    Args:
        address: the cluster to join (``auto``, ``ray://host:10001``, ``host:6379``); ``None`` starts a local
            one, unless this process is already connected to a cluster, which is then used as it is.
        workers: actors to start (default: as many as the cluster's CPUs, or GPUs with ``gpus_per_worker``, allow).
        gpus_per_worker: GPUs each actor reserves (fractions share a GPU); the model and k-means then run on CUDA.
        cpus_per_worker: CPUs each actor reserves (also its torch threads).
        max_retries: how often a file is retried after the worker running it died.
        queue_depth: files handed to an actor at once (1 running + the rest waiting).
        start_timeout: seconds to wait for the first actor to start before giving up (the cluster has no room).
        init_options: extra keyword arguments for ``ray.init`` when this engine connects or starts a cluster.
    Raises:
        EngineError: Ray is not installed, or an option is out of range.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        workers: int | None = None,
        gpus_per_worker: float = 0.0,
        cpus_per_worker: float = 1.0,
        max_retries: int = 2,
        queue_depth: int = 2,
        start_timeout: float = 300.0,
        init_options: dict[str, Any] | None = None,
    ) -> None:
        check_count("workers", workers, optional=True)
        check_count("queue_depth", queue_depth)
        check_count("max_retries", max_retries, minimum=0)
        for label, value in (("gpus_per_worker", gpus_per_worker), ("cpus_per_worker", cpus_per_worker)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise EngineError(f"{label} must be a number of at least 0, got {value!r}")
        if not gpus_per_worker and not cpus_per_worker:
            raise EngineError("a Ray worker must reserve some CPUs or GPUs; cpus_per_worker and gpus_per_worker are both 0")
        self.address, self.requested = address, workers
        self.gpus_per_worker, self.cpus_per_worker = float(gpus_per_worker), float(cpus_per_worker)
        self.max_retries, self.queue_depth, self.start_timeout = max_retries, queue_depth, start_timeout
        self.init_options = dict(init_options or {})
        self.workers = workers or 0
        import_ray()  # fail now, before models load and files are planned

    def __repr__(self) -> str:
        return f"RayEngine(address={self.address!r}, workers={self.requested}, gpus_per_worker={self.gpus_per_worker})"

    def run(self, tasks: Sequence[Task], factory: WorkerFactory, notify: ProgressFn) -> dict[int, FileResult]:
        """One result per task, keyed by index.

        Raises:
            EngineError: Ray missing, the cluster unreachable or too small, or a worker that cannot start.
        """
        ray = import_ray()
        started_here = self._connect(ray)
        try:
            self.workers = self._count(ray, len(tasks))
            return _Dispatcher(ray, self, factory, notify).run(tasks)
        finally:
            if started_here:
                ray.shutdown()

    def _connect(self, ray: ModuleType) -> bool:
        """Join the cluster (or start a local one); ``True`` when this call started the connection."""
        if ray.is_initialized():
            return False
        client = str(self.address).startswith("ray://")  # Ray Client takes fewer options; the cluster's own settings apply
        quiet = {} if client else {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
        options = {**quiet, **self.init_options}
        try:
            ray.init(address=self.address, **options)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the Ray cluster at {self.address}" if self.address else "a local Ray cluster"
            raise EngineError(f"cannot connect to {where}: {str(exc).splitlines()[0]}") from exc
        return True

    def _count(self, ray: ModuleType, n_tasks: int) -> int:
        """Actors to start: as asked, else what the cluster's resources allow; never more than the tasks."""
        if self.requested:
            return min(self.requested, max(n_tasks, 1))
        resources = ray.cluster_resources()
        fits = [
            int(resources.get(kind, 0) // need) for kind, need in (("CPU", self.cpus_per_worker), ("GPU", self.gpus_per_worker)) if need
        ]
        if min(fits) < 1:
            raise EngineError(
                f"the Ray cluster has {resources.get('CPU', 0):g} CPUs and {resources.get('GPU', 0):g} GPUs, "
                f"not enough for one worker ({self.cpus_per_worker:g} CPUs, {self.gpus_per_worker:g} GPUs each)"
            )
        return min(*fits, max(n_tasks, 1))


# -- the actor ------------------------------------------------------------------------------


class BatchActor:
    """What runs inside each Ray actor: one worker, built once, then one task per call.

    A worker that cannot be built is not an exception here: :meth:`ready` reports it,
    so the driver can stop the run with the reason rather than retry a broken setup.
    """

    def __init__(self, factory: WorkerFactory) -> None:
        self.name = _actor_name()
        self.worker: Worker | None = None
        self.error: str | None = None
        try:
            self.worker = factory()
        except Exception as exc:
            self.error = describe(exc)

    def ready(self) -> tuple[str, str | None]:
        """``(worker name, why it could not start or None)``."""
        return self.name, self.error

    def process(self, task: Task) -> FileResult:
        if self.worker is None:
            raise EngineError(f"worker {self.name} could not start: {self.error}")
        return attempt(self.worker, task, lambda seconds: None, self.name)


def _actor_name() -> str:
    """``ray:<node ip>:<pid>`` and the GPUs the actor holds, for the report."""
    import ray

    gpus = ",".join(str(g) for g in ray.get_gpu_ids())
    return f"ray:{ray.util.get_node_ip_address()}:{os.getpid()}" + (f":gpu{gpus}" if gpus else "")


_REMOTE: dict[str, Any] = {}


def _remote_actor(ray: ModuleType) -> Any:
    """The Ray actor class of :class:`BatchActor`, made once per process."""
    if "actor" not in _REMOTE:
        _REMOTE["actor"] = ray.remote(BatchActor)
    return _REMOTE["actor"]


# -- the driver -----------------------------------------------------------------------------


@dataclass
class _Slot:
    """One actor as the driver sees it: its handle, its name once started, the calls it holds, oldest first."""

    actor: Any
    name: str = "ray:starting"
    ready: bool = False
    calls: collections.deque[Any] = field(default_factory=collections.deque)


class _Dispatcher:
    """Hands tasks to actors as they free up, retries the files of dead actors, collects the results."""

    def __init__(self, ray: ModuleType, engine: RayEngine, factory: WorkerFactory, notify: ProgressFn) -> None:
        self.ray, self.engine, self.notify = ray, engine, notify
        try:
            self.factory_ref = ray.put(factory)  # shipped once, not once per actor
        except Exception as exc:  # cloudpickle raises several types
            raise EngineError(f"the worker setup cannot be sent to Ray workers (it must pickle): {describe(exc)}") from exc
        self.slots: dict[int, _Slot] = {}
        self.starting: dict[Any, int] = {}  # ready() call -> slot
        self.running: dict[Any, tuple[int, Task]] = {}  # process() call -> (slot, task)
        self.pending: collections.deque[Task] = collections.deque()
        self.results: dict[int, FileResult] = {}
        self.starts = self.start_deaths = 0
        self.last_start = time.monotonic()

    def run(self, tasks: Sequence[Task]) -> dict[int, FileResult]:
        self.pending.extend(tasks)
        # every task may lose its worker max_retries times; beyond that, no more replacements
        self.max_starts = self.engine.workers + len(tasks) * self.engine.max_retries
        try:
            for _ in range(self.engine.workers):
                self._start()
            while self.pending or self.running:
                self._step()
        finally:
            for slot in self.slots.values():
                with contextlib.suppress(Exception):  # never hide why the run stopped
                    self.ray.kill(slot.actor, no_restart=True)
        return self.results

    def _start(self) -> None:
        options = {"num_cpus": self.engine.cpus_per_worker, "num_gpus": self.engine.gpus_per_worker, "max_restarts": 0}
        actor = _remote_actor(self.ray).options(**options).remote(self.factory_ref)
        self.slots[self.starts] = _Slot(actor)
        self.starting[actor.ready.remote()] = self.starts
        self.starts += 1
        self.last_start = time.monotonic()

    def _step(self) -> None:
        if not self.slots:
            self._fail_pending("no Ray worker left: every worker died and the restart budget is spent")
            return
        done, _ = self.ray.wait([*self.running, *self.starting], num_returns=1, timeout=POLL_SECONDS)
        for call in done:
            if call in self.starting:
                self._started(call)
            elif call in self.running:
                self._finished(call)
        if not done:
            self._check_start_timeout()

    def _started(self, call: Any) -> None:
        index = self.starting.pop(call)
        slot = self.slots[index]
        try:
            slot.name, error = self.ray.get(call)
        except self.ray.exceptions.RayError as exc:  # died while starting (killed, out of memory)
            self.start_deaths += 1
            if self.start_deaths > self.engine.workers + self.engine.max_retries:
                raise EngineError(f"Ray workers keep dying while they start; last: {_death_reason(exc)}") from exc
            self._lost(index, exc)
            return
        if error is not None:
            raise EngineError(f"worker {slot.name} could not start: {error}")
        slot.ready = True
        self._fill(index)

    def _fill(self, index: int) -> None:
        """Top the actor up to ``queue_depth`` files."""
        slot = self.slots[index]
        while len(slot.calls) < self.engine.queue_depth and self.pending:
            task = self.pending.popleft()
            call = slot.actor.process.remote(_absolute(task))
            slot.calls.append(call)
            self.running[call] = (index, task)

    def _finished(self, call: Any) -> None:
        index, task = self.running[call]
        try:
            result = self.ray.get(call)
        except self.ray.exceptions.RayTaskError as exc:  # the call itself raised: a bug, not a dead worker; not retried
            result = FileResult(task.input, FAILED, error=_first_line(exc.cause or exc), attempts=task.attempts + 1)
        except self.ray.exceptions.RayError as exc:  # the actor died (killed, out of memory, node lost)
            self._lost(index, exc)
            return
        del self.running[call]
        self.slots[index].calls.remove(call)
        self._settle(task, result)
        self._fill(index)

    def _lost(self, index: int, exc: Exception) -> None:
        """An actor died: retry the file it was running, requeue the ones waiting behind it, start a replacement."""
        slot = self.slots.pop(index)
        self.ray.kill(slot.actor, no_restart=True)
        tasks = [self.running.pop(call)[1] for call in slot.calls if call in self.running]
        if tasks:  # an actor runs its calls in order: the oldest was running, the others never started
            self.pending.extendleft(reversed(tasks[1:]))
            self._retry(tasks[0], slot.name, _death_reason(exc))
        if self.pending and self.starts < self.max_starts:
            self._start()
        for other, alive in self.slots.items():  # idle workers take the requeued files at once
            if alive.ready:
                self._fill(other)

    def _retry(self, task: Task, worker: str, reason: str) -> None:
        """Back to the front of the queue with one more attempt counted, or failed when the bound is reached."""
        tried = replace(task, attempts=task.attempts + 1)
        if tried.attempts > self.engine.max_retries:
            error = f"{task.input}: its worker died {tried.attempts} times while processing it; last: {reason}"
            self._settle(task, FileResult(task.input, FAILED, error=error, worker=worker, attempts=tried.attempts))
        else:
            self.pending.appendleft(tried)

    def _settle(self, task: Task, result: FileResult) -> None:
        self.results[task.index] = result
        self.notify(Progress(result.input, 0.0, result))

    def _fail_pending(self, reason: str) -> None:
        while self.pending:
            task = self.pending.popleft()
            self._settle(task, FileResult(task.input, FAILED, error=f"{task.input}: {reason}", attempts=task.attempts))

    def _check_start_timeout(self) -> None:
        if any(slot.ready for slot in self.slots.values()) or self.running:
            return
        if time.monotonic() - self.last_start > self.engine.start_timeout:
            need = f"{self.engine.cpus_per_worker:g} CPUs and {self.engine.gpus_per_worker:g} GPUs"
            raise EngineError(
                f"no Ray worker started within {self.engine.start_timeout:g} s: the cluster has no room for a worker "
                f"needing {need} (cluster: {self.ray.cluster_resources()})"
            )


def _absolute(task: Task) -> Task:
    """The task with absolute paths: an actor on another node has another working directory."""
    return replace(task, input=task.input.absolute(), targets=tuple(t.absolute() for t in task.targets))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def _death_reason(exc: Exception) -> str:
    """One line on why an actor died, from Ray's several-line message."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip() and not line.startswith("\t")]
    detail = [line for line in lines if not line.startswith("The actor died unexpectedly")]
    return f"{type(exc).__name__}: {(detail or lines or [''])[0]}"[:300]
