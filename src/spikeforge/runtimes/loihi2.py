"""Run a Loihi plan on a Loihi 2 chip (``Loihi2HwCfg``), through Intel's lava-loihi.

The chip runs the very process graph the simulator runtime builds
(:func:`spikeforge.runtimes.lava.build_process_graph`); only the edges to the host
change. Following Lava's documented approach for Loihi 2 I/O, host ring buffers feed
the chip through ``lava.proc.embedded_io.spike.PyToNxAdapter`` and spikes come back
through ``NxToPyAdapter``; voltages are read with ``lava.utils.loihi2_state_probes.
StateProbe``. The ring buffers run on the host in fixed point, every other process
on neuro cores (no ``select_tag``: that would let a Python model win). Outputs are
aligned exactly as the simulator's are (the same ``latency`` per population), after
removing the adapters' own delays (:data:`INPUT_ADAPTER_LATENCY`,
:data:`OUTPUT_ADAPTER_LATENCY`), which hw_tests/ checks on the chip.

lava-loihi's profilers (``lava.utils.loihi2_profiler``: ``Loihi2Power``,
``Loihi2ExecutionTime``, ``Loihi2Activity``, ``Loihi2Memory``) run with every sample;
their figures come back per sample as :class:`ChipMeasurement`, beside the spikes, in
a :class:`MeasuredRunResult`, whose :meth:`~MeasuredRunResult.figures` are
:class:`~spikeforge.compile.hardware.Quantity` with ``kind = "measured"``, as the
profile report labels every figure.
An ``on_step`` observer passed to :func:`spikeforge.runtimes.run` sees the chip's spikes step by
step as on every backend, so the hardware model's estimate can sit beside them.

lava-loihi is distributed only to members of Intel's Neuromorphic Research
Community; without it this backend fails at once, saying so (:func:`require_lava_loihi`).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace

import numpy as np

from spikeforge.compile.compiled import CompiledNet
from spikeforge.compile.hardware import Quantity
from spikeforge.compile.lower import LoihiPlan
from spikeforge.errors import SpikeforgeError
from spikeforge.runtimes.options import DEFAULT_OPTIONS, RunOptions
from spikeforge.runtimes.result import RunResult

#: What lava-loihi provides that this backend uses; the first is what Lava's own
#: ``lava.utils.loihi.is_installed`` looks for.
LAVA_LOIHI_MODULES = (
    "lava.utils.loihi2_profiler",
    "lava.utils.loihi2_state_probes",
    "lava.proc.embedded_io.spike",
)
INRC_URL = "https://www.intel.com/content/www/us/en/research/neuromorphic-community.html"
MISSING_LAVA_LOIHI = (
    "the loihi2 backend runs on a Loihi 2 chip through Intel's lava-loihi package "
    "(Loihi 2 compiler, runtime, embedded I/O and profilers), which is not installed "
    "({detail}). lava-loihi is distributed only to members of Intel's Neuromorphic "
    f"Research Community (INRC; join at {INRC_URL}), who install it on an INRC system "
    "beside lava-nc. Without a chip, --backend lava runs the same process graph "
    "bit-accurately on Lava's CPU simulator (--precision fixed)"
)
#: Steps ``PyToNxAdapter`` delays input spikes (so every state on the chip), and
#: steps ``NxToPyAdapter`` adds on the way back: removed from the raw records so that
#: they line up with the simulator's steps (hw_tests/test_loihi2.py checks both).
#: The source every chip figure names.
MEASURED_BY = "lava-loihi's Loihi 2 profilers on the chip"
INPUT_ADAPTER_LATENCY = 0
OUTPUT_ADAPTER_LATENCY = 0


def lava_loihi_missing() -> str | None:
    """Why lava-loihi cannot be used here, or None when it can."""
    for name in LAVA_LOIHI_MODULES:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            return f"import {name}: {exc}"
    return None


def require_lava_loihi() -> None:
    """Raise the one-line explanation when lava-loihi is not importable."""
    missing = lava_loihi_missing()
    if missing is not None:
        raise SpikeforgeError(MISSING_LAVA_LOIHI.format(detail=missing))


@dataclass(frozen=True)
class ChipMeasurement:
    """What lava-loihi's profilers measured for one sample: seconds, watts, counts.

    ``time_per_step`` is ``Loihi2ExecutionTime.avg_time_per_step``, ``total_power`` the
    mean of ``Loihi2Power.total_power`` and ``static_power`` its ``static_total_power``;
    counts are ``Loihi2Activity``'s, summed over the cores in use, and
    ``memory_utilisation`` is the mean of ``Loihi2Memory.total_mpds`` over those cores.
    """

    steps: int
    time_per_step: float
    total_power: float
    static_power: float
    synaptic_ops: int
    neuron_updates: int
    spikes_out: int
    cores: int
    memory_utilisation: float

    @property
    def time_per_inference(self) -> float:
        return self.time_per_step * self.steps

    @property
    def energy_per_inference(self) -> float:
        return self.total_power * self.time_per_inference

    @property
    def dynamic_energy_per_inference(self) -> float:
        return (self.total_power - self.static_power) * self.time_per_inference


@dataclass
class MeasuredRunResult(RunResult):
    """A :class:`RunResult` from the chip, with one :class:`ChipMeasurement` per sample."""

    measurements: list[ChipMeasurement] = field(default_factory=list)

    def figures(self) -> ChipFigures:
        """Per inference, averaged over the samples, as the profile report's quantities."""

        def measured(values: Iterable[float], unit: str) -> Quantity:
            return Quantity(float(np.mean(list(values))), unit, "measured", MEASURED_BY)

        runs = self.measurements
        return ChipFigures(
            energy_per_inference=measured((m.energy_per_inference for m in runs), "J"),
            dynamic_energy_per_inference=measured(
                (m.dynamic_energy_per_inference for m in runs), "J"
            ),
            time_per_inference=measured((m.time_per_inference for m in runs), "s"),
            time_per_step=measured((m.time_per_step for m in runs), "s"),
            power=measured((m.total_power for m in runs), "W"),
        )


