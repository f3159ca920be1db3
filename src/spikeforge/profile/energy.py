"""Energy and latency per inference from counted activity, a placement and a hardware model.

* Energy per inference = dynamic + static. Dynamic is every counted event times its
  energy in the model (synaptic ops, active and inactive neuron updates, spikes out,
  messages, east-west and north-south hops, chip crossings); input spikes come from
  the host, so only their messages and hops are charged. Static is
  ``power.static_per_chip`` times the chips in use times the time per inference (a
  chip leaks whatever runs on it); breakdowns share it out equally over the cores,
  and a core's share over the populations on it by their neurons (a one-neuron helper
  sharing a core pays 1/n of it, not a core's worth).
* Helpers: the bias neuron and pacemakers are spikeforge's, not the source network's
  (:mod:`spikeforge.compile.timing`). Their spikes, messages and synaptic ops are real
  work on the chip as deployed, so they are priced like any population, and reported
  on their own (:class:`HelperCost`) so that a user can see what they cost.
* Latency per step = the slowest core's work (its events times their latencies, the
  synaptic unit and the neuron/output units overlapping, so the busier one counts;
  messages are charged to the sending core) + the longest route's mesh time that
  step + the barrier for the tiles in use. Steps run one after another, so the time
  per inference is their sum, throughput its inverse (one inference at a time), and
  the energy-delay product energy x time.
* Per-step counts are averaged over the batch before taking the slowest core: the
  latency is that of the average sample (exact for a batch of one).

* Range: one measurement cannot tell how its dynamic energy (or step time) splits
  between event kinds, so a model with a ``[calibration]`` section is re-fitted to the
  same measurement under the extreme splits — all of it per synaptic op, all of it
  per neuron update — and the network's figure under each gives the range beside
  the calibrated (Loihi-1-shaped) one. For the calibration network itself the three
  agree by construction; the further a network's mix of ops from it, the wider.

Every figure is labelled with the hardware model's name and the weakest ``kind``
(measured > calibrated > specified > estimated) of the numbers that fed it, so an
estimate cannot pass for a measurement.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from spikeforge.compile.hardware import KINDS, Hardware, Quantity
from spikeforge.compile.lower import LoihiPlan
from spikeforge.compile.placement import Core, Placement
from spikeforge.compile.timing import BIAS_SOURCE, PACEMAKER
from spikeforge.errors import SpikeforgeError
from spikeforge.ir.weights import nonzeros
from spikeforge.profile.counters import (
    CORE_COUNTS,
    HOPS,
    INPUT_COUNTS,
    POPULATION_COUNTS,
    Activity,
    Counts,
)

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
class Range:
    """Low and high of a figure over the splits the calibration cannot tell apart."""

    low: float
    high: float
    unit: str
    #: What each end assumes, e.g. "all per synaptic op".
    basis: str

    def as_dict(self) -> dict[str, object]:
        return dict(vars(self))


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


@dataclass(frozen=True)
class PopulationCost:
    """A population's counts and energy per inference; static energy is its share of its
    cores' (by neurons, with whatever shares them)."""

    counts: Counts
    cores: int
    dynamic_j: float
    static_j: float

    @property
    def energy_j(self) -> float:
        return self.dynamic_j + self.static_j

    def as_dict(self) -> dict[str, object]:
        return {
            "energy_j": self.energy_j,
            "dynamic_j": self.dynamic_j,
            "static_j": self.static_j,
            "cores": self.cores,
            **self.counts.as_dict(),
        }


@dataclass(frozen=True)
class InputCost:
    """An input's counts and the energy of routing its spikes, per inference (the host
    generates them, so no core and no static energy are charged)."""

    counts: Counts
    energy_j: float

    @property
    def dynamic_j(self) -> float:
        return self.energy_j

    @property
    def static_j(self) -> float:
        return 0.0

    def as_dict(self) -> dict[str, object]:
        return {"energy_j": self.energy_j, **self.counts.as_dict(INPUT_COUNTS)}


