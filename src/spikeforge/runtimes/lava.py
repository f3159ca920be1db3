"""Run a Loihi plan on Lava's CPU simulator (``Loihi2SimCfg``, floating or fixed point).

Lava runs every process as an OS process. A batch is run on one process graph,
built and compiled once: the samples' inputs lie one after another in the source's
ring buffer, the graph runs each sample's steps, and between samples every state
variable (``u``, ``v``, a synapse's accumulation buffer, a firing rule's pending
reset) is set back to its initial value, so each sample starts as on a fresh graph.
Outputs come back either aligned to source time (each population read ``latency``
steps later) or raw.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from lava.magma.core.process.ports.ports import InPort
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.conv.process import Conv
from lava.proc.dense.process import DelayDense, Dense
from lava.proc.io.sink import RingBuffer as SinkBuffer
from lava.proc.io.source import RingBuffer as SourceBuffer
from lava.proc.lif.process import LIF, LIFReset
from lava.proc.monitor.process import Monitor
from lava.proc.sparse.process import DelaySparse, Sparse
from lava.utils.weightutils import determine_sign_mode

from spikeforge.compile.compiled import CompiledNet
from spikeforge.compile.lower import CorePopulation, LoihiPlan, Synapses
from spikeforge.compile.timing import BIAS_SOURCE
from spikeforge.errors import UnsupportedError
from spikeforge.ir.weights import is_sparse
from spikeforge.progress import progress
from spikeforge.runtimes.lava_sdn import sdn_process, state_var
from spikeforge.runtimes.options import DEFAULT_OPTIONS, RunOptions
from spikeforge.runtimes.result import (
    RunResult,
    checked_record,
    hardware_result,
    prepare_drive,
    readout_sources,
    replay_steps,
)

_TAGS = {"float": "floating_pt", "fixed": "fixed_pt"}
#: Runs one sample ``(plan, {input: [time, n]}, steps, watch, record_v)`` and returns
#: ``(spikes, voltages)``, each ``{population: [steps, n]}`` in raw hardware steps.
#: A bias-driven population's entry in the sample is its ``bias_mant`` ``[n]``.
SampleRunner = Callable[
    [LoihiPlan, dict[str, np.ndarray], int, list[str], list[str]],
    tuple[dict[str, np.ndarray], dict[str, np.ndarray]],
]
#: Runs every sample of a batch and returns the ``(spikes, voltages)`` of each, as
#: :data:`SampleRunner` does for one; the last argument wraps the loop over sample
#: indices (a progress bar).
BatchRunner = Callable[
    [
        LoihiPlan,
        list[dict[str, np.ndarray]],
        int,
        list[str],
        list[str],
        Callable[[Iterable[int]], Iterable[int]],
    ],
    list[tuple[dict[str, np.ndarray], dict[str, np.ndarray]]],
]
#: Variables a process changes while it runs; set back to their initial values
#: between the samples of a batch (LIF, SfLif, Dense/DelayDense, Conv, and
#: lava.proc.sdn's Delta/SigmaDelta/Sigma).
STATE_VARS = (
    "u", "v", "pending", "a_buff", "a_buf", "sigma", "act", "residue", "error", "cum_error",
)  # fmt: skip


def run_lava(
    compiled: CompiledNet,
    inputs: np.ndarray | Mapping[str, np.ndarray] | None,
    options: RunOptions = DEFAULT_OPTIONS,
) -> RunResult:
    """Run every sample on the Lava simulator; see :class:`RunResult` for the layout.

    ``options.on_step`` sees every hardware step's spikes after the run (Lava cannot
    call back during one), which needs every spiking population's raster. A netx
    network whose input layer has a neuron takes ``input_bias`` (``[batch, *shape]``)
    and ``steps`` instead of ``inputs``. ``precision`` defaults to the compiled one.
    """
    return run_samples(compiled, inputs, options, _run_sample, "Lava", run_batch=_run_batch)


def run_samples(
    compiled: CompiledNet,
    inputs: np.ndarray | Mapping[str, np.ndarray] | None,
    options: RunOptions,
    run_sample: SampleRunner,
    label: str,
    run_batch: BatchRunner | None = None,
) -> RunResult:
    """Run the samples with ``run_batch`` (one process graph for all) where it is given
    and :func:`batch_blocker` allows, else each with ``run_sample`` (a fresh process
    graph each), and align the outputs.

    Shared by the simulator and the chip (:mod:`spikeforge.runtimes.loihi2`), which
    differ only in how a process graph is connected to the host and run.
    """
    on_step = options.on_step
    network = compiled.network
    plan = compiled.plan(options.precision)
    record = checked_record(network, options.record)
    drive = prepare_drive(
        network, plan, inputs, options.input_bias, options.steps, options.raw_timing, label
    )
    flat, batch, steps = drive.flat, drive.batch, drive.steps
    watch = readout_sources(network) | set(record)
    if on_step is not None:
        watch |= {n for n, p in plan.populations.items() if p.spiking}
    watch = sorted(watch)
    # A bias-driven run has no source time: it runs exactly the steps asked for.
    total_steps = steps if drive.bias else steps + max((plan.latency[n] for n in watch), default=0)
    spikes = {
        n: np.zeros((batch, total_steps, plan.populations[n].size))
        for n in watch
        if plan.populations[n].spiking
    }
    volts: dict[str, np.ndarray] = {}
    samples = [{name: arr[b] for name, arr in {**flat, **drive.bias}.items()} for b in range(batch)]

    def track(indices: Iterable[int]) -> Iterable[int]:
        return progress(indices, desc=f"{label} {plan.precision}", enabled=options.show_progress)

    if run_batch is not None and batch_blocker(plan, total_steps) is None:
        results = run_batch(plan, samples, total_steps, watch, record, track)
    else:
        results = (
            run_sample(plan, samples[b], total_steps, watch, record) for b in track(range(batch))
        )
    for b, (s, v) in enumerate(results):
        for n in spikes:
            spikes[n][b] = s[n]
        for n, trace in v.items():
            volts.setdefault(n, np.zeros((batch, total_steps, plan.populations[n].size)))[b] = trace
    if on_step is not None:
        replay_steps(flat, spikes, total_steps, plan.uses_bias_source, on_step)
    return hardware_result(
        network, plan, flat, spikes, volts, total_steps, record, options.raw_timing,
        drive.added_batch, (batch, steps),
    )  # fmt: skip


def _run_sample(
    plan: LoihiPlan,
    sample: dict[str, np.ndarray],
    steps: int,
    watch: list[str],
    record_v: list[str],
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Build the process graph for one sample, run it, read spikes and voltages back:
    :func:`_run_batch` on a batch of one, so both paths share one graph builder."""
    return _run_batch(plan, [sample], steps, watch, record_v)[0]


