"""A netx ``.net`` as the fixed-point plan netx itself builds: the file's integers, unchanged.

A netx file is already Loihi fixed point, so nothing is re-quantised: this module
reads it as ``lava.lib.dl.netx.hdf5.Network`` (lava-dl 0.6.0) does and writes down
the Lava processes netx would create, so that spikeforge's Lava runtime and its
emulator run netx's own process graph:

* a CUBA/LOIHI layer is a ``LIF`` (``LIFReset`` with ``reset_interval``) with
  ``vth = vThMant``, ``du = iDecay - 1``, ``dv = vDecay``, ``bias_mant = bias``
  (truncated to int32 as netx does) and ``bias_exp = 6``; a dense layer without a
  neuron group is netx's non-leaky never-spiking integrator;
* a dense layer's weights go through netx's own ``optimize_weight_bits`` (the file's
  integers, shifted into 8 bits with a negative exponent), into a ``Dense``, or a
  ``DelayDense`` with netx's per-synapse delays; a ``dense_rec`` layer optimises its
  feed-forward and recurrent weights together, as netx does;
* a conv layer is a Lava ``Conv`` (no exponent, as netx builds it) on (W, H, C)
  shaped populations; a dense layer after ``flatten`` reads them through netx's
  (C, H, W) flatten, which is folded into the order of its weight columns;
* an ``input`` layer with a neuron is a ``LIF`` whose ``bias_mant`` each sample sets
  (the PilotNet tutorials' image-as-bias): netx ignores that layer's ``weight`` and
  ``bias`` transform, and so does spikeforge;
* ``reset_offset`` is netx's: the given offset + 1 (hardware time starts at 1), + 1
  more for every layer after the first.

Layer ``i`` of the file is population ``layer{i}``; shapes are netx's (W, H, C), so
inputs, input biases and recorded layers are in netx's own neuron order. Outputs
are read in raw hardware steps: a spike input reaches layer ``k`` after ``k``
synapse hops, exactly as in netx's own graph (step offset 0), while biases,
bias-driven inputs and resets act from hardware step 1 and have no source-time
counterpart, so such networks refuse aligned timing.

Everything is validated before use, and every refusal names the layer, parameter,
value and limit; what netx does not implement (pool, convT, unpool, average,
concat, ...) is refused, as are resonate-and-fire layers and graded CUBA neurons,
which spikeforge does not lower yet.

SDNN layers become Lava's sigma-delta processes with netx's parameters (``vth =
vThMant``, ``spike_exp = state_exp = 6``, ``messageBits`` or 16 payload bits, ReLU
whatever ``activation`` says, as netx builds them): a ``sigma_output`` layer is a
``Sigma`` readout, any other a ``SigmaDelta`` whose bias is ``bias`` (scaled by Lava),
and an SDNN ``input`` layer is a ``Delta`` encoder. netx itself leaves that encoder's
input unconnected (its Input block is driven through a bias, and the PilotNet SDNN
tutorial skips the layer and encodes on the host); spikeforge writes the network
input, integer-valued graded frames, straight into the Delta's ``a_in`` on the same
step. Every synapse fed by a graded layer reads payloads (``num_message_bits`` of the
sending layer, as netx's ``input_message_bits``); netx ignores resets on SDNN layers,
and so does spikeforge.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from spikeforge.compile.compiled import CompiledNet
from spikeforge.compile.lower import ConvSynapses, CorePopulation, LoihiPlan, Synapses
from spikeforge.compile.network import Connection, Network, Population, Readout
from spikeforge.compile.timing import Timing
from spikeforge.errors import SpikeforgeError, UnsupportedError
from spikeforge.hdf5_guard import checked_hdf5
from spikeforge.ir.netx_import import DEFAULT_DT
from spikeforge.ir.netx_layers import MAX_LAYER_NEURONS, checked_layers, integers, layer_type
from spikeforge.loihi_format import (
    BIAS_MANT_MAX,
    BIAS_MANT_MIN,
    DECAY_UNITY,
    GRADED_BITS_MAX,
    MAX_SYNAPSE_DELAY,
    NETX_BIAS_EXP,
    NETX_NEVER_SPIKES,
    SDN_MESSAGE_BITS,
    SDN_SPIKE_EXP,
    SDN_STATE_EXP,
    SDN_VTH_MAX,
    WEIGHT_MAX,
    WEIGHT_MIN,
)

#: The output readout is an identity matrix over the last layer: bounded.
MAX_OUTPUT_NEURONS = 1 << 12
_NOT_IN_NETX = ("pool", "convT", "unpool", "average", "concat")


@dataclass
class NetxOptions:
    """netx's ``Network(reset_interval=..., reset_offset=...)``; None: no reset."""

    reset_interval: int | None = None
    reset_offset: int = 0


