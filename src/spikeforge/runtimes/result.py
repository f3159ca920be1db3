"""What every backend returns, and the host-side pieces they share (input checks, readouts)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spikeforge.compile.lower import LoihiPlan
from spikeforge.compile.network import Network
from spikeforge.compile.timing import BIAS_SOURCE
from spikeforge.errors import SpikeforgeError
from spikeforge.ir.weights import apply
from spikeforge.loihi_format import BIAS_MANT_MAX, STATE_HALF

#: Sees one step's spikes, ``[batch, n]`` per spike source (inputs, the bias neuron,
#: spiking populations) as numpy arrays or torch tensors (the emulator's stay on its
#: device); how profiling counts activity on every backend.
StepObserver = Callable[[Mapping[str, Any]], None]


@dataclass
class RunResult:
    """Arrays are ``[batch, time, *shape]``, aligned to source time unless ``raw_timing``.

    ``spikes`` and ``v`` hold the recorded populations (``v`` in source units);
    ``steps`` is the number of hardware steps each sample took. ``peaks`` (reference
    only) is, per population, each neuron's largest ``|u|`` (row 0) and how far ``v``
    went above (row 1) and below (row 2) ``v_reset`` over the run (zero where it never
    did), which quantisation uses to calibrate its scales.
    """

    outputs: dict[str, np.ndarray]
    spikes: dict[str, np.ndarray] = field(default_factory=dict)
    v: dict[str, np.ndarray] = field(default_factory=dict)
    steps: int = 0
    peaks: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def output(self) -> np.ndarray:
        """The single output of a one-output network."""
        if len(self.outputs) != 1:
            raise SpikeforgeError(f"network has outputs {sorted(self.outputs)}; pick one by name")
        return next(iter(self.outputs.values()))


def prepare_inputs(
    network: Network, data: np.ndarray | Mapping[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], bool]:
    """Check and flatten inputs to ``{name: [batch, time, n]}`` float64.

    Accepts ``[batch, time, *shape]`` or ``[time, *shape]`` (returned flag: whether a
    batch axis was added, so results can drop it again).
    """
    if not isinstance(data, Mapping):
        if len(network.inputs) != 1:
            raise SpikeforgeError(
                f"network has inputs {sorted(network.inputs)}; pass a dict keyed by input name"
            )
        data = {next(iter(network.inputs)): data}
    unknown = set(data) - set(network.inputs)
    missing = set(network.inputs) - set(data)
    if unknown or missing:
        raise SpikeforgeError(
            f"inputs given {sorted(data)} do not match the network's inputs "
            f"{sorted(network.inputs)}"
        )
    flat: dict[str, np.ndarray] = {}
    added_batch = False
    lengths = set()
    for name, shape in network.inputs.items():
        arr = np.asarray(data[name])
        if not np.issubdtype(arr.dtype, np.number) and arr.dtype != bool:
            raise SpikeforgeError(f"input '{name}': expected numbers, got dtype {arr.dtype}")
        arr = arr.astype(np.float64)
        if arr.shape[1:] == shape and arr.ndim == len(shape) + 1:
            arr = arr[None]
            added_batch = True
        if arr.ndim != len(shape) + 2 or arr.shape[2:] != shape:
            raise SpikeforgeError(
                f"input '{name}': expected shape [batch, time, {', '.join(map(str, shape))}] "
                f"or [time, {', '.join(map(str, shape))}], got {list(np.asarray(data[name]).shape)}"
            )
        if not np.isfinite(arr).all():
            raise SpikeforgeError(f"input '{name}': contains NaN or infinite values")
        if arr.shape[1] == 0:
            raise SpikeforgeError(f"input '{name}': has zero time steps")
        lengths.add(arr.shape[:2])
        flat[name] = arr.reshape(arr.shape[0], arr.shape[1], -1)
    if len(lengths) > 1:
        raise SpikeforgeError(f"inputs disagree in [batch, time]: {sorted(lengths)}")
    return flat, added_batch


#: A netx input layer's bias is a signed ``BIAS_MANT_BITS`` mantissa (Lava LIF ``bias_mant``).
BIAS_MANT_LIMIT = BIAS_MANT_MAX + 1


@dataclass
class Drive:
    """What a hardware run feeds the network, checked.

    ``flat`` holds spike inputs ``{name: [batch, time, n]}``; ``bias`` holds, for a
    netx network whose input layer has a neuron, each sample's ``bias_mant`` of that
    layer ``{population: [batch, n]}`` (netx drives such layers through their bias).
    """

    flat: dict[str, np.ndarray]
    added_batch: bool
    batch: int
    steps: int
    bias: dict[str, np.ndarray] = field(default_factory=dict)


def prepare_drive(
    network: Network,
    plan: LoihiPlan,
    inputs: np.ndarray | Mapping[str, np.ndarray] | None,
    input_bias: np.ndarray | None,
    steps: int | None,
    raw_timing: bool,
    backend: str,
) -> Drive:
    """Check spike inputs or an input bias against the plan; one clear line on misuse."""
    drive = _checked_drive(network, plan, inputs, input_bias, steps, backend)
    if not raw_timing and plan.raw_timing_only:
        raise SpikeforgeError(plan.raw_timing_only + " (--raw-timing)")
    return drive


def _checked_drive(
    network: Network,
    plan: LoihiPlan,
    inputs: np.ndarray | Mapping[str, np.ndarray] | None,
    input_bias: np.ndarray | None,
    steps: int | None,
    backend: str,
) -> Drive:
    target = plan.bias_driven
    if target is None:
        if input_bias is not None:
            raise SpikeforgeError(
                "--input-bias: this network's input is spikes (it has no netx input neuron "
                "layer to drive through its bias); pass --input"
            )
        if steps is not None:
            raise SpikeforgeError(
                "--steps applies to a bias-driven input; spike inputs run for their time axis"
            )
        if inputs is None:
            raise SpikeforgeError("this network takes spike inputs; pass --input")
        flat, added_batch = prepare_inputs(network, inputs)
        graded = set(plan.direct_inputs.values())  # SDNN: Delta layers take graded frames
        require_spikes({n: a for n, a in flat.items() if n not in graded}, backend)
        require_graded_frames({n: flat[n] for n in graded})
        batch, length = next(iter(flat.values())).shape[:2]
        return Drive(flat, added_batch, batch, length)
    if inputs is not None and (not isinstance(inputs, Mapping) or inputs):
        raise SpikeforgeError(
            f"{target} is a netx input neuron layer, driven by its bias, not by spikes: "
            "pass --input-bias, not --input"
        )
    if input_bias is None:
        raise SpikeforgeError(f"{target} is driven by its bias: pass --input-bias and --steps")
    if steps is None or steps < 1:
        raise SpikeforgeError(f"--steps: a bias-driven input needs steps >= 1, got {steps}")
    shape = tuple(network.populations[target].shape)
    arr = np.asarray(input_bias)
    added_batch = arr.shape == shape
    if added_batch:
        arr = arr[None]
    if arr.shape[1:] != shape or arr.shape[0] < 1:
        raise SpikeforgeError(
            f"--input-bias for {target}: expected shape [{', '.join(map(str, shape))}] or "
            f"[batch, {', '.join(map(str, shape))}] (netx's W, H, C order), got "
            f"{list(np.asarray(input_bias).shape)}"
        )
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise SpikeforgeError(f"--input-bias for {target}: expected numbers, got {arr.dtype}")
    values = arr.astype(np.float64)
    if not np.isfinite(values).all() or np.any(values != np.round(values)):
        raise SpikeforgeError(f"--input-bias for {target}: bias mantissas must be whole numbers")
    if values.min() < -BIAS_MANT_LIMIT or values.max() >= BIAS_MANT_LIMIT:
        bad = values.min() if values.min() < -BIAS_MANT_LIMIT else values.max()
        raise SpikeforgeError(
            f"--input-bias for {target}: value {bad:g} outside the 13-bit bias mantissa range "
            f"[{-BIAS_MANT_LIMIT}, {BIAS_MANT_LIMIT - 1}]"
        )
    bias = values.astype(np.int64).reshape(arr.shape[0], -1)
    return Drive({}, added_batch, arr.shape[0], int(steps), {target: bias})


#: A Delta input layer's ``a_in`` is a signed ``STATE_BITS`` integer in Lava's fixed point.
GRADED_INPUT_LIMIT = STATE_HALF


def require_graded_frames(flat: Mapping[str, np.ndarray]) -> None:
    """A netx SDNN network's input: whole numbers within the Delta layer's 24-bit ``a_in``."""
    for name, arr in flat.items():
        if np.any(arr != np.round(arr)):
            raise SpikeforgeError(
                f"input '{name}': a netx Delta input layer takes integer-valued graded frames "
                "(scale and round real-valued frames first); got fractions"
            )
        if arr.size and (arr.min() < -GRADED_INPUT_LIMIT or arr.max() >= GRADED_INPUT_LIMIT):
            bad = arr.min() if arr.min() < -GRADED_INPUT_LIMIT else arr.max()
            raise SpikeforgeError(
                f"input '{name}': value {bad:g} outside the Delta layer's signed 24-bit input "
                f"[{-GRADED_INPUT_LIMIT}, {GRADED_INPUT_LIMIT - 1}]"
            )


def require_spikes(flat: Mapping[str, np.ndarray], backend: str) -> None:
    """Loihi takes spikes: refuse graded inputs instead of binarising them silently."""
    for name, arr in flat.items():
        off = ~np.isin(arr, (0.0, 1.0))
        if off.any():
            raise SpikeforgeError(
                f"input '{name}': the {backend} backend feeds inputs as spikes, "
                f"so values must be 0 or 1, got {arr[off].flat[0]:g} (multi-spike counts "
                "enter only from a population, as graded payloads)"
            )


def checked_record(network: Network, record: Iterable[str]) -> list[str]:
    """The populations to record, refusing names that are not populations."""
    names = list(record)
    for name in names:
        if name not in network.populations:
            raise SpikeforgeError(
                f"cannot record '{name}': not a population "
                f"(populations: {', '.join(sorted(network.populations))})"
            )
    return names


class SilentNetworkWarning(UserWarning):
    """A run in which no output population ever spiked: most often a wrong ``--dt``."""


def warn_if_silent(network: Network, result: RunResult) -> None:
    """Warn when every output comes from spiking populations and none ever spiked.

    A graph read with a ``dt`` far from its framework's (sinabs counts time in steps,
    so ``--dt 1e-4`` shrinks every decay and input 10^4-fold) runs without error and
    says nothing; zero spikes everywhere is the symptom a user sees, so it is named.
    """
    if "conventions" not in network.metadata:  # not read from NIR: no dt or preset to blame
        return
    sources = sorted(readout_sources(network))
    if not sources or not all(network.populations[s].spiking for s in sources):
        return
    if any(np.any(out) for out in result.outputs.values()):
        return
    dv = max(float(network.populations[s].dv.max(initial=0.0)) for s in sources)
    warnings.warn(
        f"no output population ({', '.join(sources)}) spiked on any step of any sample; "
        f"with dt = {network.dt:g} s the membrane decays by at most {dv:.3g} per step. If "
        "the graph came from another framework, check --dt and --from: they set every "
        "decay and input gain per step",
        SilentNetworkWarning,
        stacklevel=3,
    )


def expand_splits(network: Network, record: Iterable[str]) -> list[str]:
    """``record`` with each split population (:class:`~spikeforge.compile.network.Split`)
    replaced by its parts, which are what the backends run."""
    names: list[str] = []
    for name in record:
        names += network.splits[name].parts if name in network.splits else [name]
    return list(dict.fromkeys(names))


def join_splits(network: Network, result: RunResult, requested: Iterable[str]) -> RunResult:
    """``result`` with each requested split population's parts joined back into it.

    The parts hold consecutive runs of its neurons in order, so their last axes
    concatenate to the population's neurons, reshaped to its shape; a part the caller
    named itself stays too.
    """
    requested = list(requested)
    joined = {name for name in requested if name in network.splits}
    if not joined:
        return result
    spikes, volts = dict(result.spikes), dict(result.v)
    for name in joined:
        split = network.splits[name]
        for arrays in (spikes, volts):
            if all(p in arrays for p in split.parts):
                whole = np.concatenate([arrays[p] for p in split.parts], axis=-1)
                arrays[name] = whole.reshape(*whole.shape[:-1], *split.shape)
        for part in set(split.parts) - set(requested):
            spikes.pop(part, None)
            volts.pop(part, None)
    return RunResult(result.outputs, spikes, volts, result.steps, result.peaks)


def delayed(signal: np.ndarray, delay: int) -> np.ndarray:
    """``signal[:, t - delay]`` along time, zero before the first step."""
    if delay == 0:
        return signal
    out = np.zeros_like(signal)
    if delay < signal.shape[1]:
        out[:, delay:] = signal[:, :-delay]
    return out


def compute_readouts(network: Network, signals: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Evaluate every readout from recorded ``[batch, time, n]`` signals (host side, float64)."""
    outputs = {}
    for name, readout in network.readouts.items():
        source = readout.direct_source
        if source is not None:
            total = signals[source]
        else:
            total = readout.bias.astype(np.float64)
            for term in readout.terms:
                total = total + apply(delayed(signals[term.pre], term.delay), term.weight)
        batch, time = total.shape[:2]
        outputs[name] = np.asarray(total).reshape(batch, time, *readout.shape)
    return outputs


