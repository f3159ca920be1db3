"""``spikeforge profile NET.net --input-bias IMAGE.npy --steps N``: a netx network whose
input layer is driven by its bias (as PilotNet) is profiled without a reference run,
and the report sets the model beside the calibration measurement (issue #14)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from spikeforge.api import CompiledModel
from spikeforge.cli import main
from spikeforge.compile import NetxOptions, load_or_compile
from spikeforge.errors import SpikeforgeError
from spikeforge.profile import load_hardware
from spikeforge.profile.stages import bias_driven_run

LEAKY = {"threshold": 1.0, "current_decay": 0.25, "voltage_decay": 0.05, "requires_grad": False}
ANCHOR = Path(__file__).resolve().parents[2] / "shared" / "anchors" / "pilotnet_lif"


@pytest.fixture(scope="module")
def network(tmp_path_factory) -> Path:
    """Input neuron layer (bias-driven) -> conv -> flatten -> dense, made by slayer."""
    with contextlib.redirect_stdout(io.StringIO()):
        import lava.lib.dl.slayer as slayer
    torch.manual_seed(2)
    blocks = [
        slayer.block.cuba.Input(LEAKY),
        slayer.block.cuba.Conv(LEAKY, 2, 4, 3, stride=2, weight_scale=4),
        slayer.block.cuba.Flatten(),
        slayer.block.cuba.Dense(LEAKY, 4 * 3 * 4, 6, weight_scale=4),
    ]
    path = tmp_path_factory.mktemp("bias") / "input.net"
    with torch.no_grad():
        sample = torch.zeros(1, 2, 7, 9, 4)
        for block in blocks:
            sample = block(sample)
    with h5py.File(path, "w") as handle:
        layers = handle.create_group("layer")
        for i, block in enumerate(blocks):
            block.export_hdf5(layers.create_group(str(i)))
    np.save(path.parent / "image.npy", np.random.default_rng(3).integers(0, 80, (9, 7, 2)))
    return path


def test_cli_profiles_a_bias_driven_network_as_the_run_counts_it(network, tmp_path):
    out = tmp_path / "report"
    args = ["profile", str(network), "--input-bias", str(network.parent / "image.npy"),
            "--steps", "8", "--reset-interval", "8", "--reset-offset", "2", "-o", str(out)]
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        assert main(args) == 0
    data = json.loads((out / "profile.json").read_text())
    assert [s["stage"] for s in data["stages"]] == ["emulator-fixed"]
    # The profile's counts are those of a direct bias-driven run of the same plan.
    compiled = load_or_compile(network, netx=NetxOptions(reset_interval=8, reset_offset=2))
    image = np.load(network.parent / "image.npy")
    direct = bias_driven_run(compiled, image, 8, load_hardware("loihi2"), device="cpu")
    stage = data["stages"][0]
    expected = direct.activity.total("synaptic_ops")
    assert stage["synaptic_ops_per_inference"] == pytest.approx(expected)
    assert stage["synaptic_ops_per_inference"] > 0 and stage["spikes_per_inference"] > 0
    # Not the calibration network: the anchor shows the measurement only.
    assert data["calibration_anchor"]["matches"] is False
    assert all(r["model"] is None for r in data["calibration_anchor"]["rows"])
    text = printed.getvalue()
    assert "dynamic energy / inference" in text and "calibration anchor" in text
    report = (out / "report.md").read_text()
    assert "dominant term" in report and "static power / chip" in report


def test_bias_driven_misuse_is_refused(network, tmp_path, capsys):
    compiled = load_or_compile(network, netx=NetxOptions())
    net = CompiledModel(compiled)
    image = np.load(network.parent / "image.npy")
    with pytest.raises(SpikeforgeError, match="steps >= 1"):
        net.profile(input_bias=image)
    with pytest.raises(SpikeforgeError, match="fixed-point plan only"):
        net.profile(input_bias=image, steps=4, precision="float")
    with pytest.raises(SpikeforgeError, match="not reference"):
        net.profile(input_bias=image, steps=4, backend="reference")
    assert main(["profile", str(network), "-o", str(tmp_path / "r")]) != 0
    assert "--input-bias with --steps" in capsys.readouterr().err


@pytest.mark.skipif(not (ANCHOR / "network.net").is_file(), reason="needs the PilotNet anchor")
def test_pilotnet_profile_sets_the_model_beside_the_measurement():
    """PilotNet is the calibration network: every measured figure gets the model's and a
    ratio. Energy and time are fitted to it (ratios near 1 by construction, within the
    rounding of the TOML's figures); cores come from the placement (74 vs 75)."""
    compiled = load_or_compile(ANCHOR / "network.net", netx=NetxOptions(16, 3))
    image = np.load(ANCHOR / "image.npy")
    report = CompiledModel(compiled).profile(input_bias=image, steps=16, device="cpu")
    from spikeforge.profile.report import anchor_of

    found = anchor_of(report.profile)
    assert found.matches
    ratios = {r.figure: r.ratio for r in found.rows}
    assert set(ratios) >= {"cores", "throughput", "dynamic energy / inference",
                           "total energy / inference"}  # fmt: skip
    assert abs(ratios["cores"] - 1) <= 0.10
    for figure in ("throughput", "dynamic energy / inference", "total energy / inference"):
        assert ratios[figure] == pytest.approx(1.0, abs=0.02), figure
    assert "measured vs model" in str(report)
