"""Write a netx fixed-point plan back as a netx ``.net``: the plan's own integers.

A plan read from a ``.net`` (:mod:`spikeforge.compile.netx_plan`, or a ``.sfnet``
holding one) is already what ``lava.lib.dl.netx.hdf5.Network`` builds, so writing it
is the reader run backwards, layer ``layer{i}`` back at file index ``i``:

* dense weights are stored pre-``optimize_weight_bits``: netx shifts the file's
  integers left by ``-weight_exp`` (and derives ``num_weight_bits`` from their
  rounding), so the file holds the plan's weights shifted back; the writer runs
  netx's own ``optimize_weight_bits`` on what it writes and refuses unless it gives
  the plan's weights, exponent and bits again;
* a dense layer reading a (W, H, C) layer gets a ``flatten`` layer before it and its
  weight columns put back in netx's (C, H, W) order;
* conv weights go back to slayer's (C_out, C_in, H, W) layout, unflipped, with the
  geometry in the file's (H, W) order;
* biases per neuron (per channel where a conv layer's are), ``iDecay = du + DU_OFFSET``,
  ``vDecay``, ``vThMant``; SDNN layers (``sigma_output`` for a Sigma readout) at
  netx's 16 message bits, the only width it loads (its ``NetDict`` cannot read a
  ``messageBits`` field); delays per post or per pre neuron, as netx broadcasts them;
* an input layer: with the plan's neuron where it is bias-driven or a Delta encoder,
  otherwise only its shape.

``reset_interval``/``reset_offset`` are options of netx's ``Network``, not of the file:
the summary says which to pass to run the file as the plan ran.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import h5py
import numpy as np

from spikeforge.atomic import atomic_path
from spikeforge.compile.compiled import CompiledNet
from spikeforge.compile.lower import ConvSynapses, CorePopulation, LoihiPlan, Synapses
from spikeforge.compile.netx_plan import chw_columns, optimize_like_netx
from spikeforge.errors import SpikeforgeError, UnsupportedError
from spikeforge.loihi_format import DU_OFFSET, SDN_MESSAGE_BITS

_NAME = re.compile(r"layer(\d+)")


def write_netx_plan(compiled: CompiledNet, path: str | os.PathLike[str]) -> str:
    """Write a netx plan as a ``.net``, atomically; return the summary to print."""
    plan = compiled.fixed_plan
    layers = _layers(compiled)
    target = Path(path)
    try:
        with atomic_path(target) as tmp, h5py.File(tmp, "w") as handle:
            group = handle.create_group("layer")
            for index, write in enumerate(layers):
                write(group.create_group(str(index)))
    except OSError as exc:
        raise SpikeforgeError(f"cannot write netx network to {target}: {exc}") from exc
    return _summary(plan, len(layers))


def _layers(compiled: CompiledNet) -> list:
    """One writer per file layer, every refusal raised before anything is written."""
    plan = compiled.fixed_plan
    indices = {}
    for name in plan.populations:
        match = _NAME.fullmatch(name)
        if match is None:
            raise UnsupportedError(f"population '{name}' is not a netx layer (layer<i>)")
        indices[int(match.group(1))] = name
    if not indices:
        raise UnsupportedError("the netx plan has no layers; nothing to write")
    dense: dict[str, list[Synapses]] = {name: [] for name in plan.populations}
    for syn in plan.synapses:
        dense[syn.post].append(syn)
    convs = {conv.post: conv for conv in plan.convolutions}
    writers = []
    for index in range(max(indices) + 1):
        name = indices.get(index)
        if name is None:
            writers.append(_gap(compiled, index, indices, dense))
            continue
        pop = plan.populations[name]
        where = f"layer {index} ({name})"
        if pop.sdn and pop.num_message_bits != SDN_MESSAGE_BITS:
            raise UnsupportedError(
                f"{where}: {pop.num_message_bits}-bit SDNN messages; netx reads only its default "
                f"{SDN_MESSAGE_BITS} (lava-dl 0.6.0's NetDict cannot read a messageBits field, so "
                "a file holding one does not load)"
            )
        if pop.bias_driven or pop.sdn == "delta":
            writers.append(_input_neuron(pop))
        elif name in convs:
            writers.append(_conv(pop, convs[name], where))
        elif dense[name]:
            writers.append(_dense(plan, pop, dense[name], where))
        else:
            raise UnsupportedError(f"{where}: no incoming synapses; netx layers have an input")
    return writers


def _gap(compiled: CompiledNet, index: int, indices: dict[int, str], dense: dict) -> object:
    """A file index without a population: the network's input layer, or a flatten."""
    plan = compiled.fixed_plan
    following = indices.get(index + 1)
    if following is not None and any(
        s.pre in plan.populations and plan.populations[s.pre].shape for s in dense[following]
    ):
        return lambda group: _string(group, "type", "flatten")
    if index == 0 and "input" in compiled.network.inputs:
        shape = np.array(compiled.network.inputs["input"][::-1])

        def write(group: h5py.Group) -> None:
            _string(group, "type", "input")
            group.create_dataset("shape", data=shape)

        return write
    raise UnsupportedError(f"layer {index}: no population and neither an input nor a flatten")


def _input_neuron(pop: CorePopulation):
    def write(group: h5py.Group) -> None:
        _string(group, "type", "input")
        group.create_dataset("shape", data=np.array(_shape(pop)[::-1]))
        _neuron(group, pop)

    return write


