"""Write a compiled network as a lava-dl netx HDF5 file, for ``lava.lib.dl.netx.hdf5.Network``.

What netx reads (lava-dl 0.6.0, ``lava/lib/dl/netx/hdf5.py`` and ``blocks/process.py``):
a list of layers ``layer/0, layer/1, ...``, each a synapse process feeding one LIF
process, chained in order. For a ``dense`` layer:

* ``weight`` (integers, ``[post, pre]``) becomes a Lava ``Dense`` at weight exponent 0:
  ``optimize_weight_bits`` only re-packs weights that already fit 8 bits (larger ones
  are clipped or shifted to zero), so netx has no weight exponent and no second plane;
* ``delay`` (0..62, per synapse, per post or per pre neuron) makes it a ``DelayDense``;
* ``neuron`` of type ``CUBA`` becomes ``LIF(du=iDecay - DU_OFFSET, dv=vDecay, vth=vThMant,
  bias_mant=bias, bias_exp=6)``: u and v start at 0 and reset to 0;
* ``dense_rec`` adds ``weight_rec``, a ``Dense`` from the layer's own spikes back to its
  neurons, packed together with ``weight``.

A spikeforge fixed-point plan maps onto that one to one when it is a chain of
populations from one input, each with one 8-bit synapse process at exponent 0. The
compiler's plans usually use a weight exponent and a residual plane (``--weight-planes
2``) for precision netx cannot store, so each population whose synapses do not fit is
requantised here: its scale is lowered until its weights fit 8 bits at exponent 0
(:func:`netx_plan`), which costs threshold and weight resolution and is reported per
layer. What netx cannot express at all is refused, naming the population.

Timing: netx's layers are the same Lava ``Dense``/``DelayDense`` and ``LIF`` processes
spikeforge builds, so driven from the same input process a netx network runs in the
same hardware steps: :data:`NETX_STEP_OFFSET` is 0, and each layer's spikes are its
population's, ``latency`` steps behind source time (stored in the file's ``spikeforge``
group, which netx ignores).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import h5py
import numpy as np

from spikeforge.atomic import atomic_path
from spikeforge.compile.compiled import CompiledNet
from spikeforge.compile.lower import (
    CorePopulation,
    LoihiPlan,
    Synapses,
    dense_synapses,
    nonstandard_features,
)
from spikeforge.compile.quantize import quantize_plane, quantize_population
from spikeforge.compile.timing import BIAS_SOURCE
from spikeforge.errors import SpikeforgeError, UnsupportedError
from spikeforge.ir.weights import dense, is_sparse
from spikeforge.limits import require_fits
from spikeforge.loihi_format import DECAY_SHIFT, DU_OFFSET

#: Hardware steps a netx network runs behind spikeforge's own process graph for the
#: same input process (measured and tested in tests/test_netx.py).
NETX_STEP_OFFSET = 0
#: ``hdf5.Network.create_dense`` clamps larger delays to 62 (with a warning).
NETX_MAX_DELAY = 62
#: Version of the ``spikeforge`` metadata group written beside netx's layers.
METADATA_VERSION = 1


@dataclass
class NetxLayer:
    """One netx layer: a population, its synapses and what fitting netx's format cost."""

    population: str
    pre: str
    synapses: Synapses
    recurrent: Synapses | None
    neuron: CorePopulation
    compiled_scale: float
    netx_scale: float
    requantised: bool
    weight_error_rms: float


@dataclass
class NetxPlan:
    """The fixed-point plan a netx file holds, as an ordinary Loihi plan plus its layers."""

    plan: LoihiPlan
    input: str
    layers: list[NetxLayer]
    host_readouts: list[str]


