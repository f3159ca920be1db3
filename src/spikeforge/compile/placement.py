"""Place a Loihi plan on neuro cores and chips, the way lava-loihi's compiler allocates them.

Rules (deterministic, documented because every estimate depends on them; checked on
PilotNet against Intel's own per-core distribution, ``scripts/bench_pilotnet_cost.py``):

* Each population gets cores of its own, as Lava's Loihi 2 partitioner does (one
  neuron group per core); the network's inputs come from the host through the chip's
  I/O port, modelled at tile (0, 0) of chip 0, and take no core.
* Helper populations, which spikeforge adds and the source network does not have (the
  always-spiking bias neuron ``BIAS_SOURCE`` and each pacemaker, a LIF process as large
  as its source, see :class:`spikeforge.compile.lower.Synapses`), share a core: each
  goes onto the first core, among those of the populations it feeds and then all the
  others in order, that still fits every limit with it; only if none does it gets a
  core of its own (after the network's cores). Lava's partitioner would give each its
  own core; sharing is what a deployment would do, and it keeps a one-neuron helper
  from being charged a whole core's static power. ``share_helpers=False`` reproduces
  the one-core-each allocation.
* An image-shaped population ((W, H, C), a netx conv layer or its input) is split
  along its first spatial axis into blocks of a power-of-two number of rows, the
  largest that fits every limit: Intel's compiler puts PilotNet's 99x32x24 layer on
  cores of 4x32x24 neurons, its 200x66x3 input on 16x66x3. Any other population is
  split into the fewest contiguous, equally sized slices that each fit.
* Cores are filled in plan order (inputs -> outputs) along a serpentine walk of the
  tile mesh, chip after chip, so consecutive layers sit on the same or nearby tiles.

Resources per core: one neuron is one compartment. Dense and sparse connectivity:
every non-zero weight is one stored synapse (zero weights are not stored) taking
8 bits (Lava's weight mantissa; each weight plane of a fixed-point plan separately)
plus ``delay_bits`` when delayed, and counts against ``limits.synapses``.
Convolutional connectivity: the kernel's non-zero weights are stored once per core
that holds part of the layer (shared kernels), 8 bits each, and count against
synaptic memory only. Input axons: one per presynaptic neuron of one dense synapse
group with a non-zero weight into the core; a conv core takes one per presynaptic
core that feeds it (the message carries the neuron's position). Output axons: one
per (synapse group, destination core) route of each of the core's neurons; for a
conv, one per (source row, destination core) whose block of rows that row reaches
(an assumption: Intel's axon-map counts are not reproduced).
``place`` is a pure function of plan and hardware, so a compiled network's placement
is recomputed when needed rather than stored.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from spikeforge.compile.hardware import Hardware
from spikeforge.compile.lower import ConvSynapses, LoihiPlan, Synapses
from spikeforge.compile.timing import BIAS_SOURCE
from spikeforge.errors import SpikeforgeError
from spikeforge.ir.weights import (
    Weights,
    block_columns,
    distinct_columns,
    nonzeros_per_row,
    repeated_columns,
)
from spikeforge.loihi_format import WEIGHT_BITS

#: Bits of one stored weight: Lava's Dense keeps 8-bit mantissas (see compile/quantize.py).
STORED_WEIGHT_BITS = WEIGHT_BITS
#: Where input spikes enter the mesh (the host's I/O port): chip 0, tile (0, 0).
IO_CORE = -1
RESOURCES = ("neurons", "synapses", "synaptic_memory", "input_axons", "output_axons")


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


def place(plan: LoihiPlan, hardware: Hardware, share_helpers: bool = True) -> Placement:
    """Cores for every population of ``plan`` (heuristic in the module docstring).

    Raises :class:`SpikeforgeError` naming the population, the limit and by how much
    it is exceeded when the network cannot fit. A shared helper that pushes its host
    core over its output axons falls back to the one-core-each allocation.
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
    convs: dict[str, list[ConvSynapses]] = {name: [] for name in plan.populations}
    for conv in plan.convolutions:
        convs[conv.post].append(conv)
    helpers = [(BIAS_SOURCE, 1, None)] if plan.uses_bias_source else []
    helpers += [(name, plan.source_size(name), None) for name in plan.pacemakers]
    units = [(name, pop.size, pop.shape) for name, pop in plan.populations.items()]
    if not share_helpers:
        units = helpers + units
    groups: list[tuple[list[Slice], dict[str, int]]] = []
    for name, size, shape in units:
        need = _needs(name, size, incoming.get(name, []), convs.get(name, []), hardware)
        groups += [([part], used) for part, used in _split(name, size, shape, need, hardware)]
    for name, size, shape in helpers if share_helpers else []:
        if not _co_locate(name, size, _fed_by(plan, name), groups, hardware):
            need = _needs(name, size, [], [], hardware)
            groups += [([part], used) for part, used in _split(name, size, shape, need, hardware)]
    if len(groups) > hardware.total_cores:
        first = groups[hardware.total_cores][0][0].population
        raise SpikeforgeError(
            f"the network needs {len(groups)} cores but {hardware.name} has "
            f"{hardware.chips} chip(s) x {hardware.cores_per_chip} cores = "
            f"{hardware.total_cores} (exceeded by {len(groups) - hardware.total_cores} cores); "
            f"population '{first}' is the first that does not fit"
        )
    cores = [
        Core(k, *_coordinates(k, hardware), slices=parts, usage=used)
        for k, (parts, used) in enumerate(groups)
    ]
    neuron_core = {name: np.zeros(size, dtype=np.int64) for name, size, _ in helpers + units}
    for core in cores:
        for part in core.slices:
            neuron_core[part.population][part.start : part.stop] = core.index
    placement = Placement(hardware, cores, neuron_core)
    try:
        _count_output_axons(plan, placement)
    except SpikeforgeError:
        if share_helpers and any(len(c.slices) > 1 for c in cores):
            return place(plan, hardware, share_helpers=False)
        raise
    _count_conv_axons(plan, placement)
    return placement


