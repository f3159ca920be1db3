"""motor_srnn: recurrent spiking modules wired like the primate motor circuit (seed 001).

Liu et al.'s motorSRNN decodes reach direction from monkey M1 spike trains with
recurrent spiking modules joined by feed-forward and long-range feedback synapses.
The recordings are private, so :func:`make_data` stands in a cosine-tuned Poisson M1
population (rate ``b + m cos(theta - theta_pref)``) plus untuned noise channels:
4 reach directions, 50 ms trials at 1 ms steps.

The network is one norse ``LIFRecurrentCell`` whose recurrent matrix is block-structured
by a fixed wiring (:data:`WIRING`): three modules, each recurrent within itself,
feed-forward ``input -> middle -> output``, feedback ``output -> middle`` and the
long-range feedback ``output -> input module``; every other block is zero. One cell
rather than three keeps every module-to-module synapse a recurrent (one-step) edge,
which Loihi reproduces exactly, and the exporter traces it as one population. The M1
spikes reach only the input module, the LI readout (4 classes) reads only the output
module. Gradient hooks installed by :func:`build` keep the zero blocks exactly zero
under any optimiser.

Loihi-compatible by construction: no biases, one ``tau_syn``/``tau_mem`` per layer with
``dt/tau`` multiples of 1/4096, ``v_leak = 0``, reset to zero, an LI output population
that only reads. The class is the argmax of the output voltage averaged over time.
"""

from __future__ import annotations

from dataclasses import dataclass

import norse.torch as norse
import numpy as np
import torch

from spikeforge.errors import SpikeforgeError
from spikeforge.models.training import train_classifier
from spikeforge.models.zoo import Dataset, ModelCard

CARD = ModelCard(
    name="motor_srnn",
    paper="Liu et al., motorSRNN, Biomed. Signal Process. Control 99 (2025); arXiv 2303.07830",
    description="3 recurrent LIF modules with feed-forward and feedback synapses decoding "
    "4 reach directions from cosine-tuned Poisson M1 spikes",
    metric="accuracy",
    higher_is_better=True,
    dt=1e-3,
    input_shape=(64,),
    unit="%",
)

STEPS = 50
DIRECTIONS = 4
N_TUNED = 48
N_NOISE = 16
#: The synthetic "monkey": tuning parameters are fixed, only trials depend on ``seed``.
POPULATION_SEED = 1
#: Baseline rates ``b`` (Hz) and modulation depth as a fraction of ``b``, per tuned unit.
BASELINE_HZ = (10.0, 40.0)
DEPTH_FRACTION = (0.3, 0.7)
NOISE_HZ = (10.0, 40.0)
#: Log-normal trial gain shared by all channels (arousal-like common fluctuation).
GAIN_SIGMA = 0.2
#: Extra entropy word that separates the label stream from the trial streams.
LABEL_STREAM = 7
TRAIN_SIZE = 2048
TEST_SIZE = 400

N_MODULES = 3
INPUT_MODULE, MIDDLE_MODULE, OUTPUT_MODULE = range(N_MODULES)
#: ``(post, pre)`` module blocks of the recurrent matrix that may be non-zero.
WIRING: dict[tuple[int, int], str] = {
    (INPUT_MODULE, INPUT_MODULE): "recurrent",
    (MIDDLE_MODULE, MIDDLE_MODULE): "recurrent",
    (OUTPUT_MODULE, OUTPUT_MODULE): "recurrent",
    (MIDDLE_MODULE, INPUT_MODULE): "feed-forward",
    (OUTPUT_MODULE, MIDDLE_MODULE): "feed-forward",
    (MIDDLE_MODULE, OUTPUT_MODULE): "feedback",
    (INPUT_MODULE, OUTPUT_MODULE): "long-range feedback",
}
#: dt/tau_syn = 1/8 and dt/tau_mem = 1/32 (8 and 32 ms): exact 12-bit decays. A 32 ms
#: membrane integrates over most of a 50 ms trial; 16 ms measured ~3 points less accuracy.
TAU_SYN_INV = 125.0
TAU_MEM_INV = 31.25
V_TH = 1.0
#: Initial weight spread. norse's default (std sqrt(2/hidden)) leaves the network silent
#: on the sparse M1 input; with these the untrained input module fires at ~18 Hz and the
#: middle one at ~2 Hz, enough for surrogate gradients to reach every module.
INPUT_WEIGHT_STD = 1.0
RECURRENT_WEIGHT_STD = 0.4
#: Logit scale of the training loss: logits span a useful range with small readout weights.
GAIN = 10.0


