"""A netx ``.net`` runs on spikeforge exactly as lava-dl's netx runs it (issue #12).

Networks are built with lava-dl's own slayer blocks and written by their own
``export_hdf5`` (a layer's ``bias`` is added as slayer's norm writes it: one value per
neuron or channel). The ground truth is ``lava.lib.dl.netx.hdf5.Network`` on Lava
``fixed_pt`` (:mod:`netx_reference`). spikeforge's Lava runtime and its emulator, at
fixed precision in raw hardware steps, must equal it bit for bit: spikes and
voltages of every layer on every step, at step offset 0. Each network is checked to
spike in every spiking layer, so that equality proves something.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from netx_reference import (  # tests/ is on sys.path
    LEAKY,
    add_bias,
    conv_with_biases_then_dense,
    dense_with_biases_and_delays,
    export_blocks,
    import_slayer,
    layer_digests,
    run_netx,
)
from spikeforge.cli import main
from spikeforge.compile import NetxOptions, load_or_compile
from spikeforge.compile.compiled import save
from spikeforge.errors import SpikeforgeError
from spikeforge.runtimes import run

STEPS = 24


@pytest.fixture(scope="module")
def slayer():
    return import_slayer()


def _compare(path: Path, options: NetxOptions, spikes=None, bias=None, steps=STEPS) -> None:
    """Lava runtime and emulator against netx: every layer, spikes and v, every step."""
    compiled = load_or_compile(path, netx=options)
    names = list(compiled.fixed_plan.populations)
    extra = max(compiled.fixed_plan.latency.values())
    total = steps if bias is not None else steps + extra
    netx_kwargs = {}
    if options.reset_interval is not None:
        netx_kwargs = {
            "reset_interval": options.reset_interval,
            "reset_offset": options.reset_offset,
        }
    padded = None
    if spikes is not None:
        padded = np.concatenate([spikes, np.zeros((extra, *spikes.shape[1:]))])
        padded = np.moveaxis(padded, 0, -1)
    theirs_s, theirs_v = run_netx(path, total, spikes=padded, bias=bias, **netx_kwargs)
    for backend in ("emulator", "lava"):
        ours = run(
            compiled, spikes, backend=backend, precision="fixed", record=names, raw_timing=True,
            input_bias=bias, steps=steps if bias is not None else None,
        )  # fmt: skip
        for i, name in enumerate(names):
            pop = compiled.fixed_plan.populations[name]
            if pop.spiking:
                assert theirs_s[i].sum() > 0, f"{name} never spikes: proves nothing"
                np.testing.assert_array_equal(
                    ours.spikes[name].reshape(total, -1), theirs_s[i], err_msg=f"{backend} {name}"
                )
            np.testing.assert_array_equal(
                ours.v[name].reshape(total, -1), theirs_v[i], err_msg=f"{backend} {name} v"
            )


def _spikes(shape: tuple[int, ...], density: float, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random((STEPS, *shape)) < density).astype(np.float64)


def test_dense_cuba_with_biases_and_delays_is_bit_exact(slayer, tmp_path):
    path = dense_with_biases_and_delays(slayer, tmp_path / "dense.net")
    _compare(path, NetxOptions(), spikes=_spikes((20,), 0.3, 1))


def test_conv_with_biases_then_dense_is_bit_exact(slayer, tmp_path):
    """Conv (stride (1, 2), H != W, per-channel bias) -> flatten -> dense with bias."""
    path = conv_with_biases_then_dense(slayer, tmp_path / "conv.net")
    _compare(path, NetxOptions(), spikes=_spikes((8, 7, 2), 0.3, 2))  # netx's (W, H, C)


def test_bias_driven_input_layer_with_resets_is_bit_exact(slayer, tmp_path):
    """An input neuron layer driven by an image as its bias, as PilotNet; netx's LIFReset."""
    torch.manual_seed(2)
    blocks = [
        slayer.block.cuba.Input(LEAKY),
        slayer.block.cuba.Conv(LEAKY, 2, 4, 3, stride=2, weight_scale=4),
        slayer.block.cuba.Flatten(),
        slayer.block.cuba.Dense(LEAKY, 4 * 3 * 4, 6, weight_scale=4),
    ]
    path = export_blocks(tmp_path / "input.net", blocks, torch.zeros(1, 2, 7, 9, 4))
    image = np.random.default_rng(3).integers(0, 80, (9, 7, 2))
    _compare(path, NetxOptions(reset_interval=8, reset_offset=2), bias=image)


