"""``spikeforge evaluate NAME --workers N | --cluster ADDRESS``: the zoo's stage table, sharded.

The Loihi stages (``lava-*``, ``emulator-*``) are what take hours on a real test
set; they run sharded (:func:`~spikeforge.cluster.executor.run_compiled`) and their
rows are built from the pooled shards exactly as the single-process engine builds
them from one run: the same compiled network, metric, agreement with norse, spike
and synaptic-op totals, and energy and latency priced from the same counts. The
norse and reference stages are cheap batched CPU runs and come from the engine
itself (:func:`spikeforge.models.stages.evaluate`). Only ``wall s/sample`` differs:
here it is worker seconds per sample, summed over shards.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from spikeforge.cluster.executor import run_compiled
from spikeforge.cluster.shard import Pooled, RunSettings
from spikeforge.cluster.spec import ClusterSpec
from spikeforge.compile.compiled import CompiledNet
from spikeforge.models.examples import in_float64
from spikeforge.models.stages import (
    AGREE_TOLERANCE,
    CALIBRATION_SAMPLES,
    DEFAULT_STAGES,
    LABELS,
    StageResult,
    StageTable,
    evaluate,
    export_and_compile,
    parse_stage,
)
from spikeforge.models.zoo import get, load_trained
from spikeforge.profile import Hardware, estimate, load_hardware, place
from spikeforge.profile.stages import output_agreement

#: Stages the engine runs in this process (cheap, batched); the rest are sharded.
LOCAL_STAGES = ("norse", "reference")


def evaluate_sharded(
    name: str,
    spec: ClusterSpec | None,
    stages: Sequence[str] = DEFAULT_STAGES,
    n: int = 100,
    seed: int = 0,
    weight_planes: int = 2,
    calibration_samples: int = CALIBRATION_SAMPLES,
    hardware: str | Path = "loihi2",
    checkpoint: str | Path | None = None,
    shard_size: int | None = None,
    show_progress: bool = True,
) -> StageTable:
    """:func:`spikeforge.models.stages.evaluate`, with the Loihi stages sharded over ``spec``."""
    from spikeforge.checkpoint import load_checkpoint

    for stage in stages:
        parse_stage(stage)
    local = evaluate(
        name,
        stages=["norse", *[s for s in stages if s == "reference"]],
        n=n,
        seed=seed,
        weight_planes=weight_planes,
        calibration_samples=calibration_samples,
        hardware=hardware,
        checkpoint=checkpoint,
        show_progress=False,
    )
    model = get(name)
    card = model.CARD
    module = in_float64(load_trained(name) if checkpoint is None else load_checkpoint(checkpoint))
    data = model.make_data("test", n, seed=seed)
    calibration = model.make_data("train", calibration_samples, seed=seed).inputs
    compiled = export_and_compile(module, card, calibration, weight_planes)
    target = load_hardware(hardware)
    sharded = [s for s in stages if s not in LOCAL_STAGES]
    settings = [RunSettings(*parse_stage(s), target) for s in sharded]
    inputs = np.asarray(data.inputs, dtype=np.float64)
    report = run_compiled(
        [(compiled, s) for s in settings], inputs, spec, None, shard_size, show_progress
    )
    norse_out = local.row("norse").outputs
    rows = {row.stage: row for row in local.rows}
    for stage, pooled in zip(sharded, report.pooled, strict=True):
        row = _hardware_row(stage, compiled, pooled, target)
        row.metrics = dict(model.metrics(row.outputs, data))
        row.agreement, row.rel_error = output_agreement(row.outputs, norse_out, AGREE_TOLERANCE)
        rows[stage] = row
    config = dict(local.config)
    config["stages"] = list(stages)
    config["cluster"] = spec.describe() if spec is not None else "this process"
    return StageTable(card=card, config=config, rows=[rows[s] for s in stages])


def _hardware_row(
    stage: str, compiled: CompiledNet, pooled: Pooled, hardware: Hardware
) -> StageResult:
    """The engine's hardware row, from pooled shards instead of one run."""
    backend, precision = parse_stage(stage)
    plan = compiled.plan(precision)
    placement = place(plan, hardware)
    activity = pooled.activity
    cost = estimate(activity, placement, hardware)
    return StageResult(
        stage=stage,
        label=LABELS[stage],
        basis=f"activity counted on {backend} (sharded), priced by the {hardware.name} model"
        f" on {len(placement.cores)} "
        f"core{'s' if len(placement.cores) != 1 else ''}",
        spikes=sum(activity.per_inference(p)["spikes"] for p in plan.populations),
        synaptic_ops=activity.total("synaptic_ops"),
        energy=cost.energy["total"],
        latency=cost.latency["per_inference"],
        wall_s_per_sample=pooled.worker_s / pooled.samples,
        outputs=pooled.output,
    )
