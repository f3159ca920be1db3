"""lowrank_ei's checkable claims: a non-convex function with <= 50 neurons, Dale's law on chip.

    .venv/bin/python scripts/claims_lowrank_ei.py [--test N] [--lava N]

Podlaski & Machens build rank-1 E/I spiking networks whose output is a difference of
two convex functions, so that 5-50 neurons approximate a non-convex input-output map
while every neuron keeps one sign (Dale's law). This script measures, on ``--test``
held-out ramps x(t) of :mod:`spikeforge.models.lowrank_ei`:

* the network: neurons, E/I split, the rank of each connectivity block;
* how well it computes f(x) = 0.6 + 0.4 sin(2 pi x): RMSE of the shipped network,
  against what is possible without the E/I construction (the best affine map of x,
  and the best convex or concave function of x, which one boundary alone can give),
  the target's own piecewise-linear floor and the construction before its
  discretisation correction;
* the metric at each stage: norse, reference, the bit-exact emulator of Lava
  (float / fixed point) on all ramps, and Lava itself on the first ``--lava``;
* Dale's law in the fixed-point plan, with one and with two weight planes.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch
from scipy.optimize import lsq_linear

from spikeforge.models import lowrank_ei as model
from spikeforge.models.examples import run_norse
from spikeforge.models.stages import export_and_compile
from spikeforge.models.zoo import load_trained
from spikeforge.runtimes import run


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def best_shape_fit(x: np.ndarray, y: np.ndarray, sign: int) -> float:
    """RMSE of the best convex (``sign=+1``) or concave (-1) function of ``x`` to ``y``.

    Any such function on [0, 1] is, to within the grid, ``a + b x + sign * sum_j c_j
    relu(x - k_j)`` with ``c_j >= 0`` on a fine knot grid: a bounded least-squares fit.
    """
    knots = np.linspace(0.0, 1.0, 101)[1:-1]
    basis = np.concatenate(
        [np.ones((len(x), 1)), x[:, None], sign * np.maximum(x[:, None] - knots[None, :], 0.0)],
        axis=1,
    )
    lower = np.r_[-np.inf, -np.inf, np.zeros(len(knots))]
    fit = lsq_linear(basis, y, bounds=(lower, np.full(basis.shape[1], np.inf)))
    return rmse(basis @ fit.x, y)


def structure(module: torch.nn.Module) -> None:
    recurrent = module[0].recurrent_weights.detach().numpy()
    e, i = slice(0, model.N_EXC), slice(model.N_EXC, model.N_NEURONS)
    print(
        f"network: {model.N_NEURONS} LIF neurons ({model.N_EXC} E, {model.N_INH} I), "
        f"{2 * model.CHANNEL} excitatory input neurons, LI readout"
    )
    for label, rows, cols in (("EE", e, e), ("EI", e, i), ("IE", i, e), ("II", i, i)):
        singular = np.linalg.svd(recurrent[rows, cols], compute_uv=False)
        signs = np.unique(np.sign(recurrent[rows, cols]))
        print(
            f"  W_{label}: rank-1 residual s2/s1 = {singular[1] / singular[0]:.1e}, "
            f"signs {signs.astype(int).tolist()}"
        )


def approximation(module: torch.nn.Module, n: int) -> None:
    data = model.make_data("test", n)
    x = model.ramps("test", n)[:, model.LEAD_STEPS :].ravel()
    truth = data.targets[:, model.LEAD_STEPS :].ravel()
    out = run_norse(module, torch.as_tensor(data.inputs, dtype=torch.float64)).numpy()
    uncorrected = model.build().double()
    model._load(uncorrected, model.construct(model.target(model.knots())))
    raw = run_norse(uncorrected, torch.as_tensor(data.inputs, dtype=torch.float64)).numpy()
    design = np.stack([np.ones_like(x), x], axis=1)
    affine = design @ np.linalg.lstsq(design, truth, rcond=None)[0]
    interp = np.interp(x, model.knots(), model.target(model.knots()))
    print(
        f"\nf(x) on {n} held-out ramps ({len(x)} scored steps), RMSE (target std "
        f"{truth.std():.3f}):"
    )
    rows = [
        ("shipped network (norse)", model.metrics(out, data)["rmse"]),
        ("construction without the correction passes", model.metrics(raw, data)["rmse"]),
        ("best affine function of x", rmse(affine, truth)),
        ("best convex function of x (one boundary)", best_shape_fit(x, truth, +1)),
        ("best concave function of x (one boundary)", best_shape_fit(x, truth, -1)),
        (f"floor: {model.SEGMENTS}-segment interpolation of f", rmse(interp, truth)),
    ]
    for label, value in rows:
        print(f"  {label:<46} {value:.4f}")


def stages(module: torch.nn.Module, n: int, n_lava: int) -> None:
    data = model.make_data("test", n)
    calibration = model.make_data("train", 32).inputs
    compiled = export_and_compile(module, model.CARD, calibration)
    norse_out = run_norse(module, torch.as_tensor(data.inputs, dtype=torch.float64)).numpy()
    print(f"\nRMSE per stage ({n} ramps; Lava on the first {n_lava}):")
    rows = [("norse", norse_out, data)]
    rows.append(("reference", run(compiled, data.inputs, backend="reference").output, data))
    for precision in ("float", "fixed"):
        out = run(compiled, data.inputs, backend="emulator", precision=precision).output
        rows.append((f"emulator {precision}", out, data))
    small = data.subset(n_lava)
    rows.append(("norse (Lava subset)", norse_out[:n_lava], small))
    for precision in ("float", "fixed"):
        out = run(compiled, small.inputs, backend="lava", precision=precision, show_progress=True)
        rows.append((f"Lava {precision}", out.output, small))
    for label, out, subset in rows:
        scores = model.metrics(out, subset)
        print(f"  {label:<22} rmse {scores['rmse']:.4f}  bias {scores['bias']:+.4f}")


def dale(module: torch.nn.Module, n: int) -> None:
    print("\nDale's law in the fixed-point plan (synapses of the wrong sign):")
    calibration = model.make_data("train", 32).inputs
    data = model.make_data("test", n)
    for planes in (1, 2):
        compiled = export_and_compile(module, model.CARD, calibration, weight_planes=planes)
        plan = compiled.fixed_plan
        (population,) = [p for p, pop in plan.populations.items() if pop.spiking]
        (source,) = plan.inputs
        recurrent = model.dale_violations(plan, population)
        inputs = model.dale_violations(plan, population, source)
        out = run(compiled, data.inputs, backend="emulator", precision="fixed").output
        print(
            f"  weight planes {planes}: recurrent effective {recurrent['effective']}/"
            f"{recurrent['synapses']}, per plane {recurrent['per_plane']}; input effective "
            f"{inputs['effective']}/{inputs['synapses']}, per plane {inputs['per_plane']}; "
            f"fixed-point RMSE {model.metrics(out, data)['rmse']:.4f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test", type=int, default=32, help="held-out ramps")
    parser.add_argument("--lava", type=int, default=4, help="ramps also run on Lava")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    module = load_trained("lowrank_ei").double()
    structure(module)
    approximation(module, args.test)
    stages(module, args.test, min(args.lava, args.test))
    dale(module, args.test)
    return 0


if __name__ == "__main__":
    sys.exit(main())