@dataclass
class _Layer:
    """A layer read so far: its population and its (W, H, C) or (n,) shape."""

    name: str
    shape: tuple[int, ...]


def load_netx_plan(path: str | Path, options: NetxOptions | None = None) -> CompiledNet:
    """Read a ``.net`` into a compiled network whose fixed plan is netx's own."""
    path = Path(path)
    options = options or NetxOptions()
    if not path.is_file():
        raise SpikeforgeError(f"{path}: no such file")
    try:
        _check_options(options)
        with checked_hdf5(path) as handle:
            if "layer" not in handle:
                raise SpikeforgeError("no 'layer' group: not a netx network description")
            return _Reader(checked_layers(handle), options).compiled()
    except SpikeforgeError as exc:
        raise type(exc)(f"{path}: {exc}") from None
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise SpikeforgeError(
            f"{path}: not a readable netx file ({type(exc).__name__}: {exc})"
        ) from None


def _check_options(options: NetxOptions) -> None:
    if options.reset_interval is not None and options.reset_interval < 1:
        raise SpikeforgeError(f"reset interval {options.reset_interval}: must be at least 1")
    if options.reset_interval is None and options.reset_offset:
        raise SpikeforgeError("a reset offset needs a reset interval")


class _Reader:
    """Walks the layers in file order, as ``hdf5.Network._create`` does."""

    def __init__(self, groups: list[h5py.Group], options: NetxOptions) -> None:
        self.groups = groups  # validated: spikeforge.ir.netx_layers
        self.options = options
        self.offset = options.reset_offset + 1  # netx: hardware time starts at 1
        self.populations: dict[str, CorePopulation] = {}
        self.network_pops: dict[str, Population] = {}
        self.synapses: list[Synapses] = []
        self.convolutions: list[ConvSynapses] = []
        self.inputs: dict[str, tuple[int, ...]] = {}
        self.latency: dict[str, int] = {}
        self.has_bias = False

    def compiled(self) -> CompiledNet:
        previous: _Layer | None = None
        input_shape: tuple[int, ...] | None = None
        flatten_next = False
        for i, group in enumerate(self.groups):
            kind = layer_type(group, i)
            where = f"layer {i} ({kind})"
            if kind == "input":
                if previous is not None or input_shape is not None:
                    raise UnsupportedError(f"{where}: an input layer after other layers")
                shape = _shape(group, where)
                if "neuron" in group:
                    previous = self._input_neuron(i, group, shape, where)
                else:
                    input_shape = shape
            elif kind == "flatten":
                flatten_next = True
            elif kind in _NOT_IN_NETX:
                raise UnsupportedError(f"{where}: netx does not implement this layer type either")
            elif kind == "conv":
                if flatten_next:
                    raise UnsupportedError(f"{where}: a conv layer after a flatten layer")
                pre = previous or self._spike_input(input_shape, None, where)
                previous = self._conv(i, group, pre, where)
            elif kind in ("dense", "dense_rec"):
                previous = self._dense(i, group, previous, input_shape, flatten_next, where)
                flatten_next = False
            else:
                raise UnsupportedError(
                    f"{where}: unknown layer type (netx layers spikeforge reads: input, dense, "
                    "dense_rec, conv, flatten)"
                )
        if previous is None:
            raise SpikeforgeError("the file has no neuron layers")
        return self._finish(previous)

    # ------------------------------------------------------------------ layers

    def _input_neuron(self, i: int, group: h5py.Group, shape: tuple[int, ...], where: str):
        name = f"layer{i}"
        if _sdnn(group, where):
            # A Delta encoder: the network input is written into its a_in (see above).
            self.inputs["input"] = shape
            self._population(name, group, shape, where, bias=None, latency=0, role="input")
        else:
            self._population(name, group, shape, where, bias=None, latency=0, bias_driven=True)
        return _Layer(name, shape)

    def _spike_input(self, shape: tuple[int, ...] | None, size: int | None, where: str) -> _Layer:
        """The network's spike input, shaped as the input layer says (or ``size`` flat)."""
        if "input" in self.inputs:
            raise UnsupportedError(f"{where}: a second layer reading the spike input")
        if shape is None:
            if size is None:
                raise UnsupportedError(
                    f"{where}: a conv first layer needs an input layer stating the input shape "
                    "(netx cannot infer it either)"
                )
            shape = (size,)
        self.inputs["input"] = shape
        return _Layer("input", shape)

    def _conv(self, i: int, group: h5py.Group, pre: _Layer, where: str) -> _Layer:
        if "delay" in group:
            raise UnsupportedError(
                f"{where}: delays on a conv layer, which netx ignores (hdf5.py create_conv)"
            )
        if len(pre.shape) != 3:
            raise UnsupportedError(f"{where}: a conv layer needs a 3-d input, got {pre.shape}")
        weight = integers(_required(group, "weight", where), where, "weight")
        if weight.ndim == 5 and weight.shape[-1] == 1:
            weight = weight[..., 0]
        if weight.ndim != 4:
            raise UnsupportedError(f"{where}: conv weight of shape {weight.shape}, expected 4-d")
        _weight_range(weight, where)
        out_c, in_per_group, k_h, k_w = weight.shape
        geometry = {k: _pair(group, k, where) for k in ("stride", "padding", "dilation")}
        groups = _scalar_int(_required(group, "groups", where), where, "groups")
        width, height, channels = pre.shape
        if groups < 1 or channels % groups or out_c % groups or in_per_group * groups != channels:
            raise UnsupportedError(
                f"{where}: groups = {groups} with {channels} input channels, {out_c} output "
                f"channels and weight {weight.shape}: groups must divide both and match the weight"
            )
        for key, low in (("stride", 1), ("padding", 0), ("dilation", 1)):
            if min(geometry[key]) < low:
                raise UnsupportedError(f"{where}: {key} {geometry[key]} must be at least {low}")
        # File geometry is (H, W); Lava's is (X, Y) = (W, H), as netx's expand() reverses it.
        sx, sy = geometry["stride"][::-1]
        px, py = geometry["padding"][::-1]
        dx, dy = geometry["dilation"][::-1]
        out_w = (width + 2 * px - dx * (k_w - 1) - 1) // sx + 1
        out_h = (height + 2 * py - dy * (k_h - 1) - 1) // sy + 1
        if out_w < 1 or out_h < 1:
            raise UnsupportedError(
                f"{where}: a {k_h}x{k_w} kernel (dilation {geometry['dilation']}) is larger than "
                f"the padded input {height + 2 * py}x{width + 2 * px}"
            )
        shape = _shape(group, where)
        if shape != (out_w, out_h, out_c):
            raise UnsupportedError(
                f"{where}: shape {shape[::-1]} (C, H, W) but the convolution gives "
                f"{(out_c, out_h, out_w)}"
            )
        name = f"layer{i}"
        bias = self._bias(group, shape, where)
        self._population(name, group, shape, where, bias, self._hops(pre))
        self.convolutions.append(
            ConvSynapses(
                pre=pre.name,
                post=name,
                # netx: weight[:, :, ::-1, ::-1].transpose((0, 3, 2, 1)) -> (C_out, W, H, C_in)
                weight=np.ascontiguousarray(weight[:, :, ::-1, ::-1].transpose(0, 3, 2, 1)),
                input_shape=list(pre.shape),
                output_shape=list(shape),
                stride=[sx, sy],
                padding=[px, py],
                dilation=[dx, dy],
                groups=groups,
                num_message_bits=self._bits(pre),
            )
        )
        return _Layer(name, shape)

    def _dense(
        self,
        i: int,
        group: h5py.Group,
        previous: _Layer | None,
        input_shape: tuple[int, ...] | None,
        flatten: bool,
        where: str,
    ) -> _Layer:
        if "weight/real" in group or "weight/imag" in group:
            raise UnsupportedError(f"{where}: complex weights (resonate-and-fire networks)")
        size = _size(group, where)
        weight = integers(_required(group, "weight", where), where, "weight")
        _weight_range(weight, where)
        if weight.size % size:
            raise UnsupportedError(f"{where}: weight of {weight.size} entries for {size} neurons")
        weight = weight.reshape(size, -1)
        # netx feeds a first dense layer's synapse directly: the input is flat.
        pre = previous or self._spike_input(None, weight.shape[1], where)
        n_pre = int(np.prod(pre.shape))
        if weight.shape[1] != n_pre:
            raise UnsupportedError(
                f"{where}: weight of shape {weight.shape} does not fit its input of {n_pre} "
                f"(shape {pre.shape})"
            )
        if len(pre.shape) > 1 and pre.name != "input":
            if not flatten:
                raise UnsupportedError(
                    f"{where}: a dense layer after a {len(pre.shape)}-d layer needs a flatten layer"
                )
            weight = weight[:, chw_columns(pre.shape)]
        name = f"layer{i}"
        recurrent = None
        if layer_type(group, i) == "dense_rec":
            if "delay" in group:
                raise UnsupportedError(f"{where}: delays on a recurrent layer")
            recurrent = integers(_required(group, "weight_rec", where), where, "weight_rec")
            _weight_range(recurrent, where)
            if recurrent.size != size * size:
                raise UnsupportedError(
                    f"{where}: weight_rec of {recurrent.size} entries for {size} neurons"
                )
            recurrent = recurrent.reshape(size, size)
        delays = self._delays(group, weight.shape, where)
        bias = self._bias(group, (size,), where)
        self._population(name, group, (size,), where, bias, self._hops(pre))
        if not np.any(weight) and (recurrent is None or not np.any(recurrent)):
            raise UnsupportedError(f"{where}: all weights are 0 (netx cannot load that either)")
        combined = weight if recurrent is None else np.hstack([weight, recurrent])
        optimised, bits, exponent = optimize_like_netx(combined)
        self.synapses.append(
            Synapses(pre.name, name, optimised[:, : weight.shape[1]], exponent, 0,
                     num_weight_bits=bits, delays=delays, num_message_bits=self._bits(pre))
        )  # fmt: skip
        if recurrent is not None:
            self.synapses.append(
                Synapses(name, name, optimised[:, weight.shape[1] :], exponent, 0,
                         num_weight_bits=bits, num_message_bits=self._bits(_Layer(name, ())))
            )  # fmt: skip
        return _Layer(name, (size,))

    # ------------------------------------------------------------------ parts

    def _bits(self, pre: _Layer) -> int:
        """netx's ``input_message_bits`` of a synapse: its sender's payload width (the
        network's own input: 0, binary, unless a Delta layer encodes it)."""
        return 0 if pre.name == "input" else self.populations[pre.name].num_message_bits

    def _hops(self, pre: _Layer) -> int:
        return 1 if pre.name == "input" else self.latency[pre.name] + 1

    def _delays(self, group: h5py.Group, shape: tuple[int, int], where: str) -> np.ndarray | None:
        """Per-synapse delays ``[post, pre]``, broadcast as netx's create_dense does."""
        if "delay" not in group:
            return None
        delay = integers(np.asarray(group["delay"][()]), where, "delay")
        if delay.size and (delay.min() < 0 or delay.max() > MAX_SYNAPSE_DELAY):
            bad = int(delay.min() if delay.min() < 0 else delay.max())
            raise UnsupportedError(
                f"{where}: a delay of {bad} steps; delays must be 0..{MAX_SYNAPSE_DELAY} "
                f"(netx clamps delays to {MAX_SYNAPSE_DELAY})"
            )
        delay = delay.astype(np.int64)
        if delay.ndim == 0:
            return np.full(shape, int(delay))
        if delay.ndim == 1 and delay.size == shape[0]:
            return np.repeat(delay.reshape(-1, 1), shape[1], axis=1)
        if delay.ndim == 1 and delay.size == shape[1]:
            return np.repeat(delay.reshape(1, -1), shape[0], axis=0)
        raise UnsupportedError(f"{where}: delay of shape {delay.shape} does not fit weight {shape}")

    def _bias(self, group: h5py.Group, shape: tuple[int, ...], where: str) -> np.ndarray | None:
        """netx's ``_neuron(bias)``: per neuron, or per channel (last axis), truncated to int32."""
        if "bias" not in group:
            return None
        bias = np.asarray(group["bias"][()], dtype=np.float64)
        if not np.isfinite(bias).all():
            raise UnsupportedError(f"{where}: bias is not finite")
        bias = np.trunc(bias)
        if bias.size and (bias.min() < BIAS_MANT_MIN or bias.max() > BIAS_MANT_MAX):
            bad = bias.min() if bias.min() < BIAS_MANT_MIN else bias.max()
            raise UnsupportedError(
                f"{where}: bias {bad:g} outside Loihi's 13-bit mantissa range "
                f"[{BIAS_MANT_MIN}, {BIAS_MANT_MAX}]"
            )
        if len(shape) == 1 and bias.size in (1, shape[0]):
            full = np.broadcast_to(bias.reshape(-1), shape)
        elif bias.shape == shape:
            full = bias
        elif bias.ndim == 1 and bias.size == shape[-1]:
            full = np.broadcast_to(bias, shape)
        else:
            raise UnsupportedError(
                f"{where}: bias of shape {bias.shape} fits neither the layer {shape} nor its "
                "channels"
            )
        self.has_bias = self.has_bias or bool(np.any(full))
        return full.reshape(-1).astype(np.int64)

    def _population(
        self,
        name: str,
        group: h5py.Group,
        shape: tuple[int, ...],
        where: str,
        bias: np.ndarray | None,
        latency: int,
        bias_driven: bool = False,
        role: str = "",
    ) -> None:
        size = int(np.prod(shape))
        if size > MAX_LAYER_NEURONS:
            raise UnsupportedError(
                f"{where}: {size} neurons; spikeforge allocates at most {MAX_LAYER_NEURONS} a layer"
            )
        if _sdnn(group, where):
            self._sdn_population(name, group, shape, where, bias, latency, role)
            return
        i_decay, v_decay, vth = _neuron(group, where)
        reset = self.options.reset_interval
        spiking = vth < NETX_NEVER_SPIKES
        self.populations[name] = CorePopulation(
            name=name,
            size=size,
            # ints, as netx passes them: Lava's bit-accurate LIF shifts vth as an integer.
            du=i_decay - 1,
            dv=v_decay,
            vth=vth,
            bias_mant=np.zeros(size, np.int64) if bias is None else bias,
            bias_exp=np.full(size, NETX_BIAS_EXP, np.int64),
            v_init=np.zeros(size, np.int64),
            scale=np.ones(size),
            v_reset=np.zeros(size),
            spiking=spiking,
            latency=latency,
            shape=list(shape) if len(shape) > 1 else None,
            reset_interval=reset or 0,
            reset_offset=(self.offset % reset) if reset else 0,
            bias_driven=bias_driven,
        )
        self.offset += 1
        self.latency[name] = latency
        self.network_pops[name] = Population(
            name=name,
            kind="netx CUBA",
            shape=shape,
            du=np.full(size, i_decay / DECAY_UNITY),
            dv=np.full(size, v_decay / DECAY_UNITY),
            v_bias=np.zeros(size),
            current_bias=np.zeros(size),
            bias_onset=0,
            v_th=np.full(size, float(vth)) if spiking else None,
            v_reset=np.zeros(size),
            reset="to_value",
        )

    def _sdn_population(
        self,
        name: str,
        group: h5py.Group,
        shape: tuple[int, ...],
        where: str,
        bias: np.ndarray | None,
        latency: int,
        role: str,
    ) -> None:
        """A netx SDNN layer as the Lava sigma-delta process netx would build."""
        neuron = group["neuron"]
        size = int(np.prod(shape))
        kind = (
            "delta" if role == "input" else "sigma" if "sigma_output" in neuron else "sigma_delta"
        )
        if kind == "sigma" and bias is not None:
            raise UnsupportedError(
                f"{where}: a bias on a Sigma readout (Lava's Sigma has none; netx fails too)"
            )
        vth = 0
        if kind != "sigma":
            if "vThMant" not in neuron:
                raise SpikeforgeError(f"{where}: neuron has no 'vThMant'")
            vth = _scalar_int(neuron["vThMant"][()], where, "neuron vThMant")
            if not 0 <= vth <= SDN_VTH_MAX:
                raise UnsupportedError(
                    f"{where}: neuron vThMant = {vth} outside 0..{SDN_VTH_MAX} (scaled by "
                    f"2^{SDN_SPIKE_EXP + SDN_STATE_EXP} it must fit Lava's int32 state)"
                )
        bits = SDN_MESSAGE_BITS
        if "messageBits" in neuron:
            bits = _scalar_int(neuron["messageBits"][()], where, "neuron messageBits")
            if not 1 <= bits <= GRADED_BITS_MAX:
                raise UnsupportedError(
                    f"{where}: neuron messageBits = {bits} outside 1..{GRADED_BITS_MAX} "
                    "(an SDNN layer sends graded payloads of at most 24 bits)"
                )
        self.populations[name] = CorePopulation(
            name=name,
            size=size,
            du=0,
            dv=0,
            vth=vth,
            bias_mant=np.zeros(size, np.int64) if bias is None else bias,
            bias_exp=np.zeros(size, np.int64),
            v_init=np.zeros(size, np.int64),
            scale=np.ones(size),
            v_reset=np.zeros(size),
            spiking=True,
            latency=latency,
            shape=list(shape) if len(shape) > 1 else None,
            sdn=kind,
            spike_exp=0 if kind == "sigma" else SDN_SPIKE_EXP,
            state_exp=0 if kind == "sigma" else SDN_STATE_EXP,
            num_message_bits=bits,
            direct_input="input" if kind == "delta" else None,
        )
        self.offset += 1  # netx counts SDNN layers in the reset offset, too
        self.latency[name] = latency
        self.network_pops[name] = Population(
            name=name,
            kind=f"netx SDNN {kind}",
            shape=shape,
            du=np.ones(size),
            dv=np.zeros(size),
            v_bias=np.zeros(size),
            current_bias=np.zeros(size),
            bias_onset=0,
            v_th=np.full(size, float(vth)),  # it sends (payloads): a spiking population
            v_reset=np.zeros(size),
            reset="to_value",
        )

    def _finish(self, last: _Layer) -> CompiledNet:
        size = self.populations[last.name].size
        if size > MAX_OUTPUT_NEURONS:
            raise UnsupportedError(
                f"{last.name} (the output layer): {size} neurons; spikeforge reads at most "
                f"{MAX_OUTPUT_NEURONS} as a network output (record larger layers by name)"
            )
        readout = Readout(
            "output", last.shape, [Connection(last.name, "output", np.eye(size), 0)], np.zeros(size)
        )
        network = Network(
            dt=DEFAULT_DT,
            inputs=dict(self.inputs),
            populations=self.network_pops,
            connections=[],
            readouts={"output": readout},
            metadata={"source": "lava-dl netx (fixed-point plan)"},
        )
        reasons = []
        if self.has_bias:
            reasons.append("layer biases")
        if any(p.bias_driven for p in self.populations.values()):
            reasons.append("a bias-driven input layer")
        if any(p.reset_interval for p in self.populations.values()):
            reasons.append("periodic resets")
        plan = LoihiPlan(
            precision="fixed",
            inputs={name: int(np.prod(shape)) for name, shape in self.inputs.items()},
            populations=self.populations,
            synapses=self.synapses,
            latency=dict(self.latency),
            convolutions=self.convolutions,
            raw_timing_only=(
                f"{' and '.join(reasons)}: these take effect from hardware step 1, before "
                "any input has crossed the network, so this netx network has no source "
                "timing; use raw timing"
            )
            if reasons
            else None,
        )
        timing = Timing(latency=dict(self.latency), extra_delay=[], late=[])
        return CompiledNet(network, timing, None, plan, [], precision="fixed", weight_planes=1)


