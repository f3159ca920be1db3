"""dae_nr: an encoder trained jointly to reconstruct images and to predict neural responses.

Ran et al.'s DAE-NR maps a hidden layer of an image autoencoder's encoder to the
recorded responses of mouse visual cortex, and trains encoder, mapping function and
decoder together. The recordings are not available, so a fixed synthetic "V1"
(:func:`v1_rates`: a Gabor filter bank, half simple cells, half complex cells,
rectified, Poisson spike counts) responds to the same whitened natural-image patches.

Deployed network (all timing exact on Loihi, two feed-forward spiking layers)::

    ON/OFF spikes (512) -> Linear -> LIF hidden (128)
                        -> Linear -> LIF [mapping head (32) | latent code (64)]
                        -> host readout: [decoder(latent) (256) | mapping-head spikes (32)]

The mapping head and the latent code share the hidden layer, as in the paper (the
head reads a hidden layer of the encoder, the decoder reads its end). They are one
LIF population because they share the hidden layer's input and one set of time
constants; the readout's identity block passes the head's spikes out unchanged,
so one output carries both tasks. Outputs summed over the window are the
reconstruction (first 256) and the predicted spike counts (last 32).

``train(joint=False)`` is the paper's control: the autoencoder is trained for
reconstruction alone, then the mapping head is fitted on the frozen hidden layer.
"""

from __future__ import annotations

from functools import lru_cache

import norse.torch as norse
import numpy as np
import torch
from scipy.stats import spearmanr

from spikeforge.models import patches
from spikeforge.models.zoo import CHECKPOINTS, Dataset, ModelCard
from spikeforge.progress import progress

STEPS = 50
DT = 1e-3
#: dt/tau_syn = 1/4 and dt/tau_mem = 1/8: exact in Loihi's 12-bit decays.
TAU_SYN_INV = 250.0
TAU_MEM_INV = 125.0
HIDDEN = 128
RESPONSES = 32
LATENTS = 64
#: Mean spike count of a synthetic V1 neuron per patch presentation (over natural patches).
MEAN_COUNT = 4.0
#: Weight of the response loss (squared count error per neuron) against the
#: reconstruction loss (squared pixel error summed over the patch).
RESPONSE_WEIGHT = 0.3
BANK_SEED = 2021
#: The control for the claim: ``train(joint=False)``, shipped so the claim needs no training.
CONTROL_CHECKPOINT = CHECKPOINTS / "dae_nr_reconstruction_only.pt"
_SPLIT_SEED = {"train": 0, "test": 1}

CARD = ModelCard(
    name="dae_nr",
    paper="Ran et al., Deep Auto-encoder with Neural Response (2021)",
    description="spiking encoder of natural-image patches that jointly reconstructs them "
    "(host decoder) and predicts synthetic V1 spike counts through an on-chip mapping head",
    metric="response_corr",
    higher_is_better=True,
    dt=DT,
    input_shape=(patches.CHANNELS,),
)


def _lif() -> norse.LIFCell:
    params = norse.LIFParameters(
        tau_syn_inv=torch.tensor(TAU_SYN_INV),
        tau_mem_inv=torch.tensor(TAU_MEM_INV),
        v_th=torch.tensor(1.0),
    )
    return norse.LIFCell(params, dt=DT)


def build(
    hidden: int = HIDDEN, responses: int = RESPONSES, latents: int = LATENTS, seed: int = 0
) -> torch.nn.Module:
    """Encoder, [mapping head | latent] population, and the host readout (module docstring)."""
    torch.manual_seed(seed)
    readout = torch.nn.Linear(responses + latents, patches.PIXELS + responses, bias=False)
    with torch.no_grad():
        decoder = readout.weight[: patches.PIXELS, responses:].clone()
        readout.weight.zero_()
        readout.weight[: patches.PIXELS, responses:] = decoder
        readout.weight[patches.PIXELS :, :responses] = torch.eye(responses)
    return norse.SequentialState(
        torch.nn.Linear(patches.CHANNELS, hidden),
        _lif(),
        torch.nn.Linear(hidden, responses + latents),
        _lif(),
        readout,
    )


# --- the synthetic V1 population ----------------------------------------------------


