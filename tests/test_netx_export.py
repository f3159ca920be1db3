"""``export-netx`` writes a netx plan back as netx's own file (issue #12's last bullet).

Networks are made by lava-dl's slayer and its ``export_hdf5`` (biases added as slayer's
norm writes them). Each is re-exported by ``spikeforge export-netx NET.net -o OUT.net``;
then lava-dl's own ``hdf5.Network`` on Lava ``fixed_pt`` (:mod:`netx_reference`) runs
both files and every layer's spikes and voltages must be equal on every step, and the
plan spikeforge reads from OUT.net must equal the one it read from NET.net field by field.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from netx_reference import (
    LEAKY,
    add_bias,
    conv_with_biases_then_dense,
    dense_with_biases_and_delays,
    export_blocks,
    import_slayer,
    run_netx,
    run_netx_sdnn,
)
from spikeforge.cli import main
from spikeforge.compile import NetxOptions, load_or_compile
from spikeforge.compile.compiled import save
from spikeforge.errors import UnsupportedError
from spikeforge.targets.netx import netx_plan
from test_netx import compiled_example

STEPS = 16


@pytest.fixture(scope="module")
def slayer():
    return import_slayer()


def _reexport(source: Path, out: Path, *options: object) -> str:
    printed, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(err):
        code = main(["export-netx", str(source), "-o", str(out), *map(str, options)])
    assert code == 0 and out.is_file(), err.getvalue()
    return printed.getvalue()


def _assert_same_plan(a: Path, b: Path, options: NetxOptions) -> None:
    """spikeforge's plan of ``b`` equals that of ``a``, every field of every part."""
    first = load_or_compile(a, netx=options).fixed_plan
    second = load_or_compile(b, netx=options).fixed_plan
    assert first.inputs == second.inputs and first.latency == second.latency
    assert first.raw_timing_only == second.raw_timing_only
    assert list(first.populations) == list(second.populations)
    pairs = [(first.populations[n], second.populations[n]) for n in first.populations]
    pairs += list(zip(first.synapses, second.synapses, strict=True))
    pairs += list(zip(first.convolutions, second.convolutions, strict=True))
    for x, y in pairs:
        for field in dataclasses.fields(x):
            mine, theirs = getattr(x, field.name), getattr(y, field.name)
            if isinstance(mine, np.ndarray) or isinstance(theirs, np.ndarray):
                np.testing.assert_array_equal(mine, theirs, err_msg=f"{x.__class__} {field.name}")
            else:
                assert mine == theirs, (x.__class__.__name__, field.name, mine, theirs)


def _assert_same_netx_run(a: Path, b: Path, steps: int, **kwargs: object) -> None:
    """lava-dl's netx runs ``b`` as it runs ``a``: every layer, spikes and v, every step."""
    spikes_a, volts_a = run_netx(a, steps, **kwargs)
    spikes_b, volts_b = run_netx(b, steps, **kwargs)
    assert sum(s.sum() for s in spikes_a[1:]) > 0, "nothing spikes: proves nothing"
    for i, (sa, sb, va, vb) in enumerate(zip(spikes_a, spikes_b, volts_a, volts_b, strict=True)):
        np.testing.assert_array_equal(sb, sa, err_msg=f"layer {i} spikes")
        np.testing.assert_array_equal(vb, va, err_msg=f"layer {i} v")


def _spikes(shape: tuple[int, ...], density: float, seed: int) -> np.ndarray:
    """netx's ``[*shape, steps]`` spike input."""
    return (np.random.default_rng(seed).random((*shape, STEPS)) < density).astype(np.float64)


def test_dense_with_biases_and_delays_round_trips(slayer, tmp_path):
    path = dense_with_biases_and_delays(slayer, tmp_path / "dense.net")
    out = tmp_path / "out.net"
    _reexport(path, out)
    _assert_same_plan(path, out, NetxOptions())
    _assert_same_netx_run(path, out, STEPS, spikes=_spikes((20,), 0.3, 1))


def test_conv_flatten_dense_round_trips(slayer, tmp_path):
    """Conv (stride (1, 2), H != W, per-channel bias) -> flatten -> dense with bias."""
    path = conv_with_biases_then_dense(slayer, tmp_path / "conv.net")
    out = tmp_path / "out.net"
    _reexport(path, out)
    _assert_same_plan(path, out, NetxOptions())
    _assert_same_netx_run(path, out, STEPS, spikes=_spikes((8, 7, 2), 0.3, 2))