def netx_plan(compiled: CompiledNet) -> NetxPlan:
    """The compiled fixed plan in netx's formats, refusing what netx cannot express.

    A population keeps the compiled fixed point exactly when its synapses are one
    8-bit plane at exponent 0; otherwise it is requantised at the largest scale (no
    larger than the compiled one, so every state stays in range) at which they are.
    """
    network = compiled.network
    if compiled.float_plan is None:
        raise UnsupportedError(
            "this network is a netx file's own plan, not a compiled graph; write it back "
            "with spikeforge.targets.netx_replan.write_netx_plan (export-netx does)"
        )
    # netx's conv layers number neurons (W, H, C); a NIR conv's populations are
    # (C, H, W), so its convolutions are written as the dense layers they equal.
    float_plan = _dense_only(compiled.float_plan)
    if len(float_plan.inputs) != 1:
        raise UnsupportedError(
            f"netx networks have one input; this one has {len(float_plan.inputs)} "
            f"({', '.join(sorted(float_plan.inputs))})"
        )
    input_name = next(iter(float_plan.inputs))
    for name, pop in compiled.fixed_plan.populations.items():
        if nonstandard_features(pop):
            raise UnsupportedError(
                f"population '{name}': {', '.join(nonstandard_features(pop))}, which a netx "
                "CUBA neuron cannot hold: it resets to 0 on the spike step, fires at "
                f"v > theta, sends single spikes and has {DECAY_SHIFT}-bit decays"
                + (" (compile without --decay-bits)" if pop.decay_bits != DECAY_SHIFT else "")
            )
    for syn in float_plan.synapses:
        if syn.pre == BIAS_SOURCE:
            raise UnsupportedError(_bias_refusal(float_plan, syn.post))
    order = _chain(float_plan, input_name)
    scales = {r.population: r.scale for r in compiled.quant_report}
    float_incoming = _incoming(float_plan)
    fixed_incoming = _incoming(_dense_only(compiled.fixed_plan))
    layers = []
    pre = input_name
    for name in order:
        pop = float_plan.populations[name]
        if np.any(pop.v_init) or np.any(pop.bias_mant):
            raise UnsupportedError(
                f"population '{name}' ({network.populations[name].kind}): v_reset != 0; netx "
                "neurons start at 0 and reset to 0, with no per-neuron initial voltage"
            )
        layers.append(
            _layer(name, pre, pop, float_incoming[name], fixed_incoming[name], scales[name])
        )
        pre = name
    for layer in layers:
        if layer.synapses.extra_delay > NETX_MAX_DELAY:
            raise UnsupportedError(
                f"connection {layer.pre} -> {layer.population} needs a delay of "
                f"{layer.synapses.extra_delay} steps; netx allows at most {NETX_MAX_DELAY}"
            )
    synapses = [s for layer in layers for s in (layer.synapses, layer.recurrent) if s is not None]
    plan = LoihiPlan(
        precision="fixed",
        inputs=dict(float_plan.inputs),
        populations={layer.population: layer.neuron for layer in layers},
        synapses=synapses,
        latency=dict(float_plan.latency),
    )
    host = [
        name for name, readout in network.readouts.items() if readout.direct_source != order[-1]
    ]
    return NetxPlan(plan=plan, input=input_name, layers=layers, host_readouts=host)


def _bias_refusal(plan: LoihiPlan, name: str) -> str:
    """Why a spikeforge bias is not a netx bias: where and when each one acts."""
    latency = plan.latency[name]
    du = float(plan.populations[name].du)
    through_u = (
        f"; and netx's bias bypasses u, which here keeps {1 - du:.3g} of itself each step, so "
        "they differ on every later step too"
        if du < 1
        else ""
    )
    return (
        f"population '{name}' receives a constant input current (a bias or leak), which is not "
        "a netx bias: spikeforge delivers it from an always-spiking bias neuron through a "
        f"synapse into u from the population's source step 0 (hardware step {latency + 1}), "
        "while netx's only constant drive, the neuron's bias, is added to v on every hardware "
        f"step from step 1, so its first {latency} step(s) would differ{through_u}. Train "
        "without biases (bias=False) and with v_leak = 0 to export to netx"
    )


def write_netx(compiled: CompiledNet, path: str | os.PathLike[str]) -> NetxPlan:
    """Write ``compiled`` as a netx ``.net`` file, atomically; return what was written."""
    exported = netx_plan(compiled)
    target = Path(path)
    try:
        with atomic_path(target) as tmp, h5py.File(tmp, "w") as handle:
            _write(handle, compiled, exported)
    except OSError as exc:
        raise SpikeforgeError(f"cannot write netx network to {target}: {exc}") from exc
    return exported


