"""Side-by-side check of spikeforge's energy/latency estimate against SANA-FE's Loihi model.

For every network available (the spine's example networks and every zoo model with a
shipped checkpoint) the fixed-point plan is placed by spikeforge on
``loihi1_sanafe.toml`` and run twice, on the same input spikes, for the same number of
hardware steps:

* **spikeforge**: a bit-exact Loihi backend (``--backend``) runs the plan, an
  :class:`~spikeforge.profile.counters.ActivityCounter` counts it and
  :func:`~spikeforge.profile.energy.estimate` prices it;
* **SANA-FE** (``pip install -e '.[bench]'``; its calibrated architecture,
  ``sanafe.load_loihi()``) runs the same neurons (its Loihi LIF with the plan's
  fixed-point decays, thresholds and biases, in units of 64 so that its 1/64 potential
  quantisation is Lava's integer one), the same non-zero synapses (every weight plane,
  ``mantissa << exponent``), on the same cores (each spikeforge core becomes the SANA-FE
  core on the same tile and slot, so routes have the same hops), the bias neuron as an
  always-firing LIF on its own core, and the inputs as SANA-FE input neurons on tile
  (0, 0), where spikeforge's host port is.

Printed: energy per inference and time per step from both and their ratio; the same
ratio with spikeforge's estimate computed on SANA-FE's own spikes (which separates the
cost models from the neuron models); spike counts from both; and per network, a
breakdown by SANA-FE's categories (synapse, soma, network, time) with the counts behind
each. What SANA-FE cannot represent exactly is listed per network (dropped synaptic
delays, non-zero initial voltages). One difference is not listed because it has not
changed a spike here: SANA-FE keeps the synaptic current's fractional part where Lava
truncates it to an integer each step. ``python scripts/bench_sanafe.py --help``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from types import ModuleType

import numpy as np

from spikeforge.atomic import atomic_path
from spikeforge.compile.compiled import CompiledNet
from spikeforge.compile.lower import LoihiPlan
from spikeforge.compile.placement import Placement, place
from spikeforge.compile.timing import BIAS_SOURCE
from spikeforge.errors import SpikeforgeError
from spikeforge.models import examples, zoo
from spikeforge.models.examples import EXAMPLES
from spikeforge.models.stages import CALIBRATION_SAMPLES, export_and_compile
from spikeforge.models.zoo import ModelCard
from spikeforge.profile.counters import (
    CORE_COUNTS,
    INPUT_COUNTS,
    Activity,
    ActivityCounter,
    count_activity,
)
from spikeforge.profile.energy import EVENT_OF, CostReport, estimate
from spikeforge.profile.hardware import Hardware, load_hardware
from spikeforge.runtimes import run

HARDWARE = "loihi1_sanafe"
#: Example networks get Bernoulli input spikes at this rate per input and step.
INPUT_RATE = 0.2
DEFAULT_STEPS = 50
SEED = 0
#: Lava's fixed-point LIF compares ``v > vth << 6`` and adds ``a_in << 6`` to ``u``;
#: SANA-FE's Loihi LIF truncates its potential to multiples of 1/64. Lava's state
#: divided by 64 lies on the same grid, so thresholds and weights carry over as they are.
ACT_SHIFT = 6
#: SANA-FE's loihi.yaml: tiles numbered column by column on a mesh 4 tiles high, 4 cores
#: per tile, at most 1024 neurons per core (input neurons included, each needing its
#: own input unit ``loihi_inputs[k]``).
SANAFE_TILES_Y = 4
SANAFE_CORES_PER_TILE = 4
SANAFE_NEURONS_PER_CORE = 1024
#: spikeforge's hardware events grouped as SANA-FE reports its energy.
CATEGORIES = {
    "synapse": ("synaptic_op",),
    "soma": ("neuron_update_active", "neuron_update_inactive", "spike_out"),
    "network": ("message", "hop_east_west", "hop_north_south", "chip_hop"),
}
#: A core's work on incoming spikes; the rest of ``CORE_WORK`` is its neurons' own work.
RECEIVE_WORK = ("synaptic_ops",)
SEND_WORK = ("active_updates", "inactive_updates", "spikes", "messages")


@dataclass
class Bench:
    """One network: its compiled form and input spikes ``[batch, time, *shape]``."""

    name: str
    compiled: CompiledNet
    inputs: np.ndarray

    @property
    def plan(self) -> LoihiPlan:
        return self.compiled.fixed_plan

    def input_rasters(self, steps: int) -> dict[str, np.ndarray]:
        """The input's spikes ``[batch, steps, n]``, silent after the data ends."""
        (name,) = self.plan.inputs
        flat = self.inputs.reshape(*self.inputs.shape[:2], -1)
        padded = np.zeros((flat.shape[0], steps, flat.shape[2]))
        padded[:, : flat.shape[1]] = flat
        return {name: padded}