# ---------------------------------------------------------------------- helpers


def optimize_like_netx(weight: np.ndarray) -> tuple[np.ndarray, int, int]:
    """netx's own ``optimize_weight_bits`` (it prints warnings; they are swallowed)."""
    with contextlib.redirect_stdout(io.StringIO()):  # lava-dl prints on import, too
        from lava.lib.dl.netx.utils import optimize_weight_bits

        weights, bits, exponent, _ = optimize_weight_bits(weight)
    return np.asarray(weights, dtype=np.int64), int(bits), int(exponent)


def chw_columns(shape: tuple[int, ...]) -> np.ndarray:
    """For each neuron of a (W, H, C) population (C order), its column in a (C, H, W)
    flattened weight: netx connects ``out.transpose([2, 1, 0]).flatten()``."""
    width, height, channels = shape
    x, y, c = np.meshgrid(np.arange(width), np.arange(height), np.arange(channels), indexing="ij")
    return (c * height * width + y * width + x).reshape(-1)


def _sdnn(group: h5py.Group, where: str) -> bool:
    """Whether the layer's neuron is netx's SDNN (a sigma-delta process)."""
    return "neuron" in group and layer_type(group["neuron"], where) == "SDNN"


def _neuron(group: h5py.Group, where: str) -> tuple[int, int, int]:
    """(iDecay, vDecay, vThMant) of a CUBA/LOIHI neuron, or netx's default integrator."""
    if "neuron" not in group:
        return 0, DECAY_UNITY, NETX_NEVER_SPIKES
    neuron = group["neuron"]
    kind = layer_type(neuron, where)
    if kind not in ("CUBA", "LOIHI"):
        raise UnsupportedError(
            f"{where}: {kind} neurons; spikeforge lowers netx's CUBA/LOIHI and SDNN neurons only"
        )
    if "gradedSpike" in neuron and bool(np.any(neuron["gradedSpike"][()])):
        raise UnsupportedError(f"{where}: graded spikes; spikeforge's CUBA neurons send binary")
    if "messageBits" in neuron and int(np.asarray(neuron["messageBits"][()]).ravel()[0]):
        raise UnsupportedError(f"{where}: graded spikes (messageBits); CUBA layers send binary")
    values = []
    limits = (("iDecay", DECAY_UNITY), ("vDecay", DECAY_UNITY), ("vThMant", NETX_NEVER_SPIKES))
    for key, high in limits:
        if key not in neuron:
            raise SpikeforgeError(f"{where}: neuron has no '{key}'")
        value = _scalar_int(neuron[key][()], where, f"neuron {key}")
        if not 0 <= value <= high:
            raise UnsupportedError(f"{where}: neuron {key} = {value} outside 0..{high}")
        values.append(value)
    return values[0], values[1], values[2]


