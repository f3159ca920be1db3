"""Run, count, place and price every stage of the pipeline: the one measurement engine.

``spikeforge profile`` and the zoo's ``evaluate`` both call :func:`measure`. Each stage
answers the same questions — agreement with the source model's outputs
(:mod:`spikeforge.profile.agreement`), spikes, synaptic ops, energy and latency per
inference — on the basis that fits it:

* **norse** (the source module) and **reference** (the NIR graph as the IR, float64)
  are CPU models: spikes and synaptic ops are counted on them NeuroBench style
  (:mod:`spikeforge.profile.source_stats`), energy is what a conventional accelerator
  spends on the dense ops, latency is the measured CPU wall time;
* **lava-*** and **emulator-*** run the Loihi plan at a precision: activity is
  counted per hardware step, placed on cores and priced by the hardware model
  (:func:`spikeforge.profile.energy.estimate`); every Loihi 2 figure is an estimate.
  **reference-float** is the reference run replayed in hardware steps (exact: Lava
  ``floating_pt`` is spike-for-spike the reference), priced the same way.

The source is norse when a module is given and the network has one output, else
the reference.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from spikeforge.compile.compiled import CompiledNet
from spikeforge.compile.hardware import Hardware, Quantity
from spikeforge.compile.lower import LoihiPlan
from spikeforge.compile.placement import Placement, place
from spikeforge.errors import SpikeforgeError
from spikeforge.profile.agreement import Agreement, compare
from spikeforge.profile.counters import (
    Activity,
    ActivityCounter,
    from_source_time,
)
from spikeforge.profile.energy import CostReport, estimate
from spikeforge.profile.render import si
from spikeforge.profile.source_stats import (
    CPU,
    WARM_UP_STEPS,
    SourceStats,
    best_time,
    network_stats,
    norse_stats,
)
from spikeforge.progress import stage as progress_stage
from spikeforge.runtimes import run

if TYPE_CHECKING:  # task.py builds on this module
    from spikeforge.profile.task import TaskMetric
from spikeforge.runtimes.norse import run_norse
from spikeforge.runtimes.result import RunResult, prepare_inputs

#: Every stage, in pipeline order, with the label reports give it.
LABELS = {
    "norse": "norse (source, float64)",
    "reference": "reference (NIR -> IR, float64)",
    "reference-float": "reference replayed in hardware steps",
    "lava-float": "Lava Loihi2SimCfg floating_pt",
    "lava-fixed": "Lava Loihi2SimCfg fixed_pt",
    "emulator-float": "emulator float",
    "emulator-fixed": "emulator fixed_pt (bit-exact Lava model)",
}
STAGES = tuple(LABELS)
PRECISIONS = ("float", "fixed")
#: Populations drawn in the raster when none are chosen.
DEFAULT_RASTER_POPULATIONS = 4


def parse_stage(stage: str) -> tuple[str, str | None]:
    """``"lava-fixed"`` -> ``("lava", "fixed")``; unknown names list the known ones."""
    if stage not in LABELS:
        raise SpikeforgeError(f"unknown stage {stage!r} (stages: {', '.join(STAGES)})")
    backend, _, precision = stage.partition("-")
    return backend, precision or None


def hardware_stage(backend: str, precision: str) -> str:
    """The stage that runs the ``precision`` plan on ``backend``, or why there is none."""
    stage = f"{backend}-{precision}"
    if stage not in LABELS or precision not in PRECISIONS:
        hint = " (it simulates in float64); use lava or emulator" if backend == "reference" else ""
        raise SpikeforgeError(f"the {precision} stage cannot run on the {backend} backend{hint}")
    return stage


@dataclass
class StageRow:
    """One stage, per inference. ``metrics`` are the task metrics (the zoo's, or the labels').

    Two different times, never mixed: ``latency`` is the *estimated hardware latency*
    of a Loihi stage (None for the CPU stages, which model no hardware), and
    ``wall_s_per_sample`` is the *simulation wall time on this machine*. ``spikes``
    counts the source's steps only: a Loihi stage's pipeline-drain steps (the extra
    hardware steps that let the last input reach the output) are left out, so every
    stage counts the same window; synaptic ops and energy include them, since the
    hardware runs them.
    """

    stage: str
    basis: str
    agreement: Agreement
    spikes: float
    synaptic_ops: float
    energy: Quantity
    latency: Quantity | None
    wall_s_per_sample: float
    metrics: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def label(self) -> str:
        return LABELS[self.stage]

    @property
    def output(self) -> np.ndarray:
        """The single output of a one-output network."""
        (only,) = self.outputs.values()
        return only

    def as_dict(self) -> dict[str, object]:
        return {
            "stage": self.stage,
            "name": self.label,
            "basis": self.basis,
            **self.agreement.as_dict(),
            "wall_s_per_sample": self.wall_s_per_sample,
            "spikes_per_inference": self.spikes,
            "synaptic_ops_per_inference": self.synaptic_ops,
            "energy_per_inference": self.energy.as_dict(),
            "hardware_latency_per_inference": None
            if self.latency is None
            else self.latency.as_dict(),
            **({"metrics": dict(self.metrics)} if self.metrics else {}),
        }


@dataclass
class HardwareRun:
    """A compiled plan run on a backend, counted, placed and priced."""

    stage: str
    precision: str
    backend: str
    wall_s: float
    placement: Placement
    activity: Activity
    cost: CostReport
    outputs: dict[str, np.ndarray]
    spikes: dict[str, np.ndarray]

    @classmethod
    def priced(
        cls,
        stage: str,
        precision: str,
        backend: str,
        wall_s: float,
        placement: Placement,
        activity: Activity,
        hardware: Hardware,
        result: RunResult,
    ) -> HardwareRun:
        """The run's activity on its placement, priced on ``hardware``."""
        return cls(
            stage=stage,
            precision=precision,
            backend=backend,
            wall_s=wall_s,
            placement=placement,
            activity=activity,
            cost=estimate(activity, placement, hardware),
            outputs=result.outputs,
            spikes=result.spikes,
        )


