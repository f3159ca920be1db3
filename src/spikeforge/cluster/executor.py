"""Run (job, shard) tasks in this process or on Ray, with the cache in front and one progress bar.

A *job* is one compiled network run one way (:class:`~spikeforge.cluster.shard.RunSettings`)
over the whole data set; it becomes one task per shard. On Ray:

* the inputs are ``ray.put`` once and every task gets the same object (read in place
  from the object store, not copied into each task's arguments);
* each distinct network is ``ray.put`` once as ``.sfnet`` bytes, passed nested so
  that Ray does not fetch it eagerly; a worker process loads each network once
  (:data:`_LOADED`) and reuses it for every later shard it is given;
* a worker that dies is retried by Ray (``max_retries``) and its shard re-run from
  scratch; an error in spikeforge itself is not retried (it would fail again);
* each finished shard is written to the cache by the driver as it arrives, so an
  interrupted run (Ctrl-C, a crash) keeps everything it finished.

Without Ray the same tasks run one after another here, through the same cache.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spikeforge.cluster.cache import (
    ShardCache,
    job_digest,
    network_digest,
    sfnet_bytes,
    shard_key,
)
from spikeforge.cluster.shard import Pooled, RunSettings, Shard, ShardResult, pool, run_shard, split
from spikeforge.cluster.spec import ClusterSpec
from spikeforge.compile.compiled import CompiledNet, load
from spikeforge.errors import SpikeforgeError
from spikeforge.progress import progress_bar

#: Times Ray re-runs a shard whose worker died (not one that raised an error).
MAX_RETRIES = 3
#: Networks a worker process keeps loaded (a sweep visits a few).
_KEEP_LOADED = 8
#: Default samples per shard: a Lava sample takes about a second, an emulator one far less.
DEFAULT_SHARD_SIZE = {"lava": 8}
DEFAULT_SHARD_SIZE_OTHER = 256

_LOADED: dict[str, CompiledNet] = {}


@dataclass(frozen=True)
class Job:
    """A network (by digest of its ``.sfnet`` bytes) run with ``settings`` over every sample."""

    network: str
    settings: RunSettings


@dataclass(frozen=True)
class Task:
    key: str
    job: int
    shard: Shard


@dataclass
class JobsReport:
    """Each job's pooled result, and which shard keys were computed now or found cached."""

    pooled: list[Pooled]
    computed: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)


def default_shard_size(settings: Sequence[RunSettings]) -> int:
    return min(
        (DEFAULT_SHARD_SIZE.get(s.backend, DEFAULT_SHARD_SIZE_OTHER) for s in settings),
        default=DEFAULT_SHARD_SIZE_OTHER,
    )


def run_jobs(
    networks: dict[str, bytes],
    jobs: Sequence[Job],
    inputs: np.ndarray,
    spec: ClusterSpec | None = None,
    cache_dir: Path | None = None,
    shard_size: int | None = None,
    show_progress: bool = False,
) -> JobsReport:
    """Every job over every sample of ``inputs``, each shard computed once (module docstring)."""
    size = shard_size or default_shard_size([j.settings for j in jobs])
    shards = split(len(inputs), size)
    cache = ShardCache(cache_dir)
    results: dict[str, ShardResult] = {}
    tasks: list[Task] = []
    queued: set[str] = set()
    report = JobsReport(pooled=[])
    for index, job in enumerate(jobs):
        prefix = job_digest(job.network, job.settings)
        for shard in shards:
            key = shard_key(prefix, inputs, shard)
            if key in results or key in queued:
                continue  # the same job twice in the list: one computation
            found = cache.load(key, shard)
            if found is not None:
                results[key] = found
                report.cached.append(key)
            else:
                queued.add(key)
                tasks.append(Task(key, index, shard))
    bar = progress_bar(
        "shards",
        total=sum(r.shard.size for r in results.values()) + sum(t.shard.size for t in tasks),
        enabled=show_progress,
    )
    bar.unit = " samples"
    bar.update(sum(r.shard.size for r in results.values()))

    def finished(task: Task, result: ShardResult) -> None:
        cache.save(task.key, result)
        results[task.key] = result
        report.computed.append(task.key)
        bar.update(task.shard.size)

    try:
        if tasks:
            if spec is not None and spec.uses_ray:
                _run_on_ray(networks, jobs, inputs, tasks, spec, finished)
            else:
                for task in tasks:
                    job = jobs[task.job]
                    compiled = _compiled(job.network, networks[job.network])
                    finished(task, run_shard(compiled, inputs, task.shard, job.settings))
    finally:
        bar.close()
    for job in jobs:
        prefix = job_digest(job.network, job.settings)
        report.pooled.append(pool([results[shard_key(prefix, inputs, s)] for s in shards]))
    return report


