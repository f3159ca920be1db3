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
unseen input, as ``--calibrate``) must agree on >= 99 % of entries, or the measured
reason is stated beside the lower bound, and Lava's bit-accurate ``fixed_pt`` must equal
the emulator bit for bit.

Multi-spike counts (sinabs' and Rockpool's defaults) cross Loihi as graded payloads:
the neuron sends its count, the ``Dense`` multiplies each weight by it.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from script_module import load_script  # tests/ is on sys.path
from spikeforge.compile.compiled import compile_network, load, save
from spikeforge.compile.lower import count_bits, microcode_notes
from spikeforge.compile.network import normalize
from spikeforge.compile.sfnet_checks import check_multi_spike
from spikeforge.errors import SpikeforgeError, UnsupportedError
from spikeforge.ir.conventions import ConventionWarning, preset
from spikeforge.ir.nir_import import load_nir
from spikeforge.runtimes import run
from spikeforge.runtimes.reference import run_reference

fa = load_script("framework_agreement")
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


@pytest.mark.parametrize(
    ("key", "planes", "least"),
    [
        ("sinabs/iaf_mlp", 2, 0.99),
        ("sinabs/iaf_mlp_nobias", 2, 0.99),
        ("sinabs/lif_mlp", 2, 0.99),
        # Counts up to 4 a step multiply each weight's rounding error: 98.94 % with the
        # default two planes; the third plane (pacemakers on the graded source too)
        # rounds each step's sum once instead: 98.92 %. The float64 reference with
        # only the decays rounded agrees 100 %. Lowered from 0.99 (measured 99.06 %)
        # when the scale began to round current biases (quantize._bias_rounding_scale):
        # averaged over 8 copies with every rounding re-rolled (weights and biases
        # jittered by 0.1 %) it measures 99.32 % against 99.34 % before, so the fixture
        # moved by the luck of its roundings, 5 of 3600 entries.
        ("sinabs/conv", 3, 0.985),
        # Taus per neuron rounded to 12-bit decays: the float64 reference with only the
        # decays rounded (scripts/framework_agreement.py, "decays rounded") already
        # agrees on just 97.53 %; measured 98.06 % with two planes, 98.25 % with three
        # (before biases rounded by the scale: 96.33 %, 96.86 %).
        ("rockpool/lif_mlp", 2, 0.98),
    ],
)
def test_multi_spike_counts_run_as_graded_spikes(key, planes, least):
    """Emulator float equals the framework; fixed agrees; counts above 1 do occur."""
    fixed = _emulator_float_equals_and_fixed_agrees(key, least, planes)
    assert fixed.max() > 1


def test_every_multi_spike_fixture_is_covered():
    tested = {"sinabs/iaf_mlp", "sinabs/iaf_mlp_nobias", "sinabs/lif_mlp", "sinabs/conv"}
    assert set(MULTI) == tested | {"rockpool/lif_mlp"}


def test_multi_spike_payloads_are_as_wide_as_the_largest_count_and_read_by_every_synapse():
    fix = FIXTURES["sinabs/iaf_mlp"]
    x, _ = fix.data()
    compiled = compile_network(fix.load(), calibration=fa.calibration(x.shape[2:]))
    plan = compiled.fixed_plan
    for pop in plan.populations.values():
        assert pop.multi_spike and pop.num_message_bits == count_bits(int(pop.vth))
        # the 24-bit voltage's largest count needs every bit, and no more
        most = ((1 << 23) - 1) // (int(pop.vth) << 6)
        assert 1 << (pop.num_message_bits - 1) <= most < 1 << pop.num_message_bits
    fed = [s for s in plan.synapses if s.pre in plan.populations]
    assert fed and all(s.num_message_bits == plan.populations[s.pre].num_message_bits for s in fed)
    assert any("multi-spike counts sent as" in n and "microcoded" in n
               for n in microcode_notes(plan))  # fmt: skip
    with pytest.raises(UnsupportedError, match="threshold of at least 1"):
        count_bits(0)


def test_sfnet_refuses_a_multi_spike_synapse_reading_single_bits(tmp_path):
    fix = FIXTURES["sinabs/iaf_mlp"]
    compiled = compile_network(fix.load())
    save(compiled, tmp_path / "net.sfnet")
    again = load(tmp_path / "net.sfnet")
    assert again.fixed_plan.populations["1"].num_message_bits == (
        compiled.fixed_plan.populations["1"].num_message_bits
    )
    syn = next(s for s in again.fixed_plan.synapses if s.pre == "1")
    syn.num_message_bits = 0
    with pytest.raises(SpikeforgeError, match=r"num_message_bits: = 0, must be its multi-spike"):
        check_multi_spike(again.fixed_plan, "fixed_plan")


def test_lava_runs_multi_spike_counts_float_equal_and_fixed_pt_bit_exact():
    """SfLif's payloads into graded Dense."""
    truth, lava_fixed = _lava_float_equals_and_fixed_pt_is_bit_exact("sinabs/iaf_mlp")
    assert truth.max() > 1
    assert lava_fixed.max() > 1