# --- data -------------------------------------------------------------------------


def population() -> dict[str, np.ndarray]:
    """The synthetic M1 population: per tuned unit ``b``, ``m``, ``theta_pref``; noise rates."""
    rng = np.random.default_rng(POPULATION_SEED)
    baseline = rng.uniform(*BASELINE_HZ, N_TUNED)
    return {
        "baseline": baseline,
        "depth": baseline * rng.uniform(*DEPTH_FRACTION, N_TUNED),
        "preferred": rng.uniform(0.0, 2 * np.pi, N_TUNED),
        "noise": rng.uniform(*NOISE_HZ, N_NOISE),
    }


def rates(angles: np.ndarray) -> np.ndarray:
    """Mean rates (Hz) ``[n, 64]`` for reach angles (radians): tuned units, then noise."""
    pop = population()
    angles = np.asarray(angles, dtype=np.float64)[:, None]
    tuned = pop["baseline"] + pop["depth"] * np.cos(angles - pop["preferred"])
    noise = np.broadcast_to(pop["noise"], (len(angles), N_NOISE))
    return np.concatenate([tuned, noise], axis=1)


def trials(angles: np.ndarray, seed: int | list[int]) -> np.ndarray:
    """Bernoulli spike trains ``[n, STEPS, 64]`` (float32 0/1) for reach angles (radians).

    Trial ``i`` depends only on ``seed`` and ``i`` (gains and spikes come from separate
    streams drawn sample-major), so the first ``k`` trials do not change with ``n``.
    """
    gain_rng, spike_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    n = len(angles)
    gain = np.exp(GAIN_SIGMA * gain_rng.standard_normal((n, 1)))
    probability = rates(angles) * gain * CARD.dt
    return (spike_rng.random((n, STEPS, probability.shape[1])) < probability[:, None]).astype(
        np.float32
    )


def direction_angle(direction: np.ndarray) -> np.ndarray:
    """Reach angle (radians) of each class index."""
    return 2 * np.pi * np.asarray(direction) / DIRECTIONS


