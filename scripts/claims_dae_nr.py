"""dae_nr's checkable claim: joint training with neural responses, against reconstruction alone.

    .venv/bin/python scripts/claims_dae_nr.py [--test N] [--lava N] [--retrain]

Ran et al. report that only joint learning (reconstruction + predicting V1 responses
from a hidden layer) improves both reconstruction and the representational
similarity to the recorded neurons. The recordings are replaced by the synthetic
Gabor "V1" of :mod:`spikeforge.models.dae_nr`. Two networks of the same architecture
and training budget are compared:

* joint: the shipped model, trained on reconstruction + response loss;
* reconstruction only: the autoencoder trained on reconstruction, then the mapping
  head fitted to the responses on the frozen hidden layer (the shipped control
  checkpoint, or ``--retrain`` to train both afresh, about 10 minutes).

Both are measured in norse on ``--test`` held-out patches: response correlation,
reconstruction MSE, RSA of the mapping head's predictions and of the hidden layer
with the synthetic responses; then both are deployed at Lava fixed point on the
first ``--lava`` patches to show the claim survives deployment.
"""

from __future__ import annotations

import argparse
import copy
import sys

import numpy as np
import torch

from spikeforge.checkpoint import load_checkpoint
from spikeforge.models import dae_nr, patches
from spikeforge.models.stages import export_and_compile
from spikeforge.models.zoo import load_trained
from spikeforge.runtimes import run
from spikeforge.tables import print_figure_table


def source_row(module: torch.nn.Module, data) -> dict[str, float]:
    """The task metrics plus hidden-layer RSA and spike counts, in norse."""
    with torch.no_grad():
        hidden, top = dae_nr.layer_spikes(module, torch.as_tensor(data.inputs))
        outputs = module[4](top).numpy()
    scores = dae_nr.metrics(outputs, data)
    measured = data.targets[:, patches.PIXELS :]
    images = data.targets[:, : patches.PIXELS]
    return {
        "response corr": scores["response_corr"],
        "recon MSE": scores["recon_mse"],
        "explained var": 1 - scores["recon_mse"] / float(np.mean(images**2)),
        "RSA (head)": scores["rsa"],
        "RSA (hidden layer)": dae_nr.rsa(hidden.sum(dim=1).numpy(), measured),
        "spikes/patch": float((hidden.sum(dim=(1, 2)) + top.sum(dim=(1, 2))).mean()),
    }


def deployed_row(module: torch.nn.Module, data, n: int) -> dict[str, float]:
    """Task metrics in norse and at Lava fixed point on the first ``n`` patches."""
    subset = data.subset(n)
    calibration = dae_nr.make_data("train", 32).inputs
    compiled = export_and_compile(copy.deepcopy(module).double(), dae_nr.CARD, calibration)
    lava = dae_nr.metrics(
        run(compiled, subset.inputs, backend="lava", precision="fixed", show_progress=True).output,
        subset,
    )
    with torch.no_grad():
        _, top = dae_nr.layer_spikes(module, torch.as_tensor(subset.inputs))
        norse = dae_nr.metrics(module[4](top).numpy(), subset)
    return {
        "norse response corr": norse["response_corr"],
        "lava fixed response corr": lava["response_corr"],
        "norse recon MSE": norse["recon_mse"],
        "lava fixed recon MSE": lava["recon_mse"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test", type=int, default=1000, help="held-out patches (norse)")
    parser.add_argument("--lava", type=int, default=8, help="patches run at Lava fixed point")
    parser.add_argument("--retrain", action="store_true", help="train both models afresh")
    args = parser.parse_args(argv)

    if args.retrain:
        models = {
            "joint (retrained)": dae_nr.train(joint=True),
            "reconstruction only (retrained)": dae_nr.train(joint=False),
        }
    else:
        models = {
            "joint (shipped)": load_trained("dae_nr"),
            "reconstruction only (control)": load_checkpoint(dae_nr.CONTROL_CHECKPOINT),
        }
    data = dae_nr.make_data("test", args.test)
    print_figure_table(
        f"{args.test} held-out whitened 16x16 patches, {dae_nr.STEPS} steps, "
        f"{dae_nr.RESPONSES} synthetic V1 neurons (norse)",
        {name: source_row(module, data) for name, module in models.items()},
    )
    values = data.targets[:, : patches.PIXELS].reshape(-1, patches.PATCH, patches.PATCH)
    ceiling = dae_nr.response_correlation(
        dae_nr.v1_rates(values), data.targets[:, patches.PIXELS :]
    )
    print(f"noise ceiling (expected counts vs Poisson counts): response corr {ceiling:.4g}")
    if args.lava:
        print_figure_table(
            f"deployed: first {args.lava} patches, Lava Loihi2SimCfg fixed_pt vs norse",
            {name: deployed_row(module, data, args.lava) for name, module in models.items()},
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
