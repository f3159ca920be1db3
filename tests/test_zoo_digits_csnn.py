"""digits_csnn: the split, the rate code, and the shipped model's accuracy at fixed point.

The accuracy checks use the whole held-out set (360 digits). Fixed point runs on the
emulator, which is bit-exact with Lava's ``fixed_pt`` models (tests/test_emulator.py
checks that against Lava itself) and takes seconds where Lava takes minutes.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from spikeforge.checkpoint import load_checkpoint
from spikeforge.cli import main
from spikeforge.errors import SpikeforgeError
from spikeforge.models import digits_csnn as model
from spikeforge.models.examples import run_norse
from spikeforge.models.stages import export_and_compile
from spikeforge.models.zoo import Dataset, load_trained
from spikeforge.runtimes import run
from spikeforge.runtimes.norse import in_float64


def test_split_is_fixed_stratified_and_covers_every_digit_once() -> None:
    train_x, train_y = model.digits("train")
    test_x, test_y = model.digits("test")
    assert len(test_x) == model.TEST_SIZE
    everything = load_digits()
    assert len(train_x) + len(test_x) == len(everything.images)

    # Every (image, label) of the data set lands in exactly one split (compared as
    # multisets, since the data set contains a few duplicate images).
    def pairs(images: np.ndarray, labels: np.ndarray) -> list[bytes]:
        return sorted(x.tobytes() + bytes([int(y)]) for x, y in zip(images, labels, strict=True))

    split = pairs(np.concatenate([train_x, test_x]), np.concatenate([train_y, test_y]))
    assert split == pairs(everything.images, everything.target)
    # Stratified: each class has its share of the test set, within one sample.
    share = np.bincount(everything.target) * model.TEST_SIZE / len(everything.target)
    assert np.all(np.abs(np.bincount(test_y, minlength=10) - share) <= 1)
    assert np.array_equal(model.digits("test")[0], test_x)


def test_rate_code_follows_pixel_intensity() -> None:
    data = model.make_data("train", seed=3)
    images, _ = model.digits("train")
    spikes = data.inputs[:, :, 0]  # [n, time, 8, 8]
    assert spikes.shape[1] == model.STEPS
    intensity = np.broadcast_to(images[:, None], spikes.shape)
    assert not spikes[intensity == 0].any(), "a blank pixel spiked"
    # Spike probability per step is MAX_RATE * intensity / 16; the mean over all
    # pixels of one intensity has a binomial standard error of sqrt(p (1 - p) / count):
    # allow 5 of them (a false alarm about once in 3 million per intensity level).
    for level in (4, 8, 12, 16):
        chosen = spikes[intensity == level]
        p = model.MAX_RATE * level / 16
        assert abs(chosen.mean() - p) <= 5 * np.sqrt(p * (1 - p) / chosen.size), level


def test_first_samples_do_not_depend_on_n() -> None:
    assert np.array_equal(model.make_data("test", 5).inputs, model.make_data("test", 40).inputs[:5])
    with pytest.raises(SpikeforgeError, match="the test split has 360 digits, asked for 361"):
        model.make_data("test", model.TEST_SIZE + 1)
    with pytest.raises(SpikeforgeError, match="split must be 'train' or 'test'"):
        model.make_data("validation", 3)


@functools.cache
def _held_out() -> tuple[Dataset, float, np.ndarray]:
    """The whole test set, the shipped model's norse accuracy and its outputs (float64)."""
    data = model.make_data("test")
    module = in_float64(load_trained("digits_csnn"))
    outputs = run_norse(module, torch.as_tensor(data.inputs, dtype=torch.float64)).numpy()
    return data, model.metrics(outputs, data)["accuracy"], outputs


def test_shipped_model_reaches_90_percent() -> None:
    _, accuracy, _ = _held_out()
    assert accuracy >= 90.0


def test_fixed_point_within_two_points_of_norse() -> None:
    data, accuracy, _ = _held_out()
    module = in_float64(load_trained("digits_csnn"))
    calibration = model.make_data("train", 32).inputs
    compiled = export_and_compile(module, model.CARD, calibration)
    fixed = run(compiled, data.inputs, backend="emulator", precision="fixed", device="cpu")
    fixed_accuracy = model.metrics(fixed.output, data)["accuracy"]
    assert abs(fixed_accuracy - accuracy) <= 2.0, (fixed_accuracy, accuracy)


def test_cli_train_writes_the_trained_weights(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    """``spikeforge train`` end to end, cut to 2 optimiser steps (that training *works* is
    what the shipped checkpoint's accuracy shows): the file holds the trained weights."""
    trained: list[torch.nn.Module] = []
    full_train = model.train

    def short_train(show_progress: bool = True, seed: int = 0) -> torch.nn.Module:
        trained.append(full_train(show_progress, seed, epochs=1, batch_size=32, samples=64))
        return trained[-1]

    monkeypatch.setattr(model, "train", short_train)
    out = tmp_path / "digits.pt"
    assert main(["train", "digits_csnn", "-o", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    saved, initial = load_checkpoint(out).state_dict(), model.build().state_dict()
    for key, value in trained[0].state_dict().items():
        assert torch.equal(saved[key], value), key
    assert not torch.equal(saved["0.weight"], initial["0.weight"]), "nothing was trained"