@dataclass
class SanafeRun:
    """SANA-FE's figures summed over the samples, and each population's raster."""

    samples: int
    steps: int
    energy: dict[str, float]
    sim_time: float
    sim_time_simple: float
    counts: dict[str, int]
    rasters: dict[str, np.ndarray]
    tiles: int


@dataclass
class Result:
    """Everything printed (and written to JSON) for one network."""

    name: str
    samples: int
    steps: int
    cores: int
    tiles: int
    sanafe: SanafeRun
    spikeforge: CostReport
    on_sanafe_spikes: CostReport
    overlapped_work: float
    spikes: dict[str, int]
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- networks


def example_bench(name: str, steps: int, samples: int, weight_planes: int) -> Bench:
    """An example network deployed as a zoo model is: through a NIR file, calibrated on
    inputs of its own kind (:func:`spikeforge.models.stages.export_and_compile`)."""
    factory, shape = EXAMPLES[name]
    card = ModelCard(
        name=name,
        paper="spikeforge example network",
        description=(factory.__doc__ or name).splitlines()[0],
        metric="none",
        higher_is_better=True,
        dt=examples.DT,
        input_shape=shape,
    )
    rng = np.random.default_rng(SEED)
    calibration = (rng.random((CALIBRATION_SAMPLES, steps, *shape)) < INPUT_RATE).astype(float)
    inputs = (rng.random((samples, steps, *shape)) < INPUT_RATE).astype(np.float64)
    module = factory().double().eval()
    return Bench(name, export_and_compile(module, card, calibration, weight_planes), inputs)


def zoo_bench(name: str, steps: int | None, samples: int, weight_planes: int) -> Bench:
    """A zoo model as its evaluation deploys it: calibrated on training data, run on test data."""
    model = zoo.get(name)
    calibration = model.make_data("train", CALIBRATION_SAMPLES, seed=SEED).inputs
    module = zoo.load_trained(name).double().eval()
    compiled = export_and_compile(module, model.CARD, calibration, weight_planes)
    test = model.make_data("test", samples, seed=SEED).inputs
    return Bench(name, compiled, test[:, :steps] if steps else test)


def available_networks() -> tuple[list[str], dict[str, str]]:
    """Names that can run, and why each other zoo model cannot."""
    names = list(EXAMPLES)
    skipped = {}
    for name in zoo.ZOO:
        try:
            zoo.get(name)
        except ImportError as exc:
            skipped[name] = f"zoo module not importable ({exc})"
            continue
        if not zoo.checkpoint_path(name).is_file():
            skipped[name] = f"no trained checkpoint at {zoo.checkpoint_path(name)}"
            continue
        names.append(name)
    return names, skipped


# ---------------------------------------------------------------- SANA-FE


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence SANA-FE's C++ progress lines, written straight to file descriptors 1 and 2."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (null, *saved):
            os.close(fd)


def sanafe_core(placement: Placement, index: int) -> int:
    """The SANA-FE core on the same tile and slot as spikeforge's core ``index``."""
    core = placement.cores[index]
    return (core.x * SANAFE_TILES_Y + core.y) * SANAFE_CORES_PER_TILE + core.slot


