"""Side-by-side check of spikeforge's energy/latency estimate against SANA-FE's Loihi model.

For every network available (the spine's example networks and every zoo model with a
shipped checkpoint) the fixed-point plan is placed by spikeforge
(:func:`spikeforge.compile.placement.place`) on ``loihi1_sanafe.toml`` and run twice,
on the same input spikes, for the same number of hardware steps:

* **spikeforge**: a bit-exact Loihi backend (``--backend``) runs the plan, the library's
  :class:`~spikeforge.profile.counters.ActivityCounter` counts it and
  :func:`~spikeforge.profile.energy.estimate` prices it, exactly as ``spikeforge
  profile`` does;
* **SANA-FE** (``pip install -e '.[bench]'``; its calibrated architecture,
  ``sanafe.load_loihi()``) is given that plan and that placement: the same neurons
  (its Loihi LIF with the plan's fixed-point decays, thresholds and biases, read through
  :mod:`spikeforge.loihi_format`, in units of ``2**ACT_SHIFT`` so that its 1/64
  potential quantisation is Lava's integer one), the same non-zero synapses (every
  weight plane, ``mantissa << exponent``), on the same cores (each placed core becomes
  the SANA-FE core on the same tile and slot of the hardware model's mesh, so routes
  have the same hops), the bias neuron as an always-firing LIF on its placed core, and
  the inputs as SANA-FE input neurons on tile (0, 0), where spikeforge's host port is.

Nothing of the cost model is re-implemented here: spikeforge's side is the library's
estimate, on its own spikes and (to separate the cost models from the neuron models)
on SANA-FE's spikes, counted by :func:`~spikeforge.profile.counters.count_activity`.
Both models let a core's synaptic unit work alongside its neuron and output units
(``CORE_PIPELINES`` in :mod:`spikeforge.profile.energy`); SANA-FE's detailed timing
model also queues messages, its simple one does not, and both are printed.

Printed: energy per inference and time per step from both and their ratio; the same
ratio with spikeforge's estimate on SANA-FE's own spikes; spike counts from both; and
per network, a breakdown by SANA-FE's categories (synapse, soma, network, time) with
the counts behind each. What SANA-FE cannot represent exactly is listed per network
(dropped synaptic delays, non-zero initial voltages). One difference is not listed
because it has not changed a spike here: SANA-FE keeps the synaptic current's
fractional part where Lava truncates it to an integer each step.
``python scripts/bench_sanafe.py --help``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from types import ModuleType

import numpy as np

from spikeforge.atomic import atomic_path
from spikeforge.compile.compiled import CompiledNet
from spikeforge.compile.hardware import Hardware
from spikeforge.compile.lower import LoihiPlan
from spikeforge.compile.placement import Placement, place
from spikeforge.compile.timing import BIAS_SOURCE
from spikeforge.errors import SpikeforgeError
from spikeforge.loihi_format import ACT_SHIFT, DECAY_UNITY, lava_u_keep, lava_v_keep
from spikeforge.models import examples, zoo
from spikeforge.models.examples import EXAMPLES
from spikeforge.models.stages import CALIBRATION_SAMPLES, export_and_compile
from spikeforge.models.zoo import ModelCard
from spikeforge.profile.counters import HOPS, ActivityCounter, count_activity
from spikeforge.profile.energy import EVENT_OF, CostReport, estimate
from spikeforge.profile.hardware import load_hardware
from spikeforge.runtimes import run

HARDWARE = "loihi1_sanafe"
#: Example networks get Bernoulli input spikes at this rate per input and step.
INPUT_RATE = 0.2
DEFAULT_STEPS = 50
SEED = 0
#: SANA-FE's loihi.yaml allows this many neurons per core, input neurons included (each
#: needs its own input unit ``loihi_inputs[k]``). Not the hardware model's limit: a
#: what-if file may lower that to spread the network, SANA-FE's input cores keep theirs.
SANAFE_NEURONS_PER_CORE = 1024
#: spikeforge's counts grouped as SANA-FE reports its energy.
CATEGORIES = {
    "synapse": ("synaptic_ops",),
    "soma": ("active_updates", "inactive_updates", "spikes"),
    "network": ("messages", *HOPS),
}


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


@dataclass(frozen=True)
class Figures:
    """One model's figures per inference, in SANA-FE's terms (energies J, times s)."""

    energy: float
    synapse: float
    soma: float
    network: float
    time_per_step: float
    #: Time per step less the barrier: the slowest core and the mesh.
    work: float
    #: The same in SANA-FE's simple timing model (no message queues); spikeforge's
    #: model has no queues either, so for spikeforge it is ``work``.
    work_simple: float
    barrier: float
    synaptic_ops: float
    #: Neurons updated with input or a spike (SANA-FE: also with a non-zero potential).
    active_updates: float
    #: Spikes of the populations, the bias neuron's included.
    spikes: float
    messages: float
    hops: float


@dataclass
class SanafeRun:
    """SANA-FE's figures per inference, and each population's raster ``[batch, steps, n]``."""

    figures: Figures
    rasters: dict[str, np.ndarray]
    tiles: int


@dataclass(frozen=True)
class Spikes:
    """Spikes of the populations in both models, and the raster entries where they differ."""

    sanafe: int
    spikeforge: int
    raster_entries_differing: int


@dataclass
class Result:
    """Everything printed (and written to JSON) for one network."""

    name: str
    samples: int
    steps: int
    cores: int
    tiles: int
    sanafe: SanafeRun
    spikeforge: Figures
    on_sanafe_spikes: Figures
    spikes: Spikes
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


def sanafe_core(hardware: Hardware, x: int, y: int, slot: int) -> int:
    """SANA-FE's index of the core in ``slot`` of tile ``(x, y)``: its loihi.yaml numbers
    tiles column by column, ``hardware.tiles_y`` to a column, as loihi1_sanafe.toml's mesh."""
    return (x * hardware.tiles_y + y) * hardware.cores_per_tile + slot


