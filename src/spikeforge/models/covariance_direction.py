"""covariance_direction: motion direction read out of input *correlations*, not rates.

Zhu, Qi, Lu & Feng (PLOS Comput Biol 2024) encode a motion direction ``theta`` only in
the covariance of sensory neurons on a hexagonal grid: half of them report intensity,
half report its change, and both see a grating of wave vector
``k = 5 pi (cos theta, sin theta)``. Over the grating's random phase, two detectors of
the same kind at ``x_i`` and ``x_j`` correlate as ``cos(k . (x_i - x_j))`` and an
intensity and a change detector as ``sin(k . (x_j - x_i))`` — the odd term is what
tells ``theta`` from ``theta + pi``. Every neuron's mean rate is the same for every
direction, so a rate decoder sees nothing; a spiking layer turns the covariance into
rates (a projection's variance depends on ``theta``, and threshold crossings follow
the variance), and a linear readout of its spike counts recovers the direction.

Spikes are thresholded correlated Gaussians (a dichotomised Gaussian): per step a
latent ``sqrt(rho) (a xi_1 + b xi_2) + sqrt(1 - rho) eta`` with unit-variance
marginals for every direction, thresholded at the ``1 - RATE`` quantile. So every
input fires with probability exactly :data:`RATE` whatever the direction; only the
joint statistics carry ``theta`` (the tests check both).

Deployed: Linear 254 -> 508 -> LIF (tau_mem 20.48 ms, dt/tau = 200/4096 exact in 12
bits; no bias, v_leak 0, reset to 0), then Linear 508 -> 2 (with bias) evaluated on
the host: the decoder of (cos theta, sin theta) from spike counts, which the paper
keeps off the sensory network too. Trained with surrogate gradients on fresh
synthetic data.
"""

from __future__ import annotations

import norse.torch as norse
import numpy as np
import torch
from scipy.stats import norm

from spikeforge.errors import SpikeforgeError
from spikeforge.models.zoo import Dataset, ModelCard
from spikeforge.progress import progress

#: Hexagon of radius 6: 1 + 3*6*7 = 127 positions, each with two detectors.
RADIUS = 6
SPACING = 1.0 / 12  # the grid spans [-0.5, 0.5]: 2.5 wavelengths of the grating
N_POSITIONS = 1 + 3 * RADIUS * (RADIUS + 1)
N_INPUTS = 2 * N_POSITIONS
HIDDEN = 2 * N_INPUTS
WAVENUMBER = 5 * np.pi

CARD = ModelCard(
    name="covariance_direction",
    paper="Zhu, Qi, Lu & Feng, Learning to integrate parts for whole through correlated "
    "neural variability, PLOS Comput Biol 2024",
    description="motion direction decoded from input covariance alone "
    f"({N_INPUTS} correlated spike trains -> {HIDDEN} LIF -> host readout)",
    metric="direction_error",
    higher_is_better=False,
    dt=1e-3,
    input_shape=(N_INPUTS,),
    unit="deg",
)

STEPS = 100
#: Spike probability of every input per step (20 Hz... at dt = 1 ms, 200 Hz): direction-free.
RATE = 0.2
#: Share of each input's latent variance that the grating explains.
CORRELATION = 0.6
TAU_SYN_INV = 250.0  # dt/tau_syn = 1/4
TAU_MEM_INV = 1.0 / 20.48e-3  # dt/tau_mem = 200/4096
V_TH = 1.0
#: Scales torch's default input weights so that input fluctuations reach threshold at
#: initialisation (otherwise the hidden layer starts silent and gets no gradient).
INPUT_GAIN = 8.0
ENCODER_LR = 3e-4
READOUT_LR = 2e-3
SPLIT_STREAMS = {"train": 0, "test": 1}
#: Correlation time of the grating's contrast and phase (see :func:`_grating_weights`).
GRATING_TAU = 20e-3


def positions() -> np.ndarray:
    """The hexagonal grid ``[N_POSITIONS, 2]``, centred on 0, in axial-coordinate order."""
    points = []
    for q in range(-RADIUS, RADIUS + 1):
        for r in range(max(-RADIUS, -q - RADIUS), min(RADIUS, -q + RADIUS) + 1):
            points.append((SPACING * (q + r / 2), SPACING * r * np.sqrt(3) / 2))
    return np.array(points)