def _compiled(digest: str, data: bytes) -> CompiledNet:
    """Load a network from ``.sfnet`` bytes once per process."""
    if digest not in _LOADED:
        with tempfile.TemporaryDirectory(prefix="spikeforge-worker-") as tmp:
            path = Path(tmp) / "net.sfnet"
            path.write_bytes(data)
            if len(_LOADED) >= _KEEP_LOADED:
                _LOADED.pop(next(iter(_LOADED)))
            _LOADED[digest] = load(path)
    return _LOADED[digest]


def _worker_task(
    digest: str, network_ref: list, inputs: np.ndarray, shard: Shard, settings: RunSettings
) -> ShardResult:
    """What a Ray worker runs: load the network (once per process), run the shard."""
    import ray

    if digest not in _LOADED:
        _compiled(digest, ray.get(network_ref[0]))
    return run_shard(_LOADED[digest], inputs, shard, settings)


def _import_ray():
    try:
        import ray
    except ImportError:
        raise SpikeforgeError(
            "--workers and --cluster run on Ray, which is not installed: "
            "pip install 'spikeforge[cluster]'"
        ) from None
    return ray


def _run_on_ray(
    networks: dict[str, bytes],
    jobs: Sequence[Job],
    inputs: np.ndarray,
    tasks: Sequence[Task],
    spec: ClusterSpec,
    finished: Callable[[Task, ShardResult], None],
) -> None:
    ray = _import_ray()
    started = not ray.is_initialized()
    if started:
        _start_ray(ray, spec)
    pending: dict = {}
    try:
        remote = ray.remote(num_cpus=1, max_retries=MAX_RETRIES)(_worker_task)
        inputs_ref = ray.put(np.ascontiguousarray(inputs))
        net_refs = {d: ray.put(networks[d]) for d in {jobs[t.job].network for t in tasks}}
        for task in tasks:
            job = jobs[task.job]
            ref = remote.remote(
                job.network, [net_refs[job.network]], inputs_ref, task.shard, job.settings
            )
            pending[ref] = task
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                task = pending.pop(ref)
                finished(task, _get(ray, ref, task))
    finally:
        for ref in pending:  # interrupted or failed: stop the rest, keep what finished
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()


def _start_ray(ray, spec: ClusterSpec) -> None:
    try:
        if spec.address is not None:
            ray.init(address=spec.address, logging_level=logging.WARNING, log_to_driver=False)
        else:
            ray.init(
                num_cpus=spec.workers,
                include_dashboard=False,
                logging_level=logging.WARNING,
                log_to_driver=False,
            )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SpikeforgeError(f"cannot start Ray ({spec.describe()}): {first}") from None


def _get(ray, ref, task: Task) -> ShardResult:
    """The shard's result; spikeforge's own errors come back as one clear line."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = exc.cause if isinstance(exc.cause, BaseException) else None
        if isinstance(cause, SpikeforgeError):
            raise SpikeforgeError(str(cause)) from None
        raise cause or exc from None
    except ray.exceptions.WorkerCrashedError:
        raise SpikeforgeError(
            f"samples {task.shard.start}..{task.shard.stop - 1}: the worker died "
            f"{MAX_RETRIES + 1} times running them"
        ) from None


def run_compiled(
    runs: Sequence[tuple[CompiledNet, RunSettings]],
    inputs: np.ndarray,
    spec: ClusterSpec | None = None,
    cache_dir: Path | None = None,
    shard_size: int | None = None,
    show_progress: bool = False,
) -> JobsReport:
    """:func:`run_jobs` for compiled networks in memory: each is serialised and hashed once."""
    digests: dict[int, str] = {}
    networks: dict[str, bytes] = {}
    jobs = []
    for compiled, settings in runs:
        if id(compiled) not in digests:
            data = sfnet_bytes(compiled)
            digests[id(compiled)] = digest = network_digest(data)
            networks[digest] = data
        jobs.append(Job(digests[id(compiled)], settings))
    return run_jobs(networks, jobs, inputs, spec, cache_dir, shard_size, show_progress)
