"""The stage engine's hardware stages, sharded: ``evaluate`` and ``profile`` with ``--workers``.

:func:`spikeforge.profile.stages.measure` takes a ``hardware_runner``; this one runs
the stage's samples as shards (:func:`~spikeforge.cluster.executor.run_compiled`)
and pools them into the engine's own :class:`~spikeforge.profile.stages.HardwareRun`
(activity, cost, outputs, rasters), from which the engine builds its row exactly as
from its own run: agreement, metric, spikes, synaptic ops, energy and latency are the
single-process figures. Only ``wall_s`` differs: here it is worker seconds (summed
over shards), so ``wall s/sample`` stays a cost per sample whatever the parallelism.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from spikeforge.cluster.executor import run_compiled
from spikeforge.cluster.shard import RunSettings
from spikeforge.cluster.spec import ClusterSpec
from spikeforge.compile.compiled import CompiledNet
from spikeforge.errors import SpikeforgeError
from spikeforge.profile import Hardware, estimate, place
from spikeforge.profile.stages import HardwareRun


@dataclass(frozen=True)
class ShardedRunner:
    """A :data:`~spikeforge.profile.stages.HardwareRunner` over ``spec`` (None: this process)."""

    spec: ClusterSpec | None
    shard_size: int | None = None
    show_progress: bool = False

    def __call__(
        self,
        stage: str,
        compiled: CompiledNet,
        inputs: dict[str, np.ndarray],
        hardware: Hardware,
        backend: str,
        precision: str,
        raster: Sequence[str],
        show_progress: bool = False,
    ) -> HardwareRun:
        if len(inputs) != 1:
            raise SpikeforgeError(
                f"network has inputs {sorted(inputs)}; sharded runs take networks with one input"
            )
        (data,) = inputs.values()
        settings = RunSettings(backend, precision, hardware, tuple(raster))
        report = run_compiled(
            [(compiled, settings)],
            data,
            self.spec,
            None,
            self.shard_size,
            self.show_progress and show_progress,
        )
        (pooled,) = report.pooled
        placement = place(compiled.plan(precision), hardware)
        return HardwareRun(
            stage=stage,
            precision=precision,
            backend=backend,
            wall_s=pooled.worker_s,
            placement=placement,
            activity=pooled.activity,
            cost=estimate(pooled.activity, placement, hardware),
            outputs=pooled.outputs,
            spikes=pooled.spikes,
        )