def test_lava_fixed_pt_is_bit_exact_with_three_planes_from_a_graded_source():
    """sinabs' conv, 3 planes: the pacemaker of the multi-spike layer's fraction plane
    shares the graded payload port, where Lava adds its 1 to that channel's count. One
    sample x 60 steps; spikes and voltages of every population. (Emulating the
    pacemaker as ORed, as for binary sources, changes layer '5''s voltages here.)"""
    fix = FIXTURES["sinabs/conv"]
    x, _ = fix.data()
    x = x[:1, :60]
    compiled = compile_network(fix.load(), calibration=fa.calibration(x.shape[2:]), weight_planes=3)
    paced = [s for s in compiled.fixed_plan.synapses if s.always_on is not None]
    assert any(s.num_message_bits > 0 for s in paced), "no graded fraction plane"
    pops = sorted(compiled.fixed_plan.populations)
    kwargs = dict(precision="fixed", record=pops, raw_timing=True)
    lava = run(compiled, x, "lava", **kwargs)
    emulator = run(compiled, x, "emulator", device="cpu", **kwargs)
    assert lava.output.max() > 1
    for name in pops:
        np.testing.assert_array_equal(lava.spikes[name], emulator.spikes[name], err_msg=name)
        np.testing.assert_array_equal(lava.v[name], emulator.v[name], err_msg=name)


@pytest.mark.parametrize(
    ("key", "least"),
    [
        ("sinabs/iaf_single", 0.99),
        ("sinabs/iaf_reset", 0.99),
        ("sinabs/conv_single", 0.99),
        ("spyx/lif_mlp", 0.99),
        # Taus per neuron, each rounded to Loihi's 12-bit decays: a float64 run with
        # only the decays rounded already agrees on just 99.17 %; calibrated scales
        # measure 99.06 % (97.53 % before the voltage range held what one spike a
        # step leaves above threshold; README, NIR conventions, footnote 3).
        ("rockpool/lif_mlp_single", 0.99),
    ],
)
def test_emulator_float_equals_and_fixed_agrees(key, least):
    """Spyx and Rockpool here have a time constant per neuron: split into LIF parts."""
    _emulator_float_equals_and_fixed_agrees(key, least)


def test_lava_float_equals_sinabs_and_fixed_pt_is_bit_exact_with_the_emulator():
    _lava_float_equals_and_fixed_pt_is_bit_exact("sinabs/iaf_reset")


def _emulator_float_equals_and_fixed_agrees(key: str, least: float, planes: int = 2) -> np.ndarray:
    """The emulator's float run equals the framework's on every entry and its fixed-point
    run (calibrated on unseen input, ``planes`` weight planes) agrees on at least
    ``least``; returns the latter."""
    fix = FIXTURES[key]
    x, truth = fix.data()
    compiled = compile_network(
        fix.load(), calibration=fa.calibration(x.shape[2:]), weight_planes=planes
    )
    out = run(compiled, x, "emulator", "float", device="cpu").output
    np.testing.assert_array_equal(out.reshape(truth.shape), truth)
    fixed = run(compiled, x, "emulator", "fixed", device="cpu").output
    assert np.mean(fixed.reshape(truth.shape) == truth) >= least
    return fixed


def _lava_float_equals_and_fixed_pt_is_bit_exact(key: str) -> tuple[np.ndarray, np.ndarray]:
    """One short Lava run (1 sample x 60 steps): float equals the framework, ``fixed_pt``
    equals the emulator bit for bit; returns the framework's counts and Lava's fixed."""
    fix = FIXTURES[key]
    x, truth = fix.data()
    x, truth = x[:1, :60], truth[:1, :60]
    compiled = compile_network(fix.load(), calibration=fa.calibration(x.shape[2:]))
    lava = run(compiled, x, "lava", "float").output
    np.testing.assert_array_equal(lava.reshape(truth.shape), truth)
    lava_fixed = run(compiled, x, "lava", "fixed").output
    emulator = run(compiled, x, "emulator", "fixed", device="cpu").output
    np.testing.assert_array_equal(lava_fixed, emulator)
    return truth, lava_fixed


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


def test_loihi2_backend_says_multi_spike_needs_a_microcoded_neuron():
    fix = FIXTURES["sinabs/iaf_mlp"]
    x, _ = fix.data()
    with pytest.raises(SpikeforgeError, match=r"multi-spike counts sent as.*microcoded neuron"):
        run(compile_network(fix.load()), x[:1, :5], "loihi2")


@pytest.mark.parametrize(
    ("key", "bound"), [("rockpool/lif_mlp", 0.9753), ("rockpool/lif_mlp_single", 0.9917)]
)
def test_the_decays_alone_cost_what_the_readme_states(key, bound):
    """The measurement behind the Rockpool floors above: the float64 reference with
    only Loihi's 12-bit decays in place of its own (scripts/framework_agreement.py,
    "decays rounded"); exact float must still be 100 %, so the loss is the decays'."""
    fix = FIXTURES[key]
    x, truth = fix.data()
    compiled = compile_network(fix.load(), calibration=fa.calibration(x.shape[2:]))
    rounded = run_reference(fa.decays_rounded(compiled), x).output.reshape(truth.shape)
    assert np.mean(rounded == truth) == pytest.approx(bound, abs=1e-4)
    exact = run_reference(compiled.network, x).output.reshape(truth.shape)
    np.testing.assert_array_equal(exact, truth)