def placed_cores(placement: Placement) -> list[int]:
    """The SANA-FE core of each of spikeforge's placed cores (same tile, same slot)."""
    hw = placement.hardware
    return [sanafe_core(hw, c.x, c.y, c.slot) for c in placement.cores]


def input_cores(placement: Placement, n_inputs: int) -> list[int]:
    """A SANA-FE core for each input neuron, as close to spikeforge's host port as possible.

    spikeforge's inputs enter at tile (0, 0) and use no core; SANA-FE's input neurons
    need one. Free slots of tile (0, 0) come first (same routes, no extra tile), then
    cores of tile (0, 0) with room, then the free cores nearest to it.
    """
    hw = placement.hardware
    used = dict.fromkeys(placed_cores(placement), 0)
    for index, core in zip(placed_cores(placement), placement.cores, strict=True):
        used[index] = sum(s.size for s in core.slices)
    tile0 = [sanafe_core(hw, 0, 0, slot) for slot in range(hw.cores_per_tile)]
    others = [
        (x + y, sanafe_core(hw, x, y, slot))
        for x in range(hw.tiles_x)
        for y in range(hw.tiles_y)
        for slot in range(hw.cores_per_tile)
        if (x, y) != (0, 0)
    ]
    nearest = [core for _, core in sorted(others) if core not in used]
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
        "leak_decay": lava_v_keep(pop.dv) / DECAY_UNITY,
        "input_decay": lava_u_keep(pop.du) / DECAY_UNITY,
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
    on_sanafe = placed_cores(placement)
    for name, cores in placement.neuron_core.items():
        for i, index in enumerate(cores):
            groups[name][i].map_to_core(arch_cores[on_sanafe[int(index)]])
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
    keys = ("total", "synapse", "soma", "network")
    energy = dict.fromkeys(keys, 0.0)
    counted = ("sim_time", "spikes", "neurons_updated", "neurons_fired", "packets_sent")
    totals = dict.fromkeys((*counted, "hops", "sim_time_simple"), 0.0)
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
        for key in keys:
            energy[key] += result["energy"][key]
        for key in counted:
            totals[key] += result[key]
        totals["hops"] += sum(result["perf_trace"]["hops"])
        for t, fired in enumerate(result["spike_trace"]):
            for address in fired:
                rasters[population_of[address.group_name]][b, t, address.neuron_offset] = 1
    mapped = set(placed_cores(placement)) | set(input_cores(placement, sum(plan.inputs.values())))
    tiles = len({core // placement.hardware.cores_per_tile for core in mapped})
    # SANA-FE's sync is its table's entry for its tiles, as loihi1_sanafe.toml's barrier.
    sync = placement.hardware.barrier.at(tiles)
    per_step = samples * steps
    # SANA-FE's input unit counts each input spike as a neuron updated and fired (at no
    # soma energy): leave those out so the counts are the LIF neurons' own.
    input_spikes = float(sum(r.sum() for r in inputs.values()))
    figures = Figures(
        energy=energy["total"] / samples,
        synapse=energy["synapse"] / samples,
        soma=energy["soma"] / samples,
        network=energy["network"] / samples,
        time_per_step=totals["sim_time"] / per_step,
        work=totals["sim_time"] / per_step - sync,
        work_simple=totals["sim_time_simple"] / per_step - sync,
        barrier=sync,
        synaptic_ops=totals["spikes"] / samples,
        active_updates=(totals["neurons_updated"] - input_spikes) / samples,
        spikes=(totals["neurons_fired"] - input_spikes) / samples,
        messages=totals["packets_sent"] / samples,
        hops=totals["hops"] / samples,
    )
    return SanafeRun(figures, rasters, tiles), notes


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
        on_step=counter,
    )
    batch = bench.inputs.shape[0]
    rasters = {
        name: result.spikes[name].reshape(batch, result.steps, -1)
        if name in spiking
        else np.zeros((batch, result.steps, pop.size))
        for name, pop in plan.populations.items()
    }
    return estimate(counter.result(), placement, placement.hardware), rasters, result.steps


def on_spikes(bench: Bench, placement: Placement, rasters: dict[str, np.ndarray]) -> CostReport:
    """spikeforge's estimate of the activity in ``rasters`` (here: SANA-FE's spikes)."""
    steps = next(iter(rasters.values())).shape[1]
    sources = bench.input_rasters(steps)
    sources.update({n: r for n, r in rasters.items() if bench.plan.populations[n].spiking})
    activity = count_activity(bench.plan, sources, placement)
    return estimate(activity, placement, placement.hardware)


def figures(report: CostReport) -> Figures:
    """spikeforge's estimate in SANA-FE's terms (:data:`CATEGORIES`)."""
    totals = report.totals()
    step = report.step_latency
    work = float((step.slowest_core + step.mesh).mean())
    return Figures(
        energy=report.energy.total.value,
        **{
            category: sum(report.energy_by_event[EVENT_OF[c]] for c in counts)
            for category, counts in CATEGORIES.items()
        },
        time_per_step=report.latency.per_step_mean.value,
        work=work,
        work_simple=work,
        barrier=float(step.barrier.mean()),
        synaptic_ops=totals.synaptic_ops,
        active_updates=totals.active_updates,
        spikes=totals.spikes,
        messages=totals.messages,
        hops=sum(getattr(totals, h) for h in HOPS),
    )


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
    spiking = [n for n, p in bench.plan.populations.items() if p.spiking]
    return Result(
        name=bench.name,
        samples=bench.inputs.shape[0],
        steps=steps,
        cores=len(placement.cores),
        tiles=placement.tiles_used,
        sanafe=theirs,
        spikeforge=figures(ours),
        on_sanafe_spikes=figures(on_spikes(bench, placement, theirs.rasters)),
        spikes=Spikes(
            sanafe=int(sum(theirs.rasters[n].sum() for n in spiking)),
            spikeforge=int(sum(our_rasters[n].sum() for n in spiking)),
            raster_entries_differing=int(
                sum((our_rasters[n] != theirs.rasters[n]).sum() for n in spiking)
            ),
        ),
        notes=notes,
    )


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.3f}" if b else "-"


