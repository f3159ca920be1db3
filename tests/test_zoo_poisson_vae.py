"""poisson_vae and its natural-image patches: whitening, splits, the spike code, the
metric, and what the shipped checkpoint must deliver (a sparse code that reconstructs,
kept at Lava fixed point). The generic export/compile/determinism checks are in
tests/test_zoo.py.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from sklearn.datasets import load_sample_images

from spikeforge.models import patches, poisson_vae
from spikeforge.models.stages import export_and_compile
from spikeforge.models.zoo import Dataset, load_trained
from spikeforge.runtimes import run


def _spectral_slope(image: np.ndarray) -> float:
    """Slope of log power vs log spatial frequency between 0.02 and 0.25 cycles/pixel."""
    power = np.abs(np.fft.fft2(image - image.mean())) ** 2
    f = np.hypot(np.fft.fftfreq(image.shape[0])[:, None], np.fft.fftfreq(image.shape[1])[None])
    band = (f > 0.02) & (f < 0.25)
    return float(np.polyfit(np.log(f[band]), np.log(power[band]), 1)[0])


def test_whitening_flattens_the_natural_image_spectrum() -> None:
    # Natural images have power ~ 1/f^2 (slope -2); whitening multiplies the amplitude
    # by f, which should bring the slope close to 0 over the band the patches use.
    for rgb, white in zip(load_sample_images().images, patches.whitened_images(), strict=True):
        assert _spectral_slope(rgb.mean(axis=2)) < -1.9
        assert _spectral_slope(white) > -1.0
        assert white.std() == pytest.approx(1.0)


def test_splits_are_disjoint_blocks_covering_both_images() -> None:
    train, test = set(patches.blocks("train")), set(patches.blocks("test"))
    assert not train & test
    assert {k for k, _, _ in test} == {0, 1}, "the test split must sample both photographs"
    assert 0.2 < len(test) / (len(train) + len(test)) < 0.3


def _locate(patch: np.ndarray) -> tuple[int, int, int]:
    """Where ``patch`` (clipped) occurs in the whitened images: (image, row, col)."""
    from numpy.lib.stride_tricks import sliding_window_view

    for k, image in enumerate(patches.whitened_images()):
        windows = sliding_window_view(np.clip(image / patches.CLIP, -1, 1), patch.shape)
        hits = np.argwhere(np.all(windows == patch, axis=(2, 3)))
        if len(hits):
            return k, int(hits[0][0]), int(hits[0][1])
    raise AssertionError("patch not found in the images")


@pytest.mark.parametrize("split", ["train", "test"])
def test_patches_lie_inside_one_block_of_their_split(split: str) -> None:
    pool = set(patches.blocks(split))
    for patch in patches.sample_patches(split, 5, np.random.default_rng(3)):
        k, row, col = _locate(patch)
        block = (k, row // patches.BLOCK * patches.BLOCK, col // patches.BLOCK * patches.BLOCK)
        assert block in pool
        assert row % patches.BLOCK + patches.PATCH <= patches.BLOCK
        assert col % patches.BLOCK + patches.PATCH <= patches.BLOCK


def test_rate_code_count_carries_the_value_within_one_spike() -> None:
    rng = np.random.default_rng(0)
    rates = rng.random((20, 30))
    steps = 50
    spikes = patches.rate_code(rates, steps, np.random.default_rng(1))
    assert spikes.shape == (20, steps, 30)
    assert np.isin(spikes, (0, 1)).all()
    assert np.all(np.abs(spikes.sum(axis=1) - steps * rates) < 1)
    assert np.array_equal(spikes, patches.rate_code(rates, steps, np.random.default_rng(1)))
    assert not np.array_equal(spikes, patches.rate_code(rates, steps, np.random.default_rng(2)))
    with pytest.raises(ValueError, match="rates must lie in"):
        patches.rate_code(rates * 2, steps, rng)


def test_inputs_are_the_on_off_code_of_the_targets() -> None:
    data = poisson_vae.make_data("test", 8, seed=0)
    on, off = np.split(data.inputs, 2, axis=2)
    assert not np.any(on.sum(axis=1) * off.sum(axis=1)), "a pixel spiked on ON and OFF"
    decoded = (on.sum(axis=1) - off.sum(axis=1)) / poisson_vae.STEPS
    assert np.abs(decoded - data.targets).max() < 1.0 / poisson_vae.STEPS


def test_metrics_decode_the_summed_outputs() -> None:
    targets = np.random.default_rng(0).uniform(-1, 1, (3, patches.PIXELS)).astype(np.float32)
    data = Dataset(np.zeros((3, 4, patches.CHANNELS), np.float32), targets)
    spread = np.repeat(targets[:, None] / 4, 4, axis=1)  # the patch, a quarter per step
    assert poisson_vae.metrics(spread, data) == {
        "recon_mse": pytest.approx(0.0, abs=1e-12),
        "explained_variance": pytest.approx(1.0),
    }
    silent = poisson_vae.metrics(np.zeros_like(spread), data)
    assert silent["recon_mse"] == pytest.approx(float(np.mean(targets.astype(float) ** 2)))
    assert silent["explained_variance"] == pytest.approx(0.0)


@functools.cache
def _shipped_on_test() -> tuple[Dataset, np.ndarray]:
    data = poisson_vae.make_data("test", 64, seed=0)
    with torch.no_grad():
        inputs = torch.as_tensor(data.inputs)
        spikes = poisson_vae.latent_spikes(load_trained("poisson_vae"), inputs)
    return data, spikes.sum(dim=1).numpy()


def test_shipped_model_is_a_sparse_code_that_reconstructs() -> None:
    # Measured on the shipped checkpoint (64 held-out patches): 0.59 of the variance
    # explained with 213 spikes per patch and 90.7 % of the 256 latents silent per patch.
    # The same network trained without the metabolic cost (the shipped control) spends
    # ~320 spikes with ~85 % silent, so the bounds fail for that denser code (or a broken
    # one) while leaving room for retraining noise.
    data, counts = _shipped_on_test()
    module = load_trained("poisson_vae")
    with torch.no_grad():
        recon = module[2](torch.as_tensor(counts)).numpy()[:, None]
    assert poisson_vae.metrics(recon, data)["explained_variance"] > 0.5
    assert counts.sum(axis=1).mean() < 260
    assert (counts == 0).mean() > 0.88


def test_fixed_point_keeps_the_reconstruction() -> None:
    # 3 held-out patches; Lava floating_pt equals norse exactly (tests/test_zoo.py), so
    # any difference here is fixed-point rounding flipping a spike near threshold. A
    # flipped spike moves the reconstruction by one decoder column; the issue allows
    # 2 % (relative) on the task metric, which is what this asserts. Run on the
    # emulator, bit-exact with Lava fixed_pt on every zoo model (tests/test_emulator.py).
    module = load_trained("poisson_vae").double()
    data = poisson_vae.make_data("test", 3, seed=0)
    calibration = poisson_vae.make_data("train", 32, seed=0).inputs
    compiled = export_and_compile(module, poisson_vae.CARD, calibration)
    fixed = run(compiled, data.inputs, backend="emulator", precision="fixed", device="cpu").output
    with torch.no_grad():
        inputs = torch.as_tensor(data.inputs, dtype=torch.float64)
        norse = module[2](poisson_vae.latent_spikes(module, inputs).sum(dim=1)).numpy()
    assert poisson_vae.metrics(fixed, data)["recon_mse"] == pytest.approx(
        poisson_vae.metrics(norse[:, None], data)["recon_mse"], rel=0.02
    )
