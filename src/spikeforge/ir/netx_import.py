"""Import a lava-dl netx HDF5 network (``.net``) into the IR: the ``--precision float`` path.

Running a ``.net`` as netx runs it, with the file's own integers, is
:mod:`spikeforge.compile.netx_plan` (``--precision fixed``, the default for ``.net``);
this module reads the same file as a real-valued graph, for the float model.

The file is read the way ``lava.lib.dl.netx.hdf5.Network`` reads it (lava-dl 0.6.0), so
the imported network is the one netx would put on Loihi. A CUBA layer there is a
Lava ``LIF`` with ``du = iDecay - DU_OFFSET``, ``dv = vDecay``, ``vth = vThMant`` fed by
an integer weight matrix at exponent 0, and Lava's fixed-point LIF scales synaptic
input and threshold alike by ``2**ACT_SHIFT`` (``ACT_SHIFT == VTH_SHIFT``, names of
:mod:`spikeforge.loihi_format`). In the IR's per-step form (:mod:`spikeforge.ir.nodes`)
that is, in units of one weight step::

    u[t] = (1 - iDecay/DECAY_UNITY) * u[t-1] + W @ s_pre[t]
    v[t] = (1 - vDecay/DECAY_UNITY) * v[t-1] + u[t]
    spike when v[t] > vThMant, then v = 0

which is also slayer's CUBA neuron (``threshold = vThMant / 2**VTH_SHIFT``, decays over
``DECAY_UNITY``),
in real arithmetic: spikeforge then quantises it again by its own rules. Time is in
netx's steps: a layer's ``delay`` is extra steps on its synapses (per synapse, per
post neuron as slayer writes it, or per pre neuron, as netx broadcasts them), and
every layer's inherent one-step synaptic delay is the hardware delay spikeforge's
scheduler adds, so spikeforge's raw hardware timing is netx's.

Supported layers: ``input`` (shape only), ``dense``, ``dense_rec``, ``conv``,
``flatten``. Refused, naming the layer: what netx itself does not implement
(``pool``, ``average``, ``concat``, ...), non-CUBA neurons (sigma-delta,
resonate-and-fire), graded spikes, complex weights, input layers with a neuron
(netx drives those through their bias, not spikes), and ``bias``: netx applies a
layer's bias as a voltage bias from the first hardware step, before the layer's
first input arrives, which no source-time network reproduces. ``refDelay`` is
ignored, as netx and Lava's LIF ignore it.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from spikeforge.errors import SpikeforgeError, UnsupportedError
from spikeforge.hdf5_guard import checked_hdf5
from spikeforge.ir.netx_layers import checked_layers, layer_type
from spikeforge.ir.nir_import import infer_shapes
from spikeforge.ir.nodes import (
    AffineMap,
    Conv2dMap,
    Edge,
    FlattenMap,
    Graph,
    InputNode,
    NeuronNode,
    Node,
    OutputNode,
    Shape,
)
from spikeforge.loihi_format import DECAY_UNITY, MAX_SYNAPSE_DELAY, NETX_NEVER_SPIKES

NETX_SUFFIX = ".net"
#: netx describes discrete steps; dt only labels time in reports (1 ms, as slayer's examples).
DEFAULT_DT = 1e-3
#: netx's parameters for a dense layer without a ``neuron`` group (hdf5.py, create_dense).
_DEFAULT_NEURON = {
    "type": "CUBA", "iDecay": 0, "vDecay": DECAY_UNITY, "vThMant": NETX_NEVER_SPIKES,
}  # fmt: skip
#: ``hdf5.Network.create_dense`` clamps longer delays to this (with a warning).
_NOT_IN_NETX = ("pool", "convT", "unpool", "average", "concat", "dense_comp")


def load_netx(path: str | Path, dt: float | None = None) -> Graph:
    """Read a netx ``.net`` file; every failure is a SpikeforgeError naming the file and layer."""
    path = Path(path)
    if not path.is_file():
        raise SpikeforgeError(f"{path}: no such file")
    try:
        with checked_hdf5(path) as handle:
            if "layer" not in handle:
                raise SpikeforgeError("no 'layer' group: not a netx network description")
            return _import(checked_layers(handle), DEFAULT_DT if dt is None else dt)
    except SpikeforgeError as exc:
        raise type(exc)(f"{path}: {exc}") from None
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise SpikeforgeError(
            f"{path}: not a readable netx file ({type(exc).__name__}: {exc})"
        ) from None


def _import(layers: list[h5py.Group], dt: float) -> Graph:
    if not dt > 0:
        raise SpikeforgeError(f"dt must be positive, got {dt}")
    nodes: dict[str, Node] = {}
    edges: list[Edge] = []
    source: str | None = None
    shape: Shape | None = None
    flatten_next = False
    for i, group in enumerate(layers):
        kind = layer_type(group, i)
        where = f"layer {i} ({kind})"
        if kind == "input":
            if "neuron" in group:
                raise UnsupportedError(
                    f"{where} has a neuron; netx drives such input neurons through their bias, "
                    "which the float import cannot express (run the netx plan: --precision fixed "
                    "--input-bias)"
                )
            if source is not None:
                raise UnsupportedError(f"{where}: an input layer after other layers")
            shape = tuple(int(s) for s in np.atleast_1d(_required(group, "shape", where)))
            nodes["input"] = InputNode(shape)
            source = "input"
            continue
        if kind == "flatten":
            flatten_next = True
            continue
        if kind in _NOT_IN_NETX:
            raise UnsupportedError(f"{where}: netx does not implement this layer type either")
        if kind not in ("dense", "dense_rec", "conv"):
            raise UnsupportedError(
                f"{where}: unknown layer type (netx layers spikeforge reads: input, dense, "
                "dense_rec, conv, flatten)"
            )
        if "weight/real" in group or "weight/imag" in group:
            raise UnsupportedError(f"{where}: complex weights (resonate-and-fire networks)")
        if "bias" in group and np.any(group["bias"][()]):
            raise UnsupportedError(
                f"{where}: bias; netx applies it as a voltage bias from the first hardware "
                "step, before the layer's first input arrives, which spikeforge cannot "
                "reproduce exactly (export without bias, e.g. slayer blocks without norm)"
            )
        name = f"layer{i}"
        weight = np.asarray(_required(group, "weight", where), dtype=np.float64)
        if source is None:
            if kind == "conv":
                raise UnsupportedError(
                    f"{where}: a conv first layer needs an input layer stating the input shape"
                )
            shape = (weight.reshape(_size(group, where), -1).shape[1],)
            nodes["input"] = InputNode(shape)
            source = "input"
        if kind == "conv":
            if flatten_next:
                raise UnsupportedError(f"{where}: a conv layer after a flatten layer")
            if "delay" in group:
                raise UnsupportedError(
                    f"{where}: delays on a conv layer, which netx ignores (hdf5.py create_conv)"
                )
            neuron_shape = tuple(int(s) for s in np.atleast_1d(_required(group, "shape", where)))
            synapse = f"{name}.conv"
            nodes[synapse] = _conv(group, weight, where)
            edges.append(Edge(source, synapse))
            incoming = [(synapse, 0)]
        else:
            if len(shape) > 1:
                if not flatten_next and source != "input":
                    raise UnsupportedError(
                        f"{where}: a dense layer after a {len(shape)}-d layer needs a flatten layer"
                    )
                nodes[f"{name}.flatten"] = FlattenMap(0, -1)
                edges.append(Edge(source, f"{name}.flatten"))
                source = f"{name}.flatten"
            neuron_shape = (_size(group, where),)
            weight = weight.reshape(neuron_shape[0], -1)
            delays = _delays(group, weight, where)
            incoming = _dense(nodes, edges, source, f"{name}.weight", weight, delays)
        flatten_next = False
        neuron = _neuron(group, neuron_shape, where)
        nodes[name] = neuron
        edges += [Edge(pre, name, delay) for pre, delay in incoming]
        if kind == "dense_rec":
            if "delay" in group:
                raise UnsupportedError(f"{where}: delays on a recurrent layer")
            rec = np.asarray(_required(group, "weight_rec", where), dtype=np.float64)
            rec = rec.reshape(neuron.size, -1)
            nodes[f"{name}.recurrent"] = AffineMap(rec, np.zeros(neuron.size))
            # netx's recurrent Dense delivers a spike one step later, as norse's z[t-1].
            edges += [Edge(name, f"{name}.recurrent"), Edge(f"{name}.recurrent", name, 1)]
        source, shape = name, neuron_shape
    if source in (None, "input"):
        raise SpikeforgeError("the file has no neuron layers")
    nodes["output"] = OutputNode(shape)
    edges.append(Edge(source, "output"))
    graph = Graph(nodes=nodes, edges=edges, dt=dt, metadata={"source": "lava-dl netx"})
    infer_shapes(graph)
    return graph


def _required(group: h5py.Group, key: str, where: str) -> np.ndarray:
    if key not in group:
        raise SpikeforgeError(f"{where} has no '{key}'")
    return group[key][()]


def _size(group: h5py.Group, where: str) -> int:
    return int(np.prod(_required(group, "shape", where)))


def _delays(group: h5py.Group, weight: np.ndarray, where: str) -> np.ndarray:
    """Per-synapse delays ``[post, pre]``, broadcast as netx's create_dense does."""
    if "delay" not in group:
        return np.zeros(weight.shape, dtype=np.int64)
    delay = np.asarray(group["delay"][()])
    if delay.size and (delay.min() < 0 or np.any(delay != np.floor(delay))):
        raise UnsupportedError(f"{where}: delays must be non-negative whole steps")
    if delay.size and delay.max() > MAX_SYNAPSE_DELAY:
        raise UnsupportedError(
            f"{where}: a delay of {int(delay.max())} steps; "
            f"netx clamps delays to {MAX_SYNAPSE_DELAY}"
        )
    delay = delay.astype(np.int64)
    if delay.ndim == 0:
        return np.full(weight.shape, int(delay))
    if delay.ndim == 1 and delay.size == weight.shape[0]:
        return np.repeat(delay.reshape(-1, 1), weight.shape[1], axis=1)
    if delay.ndim == 1 and delay.size == weight.shape[1]:
        return np.repeat(delay.reshape(1, -1), weight.shape[0], axis=0)
    if delay.shape == weight.shape:
        return delay
    raise UnsupportedError(
        f"{where}: delay of shape {delay.shape} does not fit weight {weight.shape}"
    )


