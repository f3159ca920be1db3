"""The spine's promise: norse == reference == Lava float spike for spike; fixed point close.

Every network is exported by spikeforge's exporter from a real norse module, imported
back from NIR, compiled, and run on Lava's CPU simulator (no mocks). Equality is
tested in float64 (the norse module is run in double precision) so that it is exact
equality, not a tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikeforge.compile import compile_network
from spikeforge.compile.summary import summarize
from spikeforge.export import to_nir
from spikeforge.ir import from_nir
from spikeforge.models.examples import EXAMPLES, random_spikes, run_norse
from spikeforge.profile.agreement import spike_agreement
from spikeforge.profile.hardware import load_hardware
from spikeforge.runtimes import run
from spikeforge.runtimes.reference import calibrate_on

STEPS = 100
#: Samples run on Lava (one process graph each, so few).
BATCH = 2
#: Samples over which fixed/float agreement is measured: enough that 1 % is 640
#: output entries. They run on the emulator, and the test first checks that Lava
#: gives the emulator's exact output on the samples both ran.
AGREEMENT_SAMPLES = 128
#: Share of output (sample, step, neuron) entries on which fixed and floating point
#: must agree (scripts/fixed_agreement.py measures 0.9986-1.0 with three weight planes).
FIXED_AGREEMENT = 0.99
#: With the default two planes the recurrent network measures 0.988: its hidden
#: neurons swing from 18 thresholds below reset to above threshold, so Loihi's 24-bit
#: state leaves one unit of synaptic input 1/10922 of a threshold, and rounding each
#: weight to that unit changes the chaotic recurrent spike trains on 1.2 % of entries.
#: A third plane rounds each step's summed input instead of each weight (0.9955).
TWO_PLANE_RECURRENT_AGREEMENT = 0.985


@pytest.fixture(scope="module", params=sorted(EXAMPLES))
def case(request):
    factory, shape = EXAMPLES[request.param]
    module = factory().double()
    graph = to_nir(module, torch.zeros(shape, dtype=torch.float64), dt=1e-3)
    many, calibration = random_spikes(request.param, AGREEMENT_SAMPLES, STEPS)
    inputs = many[:BATCH]
    compiled = compile_network(from_nir(graph), calibration=calibrate_on(calibration))
    reference = run(compiled, inputs)
    lava_float = run(compiled, inputs, backend="lava", precision="float")
    return request.param, module, many, compiled, reference, lava_float


def test_reference_equals_norse(case):
    _, module, many, _, reference, _ = case
    expected = run_norse(module, torch.as_tensor(many[:BATCH])).numpy()
    assert expected.sum() > 0, "a test network that never spikes proves nothing"
    np.testing.assert_array_equal(reference.output, expected)


def test_lava_float_equals_reference(case):
    _, _, _, _, reference, lava_float = case
    assert lava_float.output.shape == reference.output.shape
    np.testing.assert_array_equal(lava_float.output, reference.output)


@pytest.mark.parametrize("weight_planes", [2, 3])
def test_lava_fixed_agrees_with_float(case, weight_planes):
    name, _, many, compiled, _, lava_float = case
    compiled = compiled.with_weight_planes(weight_planes)  # same calibrated peaks
    lava_fixed = run(compiled, many[:BATCH], backend="lava", precision="fixed")
    fixed = run(compiled, many, backend="emulator", precision="fixed").output
    floating = run(compiled, many, backend="emulator", precision="float").output
    np.testing.assert_array_equal(lava_fixed.output, fixed[:BATCH])
    np.testing.assert_array_equal(lava_float.output, floating[:BATCH])
    agreement = spike_agreement(fixed, floating)
    print(f"{name}, {weight_planes} planes: fixed/float output agreement {agreement:.4f}")
    print(summarize(compiled, load_hardware("loihi2")))
    floor = FIXED_AGREEMENT
    if name == "recurrent" and weight_planes == 2:
        floor = TWO_PLANE_RECURRENT_AGREEMENT
    assert agreement >= floor


def test_quantisation_report_per_population(case):
    name, _, _, compiled, _, _ = case
    text = summarize(compiled, load_hardware("loihi2"))
    for population in compiled.network.populations:
        assert population in text
    for report in compiled.quant_report:
        assert 0 <= report.weight_error_rms < 0.01, (name, report)
        assert report.bias_clipped == 0