#: ``(stage, compiled, inputs, hardware, backend, precision, raster, show_progress)``
#: -> the stage run over every sample of ``inputs`` (``{name: [batch, time, *shape]}``).
HardwareRunner = Callable[
    [str, CompiledNet, dict[str, np.ndarray], Hardware, str, str, Sequence[str], bool],
    HardwareRun,
]


@dataclass
class Profile:
    """Every stage measured on one input, and what the report draws from."""

    compiled: CompiledNet
    hardware: Hardware
    batch: int
    steps: int
    source: SourceStats | None
    reference: SourceStats | None
    runs: dict[str, HardwareRun]
    rows: list[StageRow]
    rasters: dict[str, np.ndarray]
    raster_stage: str
    #: The task metric scored on labels (:mod:`spikeforge.profile.task`), if any.
    task: TaskMetric | None = None

    def row(self, stage: str) -> StageRow:
        for row in self.rows:
            if row.stage == stage:
                return row
        raise KeyError(stage)

    @property
    def deployed(self) -> HardwareRun | None:
        """The run the summary speaks for: fixed point if it was run, else the first."""
        fixed = [r for r in self.runs.values() if r.precision == "fixed"]
        return fixed[0] if fixed else next(iter(self.runs.values()), None)


def measure(
    compiled: CompiledNet,
    inputs: np.ndarray,
    hardware: Hardware,
    stages: Sequence[str],
    module: torch.nn.Module | None = None,
    raster: Sequence[str] | None = None,
    show_progress: bool = False,
    hardware_runner: HardwareRunner | None = None,
) -> Profile:
    """Run and measure ``stages`` (module docstring) on ``inputs`` ``[batch, time, *shape]``.

    ``hardware_runner`` (cluster seam) runs the hardware stages in place of this module's
    own run, e.g. sharded over Ray by :mod:`spikeforge.cluster.runner`.
    """
    for stage in stages:
        parse_stage(stage)
    network = compiled.network
    if "norse" in stages and (module is None or len(network.readouts) != 1):
        raise SpikeforgeError(
            "the norse stage needs the source module, and a network with one output to "
            f"compare (this one has {len(network.readouts)})"
        )
    flat, _ = prepare_inputs(network, inputs)
    shaped = {n: a.reshape(*a.shape[:2], *network.inputs[n]) for n, a in flat.items()}
    batch, steps = next(iter(flat.values())).shape[:2]
    spiking = [n for n, p in network.populations.items() if p.spiking]
    raster = list(raster) if raster else spiking[:DEFAULT_RASTER_POPULATIONS]
    for name in raster:
        if name not in spiking:
            raise SpikeforgeError(
                f"cannot draw a raster of '{name}': not a spiking population "
                f"(spiking populations: {', '.join(spiking)})"
            )

    run(compiled, {n: a[:1, :WARM_UP_STEPS] for n, a in shaped.items()}, backend="reference")
    reference, reference_wall = best_time(
        lambda: run(compiled, shaped, backend="reference", record=spiking)
    )
    ref_stats = network_stats(network, {**flat, **_flat(reference.spikes)}, reference_wall)
    norse_out = _norse_outputs(module, shaped) if module is not None else None
    truth = reference.outputs
    if norse_out is not None and len(network.readouts) == 1:
        truth = {next(iter(network.readouts)): norse_out}
    outputs_spike = {
        name: r.direct_source is not None and network.populations[r.direct_source].spiking
        for name, r in network.readouts.items()
    }

    source = None
    rows, runs = [], {}
    for i, stage in enumerate(stages, start=1):
        backend, precision = parse_stage(stage)
        with progress_stage(i, len(stages), f"running {LABELS[stage]}", show_progress):
            if stage == "norse":
                source = norse_stats(module, next(iter(shaped.values())))
                rows.append(_cpu_row(stage, source, truth))
            elif stage == "reference":
                rows.append(_cpu_row(stage, ref_stats, reference.outputs))
            else:
                hw_run = (hardware_runner or _hardware_run)(  # cluster seam
                    stage, compiled, shaped, hardware, backend, precision, raster, show_progress
                )
                runs[stage] = hw_run
                rows.append(_hardware_row(hw_run, compiled, hardware, batch, steps))
        rows[-1].agreement = compare(rows[-1].outputs, truth, outputs_spike)

    last = next(reversed(runs.values()), None)
    rasters = last.spikes if last else {n: reference.spikes[n] for n in raster}
    return Profile(
        compiled=compiled,
        hardware=hardware,
        batch=batch,
        steps=steps,
        source=source,
        reference=ref_stats if "reference" in stages else None,
        runs=runs,
        rows=rows,
        rasters=rasters,
        raster_stage=LABELS[last.stage] if last else LABELS["reference"],
    )


