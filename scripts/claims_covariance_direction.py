"""covariance_direction's checkable claim: direction decoded from input correlations alone.

    .venv/bin/python scripts/claims_covariance_direction.py [--test N] [--lava N] [--retrain]

Zhu et al. encode motion direction only in the covariance of sensory neurons (equal
mean rates for every direction) and show that a spiking network recovers it. This
script measures, over ``--test`` evenly spaced held-out directions:

* the data: pooled and per-neuron mean rates for several directions, and what a
  decoder can get from rates alone (ridge regression of spike counts) against one
  matched to the generator's covariance (an upper bound);
* the shipped network's direction error with correlated inputs, and on the control
  without correlations (independent spikes at the same rates), for the shipped
  network and for one trained on the control (the shipped control checkpoint, or
  ``--retrain`` to train both afresh, about 2 x 2 minutes);
* the shipped network at each stage: norse, reference, the bit-exact emulator of
  Lava fixed point on all directions, and Lava fixed point on the first ``--lava``.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from spikeforge.checkpoint import load_checkpoint
from spikeforge.models import covariance_direction as model
from spikeforge.models.examples import run_norse
from spikeforge.models.stages import export_and_compile
from spikeforge.models.zoo import CHECKPOINTS, load_trained
from spikeforge.runtimes import run

CONTROL_CHECKPOINT = CHECKPOINTS / "covariance_direction_uncorrelated.pt"


def norse_error(module: torch.nn.Module, data) -> float:
    out = run_norse(module, torch.as_tensor(data.inputs, dtype=torch.float64)).numpy()
    return model.metrics(out, data)["direction_error"]


def data_checks(n: int) -> None:
    rng = np.random.default_rng(1)
    trials = 256
    print(
        f"mean input rate per direction ({trials} trials x {model.STEPS} steps; target "
        f"{model.RATE}):"
    )
    per_neuron = []
    for angle in np.radians([0, 60, 135, 180, 270]):
        spikes = model.spikes(np.full(trials, angle), rng)
        per_neuron.append(spikes.mean(axis=(0, 1)))
        print(f"  {np.degrees(angle):5.0f} deg: pooled {spikes.mean():.4f}")
    again = model.spikes(np.full(trials, np.radians(270)), rng).mean(axis=(0, 1))
    across = np.abs(per_neuron[0] - per_neuron[-1])
    within = np.abs(per_neuron[-1] - again)
    print(
        f"  per-neuron |rate difference|, 0 vs 270 deg: mean {across.mean():.4f}, max "
        f"{across.max():.4f}; two draws at 270 deg (sampling noise): mean {within.mean():.4f}, "
        f"max {within.max():.4f}"
    )
    train = model.make_data("train", 400, seed=3)
    test = model.make_data("test", n, seed=3)
    design = np.c_[train.inputs.sum(axis=1), np.ones(len(train))]
    goal = np.stack([np.cos(train.targets), np.sin(train.targets)], axis=1)
    readout = np.linalg.solve(design.T @ design + 10 * np.eye(design.shape[1]), design.T @ goal)
    linear = np.c_[test.inputs.sum(axis=1), np.ones(len(test))] @ readout
    linear_error = model.angle_errors(np.arctan2(linear[:, 1], linear[:, 0]), test.targets)
    candidates = np.linspace(0, 2 * np.pi, 360, endpoint=False)
    centred = test.inputs - model.RATE
    power = (np.einsum("nti,cmi->ntcm", centred, model.grating_modes(candidates)) ** 2).sum(
        axis=(1, 3)
    )
    power_error = model.angle_errors(candidates[power.argmax(axis=1)], test.targets)
    print(f"\ndecoders on the inputs ({n} directions, mean abs error; chance 90 deg):")
    print(f"  rates only (ridge on 400 trials' spike counts)  {linear_error.mean():6.1f} deg")
    print(f"  matched to the covariance (upper bound)        {power_error.mean():6.1f} deg")


def control(shipped: torch.nn.Module, n: int, retrain: bool) -> None:
    if retrain:
        correlated_net = model.train(show_progress=True).double()
        control_net = model.train(show_progress=True, correlated=False).double()
    else:
        correlated_net = shipped
        control_net = load_checkpoint(CONTROL_CHECKPOINT).double()
    with_corr = model.make_data("test", n)
    without = model.make_data("test", n, correlated=False)
    print(f"\ndirection error in norse ({n} held-out directions, mean abs; chance 90 deg):")
    print(
        f"  trained on correlated inputs,   tested on correlated   "
        f"{norse_error(correlated_net, with_corr):6.1f} deg"
    )
    print(
        f"  trained on correlated inputs,   tested on uncorrelated "
        f"{norse_error(correlated_net, without):6.1f} deg"
    )
    print(
        f"  trained on uncorrelated inputs, tested on uncorrelated "
        f"{norse_error(control_net, without):6.1f} deg"
    )


def stages(module: torch.nn.Module, n: int, n_lava: int) -> None:
    data = model.make_data("test", n)
    compiled = export_and_compile(module, model.CARD, model.make_data("train", 32).inputs)
    norse_out = run_norse(module, torch.as_tensor(data.inputs, dtype=torch.float64)).numpy()
    small = data.subset(n_lava)
    lava = run(compiled, small.inputs, backend="lava", precision="fixed", show_progress=True)
    rows = [
        ("norse", norse_out, data),
        ("reference", run(compiled, data.inputs, backend="reference").output, data),
        (
            "emulator fixed",
            run(compiled, data.inputs, backend="emulator", precision="fixed").output,
            data,
        ),
        (f"norse (first {n_lava})", norse_out[:n_lava], small),
        (f"Lava fixed (first {n_lava})", lava.output, small),
    ]
    print("\ndirection error per stage (shipped network):")
    for label, out, subset in rows:
        scores = model.metrics(out, subset)
        print(
            f"  {label:<24} mean {scores['direction_error']:6.2f} deg, median "
            f"{scores['median_error']:6.2f} deg, within 15 deg {scores['within_15deg']:5.1f} %"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test", type=int, default=50, help="held-out directions")
    parser.add_argument("--lava", type=int, default=8, help="directions also run on Lava")
    parser.add_argument("--retrain", action="store_true", help="train both networks afresh")
    args = parser.parse_args(argv)
    shipped = load_trained("covariance_direction").double()
    data_checks(args.test)
    control(shipped, args.test, args.retrain)
    stages(shipped, args.test, min(args.lava, args.test))
    return 0


if __name__ == "__main__":
    sys.exit(main())
