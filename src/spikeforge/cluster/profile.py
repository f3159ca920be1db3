"""``spikeforge profile --workers N | --cluster ADDRESS``: the compiled stages, sharded.

The hardware runs (the compiled float and fixed stages on Lava or the emulator) are
sharded and pooled into the engine's own :class:`~spikeforge.profile.stages.HardwareRun`
(activity, cost, outputs, rasters), which :func:`~spikeforge.profile.stages.profile_network`
then takes in place of running them itself; everything else in the profile (source,
reference, agreement, report) is the engine's. ``wall_s`` is worker seconds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from spikeforge.cluster.executor import run_compiled
from spikeforge.cluster.shard import RunSettings
from spikeforge.cluster.spec import ClusterSpec
from spikeforge.compile.compiled import CompiledNet
from spikeforge.profile import Hardware, estimate, place
from spikeforge.profile.stages import DEFAULT_RASTER_POPULATIONS, HardwareRun


def sharded_hardware_runs(
    compiled: CompiledNet,
    inputs: np.ndarray,
    hardware: Hardware,
    backend: str,
    precisions: Sequence[str],
    raster: Sequence[str] | None,
    spec: ClusterSpec | None,
    shard_size: int | None = None,
    show_progress: bool = False,
) -> dict[str, HardwareRun]:
    """One pooled :class:`HardwareRun` per precision, recording the populations drawn."""
    spiking = [n for n, p in compiled.network.populations.items() if p.spiking]
    record = tuple(raster) if raster else tuple(spiking[:DEFAULT_RASTER_POPULATIONS])
    settings = [RunSettings(backend, p, hardware, record) for p in precisions]
    report = run_compiled(
        [(compiled, s) for s in settings], inputs, spec, None, shard_size, show_progress
    )
    runs = {}
    for precision, pooled in zip(precisions, report.pooled, strict=True):
        placement = place(compiled.plan(precision), hardware)
        runs[precision] = HardwareRun(
            precision=precision,
            backend=backend,
            wall_s=pooled.worker_s,
            placement=placement,
            activity=pooled.activity,
            cost=estimate(pooled.activity, placement, hardware),
            outputs=pooled.outputs,
            spikes=pooled.spikes,
        )
    return runs
