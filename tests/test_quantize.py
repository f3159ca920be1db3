"""The quantiser's promises, checked on its output rather than through a network run.

A run shows how far fixed point drifts (tests/test_spine.py); these tests pin down why
it drifts so little: how weights are rounded and split, where thresholds land, and
how the calibrated state ranges set each population's scale.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from spikeforge.compile.lower import CorePopulation, LoihiPlan, Synapses
from spikeforge.compile.quantize import (
    BIAS_SEARCH,
    FRACTION_EXP,
    V_WINDOW,
    V_WINDOW_MAX,
    WRAP_MARGIN,
    _round_preserving_row_sums,
    quantize,
)
from spikeforge.compile.timing import BIAS_SOURCE
from spikeforge.errors import UnsupportedError
from spikeforge.loihi_format import GRADED_BITS_MAX
from spikeforge.runtimes.emulator import Emulator

VTH = 0.3


def _plan(weights: np.ndarray, vth: float = VTH) -> LoihiPlan:
    """One input of ``weights.shape[1]`` channels into one CUBA LIF population."""
    n = weights.shape[0]
    population = CorePopulation(
        name="p",
        size=n,
        du=0.25,
        dv=0.125,
        vth=vth,
        bias_mant=np.zeros(n),
        bias_exp=np.zeros(n, dtype=np.int64),
        v_init=np.zeros(n),
        scale=np.ones(n),
        v_reset=np.zeros(n),
        spiking=True,
        latency=1,
    )
    return LoihiPlan(
        precision="float",
        inputs={"in": weights.shape[1]},
        populations={"p": population},
        synapses=[Synapses("in", "p", weights, 0, 0)],
    )


def _effective(plan: LoihiPlan, scale: float) -> np.ndarray:
    """The weights the fixed-point plan applies, in the float plan's units."""
    return sum(s.weights * 2.0**s.weight_exp for s in plan.synapses) / scale


fractions = arrays(
    np.float64,
    st.tuples(st.integers(1, 6), st.integers(1, 40)),
    elements=st.floats(-300, 300, allow_nan=False),
)


@settings(max_examples=200, deadline=None)
@given(fractions)
def test_row_sum_rounding_stays_within_one_and_cancels_per_row(x):
    rounded = _round_preserving_row_sums(x)
    assert np.array_equal(rounded, np.round(rounded))
    assert np.all((rounded == np.floor(x)) | (rounded == np.ceil(x)))
    assert np.all(np.abs((rounded - x).sum(axis=1)) <= 0.5 + 1e-9)
    assert np.all(rounded[x == 0] == 0), "a missing synapse must stay missing"


def test_row_sum_rounding_beats_nearest_on_repeated_weights():
    # A pooled layer repeats one weight: rounding to nearest repeats its error.
    x = np.full((3, 64), 10.4)
    assert abs((np.round(x) - x).sum()) == pytest.approx(3 * 64 * 0.4)
    assert np.all(np.abs((_round_preserving_row_sums(x) - x).sum(axis=1)) <= 0.5)