def batch_blocker(plan: LoihiPlan, steps: int) -> str | None:
    """Why the samples of a batch cannot share one process graph, or None if they can.

    ``LIFReset`` resets at ``time_step % interval == offset`` of the graph's own clock,
    which keeps counting across samples: a sample starts on the same phase only when
    its steps are a multiple of every interval.
    """
    for pop in plan.populations.values():
        if pop.reset_interval and steps % pop.reset_interval:
            return (
                f"population {pop.name} resets every {pop.reset_interval} steps and a sample "
                f"runs {steps}: later samples would start on another reset phase"
            )
    return None


def _run_batch(
    plan: LoihiPlan,
    samples: list[dict[str, np.ndarray]],
    steps: int,
    watch: list[str],
    record_v: list[str],
    track: Callable[[Iterable[int]], Iterable[int]] = iter,
) -> list[tuple[dict[str, np.ndarray], dict[str, np.ndarray]]]:
    """Build and compile the process graph once and run every sample on it in turn.

    The inputs of all samples lie end to end in each source's ring buffer, and sinks
    and monitors record the whole batch; between samples, every state variable is
    set back to its initial value (and a bias-driven population's ``bias_mant`` to
    the next sample's), which is what a freshly built graph would start from.
    """
    from lava.magma.compiler.compiler_graphs import find_processes

    first = samples[0] if samples else {}
    count = len(samples)
    total = count * steps
    biased = [n for n, p in plan.populations.items() if p.bias_driven]
    graph = build_process_graph(plan, {n: first[n] for n in biased})
    neurons = graph.neurons
    for name, ports in graph.input_ports.items():
        data = np.concatenate([input_buffer(plan, sample[name], steps) for sample in samples], 1)
        shape = tuple(ports[0].shape) if ports else (plan.inputs[name],)
        source = SourceBuffer(data=data.reshape(*shape, total))
        for port in ports:
            connect_source(source.s_out, port)
    sinks, monitors = _probes(plan, neurons, watch, record_v, total)
    config = Loihi2SimCfg(select_tag=_TAGS[plan.precision])
    logging.getLogger("lava").setLevel(logging.WARNING)
    spikes: dict[str, np.ndarray] = {}
    volts: dict[str, np.ndarray] = {}
    for component in connected_parts(plan):
        anchor = neurons[component[0]]
        state = [
            (var, np.broadcast_to(np.asarray(var.init), var.shape).copy())
            for proc in find_processes(anchor)
            for var in (getattr(proc, name, None) for name in STATE_VARS)
            if var is not None
        ]
        try:
            for index in track(range(count)):
                sample = samples[index]
                if index:
                    for var, initial in state:
                        var.set(initial)
                    for n in biased:
                        if n in component:
                            neurons[n].bias_mant.set(_bias(plan.populations[n], sample[n]))
                anchor.run(condition=RunSteps(num_steps=steps), run_cfg=config)
            _read(plan, component, sinks, monitors, neurons, total, spikes, volts)
        finally:
            anchor.stop()
    return [
        (
            {n: x[b * steps : (b + 1) * steps] for n, x in spikes.items()},
            {n: x[b * steps : (b + 1) * steps] for n, x in volts.items()},
        )
        for b in range(count)
    ]


