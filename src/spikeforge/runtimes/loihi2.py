"""Run a Loihi plan on a Loihi 2 chip (``Loihi2HwCfg``), through Intel's lava-loihi.

The chip runs the very process graph the simulator runtime builds
(:func:`spikeforge.runtimes.lava.build_process_graph`); only the edges to the host
change. Following Lava's documented approach for Loihi 2 I/O, host ring buffers feed
the chip through ``lava.proc.embedded_io.spike.PyToNxAdapter`` and spikes come back
through ``NxToPyAdapter``; voltages are read with ``lava.utils.loihi2_state_probes.
StateProbe``. Outputs are aligned exactly as the simulator's are (the same
``latency`` per population), after removing the adapters' own delay,
:data:`IO_ADAPTER_LATENCY`, which hw_tests/ checks on the chip.

lava-loihi's profilers (``lava.utils.loihi2_profiler``: ``Loihi2Power``,
``Loihi2ExecutionTime``, ``Loihi2Activity``, ``Loihi2Memory``) run with every sample;
their figures come back as :class:`ChipMeasurement` (every quantity ``kind =
"measured"``), beside the spikes, in a :class:`MeasuredRunResult`.

lava-loihi is distributed only to members of Intel's Neuromorphic Research
Community; without it this backend fails at once, saying so (:func:`require_lava_loihi`).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields

import numpy as np

from spikeforge.compile.compiled import CompiledNet
from spikeforge.compile.lower import LoihiPlan
from spikeforge.errors import SpikeforgeError
from spikeforge.profile.hardware import Quantity
from spikeforge.runtimes.result import RunResult, StepObserver

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
#: Hardware steps the host -> chip -> host adapters add to a spike's round trip,
#: removed from the raw output so that it lines up with the simulator's steps.
IO_ADAPTER_LATENCY = 0
_PROFILER_SOURCE = "lava-loihi lava.utils.loihi2_profiler"


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
    """What lava-loihi's profilers measured for one sample on the chip.

    Counts are summed over the neuro cores in use (the profilers report per core);
    ``memory_utilisation`` is the mean fraction of a used core's memory.
    """

    steps: int
    time_per_step: Quantity
    total_power: Quantity
    static_power: Quantity
    synaptic_ops: int
    neuron_updates: int
    spikes_out: int
    cores: int
    memory_utilisation: float

    @property
    def time_per_inference(self) -> Quantity:
        return _derived(self.time_per_step.value * self.steps, "s", "execution time x steps")

    @property
    def energy_per_inference(self) -> Quantity:
        joules = self.total_power.value * self.time_per_inference.value
        return _derived(joules, "J", "mean total power x execution time")

    @property
    def dynamic_energy_per_inference(self) -> Quantity:
        watts = self.total_power.value - self.static_power.value
        return _derived(watts * self.time_per_inference.value, "J", "(total - static) x time")

    def as_dict(self) -> dict[str, object]:
        return {
            "steps": self.steps,
            "time_per_step": self.time_per_step.as_dict(),
            "time_per_inference": self.time_per_inference.as_dict(),
            "total_power": self.total_power.as_dict(),
            "static_power": self.static_power.as_dict(),
            "energy_per_inference": self.energy_per_inference.as_dict(),
            "dynamic_energy_per_inference": self.dynamic_energy_per_inference.as_dict(),
            "synaptic_ops": self.synaptic_ops,
            "neuron_updates": self.neuron_updates,
            "spikes_out": self.spikes_out,
            "cores": self.cores,
            "memory_utilisation": self.memory_utilisation,
        }


@dataclass
class MeasuredRunResult(RunResult):
    """A :class:`RunResult` from the chip, with one :class:`ChipMeasurement` per sample."""

    measurements: list[ChipMeasurement] = field(default_factory=list)


def run_loihi2(
    compiled: CompiledNet,
    inputs: np.ndarray | Mapping[str, np.ndarray],
    precision: str = "fixed",
    record: Iterable[str] = (),
    raw_timing: bool = False,
    show_progress: bool = False,
    on_step: StepObserver | None = None,
) -> MeasuredRunResult:
    """Run every sample on the chip; the layout is the simulator runtime's."""
    require_lava_loihi()
    if precision != "fixed":
        raise SpikeforgeError(
            f"the loihi2 backend computes in Loihi's fixed point; precision {precision!r} "
            "is the simulator's (drop --precision or use --precision fixed)"
        )
    from spikeforge.runtimes.lava import run_samples

    chip = _ChipRunner()
    result = run_samples(
        compiled, inputs, precision, record, raw_timing, show_progress, on_step, chip, "Loihi 2"
    )
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
        from lava.proc.io.sink import RingBuffer as SinkBuffer
        from lava.proc.io.source import RingBuffer as SourceBuffer
        from lava.utils import loihi2_profiler
        from lava.utils.loihi2_state_probes import StateProbe

        from spikeforge.runtimes.lava import _components, build_process_graph, input_buffer

        run_steps = steps + IO_ADAPTER_LATENCY
        graph = build_process_graph(plan)
        for name, ports in graph.input_ports.items():
            source = SourceBuffer(data=input_buffer(plan, sample[name], run_steps))
            adapter = PyToNxAdapter(shape=(plan.inputs[name],))
            source.s_out.connect(adapter.inp)
            for port in ports:
                adapter.out.connect(port)
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
        for component in _components(plan):
            power = loihi2_profiler.Loihi2Power(num_steps=run_steps)
            runtime = loihi2_profiler.Loihi2ExecutionTime(buffer_size=run_steps)
            activity = loihi2_profiler.Loihi2Activity()
            memory = loihi2_profiler.Loihi2Memory()
            own_probes = [probes[n] for n in component if n in probes]
            config = Loihi2HwCfg(
                select_tag="fixed_pt",
                callback_fxs=[*own_probes, power, runtime, activity, memory],
            )
            anchor = graph.neurons[component[0]]
            try:
                anchor.run(condition=RunSteps(num_steps=run_steps), run_cfg=config)
                for n in component:
                    if n in sinks:
                        raw = sinks[n].data.get().T.astype(np.float64)
                        spikes[n] = raw[IO_ADAPTER_LATENCY:]
            finally:
                anchor.stop()
            for n in component:
                if n in probes:
                    series = np.asarray(probes[n].time_series, dtype=np.float64)
                    volts[n] = series.reshape(plan.populations[n].size, -1).T[:steps]
            parts.append(_measurement(steps, power, runtime, activity, memory))
        self.measurements.append(_combined(parts))
        return spikes, volts