def test_bias_driven_input_with_resets_round_trips_through_sfnet(slayer, tmp_path):
    """An image-as-bias input layer run with LIFReset; re-exported from a stored .sfnet."""
    torch.manual_seed(2)
    blocks = [
        slayer.block.cuba.Input(LEAKY),
        slayer.block.cuba.Conv(LEAKY, 2, 4, 3, stride=2, weight_scale=4),
        slayer.block.cuba.Flatten(),
        slayer.block.cuba.Dense(LEAKY, 4 * 3 * 4, 6, weight_scale=4, delay=True),
    ]
    blocks[3].delay.delay.data = torch.randint(0, 3, blocks[3].delay.delay.shape).float()
    path = export_blocks(tmp_path / "input.net", blocks, torch.zeros(1, 2, 7, 9, 4))
    options = NetxOptions(reset_interval=8, reset_offset=2)
    stored = tmp_path / "plan.sfnet"
    save(load_or_compile(path, netx=options), stored)
    out = tmp_path / "out.net"
    printed = _reexport(stored, out)
    assert "reset_interval=8" in printed
    _assert_same_plan(path, out, options)
    image = np.random.default_rng(3).integers(0, 80, (9, 7, 2))
    _assert_same_netx_run(path, out, STEPS, bias=image, reset_interval=8, reset_offset=2)


def test_sdnn_chain_round_trips(slayer, tmp_path):
    """Delta input -> SigmaDelta dense with bias -> Sigma readout, messageBits kept."""
    torch.manual_seed(4)
    sdnn = {
        "threshold": 0.1, "tau_grad": 0.1, "scale_grad": 0.8, "requires_grad": False,
        "shared_param": True, "activation": torch.nn.functional.relu,
    }  # fmt: skip
    blocks = [
        slayer.block.sigma_delta.Input(sdnn),
        slayer.block.sigma_delta.Dense(sdnn, 10, 8, weight_scale=2),
        slayer.block.sigma_delta.Output(sdnn, 8, 3, weight_scale=2),
    ]
    path = export_blocks(tmp_path / "sdnn.net", blocks, torch.zeros(1, 10, 4))
    add_bias(path, 1, np.arange(8) - 3)
    out = tmp_path / "out.net"
    _reexport(path, out)
    _assert_same_plan(path, out, NetxOptions())
    rng = np.random.default_rng(5)
    frames = np.cumsum(rng.integers(-30, 40, (10, STEPS)), axis=1)  # drifting graded frames
    first, second = run_netx_sdnn(path, STEPS, frames), run_netx_sdnn(out, STEPS, frames)
    assert sum(p.sum() for p in first[0][1:]) != 0, "nothing sent: proves nothing"
    for i, (a, b) in enumerate(zip(first[0] + first[1], second[0] + second[1], strict=True)):
        np.testing.assert_array_equal(b, a, err_msg=f"record {i}")


def test_spikeforge_biases_are_refused_saying_why_they_are_not_netx_biases():
    """A NIR bias is a current into u from source step 0; netx's bias is added to v from
    hardware step 1. lif_mlp's first layer: latency 1, du 0.25."""
    compiled, _ = compiled_example("lif_mlp")
    with pytest.raises(UnsupportedError) as info:
        netx_plan(compiled)
    message = str(info.value)
    assert "\n" not in message and message.startswith("population '1' ")
    for part in (
        "into u from the population's source step 0 (hardware step 2)",
        "added to v on every hardware step from step 1",
        "its first 1 step(s) would differ",
        "keeps 0.75 of itself each step",
    ):
        assert part in message, message


def test_sdnn_message_width_netx_cannot_load_is_refused(slayer, tmp_path):
    """netx's NetDict cannot read ``messageBits``: a plan with other widths is refused."""
    torch.manual_seed(4)
    sdnn = {"threshold": 0.1, "requires_grad": False, "activation": torch.nn.functional.relu}
    blocks = [slayer.block.sigma_delta.Input(sdnn), slayer.block.sigma_delta.Dense(sdnn, 6, 4)]
    path = export_blocks(tmp_path / "bits.net", blocks, torch.zeros(1, 6, 4))
    with h5py.File(path, "a") as handle:
        handle["layer/1/neuron"].create_dataset("messageBits", data=8)
    out = tmp_path / "out.net"
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(["export-netx", str(path), "-o", str(out)])
    assert code == 2 and err.getvalue().count("\n") == 1, err.getvalue()
    assert "layer 1 (layer1): 8-bit SDNN messages; netx reads only its default 16" in err.getvalue()
    assert not out.exists()