def _bias(pop: CorePopulation, bias: np.ndarray) -> np.ndarray:
    """A sample's ``bias_mant`` as :func:`_lif` sets it (int32 in the LIF's shape)."""
    shape = tuple(pop.shape) if pop.shape else (pop.size,)
    return np.broadcast_to(np.asarray(bias), (pop.size,)).reshape(shape).astype(np.int32)


def _probes(
    plan: LoihiPlan, neurons: dict[str, LIF], watch: list[str], record_v: list[str], steps: int
) -> tuple[dict[str, SinkBuffer], dict[str, Monitor]]:
    """Spike sinks of the watched spiking populations, voltage monitors of the recorded
    (and non-spiking) ones, each ``steps`` long."""
    sinks = {}
    monitors = {}
    for name in watch:
        if plan.populations[name].spiking:
            sinks[name] = SinkBuffer(shape=(plan.populations[name].size,), buffer=steps)
            _connect(neurons[name].s_out, sinks[name].a_in)
        if name in record_v or not plan.populations[name].spiking:
            monitors[name] = Monitor()
            monitors[name].probe(state_var(neurons[name], plan.populations[name]), steps)
    return sinks, monitors


def _read(
    plan: LoihiPlan,
    component: list[str],
    sinks: dict[str, SinkBuffer],
    monitors: dict[str, Monitor],
    neurons: dict[str, LIF],
    steps: int,
    spikes: dict[str, np.ndarray],
    volts: dict[str, np.ndarray],
) -> None:
    """Read one component's sinks and monitors (``[steps, n]``) while it is paused."""
    for n in component:
        if n in sinks:
            spikes[n] = sinks[n].data.get().T.astype(np.float64)
        if n in monitors:
            var = state_var(neurons[n], plan.populations[n]).name
            data = monitors[n].get_data()[neurons[n].name][var]
            volts[n] = np.asarray(data, dtype=np.float64).reshape(steps, -1)


def connected_parts(plan: LoihiPlan) -> list[list[str]]:
    """The plan's populations grouped into parts that synapses (or a shared source) connect."""
    parent = {name: name for name in [*plan.populations, *plan.inputs, BIAS_SOURCE]}

    def root(name: str) -> str:
        while parent[name] != name:
            name = parent[name]
        return name

    for syn in [*plan.synapses, *plan.convolutions]:
        parent[root(syn.pre)] = root(syn.post)
    groups: dict[str, list[str]] = {}
    for name in plan.populations:
        groups.setdefault(root(name), []).append(name)
    return list(groups.values())


@dataclass
class ProcessGraph:
    """A plan as Lava processes: one LIF per population (and the bias and pacemaker neurons).

    Network inputs are left open: ``input_ports[name]`` are the synapse ports input
    ``name`` drives, so each runtime attaches its own source (a ring buffer on the
    simulator, a ring buffer behind an embedded-I/O adapter on the chip).
    """

    neurons: dict[str, LIF]
    input_ports: dict[str, list[InPort | ChwPort]]