@dataclass(frozen=True)
class CoreCost:
    """One core in use: the counts of the neurons on it, its energy and time per inference."""

    core: Core
    counts: Counts
    dynamic_j: float
    static_j: float
    #: Seconds its busiest unit works per inference.
    busy_s: float
    #: Steps on which it is the slowest core (it sets the step's latency).
    slowest_steps: int
    utilisation: dict[str, float]

    @property
    def energy_j(self) -> float:
        return self.dynamic_j + self.static_j

    def as_dict(self) -> dict[str, object]:
        return {
            "core": self.core.index,
            "chip": self.core.chip,
            "tile": [self.core.x, self.core.y],
            "populations": self.core.populations,
            "energy_j": self.energy_j,
            "dynamic_j": self.dynamic_j,
            "static_j": self.static_j,
            "busy_s": self.busy_s,
            "slowest_steps": self.slowest_steps,
            **self.counts.as_dict(CORE_COUNTS),
            "utilisation": self.utilisation,
        }


@dataclass(frozen=True)
class HelperCost:
    """What one helper population (bias neuron or pacemaker) costs per inference.

    ``own_j`` is its own events (spikes, updates, messages, hops); ``synaptic_ops`` and
    ``synaptic_j`` the ops its spikes cause in the populations it feeds (counted in their
    rows too, so helpers are not added to the total again); ``static_j`` its share of
    its cores' static energy (by neurons).
    """

    name: str
    #: "bias neuron" or "pacemaker".
    role: str
    own_j: float
    synaptic_ops: float
    synaptic_j: float
    static_j: float
    #: Cores holding only this helper, and cores it shares with other populations.
    own_cores: int
    shared_cores: int

    @property
    def energy_j(self) -> float:
        return self.own_j + self.synaptic_j + self.static_j

    def as_dict(self) -> dict[str, object]:
        return {**vars(self), "energy_j": self.energy_j}


def helper_role(name: str) -> str | None:
    """The helper's role ("bias neuron", "pacemaker"), or None for a source population."""
    if name == BIAS_SOURCE:
        return "bias neuron"
    return "pacemaker" if name.startswith(PACEMAKER) else None