def ratio_ranges(results: list[Result]) -> str:
    """The spread of spikeforge / SANA-FE over the networks (what the README quotes)."""

    def spread(what: str) -> str:
        ratios = [getattr(r.spikeforge, what) / getattr(r.sanafe.figures, what) for r in results]
        return f"{min(ratios):.3f}-{max(ratios):.3f}x"

    return f"energy {spread('energy')}, time/step {spread('time_per_step')}"


def print_tables(results: list[Result], header: str) -> None:
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
        s, o, b = r.sanafe.figures, r.spikeforge, r.on_sanafe_spikes
        print(
            f"{r.name:<20} {f'{r.samples} x {r.steps}':>15} {r.cores:>5} {r.tiles:>5} | "
            f"{s.energy * 1e6:>9.4f} {o.energy * 1e6:>10.4f} "
            f"{_ratio(o.energy, s.energy):>6} {_ratio(b.energy, s.energy):>7} | "
            f"{s.time_per_step * 1e6:>9.4f} {o.time_per_step * 1e6:>10.4f} "
            f"{_ratio(o.time_per_step, s.time_per_step):>6} "
            f"{_ratio(b.time_per_step, s.time_per_step):>7}"
        )
    print("ratio = spikeforge / SANA-FE; ratio* = spikeforge's estimate of SANA-FE's own spikes")
    print(f"ratio over the networks: {ratio_ranges(results)}")
    print(f"\n{'network':<20} {'spikes: SANA-FE':>16} {'spikeforge':>11} {'raster diffs':>13}")
    for r in results:
        s = r.spikes
        print(f"{r.name:<20} {s.sanafe:>16} {s.spikeforge:>11} {s.raster_entries_differing:>13}")
    for r in results:
        print_breakdown(r)