def test_recurrent_dense_is_bit_exact(slayer, tmp_path):
    torch.manual_seed(3)
    blocks = [slayer.block.cuba.Recurrent(LEAKY, 12, 10, weight_scale=3)]
    path = export_blocks(tmp_path / "rec.net", blocks, torch.zeros(1, 12, 4))
    _compare(path, NetxOptions(), spikes=_spikes((12,), 0.4, 4))


# ----------------------------------------------------------------- refusals


def _dense_file(path: Path, **overrides) -> Path:
    layer = {
        "type": np.array([b"dense"], "S10"),
        "shape": np.array([3]),
        "weight": np.ones((3, 4)),
        "neuron/type": b"CUBA",
        "neuron/iDecay": 1024,
        "neuron/vDecay": 128,
        "neuron/vThMant": 80,
        **overrides,
    }
    with h5py.File(path, "w") as handle:
        for key, value in layer.items():
            handle.create_dataset(f"layer/0/{key}", data=value)
    return path


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"neuron/iDecay": 5000}, "layer 0 (dense): neuron iDecay = 5000 outside [0, 4096]"),
        ({"neuron/vThMant": 1 << 18}, "neuron vThMant = 262144 outside [0, 131072]"),
        ({"weight": np.full((3, 4), 300.0)}, "weight = 300 outside [-256, 255]"),
        ({"weight": np.full((3, 4), 0.5)}, "weight holds non-integers"),
        ({"bias": np.full(3, 5000.0)}, "bias = 5000 outside [-4096, 4095]"),
        ({"delay": np.full(3, 70)}, "delay = 70 outside [0, 62]"),
        (
            {"neuron/type": b"SDNN", "neuron/messageBits": 40},
            "neuron messageBits = 40 outside 1..24",
        ),
    ],
    ids=["idecay", "vth", "weight-range", "weight-int", "bias-range", "delay", "sdnn"],
)
def test_bad_netx_parameters_are_refused_naming_layer_and_limit(tmp_path, override, message):
    path = _dense_file(tmp_path / "bad.net", **override)
    with pytest.raises(SpikeforgeError) as info:
        load_or_compile(path)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)


def _conv_file(path: Path, **overrides) -> Path:
    layers = {
        "layer/0/type": np.array([b"input"], "S10"),
        "layer/0/shape": np.array([2, 5, 5]),
        "layer/1/type": np.array([b"conv"], "S10"),
        "layer/1/shape": np.array([4, 3, 3]),
        "layer/1/weight": np.ones((4, 2, 3, 3)),
        "layer/1/stride": np.array([1, 1]),
        "layer/1/padding": np.array([0, 0]),
        "layer/1/dilation": np.array([1, 1]),
        "layer/1/groups": 1,
        "layer/1/neuron/type": b"CUBA",
        "layer/1/neuron/iDecay": 0,
        "layer/1/neuron/vDecay": 0,
        "layer/1/neuron/vThMant": 10,
        **overrides,
    }
    with h5py.File(path, "w") as handle:
        for key, value in layers.items():
            handle.create_dataset(key, data=value)
    return path


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"layer/1/stride": np.array([0, 1])}, "stride = 0 outside [1, "),
        ({"layer/1/padding": np.array([-1, 0])}, "padding = -1 outside [0, "),
        ({"layer/1/groups": 3}, "groups = 3 with 2 input channels"),
        ({"layer/1/weight": np.ones((4, 2, 7, 7))}, "is larger than the padded input 5x5"),
        ({"layer/1/shape": np.array([4, 2, 3])}, "but the convolution gives (4, 3, 3)"),
    ],
    ids=["stride", "padding", "groups", "kernel", "shape"],
)
def test_bad_conv_geometry_is_refused(tmp_path, override, message):
    path = _conv_file(tmp_path / "conv.net", **override)
    with pytest.raises(SpikeforgeError) as info:
        load_or_compile(path)
    assert "layer 1 (conv)" in str(info.value) and message in str(info.value)


