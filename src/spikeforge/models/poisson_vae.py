"""poisson_vae: a spiking encoder whose spike counts are the latents of a linear decoder.

Vafaii, Galor & Yates' P-VAE encodes a whitened image patch into Poisson spike counts
and decodes it linearly; the KL term of Poisson latents, ``r (1 - dr + dr log dr)``,
acts as a metabolic cost on the rates, which is why the model becomes a sparse coder.
Here the counts are produced by a real spiking layer: ``Linear 512 -> K -> LIF`` run
for ``T`` steps on the ON/OFF spike code of the patch (:mod:`spikeforge.models.patches`),
and the loss is ``||x - D n||^2 + lambda * sum(n)`` with ``n`` the spike counts — the
metabolic cost made literal. The decoder ``D`` is the trailing ``Linear``, which
spikeforge evaluates on the host (the paper's decoder is not part of the "brain"
either): its per-step output ``D z_t`` summed over the window is the reconstruction.
"""

from __future__ import annotations

import norse.torch as norse
import numpy as np
import torch

from spikeforge.models import patches
from spikeforge.models.zoo import CHECKPOINTS, Dataset, ModelCard
from spikeforge.progress import progress

STEPS = 50
DT = 1e-3
#: dt/tau_syn = 1/4 and dt/tau_mem = 1/8: exact in Loihi's 12-bit decays.
TAU_SYN_INV = 250.0
TAU_MEM_INV = 125.0
LATENTS = 256
#: Metabolic cost per spike, in units of summed squared pixel error (patch values in [-1, 1]).
METABOLIC_COST = 0.005
#: The control for the sparsity claim: ``train(metabolic_cost=0)``, shipped so the claim
#: needs no training.
CONTROL_CHECKPOINT = CHECKPOINTS / "poisson_vae_no_cost.pt"

CARD = ModelCard(
    name="poisson_vae",
    paper="Vafaii, Galor & Yates, Poisson Variational Autoencoder, NeurIPS 2024 (arXiv 2405.14473)",
    description="spiking encoder of whitened 16x16 natural-image patches; spike counts are "
    "the latents of a host-side linear decoder, with a metabolic cost per spike",
    metric="recon_mse",
    higher_is_better=False,
    dt=DT,
    input_shape=(patches.CHANNELS,),
)

_SPLIT_SEED = {"train": 0, "test": 1}


def build(latents: int = LATENTS, seed: int = 0) -> torch.nn.Module:
    """``Linear(512, K) -> LIFCell -> Linear(K, 256)``: encoder, spiking latents, decoder."""
    torch.manual_seed(seed)
    params = norse.LIFParameters(
        tau_syn_inv=torch.tensor(TAU_SYN_INV),
        tau_mem_inv=torch.tensor(TAU_MEM_INV),
        v_th=torch.tensor(1.0),
    )
    return norse.SequentialState(
        torch.nn.Linear(patches.CHANNELS, latents),
        norse.LIFCell(params, dt=DT),
        torch.nn.Linear(latents, patches.PIXELS, bias=False),
    )


def make_data(split: str, n: int, seed: int = 0) -> Dataset:
    """``n`` whitened patches of ``split``: ON/OFF spike trains and the flattened patch."""
    rng = np.random.default_rng([seed, _SPLIT_SEED[split]])
    values = patches.sample_patches(split, n, rng)
    return Dataset(
        inputs=patches.encode(values, STEPS, rng),
        targets=values.reshape(n, patches.PIXELS).astype(np.float32),
    )


def latent_spikes(module: torch.nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """The encoder's spikes ``[batch, time, K]`` (differentiable: training uses it too)."""
    encoder, lif = module[0], module[1]
    state = None
    spikes = []
    for t in range(inputs.shape[1]):
        z, state = lif(encoder(inputs[:, t]), state)
        spikes.append(z)
    return torch.stack(spikes, dim=1)


def train(
    show_progress: bool = True,
    seed: int = 0,
    metabolic_cost: float = METABOLIC_COST,
    iterations: int = 1500,
    batch: int = 64,
) -> torch.nn.Module:
    """Surrogate-gradient BPTT on fresh training patches every iteration.

    ``metabolic_cost = 0`` trains the same network without the spike penalty, which
    the claims script uses to show what the penalty does.
    """
    module = build(seed=seed)
    decoder = module[2]
    optimizer = torch.optim.Adam(module.parameters(), lr=2e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, iterations)
    rng = np.random.default_rng([seed, 2])
    bar = progress(range(iterations), "train poisson_vae", show_progress)
    for _ in bar:
        data_rng = np.random.default_rng(rng.integers(2**63))
        values = patches.sample_patches("train", batch, data_rng)
        inputs = torch.as_tensor(patches.encode(values, STEPS, data_rng))
        target = torch.as_tensor(values.reshape(batch, -1), dtype=torch.float32)
        counts = latent_spikes(module, inputs).sum(dim=1)
        error = (decoder(counts) - target).pow(2).sum(dim=1).mean()
        loss = error + metabolic_cost * counts.sum(dim=1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if show_progress:
            bar.set_postfix(sq_err=f"{error.item():.2f}", spikes=f"{counts.sum(1).mean():.0f}")
    return module.eval()


def reconstruct(outputs: np.ndarray) -> np.ndarray:
    """The decoded patch ``[n, 256]``: the per-step decoder outputs summed over the window."""
    return np.asarray(outputs, dtype=np.float64).sum(axis=1).reshape(len(outputs), -1)


def metrics(outputs: np.ndarray, data: Dataset) -> dict[str, float]:
    """Reconstruction MSE per pixel, and the fraction of the patches' variance it explains."""
    targets = np.asarray(data.targets, dtype=np.float64)
    error = reconstruct(outputs) - targets
    return {
        "recon_mse": float(np.mean(error**2)),
        "explained_variance": float(1.0 - np.sum(error**2) / np.sum(targets**2)),
    }
