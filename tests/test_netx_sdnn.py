"""netx SDNN networks (sigma-delta neurons, graded spikes) run on spikeforge exactly as
Lava runs netx's processes (issue #12).

Networks are built with lava-dl's slayer sigma-delta blocks and written by their own
``export_hdf5``. The ground truth is :func:`netx_reference.run_netx_sdnn`: netx's
``hdf5.Network`` with the Delta netx builds for the input layer, on Lava ``fixed_pt``.
spikeforge's Lava runtime and its emulator must equal it bit for bit: every layer's
graded payloads and state (a Delta's ``act``, a SigmaDelta's or Sigma's ``sigma``) on
every step. Each network is checked to send payloads in every layer.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from netx_reference import run_netx_sdnn  # tests/ is on sys.path
from spikeforge.cli import main
from spikeforge.compile import load_or_compile
from spikeforge.errors import SpikeforgeError
from spikeforge.runtimes import RunOptions, run
from spikeforge.runtimes.emulator import run_emulator
from spikeforge.runtimes.graded import graded_messages

STEPS = 12


@pytest.fixture(scope="module")
def slayer():
    with contextlib.redirect_stdout(io.StringIO()):
        import lava.lib.dl.slayer as slayer
    return slayer


def _params() -> dict:
    return {
        "threshold": 0.1, "tau_grad": 0.1, "scale_grad": 0.8, "requires_grad": False,
        "shared_param": True, "activation": torch.nn.functional.relu,
    }  # fmt: skip


def _export(path: Path, blocks: list, sample: torch.Tensor) -> Path:
    with torch.no_grad():
        for block in blocks:
            sample = block(sample)
    with h5py.File(path, "w") as handle:
        layers = handle.create_group("layer")
        for i, block in enumerate(blocks):
            block.export_hdf5(layers.create_group(str(i)))
    return path


def _chain(slayer, path: Path, bias: bool = False) -> Path:
    """Delta input (8) -> SigmaDelta dense (10) -> SigmaDelta dense (6) -> Sigma readout (3)."""
    torch.manual_seed(0)
    sd = slayer.block.sigma_delta
    blocks = [
        sd.Input(_params()),
        sd.Dense(_params(), 8, 10, weight_scale=2),
        sd.Dense(_params(), 10, 6, weight_scale=2),
        sd.Output(_params(), 6, 3, weight_scale=2),
    ]
    _export(path, blocks, torch.zeros(1, 8, 4))
    if bias:
        with h5py.File(path, "a") as handle:
            handle["layer/1"].create_dataset("bias", data=np.arange(-3, 7, dtype=np.float32) * 2)
    return path


def _frames(seed: int, shape=(8,)) -> np.ndarray:
    """Slowly drifting integer frames ``[time, n]``: a sigma-delta network's kind of input."""
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.integers(-30, 40, (STEPS, *shape)), axis=0).astype(np.float64)


def _compare(path: Path, frames: np.ndarray) -> None:
    compiled = load_or_compile(path)
    names = list(compiled.fixed_plan.populations)
    total = STEPS + max(compiled.fixed_plan.latency.values())
    # spikeforge runs the network's latency further, its input 0 there (a last big delta)
    padded = np.concatenate([frames, np.zeros((total - STEPS, *frames.shape[1:]))])
    theirs_p, theirs_s = run_netx_sdnn(path, total, np.moveaxis(padded, 0, -1))
    for backend in ("emulator", "lava"):
        ours = run(
            compiled, frames, backend=backend, precision="fixed", record=names, raw_timing=True
        )
        for i, name in enumerate(names):
            assert np.count_nonzero(theirs_p[i]) > 0, f"{name} never sends: proves nothing"
            np.testing.assert_array_equal(
                ours.spikes[name].reshape(total, -1), theirs_p[i], err_msg=f"{backend} {name}"
            )
            np.testing.assert_array_equal(
                ours.v[name].reshape(total, -1), theirs_s[i], err_msg=f"{backend} {name} state"
            )


def test_sdnn_chain_with_sigma_readout_is_bit_exact(slayer, tmp_path):
    _compare(_chain(slayer, tmp_path / "sdnn.net"), _frames(1))