def _fed_by(plan: LoihiPlan, helper: str) -> list[str]:
    """Populations a helper sends to: the bias neuron's targets, or a pacemaker's."""
    return [s.post for s in plan.synapses if helper in (s.pre, s.pacemaker)]


def _co_locate(
    name: str,
    size: int,
    fed: list[str],
    groups: list[tuple[list[Slice], dict[str, int]]],
    hardware: Hardware,
) -> bool:
    """Put helper ``name`` (no incoming synapses: it needs ``size`` neurons only) on the
    first core that fits it, preferring the cores of the populations it feeds (their
    messages then stay on the core); False when no core has room."""
    feeds = [k for k, (parts, _) in enumerate(groups) if parts[0].population in fed]
    for k in feeds + [k for k in range(len(groups)) if k not in feeds]:
        parts, used = groups[k]
        if used["neurons"] + size <= hardware.limit("neurons"):
            parts.append(Slice(name, 0, size))
            used["neurons"] += size
            return True
    return False


def _coordinates(index: int, hardware: Hardware) -> tuple[int, int, int, int]:
    """(chip, x, y, slot) of the ``index``-th core along the serpentine walk."""
    chip, within = divmod(index, hardware.cores_per_chip)
    tile, slot = divmod(within, hardware.cores_per_tile)
    y, step = divmod(tile, hardware.tiles_x)
    x = step if y % 2 == 0 else hardware.tiles_x - 1 - step
    return chip, x, y, slot


def stored_synapses(syn: Synapses) -> np.ndarray:
    """Synapses each post neuron's core stores for ``syn``: its non-zero weights (from
    the CSR structure of a sparse matrix, without a dense mask)."""
    return nonzeros_per_row(syn.weights)


def _synapse_bits(syn: Synapses, hardware: Hardware) -> int:
    return STORED_WEIGHT_BITS + (hardware.limit("delay_bits") if syn.extra_delay else 0)


@dataclass(frozen=True)
class _Needs:
    """Per-neuron resource needs of one population, and what every core of it pays once."""

    synapses: np.ndarray
    bits: np.ndarray
    #: Non-zero route weights into each neuron: a slice's input axons before the columns
    #: its neurons share are subtracted.
    axons: np.ndarray
    #: ``[post, pre]`` weights of the routes (input axons: the pre columns any post uses).
    axon_masks: list[Weights]
    #: Bits of shared conv kernels, stored once on every core of the population.
    kernel_bits: int