def input_cores(placement: Placement, n_inputs: int) -> list[int]:
    """A SANA-FE core for each input neuron, as close to spikeforge's host port as possible.

    spikeforge's inputs enter at tile (0, 0) and use no core; SANA-FE's input neurons
    need one. Free slots of tile (0, 0) come first (same routes, no extra tile), then
    cores of tile (0, 0) with room, then the free cores nearest to it.
    """
    used: dict[int, int] = {}
    for core in placement.cores:
        used[sanafe_core(placement, core.index)] = sum(s.size for s in core.slices)
    tile0 = range(SANAFE_CORES_PER_TILE)
    nearest = sorted(
        (c for c in range(placement.hardware.cores_per_chip) if c not in used and c not in tile0),
        key=lambda c: sum(divmod(c // SANAFE_CORES_PER_TILE, SANAFE_TILES_Y)),
    )
    cores: list[int] = []
    for core in [c for c in tile0 if c not in used] + [c for c in tile0 if c in used] + nearest:
        room = SANAFE_NEURONS_PER_CORE - used.get(core, 0)
        cores += [core] * max(0, min(room, n_inputs - len(cores)))
        if len(cores) == n_inputs:
            return cores
    raise SpikeforgeError(f"SANA-FE's Loihi chip has no room for {n_inputs} input neurons")


def lif_attributes(plan: LoihiPlan, name: str) -> dict[str, float | str]:
    """Lava's fixed-point LIF in SANA-FE's terms (hard reset to 0, as Lava's)."""
    pop = plan.populations[name]
    return {
        "threshold": float(pop.vth),
        "reset": 0.0,
        "reset_mode": "hard",
        "leak_decay": (4096 - pop.dv) / 4096,
        "input_decay": (4096 - (pop.du + 1)) / 4096,
    }


def build_network(
    plan: LoihiPlan, placement: Placement, sanafe: ModuleType
) -> tuple[object, dict[str, object], list[str]]:
    """The plan as a mapped SANA-FE network: the network, its groups, and what differs."""
    arch_cores = sanafe.load_loihi().cores()
    net = sanafe.Network()
    groups: dict[str, object] = {}
    notes: list[str] = []
    io = iter(input_cores(placement, sum(plan.inputs.values())))
    units: dict[int, int] = {}
    for k, (name, size) in enumerate(plan.inputs.items()):
        groups[name] = net.create_neuron_group(f"in{k}", size)
        for neuron in groups[name]:
            core = next(io)
            units[core] = units.get(core, -1) + 1
            neuron.set_attributes(soma_hw_name=f"loihi_inputs[{units[core]}]")
            neuron.map_to_core(arch_cores[core])
    if plan.uses_bias_source:
        # Lava's bias neuron: a LIF whose bias exceeds its threshold fires on every step.
        groups[BIAS_SOURCE] = net.create_neuron_group(
            "bias", 1, {"threshold": 0.0, "bias": 2.0**-ACT_SHIFT, "input_decay": 0.0}
        )
    for k, (name, pop) in enumerate(plan.populations.items()):
        groups[name] = net.create_neuron_group(
            f"p{k}", pop.size, lif_attributes(plan, name), log_spikes=True
        )
        bias = np.asarray(pop.bias_mant, float) * 2.0 ** np.asarray(pop.bias_exp, float)
        for i in np.flatnonzero(bias):
            groups[name][int(i)].set_attributes(
                model_attributes={"bias": float(bias[i]) / 2**ACT_SHIFT}
            )
        if np.any(pop.v_init):
            notes.append(
                f"'{name}': {int(np.count_nonzero(pop.v_init))} neurons start at v != 0; "
                "SANA-FE's LIF starts at 0"
            )
    for name, cores in placement.neuron_core.items():
        for i, index in enumerate(cores):
            groups[name][i].map_to_core(arch_cores[sanafe_core(placement, int(index))])
    delayed: dict[tuple[str, str], int] = {}
    for syn in plan.synapses:
        weights = syn.weights.astype(np.float64) * 2.0**syn.weight_exp
        post, pre = np.nonzero(weights)
        groups[syn.pre].connect_neurons_sparse(
            groups[syn.post],
            {"weight": weights[post, pre].tolist()},
            list(zip(pre.tolist(), post.tolist(), strict=True)),
        )
        if syn.extra_delay:
            delayed[(syn.pre, syn.post)] = syn.extra_delay
    for (pre, post), delay in delayed.items():
        notes.append(
            f"synapses {pre} -> {post}: extra delay of {delay} step(s) dropped (SANA-FE "
            "2.2.9's delay dendrite adds a step to every synapse of the neuron and releases "
            "a delayed charge only when another message arrives); delays cost nothing in "
            f"either model, but spikes of '{post}' may come earlier"
        )
    return net, groups, notes


def run_sanafe(bench: Bench, placement: Placement, steps: int) -> tuple[SanafeRun, list[str]]:
    """Every sample on a freshly loaded chip (SANA-FE's ``reset`` keeps its clock running)."""
    import sanafe

    plan = bench.plan
    with quiet():
        arch = sanafe.load_loihi()
        net, groups, notes = build_network(plan, placement, sanafe)
    inputs = bench.input_rasters(steps)
    samples = bench.inputs.shape[0]
    energy = dict.fromkeys(("total", "synapse", "soma", "network"), 0.0)
    totals = dict.fromkeys(("sim_time", "spikes", "neurons_updated", "neurons_fired"), 0.0)
    totals.update(packets_sent=0.0, hops=0.0, sim_time_simple=0.0)
    rasters = {n: np.zeros((samples, steps, p.size)) for n, p in plan.populations.items()}
    population_of = {f"p{k}": name for k, name in enumerate(plan.populations)}
    for b in range(samples):
        for name, raster in inputs.items():
            for i, neuron in enumerate(groups[name]):
                neuron.set_attributes(model_attributes={"spikes": (raster[b, :, i] > 0).tolist()})
        with quiet():
            chip = sanafe.SpikingChip(arch)
            chip.load(net)
            result = chip.sim(steps, spike_trace=True, perf_trace=True)
            chip = sanafe.SpikingChip(arch)
            chip.load(net)
            totals["sim_time_simple"] += chip.sim(steps, timing_model="simple")["sim_time"]
        for key in energy:
            energy[key] += result["energy"][key]
        for key in ("sim_time", "spikes", "neurons_updated", "neurons_fired", "packets_sent"):
            totals[key] += result[key]
        totals["hops"] += sum(result["perf_trace"]["hops"])
        for t, fired in enumerate(result["spike_trace"]):
            for address in fired:
                rasters[population_of[address.group_name]][b, t, address.neuron_offset] = 1
    # SANA-FE's input unit counts each input spike as a neuron updated and fired (at no
    # soma energy): leave those out so the counts are the LIF neurons' own.
    input_spikes = int(sum(r.sum() for r in inputs.values()))
    mapped = {sanafe_core(placement, c.index) for c in placement.cores}
    mapped |= set(input_cores(placement, sum(plan.inputs.values())))
    counts = {
        "synaptic_ops": int(totals["spikes"]),
        "active_updates": int(totals["neurons_updated"]) - input_spikes,
        "spikes": int(totals["neurons_fired"]) - input_spikes,
        "messages": int(totals["packets_sent"]),
        "hops": int(totals["hops"]),
    }
    tiles = len({core // SANAFE_CORES_PER_TILE for core in mapped})
    return (
        SanafeRun(
            samples,
            steps,
            energy,
            totals["sim_time"],
            totals["sim_time_simple"],
            counts,
            rasters,
            tiles,
        ),
        notes,
    )


# ---------------------------------------------------------------- spikeforge


def run_spikeforge(
    bench: Bench, placement: Placement, backend: str
) -> tuple[CostReport, dict[str, np.ndarray], int]:
    """Run the fixed plan, counting live; the estimate, raw rasters and hardware steps."""
    plan = bench.plan
    spiking = [n for n, p in plan.populations.items() if p.spiking]
    counter = ActivityCounter(plan, placement)
    result = run(
        bench.compiled,
        bench.inputs,
        backend=backend,
        precision="fixed",
        record=spiking,
        raw_timing=True,
        counter=counter,
    )
    batch = bench.inputs.shape[0]
    rasters = {
        name: result.spikes[name].reshape(batch, result.steps, -1)
        if name in spiking
        else np.zeros((batch, result.steps, pop.size))
        for name, pop in plan.populations.items()
    }
    return estimate(counter.result(), placement, placement.hardware), rasters, result.steps


def count_on(bench: Bench, placement: Placement, rasters: dict[str, np.ndarray]) -> Activity:
    """spikeforge's counts of the activity in ``rasters`` (here: SANA-FE's spikes)."""
    steps = next(iter(rasters.values())).shape[1]
    sources = bench.input_rasters(steps)
    sources.update({n: r for n, r in rasters.items() if bench.plan.populations[n].spiking})
    return count_activity(bench.plan, sources, placement)


def overlapped_work(activity: Activity, report: CostReport, hardware: Hardware) -> float:
    """Mean time per step without the barrier if each core's work on incoming spikes
    (synaptic ops) ran alongside its neurons' own work (updates, spikes, messages out),
    as SANA-FE schedules it, instead of after it as spikeforge does; and if the host
    port, which sends the input spikes' messages, were timed like a core, as SANA-FE's
    input neurons are."""

    def busy(counts: tuple[str, ...]) -> np.ndarray:
        latency = np.array(
            [hardware.latency[EVENT_OF[c]].value if c in counts else 0.0 for c in CORE_COUNTS]
        )
        return activity.cores @ latency / activity.batch

    sent = INPUT_COUNTS.index("messages")
    host = sum(table[:, sent] for table in activity.inputs.values()) / activity.batch
    host_time = host * hardware.latency["message"].value
    slowest = np.maximum(np.maximum(busy(RECEIVE_WORK), busy(SEND_WORK)).max(axis=1), host_time)
    return float((slowest + report.step_latency.mesh).mean())


# ---------------------------------------------------------------- comparison


def compare(bench: Bench, hardware: Hardware, backend: str) -> Result:
    if len(bench.plan.inputs) != 1:
        raise SpikeforgeError(
            f"{bench.name} has inputs {sorted(bench.plan.inputs)}; the benchmark feeds one"
        )
    placement = place(bench.plan, hardware)
    if placement.chips_used > 1:
        raise SpikeforgeError(
            f"{bench.name} needs {placement.chips_used} chips; SANA-FE's Loihi model is one chip"
        )
    ours, our_rasters, steps = run_spikeforge(bench, placement, backend)
    theirs, notes = run_sanafe(bench, placement, steps)
    if theirs.tiles != placement.tiles_used:
        notes.append(
            f"SANA-FE uses {theirs.tiles} tiles (its input neurons need a core), spikeforge "
            f"{placement.tiles_used}: their barriers differ"
        )
    activity = count_on(bench, placement, theirs.rasters)
    on_theirs = estimate(activity, placement, hardware)
    spiking = [n for n, p in bench.plan.populations.items() if p.spiking]
    return Result(
        name=bench.name,
        samples=bench.inputs.shape[0],
        steps=steps,
        cores=len(placement.cores),
        tiles=placement.tiles_used,
        sanafe=theirs,
        spikeforge=ours,
        on_sanafe_spikes=on_theirs,
        overlapped_work=overlapped_work(activity, on_theirs, hardware),
        spikes={
            "sanafe": int(sum(theirs.rasters[n].sum() for n in spiking)),
            "spikeforge": int(sum(our_rasters[n].sum() for n in spiking)),
            "raster_entries_differing": int(
                sum((our_rasters[n] != theirs.rasters[n]).sum() for n in spiking)
            ),
        },
        notes=notes,
    )


def spikeforge_figures(report: CostReport) -> dict[str, float]:
    """Per inference: energy (J) by SANA-FE's categories, time per step (s), counts."""
    tables = [*report.populations.values(), *report.inputs.values()]
    hops = ("hops_east_west", "hops_north_south", "chip_hops")
    return {
        "energy": report.energy.total.value,
        **{k: sum(report.energy_by_event[e] for e in ev) for k, ev in CATEGORIES.items()},
        "time_per_step": report.latency.per_step_mean.value,
        "work": float((report.step_latency.slowest_core + report.step_latency.mesh).mean()),
        "barrier": float(report.step_latency.barrier.mean()),
        "synaptic_ops": sum(p["synaptic_ops"] for p in report.populations.values()),
        "active_updates": sum(p["active_updates"] for p in report.populations.values()),
        "spikes": sum(p["spikes"] for p in report.populations.values()),
        "messages": sum(t["messages"] for t in tables),
        "hops": sum(t[h] for t in tables for h in hops),
    }


def sanafe_figures(run_: SanafeRun, hardware: Hardware) -> dict[str, float]:
    """The same figures from SANA-FE's totals; its sync is the table entry for its tiles."""
    n = run_.samples
    per_step = run_.sim_time / (n * run_.steps)
    sync = hardware.barrier.at(run_.tiles)
    return {
        "energy": run_.energy["total"] / n,
        **{k: run_.energy[k] / n for k in CATEGORIES},
        "time_per_step": per_step,
        "work": per_step - sync,
        "work_overlapped": run_.sim_time_simple / (n * run_.steps) - sync,
        "barrier": sync,
        **{k: v / n for k, v in run_.counts.items()},
    }


def figures(r: Result, hardware: Hardware) -> dict[str, dict[str, float]]:
    on_theirs = spikeforge_figures(r.on_sanafe_spikes)
    on_theirs["work_overlapped"] = r.overlapped_work
    return {
        "sanafe": sanafe_figures(r.sanafe, hardware),
        "spikeforge": spikeforge_figures(r.spikeforge),
        "spikeforge_on_sanafe_spikes": on_theirs,
    }


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.3f}" if b else "-"


def print_tables(results: list[Result], hardware: Hardware, header: str) -> None:
    print(header)
    print(
        f"\n{'network':<20} {'samples x steps':>15} {'cores':>5} {'tiles':>5} | "
        f"{'energy/inference uJ':^35} | {'time/step us':^35}"
    )
    print(
        f"{'':<20} {'':>15} {'':>5} {'':>5} | {'SANA-FE':>9} {'spikeforge':>10} "
        f"{'ratio':>6} {'ratio*':>7} | {'SANA-FE':>9} {'spikeforge':>10} {'ratio':>6} {'ratio*':>7}"
    )
    for r in results:
        f = figures(r, hardware)
        s, o, b = f["sanafe"], f["spikeforge"], f["spikeforge_on_sanafe_spikes"]
        print(
            f"{r.name:<20} {f'{r.samples} x {r.steps}':>15} {r.cores:>5} {r.tiles:>5} | "
            f"{s['energy'] * 1e6:>9.4f} {o['energy'] * 1e6:>10.4f} "
            f"{_ratio(o['energy'], s['energy']):>6} {_ratio(b['energy'], s['energy']):>7} | "
            f"{s['time_per_step'] * 1e6:>9.4f} {o['time_per_step'] * 1e6:>10.4f} "
            f"{_ratio(o['time_per_step'], s['time_per_step']):>6} "
            f"{_ratio(b['time_per_step'], s['time_per_step']):>7}"
        )
    print("ratio = spikeforge / SANA-FE; ratio* = spikeforge's estimate of SANA-FE's own spikes")
    print(
        "[1] in the breakdowns: SANA-FE's simple timing model (per core, the larger of its "
        "neurons' work and its incoming messages' work), and spikeforge's estimate with each "
        "core's synaptic ops overlapped with its neuron updates, spikes and messages out "
        "instead of added to them, and the host port's input messages timed like a core's"
    )
    print(f"\n{'network':<20} {'spikes: SANA-FE':>16} {'spikeforge':>11} {'raster diffs':>13}")
    for r in results:
        s = r.spikes
        print(
            f"{r.name:<20} {s['sanafe']:>16} {s['spikeforge']:>11} "
            f"{s['raster_entries_differing']:>13}"
        )
    for r in results:
        print_breakdown(r, figures(r, hardware))


def print_breakdown(r: Result, f: dict[str, dict[str, float]]) -> None:
    """Per category, both models on the same (SANA-FE's) spikes: where the totals part."""
    s, b = f["sanafe"], f["spikeforge_on_sanafe_spikes"]
    print(f"\n{r.name}: per inference, both models on SANA-FE's spikes")
    print(f"  {'':<52} {'SANA-FE':>11} {'spikeforge':>11} {'ratio':>6}")
    rows = [
        ("energy: synapse nJ", "synapse", 1e9),
        ("energy: soma nJ", "soma", 1e9),
        ("energy: network nJ", "network", 1e9),
        ("synaptic events", "synaptic_ops", 1),
        ("neuron updates (active)", "active_updates", 1),
        ("spikes (with the bias neuron's)", "spikes", 1),
        ("messages", "messages", 1),
        ("mesh hops", "hops", 1),
        ("time/step: barrier us", "barrier", 1e6),
        ("time/step: work us (SANA-FE's detailed model)", "work", 1e6),
        ("time/step: work us, per core max(in, out) [1]", "work_overlapped", 1e6),
    ]
    for label, key, scale in rows:
        print(
            f"  {label:<52} {s[key] * scale:>11.4f} {b[key] * scale:>11.4f} "
            f"{_ratio(b[key], s[key]):>6}"
        )
    for note in r.notes:
        print(f"  note: {note}")


def as_json(r: Result, hardware: Hardware) -> dict[str, object]:
    return {
        "network": r.name,
        "samples": r.samples,
        "hardware_steps": r.steps,
        "cores": r.cores,
        "tiles": r.tiles,
        "sanafe_tiles": r.sanafe.tiles,
        "per_inference": figures(r, hardware),
        "spikes": r.spikes,
        "notes": r.notes,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", nargs="+", help="names (default: every available one)")
    parser.add_argument(
        "--steps",
        type=int,
        help=f"input steps (default {DEFAULT_STEPS} for examples, the data's own for zoo models)",
    )
    parser.add_argument("--samples", type=int, default=4, help="samples per network (default 4)")
    parser.add_argument("--backend", choices=("emulator", "lava"), default="emulator")
    parser.add_argument("--weight-planes", type=int, choices=(1, 2), default=2)
    parser.add_argument(
        "--hardware",
        default=HARDWARE,
        help=f"hardware model (default {HARDWARE}); keep SANA-FE's per-event figures, e.g. "
        "lower limits.neurons to spread a network over more tiles",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import sanafe  # noqa: F401
    except ImportError as exc:
        print(f"bench_sanafe: SANA-FE missing ({exc}): pip install -e '.[bench]'", file=sys.stderr)
        return 2
    try:
        hardware = load_hardware(args.hardware)
        names, skipped = available_networks()
        for name in args.networks or []:
            if name not in names:
                reason = skipped.get(name, f"unknown (available: {', '.join(names)})")
                raise SpikeforgeError(f"network {name!r}: {reason}")
        if not args.networks:
            for name, reason in skipped.items():
                print(f"skipping {name}: {reason}")
        results = []
        for name in args.networks or names:
            if name in EXAMPLES:
                steps = args.steps or DEFAULT_STEPS
                bench = example_bench(name, steps, args.samples, args.weight_planes)
            else:
                bench = zoo_bench(name, args.steps, args.samples, args.weight_planes)
            results.append(compare(bench, hardware, args.backend))
    except SpikeforgeError as exc:
        print(f"bench_sanafe: error: {exc}", file=sys.stderr)
        return 2
    header = (
        f"SANA-FE {version('sanafe')} (sanafe.load_loihi()) vs spikeforge ({hardware.name}); "
        f"fixed-point plans, {args.weight_planes} weight plane(s); spikeforge's activity from "
        f"the {args.backend} backend"
    )
    print_tables(results, hardware, header)
    if args.json:
        config = {**vars(args), "json": str(args.json), "sanafe": version("sanafe")}
        document = {"config": config, "networks": [as_json(r, hardware) for r in results]}
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