@lru_cache(maxsize=1)
def gabor_bank(n: int = RESPONSES, seed: int = BANK_SEED) -> np.ndarray:
    """Quadrature pairs ``[n, 2, 256]`` of zero-mean Gabors: random position, angle, scale."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0 : patches.PATCH, 0 : patches.PATCH].astype(np.float64)
    bank = np.empty((n, 2, patches.PIXELS))
    for j in range(n):
        cy, cx = rng.uniform(4.0, 11.0, size=2)
        angle = rng.uniform(0.0, np.pi)
        wavelength = rng.uniform(4.0, 8.0)
        phase = rng.uniform(0.0, 2 * np.pi)
        along = (x - cx) * np.cos(angle) + (y - cy) * np.sin(angle)
        envelope = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * (0.5 * wavelength) ** 2))
        for k, shift in enumerate((0.0, np.pi / 2)):
            g = envelope * np.cos(2 * np.pi * along / wavelength + phase + shift)
            g -= g.mean()
            bank[j, k] = (g / np.linalg.norm(g)).ravel()
    return bank


def _drive(values: np.ndarray) -> np.ndarray:
    """Rectified filter outputs ``[n, R]``: simple cells first half, complex cells second."""
    bank = gabor_bank()
    proj = np.einsum("nd,rkd->nrk", values.reshape(len(values), -1), bank)
    half = len(bank) // 2
    simple = np.maximum(proj[:, :half, 0], 0.0)
    complex_ = np.hypot(proj[:, half:, 0], proj[:, half:, 1])
    return np.concatenate([simple, complex_], axis=1)


@lru_cache(maxsize=1)
def _gains() -> np.ndarray:
    """Per-neuron gain giving every neuron MEAN_COUNT spikes on average over training patches."""
    reference = patches.sample_patches("train", 4000, np.random.default_rng(BANK_SEED))
    return MEAN_COUNT / _drive(reference).mean(axis=0)


def v1_rates(values: np.ndarray) -> np.ndarray:
    """Expected spike counts ``[n, R]`` of the synthetic V1 population to patches ``[n, 16, 16]``.

    The gains are fixed (set once on training patches), so a patch's expected response
    never depends on which other patches are in the batch.
    """
    return _drive(values) * _gains()


def make_data(split: str, n: int, seed: int = 0) -> Dataset:
    """ON/OFF spike trains; targets ``[n, 256 + R]``: the flattened patch, then V1 counts."""
    rng = np.random.default_rng([seed, _SPLIT_SEED[split]])
    values = patches.sample_patches(split, n, rng)
    counts = rng.poisson(v1_rates(values))
    targets = np.concatenate([values.reshape(n, patches.PIXELS), counts], axis=1)
    return Dataset(inputs=patches.encode(values, STEPS, rng), targets=targets.astype(np.float32))


# --- training -----------------------------------------------------------------------


def layer_spikes(
    module: torch.nn.Module, inputs: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Spikes ``[batch, time, n]`` of the hidden layer and of the head/latent population."""
    state_1 = state_2 = None
    hidden, top = [], []
    for t in range(inputs.shape[1]):
        z1, state_1 = module[1](module[0](inputs[:, t]), state_1)
        z2, state_2 = module[3](module[2](z1), state_2)
        hidden.append(z1)
        top.append(z2)
    return torch.stack(hidden, dim=1), torch.stack(top, dim=1)