def _required(group: h5py.Group, key: str, where: str) -> np.ndarray:
    if key not in group:
        raise SpikeforgeError(f"{where} has no '{key}'")
    return np.asarray(group[key][()])


def _weight_range(weight: np.ndarray, where: str) -> None:
    if weight.size and (weight.min() < WEIGHT_MIN or weight.max() > WEIGHT_MAX):
        bad = int(weight.min() if weight.min() < WEIGHT_MIN else weight.max())
        raise UnsupportedError(
            f"{where}: weight {bad} outside Loihi's 8-bit range [{WEIGHT_MIN}, {WEIGHT_MAX}]"
        )


def _scalar_int(value: object, where: str, key: str) -> int:
    array = integers(np.asarray(value), where, key)
    if array.size != 1:
        raise UnsupportedError(f"{where}: {key} must be one number, got shape {array.shape}")
    return int(array.ravel()[0])


def _pair(group: h5py.Group, key: str, where: str) -> tuple[int, int]:
    """A geometry pair in the file's (H, W) order (a scalar means both)."""
    value = integers(_required(group, key, where), where, key).ravel()
    if value.size not in (1, 2):
        raise UnsupportedError(f"{where}: {key} must be 1 or 2 numbers, got {value.size}")
    value = np.broadcast_to(value, (2,))
    return int(value[0]), int(value[1])


