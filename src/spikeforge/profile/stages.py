"""Profile every stage of the pipeline on one input: source -> NIR -> compiled float / fixed.

Each stage answers the same questions — agreement with the source model's outputs,
spikes, synaptic ops, energy and latency per inference — on the basis that fits it:

* **norse (source)** and **NIR reference**: measured CPU wall time per sample, and the
  energy a conventional accelerator would spend on the dense ops
  (:mod:`spikeforge.profile.source_stats`);
* **compiled float / fixed**: activity counted on the chosen backend and priced by the
  hardware model on the plan's placement (:mod:`spikeforge.profile.energy`). On the
  ``reference`` backend the float stage's activity is the reference run replayed in
  hardware steps (exact: Lava ``floating_pt`` is spike-for-spike the reference);
  the fixed-point stage needs ``lava`` or ``emulator``.

Agreement is the fraction of output entries equal to the source's (norse when a
module is given and the network has one output, else the reference), over the
source time steps, with the relative RMS error for voltage outputs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from spikeforge.compile.compiled import CompiledNet
from spikeforge.errors import SpikeforgeError
from spikeforge.profile.counters import Activity, ActivityCounter, from_source_time
from spikeforge.profile.energy import CostReport, Figure, estimate
from spikeforge.profile.hardware import Hardware
from spikeforge.profile.placement import Placement, place
from spikeforge.profile.source_stats import (
    MAC_ENERGY,
    WARM_UP_STEPS,
    SourceStats,
    best_time,
    network_stats,
    norse_stats,
)
from spikeforge.runtimes import run
from spikeforge.runtimes.result import RunResult, prepare_inputs

PRECISIONS = ("float", "fixed")
#: Populations drawn in the raster when none are chosen.
DEFAULT_RASTER_POPULATIONS = 4
_BACKEND_LABEL = {
    "lava": {"float": "Lava floating_pt", "fixed": "Lava fixed_pt"},
    "emulator": {"float": "emulator float", "fixed": "emulator fixed_pt"},
    "reference": {"float": "reference, in hardware steps"},
}


@dataclass
class Stage:
    """One row of the stage table (per inference)."""

    name: str
    basis: str
    agreement: float
    exact: bool
    relative_error: float
    wall_s_per_sample: float
    spikes: float
    synaptic_ops: float
    energy: Figure
    latency: Figure

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "basis": self.basis,
            "agreement": self.agreement,
            "exact": self.exact,
            "relative_error": self.relative_error,
            "wall_s_per_sample": self.wall_s_per_sample,
            "spikes_per_inference": self.spikes,
            "synaptic_ops_per_inference": self.synaptic_ops,
            "energy_per_inference": self.energy.as_dict(),
            "latency_per_inference": self.latency.as_dict(),
        }


@dataclass
class HardwareRun:
    """A compiled plan run on a backend, counted, placed and priced."""

    precision: str
    backend: str
    wall_s: float
    placement: Placement
    activity: Activity
    cost: CostReport
    outputs: dict[str, np.ndarray]
    spikes: dict[str, np.ndarray]


@dataclass
class Profile:
    """Everything the report shows."""

    compiled: CompiledNet
    hardware: Hardware
    batch: int
    steps: int
    backend: str
    source: SourceStats | None
    reference: SourceStats
    runs: dict[str, HardwareRun]
    stages: list[Stage]
    rasters: dict[str, np.ndarray]
    raster_stage: str


def profile_network(
    compiled: CompiledNet,
    inputs: np.ndarray,
    hardware: Hardware,
    backend: str = "lava",
    precisions: Sequence[str] = PRECISIONS,
    module: torch.nn.Module | None = None,
    raster: Sequence[str] | None = None,
    show_progress: bool = False,
    hardware_runs: dict[str, HardwareRun] | None = None,
) -> Profile:
    """Run and measure every stage (module docstring); ``inputs`` is ``[batch, time, *shape]``.

    ``hardware_runs`` (cluster seam): compiled stages already run elsewhere, e.g. sharded
    by :mod:`spikeforge.cluster.profile`, used instead of running them here.
    """
    network = compiled.network
    flat, _ = prepare_inputs(network, inputs)
    shaped = {n: a.reshape(*a.shape[:2], *network.inputs[n]) for n, a in flat.items()}
    batch, steps = next(iter(flat.values())).shape[:2]
    for precision in precisions:
        if precision not in PRECISIONS:
            raise SpikeforgeError(f"precision must be float or fixed, got {precision!r}")
        if backend not in _BACKEND_LABEL or precision not in _BACKEND_LABEL[backend]:
            raise SpikeforgeError(
                f"the {precision} stage cannot run on the {backend} backend"
                + (
                    " (it simulates in float64); use lava or emulator"
                    if backend == "reference"
                    else ""
                )
            )
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
    source = norse_stats(module, next(iter(shaped.values()))) if module is not None else None
    truth = reference.outputs
    if module is not None and len(network.readouts) == 1:
        truth = {next(iter(network.readouts)): _norse_outputs(module, shaped)}

    runs = {}
    for precision in precisions:
        if hardware_runs is not None and precision in hardware_runs:  # cluster seam
            runs[precision] = hardware_runs[precision]
            continue
        runs[precision] = _hardware_run(
            compiled, shaped, hardware, backend, precision, raster, show_progress
        )

    stages = []
    if source is not None:
        stages.append(_source_stage(source, truth, truth))
    stages.append(
        _source_stage(ref_stats, reference.outputs, truth, name="NIR -> IR reference (float64)")
    )
    for precision, hw_run in runs.items():
        agreement, exact, error = _agreement(hw_run.outputs, truth)
        cost = hw_run.cost
        stages.append(
            Stage(
                name=f"compiled {precision} ({_BACKEND_LABEL[backend][precision]})",
                basis=f"{hardware.name} model, activity on {backend}",
                agreement=agreement,
                exact=exact,
                relative_error=error,
                wall_s_per_sample=hw_run.wall_s / batch,
                spikes=sum(
                    hw_run.activity.per_inference(n)["spikes"]
                    for n in compiled.plan(precision).populations
                ),
                synaptic_ops=hw_run.activity.total("synaptic_ops"),
                energy=cost.energy["total"],
                latency=cost.latency["per_inference"],
            )
        )
    shown = precisions[-1] if precisions else None
    rasters = runs[shown].spikes if shown else {n: reference.spikes[n] for n in raster}
    return Profile(
        compiled=compiled,
        hardware=hardware,
        batch=batch,
        steps=steps,
        backend=backend,
        source=source,
        reference=ref_stats,
        runs=runs,
        stages=stages,
        rasters=rasters,
        raster_stage=stages[-1].name,
    )


def _flat(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {n: a.reshape(*a.shape[:2], -1) for n, a in arrays.items()}


def _norse_outputs(module: torch.nn.Module, shaped: dict[str, np.ndarray]) -> np.ndarray:
    from spikeforge.models.examples import run_norse

    x = torch.as_tensor(next(iter(shaped.values())), dtype=next(module.parameters()).dtype)
    return run_norse(module, x).numpy()


def output_agreement(
    got: np.ndarray, expected: np.ndarray, tolerance: float = 0.0
) -> tuple[float, float]:
    """Fraction of entries within ``tolerance`` x max|expected| (0: equal), and the RMS error.

    Equality is what matters for spikes; for voltage outputs the error says how far
    off they are (RMS of the difference over the RMS of the source's outputs; the
    absolute RMS when those are all zero).
    """
    got = np.asarray(got, dtype=np.float64).reshape(expected.shape)
    if not expected.size:
        return 1.0, 0.0
    scale = float(np.abs(expected).max()) or 1.0
    fraction = float((np.abs(got - expected) <= tolerance * scale).mean())
    diff = float(np.sqrt(np.mean((got - expected) ** 2)))
    norm = float(np.sqrt(np.mean(expected**2)))
    return fraction, diff / norm if norm > 0 else diff


def _agreement(
    outputs: dict[str, np.ndarray], truth: dict[str, np.ndarray]
) -> tuple[float, bool, float]:
    """:func:`output_agreement` over every output, and whether all entries are equal."""
    got = np.concatenate(
        [np.asarray(outputs[n])[:, : t.shape[1]].reshape(t.shape).ravel() for n, t in truth.items()]
    )
    expected = np.concatenate([np.asarray(t, dtype=np.float64).ravel() for t in truth.values()])
    fraction, error = output_agreement(got, expected)
    return fraction, fraction == 1.0, error


def _source_stage(
    stats: SourceStats,
    outputs: dict[str, np.ndarray],
    truth: dict[str, np.ndarray],
    name: str | None = None,
) -> Stage:
    agreement, exact, error = _agreement(outputs, truth)
    return Stage(
        name=name or stats.label,
        basis=f"CPU wall time; dense ops x {MAC_ENERGY.value * 1e12:.1f} pJ/MAC (conventional)",
        agreement=agreement,
        exact=exact,
        relative_error=error,
        wall_s_per_sample=stats.wall_s_per_sample,
        spikes=stats.spikes,
        synaptic_ops=stats.synaptic_ops,
        energy=Figure(stats.conventional_energy_j, "J", MAC_ENERGY.kind),
        latency=Figure(stats.wall_s_per_sample, "s", "measured"),
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
            counter=counter, show_progress=show_progress,
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
        counter=from_source_time(counter, plan),
    )  # fmt: skip
    cut = RunResult(
        outputs={k: v[:, :steps] for k, v in result.outputs.items()},
        spikes={k: v[:, :steps] for k, v in result.spikes.items()},
        v={k: v[:, :steps] for k, v in result.v.items()},
        steps=steps,
    )
    return counter.result(), cut


def _hardware_run(
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
    return HardwareRun(
        precision=precision,
        backend=backend,
        wall_s=wall,
        placement=placement,
        activity=activity,
        cost=estimate(activity, placement, hardware),
        outputs=result.outputs,
        spikes=result.spikes,
    )
