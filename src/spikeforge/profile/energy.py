"""Energy and latency per inference from counted activity, a placement and a hardware model.

* Energy per inference = dynamic + static. Dynamic is every counted event times its
  energy in the model (synaptic ops, active and inactive neuron updates, spikes out,
  messages, east-west and north-south hops, chip crossings); input spikes come from
  the host, so only their messages and hops are charged. Static is
  ``power.static_per_core`` times the cores in use times the time per inference.
* Latency per step = the slowest core's work (its events times their latencies, the
  synaptic unit and the neuron/output units overlapping, so the busier one counts;
  messages are charged to the sending core) + the longest route's mesh time that
  step + the barrier for the tiles in use. Steps run one after another, so the time
  per inference is their sum, throughput its inverse (one inference at a time), and
  the energy-delay product energy x time.
* Per-step counts are averaged over the batch before taking the slowest core: the
  latency is that of the average sample (exact for a batch of one).

Every figure is labelled with the hardware model's name and the weakest ``kind``
(measured > calibrated > specified > estimated) of the numbers that fed it, so an
estimate cannot pass for a measurement.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from spikeforge.compile.hardware import KINDS, Hardware, Quantity
from spikeforge.compile.placement import Placement
from spikeforge.errors import SpikeforgeError
from spikeforge.profile.counters import CORE_COUNTS, HOPS, INPUT_COUNTS, POPULATION_COUNTS, Activity

#: count -> hardware event it is priced as.
EVENT_OF = {
    "synaptic_ops": "synaptic_op",
    "active_updates": "neuron_update_active",
    "inactive_updates": "neuron_update_inactive",
    "spikes": "spike_out",
    "messages": "message",
    "hops_east_west": "hop_east_west",
    "hops_north_south": "hop_north_south",
    "chip_hops": "chip_hop",
}
#: Counts that keep the core busy (the rest is mesh time), by the unit that does them.
#: A core's units work side by side, as in SANA-FE's calibrated Loihi model: the
#: synaptic unit on arriving spikes, the neuron and output units on updates and sends.
CORE_PIPELINES = (("synaptic_ops",), ("active_updates", "inactive_updates", "spikes", "messages"))
CORE_WORK = tuple(c for pipeline in CORE_PIPELINES for c in pipeline)


@dataclass(frozen=True)
class Energy:
    """Energy per inference: dynamic (counted events) + static (cores in use x time)."""

    total: Quantity
    dynamic: Quantity
    static: Quantity

    def as_dict(self) -> dict[str, object]:
        return {k: q.as_dict() for k, q in vars(self).items()}


@dataclass(frozen=True)
class Latency:
    """Time per inference (steps run one after another), and per step on average and at most."""

    per_inference: Quantity
    per_step_mean: Quantity
    per_step_max: Quantity

    def as_dict(self) -> dict[str, object]:
        return {k: q.as_dict() for k, q in vars(self).items()}


@dataclass(frozen=True)
class StepLatency:
    """Seconds per hardware step and its three terms (module docstring)."""

    total: np.ndarray
    slowest_core: np.ndarray
    mesh: np.ndarray
    barrier: np.ndarray

    def as_dict(self) -> dict[str, list[float]]:
        return {k: v.tolist() for k, v in vars(self).items()}


@dataclass
class CostReport:
    """Energy, latency, throughput and EDP per inference, broken down by population and core."""

    hardware: str
    batch: int
    steps: int
    energy: Energy
    #: hardware event -> joules per inference.
    energy_by_event: dict[str, float]
    latency: Latency
    throughput: Quantity
    edp: Quantity
    step_latency: StepLatency
    populations: dict[str, dict[str, float]]
    inputs: dict[str, dict[str, float]]
    cores: list[dict[str, object]] = field(default_factory=list)

    def as_dict(self, per_step: bool = True) -> dict[str, object]:
        result: dict[str, object] = {
            "hardware": self.hardware,
            "batch": self.batch,
            "steps": self.steps,
            "energy_per_inference": self.energy.as_dict(),
            "dynamic_energy_by_event": dict(self.energy_by_event),
            "latency": self.latency.as_dict(),
            "throughput": self.throughput.as_dict(),
            "energy_delay_product": self.edp.as_dict(),
            "populations": self.populations,
            "inputs": self.inputs,
            "cores": self.cores,
        }
        if per_step:
            result["step_latency_s"] = self.step_latency.as_dict()
        return result


def weakest(kinds: list[str]) -> str:
    """The least trustworthy of ``kinds`` (:data:`KINDS` runs from most to least).

    A figure no number fed (an event that never happened) is called an estimate
    rather than given a trust it did not earn.
    """
    return max(kinds, key=KINDS.index) if kinds else "estimated"


def estimate(activity: Activity, placement: Placement, hardware: Hardware) -> CostReport:
    """Price ``activity`` on ``hardware`` with ``placement`` (model in the module docstring)."""
    if not activity.placed:
        raise SpikeforgeError(
            "the activity was counted without a placement; pass one to ActivityCounter so "
            "that messages, hops and per-core work are known"
        )
    topology = {k: q.value for k, q in hardware.topology.items()}
    placed_on = {k: q.value for k, q in placement.hardware.topology.items()}
    if topology != placed_on:
        raise SpikeforgeError(
            f"the placement was made for {placement.hardware.name} ({placed_on}) but the "
            f"estimate uses {hardware.name} ({topology}); place the plan on the same topology"
        )
    if activity.cores.shape[1] != len(placement.cores):
        raise SpikeforgeError(
            f"the activity was counted on {activity.cores.shape[1]} cores, the placement has "
            f"{len(placement.cores)}; count with this placement"
        )
    batch = activity.batch
    energy_of = np.array([hardware.energy[EVENT_OF[c]].value for c in POPULATION_COUNTS])
    input_energy = np.array(
        [0.0 if c == "spikes" else hardware.energy[EVENT_OF[c]].value for c in INPUT_COUNTS]
    )
    # Time: slowest core + longest route + barrier, per step, for the average sample; a
    # core takes as long as its busiest unit.
    unit_times = [
        activity.cores
        @ np.array(
            [hardware.latency[EVENT_OF[c]].value if c in pipeline else 0.0 for c in CORE_COUNTS]
        )
        / batch
        for pipeline in CORE_PIPELINES
    ]
    core_time = np.maximum.reduce(unit_times)  # [steps, cores]
    hop_latency = np.array([hardware.latency[EVENT_OF[h]].value for h in HOPS])
    mesh = activity.longest_route @ hop_latency
    barrier = np.full(activity.steps, hardware.barrier.at(placement.tiles_used))
    slowest = core_time.max(axis=1) if core_time.size else np.zeros(activity.steps)
    per_step = slowest + mesh + barrier
    time = float(per_step.sum())

    # Energy.
    static_power = hardware.power["static_per_core"].value
    on_cores = sum(t.sum(axis=0) for t in activity.populations.values()) / batch
    from_host = sum((t.sum(axis=0) for t in activity.inputs.values()), np.zeros(len(INPUT_COUNTS)))
    totals = dict(zip(POPULATION_COUNTS, on_cores, strict=True))
    for count, value in zip(INPUT_COUNTS, from_host / batch, strict=True):
        if count != "spikes":  # the host generates input spikes; their routing is charged
            totals[count] += value
    by_event = {EVENT_OF[c]: totals[c] * hardware.energy[EVENT_OF[c]].value for c in totals}
    dynamic = sum(by_event.values())
    static = static_power * len(placement.cores) * time
    cores_of: dict[str, int] = {}
    for core in placement.cores:
        for part in core.slices:
            cores_of[part.population] = cores_of.get(part.population, 0) + 1

    populations = {}
    for name, table in activity.populations.items():
        counts = table.sum(axis=0) / batch
        pop_dynamic = float(counts @ energy_of)
        pop_static = static_power * cores_of.get(name, 0) * time
        populations[name] = {
            "energy_j": pop_dynamic + pop_static,
            "dynamic_j": pop_dynamic,
            "static_j": pop_static,
            "cores": cores_of.get(name, 0),
            **{c: float(v) for c, v in zip(POPULATION_COUNTS, counts, strict=True)},
        }
    inputs = {}
    for name, table in activity.inputs.items():
        counts = table.sum(axis=0) / batch
        inputs[name] = {
            "energy_j": float(counts @ input_energy),
            **{c: float(v) for c, v in zip(INPUT_COUNTS, counts, strict=True)},
        }
    cores = []
    for core, counts_t, busy_t in zip(
        placement.cores, np.moveaxis(activity.cores, 1, 0), core_time.T, strict=True
    ):
        counts = counts_t.sum(axis=0) / batch
        core_dynamic = float(counts @ energy_of)
        cores.append(
            {
                "core": core.index,
                "chip": core.chip,
                "tile": [core.x, core.y],
                "populations": core.populations,
                "energy_j": core_dynamic + static_power * time,
                "dynamic_j": core_dynamic,
                "static_j": static_power * time,
                "busy_s": float(busy_t.sum()),
                "slowest_steps": int((busy_t == slowest).sum()),
                **{c: float(v) for c, v in zip(CORE_COUNTS, counts, strict=True)},
                "utilisation": placement.utilisation(core),
            }
        )

    used_energy = [hardware.energy[EVENT_OF[c]].kind for c in POPULATION_COUNTS if totals[c] > 0]
    used_latency = [hardware.latency[EVENT_OF[c]].kind for c in CORE_WORK if totals[c] > 0]
    used_latency += [hardware.latency[EVENT_OF[h]].kind for h in HOPS if totals[h] > 0]
    used_latency.append(hardware.barrier.kind)
    latency_kind = weakest(used_latency)
    dynamic_kind = weakest(used_energy)
    static_kind = weakest([hardware.power["static_per_core"].kind, latency_kind])
    total_kind = weakest([dynamic_kind, static_kind] if static > 0 else [dynamic_kind])
    source = f"{hardware.name} model on the counted activity"
    return CostReport(
        hardware=hardware.name,
        batch=batch,
        steps=activity.steps,
        energy=Energy(
            total=Quantity(dynamic + static, "J", total_kind, source),
            dynamic=Quantity(dynamic, "J", dynamic_kind, source),
            static=Quantity(static, "J", static_kind, source),
        ),
        energy_by_event=by_event,
        latency=Latency(
            per_inference=Quantity(time, "s", latency_kind, source),
            per_step_mean=Quantity(time / activity.steps, "s", latency_kind, source),
            per_step_max=Quantity(float(per_step.max()), "s", latency_kind, source),
        ),
        throughput=Quantity(1.0 / time if time > 0 else float("inf"), "1/s", latency_kind, source),
        edp=Quantity((dynamic + static) * time, "J*s", weakest([total_kind, latency_kind]), source),
        step_latency=StepLatency(total=per_step, slowest_core=slowest, mesh=mesh, barrier=barrier),
        populations=populations,
        inputs=inputs,
        cores=cores,
    )