def _shape(group: h5py.Group, where: str) -> tuple[int, ...]:
    """A layer's shape in netx's order: the file's (C, H, W) reversed to (W, H, C)."""
    shape = integers(_required(group, "shape", where), where, "shape").ravel()
    if shape.size not in (1, 3) or shape.min() < 1:
        raise UnsupportedError(f"{where}: shape {shape.tolist()}, expected (n,) or (C, H, W) >= 1")
    if int(np.prod(shape)) > MAX_LAYER_NEURONS:
        raise UnsupportedError(
            f"{where}: shape {shape.tolist()} has more than {MAX_LAYER_NEURONS} neurons"
        )
    return tuple(int(s) for s in shape[::-1])


def _size(group: h5py.Group, where: str) -> int:
    return int(np.prod(_shape(group, where)))


def describe(plan: LoihiPlan) -> str:
    """What ``spikeforge compile`` prints for a netx plan: one line per layer, by the
    names ``--record`` takes."""
    incoming: dict[str, list[str]] = {name: [] for name in plan.populations}
    for syn in plan.synapses:
        kind = "DelayDense" if syn.delays is not None else "Dense"
        recurrent = " (recurrent)" if syn.pre == syn.post else ""
        incoming[syn.post].append(
            f"{kind}{recurrent} {syn.weights.shape[1]}->{syn.weights.shape[0]} "
            f"w_exp {syn.weight_exp} bits {syn.num_weight_bits}"
        )
    for conv in plan.convolutions:
        kernel = "x".join(str(k) for k in conv.weight.shape[1:3])
        incoming[conv.post].append(
            f"Conv {kernel} stride {tuple(conv.stride)} pad {tuple(conv.padding)} "
            f"groups {conv.groups}"
        )
    lines = [
        "netx fixed-point plan (the file's integers, as lava-dl netx builds it); inputs: "
        + (", ".join(f"{k} {v}" for k, v in plan.inputs.items()) or "none (bias-driven)"),
        "",
        f"{'layer':<9} {'shape (W,H,C)':<16} {'neurons':>8} {'du':>5} {'dv':>5} {'vth':>7} "
        f"{'bias':>5} {'reset':>7}  synapses",
    ]
    for name, pop in plan.populations.items():
        shape = tuple(pop.shape) if pop.shape else (pop.size,)
        bias = "input" if pop.bias_driven else ("yes" if np.any(pop.bias_mant) else "-")
        reset = f"{pop.reset_offset}/{pop.reset_interval}" if pop.reset_interval else "-"
        if pop.sdn:
            incoming[name].append(f"[SDNN {pop.sdn}, {pop.num_message_bits}-bit graded]")
        lines.append(
            f"{name:<9} {shape!s:<16} {pop.size:>8} {int(pop.du):>5} {int(pop.dv):>5} "
            f"{int(pop.vth):>7} {bias:>5} {reset:>7}  {'; '.join(incoming[name]) or '-'}"
        )
    if plan.raw_timing_only:
        lines += ["", f"timing: {plan.raw_timing_only}"]
    return "\n".join(lines)