def make_data(split: str, n: int | None = None, seed: int = 0) -> Dataset:
    """``n`` trials (default 2048 train, 400 test); targets are direction indices 0..3.

    Directions are balanced in every block of 4 trials. The split selects an
    independent random stream, so train and test never share a trial.
    """
    splits = {"train": TRAIN_SIZE, "test": TEST_SIZE}
    if split not in splits:
        raise SpikeforgeError(f"motor_srnn: split must be 'train' or 'test', got {split!r}")
    n = splits[split] if n is None else n
    if n <= 0:
        raise SpikeforgeError(f"motor_srnn: n must be positive, got {n}")
    key = [seed, list(splits).index(split)]
    blocks = -(-n // DIRECTIONS)
    order = np.random.default_rng([*key, LABEL_STREAM]).random((blocks, DIRECTIONS))
    targets = order.argsort(axis=1).ravel()[:n].astype(np.int64)
    return Dataset(inputs=trials(direction_angle(targets), key), targets=targets)


# --- network ------------------------------------------------------------------------


def recurrent_mask(module_size: int) -> torch.Tensor:
    """``[hidden, hidden]`` 0/1 mask of the allowed recurrent synapses (no autapses)."""
    blocks = torch.zeros(N_MODULES, N_MODULES)
    for post, pre in WIRING:
        blocks[post, pre] = 1.0
    mask = torch.kron(blocks, torch.ones(module_size, module_size))
    mask.fill_diagonal_(0.0)
    return mask


def module_rows(module: int, module_size: int) -> torch.Tensor:
    """0/1 vector over hidden neurons that belong to ``module``."""
    rows = torch.zeros(N_MODULES * module_size)
    rows[module * module_size : (module + 1) * module_size] = 1.0
    return rows


def _masked(parameter: torch.nn.Parameter, mask: torch.Tensor) -> None:
    """Zero the masked entries now and mask every future gradient, so they stay zero."""
    with torch.no_grad():
        parameter.mul_(mask)
    parameter.register_hook(lambda gradient: gradient * mask)


def build(module_size: int = 64, seed: int = 0) -> torch.nn.Module:
    """Untrained network: ``3 * module_size`` recurrent LIF neurons, LI readout of 4."""
    torch.manual_seed(seed)
    hidden = N_MODULES * module_size
    cell = norse.LIFRecurrentCell(
        CARD.input_shape[0],
        hidden,
        norse.LIFParameters(
            tau_syn_inv=torch.tensor(TAU_SYN_INV),
            tau_mem_inv=torch.tensor(TAU_MEM_INV),
            v_th=torch.tensor(V_TH),
        ),
        dt=CARD.dt,
    )
    readout = torch.nn.Linear(hidden, DIRECTIONS, bias=False)
    with torch.no_grad():
        cell.input_weights.normal_(0.0, INPUT_WEIGHT_STD)
        cell.recurrent_weights.normal_(0.0, RECURRENT_WEIGHT_STD)
    _masked(cell.input_weights, module_rows(INPUT_MODULE, module_size)[:, None])
    _masked(cell.recurrent_weights, recurrent_mask(module_size))
    _masked(readout.weight, module_rows(OUTPUT_MODULE, module_size)[None, :])
    return norse.SequentialState(
        cell,
        readout,
        norse.LICell(
            norse.LIParameters(
                tau_syn_inv=torch.tensor(TAU_SYN_INV), tau_mem_inv=torch.tensor(TAU_MEM_INV)
            ),
            dt=CARD.dt,
        ),
    )


# --- evaluation and training ----------------------------------------------------------


@dataclass
class CosineFit:
    """Per unit: ``rate = baseline + depth * cos(theta - preferred)`` and its R^2."""

    baseline: np.ndarray
    depth: np.ndarray
    preferred: np.ndarray
    r2: np.ndarray


def cosine_tuning(rates: np.ndarray, angles: np.ndarray) -> CosineFit:
    """Least-squares cosine fit of each unit's mean rate per reach angle (Georgopoulos 1982).

    ``rates`` is ``[trials, units]``, ``angles`` ``[trials]`` (radians). Trials are
    averaged per distinct angle first, so R^2 measures the tuning curve, not the trial
    noise; it needs at least 4 angles to leave the 3-parameter fit something to miss. A
    unit whose mean rate does not vary with angle has no tuning curve: its R^2 is NaN.
    """
    angles = np.asarray(angles, dtype=np.float64)
    distinct = np.unique(angles)
    if len(distinct) < 4:
        raise SpikeforgeError(
            f"cosine_tuning needs at least 4 distinct angles, got {len(distinct)}"
        )
    means = np.stack([np.asarray(rates)[angles == a].mean(axis=0) for a in distinct])
    design = np.stack([np.ones_like(distinct), np.cos(distinct), np.sin(distinct)], axis=1)
    coef, *_ = np.linalg.lstsq(design, means, rcond=None)
    residual = ((means - design @ coef) ** 2).sum(axis=0)
    total = ((means - means.mean(axis=0)) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(total > 0, 1.0 - residual / total, np.nan)
    return CosineFit(
        baseline=coef[0],
        depth=np.hypot(coef[1], coef[2]),
        preferred=np.arctan2(coef[2], coef[1]) % (2 * np.pi),
        r2=r2,
    )


def predictions(outputs: np.ndarray) -> np.ndarray:
    """Direction per trial: argmax of the output voltage ``[n, time, 4]`` averaged over time."""
    return np.asarray(outputs).mean(axis=1).argmax(axis=-1)


def metrics(outputs: np.ndarray, data: Dataset) -> dict[str, float]:
    """Accuracy in percent (first key), and the mean output voltage margin of the winner."""
    outputs = np.asarray(outputs)
    top2 = np.sort(outputs.mean(axis=1), axis=-1)[:, -2:]
    return {
        "accuracy": 100.0 * float((predictions(outputs) == data.targets[: len(outputs)]).mean()),
        "margin": float((top2[:, 1] - top2[:, 0]).mean()),
    }


def train(
    show_progress: bool = True, seed: int = 0, epochs: int = 20, batch_size: int = 64
) -> torch.nn.Module:
    """Surrogate-gradient BPTT (norse's SuperSpike), a fresh draw of trials every epoch
    (:func:`spikeforge.models.training.train_classifier`)."""
    torch.manual_seed(seed)
    return train_classifier(
        build(seed=seed),
        lambda epoch: make_data("train", TRAIN_SIZE, seed=1000 * seed + epoch + 1),
        epochs=epochs,
        batch_size=batch_size,
        lr=1e-3,
        gain=GAIN,
        desc="train motor_srnn",
        show_progress=show_progress,
    )