def readout_sources(network: Network) -> set[str]:
    """Populations whose activity the readouts need."""
    return {
        t.pre for r in network.readouts.values() for t in r.terms if t.pre in network.populations
    }


def squeeze_batch(result: RunResult) -> RunResult:
    """Drop the batch axis that was added for an unbatched input."""
    return RunResult(
        outputs={k: a[0] for k, a in result.outputs.items()},
        spikes={k: a[0] for k, a in result.spikes.items()},
        v={k: a[0] for k, a in result.v.items()},
        steps=result.steps,
        peaks=result.peaks,
    )


def hardware_result(
    network: Network,
    plan: LoihiPlan,
    flat: Mapping[str, np.ndarray],
    spikes: Mapping[str, np.ndarray],
    volts: Mapping[str, np.ndarray],
    total_steps: int,
    record: list[str],
    raw_timing: bool,
    added_batch: bool,
    batch_steps: tuple[int, int] | None = None,
) -> RunResult:
    """Turn raw hardware-step activity into a :class:`RunResult`.

    Shared by every backend that runs the Loihi plan (Lava, the emulator, the chip),
    so they decode voltages and align outputs identically. ``spikes`` and ``volts``
    are ``[batch, total_steps, n]`` in hardware units (spiking populations need
    spikes, non-spiking ones volts); each population is read
    ``latency`` steps late unless ``raw_timing``. ``batch_steps`` is needed when there
    are no spike inputs (a bias-driven netx network).
    """
    batch, steps = batch_steps or next(iter(flat.values())).shape[:2]
    length = total_steps if raw_timing else steps
    signals: dict[str, np.ndarray] = {}
    decoded_v: dict[str, np.ndarray] = {}
    for name in set(spikes) | set(volts):
        pop = plan.populations[name]
        start = 0 if raw_timing else pop.latency
        if name in volts:
            decoded_v[name] = volts[name][:, start : start + length] / pop.scale + pop.v_reset
        signals[name] = spikes[name][:, start : start + length] if pop.spiking else decoded_v[name]
    signals.update(flat if not raw_timing else _pad_time(flat, total_steps))
    shapes = {n: network.populations[n].shape for n in record}
    result = RunResult(
        outputs=compute_readouts(network, signals),
        spikes={
            n: signals[n].reshape(batch, length, *shapes[n])
            for n in record
            if plan.populations[n].spiking
        },
        v={n: decoded_v[n].reshape(batch, length, *shapes[n]) for n in record if n in decoded_v},
        steps=total_steps,
    )
    return squeeze_batch(result) if added_batch else result


def _pad_time(flat: Mapping[str, np.ndarray], steps: int) -> dict[str, np.ndarray]:
    return {
        n: np.concatenate([a, np.zeros((a.shape[0], steps - a.shape[1], a.shape[2]))], axis=1)
        for n, a in flat.items()
    }


def replay_steps(
    flat: Mapping[str, np.ndarray],
    spikes: Mapping[str, np.ndarray],
    total_steps: int,
    uses_bias_source: bool,
    on_step: StepObserver,
) -> None:
    """Feed recorded ``[batch, time, n]`` rasters to ``on_step`` one step at a time.

    For backends that cannot call back during the run (Lava, the reference), so
    that profiling sees the same stream as the emulator produces live.
    """
    batch = next(iter({**flat, **spikes}.values())).shape[0]
    inputs = _pad_time(flat, total_steps)
    for t in range(total_steps):
        step = {name: arr[:, t] for name, arr in inputs.items()}
        if uses_bias_source:
            step[BIAS_SOURCE] = np.ones((batch, 1))
        step.update({name: arr[:, t] for name, arr in spikes.items()})
        on_step(step)