def _dense(
    nodes: dict[str, Node],
    edges: list[Edge],
    source: str,
    name: str,
    weight: np.ndarray,
    delays: np.ndarray,
) -> list[tuple[str, int]]:
    """One Affine map per distinct delay value; returns (map, delay) pairs feeding the neuron."""
    distinct = np.unique(delays[weight != 0]) if np.any(weight) else np.array([0])
    incoming = []
    for delay in distinct:
        part = f"{name}.d{delay}" if len(distinct) > 1 else name
        masked = np.where(delays == delay, weight, 0.0)
        nodes[part] = AffineMap(masked, np.zeros(weight.shape[0]))
        edges.append(Edge(source, part))
        incoming.append((part, int(delay)))
    return incoming


def _conv(group: h5py.Group, weight: np.ndarray, where: str) -> Conv2dMap:
    """slayer's conv weight ``[out, in/groups, kH, kW]``; geometry in (H, W) order."""

    def pair(key: str, default: int) -> tuple[int, int]:
        value = np.atleast_1d(group[key][()]) if key in group else np.array([default])
        value = np.broadcast_to(value.astype(np.int64), (2,))
        return int(value[0]), int(value[1])

    if weight.ndim == 5 and weight.shape[-1] == 1:
        weight = weight[..., 0]
    if weight.ndim != 4:
        raise UnsupportedError(f"{where}: conv weight of shape {weight.shape}, expected 4-d")
    groups = int(np.asarray(group["groups"][()]).ravel()[0]) if "groups" in group else 1
    return Conv2dMap(
        weight=weight,
        bias=np.zeros(weight.shape[0]),
        stride=pair("stride", 1),
        padding=pair("padding", 0),
        dilation=pair("dilation", 1),
        groups=groups,
    )