def _connect(out, port) -> None:
    """Connect ports of equal size, through a reshape where the shapes differ (a netx
    (W, H, C) population feeding a dense synapse: C order, as the plan numbers neurons)."""
    if tuple(out.shape) != tuple(port.shape):
        out = out.reshape(tuple(port.shape))
    out.connect(port)


def _sparse_process(syn: Synapses, kwargs: dict) -> Sparse | DelaySparse:
    """Lava's ``Sparse`` (``DelaySparse`` with an extra delay) for a CSR matrix: the same
    bit-accurate sums as ``Dense`` without a dense copy (Lava keeps it a csr_matrix)."""
    kwargs = {**kwargs, "weights": sp.csr_matrix(kwargs["weights"])}
    if syn.delays is not None:  # netx per-synapse delays come dense, never as CSR
        raise UnsupportedError(
            f"synapses '{syn.pre}' -> '{syn.post}': sparse with per-synapse delays"
        )
    if not syn.extra_delay:
        return Sparse(**kwargs)
    delays = kwargs["weights"].copy()
    delays.data = np.full(len(delays.data), syn.extra_delay)
    return DelaySparse(delays=delays.astype(int), **kwargs)


def build_process_graph(
    plan: LoihiPlan, biases: Mapping[str, np.ndarray] | None = None
) -> ProcessGraph:
    """The processes of ``plan``, at its precision (fixed: Lava's bit-accurate formats).

    ``biases`` sets the ``bias_mant`` of bias-driven populations (netx input layers).
    """
    fixed = plan.precision == "fixed"
    biases = biases or {}
    neurons = {
        name: sdn_process(pop, fixed) if pop.sdn else _lif(pop, fixed, biases.get(name))
        for name, pop in plan.populations.items()
    }
    if plan.uses_bias_source:
        neurons[BIAS_SOURCE] = _always_spiking(BIAS_SOURCE, 1, 0, fixed)
    for name, (pre, channel) in plan.pacemakers.items():
        neurons[name] = _always_spiking(name, plan.source_size(pre), channel, fixed)
    input_ports: dict[str, list[InPort | ChwPort]] = {name: [] for name in plan.inputs}
    for name, source in plan.direct_inputs.items():  # SDNN: a Delta layer reads the input
        input_ports[source].append(neurons[name].a_in)
    for syn in plan.synapses:
        kwargs = {
            "weights": syn.weights.astype(np.int32) if fixed else syn.weights,
            "num_message_bits": syn.num_message_bits,  # > 0: reads payloads (counts) in both
        }
        if fixed:
            kwargs.update(
                weight_exp=syn.weight_exp,
                num_weight_bits=syn.num_weight_bits,
                sign_mode=determine_sign_mode(syn.weights),
            )
        if is_sparse(syn.weights):
            proc = _sparse_process(syn, kwargs)
        elif syn.delays is not None:
            proc = DelayDense(delays=(syn.delays + syn.extra_delay).astype(int), **kwargs)
        elif syn.extra_delay:
            proc = DelayDense(delays=np.full(syn.weights.shape, syn.extra_delay), **kwargs)
        else:
            proc = Dense(**kwargs)
        if syn.pre in input_ports:
            input_ports[syn.pre].append(proc.s_in)
        else:
            _connect(neurons[syn.pre].s_out, proc.s_in)
        if syn.pacemaker is not None:
            neurons[syn.pacemaker].s_out.connect(proc.s_in)
        _connect(proc.a_out, neurons[syn.post].a_in)
    for conv in plan.convolutions:
        # Lava's CPU Conv models ignore weight_exp, so they get the shifted weights.
        weight = np.asarray(conv.weight) * 2**conv.weight_exp
        proc = Conv(
            weight=weight.astype(np.int32) if fixed else weight.astype(float),
            input_shape=tuple(conv.input_shape),
            padding=tuple(conv.padding),
            stride=tuple(conv.stride),
            dilation=tuple(conv.dilation),
            groups=conv.groups,
            num_message_bits=conv.num_message_bits,
        )
        if conv.pre in input_ports:
            input_ports[conv.pre].append(ChwPort(proc.s_in) if conv.chw else proc.s_in)
        else:
            _connect(_whc_view(neurons[conv.pre].s_out, conv.input_shape, conv.chw), proc.s_in)
        _connect(_flat_view(proc.a_out, conv.output_shape, conv.chw), neurons[conv.post].a_in)
    return ProcessGraph(neurons, input_ports)


