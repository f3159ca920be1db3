"""poisson_vae's checkable claims: a sparse code from the metabolic cost, and linear-probe
sample efficiency of the spike-count latents.

    .venv/bin/python scripts/claims_poisson_vae.py [--test N] [--repeats R] [--lava N] [--retrain]

The paper (Vafaii et al. 2024) finds that the Poisson KL term acts as a metabolic
cost that makes the P-VAE a sparse coder, and that its latents classify with about
5x better sample efficiency than continuous-latent VAEs. Here:

* sparsity: the shipped model (cost ``lambda`` per spike) against the same network
  trained without the cost (the shipped control checkpoint, or ``--retrain``), on
  held-out whitened patches in norse, and the shipped model deployed at Lava fixed
  point on the first ``--lava`` of them;
* sample efficiency: sklearn's 8x8 digits, bilinearly upsampled to 16x16 and put
  through the same pipeline as the patches (whitening, ON/OFF rate code, encoder),
  then a logistic-regression probe on ``n`` labels, for latent spike counts and for
  raw pixels, averaged over ``--repeats`` seeded draws of the labelled set.
"""

from __future__ import annotations

import argparse
import copy
import sys

import numpy as np
import torch
from scipy.ndimage import zoom
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from spikeforge.checkpoint import load_checkpoint
from spikeforge.models import patches, poisson_vae
from spikeforge.models.stages import export_and_compile
from spikeforge.models.zoo import load_trained
from spikeforge.progress import progress
from spikeforge.runtimes import run
from spikeforge.tables import print_figure_table

LABELS = (10, 20, 50, 100, 200, 500, 1000)
DIGITS_TEST = 597
TARGET_ACCURACY = 0.9


def latent_counts(module: torch.nn.Module, inputs: np.ndarray) -> np.ndarray:
    """Spike counts ``[n, K]`` of the encoder in norse, in batches."""
    counts = []
    with torch.no_grad():
        for start in range(0, len(inputs), 250):
            batch = torch.as_tensor(inputs[start : start + 250])
            counts.append(poisson_vae.latent_spikes(module, batch).sum(dim=1).numpy())
    return np.concatenate(counts)


def sparsity_row(module: torch.nn.Module, data) -> dict[str, float]:
    counts = latent_counts(module, data.inputs)
    with torch.no_grad():
        recon = module[2](torch.as_tensor(counts)).numpy()[:, None]
    scores = poisson_vae.metrics(recon, data)
    return {
        "explained var": scores["explained_variance"],
        "recon MSE": scores["recon_mse"],
        "spikes/patch": counts.sum(axis=1).mean(),
        "silent latents/patch %": 100 * (counts == 0).mean(),
        "never active %": 100 * (counts.sum(axis=0) == 0).mean(),
    }


def deployed_row(module: torch.nn.Module, data, n: int) -> dict[str, float]:
    """The shipped model at Lava fixed point against norse, on the first ``n`` patches."""
    subset = data.subset(n)
    calibration = poisson_vae.make_data("train", 32).inputs
    compiled = export_and_compile(copy.deepcopy(module).double(), poisson_vae.CARD, calibration)
    (latent,) = [name for name, p in compiled.network.populations.items() if p.spiking]
    result = run(
        compiled,
        subset.inputs,
        backend="lava",
        precision="fixed",
        record=[latent],
        show_progress=True,
    )
    norse_counts = latent_counts(module, subset.inputs)
    lava_counts = result.spikes[latent].sum(axis=1)
    with torch.no_grad():
        norse_out = module[2](torch.as_tensor(norse_counts)).numpy()[:, None]
    return {
        "norse recon MSE": poisson_vae.metrics(norse_out, subset)["recon_mse"],
        "lava fixed recon MSE": poisson_vae.metrics(result.output, subset)["recon_mse"],
        "norse spikes/patch": norse_counts.sum(axis=1).mean(),
        "lava fixed spikes/patch": lava_counts.sum(axis=1).mean(),
        "latent counts equal %": 100 * (norse_counts == lava_counts).mean(),
    }