def _losses(
    module: torch.nn.Module, values: np.ndarray, counts: np.ndarray, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """(summed squared pixel error per patch, squared count error per V1 neuron)."""
    responses = counts.shape[1]
    inputs = torch.as_tensor(patches.encode(values, STEPS, rng))
    _, top = layer_spikes(module, inputs)
    top_counts = top.sum(dim=1)
    decoder = module[4].weight[: patches.PIXELS, responses:]
    recon = top_counts[:, responses:] @ decoder.T
    target = torch.as_tensor(values.reshape(len(values), -1), dtype=torch.float32)
    recon_loss = (recon - target).pow(2).sum(dim=1).mean()
    response_loss = (top_counts[:, :responses] - torch.as_tensor(counts)).pow(2).mean()
    return recon_loss, response_loss


def _fit(
    module: torch.nn.Module,
    iterations: int,
    rng: np.random.Generator,
    *,
    response_weight: float,
    head_only: bool,
    desc: str,
    batch: int,
    show_progress: bool,
) -> None:
    """Adam on fresh training batches.

    ``head_only`` fits the mapping head alone: the loss is the response loss and only
    the head's rows of layer 2 move (their gradients are the only ones kept).
    """
    optimizer = torch.optim.Adam(module.parameters(), lr=2e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, iterations)
    bar = progress(range(iterations), desc, show_progress)
    for _ in bar:
        data_rng = np.random.default_rng(rng.integers(2**63))
        values = patches.sample_patches("train", batch, data_rng)
        counts = data_rng.poisson(v1_rates(values)).astype(np.float32)
        recon_loss, response_loss = _losses(module, values, counts, data_rng)
        loss = response_loss if head_only else recon_loss + response_weight * response_loss
        optimizer.zero_grad()
        loss.backward()
        if head_only:
            for name, param in module.named_parameters():
                if name.startswith("2."):
                    param.grad[RESPONSES:] = 0.0
                else:
                    param.grad = None
        optimizer.step()
        schedule.step()
        if show_progress:
            bar.set_postfix(recon=f"{recon_loss.item():.2f}", resp=f"{response_loss.item():.2f}")


def train(
    show_progress: bool = True,
    seed: int = 0,
    joint: bool = True,
    iterations: int = 1500,
    head_iterations: int = 500,
    batch: int = 64,
) -> torch.nn.Module:
    """Surrogate-gradient BPTT, jointly (the shipped model) or reconstruction first.

    Both variants take ``iterations + head_iterations`` steps in all: the joint model
    trains everything on reconstruction + response loss; the control trains the
    autoencoder on reconstruction, then only the mapping head's weights on responses.
    """
    module = build(seed=seed)
    rng = np.random.default_rng([seed, 2])
    options = {"batch": batch, "show_progress": show_progress}
    if joint:
        _fit(
            module,
            iterations + head_iterations,
            rng,
            response_weight=RESPONSE_WEIGHT,
            head_only=False,
            desc="train dae_nr (joint)",
            **options,
        )
        return module.eval()
    _fit(
        module,
        iterations,
        rng,
        response_weight=0.0,
        head_only=False,
        desc="train dae_nr (reconstruction)",
        **options,
    )
    _fit(
        module,
        head_iterations,
        rng,
        response_weight=0.0,
        head_only=True,
        desc="fit mapping head",
        **options,
    )
    return module.eval()


# --- metrics ------------------------------------------------------------------------


def split_outputs(outputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Outputs summed over the window -> (reconstruction ``[n, 256]``, predicted counts)."""
    total = np.asarray(outputs, dtype=np.float64).sum(axis=1).reshape(len(outputs), -1)
    return total[:, : patches.PIXELS], total[:, patches.PIXELS :]


def response_correlation(predicted: np.ndarray, measured: np.ndarray) -> float:
    """Mean over neurons of the Pearson correlation across stimuli (0 for a constant neuron)."""
    p = predicted - predicted.mean(axis=0)
    m = measured - measured.mean(axis=0)
    denom = np.sqrt((p**2).sum(axis=0) * (m**2).sum(axis=0))
    corr = np.divide((p * m).sum(axis=0), denom, out=np.zeros(p.shape[1]), where=denom > 0)
    return float(corr.mean())


def dissimilarities(responses: np.ndarray) -> np.ndarray:
    """Upper triangle of the RDM: Euclidean distances between stimuli, neurons z-scored.

    Euclidean rather than correlation distance, because a stimulus that silences
    every model neuron has no defined correlation.
    """
    std = responses.std(axis=0)
    z = (responses - responses.mean(axis=0)) / np.where(std > 0, std, 1.0)
    sq = (z**2).sum(axis=1)
    dist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * z @ z.T, 0.0))
    return dist[np.triu_indices(len(z), k=1)]


def rsa(responses_a: np.ndarray, responses_b: np.ndarray) -> float:
    """Spearman correlation of the two representations' dissimilarity matrices.

    0 when either representation does not distinguish the stimuli at all (a constant
    RDM has no rank order, so there is no similarity to measure).
    """
    a, b = dissimilarities(responses_a), dissimilarities(responses_b)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(spearmanr(a, b)[0])


def metrics(outputs: np.ndarray, data: Dataset) -> dict[str, float]:
    """Response prediction, reconstruction and representational similarity to "V1"."""
    recon, predicted = split_outputs(outputs)
    images = data.targets[:, : patches.PIXELS]
    measured = data.targets[:, patches.PIXELS :]
    return {
        "response_corr": response_correlation(predicted, measured),
        "recon_mse": float(np.mean((recon - images) ** 2)),
        "rsa": rsa(predicted, measured),
    }