def helper_costs(cost: CostReport, plan: LoihiPlan, hardware: Hardware) -> dict[str, HelperCost]:
    """Every helper population's cost (:class:`HelperCost`), in placement order.

    A helper fires one neuron per step (the bias neuron, or a pacemaker's always-on
    channel), so the synaptic ops it causes are its spikes times that neuron's stored
    fan-out, summed over its routes (weight planes included).
    """
    result = {}
    for name, row in cost.populations.items():
        role = helper_role(name)
        if role is None:
            continue
        fanout = sum(
            nonzeros(weights)
            for syn in plan.synapses
            for pre, weights in syn.routes()
            if pre == name
        )
        ops = row.counts.spikes * fanout
        holding = [c.core for c in cost.cores if name in c.core.populations]
        own = sum(len(core.slices) == 1 for core in holding)
        result[name] = HelperCost(
            name=name,
            role=role,
            own_j=row.dynamic_j,
            synaptic_ops=ops,
            synaptic_j=ops * hardware.energy["synaptic_op"].value,
            static_j=row.static_j,
            own_cores=own,
            shared_cores=len(holding) - own,
        )
    return result


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
    populations: dict[str, PopulationCost]
    inputs: dict[str, InputCost]
    cores: list[CoreCost] = field(default_factory=list)
    #: Dynamic energy and time per inference over the calibration's splits (module
    #: docstring); None when the hardware model has no calibration.
    dynamic_range: Range | None = None
    latency_range: Range | None = None

    @property
    def dominant_event(self) -> str:
        """The event that costs the most dynamic energy."""
        return max(self.energy_by_event, key=self.energy_by_event.get)

    def totals(self) -> Counts:
        """Every count per inference over the whole network: the populations' (bias
        neuron and pacemakers included), plus the messages and hops of the inputs."""
        rows = [p.counts for p in self.populations.values()]
        rows += [i.counts for i in self.inputs.values()]
        return Counts(
            **{
                c: sum(getattr(r, c) for r in rows)
                if c != "spikes"
                else sum(p.counts.spikes for p in self.populations.values())
                for c in POPULATION_COUNTS
            }
        )

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
            "populations": {n: p.as_dict() for n, p in self.populations.items()},
            "inputs": {n: i.as_dict() for n, i in self.inputs.items()},
            "cores": [c.as_dict() for c in self.cores],
            "dominant_event": self.dominant_event,
            "dynamic_energy_range": self.dynamic_range and self.dynamic_range.as_dict(),
            "latency_range": self.latency_range and self.latency_range.as_dict(),
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
    counted_on = activity.cores.spikes.shape[1]
    if counted_on != len(placement.cores):
        raise SpikeforgeError(
            f"the activity was counted on {counted_on} cores, the placement has "
            f"{len(placement.cores)}; count with this placement"
        )
    batch = activity.batch

    def energy(count: str) -> float:
        return hardware.energy[EVENT_OF[count]].value

    def latency(count: str) -> float:
        return hardware.latency[EVENT_OF[count]].value

    def dynamic(counts: Counts, columns: tuple[str, ...]) -> float:
        return float(sum(getattr(counts, c) * energy(c) for c in columns))

    # Time: slowest core + longest route + barrier, per step, for the average sample; a
    # core takes as long as its busiest unit.
    unit_times = [
        sum((getattr(activity.cores, c) * latency(c) for c in pipeline), 0.0) / batch
        for pipeline in CORE_PIPELINES
    ]
    core_time = np.maximum.reduce(unit_times)  # [steps, cores]
    mesh = sum((getattr(activity.longest_route, h) * latency(h) for h in HOPS), 0.0)
    mesh = np.broadcast_to(mesh, (activity.steps,)).astype(float)
    barrier = np.full(activity.steps, hardware.barrier.at(placement.tiles_used))
    slowest = core_time.max(axis=1) if core_time.size else np.zeros(activity.steps)
    per_step = slowest + mesh + barrier
    time = float(per_step.sum())

    # Energy; the host generates input spikes, so only their routing is charged.
    static_power = hardware.power["static_per_chip"].value * placement.chips_used
    per_core_static = static_power / max(len(placement.cores), 1)
    routed = tuple(c for c in INPUT_COUNTS if c != "spikes")
    per_population = {name: activity.per_inference(name) for name in activity.populations}
    per_input = {name: activity.per_inference(name) for name in activity.inputs}
    totals = {
        c: sum(getattr(p, c) for p in per_population.values())
        + (sum(getattr(i, c) for i in per_input.values()) if c in routed else 0.0)
        for c in POPULATION_COUNTS
    }
    by_event = {EVENT_OF[c]: totals[c] * energy(c) for c in POPULATION_COUNTS}
    dynamic_total = sum(by_event.values())
    static = static_power * time
    cores_of: dict[str, int] = {}
    static_of: dict[str, float] = {}
    for core in placement.cores:
        neurons = max(sum(part.size for part in core.slices), 1)
        for part in core.slices:
            cores_of[part.population] = cores_of.get(part.population, 0) + 1
            share = per_core_static * time * part.size / neurons
            static_of[part.population] = static_of.get(part.population, 0.0) + share

    populations = {
        name: PopulationCost(
            counts=counts,
            cores=cores_of.get(name, 0),
            dynamic_j=dynamic(counts, POPULATION_COUNTS),
            static_j=static_of.get(name, 0.0),
        )
        for name, counts in per_population.items()
    }
    inputs = {
        name: InputCost(counts=counts, energy_j=dynamic(counts, routed))
        for name, counts in per_input.items()
    }
    cores = []
    for k, (core, busy_t) in enumerate(zip(placement.cores, core_time.T, strict=True)):
        counts = activity.cores.map(lambda steps, k=k: float(steps[:, k].sum()) / batch)
        cores.append(
            CoreCost(
                core=core,
                counts=counts,
                dynamic_j=dynamic(counts, CORE_COUNTS),
                static_j=per_core_static * time,
                busy_s=float(busy_t.sum()),
                slowest_steps=int((busy_t == slowest).sum()),
                utilisation=placement.utilisation(core),
            )
        )

    used_energy = [hardware.energy[EVENT_OF[c]].kind for c in POPULATION_COUNTS if totals[c] > 0]
    used_latency = [hardware.latency[EVENT_OF[c]].kind for c in CORE_WORK if totals[c] > 0]
    used_latency += [hardware.latency[EVENT_OF[h]].kind for h in HOPS if totals[h] > 0]
    used_latency.append(hardware.barrier.kind)
    latency_kind = weakest(used_latency)
    dynamic_kind = weakest(used_energy)
    static_kind = weakest([hardware.power["static_per_chip"].kind, latency_kind])
    total_kind = weakest([dynamic_kind, static_kind] if static > 0 else [dynamic_kind])
    source = f"{hardware.name} model on the counted activity"
    return CostReport(
        hardware=hardware.name,
        batch=batch,
        steps=activity.steps,
        energy=Energy(
            total=Quantity(dynamic_total + static, "J", total_kind, source),
            dynamic=Quantity(dynamic_total, "J", dynamic_kind, source),
            static=Quantity(static, "J", static_kind, source),
        ),
        energy_by_event=by_event,
        latency=Latency(
            per_inference=Quantity(time, "s", latency_kind, source),
            per_step_mean=Quantity(time / activity.steps, "s", latency_kind, source),
            per_step_max=Quantity(float(per_step.max()), "s", latency_kind, source),
        ),
        throughput=Quantity(1.0 / time if time > 0 else float("inf"), "1/s", latency_kind, source),
        edp=Quantity(
            (dynamic_total + static) * time, "J*s", weakest([total_kind, latency_kind]), source
        ),
        step_latency=StepLatency(total=per_step, slowest_core=slowest, mesh=mesh, barrier=barrier),
        populations=populations,
        inputs=inputs,
        cores=cores,
        dynamic_range=_dynamic_range(totals, hardware, dynamic_total),
        latency_range=_latency_range(activity, hardware, time, per_step - slowest),
    )