def _neuron(group: h5py.Group, shape: Shape, where: str) -> NeuronNode:
    params = dict(_DEFAULT_NEURON)
    if "neuron" in group:
        params = {k: group["neuron"][k][()] for k in group["neuron"]}
        kind = params.get("type", b"?")
        kind = kind[0] if isinstance(kind, np.ndarray) and kind.shape else kind
        params["type"] = kind.decode("ascii") if isinstance(kind, bytes) else str(kind)
    if params["type"] not in ("CUBA", "LOIHI"):
        raise UnsupportedError(
            f"{where}: {params['type']} neurons; spikeforge lowers CUBA LIF neurons only"
        )
    if bool(np.any(params.get("gradedSpike", False))) or int(params.get("messageBits", 0)):
        raise UnsupportedError(f"{where}: graded spikes; spikeforge's neurons send binary spikes")
    for key in ("iDecay", "vDecay", "vThMant"):
        if key not in params:
            raise SpikeforgeError(f"{where}: neuron has no '{key}'")

    def per_neuron(key: str) -> np.ndarray:
        value = np.asarray(params[key], dtype=np.float64)
        try:
            return np.broadcast_to(value.reshape(value.shape or ()), shape).copy()
        except ValueError:
            raise UnsupportedError(
                f"{where}: neuron {key} of shape {value.shape} does not fit the layer {shape}"
            ) from None

    vth = per_neuron("vThMant")
    spiking = bool(np.all(vth < NETX_NEVER_SPIKES))
    if not spiking and np.any(vth < NETX_NEVER_SPIKES):
        raise UnsupportedError(f"{where}: some neurons can spike and some cannot (vThMant)")
    return NeuronNode(
        kind="netx CUBA",
        shape=shape,
        du=per_neuron("iDecay") / DECAY_UNITY,
        dv=per_neuron("vDecay") / DECAY_UNITY,
        gain=np.ones(shape),
        v_bias=np.zeros(shape),
        v_th=vth if spiking else None,
        v_reset=np.zeros(shape),
    )
