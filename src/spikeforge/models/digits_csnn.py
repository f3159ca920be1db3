"""digits_csnn: a small convolutional SNN on scikit-learn's 8x8 digits.

The everyday model a user tries first, and the zoo's test of convolution lowering:
Conv2d -> LIF -> SumPool2d -> Flatten -> Linear -> LI, rate-coded input spikes. The
digits ship inside scikit-learn, so nothing is downloaded.

Loihi-compatible by construction: no biases (no bias neuron needed), one ``tau_syn``
and ``tau_mem`` per layer with ``dt/tau`` multiples of 1/4096 (exact 12-bit decays),
``v_leak = 0``, reset to zero, and a non-spiking (LI) output population that only
reads, never feeds synapses. The class is the argmax of the output voltage averaged
over time, which is robust to the one-LSB voltage differences of fixed point in a way
that spike-count ties of an LIF output are not.
"""

from __future__ import annotations

import norse.torch as norse
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from spikeforge.errors import SpikeforgeError
from spikeforge.export import SumPool2d
from spikeforge.models.training import train_classifier
from spikeforge.models.zoo import Dataset, ModelCard

CARD = ModelCard(
    name="digits_csnn",
    paper="conventional benchmark (scikit-learn 8x8 digits; no seed paper)",
    description="conv SNN (Conv2d-LIF-SumPool-Linear-LI) classifying rate-coded 8x8 digits",
    metric="accuracy",
    higher_is_better=True,
    dt=1e-3,
    input_shape=(1, 8, 8),
    unit="%",
)

STEPS = 40
#: Spike probability per step of a full-intensity (16) pixel.
MAX_RATE = 0.6
TEST_SIZE = 360
#: The train/test split is fixed (not ``seed``-dependent), so the two never share a digit.
SPLIT_SEED = 20240
#: dt/tau_syn = 1/4, dt/tau_mem = 1/8 (hidden) and 1/16 (output): exact 12-bit decays.
TAU_SYN_INV = 250.0
TAU_MEM_INV = 125.0
TAU_MEM_INV_OUT = 62.5
V_TH = 1.0
#: Logit scale of the training loss (see :func:`train`).
GAIN = 10.0


def build(channels: int = 8, seed: int = 0) -> torch.nn.Module:
    """Untrained network; ``channels`` conv maps on the zero-padded 8x8 image."""
    torch.manual_seed(seed)
    return norse.SequentialState(
        torch.nn.Conv2d(1, channels, kernel_size=3, padding=1, bias=False),
        norse.LIFCell(
            norse.LIFParameters(
                tau_syn_inv=torch.tensor(TAU_SYN_INV),
                tau_mem_inv=torch.tensor(TAU_MEM_INV),
                v_th=torch.tensor(V_TH),
            ),
            dt=CARD.dt,
        ),
        SumPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(channels * 4 * 4, 10, bias=False),
        norse.LICell(
            norse.LIParameters(
                tau_syn_inv=torch.tensor(TAU_SYN_INV), tau_mem_inv=torch.tensor(TAU_MEM_INV_OUT)
            ),
            dt=CARD.dt,
        ),
    )


def digits(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``[n, 8, 8]`` (0..16) and labels of ``split``: a fixed, stratified split."""
    bunch = load_digits()
    train_x, test_x, train_y, test_y = train_test_split(
        bunch.images,
        bunch.target,
        test_size=TEST_SIZE,
        random_state=SPLIT_SEED,
        stratify=bunch.target,
    )
    if split == "train":
        return train_x, train_y
    if split == "test":
        return test_x, test_y
    raise SpikeforgeError(f"digits_csnn: split must be 'train' or 'test', got {split!r}")


def make_data(split: str, n: int | None = None, seed: int = 0) -> Dataset:
    """The first ``n`` digits of ``split``, Bernoulli rate-coded over ``STEPS`` steps.

    The spike draw depends on ``seed`` and the split (never on ``n``: the first ``k``
    samples are the same whatever ``n`` is), so train and test noise are independent.
    """
    images, labels = digits(split)
    if n is None:
        n = len(images)
    if not 0 < n <= len(images):
        raise SpikeforgeError(
            f"digits_csnn: the {split} split has {len(images)} digits, asked for {n}"
        )
    rng = np.random.default_rng([seed, 0 if split == "train" else 1])
    rates = MAX_RATE * images[:n, None, None] / 16.0  # [n, 1(time), 1(channel), 8, 8]
    spikes = rng.random((n, STEPS, 1, 8, 8)) < rates
    return Dataset(inputs=spikes.astype(np.float32), targets=labels[:n].astype(np.int64))


def predictions(outputs: np.ndarray) -> np.ndarray:
    """Class per sample: argmax of the output voltage ``[n, time, 10]`` averaged over time."""
    return np.asarray(outputs).mean(axis=1).argmax(axis=-1)


def metrics(outputs: np.ndarray, data: Dataset) -> dict[str, float]:
    """Accuracy in percent (first key), and the mean output voltage margin of the winner."""
    outputs = np.asarray(outputs)
    mean_v = outputs.mean(axis=1)
    top2 = np.sort(mean_v, axis=-1)[:, -2:]
    return {
        "accuracy": 100.0 * float((predictions(outputs) == data.targets[: len(outputs)]).mean()),
        "margin": float((top2[:, 1] - top2[:, 0]).mean()),
    }


def train(
    show_progress: bool = True,
    seed: int = 0,
    epochs: int = 30,
    batch_size: int = 64,
    samples: int | None = None,
) -> torch.nn.Module:
    """Surrogate-gradient BPTT (norse's SuperSpike) with a fresh spike draw every epoch.

    ``samples`` limits training to the first digits of the train split (quick checks).

    Cross-entropy on the time-averaged output voltage, scaled by ``GAIN`` so that the
    logits span a useful range without making the output weights large (large weights
    would cost fixed-point resolution at the output).
    """
    torch.manual_seed(seed)
    n_train = samples or len(digits("train")[0])
    return train_classifier(
        build(seed=seed),
        lambda epoch: make_data("train", n_train, seed=1000 * seed + epoch + 1),
        epochs=epochs,
        batch_size=batch_size,
        lr=3e-3,
        gain=GAIN,
        desc="train digits_csnn",
        show_progress=show_progress,
    )