@dataclass(frozen=True)
class ChipFigures:
    """What the chip measured, per inference and averaged over the samples."""

    energy_per_inference: Quantity
    dynamic_energy_per_inference: Quantity
    time_per_inference: Quantity
    time_per_step: Quantity
    power: Quantity


def run_loihi2(
    compiled: CompiledNet,
    inputs: np.ndarray | Mapping[str, np.ndarray] | None,
    options: RunOptions = DEFAULT_OPTIONS,
) -> MeasuredRunResult:
    """Run every sample on the chip; the layout is the simulator runtime's.

    ``options.precision`` defaults to fixed (the chip's only arithmetic), whatever the
    compiled default.
    """
    from spikeforge.compile.lower import microcode_notes

    precision = options.precision or "fixed"
    notes = microcode_notes(compiled.plan(precision))
    if notes:  # SfLif (and its multi-spike graded counts) has no Loihi 2 program here
        raise SpikeforgeError(
            "the loihi2 backend runs Lava's own neurons only: " + "; ".join(notes)
            + " (run it on --backend lava or emulator)"
        )  # fmt: skip
    require_lava_loihi()
    if precision != "fixed":
        raise SpikeforgeError(
            f"the loihi2 backend computes in Loihi's fixed point; precision {precision!r} "
            "is the simulator's (drop --precision or use --precision fixed)"
        )
    from spikeforge.runtimes.lava import run_samples

    chip = _ChipRunner()
    result = run_samples(compiled, inputs, replace(options, precision=precision), chip, "Loihi 2")
    plain = {f.name: getattr(result, f.name) for f in fields(RunResult)}
    return MeasuredRunResult(**plain, measurements=chip.measurements)


