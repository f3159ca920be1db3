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
from spikeforge.models.examples import EXAMPLES, run_norse
from spikeforge.runtimes import run

STEPS = 100
BATCH = 2
#: Share of output (sample, step, neuron) entries on which fixed and floating point
#: must agree. The goal is 0.99; measured on these networks it is 0.964-1.000
#: depending on the inputs: any 1-LSB difference that flips a near-threshold spike
#: propagates through later layers and recurrence. 0.95 is the floor we hold;
#: closing the gap to 0.99 everywhere is open work.
FIXED_AGREEMENT = 0.95


@pytest.fixture(scope="module", params=sorted(EXAMPLES))
def case(request):
    factory, shape = EXAMPLES[request.param]
    module = factory().double()
    graph = to_nir(module, torch.zeros(shape, dtype=torch.float64), dt=1e-3)
    rng = np.random.default_rng(sum(map(ord, request.param)))
    inputs = (rng.random((BATCH, STEPS, *shape)) < 0.2).astype(np.float64)
    # Fixed-point scales are calibrated on separate data, never on the test inputs.
    calibration = (rng.random((4, STEPS, *shape)) < 0.2).astype(np.float64)
    compiled = compile_network(from_nir(graph), calibration=calibration)
    reference = run(compiled, inputs)
    lava_float = run(compiled, inputs, backend="lava", precision="float")
    return request.param, module, inputs, compiled, reference, lava_float


def test_reference_equals_norse(case):
    _, module, inputs, _, reference, _ = case
    expected = run_norse(module, torch.as_tensor(inputs)).numpy()
    assert expected.sum() > 0, "a test network that never spikes proves nothing"
    np.testing.assert_array_equal(reference.output, expected)


def test_lava_float_equals_reference(case):
    _, _, _, _, reference, lava_float = case
    assert lava_float.output.shape == reference.output.shape
    np.testing.assert_array_equal(lava_float.output, reference.output)


def _agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float((a == b).mean())


def test_lava_fixed_agrees_with_float(case):
    name, _, inputs, compiled, _, lava_float = case
    fixed = run(compiled, inputs, backend="lava", precision="fixed")
    agreement = _agreement(fixed.output, lava_float.output)
    print(f"{name}: fixed/float output agreement {agreement:.4f}")
    print(summarize(compiled))
    assert agreement >= FIXED_AGREEMENT


def test_quantisation_report_per_population(case):
    name, _, _, compiled, _, _ = case
    text = summarize(compiled)
    for population in compiled.network.populations:
        assert population in text
    for report in compiled.quant_report:
        assert 0 <= report.weight_error_rms < 0.01, (name, report)
        assert report.bias_clipped == 0