def describe(exported: NetxPlan) -> str:
    """The table ``spikeforge export-netx`` prints: layers and what netx's format cost."""
    lines = [
        f"{'layer':>5} {'type':<9} {'population':<20} {'neurons':>8} {'inputs':>7} {'delay':>5} "
        f"{'vThMant':>8} {'fixed point':<22} {'w err rms':>9}"
    ]
    for i, layer in enumerate(exported.layers, start=1):
        pop = layer.neuron
        how = (
            f"rescaled x{layer.netx_scale / layer.compiled_scale:.3g}"
            if layer.requantised
            else "as compiled"
        )
        lines.append(
            f"{i:>5} {'dense_rec' if layer.recurrent is not None else 'dense':<9} "
            f"{layer.population:<20} {pop.size:>8} {layer.synapses.weights.shape[1]:>7} "
            f"{layer.synapses.extra_delay:>5} {int(pop.vth):>8} {how:<22} "
            f"{layer.weight_error_rms:>9.2%}"
        )
    if any(layer.requantised for layer in exported.layers):
        lines.append(
            "netx stores 8-bit weights without exponent: rescaled layers lost resolution "
            "against the compiled fixed point (w err rms is against the float weights)"
        )
    if exported.host_readouts:
        lines.append(
            "host-side readouts not in the file (evaluate them from the layers' activity): "
            + ", ".join(exported.host_readouts)
        )
    return "\n".join(lines)


def _dense_only(plan: LoihiPlan) -> LoihiPlan:
    """``plan`` as netx stores it, every layer's weights one dense array: convolutions
    as the dense layers they equal, CSR matrices densified (netx has no sparse layer),
    unless the array would be too large to hold (:func:`~spikeforge.limits.require_fits`)."""
    for syn in plan.synapses:
        if is_sparse(syn.weights):
            require_fits(
                8 * int(np.prod(syn.weights.shape)),
                f"connection {syn.pre} -> {syn.post} as netx's dense weight array",
            )
    synapses = [replace(s, weights=dense(s.weights)) for s in plan.synapses]
    convs = [dense_synapses(conv) for conv in plan.convolutions]
    return replace(plan, synapses=[*convs, *synapses], convolutions=[])


def _incoming(plan: LoihiPlan) -> dict[str, list[Synapses]]:
    incoming: dict[str, list[Synapses]] = {name: [] for name in plan.populations}
    for syn in plan.synapses:
        incoming[syn.post].append(syn)
    return incoming


def _chain(plan: LoihiPlan, input_name: str) -> list[str]:
    """Populations in layer order; refuses anything but input -> p1 -> p2 -> ... (+ self loops)."""
    sources: dict[str, set[str]] = {name: set() for name in plan.populations}
    targets: dict[str, set[str]] = {name: set() for name in [input_name, *plan.populations]}
    for syn in plan.synapses:
        if syn.pre != syn.post:
            sources[syn.post].add(syn.pre)
            targets[syn.pre].add(syn.post)
    order: list[str] = []
    current = input_name
    while targets[current]:
        if len(targets[current]) > 1:
            raise UnsupportedError(
                f"'{current}' feeds {len(targets[current])} populations "
                f"({', '.join(sorted(targets[current]))}); netx layers form a single chain"
            )
        previous = current
        (current,) = targets[current]
        later = sorted(s for s in sources[current] if s not in (previous, input_name, *order))
        if current in order or later:
            raise UnsupportedError(
                f"population '{current}' is part of a loop through other populations "
                f"({', '.join(later or [previous])}); netx expresses recurrence only within one "
                "layer (dense_rec)"
            )
        if len(sources[current]) > 1:
            raise UnsupportedError(
                f"population '{current}' receives from {len(sources[current])} sources "
                f"({', '.join(sorted(sources[current]))}); a netx layer has one input layer"
            )
        order.append(current)
    if not order:
        raise UnsupportedError(f"input '{input_name}' feeds no population; nothing to export")
    missing = sorted(set(plan.populations) - set(order))
    if missing:
        raise UnsupportedError(
            f"population '{missing[0]}' is not on the chain from input '{input_name}'; "
            "netx layers form a single chain"
        )
    return order


