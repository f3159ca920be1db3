"""PilotNet LIF on Loihi 2: spikeforge's placement and cost model against Intel's measurement.

Reads ``../shared/anchors/pilotnet_lif/`` (network.net, image.npy; MEASURED.md holds
the figures copied below), places the network on ``loihi2.toml``, runs 16 steps of the
image-as-bias on the emulator (fixed point, netx's reset_interval=16, reset_offset=3),
counts and prices it, and prints cores per layer beside Intel's compiler (read from
``loihi2.toml``'s ``[calibration] layer_cores``) and throughput, dynamic and total
energy beside the measurement, with ratios.

``--fit`` also prints the calibration: the factors that scale Loihi 1's per-event
energy and core latency (Davies et al. 2018, Table 2) to reproduce the measurement,
and the counts for ``loihi2.toml``'s ``[calibration]`` section. The model is fitted
to this one network, so agreement here is by construction: it is a consistency
check of the fit, not a validation.
``python scripts/bench_pilotnet_cost.py [--anchor DIR] [--fit]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from spikeforge.compile.netx_plan import NetxOptions, load_netx_plan
from spikeforge.profile import load_hardware
from spikeforge.profile.anchor import layer_cores_table
from spikeforge.profile.energy import CORE_PIPELINES
from spikeforge.profile.stages import bias_driven_run

#: MEASURED.md: lava-dl's Loihi 2 benchmark notebook (Oheo Gulch, one chip).
MEASURED = {
    "throughput_per_s": 408.91,
    "dynamic_j": 1.093544e-3,
    "total_j": 1.661103e-3,
    "static_w": 0.232078,
}
STEPS = 16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--anchor", type=Path, default=Path("../shared/anchors/pilotnet_lif"))
    parser.add_argument("--fit", action="store_true", help="print the calibration fit")
    args = parser.parse_args()
    hardware = load_hardware("loihi2")
    compiled = load_netx_plan(args.anchor / "network.net", NetxOptions(STEPS, 3))
    image = np.load(args.anchor / "image.npy")[None]
    hw_run = bias_driven_run(compiled, image, STEPS, hardware, device="cpu")
    cost = hw_run.cost

    # Intel's per-layer cores: loihi2.toml's [calibration] layer_cores (MEASURED.md).
    table = layer_cores_table(hardware, compiled, hw_run.placement, STEPS)
    if table is None:
        raise SystemExit(f"{args.anchor}: not the network loihi2.toml was calibrated on")
    print(table)

    time = cost.latency.per_inference.value
    rows = [
        ("throughput (1/s)", 1 / time, MEASURED["throughput_per_s"]),
        ("dynamic energy (J)", cost.energy.dynamic.value, MEASURED["dynamic_j"]),
        ("total energy (J)", cost.energy.total.value, MEASURED["total_j"]),
    ]
    print(f"\nper inference ({STEPS} steps): spikeforge [{cost.energy.total.kind}] vs measured")
    for label, model, measured in rows:
        print(f"  {label:<20} {model:>11.4g} {measured:>11.4g}  ratio {model / measured:.3f}")
    for what, r in (("dynamic energy", cost.dynamic_range), ("time", cost.latency_range)):
        if r is not None:
            print(f"  {what} range {r.low:.4g} .. {r.high:.4g} {r.unit} ({r.basis})")
    print(f"  dominant event: {cost.dominant_event}")
    if args.fit:
        _fit(hw_run, hardware)


def _fit(hw_run, hardware) -> None:
    """Scale factors on the model's current figures that reproduce the measurement."""
    cost, activity = hw_run.cost, hw_run.activity
    step = 1 / MEASURED["throughput_per_s"] / STEPS
    overhead = float((cost.step_latency.total - cost.step_latency.slowest_core).mean())
    core_mean = float(cost.step_latency.slowest_core.mean())
    energy_scale = MEASURED["dynamic_j"] / cost.energy.dynamic.value
    latency_scale = (step - overhead) / core_mean
    print("\nfit (multiply the model's current figures):")
    print(f"  per-event energies x {energy_scale:.4f}")
    print(f"  per-event core latencies ({', '.join(c for p in CORE_PIPELINES for c in p)})"
          f" x {latency_scale:.4f}")  # fmt: skip
    cores = activity.cores
    updates = (cores.active_updates + cores.inactive_updates) / activity.batch
    print("[calibration] counts:")
    print(f"  step_time {step:.6g} s")
    print(f"  synaptic_ops {activity.total('synaptic_ops'):.6g}")
    updated = activity.total("active_updates") + activity.total("inactive_updates")
    print(f"  neuron_updates {updated:.6g}")
    ops = (cores.synaptic_ops / activity.batch).max(axis=1).mean()
    print(f"  busiest_synaptic_ops {float(ops):.6g}")
    print(f"  busiest_updates {float(updates.max(axis=1).mean()):.6g}")
    print(f"(hardware model: {hardware.name})")


if __name__ == "__main__":
    main()