def _measurement(steps: int, power, runtime, activity, memory) -> ChipMeasurement:
    """Collect the profilers' figures (attribute names as in lava-dl's netx benchmarks)."""
    used = np.asarray(memory.total_mpds, dtype=np.float64)
    return ChipMeasurement(
        steps=steps,
        time_per_step=_measured(runtime.avg_time_per_step * 1e-6, "s", "Loihi2ExecutionTime"),
        total_power=_measured(float(np.mean(power.total_power)), "W", "Loihi2Power"),
        static_power=_measured(float(power.static_total_power), "W", "Loihi2Power"),
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
    cores = sum(p.cores for p in parts)
    return ChipMeasurement(
        steps=parts[0].steps,
        time_per_step=_derived(sum(p.time_per_step.value for p in parts), "s", "sum over parts"),
        total_power=_derived(
            sum(p.total_power.value * p.time_per_step.value for p in parts)
            / sum(p.time_per_step.value for p in parts),
            "W",
            "time-weighted mean over parts",
        ),
        static_power=_derived(max(p.static_power.value for p in parts), "W", "largest part"),
        synaptic_ops=sum(p.synaptic_ops for p in parts),
        neuron_updates=sum(p.neuron_updates for p in parts),
        spikes_out=sum(p.spikes_out for p in parts),
        cores=cores,
        memory_utilisation=sum(p.memory_utilisation * p.cores for p in parts) / max(cores, 1),
    )


def _measured(value: float, unit: str, profiler: str) -> Quantity:
    return Quantity(float(value), unit, "measured", f"{_PROFILER_SOURCE}.{profiler}")


def _derived(value: float, unit: str, how: str) -> Quantity:
    return Quantity(float(value), unit, "measured", _PROFILER_SOURCE, note=f"derived: {how}")