def _flat(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {n: a.reshape(*a.shape[:2], -1) for n, a in arrays.items()}


def _norse_outputs(module: torch.nn.Module, shaped: dict[str, np.ndarray]) -> np.ndarray:
    x = torch.as_tensor(next(iter(shaped.values())), dtype=next(module.parameters()).dtype)
    return run_norse(module, x).numpy()


#: What a row is compared by until :func:`measure` compares it.
_UNCOMPARED = Agreement(None, None, float("nan"))


def _cpu_row(stage: str, stats: SourceStats, outputs: dict[str, np.ndarray]) -> StageRow:
    return StageRow(
        stage=stage,
        basis=f"no hardware latency (CPU model); {CPU.name} at batch 1: dense ops x "
        f"{si(CPU.mac.value, 'J')}/MAC + DRAM bytes x {si(CPU.byte.value, 'J')}/B "
        f"({CPU.mac.kind}; {CPU.mac.source}; {CPU.byte.source})",
        agreement=_UNCOMPARED,
        spikes=stats.spikes,
        synaptic_ops=stats.synaptic_ops,
        energy=Quantity(
            stats.conventional_energy_j, "J", CPU.mac.kind, "dense ops and DRAM traffic on a CPU"
        ),
        latency=None,
        wall_s_per_sample=stats.wall_s_per_sample,
        outputs=dict(outputs),
    )


def source_window_spikes(activity: Activity, plan: LoihiPlan, steps: int) -> float:
    """Spikes per inference of the plan's populations in their ``steps`` source steps.

    A population with latency ``L`` fires on hardware step ``t`` what the source fires
    on step ``t - L``, so its source window is ``[L, L + steps)``; later hardware steps
    drain the pipeline and have no source counterpart.
    """
    total = 0.0
    for name in plan.populations:
        start = plan.latency[name]
        total += float(activity.populations[name].spikes[start : start + steps].sum())
    return total / activity.batch


def _hardware_row(
    hw_run: HardwareRun, compiled: CompiledNet, hardware: Hardware, batch: int, steps: int
) -> StageRow:
    cores = len(hw_run.placement.cores)
    plan = compiled.plan(hw_run.precision)
    return StageRow(
        stage=hw_run.stage,
        basis=f"activity counted on {hw_run.backend}, priced by the {hardware.name} model "
        f"on {cores} core{'s' if cores != 1 else ''}",
        agreement=_UNCOMPARED,
        spikes=source_window_spikes(hw_run.activity, plan, steps),
        synaptic_ops=hw_run.activity.total("synaptic_ops"),
        energy=hw_run.cost.energy.total,
        latency=hw_run.cost.latency.per_inference,
        wall_s_per_sample=hw_run.wall_s / batch,
        outputs=hw_run.outputs,
    )


def count_run(
    compiled: CompiledNet,
    inputs: dict[str, np.ndarray],
    placement: Placement,
    backend: str,
    precision: str,
    record: Sequence[str] = (),
    show_progress: bool = False,
) -> tuple[Activity, RunResult]:
    """Run ``inputs`` (``{name: [batch, time, *shape]}``) and count it in hardware steps.

    The reference backend runs in source time: its float run is replayed in hardware
    steps, with the inputs padded so that every population's last source step is
    seen; its outputs are cut back to the input's length.
    """
    plan = compiled.plan(precision)
    counter = ActivityCounter(plan, placement)
    if backend != "reference":
        result = run(
            compiled, inputs, backend=backend, precision=precision, record=record,
            on_step=counter, show_progress=show_progress,
        )  # fmt: skip
        return counter.result(), result
    steps = next(iter(inputs.values())).shape[1]
    tail = max(plan.latency[n] for n in plan.populations)
    padded = {
        n: np.concatenate([a, np.zeros((a.shape[0], tail, *a.shape[2:]))], axis=1)
        for n, a in inputs.items()
    }
    result = run(
        compiled, padded, backend="reference", record=record,
        on_step=from_source_time(counter, plan),
    )  # fmt: skip
    cut = RunResult(
        outputs={k: v[:, :steps] for k, v in result.outputs.items()},
        spikes={k: v[:, :steps] for k, v in result.spikes.items()},
        v={k: v[:, :steps] for k, v in result.v.items()},
        steps=steps,
    )
    return counter.result(), cut


def _hardware_run(
    stage: str,
    compiled: CompiledNet,
    shaped: dict[str, np.ndarray],
    hardware: Hardware,
    backend: str,
    precision: str,
    raster: list[str],
    show_progress: bool,
) -> HardwareRun:
    placement = place(compiled.plan(precision), hardware)
    start = time.perf_counter()
    activity, result = count_run(
        compiled, shaped, placement, backend, precision, raster, show_progress
    )
    wall = time.perf_counter() - start
    return HardwareRun.priced(
        stage, precision, backend, wall, placement, activity, hardware, result
    )


def bias_driven_run(
    compiled: CompiledNet,
    bias: np.ndarray,
    steps: int,
    hardware: Hardware,
    backend: str = "emulator",
    device: str | None = None,
    record: Sequence[str] = (),
    show_progress: bool = False,
) -> HardwareRun:
    """Run, count and price a netx network whose input layer is driven by its bias
    (``bias`` ``[batch, *shape]``) for ``steps`` hardware steps, fixed point.

    Such a network has no spike input and no source-time counterpart, so only this
    stage exists; PilotNet's Loihi 2 calibration is counted this way.
    """
    plan = compiled.plan("fixed")
    placement = place(plan, hardware)
    counter = ActivityCounter(plan, placement)
    start = time.perf_counter()
    result = run(
        compiled, None, backend=backend, precision="fixed", raw_timing=True, record=record,
        on_step=counter, device=device, input_bias=bias, steps=steps,
        show_progress=show_progress,
    )  # fmt: skip
    wall = time.perf_counter() - start
    return HardwareRun.priced(
        hardware_stage(backend, "fixed"), "fixed", backend, wall, placement, counter.result(),
        hardware, result,
    )  # fmt: skip


def measure_bias_driven(
    compiled: CompiledNet,
    bias: np.ndarray,
    steps: int,
    hardware: Hardware,
    backends: Sequence[str] = ("emulator",),
    raster: Sequence[str] | None = None,
    device: str | None = None,
    show_progress: bool = False,
) -> Profile:
    """:func:`measure` for a netx network whose input layer is driven by its bias.

    There is no spike input, so no reference (float64, source time) run exists to
    compare with: the stages are the fixed-point plan on each of ``backends`` in raw
    hardware steps, the first being the truth the others are compared with (Lava and
    the emulator are bit-exact, so a second backend checks the first).
    """
    spiking = [n for n, p in compiled.network.populations.items() if p.spiking]
    raster = list(raster) if raster else spiking[:DEFAULT_RASTER_POPULATIONS]
    for name in raster:
        if name not in spiking:
            raise SpikeforgeError(
                f"cannot draw a raster of '{name}': not a spiking population "
                f"(spiking populations: {', '.join(spiking)})"
            )
    runs: dict[str, HardwareRun] = {}
    rows: list[StageRow] = []
    for i, backend in enumerate(backends, start=1):
        stage = hardware_stage(backend, "fixed")
        with progress_stage(i, len(backends), f"running {LABELS[stage]}", show_progress):
            hw_run = bias_driven_run(
                compiled, bias, steps, hardware, backend, device, raster, show_progress
            )
        runs[stage] = hw_run
        cores = len(hw_run.placement.cores)
        rows.append(
            StageRow(
                stage=stage,
                basis=f"input layer driven by its bias, {steps} raw hardware steps; activity "
                f"counted on {backend}, priced by the {hardware.name} model on {cores} cores",
                agreement=_UNCOMPARED,
                spikes=hw_run.activity.total("spikes"),
                synaptic_ops=hw_run.activity.total("synaptic_ops"),
                energy=hw_run.cost.energy.total,
                latency=hw_run.cost.latency.per_inference,
                wall_s_per_sample=hw_run.wall_s / hw_run.activity.batch,
                outputs=hw_run.outputs,
            )
        )
        if len(rows) > 1:
            outputs_spike = {n: bool(np.isin(a, (0.0, 1.0)).all()) for n, a in
                             rows[0].outputs.items()}  # fmt: skip
            rows[-1].agreement = compare(rows[-1].outputs, rows[0].outputs, outputs_spike)
    first = next(iter(runs.values()))
    return Profile(
        compiled=compiled,
        hardware=hardware,
        batch=first.activity.batch,
        steps=steps,
        source=None,
        reference=None,
        runs=runs,
        rows=rows,
        rasters={n: first.spikes[n] for n in raster if n in first.spikes},
        raster_stage=LABELS[first.stage],
    )