def _dynamic_range(totals: dict[str, float], hardware: Hardware, calibrated: float) -> Range | None:
    """Dynamic energy if the calibration's measured dynamic energy were all per synaptic
    op, or all per neuron update (module docstring), with the calibrated figure."""
    cal = hardware.calibration
    if not cal:
        return None
    measured = cal["dynamic_energy"].value
    updates = totals["active_updates"] + totals["inactive_updates"]
    ends = [
        calibrated,
        totals["synaptic_ops"] * measured / cal["synaptic_ops"].value,
        updates * measured / cal["neuron_updates"].value,
    ]
    return Range(min(ends), max(ends), "J", "all per synaptic op .. all per neuron update")


def _latency_range(
    activity: Activity, hardware: Hardware, calibrated: float, overhead: np.ndarray
) -> Range | None:
    """Time per inference if the calibration's busiest-core step time were all synaptic
    ops, or all neuron updates, with the calibrated figure; mesh and barrier as modelled
    for this network (and taken out of the measured step time as this network's)."""
    cal = hardware.calibration
    if not cal:
        return None
    budget = cal["step_time"].value
    cores = activity.cores
    ops = cores.synaptic_ops / activity.batch
    updates = (cores.active_updates + cores.inactive_updates) / activity.batch
    ends = [calibrated]
    for counts, anchor in ((ops, "busiest_synaptic_ops"), (updates, "busiest_updates")):
        per_event = max(budget - float(overhead.mean()), 0.0) / cal[anchor].value
        ends.append(float((counts.max(axis=1) * per_event + overhead).sum()))
    return Range(min(ends), max(ends), "s", "all per synaptic op .. all per neuron update")