class _ChipRunner:
    """Runs one sample at a time on the chip (same signature as the simulator's sample
    runner), keeping each sample's measurement."""

    def __init__(self) -> None:
        self.measurements: list[ChipMeasurement] = []

    def __call__(
        self,
        plan: LoihiPlan,
        sample: dict[str, np.ndarray],
        steps: int,
        watch: list[str],
        record_v: list[str],
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        from lava.magma.core.run_conditions import RunSteps
        from lava.magma.core.run_configs import Loihi2HwCfg
        from lava.proc.embedded_io.spike import NxToPyAdapter, PyToNxAdapter
        from lava.proc.io.sink import PyReceiveModelFixed
        from lava.proc.io.sink import RingBuffer as SinkBuffer
        from lava.proc.io.source import PySendModelFixed
        from lava.proc.io.source import RingBuffer as SourceBuffer
        from lava.utils import loihi2_profiler
        from lava.utils.loihi2_state_probes import StateProbe

        from spikeforge.runtimes.lava import (
            build_process_graph,
            connect_source,
            connected_parts,
            input_buffer,
        )

        skip_v = INPUT_ADAPTER_LATENCY
        skip_spikes = INPUT_ADAPTER_LATENCY + OUTPUT_ADAPTER_LATENCY
        run_steps = steps + skip_spikes
        graph = build_process_graph(plan)
        for name, ports in graph.input_ports.items():
            source = SourceBuffer(data=input_buffer(plan, sample[name], run_steps))
            adapter = PyToNxAdapter(shape=(plan.inputs[name],))
            source.s_out.connect(adapter.inp)
            for port in ports:
                connect_source(adapter.out, port)
        sinks = {}
        probes = {}
        for name in watch:
            pop = plan.populations[name]
            if pop.spiking:
                adapter = NxToPyAdapter(shape=(pop.size,))
                sinks[name] = SinkBuffer(shape=(pop.size,), buffer=run_steps)
                graph.neurons[name].s_out.connect(adapter.inp)
                adapter.out.connect(sinks[name].a_in)
            if name in record_v or not pop.spiking:
                probes[name] = StateProbe(graph.neurons[name].v)
        logging.getLogger("lava").setLevel(logging.WARNING)
        spikes: dict[str, np.ndarray] = {}
        volts: dict[str, np.ndarray] = {}
        parts = []
        # As on the simulator, Lava compiles only what is connected to the process it
        # runs: each connected part of the network is its own run (and measurement).
        for component in connected_parts(plan):
            power = loihi2_profiler.Loihi2Power(num_steps=run_steps)
            runtime = loihi2_profiler.Loihi2ExecutionTime(buffer_size=run_steps)
            activity = loihi2_profiler.Loihi2Activity()
            memory = loihi2_profiler.Loihi2Memory()
            own_probes = [probes[n] for n in component if n in probes]
            config = Loihi2HwCfg(
                exception_proc_model_map={
                    SourceBuffer: PySendModelFixed,
                    SinkBuffer: PyReceiveModelFixed,
                },
                callback_fxs=[*own_probes, power, runtime, activity, memory],
            )
            anchor = graph.neurons[component[0]]
            try:
                anchor.run(condition=RunSteps(num_steps=run_steps), run_cfg=config)
                for n in component:
                    if n in sinks:
                        raw = sinks[n].data.get().T.astype(np.float64)
                        spikes[n] = raw[skip_spikes:]
            finally:
                anchor.stop()
            for n in component:
                if n in probes:
                    series = np.asarray(probes[n].time_series, dtype=np.float64)
                    trace = series.reshape(plan.populations[n].size, -1).T
                    volts[n] = trace[skip_v : skip_v + steps]
            parts.append(_measurement(steps, power, runtime, activity, memory))
        self.measurements.append(_combined(parts))
        return spikes, volts


def _measurement(steps: int, power, runtime, activity, memory) -> ChipMeasurement:
    """The profilers' figures (attribute names as in lava-dl's netx benchmark tutorials)."""
    used = np.asarray(memory.total_mpds, dtype=np.float64)
    return ChipMeasurement(
        steps=steps,
        time_per_step=float(runtime.avg_time_per_step) * 1e-6,  # reported in microseconds
        total_power=float(np.mean(power.total_power)),
        static_power=float(power.static_total_power),
        synaptic_ops=int(np.sum(activity.syn_ops)),
        neuron_updates=int(np.sum(activity.dendrite_updates)),
        spikes_out=int(np.sum(activity.axon_out)),
        cores=int(np.size(activity.core_idx)),
        memory_utilisation=float(used.mean()) if used.size else 0.0,
    )


def _combined(parts: list[ChipMeasurement]) -> ChipMeasurement:
    """One sample run as several separate parts: times, energies and counts add up."""
    if len(parts) == 1:
        return parts[0]
    time = sum(p.time_per_step for p in parts)
    cores = sum(p.cores for p in parts)
    return ChipMeasurement(
        steps=parts[0].steps,
        time_per_step=time,
        total_power=sum(p.total_power * p.time_per_step for p in parts) / time,
        static_power=sum(p.static_power * p.time_per_step for p in parts) / time,
        synaptic_ops=sum(p.synaptic_ops for p in parts),
        neuron_updates=sum(p.neuron_updates for p in parts),
        spikes_out=sum(p.spikes_out for p in parts),
        cores=cores,
        memory_utilisation=sum(p.memory_utilisation * p.cores for p in parts) / max(cores, 1),
    )
