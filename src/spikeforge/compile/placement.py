"""Place a Loihi plan on neuro cores and chips, within a hardware model's per-core limits.

Heuristic (greedy, deterministic, documented because the estimates depend on it):

* Each population gets cores of its own, as Lava's Loihi 2 partitioner does (one
  neuron group per core; see the PilotNet mapping table in lava-dl's benchmark
  notebook). The always-spiking bias neuron (``BIAS_SOURCE``) is a one-neuron LIF
  process in Lava, so it gets a core too, as does each pacemaker (a LIF process as
  large as its source, see :class:`spikeforge.compile.lower.Synapses`); the network's
  inputs come from the host through the chip's I/O port, modelled at tile (0, 0) of
  chip 0, and take no core.
* A population that does not fit one core is split into the fewest contiguous,
  equally sized slices that each fit (neurons, synaptic memory, input axons).
* Cores are filled in plan order (inputs -> outputs, as the network was written) along
  a serpentine walk of the tile mesh, chip after chip, so consecutive layers — the
  pairs that exchange spikes — sit on the same or neighbouring tiles.

Resources per core: one neuron is one compartment; a stored synapse takes 8 bits (the
weight mantissa of Lava's Dense; each weight plane of the fixed-point plan is stored
separately) plus ``delay_bits`` when it is delayed; an input axon is one presynaptic
neuron of one synapse group with a non-zero weight into the core; an output axon is
one (synapse group, destination core) route of one of the core's neurons. Zero
weights are not stored. ``place`` is a pure function of plan and hardware, so a
compiled network's placement is recomputed when needed rather than stored.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from spikeforge.compile.hardware import Hardware
from spikeforge.compile.lower import LoihiPlan, Synapses
from spikeforge.compile.timing import BIAS_SOURCE
from spikeforge.errors import SpikeforgeError
from spikeforge.loihi_format import WEIGHT_BITS

#: Bits of one stored weight: Lava's Dense keeps 8-bit mantissas (see compile/quantize.py).
STORED_WEIGHT_BITS = WEIGHT_BITS
#: Where input spikes enter the mesh (the host's I/O port): chip 0, tile (0, 0).
IO_CORE = -1
RESOURCES = ("neurons", "synaptic_memory", "input_axons", "output_axons")


@dataclass(frozen=True)
class Slice:
    """Neurons ``start:stop`` of ``population``."""

    population: str
    start: int
    stop: int

    @property
    def size(self) -> int:
        return self.stop - self.start


@dataclass
class Core:
    """One neuro core in use: where it is and what it holds."""

    index: int
    chip: int
    x: int
    y: int
    slot: int
    slices: list[Slice]
    usage: dict[str, int] = field(default_factory=dict)

    @property
    def populations(self) -> list[str]:
        return [s.population for s in self.slices]


@dataclass
class Placement:
    """Which core every neuron sits on, and how full every core is."""

    hardware: Hardware
    cores: list[Core]
    neuron_core: dict[str, np.ndarray]

    @property
    def chips_used(self) -> int:
        return len({c.chip for c in self.cores})

    @property
    def tiles_used(self) -> int:
        return len({(c.chip, c.x, c.y) for c in self.cores})

    def utilisation(self, core: Core) -> dict[str, float]:
        """Fraction of each per-core limit in use."""
        return {r: core.usage[r] / self.hardware.limit(r) for r in RESOURCES}

    def position(self, core: int) -> tuple[int, int, int]:
        """(chip, x, y) of a core index, or of the I/O port for :data:`IO_CORE`."""
        if core == IO_CORE:
            return 0, 0, 0
        c = self.cores[core]
        return c.chip, c.x, c.y

    def hops(self, src: int, dst: int) -> tuple[int, int, int]:
        """(east-west hops, north-south hops, chip crossings) of a message ``src -> dst``.

        Chips sit side by side along x; the link between two chips replaces the
        east-west hop across their boundary.
        """
        chip_a, xa, ya = self.position(src)
        chip_b, xb, yb = self.position(dst)
        width = self.hardware.tiles_x
        crossings = abs(chip_a - chip_b)
        east_west = abs((chip_a * width + xa) - (chip_b * width + xb)) - crossings
        return east_west, abs(ya - yb), crossings

    def as_dict(self) -> dict[str, object]:
        return {
            "hardware": self.hardware.name,
            "cores_used": len(self.cores),
            "chips_used": self.chips_used,
            "tiles_used": self.tiles_used,
            "cores_available": self.hardware.total_cores,
            "cores": [
                {
                    "core": c.index,
                    "chip": c.chip,
                    "tile": [c.x, c.y],
                    "slot": c.slot,
                    "slices": [
                        {"population": s.population, "start": s.start, "stop": s.stop}
                        for s in c.slices
                    ],
                    "usage": dict(c.usage),
                    "utilisation": self.utilisation(c),
                }
                for c in self.cores
            ],
        }


def place(plan: LoihiPlan, hardware: Hardware) -> Placement:
    """Cores for every population of ``plan`` (heuristic in the module docstring).

    Raises :class:`SpikeforgeError` naming the population, the limit and by how much
    it is exceeded when the network cannot fit.
    """
    if hardware.limit("weight_bits") < STORED_WEIGHT_BITS:
        raise SpikeforgeError(
            f"hardware {hardware.name} stores weights of at most "
            f"{hardware.limit('weight_bits')} bits; spikeforge's Loihi plans use "
            f"{STORED_WEIGHT_BITS}-bit weight mantissas "
            f"(short by {STORED_WEIGHT_BITS - hardware.limit('weight_bits')} bits)"
        )
    incoming: dict[str, list[Synapses]] = {name: [] for name in plan.populations}
    for syn in plan.synapses:
        incoming[syn.post].append(syn)
    units = [(BIAS_SOURCE, 1)] if plan.uses_bias_source else []
    units += [(name, plan.source_size(name)) for name in plan.pacemakers]
    units += [(name, pop.size) for name, pop in plan.populations.items()]
    slices: list[Slice] = []
    usage: list[dict[str, int]] = []
    for name, size in units:
        for part, used in _split(name, size, incoming.get(name, []), hardware):
            slices.append(part)
            usage.append(used)
    if len(slices) > hardware.total_cores:
        first = slices[hardware.total_cores].population
        raise SpikeforgeError(
            f"the network needs {len(slices)} cores but {hardware.name} has "
            f"{hardware.chips} chip(s) x {hardware.cores_per_chip} cores = "
            f"{hardware.total_cores} (exceeded by {len(slices) - hardware.total_cores} cores); "
            f"population '{first}' is the first that does not fit"
        )
    cores = [
        Core(k, *_coordinates(k, hardware), slices=[part], usage=used)
        for k, (part, used) in enumerate(zip(slices, usage, strict=True))
    ]
    neuron_core = {name: np.zeros(size, dtype=np.int64) for name, size in units}
    for core in cores:
        for part in core.slices:
            neuron_core[part.population][part.start : part.stop] = core.index
    placement = Placement(hardware, cores, neuron_core)
    _count_output_axons(plan, placement)
    return placement


def _coordinates(index: int, hardware: Hardware) -> tuple[int, int, int, int]:
    """(chip, x, y, slot) of the ``index``-th core along the serpentine walk."""
    chip, within = divmod(index, hardware.cores_per_chip)
    tile, slot = divmod(within, hardware.cores_per_tile)
    y, step = divmod(tile, hardware.tiles_x)
    x = step if y % 2 == 0 else hardware.tiles_x - 1 - step
    return chip, x, y, slot


def _synapse_bits(syn: Synapses, hardware: Hardware) -> int:
    return STORED_WEIGHT_BITS + (hardware.limit("delay_bits") if syn.extra_delay else 0)


def _split(
    name: str, size: int, incoming: list[Synapses], hardware: Hardware
) -> list[tuple[Slice, dict[str, int]]]:
    """The fewest equal contiguous slices of a population that each fit one core."""
    bits = sum(
        ((syn.weights != 0).sum(axis=1) * _synapse_bits(syn, hardware) for syn in incoming),
        np.zeros(size, dtype=np.int64),
    )
    # An input axon per presynaptic neuron and synapse group; a pacemaker adds its own.
    stored = [weights != 0 for syn in incoming for _, weights in syn.routes()]
    axons_each = sum((mask.sum(axis=1) for mask in stored), np.zeros(size, dtype=np.int64))
    limits = {r: hardware.limit(r) for r in RESOURCES}
    for what, need, limit, unit in (
        ("bits of synaptic memory", bits, limits["synaptic_memory"], " bits"),
        ("input axons", axons_each, limits["input_axons"], ""),
    ):
        worst = int(np.argmax(need))
        if need[worst] > limit:
            raise SpikeforgeError(
                f"population '{name}': neuron {worst} alone needs {int(need[worst])} {what}; "
                f"a {hardware.name} core has {limit} (exceeded by {int(need[worst]) - limit}{unit})"
            )
    cumulative = np.concatenate([[0], np.cumsum(bits)])
    parts = max(
        1,
        math.ceil(size / limits["neurons"]),
        math.ceil(int(cumulative[-1]) / limits["synaptic_memory"]),
    )
    while True:
        bounds = np.linspace(0, size, parts + 1).round().astype(int)
        result = []
        for start, stop in itertools.pairwise(bounds):
            used = {
                "neurons": int(stop - start),
                "synaptic_memory": int(cumulative[stop] - cumulative[start]),
                "input_axons": sum(int(m[start:stop].any(axis=0).sum()) for m in stored),
                "output_axons": 0,
            }
            if any(used[r] > limits[r] for r in RESOURCES):
                break
            result.append((Slice(name, int(start), int(stop)), used))
        else:
            return result
        parts += 1


def _count_output_axons(plan: LoihiPlan, placement: Placement) -> None:
    """Routes (synapse group, destination core) per source core; refuse a core over its limit."""
    for syn, (pre, weights) in ((s, route) for s in plan.synapses for route in s.routes()):
        if pre not in placement.neuron_core:
            continue  # an input: its routes start at the host, not on a core
        dest = placement.neuron_core[syn.post]
        mask = weights != 0
        source = placement.neuron_core[pre]
        for core in np.unique(dest):
            reaches = mask[dest == core].any(axis=0)
            counts = np.bincount(source[reaches], minlength=len(placement.cores))
            for index in np.flatnonzero(counts):
                placement.cores[index].usage["output_axons"] += int(counts[index])
    limit = placement.hardware.limit("output_axons")
    for core in placement.cores:
        used = core.usage["output_axons"]
        if used > limit:
            raise SpikeforgeError(
                f"population '{core.populations[0]}' (core {core.index}): its neurons need "
                f"{used} output axons (routes to destination cores); a "
                f"{placement.hardware.name} core has {limit} (exceeded by {used - limit})"
            )


def describe(placement: Placement, max_rows: int = 16) -> str:
    """Cores and chips used and per-core utilisation, for ``spikeforge compile``."""
    hw = placement.hardware
    lines = [
        f"placement on {hw.name}: {len(placement.cores)} of {hw.total_cores} cores, "
        f"{placement.chips_used} of {hw.chips} chip(s), {placement.tiles_used} tile(s)",
        f"{'core':>5} {'chip':>4} {'tile':>6}  {'population':<20} {'neurons':>8} "
        f"{'syn mem':>8} {'axons in':>8} {'axons out':>9}",
    ]
    for core in placement.cores[:max_rows]:
        u = placement.utilisation(core)
        part = core.slices[0]
        label = (
            part.population
            if part.size == len(placement.neuron_core[part.population])
            else (f"{part.population}[{part.start}:{part.stop}]")
        )
        lines.append(
            f"{core.index:>5} {core.chip:>4} {f'{core.x},{core.y}':>6}  {label:<20} "
            f"{u['neurons']:>8.1%} {u['synaptic_memory']:>8.1%} {u['input_axons']:>8.1%} "
            f"{u['output_axons']:>9.1%}"
        )
    if len(placement.cores) > max_rows:
        lines.append(
            f"  ... {len(placement.cores) - max_rows} more cores (spikeforge profile lists all)"
        )
    return "\n".join(lines)


def placement_summary(plan: LoihiPlan, hardware: Hardware) -> str:
    """:func:`describe` for ``spikeforge compile``, or why the plan does not fit.

    Compiling still succeeds when it does not fit: the user may target a larger system
    (``spikeforge profile --hardware FILE``).
    """
    try:
        return describe(place(plan, hardware))
    except SpikeforgeError as exc:
        return f"warning: does not fit on {hardware.name}: {exc}"
