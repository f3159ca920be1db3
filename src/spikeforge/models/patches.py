"""Whitened 16x16 natural-image patches and their spike code, shared by poisson_vae and dae_nr.

The papers train on whitened patches of natural photographs (van Hateren, mouse-V1
stimuli), none of which can be downloaded here. scikit-learn ships two photographs
(``load_sample_images``: china.jpg, flower.jpg); they are turned into the same kind of
stimulus: grey levels, 2x2 block-averaged (to suppress JPEG block artefacts, which
whitening would amplify), whitened with Olshausen & Field's (1996) filter
``|f| exp(-(|f|/f0)^4)``, and scaled to unit variance per image.

Each image is cut into 32x32 blocks; every fourth diagonal of blocks is the test
split, the rest the training split, and a patch lies inside one block. So the two
splits never share a pixel, yet both cover every part of both photographs (a single
held-out band would be mostly sky or blurred background).

Whitened pixels are signed, but Loihi takes spikes: each patch is clipped to
``+-CLIP`` standard deviations, scaled to [-1, 1], and split into an ON and an OFF
channel (``2 x 256`` inputs) whose values are spike probabilities per step. The rate
code is deterministic: each input integrates its rate and fires when the running sum
crosses an integer, from a seeded random phase (so inputs do not fire in lock-step),
which gives every input ``floor(T p + phase)`` spikes in ``T`` steps — the
count carries the value with at most one spike of error, unlike Poisson sampling.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

import numpy as np

PATCH = 16
PIXELS = PATCH * PATCH
#: ON and OFF channel per pixel.
CHANNELS = 2 * PIXELS
#: Olshausen & Field's roll-off, in cycles per pixel (Nyquist is 0.5).
WHITENING_F0 = 0.4
#: Whitened pixels are clipped at this many standard deviations before rate coding.
CLIP = 3.0
#: Side of the blocks that are assigned whole to one split.
BLOCK = 32
#: Block (row, col) belongs to the test split when (row + col) % TEST_PERIOD == 0.
TEST_PERIOD = 4

Split = Literal["train", "test"]


def whiten(image: np.ndarray, f0: float = WHITENING_F0) -> np.ndarray:
    """Flatten the 1/f amplitude spectrum of a grey image; the result has unit variance."""
    fy = np.fft.fftfreq(image.shape[0])[:, None]
    fx = np.fft.fftfreq(image.shape[1])[None, :]
    f = np.hypot(fy, fx)
    response = f * np.exp(-((f / f0) ** 4))
    white = np.real(np.fft.ifft2(np.fft.fft2(image - image.mean()) * response))
    return white / white.std()


@lru_cache(maxsize=1)
def whitened_images() -> tuple[np.ndarray, ...]:
    """scikit-learn's sample photographs, grey, 2x2 block-averaged and whitened."""
    from sklearn.datasets import load_sample_images

    images = []
    for rgb in load_sample_images().images:
        grey = rgb.astype(np.float64).mean(axis=2)
        h, w = (grey.shape[0] // 2) * 2, (grey.shape[1] // 2) * 2
        small = grey[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
        images.append(whiten(small))
    return tuple(images)


@lru_cache(maxsize=2)
def blocks(split: Split) -> tuple[tuple[int, int, int], ...]:
    """``(image, row, col)`` of every block of ``split`` (top-left pixel of the block)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    result = []
    for k, image in enumerate(whitened_images()):
        for r in range(image.shape[0] // BLOCK):
            for c in range(image.shape[1] // BLOCK):
                if ((r + c) % TEST_PERIOD == 0) == (split == "test"):
                    result.append((k, r * BLOCK, c * BLOCK))
    return tuple(result)


def sample_patches(split: Split, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` patches ``[n, 16, 16]`` in [-1, 1], each from a random block of ``split``."""
    images = whitened_images()
    pool = blocks(split)
    chosen = rng.integers(len(pool), size=n)
    offsets = rng.integers(BLOCK - PATCH + 1, size=(n, 2))
    result = np.empty((n, PATCH, PATCH))
    for i, (b, (dy, dx)) in enumerate(zip(chosen, offsets, strict=True)):
        k, row, col = pool[b]
        result[i] = images[k][row + dy : row + dy + PATCH, col + dx : col + dx + PATCH]
    return np.clip(result / CLIP, -1.0, 1.0)


def on_off(values: np.ndarray) -> np.ndarray:
    """Signed values ``[n, ...]`` in [-1, 1] -> ``[n, 2 * size]`` ON then OFF magnitudes."""
    flat = values.reshape(len(values), -1)
    return np.concatenate([np.maximum(flat, 0.0), np.maximum(-flat, 0.0)], axis=1)


def rate_code(rates: np.ndarray, steps: int, rng: np.random.Generator) -> np.ndarray:
    """Deterministic integrate-and-fire code: ``[n, d]`` rates in [0, 1] -> ``[n, steps, d]`` 0/1.

    Input ``j`` spikes at step ``t`` when ``floor((t + 1) p + phase)`` steps up, with a
    seeded phase in [0, 1) per input.
    """
    if np.any(rates < 0) or np.any(rates > 1):
        raise ValueError("rates must lie in [0, 1] (spike probabilities per step)")
    phase = rng.random(rates.shape)
    t = np.arange(steps + 1, dtype=np.float64)[None, :, None]
    level = np.floor(t * rates[:, None, :] + phase[:, None, :])
    return np.diff(level, axis=1).astype(np.float32)


def encode(values: np.ndarray, steps: int, rng: np.random.Generator) -> np.ndarray:
    """Signed images ``[n, 16, 16]`` in [-1, 1] -> ON/OFF spike trains ``[n, steps, 512]``."""
    return rate_code(on_off(values), steps, rng)
