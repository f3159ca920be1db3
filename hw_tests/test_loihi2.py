"""On a Loihi 2 chip: bit-exact against Lava's CPU simulation, and measured.

For every spine test network (:data:`spikeforge.models.examples.EXAMPLES`) and every zoo
model whose trained checkpoint ships, every population's spikes and voltages at every
hardware step must be equal on Lava's CPU ``fixed_pt`` models, spikeforge's emulator
and the chip — the check lava-dnf's Loihi 2 acceptance tests make. Energy and time per
inference, as lava-loihi's profilers measure them, are recorded beside the hardware
model's estimate for the same activity: as junit properties (``--junitxml``), on
stdout (``-s``) and, with ``SPIKEFORGE_HW_REPORT=path.jsonl``, one JSON line per case.

conftest.py skips all of this unless ``RUN_LOIHI_TESTS=1`` and lava-loihi imports.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from spikeforge.compile import compile_network
from spikeforge.compile.network import Connection, Network, Population, Readout
from spikeforge.export import to_nir
from spikeforge.ir import from_nir
from spikeforge.models.examples import EXAMPLES
from spikeforge.models.zoo import ZOO, checkpoint_path
from spikeforge.profile import ActivityCounter, estimate, load_hardware, place
from spikeforge.runtimes import run
from spikeforge.runtimes.loihi2 import INPUT_ADAPTER_LATENCY, OUTPUT_ADAPTER_LATENCY

STEPS = 50
BATCH = 2
CASES = [f"example/{name}" for name in sorted(EXAMPLES)] + [
    f"zoo/{name}" for name in ZOO if checkpoint_path(name).is_file()
]


def _example(name: str):
    factory, shape = EXAMPLES[name]
    sample = torch.zeros(shape, dtype=torch.float64)
    rng = np.random.default_rng(sum(map(ord, name)))
    inputs = (rng.random((BATCH, STEPS, *shape)) < 0.2).astype(np.float64)
    calibration = (rng.random((4, STEPS, *shape)) < 0.2).astype(np.float64)
    graph = from_nir(to_nir(factory().double(), sample, dt=1e-3))
    return compile_network(graph, calibration=calibration), inputs


def _zoo(name: str):
    from spikeforge.models.stages import export_and_compile
    from spikeforge.models.zoo import get, load_trained

    model = get(name)
    calibration = model.make_data("train", 4).inputs
    compiled = export_and_compile(load_trained(name).double(), model.CARD, calibration)
    return compiled, np.asarray(model.make_data("test", BATCH).inputs, dtype=np.float64)


@pytest.fixture(scope="module", params=CASES)
def case(request):
    """One network on the CPU simulator and on the chip (counted for the estimate)."""
    kind, name = request.param.split("/")
    compiled, inputs = _example(name) if kind == "example" else _zoo(name)
    populations = list(compiled.network.populations)
    cpu = run(compiled, inputs, "lava", "fixed", record=populations, raw_timing=True)
    hardware = load_hardware("loihi2")
    placement = place(compiled.fixed_plan, hardware)
    counter = ActivityCounter(compiled.fixed_plan, placement)
    chip = run(compiled, inputs, "loihi2", record=populations, raw_timing=True, on_step=counter)
    cost = estimate(counter.result(), placement, hardware)
    return request.param, compiled, inputs, cpu, chip, cost


def _assert_same(name: str, expected, actual, label: str) -> None:
    assert actual.steps == expected.steps
    assert any(s.any() for s in expected.spikes.values()), f"{name} never spikes: proves nothing"
    for pop, spikes in expected.spikes.items():
        np.testing.assert_array_equal(actual.spikes[pop], spikes, err_msg=f"{label} {pop} spikes")
    for pop, v in expected.v.items():
        np.testing.assert_array_equal(actual.v[pop], v, err_msg=f"{label} {pop} voltage")


def test_chip_equals_cpu_fixed_pt(case):
    name, _, _, cpu, chip, _ = case
    _assert_same(name, cpu, chip, "chip vs Lava fixed_pt:")


def test_chip_equals_emulator(case):
    name, compiled, inputs, _, chip, _ = case
    populations = list(compiled.network.populations)
    emulator = run(compiled, inputs, "emulator", "fixed", record=populations, raw_timing=True)
    _assert_same(name, emulator, chip, "chip vs emulator:")


def test_energy_and_time_per_inference_are_measured(case, record_property):
    name, _, _, _, chip, cost = case
    assert len(chip.measurements) == BATCH
    measured = chip.figures()
    for key in ("energy_per_inference", "time_per_inference"):
        figure = getattr(measured, key)
        assert figure.kind == "measured" and figure.value > 0, key
    estimated = {
        "energy_per_inference": cost.energy.total,
        "time_per_inference": cost.latency.per_inference,
    }
    for key, figure in vars(measured).items():
        record_property(f"measured_{key}_{figure.unit}", figure.value)
    for key, figure in estimated.items():
        record_property(f"estimated_{key}_{figure.unit}", figure.value)
    print(
        f"{name}: energy/inference measured {measured.energy_per_inference.value:.3e} J, "
        f"estimated {estimated['energy_per_inference'].value:.3e} J; time/inference measured "
        f"{measured.time_per_inference.value:.3e} s, estimated "
        f"{estimated['time_per_inference'].value:.3e} s"
    )
    report = os.environ.get("SPIKEFORGE_HW_REPORT")
    if report:
        line = {
            "case": name,
            "measured": {k: f.as_dict() for k, f in vars(measured).items()},
            "estimated": {k: f.as_dict() for k, f in estimated.items()},
            "per_sample": [vars(m) for m in chip.measurements],
        }
        with open(report, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")


def _integrator(weight: float) -> Network:
    """One input -> one non-leaky neuron (threshold 1) that integrates ``weight`` per spike."""
    one = np.ones(1)
    neuron = Population(
        name="relay",
        kind="IF",
        shape=(1,),
        du=one,
        dv=np.zeros(1),
        v_bias=np.zeros(1),
        current_bias=np.zeros(1),
        bias_onset=0,
        v_th=one,
        v_reset=np.zeros(1),
        reset="to_value",
    )
    return Network(
        dt=1e-3,
        inputs={"in": (1,)},
        populations={"relay": neuron},
        connections=[Connection("in", "relay", np.full((1, 1), weight), 0)],
        readouts={
            "out": Readout("out", (1,), [Connection("relay", "out", np.eye(1), 0)], np.zeros(1))
        },
    )


def test_adapter_latencies_are_as_stated():
    """Input spikes at steps 5 and 7 must move v, and make a spike come back, at the
    simulator's steps; if not, the message says which adapter constant to change, to what."""
    compiled = compile_network(_integrator(0.6))
    inputs = np.zeros((1, 12, 1))
    inputs[0, [5, 7], 0] = 1
    cpu = run(compiled, inputs, "lava", "fixed", record=["relay"], raw_timing=True)
    chip = run(compiled, inputs, "loihi2", record=["relay"], raw_timing=True)
    expected_spike = int(np.argmax(cpu.spikes["relay"][0, :, 0]))
    expected_v = int(np.argmax(cpu.v["relay"][0, :, 0] != 0))
    got_v = int(np.argmax(chip.v["relay"][0, :, 0] != 0))
    assert chip.v["relay"].any() and got_v == expected_v, (
        f"on the chip v moves at step {got_v}, on the simulator at {expected_v}: set "
        f"INPUT_ADAPTER_LATENCY to {INPUT_ADAPTER_LATENCY + got_v - expected_v}"
    )
    got_spike = int(np.argmax(chip.spikes["relay"][0, :, 0]))
    assert chip.spikes["relay"].any() and got_spike == expected_spike, (
        f"the chip's spike comes back at step {got_spike}, the simulator's at "
        f"{expected_spike}: set OUTPUT_ADAPTER_LATENCY to "
        f"{OUTPUT_ADAPTER_LATENCY + got_spike - expected_spike}"
    )