def test_sdnn_chain_with_sigma_delta_bias_is_bit_exact(slayer, tmp_path):
    _compare(_chain(slayer, tmp_path / "bias.net", bias=True), _frames(2))


def test_graded_message_counts_are_the_nonzero_payloads(slayer, tmp_path):
    """The counters' hook: per step and layer, messages = nonzero payloads, bits = 16 each."""
    compiled = load_or_compile(_chain(slayer, tmp_path / "count.net"))
    plan = compiled.fixed_plan
    steps: list[dict[str, tuple[int, int]]] = []
    options = RunOptions(
        precision="fixed", raw_timing=True, device="cpu", record=list(plan.populations),
        on_step=lambda s: steps.append(graded_messages(plan, s)),
    )  # fmt: skip
    result = run_emulator(compiled, _frames(3), options)
    for name in plan.populations:
        sent = np.count_nonzero(result.spikes[name].reshape(len(steps), -1), axis=1)
        assert [step[name] for step in steps] == [(int(k), 16 * int(k)) for k in sent], name
    assert sum(step["layer1"][0] for step in steps) > 0


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("layer/1/neuron/vThMant", 1 << 20, "layer 1 (dense): neuron vThMant = 1048576 outside"),
        ("layer/2/neuron/messageBits", 0, "layer 2 (dense): neuron messageBits = 0 outside 1..24"),
        ("layer/3/bias", np.ones(3), "layer 3 (dense): a bias on a Sigma readout"),
    ],
    ids=["vth", "message-bits", "sigma-bias"],
)
def test_bad_sdnn_parameters_are_refused_naming_layer_and_limit(
    slayer, tmp_path, key, value, message
):
    path = _chain(slayer, tmp_path / "bad.net")
    with h5py.File(path, "a") as handle:
        if key in handle:
            del handle[key]
        handle.create_dataset(key, data=value)
    with pytest.raises(SpikeforgeError) as info:
        load_or_compile(path)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)


def test_cli_graded_input_misuse_is_one_clear_line(slayer, tmp_path):
    path = _chain(slayer, tmp_path / "cli.net")
    np.save(tmp_path / "frac.npy", _frames(4) + 0.5)
    np.save(tmp_path / "big.npy", _frames(4) + (1 << 23))
    np.save(tmp_path / "shape.npy", np.zeros((STEPS, 7)))
    np.save(tmp_path / "ok.npy", _frames(4))
    out = tmp_path / "o.npz"
    cases = [
        ("frac.npy", "takes integer-valued graded frames"),
        ("big.npy", "outside the Delta layer's signed 24-bit input"),
        ("shape.npy", "expected shape [batch, time, 8]"),
    ]
    for name, message in cases:
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            code = main(["run", str(path), "--backend", "emulator", "--raw-timing",
                         "--input", str(tmp_path / name), "-o", str(out)])  # fmt: skip
        assert code == 2 and err.getvalue().count("\n") == 1, err.getvalue()
        assert message in err.getvalue(), err.getvalue()
    assert not out.exists()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = main(["run", str(path), "--backend", "emulator", "--raw-timing", "--record",
                     "layer1", "--input", str(tmp_path / "ok.npy"), "-o", str(out)])  # fmt: skip
    assert code == 0 and np.load(out)["layer1.spikes"].shape == (STEPS + 3, 10)


def test_sfnet_checks_refuse_bad_graded_fields(slayer, tmp_path):
    from spikeforge.compile.sfnet_checks import check_graded

    compiled = load_or_compile(_chain(slayer, tmp_path / "checks.net"))
    plan = compiled.fixed_plan
    bad = [
        (plan.populations["layer1"], "sdn", "lif2", "populations['layer1'].sdn"),
        (plan.populations["layer1"], "num_message_bits", 30, "layer1'].num_message_bits"),
        (plan.populations["layer2"], "direct_input", "input", "layer2'].direct_input"),
        (plan.synapses[0], "num_message_bits", -1, "synapses[0].num_message_bits"),
    ]
    for target, field, value, message in bad:
        good = getattr(target, field)
        setattr(target, field, value)
        with pytest.raises(SpikeforgeError, match=message.replace("[", r"\[")):
            check_graded(plan, "fixed_plan")
        setattr(target, field, good)
    check_graded(plan, "fixed_plan")  # the plan as read passes