def _needs(
    name: str, size: int, incoming: list[Synapses], convs: list[ConvSynapses], hardware: Hardware
) -> _Needs:
    synapses = np.zeros(size, dtype=np.int64)
    bits = np.zeros(size, dtype=np.int64)
    for syn in incoming:
        count = stored_synapses(syn)
        synapses += count
        bits += count * _synapse_bits(syn, hardware)
    masks = [w for syn in incoming for _, w in syn.routes()]
    kernel = sum(int(np.count_nonzero(c.weight)) for c in convs) * STORED_WEIGHT_BITS
    limits = {r: hardware.limit(r) for r in RESOURCES}
    axons_each = sum((nonzeros_per_row(m) for m in masks), np.zeros(size, dtype=np.int64))
    for what, need, limit, unit in (
        ("stored synapses", synapses, limits["synapses"], ""),
        ("bits of synaptic memory", bits + kernel, limits["synaptic_memory"], " bits"),
        ("input axons", axons_each, limits["input_axons"], ""),
    ):
        worst = int(np.argmax(need)) if size else 0
        if size and need[worst] > limit:
            raise SpikeforgeError(
                f"population '{name}': neuron {worst} alone needs {int(need[worst])} {what}; "
                f"a {hardware.name} core has {limit} (exceeded by {int(need[worst]) - limit}{unit})"
            )
    return _Needs(synapses, bits, axons_each, masks, kernel)


def _usage(need: _Needs, start: int, stop: int, cumulative: dict[str, np.ndarray]) -> dict:
    return {
        "neurons": int(stop - start),
        "synapses": int(cumulative["synapses"][stop] - cumulative["synapses"][start]),
        "synaptic_memory": int(cumulative["bits"][stop] - cumulative["bits"][start])
        + need.kernel_bits,
        "input_axons": sum(distinct_columns(m, start, stop) for m in need.axon_masks),
        "output_axons": 0,
    }


@dataclass(frozen=True)
class _SliceCounter:
    """Every resource of every slice of a split, counted at once.

    At 10^6 neurons placement tries hundreds of equal splits of 10^4 slices per
    population; counting each slice's distinct input columns with a sort of its own was
    most of placement's time. Here the input axons of the slices of one length starting
    at every neuron are counted once, from the column repeats (:func:`repeated_columns`,
    one sort per route), and a split only looks its slices up: equal splits of a
    population have one or two lengths, and successive tries mostly share them. The
    counts are exactly :func:`_usage`'s for slices at most ``within`` neurons long.
    """

    cumulative: dict[str, np.ndarray]
    kernel_bits: int
    earlier: np.ndarray
    later: np.ndarray
    #: Input axons of the slice ``s:s + length`` for every ``s``, by length.
    axons: dict[int, np.ndarray] = field(default_factory=dict)

    @classmethod
    def build(cls, need: _Needs, cumulative: dict[str, np.ndarray], within: int) -> _SliceCounter:
        repeats = [repeated_columns(m, within) for m in need.axon_masks]
        earlier, later = (
            np.concatenate([r[i] for r in repeats] + [np.zeros(0, np.int64)]) for i in (0, 1)
        )
        return cls(cumulative, need.kernel_bits, earlier, later)

    def usage(self, bounds: np.ndarray) -> dict[str, np.ndarray]:
        """Per resource, the use of each slice ``bounds[k]:bounds[k + 1]``."""
        starts, lengths = bounds[:-1], np.diff(bounds)
        axons = np.zeros(len(starts), dtype=np.int64)
        for length in np.unique(lengths):
            at = lengths == length
            axons[at] = self._axons_of_length(int(length))[starts[at]]
        spans = {key: np.diff(c[bounds]) for key, c in self.cumulative.items()}
        return {
            "neurons": lengths,
            "synapses": spans["synapses"],
            "synaptic_memory": spans["bits"] + self.kernel_bits,
            "input_axons": axons,
            "output_axons": np.zeros(len(starts), dtype=np.int64),
        }

    def _axons_of_length(self, length: int) -> np.ndarray:
        """Distinct input columns of ``s:s + length`` for every start ``s``: the non-zero
        weights less the repeats whose earlier row is in the slice too, i.e. those with
        ``later - length < s <= earlier`` (a difference array over ``s``)."""
        if length not in self.axons:
            size = len(self.cumulative["axons"]) - 1
            near = self.later - self.earlier < length
            first = np.maximum(self.later[near] - length + 1, 0)
            steps = np.bincount(first, minlength=size + 1)
            steps -= np.bincount(self.earlier[near] + 1, minlength=size + 1)
            # Also right for an empty population's single empty slice (length 0).
            total = (
                self.cumulative["axons"][length:] - self.cumulative["axons"][: size + 1 - length]
            )
            self.axons[length] = total - np.cumsum(steps)[: len(total)]
        return self.axons[length]


