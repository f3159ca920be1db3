"""Count what a run does on the hardware: spikes, synaptic ops, neuron updates, messages, hops.

:class:`ActivityCounter` is fed one hardware step at a time (``update``), by every
backend through ``run(..., on_step=...)``, with each spike source's ``[batch, n]``
spikes: every input, every spiking population and, when the plan has one, the
always-spiking bias neuron ``BIAS_SOURCE`` (pacemakers, which fire the same way on
every step, are added by the counter itself). Definitions (per step, summed over the batch):

* **spikes** — spikes a population emits (or an input delivers);
* **synaptic ops** — one per spike per stored (non-zero) synapse it reaches, over all
  synapse groups (both weight planes of a fixed-point plan), counted at the spike's
  step on the *destination* population (its core does the work; a delayed synapse
  only defers the accumulated current, as Loihi's dendritic delay buffer does); a
  convolution (``plan.convolutions``) counts one op per spike per non-zero kernel
  entry it reaches, its shared kernel unrolled over the output positions;
* **active / inactive neuron updates** — every neuron on a core is updated every
  step; the update is *active* when the neuron receives at least one synaptic event
  that step (a spike whose delay ends now, through a non-zero weight) or fires, and
  *inactive* otherwise (only its state decays). Loihi prices the two differently
  (Davies et al. 2018, Table 2); active + inactive = neurons x batch;
* **messages** — one per spike per destination core it reaches, however many synapse
  processes (weight planes, delays) it feeds there, sent from the source's core
  (inputs: from the host I/O port); SANA-FE's calibrated Loihi model counts the same;
* **hops** — east-west and north-south mesh hops and chip crossings of those messages
  along the placement's routes (:meth:`Placement.hops`); ``longest_route`` keeps the
  per-step maximum of each, for the mesh term of the step latency.

Messages, hops and per-core figures need a placement; without one only per-population
spikes, synaptic ops and neuron updates are counted. Everything is vectorised torch
on the spikes' device; the per-neuron fan-outs and per-core maps are precomputed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Generic, TypeVar

import numpy as np
import torch

from spikeforge.compile.lower import ConvSynapses, LoihiPlan
from spikeforge.compile.placement import IO_CORE, Placement
from spikeforge.compile.timing import BIAS_SOURCE
from spikeforge.errors import SpikeforgeError
from spikeforge.ir.weights import block_column_counts, nonzeros_per_column
from spikeforge.runtimes.matrices import device_matrix, times

SpikeStep = Mapping[str, "torch.Tensor | np.ndarray"]
#: A count's value: a float per inference, or an array (numpy or torch) over steps,
#: rows (neurons, populations, cores) or both.
Value = TypeVar("Value", float, np.ndarray, torch.Tensor)


@dataclass(frozen=True)
class Route(Generic[Value]):
    """Mesh hops of messages: east-west, north-south and chip crossings
    (:meth:`Placement.hops`), as totals or, for the step latency, the longest route."""

    hops_east_west: Value
    hops_north_south: Value
    chip_hops: Value

    def map(self, fn: Callable[[Value], object]) -> Route:
        return Route(*(fn(getattr(self, h)) for h in HOPS))


@dataclass(frozen=True)
class Counts(Generic[Value]):
    """One population's, input's or core's counts (definitions: module docstring).

    Per inference every field is a float (:meth:`Activity.per_inference`); in an
    :class:`Activity` it is an array whose first axis is the hardware step. An input
    has spikes, messages and hops only: its synaptic ops and updates are counted on
    the populations it reaches, so they stay zero.
    """

    spikes: Value
    synaptic_ops: Value = 0.0
    active_updates: Value = 0.0
    inactive_updates: Value = 0.0
    messages: Value = 0.0
    hops_east_west: Value = 0.0
    hops_north_south: Value = 0.0
    chip_hops: Value = 0.0

    def map(self, fn: Callable[[Value], object]) -> Counts:
        """The same counts with ``fn`` applied to each value (sum, select a row, move)."""
        return Counts(**{f.name: fn(getattr(self, f.name)) for f in fields(self)})

    @property
    def route(self) -> Route:
        return Route(*(getattr(self, h) for h in HOPS))

    def as_dict(self, columns: tuple[str, ...] | None = None) -> dict[str, Value]:
        return {c: getattr(self, c) for c in columns or POPULATION_COUNTS}


HOPS = tuple(f.name for f in fields(Route))
#: Every count of a population (and of a core: those of the neurons on it).
POPULATION_COUNTS = tuple(f.name for f in fields(Counts))
CORE_COUNTS = POPULATION_COUNTS
#: The counts an input has (the rest stay zero, see :class:`Counts`).
INPUT_COUNTS = ("spikes", "messages", *HOPS)


@dataclass
class _CoreFanout:
    """Synapses a source's neurons reach per destination core, as index arrays over the
    distinct (neuron, core) pairs that a non-zero weight joins: proportional to the
    synapses, where a ``[neurons, cores]`` table of a 10^5-neuron network on ~4800
    cores would take gigabytes, almost all of it zeros."""

    neuron: np.ndarray | torch.Tensor
    core: np.ndarray | torch.Tensor
    synapses: np.ndarray | torch.Tensor

    def to(self, device: torch.device) -> _CoreFanout:
        return _CoreFanout(
            torch.as_tensor(self.neuron, dtype=torch.int64, device=device),
            torch.as_tensor(self.core, dtype=torch.int64, device=device),
            torch.as_tensor(self.synapses, dtype=torch.float64, device=device),
        )

    def per_core(self, counts: torch.Tensor, cores: torch.Tensor) -> None:
        """Add to ``cores`` the synaptic ops of ``counts`` spikes per neuron."""
        cores.index_add_(0, self.core, counts[self.neuron] * self.synapses)


@dataclass
class _Tables:
    """Per-source fan-out tables, as numpy arrays, then as tensors on the spikes' device.

    ``fanout_pop[s]`` ``[n_s, populations]``: synapses each neuron of ``s`` reaches per
    population; ``fanout_core[s]``: the same per destination core (:class:`_CoreFanout`);
    ``messages[s]`` ``[n_s]``: destination cores;
    ``hops[s]`` / ``longest[s]``: per neuron of ``s``, summed and longest routes of
    those messages; ``arrivals[(pre, post, delay)]`` ``[n_post, n_pre]``: which synapses
    a spike reaches after ``delay``, as a route stores its weights (CSR for a CSR route,
    :func:`~spikeforge.runtimes.matrices.device_matrix` on the device);
    ``neurons_per_core`` ``[populations, cores]``;
    ``pacemaker_spikes[name]`` ``[1, n]``: the one channel a pacemaker fires.
    """

    fanout_pop: dict
    fanout_core: dict[str, _CoreFanout]
    messages: dict
    hops: dict[str, Route]
    longest: dict[str, Route]
    arrivals: dict
    neurons_per_core: np.ndarray | torch.Tensor
    pacemaker_spikes: dict

    def to(self, device: torch.device) -> _Tables:
        def move(value: object) -> object:
            if isinstance(value, dict):
                return {k: move(v) for k, v in value.items()}
            if isinstance(value, Route):
                return value.map(move)
            if isinstance(value, _CoreFanout):
                return value.to(device)
            dtype = torch.float32 if value.dtype == np.float32 else torch.float64
            return torch.as_tensor(value, dtype=dtype, device=device)

        moved = {f.name: move(getattr(self, f.name)) for f in fields(self) if f.name != "arrivals"}
        arrivals = {k: device_matrix(v, torch.float32, device) for k, v in self.arrivals.items()}
        return replace(self, arrivals=arrivals, **moved)


@dataclass
class Activity:
    """Counts per step, summed over ``batch`` samples of ``steps`` hardware steps each.

    ``populations[name]`` and ``inputs[name]`` are :class:`Counts` of ``[steps]`` arrays
    (the bias neuron is a population named ``BIAS_SOURCE``); ``cores`` holds
    ``[steps, cores]`` arrays and ``longest_route`` ``[steps]`` arrays, both None
    without a placement.
    """

    batch: int
    steps: int
    sizes: dict[str, int]
    populations: dict[str, Counts]
    inputs: dict[str, Counts]
    cores: Counts | None
    longest_route: Route | None

    @property
    def placed(self) -> bool:
        return self.cores is not None

    def per_inference(self, name: str) -> Counts:
        """A population's (or input's) totals divided by the batch size."""
        table = self.populations[name] if name in self.populations else self.inputs[name]
        return table.map(lambda steps: float(steps.sum()) / self.batch)

    def total(self, count: str) -> float:
        """One count over everything (populations and inputs), per inference."""
        tables = [*self.populations.values(), *self.inputs.values()]
        return sum(float(getattr(t, count).sum()) for t in tables) / self.batch


def _zeros(rows: int, device: torch.device | None) -> Counts:
    """Counts of ``rows`` populations, inputs or cores for one step, to add to in place."""
    return Counts(
        *(torch.zeros(rows, dtype=torch.float64, device=device) for _ in POPULATION_COUNTS)
    )


def _stack(steps: list) -> Counts | Route:
    """Per-step :class:`Counts` or :class:`Route` of tensors stacked along a new first
    (step) axis, as numpy arrays."""
    first = steps[0]
    return type(first)(
        **{
            f.name: torch.stack([getattr(s, f.name) for s in steps]).cpu().numpy()
            for f in fields(first)
        }
    )


class ActivityCounter:
    """Accumulates :class:`Activity` from a stream of hardware steps (module docstring)."""

    def __init__(self, plan: LoihiPlan, placement: Placement | None = None) -> None:
        self.plan = plan
        self.placement = placement
        always = ([BIAS_SOURCE] if plan.uses_bias_source else []) + list(plan.pacemakers)
        names = always + list(plan.populations)
        self._pops = names
        self._pop_index = {name: i for i, name in enumerate(names)}
        self._sizes = {name: plan.source_size(name) for name in [*plan.inputs, *names]}
        self._input_index = {name: i for i, name in enumerate(plan.inputs)}
        self._n_cores = 0 if placement is None else len(placement.cores)
        self._sources = list(plan.inputs) + [
            n for n in names if n in always or plan.populations[n].spiking
        ]
        self._paced = set(plan.pacemakers)
        self._tables = self._precompute()
        # Set on the first step, from the spikes' device and batch size.
        self._device: torch.device | None = None
        self._batch: int | None = None
        self._t: _Tables | None = None
        self._core_of: dict[str, torch.Tensor] = {}
        self._max_delay = max((k[2] for k in self._tables.arrivals), default=1)
        self._arrivals_into: dict[str, list[tuple[str, int, torch.Tensor]]] = {}
        self._history: dict[str, deque] = {}
        self._pop_steps: list[torch.Tensor] = []
        self._input_steps: list[torch.Tensor] = []
        self._core_steps: list[torch.Tensor] = []
        self._route_steps: list[torch.Tensor] = []

    # ------------------------------------------------------------------ precompute

    def _precompute(self) -> _Tables:
        """Per-source fan-out tables (numpy, moved to the spikes' device on first use)."""
        plan, placement = self.plan, self.placement
        n_pops = len(self._pops)
        n_cores = 0 if placement is None else len(placement.cores)
        fanout_pop = {s: np.zeros((self._sizes[s], n_pops)) for s in self._sources}
        arrivals: dict[tuple[str, str, int], np.ndarray] = {}
        # Per source, (neuron, core, synapses) pieces from every route and convolution.
        pieces: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        routes = [(pre, w, syn) for syn in plan.synapses for pre, w in syn.routes()]
        for pre, weights, syn in routes:
            stored = weights != 0  # a CSR matrix's mask stays CSR
            fanout_pop[pre][:, self._pop_index[syn.post]] += nonzeros_per_column(weights)
            key = (pre, syn.post, 1 + syn.extra_delay)
            # Boolean + is OR, for an ndarray and a scipy matrix alike.
            arrivals[key] = arrivals[key] + stored if key in arrivals else stored
            if placement is not None:
                cores, columns, counts = block_column_counts(
                    weights, placement.neuron_core[syn.post]
                )
                pieces.setdefault(pre, []).append((columns, cores, counts))
        for conv in plan.convolutions:
            post = self._pop_index[conv.post]
            dest = (
                placement.neuron_core[conv.post]
                if placement is not None
                else np.zeros(self._sizes[conv.post], dtype=np.int64)
            )
            for core in np.unique(dest):
                fan = _conv_fanout(conv, dest == core)
                fanout_pop[conv.pre][:, post] += fan
                if placement is not None:
                    reached = np.flatnonzero(fan)
                    pieces.setdefault(conv.pre, []).append(
                        (reached, np.full(len(reached), core), fan[reached])
                    )
        fanout_core = {
            s: _merged(pieces.get(s, []), n_cores) for s in (self._sources if placement else [])
        }
        messages, hops, longest = self._routes(fanout_core)
        neurons_per_core = np.zeros((n_pops, n_cores))
        if placement is not None:
            for name in self._pops:
                cores = np.bincount(placement.neuron_core[name], minlength=n_cores)
                neurons_per_core[self._pop_index[name]] = cores
        return _Tables(
            fanout_pop=fanout_pop,
            fanout_core=fanout_core,
            messages=messages,
            hops=hops,
            longest=longest,
            arrivals=arrivals,
            neurons_per_core=neurons_per_core,
            pacemaker_spikes={
                name: np.eye(1, self._sizes[name], channel, dtype=np.float32)
                for name, (_, channel) in plan.pacemakers.items()
            },
        )

    def _routes(
        self, fanout_core: dict[str, _CoreFanout]
    ) -> tuple[dict[str, np.ndarray], dict[str, Route], dict[str, Route]]:
        """Per neuron of each source: messages (one per spike per destination core,
        however many synapse processes — weight planes, delays — it feeds there: the core
        expands it to its synapses), and the summed and longest routes of those messages."""
        messages = {s: np.zeros(self._sizes[s]) for s in self._sources}
        zeros = {s: Route(*(np.zeros(self._sizes[s]) for _ in HOPS)) for s in self._sources}
        hops, longest = dict(zeros), dict(zeros)
        for pre, fan in fanout_core.items():
            n = self._sizes[pre]
            source = self.placement.neuron_core.get(pre, np.full(n, IO_CORE))
            route = _pair_hops(self.placement, source[fan.neuron], fan.core)
            messages[pre] = np.bincount(fan.neuron, minlength=n).astype(np.float64)
            hops[pre] = Route(*(np.bincount(fan.neuron, r, minlength=n) for r in route.T))
            most = np.zeros((n, len(HOPS)))
            np.maximum.at(most, fan.neuron, route)
            longest[pre] = Route(*most.T)
        return messages, hops, longest

    def _to_device(self, device: torch.device) -> None:
        self._device = device
        self._t = self._tables.to(device)
        if self.placement is not None:
            self._core_of = {
                name: torch.as_tensor(self.placement.neuron_core[name], device=device)
                for name in self._pops
            }
        self._arrivals_into = {name: [] for name in self._pops}
        self._convs_into: dict[str, list[tuple[ConvSynapses, torch.Tensor]]] = {}
        for conv in self.plan.convolutions:
            kernel = torch.as_tensor(_torch_mask(conv), dtype=torch.float32, device=device)
            self._convs_into.setdefault(conv.post, []).append((conv, kernel))
        for (pre, post, delay), mask in self._t.arrivals.items():
            self._arrivals_into[post].append((pre, delay, mask))

    # ------------------------------------------------------------------ per step

    def __call__(self, spikes: SpikeStep) -> None:
        """``run(..., on_step=...)`` calls its observer with each step."""
        self.update(spikes)

    def update(self, spikes: SpikeStep) -> None:
        """Count one hardware step: ``spikes[name]`` is ``[batch, n]`` for every source."""
        step = self._checked(spikes)
        for name, fired in self._t.pacemaker_spikes.items():
            step[name] = fired.expand(self._batch, -1)
        t = self._t
        placed = self.placement is not None
        pop = _zeros(len(self._pops), self._device)
        inputs = _zeros(len(self._input_index), self._device)
        core = _zeros(self._n_cores, self._device)
        route = Route(*(torch.zeros((), dtype=torch.float64, device=self._device) for _ in HOPS))
        for name in self._sources:
            counts = step[name].sum(dim=0, dtype=torch.float64)  # per neuron, over the batch
            pop.synaptic_ops.add_(counts @ t.fanout_pop[name])
            if name in self._input_index:
                row, i = inputs, self._input_index[name]
            else:
                row, i = pop, self._pop_index[name]
            row.spikes[i] = counts.sum()
            if not placed:
                continue
            row.messages[i] = counts @ t.messages[name]
            for hop in HOPS:
                getattr(row, hop)[i] = counts @ getattr(t.hops[name], hop)
            t.fanout_core[name].per_core(counts, core.synaptic_ops)
            fired = (counts > 0).to(torch.float64)
            route = Route(
                *(
                    torch.maximum(getattr(route, h), (getattr(t.longest[name], h) * fired).amax())
                    for h in HOPS
                )
            )
            if name in self._pop_index:
                where = self._core_of[name]
                core.spikes.index_add_(0, where, counts)
                core.messages.index_add_(0, where, counts * t.messages[name])
                for hop in HOPS:
                    getattr(core, hop).index_add_(0, where, counts * getattr(t.hops[name], hop))
        self._remember(step)
        for name, i in self._pop_index.items():
            n_active = self._active(name, step).sum(dim=0, dtype=torch.float64)
            pop.active_updates[i] = n_active.sum()
            pop.inactive_updates[i] = self._batch * self._sizes[name] - pop.active_updates[i]
            if placed:
                core.active_updates.index_add_(0, self._core_of[name], n_active)
        if placed:
            everyone = self._batch * t.neurons_per_core.sum(dim=0)
            core.inactive_updates.copy_(everyone - core.active_updates)
            self._core_steps.append(core)
            self._route_steps.append(route)
        self._pop_steps.append(pop)
        self._input_steps.append(inputs)

    def _checked(self, spikes: SpikeStep) -> dict[str, torch.Tensor]:
        """Every source present, one batch size, as 0/1 float tensors on one device."""
        known = set(self._sources) | set(self.plan.populations) | {BIAS_SOURCE}
        unknown = set(spikes) - known
        if unknown:
            raise SpikeforgeError(
                f"activity counter: {sorted(unknown)} are neither inputs nor populations "
                "of the plan"
            )
        given = [s for s in self._sources if s not in self._paced]
        missing = [s for s in given if s not in spikes]
        if missing:
            raise SpikeforgeError(f"activity counter: no spikes given for {missing}")
        step = {}
        for name in given:
            value = spikes[name]
            tensor = (
                value if isinstance(value, torch.Tensor) else torch.from_numpy(np.asarray(value))
            )
            if self._device is None:
                self._to_device(tensor.device)
                self._batch = int(tensor.shape[0])
            tensor = tensor.to(self._device).reshape(tensor.shape[0], -1)
            if tensor.shape != (self._batch, self._sizes[name]):
                raise SpikeforgeError(
                    f"activity counter: spikes of '{name}' have shape {list(tensor.shape)}, "
                    f"expected [{self._batch}, {self._sizes[name]}]"
                )
            step[name] = (tensor != 0).to(torch.float32)
        return step

    def _remember(self, step: dict[str, torch.Tensor]) -> None:
        for name, z in step.items():
            history = self._history.setdefault(name, deque(maxlen=self._max_delay + 1))
            history.appendleft(z)

    def _active(self, name: str, step: dict[str, torch.Tensor]) -> torch.Tensor:
        """``[batch, n]``: received a synaptic event this step, or fired."""
        if name in step:
            active = step[name] > 0
        else:
            active = torch.zeros(
                self._batch, self._sizes[name], dtype=torch.bool, device=self._device
            )
        for conv, kernel in self._convs_into.get(name, []):
            history = self._history[conv.pre]
            if len(history) > 1:  # a Conv delivers on the next step
                active |= _conv_reached(conv, kernel, history[1])
        for pre, delay, mask in self._arrivals_into[name]:
            history = self._history[pre]
            # history[0] is this step; a spike sent ``delay`` steps ago arrives now.
            if delay < len(history):
                active |= times(history[delay], mask) > 0
        return active

    # ------------------------------------------------------------------ result

    def result(self) -> Activity:
        if not self._pop_steps:
            raise SpikeforgeError("activity counter: no steps were counted")
        pops, inputs = _stack(self._pop_steps), _stack(self._input_steps)
        placed = self.placement is not None
        return Activity(
            batch=self._batch,
            steps=len(self._pop_steps),
            sizes=dict(self._sizes),
            populations={n: pops.map(lambda a, i=i: a[:, i]) for n, i in self._pop_index.items()},
            inputs={n: inputs.map(lambda a, i=i: a[:, i]) for n, i in self._input_index.items()},
            cores=_stack(self._core_steps) if placed else None,
            longest_route=_stack(self._route_steps) if placed else None,
        )


def _merged(pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray]], n_cores: int) -> _CoreFanout:
    """(neuron, core, synapses) pieces of one source summed per distinct (neuron, core)
    pair: several routes (weight planes, delays, groups) may reach the same core."""
    if not pieces:
        empty = np.zeros(0, dtype=np.int64)
        return _CoreFanout(empty, empty, np.zeros(0))
    neuron, core, synapses = (np.concatenate(p) for p in zip(*pieces, strict=True))
    pairs, which = np.unique(
        neuron.astype(np.int64) * n_cores + core.astype(np.int64), return_inverse=True
    )
    summed = np.bincount(which, weights=synapses.astype(np.float64), minlength=len(pairs))
    return _CoreFanout(pairs // n_cores, pairs % n_cores, summed)


def _pair_hops(placement: Placement, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """``[pairs, 3]`` :meth:`Placement.hops` of each ``src[i] -> dst[i]`` message, asked
    once per distinct pair of positions: a route depends only on where its two ends sit,
    and the cores of a tile share one position (at 10^5 neurons that is ~10^5 questions
    where distinct pairs of cores are millions)."""
    cores = [IO_CORE, *range(len(placement.cores))]
    places = np.array([placement.position(c) for c in cores])
    _, first, place_of = np.unique(places, axis=0, return_index=True, return_inverse=True)
    place_of = place_of.ravel()
    n = len(first)
    # Cores are shifted by one so that IO_CORE (-1) indexes the first row.
    pairs, which = np.unique(place_of[src + 1] * n + place_of[dst + 1], return_inverse=True)
    route = np.array(
        [placement.hops(cores[first[p // n]], cores[first[p % n]]) for p in pairs],
        dtype=np.float64,
    ).reshape(len(pairs), len(HOPS))
    return route[which]


def _torch_mask(conv: ConvSynapses) -> np.ndarray:
    """Non-zero kernel entries in torch's ``(C_out, C_in / groups, kH, kW)`` layout."""
    return (conv.torch_kernel() != 0).astype(np.float32)


def _conv_fanout(conv: ConvSynapses, post: np.ndarray) -> np.ndarray:
    """Per presynaptic neuron, the stored conv synapses it reaches among ``post`` (a
    mask over the post population): the kernel's transpose applied to ``post``."""
    w_in, h_in, c_in = conv.input_shape
    target = conv.image(torch.as_tensor(post[None] * 1.0, dtype=torch.float64), "post")
    fan = torch.nn.grad.conv2d_input(
        (1, c_in, h_in, w_in),
        torch.as_tensor(_torch_mask(conv), dtype=torch.float64),
        target,
        **conv.torch_geometry(),
    )
    return conv.flat(fan)[0].round().numpy()


def _conv_reached(conv: ConvSynapses, kernel: torch.Tensor, spikes: torch.Tensor) -> torch.Tensor:
    """``[batch, n_post]``: post neurons that ``spikes`` reach through a non-zero weight."""
    out = torch.nn.functional.conv2d(conv.image(spikes), kernel, **conv.torch_geometry())
    return conv.flat(out) > 0


def count_activity(
    plan: LoihiPlan,
    rasters: Mapping[str, np.ndarray],
    placement: Placement | None = None,
) -> Activity:
    """Count recorded ``[batch, time, n]`` rasters in hardware steps.

    The bias neuron fires on every step by construction, so its raster may be left out.
    """
    rasters = dict(rasters)
    steps = {a.shape[1] for a in rasters.values()}
    if len(steps) != 1:
        raise SpikeforgeError(f"rasters disagree in their number of steps: {sorted(steps)}")
    (length,) = steps
    if plan.uses_bias_source and BIAS_SOURCE not in rasters:
        batch = next(iter(rasters.values())).shape[0]
        rasters[BIAS_SOURCE] = np.ones((batch, length, 1))
    counter = ActivityCounter(plan, placement)
    for t in range(length):
        counter.update({name: arr[:, t] for name, arr in rasters.items()})
    return counter.result()


def from_source_time(
    observer: Callable[[SpikeStep], None], plan: LoihiPlan
) -> Callable[[SpikeStep], None]:
    """Turn a stream in source time (the reference backend) into hardware steps.

    A population with latency ``L`` fires on hardware step ``t`` what the source
    model fires on step ``t - L``; inputs and the bias neuron are not delayed. Pad
    the inputs with ``max(plan.latency)`` silent steps to see every population's
    last source step.
    """
    delayed: dict[str, deque] = {}

    def on_step(spikes: SpikeStep) -> None:
        step = {}
        for name, value in spikes.items():
            latency = plan.latency.get(name, 0) if name in plan.populations else 0
            if latency == 0:
                step[name] = value
                continue
            queue = delayed.setdefault(name, deque([value * 0] * latency))
            queue.append(value)
            step[name] = queue.popleft()
        observer(step)

    return on_step
