"""dae_nr: the synthetic V1 population, the readout that carries both tasks, the metrics,
the joint-training claim on the shipped checkpoints, and the metric at Lava fixed
point. The generic export/compile/determinism checks are in tests/test_zoo.py.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from spikeforge.checkpoint import load_checkpoint
from spikeforge.models import dae_nr, patches
from spikeforge.models.stages import export_and_compile
from spikeforge.models.zoo import Dataset, load_trained
from spikeforge.runtimes import run

HALF = dae_nr.RESPONSES // 2


def test_gabor_bank_is_zero_mean_unit_norm_quadrature_pairs() -> None:
    bank = dae_nr.gabor_bank()
    assert bank.shape == (dae_nr.RESPONSES, 2, patches.PIXELS)
    assert np.abs(bank.sum(axis=2)).max() < 1e-9
    assert np.allclose(np.linalg.norm(bank, axis=2), 1.0)
    assert np.abs((bank[:, 0] * bank[:, 1]).sum(axis=1)).max() < 0.05


def test_complex_cells_ignore_phase_and_simple_cells_rectify() -> None:
    # Each neuron's own grating (its quadrature pair mixed at phase phi): a complex
    # cell's energy is the same at every phase, a simple cell follows the phase and
    # is rectified to 0 for half of them.
    bank = dae_nr.gabor_bank()
    phases = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    for j in range(dae_nr.RESPONSES):
        gratings = np.stack([np.cos(p) * bank[j, 0] + np.sin(p) * bank[j, 1] for p in phases])
        gratings /= np.abs(gratings).max()
        rates = dae_nr.v1_rates(gratings.reshape(-1, patches.PATCH, patches.PATCH))[:, j]
        if j < HALF:
            assert rates.min() == 0.0 and rates.max() > 0, f"simple cell {j}"
        else:
            assert np.ptp(rates) < 0.05 * rates.mean(), f"complex cell {j}"


def test_responses_are_poisson_counts_at_the_set_mean_rate() -> None:
    data = dae_nr.make_data("test", 400, seed=0)
    counts = data.targets[:, patches.PIXELS :]
    assert np.array_equal(counts, np.round(counts)) and counts.min() >= 0
    rates = dae_nr.v1_rates(data.targets[:, : patches.PIXELS].reshape(-1, 16, 16))
    # Gains are set on training patches; held-out patches differ by sampling (+-20 %).
    assert rates.mean() == pytest.approx(dae_nr.MEAN_COUNT, rel=0.2)
    # Poisson: mean of the counts equals the mean rate (sd of the mean ~0.017 here).
    assert counts.mean() == pytest.approx(rates.mean(), abs=0.1)


@pytest.mark.parametrize("source", ["untrained", "shipped", "control"])
def test_readout_passes_the_head_through_and_decodes_only_the_latents(source: str) -> None:
    module = {
        "untrained": dae_nr.build,
        "shipped": lambda: load_trained("dae_nr"),
        "control": lambda: load_checkpoint(dae_nr.CONTROL_CHECKPOINT),
    }[source]()
    weight = module[4].weight.detach()
    pixels, head = patches.PIXELS, dae_nr.RESPONSES
    assert torch.equal(weight[pixels:, :head], torch.eye(head))
    assert not weight[pixels:, head:].any()
    assert not weight[:pixels, :head].any()
    assert weight[:pixels, head:].abs().sum() > 0


def test_metrics_of_perfect_and_uninformative_outputs() -> None:
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (12, patches.PIXELS))
    counts = rng.poisson(4.0, (12, dae_nr.RESPONSES)).astype(float)
    data = Dataset(np.zeros((12, 5, patches.CHANNELS)), np.concatenate([images, counts], 1))
    perfect = np.repeat(data.targets[:, None] / 5, 5, axis=1)
    assert dae_nr.metrics(perfect, data) == {
        "response_corr": pytest.approx(1.0),
        "recon_mse": pytest.approx(0.0, abs=1e-12),
        "rsa": pytest.approx(1.0),
    }
    silent = dae_nr.metrics(np.zeros_like(perfect), data)
    assert silent["response_corr"] == 0.0 and silent["rsa"] == 0.0
    assert silent["recon_mse"] == pytest.approx(np.mean(images**2))


def test_rsa_is_invariant_to_neuron_scale_but_not_to_stimulus_order() -> None:
    responses = np.random.default_rng(1).poisson(3.0, (30, 8)).astype(float)
    scaled = responses * np.arange(1, 9)
    assert dae_nr.rsa(responses, scaled) == pytest.approx(1.0)
    shuffled = responses[np.random.default_rng(2).permutation(30)]
    assert dae_nr.rsa(responses, shuffled) < 0.5


@functools.cache
def _source_metrics(which: str) -> dict[str, float]:
    module = (
        load_trained("dae_nr") if which == "joint" else load_checkpoint(dae_nr.CONTROL_CHECKPOINT)
    )
    data = dae_nr.make_data("test", 200, seed=0)
    with torch.no_grad():
        _, top = dae_nr.layer_spikes(module, torch.as_tensor(data.inputs))
        return dae_nr.metrics(module[4](top).numpy(), data)


def test_joint_training_predicts_responses_better_than_reconstruction_alone() -> None:
    # The paper's claim on the shipped pair. Measured (1000 held-out patches, see
    # scripts/claims_dae_nr.py): response corr 0.78 vs 0.64, RSA 0.94 vs 0.86; the
    # margins asserted here are a third of those gaps, on 200 patches.
    joint, control = _source_metrics("joint"), _source_metrics("control")
    assert joint["response_corr"] > control["response_corr"] + 0.05
    assert joint["rsa"] > control["rsa"] + 0.03
    assert joint["response_corr"] > 0.7


def test_fixed_point_keeps_the_task_metrics() -> None:
    # 4 held-out patches: Lava floating_pt equals norse exactly (tests/test_zoo.py), so
    # any difference is fixed-point rounding flipping spikes near threshold. The issue's
    # bound: 2 points of response correlation, 2 % (relative) of reconstruction MSE.
    # Run on the emulator, bit-exact with Lava fixed_pt on every zoo model
    # (tests/test_emulator.py::test_zoo_models_are_bit_exact).
    module = load_trained("dae_nr").double()
    data = dae_nr.make_data("test", 4, seed=0)
    calibration = dae_nr.make_data("train", 32, seed=0).inputs
    compiled = export_and_compile(module, dae_nr.CARD, calibration)
    fixed = dae_nr.metrics(
        run(compiled, data.inputs, backend="emulator", precision="fixed", device="cpu").output, data
    )
    with torch.no_grad():
        _, top = dae_nr.layer_spikes(module, torch.as_tensor(data.inputs, dtype=torch.float64))
        norse = dae_nr.metrics(module[4](top).numpy(), data)
    assert fixed["response_corr"] == pytest.approx(norse["response_corr"], abs=0.02)
    assert fixed["recon_mse"] == pytest.approx(norse["recon_mse"], rel=0.02)


def test_control_fits_only_the_mapping_head_after_the_autoencoder() -> None:
    # The control's second phase must leave the autoencoder exactly as the first left it.
    autoencoder = dae_nr.train(show_progress=False, joint=False, iterations=2, head_iterations=0)
    control = dae_nr.train(show_progress=False, joint=False, iterations=2, head_iterations=2)
    head = dae_nr.RESPONSES
    for name in ("0.weight", "0.bias", "4.weight"):
        assert torch.equal(autoencoder.state_dict()[name], control.state_dict()[name]), name
    for name in ("2.weight", "2.bias"):
        before, after = autoencoder.state_dict()[name], control.state_dict()[name]
        assert torch.equal(before[head:], after[head:]), f"{name}: latent rows moved"
        assert not torch.equal(before[:head], after[:head]), f"{name}: head not fitted"