@pytest.mark.parametrize("seed", range(5))
def test_two_planes_floor_then_single_signed_remainder(seed):
    weights = np.random.default_rng(seed).normal(0, 0.05, (12, 30))
    fixed, (report,) = quantize(_plan(weights), weight_planes=2)
    high, low = fixed.synapses
    # Lava truncates mixed-sign mantissas to even values; the remainder plane has one
    # sign, so every value in 0..255 is available to it.
    assert np.all(high.weights % 2 == 0)
    assert low.weights.min() >= 0 and np.any(low.weights % 2 == 1)
    assert low.weights.max() <= 255
    error = (_effective(fixed, report.scale) - weights) * report.scale
    assert np.abs(error).max() <= 1.0
    assert np.all(np.abs(error.sum(axis=1)) <= 0.5 + 1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_three_planes_keep_fractions_for_a_rounded_sum(seed):
    weights = np.random.default_rng(seed).normal(0, 0.05, (12, 30))
    fixed, (report,) = quantize(_plan(weights), weight_planes=3)
    high, whole, fine = fixed.synapses
    assert (whole.weight_exp, fine.weight_exp) == (0, FRACTION_EXP)
    assert whole.always_on is None and high.always_on is None
    assert whole.weights.min() >= 0 and whole.weights.max() <= 255
    assert fine.weights.min() >= 0 and fine.weights.max() <= 255
    # The pacemaker's column adds half a unit of a_in to every step's sum, so Lava's
    # right shift rounds it to nearest instead of flooring it.
    channel = fine.always_on
    assert np.all(fine.weights[:, channel] == 2 ** (-FRACTION_EXP - 1))
    carried = sum(s.routes()[0][1] * 2.0**s.weight_exp for s in fixed.synapses)
    error = carried - weights * report.scale
    others = np.delete(error, channel, axis=1)
    assert np.abs(others).max() <= 2.0**FRACTION_EXP  # within one 1/256 step
    assert np.all(np.abs(others.sum(axis=1)) <= 2.0**FRACTION_EXP / 2 + 1e-9)
    # The always-on channel's own spikes carry whole units only.
    assert np.abs(error[:, channel]).max() <= 0.5 + 1e-9
    assert fine.routes()[1][0] == fine.pacemaker


@pytest.mark.parametrize("seed", range(5))
def test_three_planes_from_a_graded_source_count_the_pacemakers_half(seed):
    """A multi-spike source's payloads are added to the pacemaker's 1 (Lava sums graded
    input; ``tests/test_emulator.py`` checks that on Lava), so each count on the
    always-on channel also carries its half unit: whole units + 1/2 must be that
    channel's weight within half a unit. Rounded to whole units as for a binary
    source, the error would reach one unit, and seeds 0-4 do exceed 1/2 then."""
    weights = np.random.default_rng(seed).normal(0, 0.05, (12, 30))
    plan = _plan(weights)
    plan.synapses[0].num_message_bits = 4
    fixed, (report,) = quantize(plan, weight_planes=3)
    assert len(fixed.synapses) == 3
    fine = fixed.synapses[2]
    assert all(s.num_message_bits == 4 for s in fixed.synapses)
    channel = fine.always_on
    assert np.all(fine.weights[:, channel] == 2 ** (-FRACTION_EXP - 1))
    per_count = sum(s.weights * 2.0**s.weight_exp for s in fixed.synapses)
    error = per_count - weights * report.scale
    assert np.abs(error[:, channel]).max() <= 0.5 + 1e-9
    assert np.abs(np.delete(error, channel, axis=1)).max() <= 2.0**FRACTION_EXP
    # The source's own counts reach the always-on column; the report measures that.
    np.testing.assert_array_equal(fine.routes()[0][1], fine.weights)
    assert report.weight_error_max * np.abs(weights).max() * report.scale <= 0.5 + 1e-9


def test_one_pacemaker_serves_every_fraction_plane_of_its_source():
    rng = np.random.default_rng(3)
    plan = _plan(rng.normal(0, 0.05, (4, 6)))
    zeros = {f: np.zeros(3) for f in ("bias_mant", "bias_exp", "v_init", "v_reset")}
    plan.populations["q"] = replace(
        plan.populations["p"], name="q", size=3, scale=np.ones(3), **zeros
    )
    plan.synapses.append(Synapses("in", "q", rng.normal(0, 0.05, (3, 6)), 0, 0))
    plan.synapses.append(Synapses("p", "q", rng.normal(0, 0.05, (3, 4)), 0, 0))
    fixed, _ = quantize(plan, weight_planes=3)
    paced = [s for s in fixed.synapses if s.always_on is not None]
    assert [s.pre for s in paced] == ["in", "in", "p"]
    assert sorted(fixed.pacemakers.values()) == sorted({(s.pre, s.always_on) for s in paced})
    assert len(fixed.pacemakers) == 2


def test_three_planes_leave_the_bias_neuron_two():
    """Its input is the same every step, so a per-step rounding gains nothing over a plane."""
    plan = _plan(np.random.default_rng(0).normal(0, 0.05, (4, 6)))
    plan.synapses.append(Synapses(BIAS_SOURCE, "p", np.full((4, 1), 0.0123), 0, 0))
    fixed, _ = quantize(plan, weight_planes=3)
    from_bias = [s for s in fixed.synapses if s.pre == BIAS_SOURCE]
    # One plane where the scale rounds the bias to a plane's exact multiple
    # (_bias_rounding_scale), two otherwise; never a fraction plane.
    assert 1 <= len(from_bias) <= 2 and all(s.weight_exp >= 0 for s in from_bias)
    assert [s.always_on is not None for s in fixed.synapses].count(True) == 1


def test_one_plane_rounds_on_the_even_grid_without_row_drift():
    weights = np.random.default_rng(7).normal(0, 0.05, (12, 30))
    fixed, (report,) = quantize(_plan(weights), weight_planes=1)
    (plane,) = fixed.synapses
    assert np.all(plane.weights % 2 == 0)
    unit = 2.0 * 2.0**plane.weight_exp
    error = (_effective(fixed, report.scale) - weights) * report.scale
    assert np.abs(error).max() <= unit
    assert np.all(np.abs(error.sum(axis=1)) <= unit / 2 + 1e-9)


def test_threshold_is_exact():
    fixed, (report,) = quantize(_plan(np.full((2, 3), 0.01), vth=0.37), weight_planes=2)
    assert fixed.populations["p"].vth / report.scale == pytest.approx(0.37, rel=1e-12)
    assert report.threshold_error < 1e-12


def _peaks(u: float, above: float, below: float, n: int = 2) -> dict[str, np.ndarray]:
    return {"p": np.array([[u] * n, [above] * n, [below] * n])}


def test_calibrated_voltage_window_follows_inhibition_up_to_its_cap():
    plan = _plan(np.full((2, 3), 0.01))
    shallow = quantize(plan, peaks=_peaks(0.1, VTH, 2 * VTH))[1][0]
    deep = quantize(plan, peaks=_peaks(0.1, VTH, 10 * VTH))[1][0]
    abyss = quantize(plan, peaks=_peaks(0.1, VTH, 100 * VTH))[1][0]
    # Lava saturates v at -(2**23 - 1): one hardware unit short of the range asked for.
    assert shallow.v_floor == pytest.approx(-2 * VTH, rel=1e-6)
    assert deep.v_floor == pytest.approx(-10 * VTH, rel=1e-3)
    assert abyss.v_floor == pytest.approx(-V_WINDOW_MAX * VTH, rel=1e-3)
    uncalibrated = quantize(plan)[1][0]
    assert uncalibrated.v_floor <= -V_WINDOW * VTH * (1 - 1e-6)


def test_calibrated_current_gets_its_wrap_margin():
    plan = _plan(np.full((2, 3), 0.01))
    report = quantize(plan, peaks=_peaks(3.0, VTH, VTH))[1][0]
    u_limit = (2**23 - 1) / (64 * report.scale)
    assert u_limit >= WRAP_MARGIN * 3.0
    assert u_limit == pytest.approx(WRAP_MARGIN * 3.0, rel=1e-3)


def test_subtractive_reset_keeps_the_voltage_held_above_threshold():
    """One spike a step subtracts one threshold: what v holds above it is discharged
    later, so the range covers it (v saturates: no wrap margin), as it need not for a
    reset to a value, which discards it."""
    plan = _plan(np.full((2, 3), 0.01))
    peaks = _peaks(0.1, 20 * VTH, VTH)
    to_value = quantize(plan, peaks=peaks)[1][0]
    plan.populations["p"] = replace(plan.populations["p"], reset="subtract")
    subtract = quantize(plan, peaks=peaks)[1][0]
    assert to_value.v_floor == pytest.approx(-VTH, rel=1e-3)
    assert subtract.v_floor == pytest.approx(-20 * VTH, rel=1e-3)


def test_current_bias_rounds_to_whole_units_at_a_nearby_scale():
    """A current bias's rounding error recurs every step and integrates into v: the
    scale gives up a little resolution to round it well, the threshold staying exact."""
    plan = _plan(np.full((1, 3), 0.01))
    plan.synapses.append(Synapses(BIAS_SOURCE, "p", np.full((1, 1), 0.012345), 0, 0))
    cap = quantize(_plan(np.full((1, 3), 0.01)), peaks=_peaks(0.1, VTH, VTH, n=1))[1][0]
    fixed, (report,) = quantize(plan, weight_planes=2, peaks=_peaks(0.1, VTH, VTH, n=1))
    assert (1 - BIAS_SEARCH) * cap.scale <= report.scale <= cap.scale
    assert fixed.populations["p"].vth / report.scale == pytest.approx(VTH, rel=1e-12)
    units = sum(
        float(s.weights.sum()) * 2.0**s.weight_exp for s in fixed.synapses if s.pre == BIAS_SOURCE
    )
    assert abs(units - 0.012345 * report.scale) < 0.01


def test_peaks_from_older_files_are_read_conservatively():
    plan = _plan(np.full((2, 3), 0.01))
    old = {"p": np.array([[0.1, 0.1], [5 * VTH, 5 * VTH]])}
    assert quantize(plan, peaks=old)[1] == quantize(plan, peaks=_peaks(0.1, 5 * VTH, 5 * VTH))[1]


def _multi_spike_plan(weight: float, n_in: int = 5) -> LoihiPlan:
    """``n_in`` inputs of ``weight`` into one multi-spike IF neuron (sinabs' IAF), vth 1."""
    plan = _plan(np.full((1, n_in), weight), vth=1.0)
    plan.populations["p"] = replace(
        plan.populations["p"], du=1.0, dv=0.0, reset="subtract", multi_spike=True,
        num_message_bits=GRADED_BITS_MAX,
    )  # fmt: skip
    return plan


def test_uncalibrated_multi_spike_counts_never_reach_the_voltage_limit():
    """Worst-case scale: ``v`` holds a remainder below vth plus a step's whole input.

    Five inputs of 2.11 spiking on every step give v = 10.55, 11.1, 10.65, 11.2, ...:
    counts 10 and 11. Sized for the input alone (the current's worst case), the
    11-count voltages exceed 2^23 and saturate to counts of 10: silently clipped.
    """
    plan = _multi_spike_plan(2.11)
    fixed, _ = quantize(plan, weight_planes=2)
    steps, drive = 20, {"in": np.ones((1, 20, 5))}
    counts = {
        p.precision: Emulator(p, torch.device("cpu")).run(drive, steps, ["p"], [])[0]["p"]
        for p in (plan, fixed)
    }
    assert set(np.unique(counts["float"][0, 1:])) == {10.0, 11.0}
    np.testing.assert_array_equal(counts["fixed"], counts["float"])


def test_multi_spike_counts_beyond_the_voltage_are_refused_with_node_value_and_limit():
    """Worst case: a remainder below vth = 1 plus five inputs of most/4 each, 163840
    thresholds, beyond the 131071 counts the 24-bit voltage holds at threshold 1."""
    most = (2**23 - 1) >> 6
    with pytest.raises(UnsupportedError) as refused:
        quantize(_multi_spike_plan(most / 4.0, n_in=5))
    message = str(refused.value)
    assert "\n" not in message
    assert "population 'p'" in message and "up to 163840 a step" in message
    assert f"exceed the {most} " in message
    # Calibrated, the range is the one observed (with its head-room), and fits.
    assert quantize(_multi_spike_plan(most / 4.0), peaks=_peaks(1.0, 3.0, 0.0, n=1))[0]


def _decays(du: float, dv: float, decay_bits: int) -> tuple[int, int, int]:
    plan = _plan(np.full((2, 3), 0.1))
    plan.populations["p"] = replace(plan.populations["p"], du=du, dv=dv)
    pop = quantize(plan, decay_bits=decay_bits)[0].populations["p"]
    return pop.decay_bits, pop.du, pop.dv


def test_decays_twelve_bits_hold_exactly_stay_twelve_bits_whatever_decay_bits():
    """A time constant 12 bits hold exactly keeps Lava's own LIF (and the chip's neuron)."""
    assert _decays(0.25, 0.125, 24) == (12, 0.25 * 4096 - 1, 0.125 * 4096)
    assert _decays(1.0, 0.0, 24) == (12, 4095, 0)


@pytest.mark.parametrize("decay_bits", [12, 16, 24])
def test_decays_twelve_bits_round_are_held_in_decay_bits(decay_bits):
    """beta = 0.9 (dv = 0.1): 409.6/4096 rounds to 410 at 12 bits; at ``decay_bits``
    the kept fraction is the nearest multiple of 2^-decay_bits."""
    bits, du, dv = _decays(0.3, 0.1, decay_bits)
    assert bits == decay_bits
    assert dv == round(0.1 * 2**decay_bits) and du == round(0.3 * 2**decay_bits) - 1
    assert abs(dv / 2**decay_bits - 0.1) <= 2.0 ** -(decay_bits + 1)


@pytest.mark.parametrize("decay_bits", [11, 25])
def test_decay_bits_outside_twelve_to_twenty_four_are_refused(decay_bits):
    with pytest.raises(ValueError, match=r"decay_bits must be 12\.\.24"):
        quantize(_plan(np.full((2, 3), 0.1)), decay_bits=decay_bits)


def test_wide_decays_run_on_the_emulator_as_the_wider_fraction():
    """Sub-threshold only (no input, no spikes): v decays by exactly the 24-bit keep,
    truncated toward zero each step, where 12 bits would keep a different fraction."""
    plan = _plan(np.zeros((1, 1)), vth=1e4)
    plan.populations["p"] = replace(
        plan.populations["p"], du=1.0, dv=0.1, v_init=np.array([1000.0])
    )
    runs = {}
    for bits in (12, 24):
        fixed, _ = quantize(plan, decay_bits=bits)
        pop = fixed.populations["p"]
        emulator = Emulator(fixed, torch.device("cpu"))
        _, v = emulator.run({"in": np.zeros((1, 5, 1))}, 5, ["p"], ["p"])
        keep, expected, state = (1 << bits) - pop.dv, [], int(pop.v_init[0])
        for _ in range(5):
            state = int(np.trunc(state * keep / (1 << bits)))
            expected.append(state)
        assert v["p"][0, :, 0].tolist() == expected, bits
        runs[bits] = expected
    assert runs[12] != runs[24]