def grating_modes(angles: np.ndarray) -> np.ndarray:
    """``[n, 2, N_INPUTS]``: the two latent modes ``a``, ``b`` of each direction.

    Intensity detectors (first half) see ``cos(k.x - phi)``, change detectors (second
    half) ``sin(k.x - phi)``; with ``phi`` uniform this is ``a cos(phi) + b sin(phi)``
    where ``a = [cos kx; sin kx]`` and ``b = [sin kx; -cos kx]``, and ``a_i^2 + b_i^2 = 1``.
    """
    k = WAVENUMBER * np.stack([np.cos(angles), np.sin(angles)], axis=-1)  # [n, 2]
    phase = k @ positions().T  # [n, N_POSITIONS]
    a = np.concatenate([np.cos(phase), np.sin(phase)], axis=-1)
    b = np.concatenate([np.sin(phase), -np.cos(phase)], axis=-1)
    return np.stack([a, b], axis=1)


def latent_covariance(angle: float) -> np.ndarray:
    """The latent Gaussian's covariance for one direction (unit diagonal by construction)."""
    modes = grating_modes(np.array([angle]))[0]
    return CORRELATION * modes.T @ modes + (1 - CORRELATION) * np.eye(N_INPUTS)


def spikes(
    angles: np.ndarray, rng: np.random.Generator, steps: int = STEPS, correlated: bool = True
) -> np.ndarray:
    """``[n, steps, N_INPUTS]`` 0/1 spikes for ``angles``; ``correlated=False`` drops the grating.

    Without the grating every input is an independent Bernoulli(:data:`RATE`) train:
    the same rates, no correlations, so no information about the direction.
    """
    n = len(angles)
    if not correlated:
        return (rng.random((n, steps, N_INPUTS)) < RATE).astype(np.float32)
    modes = grating_modes(angles)  # [n, 2, N]
    weights = _grating_weights(n, steps, rng)
    latent = np.sqrt(CORRELATION) * np.einsum("ntm,nmi->nti", weights, modes)
    latent += np.sqrt(1 - CORRELATION) * rng.standard_normal((n, steps, N_INPUTS))
    return (latent > norm.ppf(1 - RATE)).astype(np.float32)


def _grating_weights(n: int, steps: int, rng: np.random.Generator) -> np.ndarray:
    """``[n, steps, 2]`` mode weights: stationary AR(1) with unit variance per step.

    The grating's contrast and phase drift with correlation time :data:`GRATING_TAU`,
    longer than the membrane's, so a hidden neuron integrates the input's fluctuations
    coherently (with a fresh phase every step the membrane would average them away).
    """
    keep = np.exp(-CARD.dt / GRATING_TAU)
    fresh = np.sqrt(1 - keep**2)
    weights = np.empty((n, steps, 2))
    weights[:, 0] = rng.standard_normal((n, 2))
    for t in range(1, steps):
        weights[:, t] = keep * weights[:, t - 1] + fresh * rng.standard_normal((n, 2))
    return weights


def directions(split: str, n: int, seed: int) -> np.ndarray:
    """Test: ``n`` evenly spaced directions with a seeded offset; train: uniform at random."""
    if split not in SPLIT_STREAMS:
        raise SpikeforgeError(
            f"covariance_direction: split must be 'train' or 'test', got {split!r}"
        )
    if n < 1:
        raise SpikeforgeError(f"covariance_direction: n must be at least 1, got {n}")
    rng = np.random.default_rng([seed, SPLIT_STREAMS[split], 0])
    if split == "test":
        return (2 * np.pi * (np.arange(n) + rng.random()) / n) % (2 * np.pi)
    return 2 * np.pi * rng.random(n)


