"""The dynamic-energy range (profile/energy.py) and the calibration anchor, counted by hand."""

from __future__ import annotations

import pytest

from spikeforge.profile import load_hardware
from spikeforge.profile.energy import _dynamic_range

#: A calibration made up to count by hand: 1 mJ measured over 1,000 ops / 50 updates.
HAND = {
    "calibration.dynamic_energy": 1e-3,
    "calibration.synaptic_ops": 1000,
    "calibration.neuron_updates": 50,
}


def _totals(ops: float, active: float, inactive: float) -> dict[str, float]:
    return {"synaptic_ops": ops, "active_updates": active, "inactive_updates": inactive}


def test_range_ends_are_the_measurement_spread_over_one_event_kind():
    hw = load_hardware("loihi2").with_values("hand", HAND)
    # All per op: 100 ops x (1 mJ / 1,000) = 0.1 mJ; all per update: 10 x (1 mJ / 50) = 0.2 mJ.
    r = _dynamic_range(_totals(100, 4, 6), hw, calibrated=1.5e-4)
    assert (r.low, r.high) == pytest.approx((1e-4, 2e-4))
    # The calibrated figure outside both ends widens the range to include it.
    r = _dynamic_range(_totals(100, 4, 6), hw, calibrated=5e-4)
    assert (r.low, r.high) == pytest.approx((1e-4, 5e-4))


def test_the_calibration_network_itself_has_a_range_of_one_point():
    hw = load_hardware("loihi2").with_values("hand", HAND)
    r = _dynamic_range(_totals(1000, 20, 30), hw, calibrated=1e-3)
    assert (r.low, r.high) == pytest.approx((1e-3, 1e-3))


def test_no_calibration_no_range():
    assert _dynamic_range(_totals(1, 1, 1), load_hardware("loihi1"), calibrated=1.0) is None