def _cli(*argv: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def test_cli_misuse_of_a_bias_driven_input_is_one_clear_line(slayer, tmp_path):
    blocks = [slayer.block.cuba.Input(LEAKY), slayer.block.cuba.Dense(LEAKY, 6, 3)]
    path = export_blocks(tmp_path / "in.net", blocks, torch.zeros(1, 6, 4))
    np.save(tmp_path / "spikes.npy", np.zeros((5, 6)))
    np.save(tmp_path / "bias.npy", np.zeros(6))
    np.save(tmp_path / "wrong.npy", np.zeros(7))
    out = tmp_path / "o.npz"
    cases = [
        (["--input", tmp_path / "spikes.npy"], "layer0 is a netx input neuron layer"),
        (["--input-bias", tmp_path / "wrong.npy", "--steps", 4], "expected shape [6]"),
        (["--input-bias", tmp_path / "bias.npy"], "needs steps >= 1"),
        (["--input-bias", tmp_path / "bias.npy", "--steps", 4], "use raw timing"),
    ]
    for extra, message in cases:
        code, _, err = _cli("run", path, "--backend", "emulator", "-o", out, *extra)
        assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not out.exists()
    code, _, err = _cli(
        "run", path, "--backend", "emulator", "--raw-timing", "--record", "layer0",
        "--input-bias", tmp_path / "bias.npy", "--steps", 4, "-o", out,
    )  # fmt: skip
    assert code == 0 and "error" not in err, err  # stderr holds the progress bar
    assert np.load(out)["layer0.v"].shape == (4, 6)


def test_bias_for_a_spike_driven_network_is_refused(slayer, tmp_path):
    blocks = [slayer.block.cuba.Dense(LEAKY, 6, 3)]
    path = export_blocks(tmp_path / "d.net", blocks, torch.zeros(1, 6, 4))
    compiled = load_or_compile(path)
    with pytest.raises(SpikeforgeError, match="this network's input is spikes"):
        run(compiled, None, backend="emulator", input_bias=np.zeros(6), steps=3, raw_timing=True)


def test_cli_compile_prints_the_netx_plan_by_layer_name(slayer, tmp_path):
    blocks = [slayer.block.cuba.Input(LEAKY), slayer.block.cuba.Dense(LEAKY, 6, 3)]
    path = export_blocks(tmp_path / "in.net", blocks, torch.zeros(1, 6, 4))
    code, printed, err = _cli("compile", path, "--reset-interval", 4)
    assert (code, err) == (0, ""), err
    rows = [line.split()[0] for line in printed.splitlines() if line.startswith("layer")]
    assert rows == ["layer", "layer0", "layer1"]  # header, then the names --record takes


def _run_all_layers(compiled, bias: np.ndarray, steps: int):
    names = list(compiled.fixed_plan.populations)
    return names, run(
        compiled, None, backend="emulator", precision="fixed", record=names, raw_timing=True,
        input_bias=bias, steps=steps,
    )  # fmt: skip


def _assert_same_run(path: Path, stored: Path, options: NetxOptions, bias, steps: int) -> None:
    """The stored plan runs as the ``.net`` itself: every layer, spikes and v, every step."""
    names, direct = _run_all_layers(load_or_compile(path, netx=options), bias, steps)
    loaded = load_or_compile(stored)
    assert loaded.float_plan is None and list(loaded.fixed_plan.populations) == names
    _, again = _run_all_layers(loaded, bias, steps)
    assert sum(direct.spikes[n].sum() for n in names[1:]) > 0, "nothing spikes: proves nothing"
    for name in names:
        np.testing.assert_array_equal(again.spikes[name], direct.spikes[name], err_msg=name)
        np.testing.assert_array_equal(again.v[name], direct.v[name], err_msg=name)


def test_cli_compile_writes_a_netx_plan_that_runs_as_the_net(slayer, tmp_path):
    """conv + per-channel bias + bias-driven input + LIFReset, through ``compile -o``."""
    torch.manual_seed(2)
    blocks = [
        slayer.block.cuba.Input(LEAKY),
        slayer.block.cuba.Conv(LEAKY, 2, 4, 3, stride=2, weight_scale=4),
        slayer.block.cuba.Flatten(),
        slayer.block.cuba.Dense(LEAKY, 4 * 3 * 4, 6, weight_scale=4, delay=True),
    ]
    blocks[3].delay.delay.data = torch.randint(0, 3, blocks[3].delay.delay.shape).float()
    path = export_blocks(tmp_path / "input.net", blocks, torch.zeros(1, 2, 7, 9, 4))
    add_bias(path, 1, np.array([10, -5, 30, 2]))
    stored = tmp_path / "x.sfnet"
    code, printed, err = _cli(
        "compile", path, "--reset-interval", 8, "--reset-offset", 2, "-o", stored
    )
    assert code == 0 and "layer3" in printed and stored.is_file(), err
    image = np.random.default_rng(3).integers(0, 80, (9, 7, 2))
    _assert_same_run(path, stored, NetxOptions(8, 2), image, STEPS)


PILOTNET = Path(__file__).resolve().parents[2] / "shared" / "anchors" / "pilotnet_lif"


NEEDS_PILOTNET = pytest.mark.skipif(
    not (PILOTNET / "network.net").is_file(), reason="PilotNet not in ../shared"
)
#: netx's own run of PilotNet, recorded by ``scripts/bench_pilotnet.py --write-digest``.
PILOTNET_DIGEST = Path(__file__).parent / "data" / "pilotnet_netx_digest.json"


@NEEDS_PILOTNET
def test_pilotnet_sfnet_round_trip_runs_bit_identically(tmp_path):
    """PilotNet's netx plan stored as ``.sfnet`` and loaded runs as the ``.net`` (emulator)."""
    options = NetxOptions(reset_interval=16, reset_offset=3)
    stored = tmp_path / "p.sfnet"
    save(load_or_compile(PILOTNET / "network.net", netx=options), stored)
    _assert_same_run(PILOTNET / "network.net", stored, options, np.load(PILOTNET / "image.npy"), 16)


@NEEDS_PILOTNET
def test_pilotnet_emulator_equals_netx_every_layer():
    """Every layer's spikes and voltages equal netx's: against netx's recorded digests,
    or against a live netx run with ``RUN_PILOTNET=1`` (netx alone takes ~90 s on Lava
    for 16 steps on a 2-core machine; ``scripts/bench_pilotnet.py`` also checks the
    Lava runtime)."""
    image = np.load(PILOTNET / "image.npy")
    recorded = json.loads(PILOTNET_DIGEST.read_text(encoding="utf-8"))
    steps = recorded["steps"]
    options = NetxOptions(recorded["reset_interval"], recorded["reset_offset"])
    compiled = load_or_compile(PILOTNET / "network.net", netx=options)
    names = list(compiled.fixed_plan.populations)
    ours = run(
        compiled, None, backend="emulator", precision="fixed", record=names, raw_timing=True,
        input_bias=image, steps=steps,
    )  # fmt: skip
    our_spikes = [ours.spikes[name].reshape(steps, -1) for name in names]
    our_volts = [ours.v[name].reshape(steps, -1) for name in names]
    if not os.environ.get("RUN_PILOTNET"):
        got = layer_digests(our_spikes, our_volts)
        for name, mine, theirs in zip(names, got, recorded["layers"], strict=True):
            assert mine == theirs, f"{name} differs from netx's recorded run"
        return
    spikes, volts = run_netx(
        PILOTNET / "network.net", steps, bias=image, reset_interval=options.reset_interval,
        reset_offset=options.reset_offset,
    )  # fmt: skip
    for i, name in enumerate(names):
        np.testing.assert_array_equal(our_spikes[i], spikes[i], err_msg=name)
        np.testing.assert_array_equal(our_volts[i], volts[i], err_msg=name)