def _split(
    name: str, size: int, shape: list[int] | None, need: _Needs, hardware: Hardware
) -> list[tuple[Slice, dict[str, int]]]:
    """Blocks of a population that each fit one core (rules in the module docstring)."""
    limits = {r: hardware.limit(r) for r in RESOURCES}
    cumulative = {
        key: np.concatenate([[0], np.cumsum(getattr(need, key))])
        for key in ("synapses", "bits", "axons")
    }

    def fits(
        bounds: np.ndarray, counter: _SliceCounter
    ) -> list[tuple[Slice, dict[str, int]]] | None:
        used = counter.usage(bounds)
        if any(bool((used[r] > limits[r]).any()) for r in RESOURCES):
            return None
        return [
            (
                Slice(name, int(bounds[k]), int(bounds[k + 1])),
                {r: int(used[r][k]) for r in RESOURCES},
            )
            for k in range(len(bounds) - 1)
        ]

    def slice_fits(start: int, stop: int) -> bool:
        used = _usage(need, start, stop, cumulative)
        return all(used[r] <= limits[r] for r in RESOURCES)

    if shape is not None and len(shape) == 3:
        rows, per_row = shape[0], size // shape[0]
        block = 1 << (rows.bit_length() - 1)
        # Blocks only shrink from here: the first one's length bounds every slice's.
        counter = _SliceCounter.build(need, cumulative, block * per_row)
        while block >= 1:
            placed = fits(np.minimum(np.arange(0, rows + block, block), rows) * per_row, counter)
            if placed is not None:
                return placed
            block //= 2
        used = _usage(need, 0, per_row, cumulative)
        over = next(r for r in RESOURCES if used[r] > limits[r])
        raise SpikeforgeError(
            f"population '{name}': one row of {per_row} neurons needs {used[over]} {over}; a "
            f"{hardware.name} core has {limits[over]} (exceeded by {used[over] - limits[over]})"
        )

    parts = max(
        1,
        math.ceil(size / limits["neurons"]),
        math.ceil(int(cumulative["bits"][-1]) / limits["synaptic_memory"]),
        math.ceil(int(cumulative["synapses"][-1]) / limits["synapses"]),
        _fewest_parts(size, slice_fits),
    )
    # Splits into more parts have no longer slices than this first one.
    counter = _SliceCounter.build(need, cumulative, int(np.diff(_equal_bounds(size, parts)).max()))
    while True:
        placed = fits(_equal_bounds(size, parts), counter)
        if placed is not None:
            return placed
        parts += 1


def _equal_bounds(size: int, parts: int) -> np.ndarray:
    """Bounds of ``parts`` contiguous slices of ``size`` neurons, equal to within one."""
    return np.linspace(0, size, parts + 1).round().astype(int)


def _fewest_parts(size: int, slice_fits: Callable[[int, int], bool]) -> int:
    """The fewest contiguous slices of ``size`` neurons that each fit, each taken as long
    as it can be.

    Every resource only grows as a slice does, so no split into contiguous slices, the
    equal ones included, has fewer: equal splits with fewer parts need not be tried, and
    at 10^6 neurons trying them (each checked slice by slice) was most of placement's
    time. A single neuron always fits (:func:`_needs` refused it otherwise).
    """
    parts = start = 0
    length = 1
    while start < size:
        stop = _longest_fit(start, size, start + length, slice_fits)
        length, start, parts = stop - start, stop, parts + 1
    return parts