def make_data(split: str, n: int = 50, seed: int = 0, correlated: bool = True) -> Dataset:
    """Directions (radians, the targets) and their spike trains ``[n, STEPS, N_INPUTS]``.

    Train and test use separate seeded streams for directions and spikes, so they
    never share a sample. ``correlated=False`` gives the control with the same rates
    and no correlations (see :func:`spikes`).
    """
    angles = directions(split, n, seed)
    rng = np.random.default_rng([seed, SPLIT_STREAMS[split], 1, int(correlated)])
    return Dataset(inputs=spikes(angles, rng, correlated=correlated), targets=angles)


def build(hidden: int = HIDDEN, seed: int = 0) -> torch.nn.Module:
    """Untrained network: Linear -> LIF -> Linear (the host readout of (cos, sin))."""
    torch.manual_seed(seed)
    encoder = torch.nn.Linear(N_INPUTS, hidden, bias=False)
    # The readout starts at zero: it is learned first (see :func:`train`).
    readout = torch.nn.Linear(hidden, 2)
    with torch.no_grad():
        encoder.weight.mul_(INPUT_GAIN)
        readout.weight.zero_()
        readout.bias.zero_()
    return norse.SequentialState(
        encoder,
        norse.LIFCell(
            norse.LIFParameters(
                tau_syn_inv=torch.tensor(TAU_SYN_INV),
                tau_mem_inv=torch.tensor(TAU_MEM_INV),
                v_th=torch.tensor(V_TH),
            ),
            dt=CARD.dt,
        ),
        readout,
    )


def decoded_angles(outputs: np.ndarray) -> np.ndarray:
    """Direction per sample from the readout summed over time: the spike-count decoder."""
    counts = np.asarray(outputs, dtype=np.float64).sum(axis=1)
    return np.arctan2(counts[:, 1], counts[:, 0])


def angle_errors(decoded: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Absolute angular differences in degrees, in [0, 180]."""
    diff = np.angle(np.exp(1j * (np.asarray(decoded) - np.asarray(angles))))
    return np.degrees(np.abs(diff))


def metrics(outputs: np.ndarray, data: Dataset) -> dict[str, float]:
    """Mean absolute direction error in degrees (first key), its median, and the share < 15 deg."""
    errors = angle_errors(decoded_angles(outputs), data.targets[: len(outputs)])
    return {
        "direction_error": float(errors.mean()),
        "median_error": float(np.median(errors)),
        "within_15deg": 100.0 * float((errors < 15).mean()),
    }


def _summed_readout(module: torch.nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """The readout summed over time (the decoder of spike counts); the same arithmetic as
    stepping the module, but the stateless input layer runs on all steps in one matrix
    product (training speed)."""
    encoder, lif, readout = module
    currents = encoder(inputs)
    state = None
    counts = 0.0
    for t in range(inputs.shape[1]):
        z, state = lif(currents[:, t], state)
        counts = counts + z
    return readout(counts)


def train(
    show_progress: bool = True,
    seed: int = 0,
    steps: int = 400,
    batch_size: int = 32,
    correlated: bool = True,
) -> torch.nn.Module:
    """Surrogate-gradient BPTT (norse's SuperSpike) on a fresh synthetic batch every step.

    Loss: squared error between the readout summed over time and (cos theta, sin theta).
    The readout learns ten times faster than the input layer: the hidden neurons'
    counts flip by whole spikes under small weight changes, so the input layer's
    gradient is noisy and only a slow drift of it helps (a fast one was measured to
    undo the readout's progress). ``correlated=False`` trains the control on inputs
    without correlations.
    """
    torch.manual_seed(seed)
    module = build(seed=seed)
    encoder, _, readout = module
    optimiser = torch.optim.Adam(
        [
            {"params": encoder.parameters(), "lr": ENCODER_LR},
            {"params": readout.parameters(), "lr": READOUT_LR},
        ]
    )
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=steps)
    rng = np.random.default_rng([seed, 2])
    for _ in progress(range(steps), desc="train covariance_direction", enabled=show_progress):
        angles = 2 * np.pi * rng.random(batch_size)
        inputs = torch.as_tensor(spikes(angles, rng, correlated=correlated))
        goal = torch.as_tensor(
            np.stack([np.cos(angles), np.sin(angles)], axis=1), dtype=torch.float32
        )
        loss = torch.nn.functional.mse_loss(_summed_readout(module, inputs), goal)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
    return module.eval()
