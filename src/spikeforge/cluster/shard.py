"""One shard of a data set run on one backend, and shards pooled back into one result.

:func:`run_shard` is the only place this package calls the profiling engine: it runs
a contiguous range of samples through :func:`spikeforge.profile.stages.count_run`
(the same call the single-process stages make) and keeps the raw material, never a
ratio: per-sample outputs (and recorded rasters) and the activity counts summed over
the shard's samples. :func:`pool` concatenates the outputs in sample order and adds
the counts (the per-step longest route is a maximum over samples, so it pools by
maximum). Counts are integers held in float64, so the sums are exact in any order,
and every figure computed from the pooled result (metric, agreement, energy,
latency) is the single-process figure, number for number.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from spikeforge.compile.compiled import CompiledNet
from spikeforge.compile.hardware import Hardware
from spikeforge.compile.placement import place
from spikeforge.errors import SpikeforgeError
from spikeforge.profile.counters import HOPS, Activity, Counts, Route


@dataclass(frozen=True)
class Shard:
    """Samples ``start`` to ``stop`` (exclusive) of the data set."""

    start: int
    stop: int

    @property
    def size(self) -> int:
        return self.stop - self.start


def split(samples: int, shard_size: int) -> list[Shard]:
    """Consecutive shards of at most ``shard_size`` samples covering ``range(samples)``."""
    if samples < 1:
        raise SpikeforgeError("the data set has no samples")
    if shard_size < 1:
        raise SpikeforgeError(f"shard size must be at least 1, got {shard_size}")
    return [Shard(s, min(s + shard_size, samples)) for s in range(0, samples, shard_size)]


@dataclass(frozen=True)
class RunSettings:
    """How a shard runs: backend, precision and the hardware model it is placed on."""

    backend: str
    precision: str
    hardware: Hardware
    record: tuple[str, ...] = ()


@dataclass
class ShardResult:
    """A shard's outputs and rasters ``[samples, time, ...]`` and its summed activity.

    ``wall_s`` is the time the worker spent running the shard (not pooled into any
    figure that is compared; it is the throughput the stage tables report).
    """

    shard: Shard
    outputs: dict[str, np.ndarray]
    spikes: dict[str, np.ndarray]
    activity: Activity
    wall_s: float


def run_shard(
    compiled: CompiledNet, inputs: np.ndarray, shard: Shard, settings: RunSettings
) -> ShardResult:
    """Run samples ``shard`` of ``inputs`` (``[batch, time, *shape]``) and count them.

    The single seam to the stage engine: re-point this call when the engine moves.
    """
    from spikeforge.profile.stages import count_run

    if len(compiled.network.inputs) != 1:
        raise SpikeforgeError(
            f"network has inputs {sorted(compiled.network.inputs)}; sharded runs take "
            "networks with one input"
        )
    name = next(iter(compiled.network.inputs))
    placement = place(compiled.plan(settings.precision), settings.hardware)
    start = time.perf_counter()
    activity, result = count_run(
        compiled,
        {name: np.asarray(inputs[shard.start : shard.stop])},
        placement,
        settings.backend,
        settings.precision,
        record=settings.record,
    )
    wall = time.perf_counter() - start
    return ShardResult(shard, dict(result.outputs), dict(result.spikes), activity, wall)


@dataclass
class Pooled:
    """Shards pooled in sample order: what a single process would have produced."""

    samples: int
    outputs: dict[str, np.ndarray]
    spikes: dict[str, np.ndarray]
    activity: Activity
    #: Worker seconds summed over shards (the cost, whatever the parallelism).
    worker_s: float

    @property
    def output(self) -> np.ndarray:
        if len(self.outputs) != 1:
            raise SpikeforgeError(
                f"network has outputs {sorted(self.outputs)}; this table takes one output"
            )
        return next(iter(self.outputs.values()))


def pool(results: Sequence[ShardResult]) -> Pooled:
    """Pool shards that cover ``0..n`` without gaps (any order); anything else is refused."""
    ordered = sorted(results, key=lambda r: r.shard.start)
    if not ordered:
        raise SpikeforgeError("no shards to pool")
    expected = 0
    for r in ordered:
        if r.shard.start != expected:
            raise SpikeforgeError(
                f"shards do not cover the data set: samples {expected}..{r.shard.start} missing"
            )
        expected = r.shard.stop
    first = ordered[0]
    return Pooled(
        samples=expected,
        outputs={k: np.concatenate([r.outputs[k] for r in ordered]) for k in first.outputs},
        spikes={k: np.concatenate([r.spikes[k] for r in ordered]) for k in first.spikes},
        activity=pool_activity([r.activity for r in ordered]),
        worker_s=sum(r.wall_s for r in ordered),
    )


def pool_activity(parts: Sequence[Activity]) -> Activity:
    """Counts added over shards; the per-step longest route is the maximum over them."""
    first = parts[0]
    for part in parts[1:]:
        if part.steps != first.steps or part.sizes != first.sizes or part.placed != first.placed:
            raise SpikeforgeError("shards were counted on different plans or step counts")

    def total(tables: Sequence[Counts]) -> Counts:
        """Field-wise sums of the per-step arrays (whole numbers: exact in any order)."""
        stacked = {f.name: [np.asarray(getattr(t, f.name), np.float64) for t in tables]
                   for f in fields(Counts)}  # fmt: skip
        return Counts(**{name: np.sum(arrays, axis=0) for name, arrays in stacked.items()})

    def longest(routes: Sequence[Route]) -> Route:
        return Route(
            *(np.maximum.reduce([np.asarray(getattr(r, h)) for r in routes]) for h in HOPS)
        )

    return Activity(
        batch=sum(p.batch for p in parts),
        steps=first.steps,
        sizes=dict(first.sizes),
        populations={k: total([p.populations[k] for p in parts]) for k in first.populations},
        inputs={k: total([p.inputs[k] for p in parts]) for k in first.inputs},
        cores=total([p.cores for p in parts]) if first.placed else None,
        longest_route=longest([p.longest_route for p in parts]) if first.placed else None,
    )