def _longest_fit(start: int, size: int, guess: int, slice_fits: Callable[[int, int], bool]) -> int:
    """The largest ``stop`` whose slice ``start:stop`` fits: from ``guess`` (the previous
    slice's length, usually right within one) outwards in doubling steps, then bisected."""
    low, high = start + 1, size + 1  # stops known to fit / known not to
    probe = min(max(guess, low), size)
    up = slice_fits(start, probe)
    low, high = (probe, high) if up else (low, probe)
    step = 1
    while high - low > 1:
        probe = min(low + step, size) if up else max(high - step, low)
        if slice_fits(start, probe):
            low = probe
            if not up:
                break
        else:
            high = probe
            if up:
                break
        step *= 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if slice_fits(start, middle) else (low, middle)
    return low


def _conv_rows(conv: ConvSynapses, start: int, stop: int) -> tuple[int, int]:
    """Input rows (first axis) that output rows ``start:stop`` of ``conv`` read."""
    kernel = np.asarray(conv.weight).shape[1]
    low = start * conv.stride[0] - conv.padding[0]
    high = (stop - 1) * conv.stride[0] - conv.padding[0] + conv.dilation[0] * (kernel - 1) + 1
    return max(low, 0), min(high, conv.input_shape[0])


def _count_conv_axons(plan: LoihiPlan, placement: Placement) -> None:
    """A conv core's input axons (one per feeding core) and its sources' output axons:
    one per (source row, core holding part of that row) whose row the core reads.
    Rows are Lava's first (W) axis; a ``chw`` conv's populations are seen in that
    order, where a core of a channel-major slice reads every row."""
    for conv in plan.convolutions:
        per_out = int(np.prod(conv.output_shape[1:]))
        per_in = int(np.prod(conv.input_shape[1:]))
        source = placement.neuron_core.get(conv.pre)
        post = conv.whc(placement.neuron_core[conv.post], "post")
        for core in np.unique(post):
            rows = np.flatnonzero(post == core)
            low, high = _conv_rows(conv, rows[0] // per_out, rows[-1] // per_out + 1)
            if source is None:  # an input from the host: one axon, no core to send from
                placement.cores[core].usage["input_axons"] += 1
                continue
            block = conv.whc(source, "pre")[low * per_in : high * per_in].reshape(-1, per_in)
            row = np.repeat(np.arange(len(block)), per_in)
            pairs = np.unique(np.stack([row, block.ravel()]), axis=1)  # (source row, core)
            placement.cores[core].usage["input_axons"] += len(np.unique(pairs[1]))
            for index, count in zip(*np.unique(pairs[1], return_counts=True), strict=True):
                placement.cores[index].usage["output_axons"] += int(count)


def _count_output_axons(plan: LoihiPlan, placement: Placement) -> None:
    """Routes (synapse group, destination core) per source core; refuse a core over its limit."""
    for syn, (pre, weights) in ((s, route) for s in plan.synapses for route in s.routes()):
        if pre not in placement.neuron_core:
            continue  # an input: its routes start at the host, not on a core
        # One route per (destination core, presynaptic neuron reaching it).
        columns = block_columns(weights, placement.neuron_core[syn.post])
        counts = np.bincount(placement.neuron_core[pre][columns], minlength=len(placement.cores))
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
        label = " + ".join(
            part.population
            if part.size == len(placement.neuron_core[part.population])
            else f"{part.population}[{part.start}:{part.stop}]"
            for part in core.slices
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
    lines.append(
        "cores per population: "
        + ", ".join(f"{n} {k}" for n, k in cores_per_population(placement).items())
    )
    return "\n".join(lines)


def cores_per_population(placement: Placement) -> dict[str, int]:
    """How many cores hold each population, in placement order (the per-layer table
    Intel's compiler prints, to set beside it)."""
    counts: dict[str, int] = {}
    for core in placement.cores:
        for part in core.slices:
            counts[part.population] = counts.get(part.population, 0) + 1
    return counts


def placement_summary(plan: LoihiPlan, hardware: Hardware) -> str:
    """:func:`describe` for ``spikeforge compile``, or why the plan does not fit.

    Compiling still succeeds when it does not fit: the user may target a larger system
    (``spikeforge profile --hardware FILE``).
    """
    try:
        return describe(place(plan, hardware))
    except SpikeforgeError as exc:
        return f"warning: does not fit on {hardware.name}: {exc}"