def _whc_view(out, whc: list[int], chw: bool):
    """A population's or input's output port as a ``chw`` Conv reads it: its (C, H, W)
    numbering as Lava's (W, H, C), through virtual reshape and transpose ports."""
    return out.reshape(tuple(whc[::-1])).transpose((2, 1, 0)) if chw else out


def _flat_view(out, whc: list[int], chw: bool):
    """A ``chw`` Conv's (W, H, C) output port in the (C, H, W) numbering of its post."""
    return out.transpose((2, 1, 0)).reshape((int(np.prod(whc)),)) if chw else out


@dataclass
class ChwPort:
    """A ``chw`` Conv's input port where a network input (numbered (C, H, W)) feeds it:
    a runtime connects its source with :func:`connect_source`. ``shape`` is the flat
    input's, so the source is built flat."""

    port: InPort

    @property
    def shape(self) -> tuple[int, ...]:
        return (int(np.prod(self.port.shape)),)


def connect_source(out, port: InPort | ChwPort) -> None:
    """Connect a network input's source to one of the ports it drives."""
    if isinstance(port, ChwPort):
        _whc_view(out, list(port.port.shape), True).connect(port.port)
    else:
        _connect(out, port)


def input_buffer(plan: LoihiPlan, spikes: np.ndarray, steps: int) -> np.ndarray:
    """A source ring buffer's data for one input's ``[time, n]`` spikes: ``[n, steps]``."""
    data = np.zeros((spikes.shape[1], steps))
    data[:, : spikes.shape[0]] = spikes.T
    return data.astype(np.int32) if plan.precision == "fixed" else data


def _lif(pop: CorePopulation, fixed: bool, bias: np.ndarray | None = None) -> LIF:
    """A ``LIF`` (``LIFReset`` with a reset interval) of the population's shape;
    ``bias`` replaces ``bias_mant`` (a bias-driven netx input layer's sample)."""
    shape = tuple(pop.shape) if pop.shape else (pop.size,)

    def cast(a: np.ndarray) -> np.ndarray:
        a = np.broadcast_to(np.asarray(a), (pop.size,)).reshape(shape)
        return a.astype(np.int32) if fixed else a.astype(float)

    vth = pop.vth if (fixed or np.isfinite(pop.vth)) else np.finfo(np.float64).max
    kwargs = dict(
        shape=shape,
        du=pop.du,
        dv=pop.dv,
        vth=vth,
        bias_mant=cast(pop.bias_mant if bias is None else bias),
        bias_exp=cast(pop.bias_exp),
        v=cast(pop.v_init),
        name=pop.name,
    )
    if not pop.standard:
        if pop.reset_interval:
            raise UnsupportedError(
                f"population {pop.name}: a periodic reset with the {pop.reset} / "
                f"{pop.threshold} firing rule (no Lava process has both)"
            )
        from spikeforge.runtimes.lava_neuron import RESET_CODES, SfLif

        return SfLif(
            reset_mode=RESET_CODES[pop.reset],
            inclusive=pop.threshold == ">=",
            multi_spike=pop.multi_spike,
            decay_bits=pop.decay_bits,
            **kwargs,
        )
    if pop.reset_interval:
        return LIFReset(reset_interval=pop.reset_interval, reset_offset=pop.reset_offset, **kwargs)
    return LIF(**kwargs)


def _always_spiking(name: str, size: int, channel: int, fixed: bool) -> LIF:
    """Neuron ``channel`` of ``size`` spikes on every step (v = bias > vth, reset, repeat).

    The bias neuron is one of these; a pacemaker is as large as the source whose
    synapse process it shares, because Lava connects only ports of equal shape, and
    only the neuron of its always-on channel fires.
    """
    bias = np.zeros(size)
    bias[channel] = 1
    if fixed:
        return LIF(
            shape=(size,), du=0, dv=0, vth=0, bias_mant=bias.astype(np.int32), bias_exp=0,
            name=name,
        )  # fmt: skip
    return LIF(shape=(size,), du=0.0, dv=1.0, vth=0.5, bias_mant=bias, name=name)
