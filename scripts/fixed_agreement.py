"""How closely Loihi fixed point follows floating point, spike for spike, per quantiser setting.

For each example network (the spine's test networks): the norse module is exported
to NIR, compiled, and run at ``float`` and ``fixed`` precision on the same unseen
random spike inputs, on the emulator (bit-exact with Lava's ``fixed_pt`` and equal
to its ``floating_pt``; ``tests/test_emulator.py``). The settings, side by side:

* ``1 plane, bounds``: one 8-bit synapse process per connection, scales from
  worst-case bounds (no calibration);
* ``2 planes, bounds``: weights and their remainder as two processes;
* ``2 planes, calibrated`` (the default): scales from the state ranges seen on
  separate calibration inputs;
* ``3 planes, calibrated``: the remainder split again into whole units of synaptic
  input and fractions that are summed before they are rounded, with a pacemaker.

Figures per network: the share of output entries (sample, step, neuron) that are
equal ("agree"), the share of float output spikes that fixed point reproduces at the
same step ("spikes kept"), and the share of samples whose output is identical.
A "state range" table then shows, per population, how much of Loihi's 24-bit
state the calibrated scale gives to one unit of synaptic input.

    .venv/bin/python scripts/fixed_agreement.py [--samples 128] [--steps 100]
"""

from __future__ import annotations

import argparse

import torch

from spikeforge.compile import compile_network
from spikeforge.export import to_nir
from spikeforge.ir import from_nir
from spikeforge.models.examples import EXAMPLES, random_spikes
from spikeforge.profile.agreement import spike_agreement
from spikeforge.runtimes import run
from spikeforge.runtimes.reference import calibrate_on
from spikeforge.tables import print_figure_table

SETTINGS = {
    "1 plane, bounds": {"weight_planes": 1, "calibrated": False},
    "2 planes, bounds": {"weight_planes": 2, "calibrated": False},
    "2 planes, calibrated": {"weight_planes": 2, "calibrated": True},
    "3 planes, calibrated": {"weight_planes": 3, "calibrated": True},
}
#: The setting whose per-population state range is printed (the default one; the
#: third plane leaves the scales as they are).
REPORTED = "2 planes, calibrated"


def measure(name: str, samples: int, steps: int) -> tuple[dict[str, dict[str, float]], str]:
    factory, shape = EXAMPLES[name]
    graph = to_nir(factory().double(), torch.zeros(shape, dtype=torch.float64), dt=1e-3)
    inputs, calibration = random_spikes(name, samples, steps)
    figures: dict[str, dict[str, float]] = {}
    report = ""
    for setting, options in SETTINGS.items():
        compiled = compile_network(
            from_nir(graph),
            weight_planes=options["weight_planes"],
            calibration=calibrate_on(calibration) if options["calibrated"] else None,
        )
        floating = run(compiled, inputs, backend="emulator", precision="float").output
        fixed = run(compiled, inputs, backend="emulator", precision="fixed").output
        kept = float(((floating == 1) & (fixed == 1)).sum() / max(floating.sum(), 1))
        identical = (floating == fixed).reshape(samples, -1).all(axis=1).mean()
        figures[setting] = {
            "agree": spike_agreement(fixed, floating),
            "spikes kept": kept,
            "samples identical": float(identical),
        }
        if setting == REPORTED:
            report = "\n".join(
                f"  {r.population}: threshold = {r.vth} input units, voltage floor "
                f"{r.v_floor:.3g} (weight error rms {r.weight_error_rms:.1e})"
                for r in compiled.quant_report
            )
    return figures, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    results = {name: measure(name, args.samples, args.steps) for name in EXAMPLES}
    for figure in ("agree", "spikes kept", "samples identical"):
        rows = {
            name: {setting: row[figure] for setting, row in figures.items()}
            for name, (figures, _) in results.items()
        }
        print_figure_table(
            f"fixed vs float: {figure} ({args.samples} samples x {args.steps} steps)", rows
        )
    print(f"\nstate range, {REPORTED}:")
    for name, (_, report) in results.items():
        print(f"{name}\n{report}")


if __name__ == "__main__":
    main()
