"""sinabs', Rockpool's and Spyx's own NIR exports, read with ``--from``, vs their simulations.

None installs beside the pinned stack (sinabs and Rockpool require nir <= 1.0.4;
Spyx needs JAX and Haiku), so ``scripts/framework_fixtures/*_fixtures.py`` ran each
in its own venv: the NIR file is the framework's exporter's, ``y`` the framework's
own simulation of the module it exported (recorded counts, 4 samples x 150 steps of random spikes).

Float backends must equal the framework on every output entry: the arithmetic is
the same, and the frameworks ran in float32, so a difference could only flip a
count whose membrane lies within float32 rounding (~1e-7 of the threshold) of a
threshold multiple; with random real weights that does not occur on these inputs,
and if it did the test would fail loudly, not pass. Fixed point (calibrated on
unseen input, as ``--calibrate``) must agree on >= 99 % of entries, and Lava's
bit-accurate ``fixed_pt`` must equal the emulator bit for bit.
"""

from __future__ import annotations

import importlib.util
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from spikeforge.compile.compiled import compile_network
from spikeforge.compile.network import normalize
from spikeforge.errors import SpikeforgeError, UnsupportedError
from spikeforge.ir.conventions import ConventionWarning, preset
from spikeforge.ir.nir_import import load_nir
from spikeforge.runtimes import run
from spikeforge.runtimes.reference import run_reference

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "framework_agreement.py"


def _script():
    spec = importlib.util.spec_from_file_location("framework_agreement", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("framework_agreement", module)
    spec.loader.exec_module(module)
    return module


fa = _script()
FIXTURES = {f"{f.framework}/{f.name}": f for f in fa.fixtures()}
MULTI = [
    k
    for k, f in FIXTURES.items()
    if dict(f.overrides).get("multi_spike", preset(f.convention).multi_spike)
]
SINGLE = [k for k in FIXTURES if k not in MULTI]


def test_fixtures_cover_both_frameworks_and_both_spike_kinds():
    assert {f.framework for f in FIXTURES.values()} == {"sinabs", "rockpool", "spyx"}
    assert MULTI and SINGLE


@pytest.mark.parametrize("key", sorted(FIXTURES))
def test_reference_equals_the_frameworks_own_simulation(key):
    fix = FIXTURES[key]
    x, truth = fix.data()
    assert truth.sum() > 0 and (truth == 0).any(), f"degenerate activity in {key}"
    if key in MULTI:
        assert truth.max() > 1, f"{key} never emits more than one spike in a step"
    out = run_reference(normalize(fix.load()), x).output
    np.testing.assert_array_equal(out.reshape(truth.shape), truth)


@pytest.mark.parametrize("key", sorted(MULTI))
def test_multi_spike_counts_are_refused_for_loihi_with_the_reason(key):
    with pytest.raises(UnsupportedError, match="multi-spike"):
        compile_network(FIXTURES[key].load())


@pytest.mark.parametrize(
    ("key", "least"),
    [
        ("sinabs/iaf_single", 0.99),
        ("sinabs/iaf_reset", 0.99),
        ("sinabs/conv_single", 0.99),
        ("spyx/lif_mlp", 0.99),
        # Taus per neuron, each rounded to Loihi's 12-bit decays: a float64 run with
        # only the decays rounded already agrees on just 99.17 %, and calibrated
        # scales reach 97.5 % (README, NIR conventions).
        ("rockpool/lif_mlp_single", 0.97),
    ],
)
def test_emulator_float_equals_and_fixed_agrees(key, least):
    """Spyx and Rockpool here have a time constant per neuron: split into LIF parts."""
    fix = FIXTURES[key]
    x, truth = fix.data()
    compiled = compile_network(fix.load(), calibration=fa.calibration(x.shape[2:]))
    out = run(compiled, x, "emulator", "float", device="cpu").output
    np.testing.assert_array_equal(out.reshape(truth.shape), truth)
    fixed = run(compiled, x, "emulator", "fixed", device="cpu").output
    assert np.mean(fixed.reshape(truth.shape) == truth) >= least


def test_lava_float_equals_sinabs_and_fixed_pt_is_bit_exact_with_the_emulator():
    fix = FIXTURES["sinabs/iaf_reset"]
    x, truth = fix.data()
    x, truth = x[:1, :60], truth[:1, :60]
    compiled = compile_network(fix.load(), calibration=fa.calibration(x.shape[2:]))
    lava = run(compiled, x, "lava", "float").output
    np.testing.assert_array_equal(lava.reshape(truth.shape), truth)
    lava_fixed = run(compiled, x, "lava", "fixed").output
    emulator = run(compiled, x, "emulator", "fixed", device="cpu").output
    np.testing.assert_array_equal(lava_fixed, emulator)


def test_sinabs_conv_is_read_without_its_missing_input_shapes_and_says_so():
    fix = FIXTURES["sinabs/conv"]
    with pytest.warns(ConventionWarning, match=r"Conv2d '0', Flatten '3' written without"):
        load_nir(fix.nir_path, convention="sinabs")


def test_sinabs_scalar_lif_is_sized_by_its_affine_only_under_from_sinabs():
    fix = FIXTURES["sinabs/lif_mlp"]
    with pytest.warns(ConventionWarning, match=r"neuron node\(s\) '1', '3' sized"):
        graph = load_nir(fix.nir_path, convention="sinabs")
    assert graph.nodes["1"].shape == (10,)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConventionWarning)
        with pytest.raises(SpikeforgeError, match="tau is a scalar"):
            load_nir(fix.nir_path, convention="nir", dt=1.0)


def test_rockpool_batch_input_is_repaired_only_under_from_rockpool():
    fix = FIXTURES["rockpool/lif_mlp"]
    with pytest.warns(ConventionWarning, match=r"Input 'input' \(1, 12\) read without it"):
        load_nir(fix.nir_path, convention="rockpool")
    with pytest.raises(
        SpikeforgeError, match=r"expects input of shape \(12,\), receives \(1, 12\)"
    ):
        load_nir(fix.nir_path, convention="nir", dt=1e-3)


def test_spyx_weights_and_r_are_repaired_and_spikes_leave_a_step_late():
    fix = FIXTURES["spyx/lif_mlp"]
    with pytest.warns(ConventionWarning, match=r"weights of 'linear' transposed"):
        graph = load_nir(fix.nir_path, convention="spyx")
    np.testing.assert_allclose(graph.nodes["LIF"].gain, 1.0, rtol=1e-6)
    assert {(e.pre, e.delay) for e in graph.edges if e.pre in ("LIF", "LIF_1")} == {
        ("LIF", 1),
        ("LIF_1", 1),
    }
    x, truth = fix.data()
    late = run_reference(normalize(load_nir(fix.nir_path, convention="spyx", fires_on="new")), x)
    assert not np.array_equal(late.output.reshape(truth.shape), truth)