def _conv(pop: CorePopulation, conv: ConvSynapses, where: str):
    # netx reads weight[:, :, ::-1, ::-1].transpose(0, 3, 2, 1); that transpose is its own inverse.
    weight = np.asarray(conv.weight).transpose(0, 3, 2, 1)[:, :, ::-1, ::-1]

    def write(group: h5py.Group) -> None:
        _string(group, "type", "conv")
        group.create_dataset("shape", data=np.array(_shape(pop)[::-1]))
        group.create_dataset("weight", data=np.ascontiguousarray(weight).astype(np.int64))
        for key in ("stride", "padding", "dilation"):
            group.create_dataset(key, data=np.array(getattr(conv, key)[::-1]))
        group.create_dataset("groups", data=int(conv.groups))
        _bias(group, pop, channels=True)
        _neuron(group, pop)

    return write


def _dense(plan: LoihiPlan, pop: CorePopulation, incoming: list[Synapses], where: str):
    forward = [s for s in incoming if s.pre != pop.name]
    recurrent = [s for s in incoming if s.pre == pop.name]
    if len(forward) != 1 or len(recurrent) > 1:
        raise UnsupportedError(f"{where}: {len(forward)} inputs; a netx layer has one")
    (syn,) = forward
    if syn.extra_delay or any(s.always_on is not None for s in incoming):
        raise UnsupportedError(f"{where}: compiler-added delays or pacemakers are not netx's")
    plane = np.hstack([syn.weights] + [s.weights for s in recurrent]).astype(np.int64)
    shift = -syn.weight_exp
    if shift < 0 or np.any(plane != (plane >> shift) << shift):
        raise UnsupportedError(f"{where}: weight exponent {syn.weight_exp} is not one netx derives")
    stored = plane >> shift
    if not _same(optimize_like_netx(stored), plane, syn):
        raise UnsupportedError(
            f"{where}: netx would read these weights back with another exponent or width "
            f"(exponent {syn.weight_exp}, {syn.num_weight_bits} bits)"
        )
    weight = stored[:, : syn.weights.shape[1]]
    sender = plan.populations.get(syn.pre)
    if sender is not None and sender.shape:
        unflattened = np.empty_like(weight)
        unflattened[:, chw_columns(tuple(sender.shape))] = weight
        weight = unflattened
    delay = _delay(syn.delays, where)

    def write(group: h5py.Group) -> None:
        _string(group, "type", "dense_rec" if recurrent else "dense")
        group.create_dataset("shape", data=np.array([pop.size]))
        group.create_dataset("weight", data=weight)
        if recurrent:
            group.create_dataset("weight_rec", data=stored[:, syn.weights.shape[1] :])
        if delay is not None:
            group.create_dataset("delay", data=delay)
        _bias(group, pop, channels=False)
        _neuron(group, pop)

    return write


def _same(optimised: tuple[np.ndarray, int, int], plane: np.ndarray, syn: Synapses) -> bool:
    weights, bits, exponent = optimised
    return (
        np.array_equal(weights, plane)
        and bits == syn.num_weight_bits
        and exponent == syn.weight_exp
    )


def _delay(delays: np.ndarray | None, where: str) -> np.ndarray | None:
    """netx's file delay for per-synapse delays ``[post, pre]``: per post, else per pre."""
    if delays is None:
        return None
    if np.all(delays == delays[:, :1]):
        return delays[:, 0].astype(np.int64)
    if np.all(delays == delays[:1, :]) and delays.shape[0] != delays.shape[1]:
        return delays[0].astype(np.int64)
    raise UnsupportedError(
        f"{where}: delays differ within both a post and a pre neuron's synapses; a netx file "
        "holds one delay per post or per pre neuron"
    )


def _bias(group: h5py.Group, pop: CorePopulation, channels: bool) -> None:
    """Per neuron; a conv layer's per channel when it is (as slayer writes it)."""
    bias = np.asarray(pop.bias_mant, dtype=np.int64)
    if not bias.any():
        return
    if channels and pop.shape:
        full = bias.reshape(pop.shape)
        per_channel = full.reshape(-1, pop.shape[-1])
        if np.all(per_channel == per_channel[:1]):
            group.create_dataset("bias", data=per_channel[0])
            return
        group.create_dataset("bias", data=full)
        return
    group.create_dataset("bias", data=bias)


def _neuron(group: h5py.Group, pop: CorePopulation) -> None:
    neuron = group.create_group("neuron")
    if pop.sdn:
        _string(neuron, "type", "SDNN")
        if pop.sdn == "sigma":
            neuron.create_dataset("sigma_output", data=True)
        else:
            neuron.create_dataset("vThMant", data=int(pop.vth))
        return
    _string(neuron, "type", "CUBA")
    neuron.create_dataset("iDecay", data=int(pop.du) + DU_OFFSET)
    neuron.create_dataset("vDecay", data=int(pop.dv))
    neuron.create_dataset("vThMant", data=int(pop.vth))
    neuron.create_dataset("refDelay", data=1)
    neuron.create_dataset("gradedSpike", data=False)


def _shape(pop: CorePopulation) -> tuple[int, ...]:
    return tuple(pop.shape) if pop.shape else (pop.size,)


def _string(handle: h5py.Group, key: str, value: str) -> None:
    """Strings as slayer writes them (netx's NetDict reads element 0 of an S10 array)."""
    handle.create_dataset(key, (1,), "S10", [value.encode("ascii")])


def _summary(plan: LoihiPlan, count: int) -> str:
    lines = [f"netx plan written back as its own integers: {count} file layers"]
    resets = {p.reset_interval for p in plan.populations.values() if p.reset_interval}
    if resets:
        (interval,) = resets
        first = next(p for p in plan.populations.values() if p.reset_interval)
        lines.append(
            f"the plan ran with netx's LIFReset: pass reset_interval={interval} and a "
            f"reset_offset with (reset_offset + 1) % {interval} == {first.reset_offset} to "
            "hdf5.Network (spikeforge: --reset-interval/--reset-offset); the file cannot hold them"
        )
    return "\n".join(lines)
