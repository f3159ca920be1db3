"""lava-dl's own netx run, the ground truth every netx exactness claim is tested against.

``hdf5.Network`` (lava-dl 0.6.0) is built from the file and run on Lava's bit-accurate
CPU simulator (``Loihi2SimCfg(select_tag="fixed_pt")``); nothing is mocked. Shared by
the netx tests and ``scripts/bench_pilotnet.py``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
from pathlib import Path

import numpy as np
import torch
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.io.sink import RingBuffer as SinkBuffer
from lava.proc.io.source import RingBuffer as SourceBuffer
from lava.proc.monitor.process import Monitor


def run_netx(
    path: Path,
    steps: int,
    spikes: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    **network_options: object,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Every layer's spikes and voltages ``[steps, n]`` (netx's own neuron order).

    ``spikes`` (``[*netx input shape, steps]``) feed ``net.inp``; ``bias`` sets the
    input layer's ``bias_mant`` as the PilotNet tutorials do. ``network_options`` go to
    ``hdf5.Network`` (``reset_interval``, ``reset_offset``).
    """
    with contextlib.redirect_stdout(io.StringIO()):
        from lava.lib.dl.netx.hdf5 import Network

        net = Network(net_config=str(path), **network_options)
    if spikes is not None:
        source = SourceBuffer(data=spikes.astype(np.int32))
        source.s_out.connect(net.inp)
    if bias is not None:
        net.in_layer.neuron.bias_mant.init = np.asarray(bias).astype(np.int32)
    sinks, monitors = [], []
    for layer in net.layers:
        sink = SinkBuffer(shape=layer.out.shape, buffer=steps)
        layer.out.connect(sink.a_in)
        monitor = Monitor()
        monitor.probe(layer.neuron.v, steps)
        sinks.append(sink)
        monitors.append((monitor, layer.neuron.name))
    logging.getLogger("lava").setLevel(logging.WARNING)
    try:
        net.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        out_spikes = [np.moveaxis(s.data.get(), -1, 0).reshape(steps, -1) for s in sinks]
        volts = [np.asarray(m.get_data()[name]["v"]).reshape(steps, -1) for m, name in monitors]
    finally:
        net.stop()
    return out_spikes, volts


#: The state each sigma-delta process reports as ``v`` (as spikeforge reports it).
_SDN_STATE = {"Delta": "act", "SigmaDelta": "sigma", "Sigma": "sigma"}


def run_netx_sdnn(path: Path, steps: int, frames: np.ndarray) -> tuple[list, list]:
    """Every layer's payloads and states ``[steps, n]`` of an SDNN network whose first
    layer is a Delta input layer, fed integer ``frames`` (``[*netx shape, steps]``).

    netx's Input block never connects its input port to its neuron (it expects a bias
    drive), so a Delta input layer cannot be fed through ``net.inp``; the PilotNet SDNN
    tutorial skips it (``skip_layers=1``) and encodes on the host. Here the encoder is
    the very ``Delta`` netx builds for that layer (``Network.get_neuron_params`` on the
    file's neuron, ``input=True``), fed the frames and feeding ``net.inp``: netx's own
    processes and parameters, connected as the layer means.
    """
    with contextlib.redirect_stdout(io.StringIO()):
        from lava.lib.dl.netx.hdf5 import Network
        from lava.lib.dl.netx.utils import NetDict

        net = Network(net_config=str(path), skip_layers=1)
        params = dict(
            Network.get_neuron_params(NetDict(str(path))["layer"][0]["neuron"], input=True)
        )
    process = params.pop("neuron_proc")
    params.pop("num_message_bits")
    delta = process(shape=tuple(net.inp.shape), **params)
    source = SourceBuffer(data=frames.astype(np.int32))
    source.s_out.connect(delta.a_in)
    delta.s_out.connect(net.inp)
    neurons = [delta] + [layer.neuron for layer in net.layers]
    outs = [delta.s_out] + [layer.out for layer in net.layers]
    sinks, monitors = [], []
    for neuron, out in zip(neurons, outs, strict=True):
        sink = SinkBuffer(shape=out.shape, buffer=steps)
        out.connect(sink.a_in)
        monitor = Monitor()
        var = _SDN_STATE.get(type(neuron).__name__, "v")
        monitor.probe(getattr(neuron, var), steps)
        sinks.append(sink)
        monitors.append((monitor, neuron.name, var))
    logging.getLogger("lava").setLevel(logging.WARNING)
    try:
        delta.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        payloads = [np.moveaxis(s.data.get(), -1, 0).reshape(steps, -1) for s in sinks]
        states = [
            np.asarray(m.get_data()[name][var]).reshape(steps, -1) for m, name, var in monitors
        ]
    finally:
        delta.stop()
    return payloads, states