def _layer(
    name: str,
    pre: str,
    pop: CorePopulation,
    float_in: list[Synapses],
    fixed_in: list[Synapses],
    scale: float,
) -> NetxLayer:
    forward = [s for s in float_in if s.pre == pre]
    recurrent = [s for s in float_in if s.pre == name]
    if recurrent and recurrent[0].extra_delay:
        raise UnsupportedError(
            f"population '{name}': its recurrent connection is delayed by "
            f"{recurrent[0].extra_delay} extra steps; netx's dense_rec has no delay"
        )
    if recurrent and forward[0].extra_delay:
        raise UnsupportedError(
            f"population '{name}': a delayed input into a recurrent layer; netx's dense_rec "
            "applies one delay matrix to both its weights"
        )
    fits = all(s.weight_exp == 0 for s in fixed_in) and len(fixed_in) == len(float_in)
    new_scale = scale if fits else min(scale, *(_fit_scale(s.weights) for s in float_in))
    neuron, _, _ = quantize_population(pop, new_scale)
    quantised = {}
    for syn in float_in:
        weights, exp = quantize_plane(syn.weights * new_scale)
        if not weights.any():
            raise UnsupportedError(
                f"connection {syn.pre} -> {name}: every weight rounds to zero in netx's 8 bits "
                f"(largest |w| {np.abs(syn.weights).max():.3g}, threshold {pop.vth:.3g})"
            )
        if exp != 0:  # _fit_scale guarantees exponent 0; anything else is a bug here
            raise AssertionError(f"netx requantisation of {syn.pre} -> {name} needs exponent {exp}")
        quantised[syn.pre] = Synapses(syn.pre, name, weights, 0, syn.extra_delay)
    error = _weight_error(float_in, quantised, new_scale)
    return NetxLayer(
        population=name,
        pre=pre,
        synapses=quantised[pre],
        recurrent=quantised.get(name),
        neuron=neuron,
        compiled_scale=scale,
        netx_scale=new_scale,
        requantised=not fits,
        weight_error_rms=error,
    )


def _fit_scale(weights: np.ndarray) -> float:
    """The largest scale at which ``weights`` round into 8 bits (even values if mixed)."""
    peak = float(np.abs(weights).max(initial=0.0))
    if peak == 0:
        return float("inf")
    mixed = weights.min() < 0 < weights.max()
    return (254.0 if mixed else 255.0) / peak


def _weight_error(float_in: list[Synapses], quantised: dict[str, Synapses], scale: float) -> float:
    err = norm = 0.0
    for syn in float_in:
        approx = quantised[syn.pre].weights / scale
        err += float(((approx - syn.weights) ** 2).sum())
        norm += float((syn.weights**2).sum())
    return float(np.sqrt(err / norm)) if norm else 0.0


def _string(handle: h5py.Group, key: str, value: str) -> None:
    """Strings as slayer writes them (netx's NetDict reads element 0 of an S10 array)."""
    handle.create_dataset(key, (1,), "S10", [value.encode("ascii")])


def _write(handle: h5py.File, compiled: CompiledNet, exported: NetxPlan) -> None:
    layers = handle.create_group("layer")
    first = layers.create_group("0")
    _string(first, "type", "input")
    first.create_dataset("shape", data=np.array(compiled.network.inputs[exported.input]))
    for i, layer in enumerate(exported.layers, start=1):
        group = layers.create_group(str(i))
        _string(group, "type", "dense_rec" if layer.recurrent is not None else "dense")
        weights = layer.synapses.weights.astype(np.int64)
        group.create_dataset("shape", data=np.array([layer.neuron.size]))
        group.create_dataset("inFeatures", data=weights.shape[1])
        group.create_dataset("outFeatures", data=weights.shape[0])
        group.create_dataset("weight", data=weights)
        if layer.recurrent is not None:
            group.create_dataset("weight_rec", data=layer.recurrent.weights.astype(np.int64))
        if layer.synapses.extra_delay:
            group.create_dataset(
                "delay", data=np.full(weights.shape[0], layer.synapses.extra_delay)
            )
        neuron = group.create_group("neuron")
        _string(neuron, "type", "CUBA")
        neuron.create_dataset("iDecay", data=int(layer.neuron.du) + DU_OFFSET)
        neuron.create_dataset("vDecay", data=int(layer.neuron.dv))
        neuron.create_dataset("vThMant", data=int(layer.neuron.vth))
        neuron.create_dataset("refDelay", data=1)
        neuron.create_dataset("gradedSpike", data=False)
    meta = handle.create_group("spikeforge")
    meta.attrs["version"] = METADATA_VERSION
    meta.attrs["dt"] = compiled.network.dt
    meta.attrs["input"] = exported.input
    meta.attrs["populations"] = [layer.population for layer in exported.layers]
    meta.attrs["latency"] = [exported.plan.latency[layer.population] for layer in exported.layers]
    for layer in exported.layers:
        meta.create_dataset(f"scale/{layer.population}", data=layer.neuron.scale)