#: Breakdown rows: label, :class:`Figures` field, scale.
BREAKDOWN = (
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
    ("time/step: work us (SANA-FE's simple model)", "work_simple", 1e6),
)


def print_breakdown(r: Result) -> None:
    """Per category, both models on the same (SANA-FE's) spikes: where the totals part."""
    s, b = r.sanafe.figures, r.on_sanafe_spikes
    print(f"\n{r.name}: per inference, both models on SANA-FE's spikes")
    print(f"  {'':<52} {'SANA-FE':>11} {'spikeforge':>11} {'ratio':>6}")
    for label, key, scale in BREAKDOWN:
        theirs, ours = getattr(s, key), getattr(b, key)
        print(
            f"  {label:<52} {theirs * scale:>11.4f} {ours * scale:>11.4f} {_ratio(ours, theirs):>6}"
        )
    for note in r.notes:
        print(f"  note: {note}")


def as_json(r: Result) -> dict[str, object]:
    return {
        "network": r.name,
        "samples": r.samples,
        "hardware_steps": r.steps,
        "cores": r.cores,
        "tiles": r.tiles,
        "sanafe_tiles": r.sanafe.tiles,
        "per_inference": {
            "sanafe": asdict(r.sanafe.figures),
            "spikeforge": asdict(r.spikeforge),
            "spikeforge_on_sanafe_spikes": asdict(r.on_sanafe_spikes),
        },
        "spikes": asdict(r.spikes),
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
    print_tables(results, header)
    if args.json:
        config = {**vars(args), "json": str(args.json), "sanafe": version("sanafe")}
        document = {"config": config, "networks": [as_json(r) for r in results]}
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