def digits_as_patches() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(raw 8x8 pixels ``[n, 64]``, 16x16 whitened images in [-1, 1], labels)."""
    digits = load_digits()
    upsampled = np.stack([zoom(image, 2, order=1) for image in digits.images])
    whitened = np.stack([np.clip(patches.whiten(im) / patches.CLIP, -1, 1) for im in upsampled])
    return digits.data, whitened, digits.target


def probe_accuracy(features: np.ndarray, labels: np.ndarray, n: int, repeats: int) -> float:
    """Mean held-out accuracy of a logistic-regression probe trained on ``n`` labels.

    Features are square-rooted (counts' variance-stabilising transform, applied to
    every representation alike) and scaled by one global factor, so one
    regularisation strength suits them all.
    """
    order = np.random.default_rng(1).permutation(len(labels))
    test, pool = order[:DIGITS_TEST], order[DIGITS_TEST:]
    x = np.sqrt(features)
    x = x / x[pool].std()
    scores = []
    for r in range(repeats):
        chosen = np.random.default_rng([n, r]).choice(pool, n, replace=False)
        probe = LogisticRegression(max_iter=5000).fit(x[chosen], labels[chosen])
        scores.append(probe.score(x[test], labels[test]))
    return float(np.mean(scores))


def labels_to_reach(accuracies: list[float], target: float) -> float:
    """Labels needed for ``target`` accuracy, interpolated in log(labels); inf if never."""
    for i in range(1, len(LABELS)):
        lo, hi = accuracies[i - 1], accuracies[i]
        if hi >= target > lo:
            w = (target - lo) / (hi - lo)
            return float(np.exp(np.log(LABELS[i - 1]) + w * np.log(LABELS[i] / LABELS[i - 1])))
    return float(LABELS[0]) if accuracies[0] >= target else float("inf")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test", type=int, default=1000, help="held-out patches (norse)")
    parser.add_argument("--lava", type=int, default=8, help="patches run at Lava fixed point")
    parser.add_argument("--repeats", type=int, default=5, help="labelled-set draws per size")
    parser.add_argument("--retrain", action="store_true", help="train both models afresh")
    args = parser.parse_args(argv)
    torch.manual_seed(0)

    cost = f"cost {poisson_vae.METABOLIC_COST:g}/spike"
    if args.retrain:
        models = {
            f"{cost} (retrained)": poisson_vae.train(),
            "no cost (retrained)": poisson_vae.train(metabolic_cost=0.0),
        }
    else:
        models = {
            f"{cost} (shipped)": load_trained("poisson_vae"),
            "no cost (control)": load_checkpoint(poisson_vae.CONTROL_CHECKPOINT),
        }
    data = poisson_vae.make_data("test", args.test)
    print_figure_table(
        f"sparsity: {args.test} held-out whitened 16x16 patches, {poisson_vae.STEPS} steps, "
        f"{poisson_vae.LATENTS} latents (norse)",
        {name: sparsity_row(module, data) for name, module in models.items()},
    )
    if args.lava:
        shipped = next(iter(models.values()))
        print_figure_table(
            f"deployed: first {args.lava} patches, Lava Loihi2SimCfg fixed_pt vs norse",
            {next(iter(models)): deployed_row(shipped, data, args.lava)},
        )

    pixels, images, labels = digits_as_patches()
    spikes = patches.encode(images, poisson_vae.STEPS, np.random.default_rng(0))
    representations = {"raw pixels (8x8)": pixels, "input spike counts (2x256)": spikes.sum(1)}
    for name, module in models.items():
        representations[f"latents, {name}"] = latent_counts(module, spikes)
    accuracy: dict[str, list[float]] = {}
    jobs = [(name, n) for name in representations for n in LABELS]
    for name, n in progress(jobs, "linear probes"):
        accuracy.setdefault(name, []).append(
            probe_accuracy(representations[name], labels, n, args.repeats)
        )
    width = max(len(name) for name in accuracy)
    print(
        f"\nlinear probe on sklearn digits (test {DIGITS_TEST} digits, mean of {args.repeats} "
        "labelled sets): accuracy vs labels"
    )
    print(" " * width + "".join(f"{n:>7}" for n in LABELS) + f"   labels for {TARGET_ACCURACY:.0%}")
    base = labels_to_reach(accuracy["raw pixels (8x8)"], TARGET_ACCURACY)
    for name, values in accuracy.items():
        needed = labels_to_reach(values, TARGET_ACCURACY)
        print(
            f"{name:<{width}}"
            + "".join(f"{v:>7.3f}" for v in values)
            + f"   {needed:>6.0f} ({base / needed:.2f}x pixels' efficiency)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