def import_slayer():
    """lava-dl's slayer, imported without its banner on stdout."""
    with contextlib.redirect_stdout(io.StringIO()):
        import lava.lib.dl.slayer as slayer
    return slayer


def export_blocks(path: Path, blocks: list, sample, input_shape=None) -> Path:
    """A ``.net`` written by slayer's own ``export_hdf5`` of ``blocks`` (run once on
    ``sample`` first, as slayer needs), behind an ``input`` layer of ``input_shape``."""
    import h5py
    import torch

    with torch.no_grad():
        for block in blocks:
            sample = block(sample)
    with h5py.File(path, "w") as handle:
        layers = handle.create_group("layer")
        offset = 0
        if input_shape is not None:
            first = layers.create_group("0")
            first.create_dataset("type", (1,), "S10", [b"input"])
            first.create_dataset("shape", data=np.array(input_shape))
            offset = 1
        for i, block in enumerate(blocks):
            block.export_hdf5(layers.create_group(str(i + offset)))
    return path


def add_bias(path: Path, layer: int, bias: np.ndarray) -> None:
    """A layer ``bias`` as slayer's norm writes it."""
    import h5py

    with h5py.File(path, "a") as handle:
        handle[f"layer/{layer}"].create_dataset("bias", data=bias.astype(np.float32))


def layer_digests(spikes: list[np.ndarray], volts: list[np.ndarray]) -> list[dict[str, str]]:
    """SHA-256 of every layer's spikes and voltages, as int64 ``[steps, n]`` arrays.

    Lets a test compare a run with a netx run recorded earlier (by
    ``scripts/bench_pilotnet.py --write-digest``) without netx's 90 s on every CI run:
    any differing entry changes the digest. The arrays must be whole numbers (netx's
    fixed-point outputs are); anything else is refused rather than rounded.
    """

    def digest(array: np.ndarray) -> str:
        whole = np.asarray(array, dtype=np.int64)
        if not np.array_equal(whole, array):
            raise ValueError("a fixed-point run's outputs must be whole numbers")
        shape = ",".join(map(str, whole.shape)).encode()
        return hashlib.sha256(shape + b":" + np.ascontiguousarray(whole).tobytes()).hexdigest()

    return [{"spikes": digest(s), "v": digest(v)} for s, v in zip(spikes, volts, strict=True)]


#: The CUBA neuron of the slayer-built test networks (integer-friendly decays).
LEAKY = {"threshold": 1.0, "current_decay": 0.25, "voltage_decay": 0.05, "requires_grad": False}


def dense_with_biases_and_delays(slayer, path: Path) -> Path:
    """20 -> 16 (per-synapse delays 0..3) -> 4 dense CUBA, both layers with biases."""
    torch.manual_seed(0)
    blocks = [
        slayer.block.cuba.Dense(LEAKY, 20, 16, weight_scale=3, delay=True),
        slayer.block.cuba.Dense(LEAKY, 16, 4, weight_scale=3),
    ]
    blocks[0].delay.delay.data = torch.randint(0, 4, blocks[0].delay.delay.shape).float()
    export_blocks(path, blocks, torch.zeros(1, 20, 4))
    rng = np.random.default_rng(0)
    add_bias(path, 0, rng.integers(-20, 40, 16))
    add_bias(path, 1, rng.integers(-20, 40, 4))
    return path


def conv_with_biases_then_dense(slayer, path: Path) -> Path:
    """Conv (stride (1, 2), H != W, per-channel bias) -> flatten -> dense with bias;
    the input is netx's (W, H, C) = (8, 7, 2)."""
    torch.manual_seed(1)
    blocks = [
        slayer.block.cuba.Conv(LEAKY, 2, 3, 3, stride=(1, 2), padding=1, weight_scale=3),
        slayer.block.cuba.Flatten(),
        slayer.block.cuba.Dense(LEAKY, 3 * 7 * 4, 5, weight_scale=3),
    ]
    export_blocks(path, blocks, torch.zeros(1, 2, 7, 8, 4), (2, 7, 8))
    add_bias(path, 1, np.array([10, -5, 30]))
    add_bias(path, 3, np.arange(5) * 8)
    return path
