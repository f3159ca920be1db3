"""Agreement is named for what it measures: spikes by equal entries, readouts by decisions."""

from __future__ import annotations

import numpy as np

from spikeforge.profile.agreement import compare


def test_a_voltage_readout_is_judged_by_decisions_and_relative_error():
    """A readout off by float rounding is not "agreement 0": its decisions all match."""
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(3, 5, 4))
    got = truth * (1 + 1e-15)
    result = compare({"out": got}, {"out": truth}, {"out": False})
    assert result.spike_agreement is None
    assert result.decision_agreement == 1.0
    assert 0 < result.relative_error < 1e-14 and not result.exact


def test_a_swapped_decision_counts_once_per_position():
    truth = np.array([[[0.0, 1.0], [1.0, 0.0]]])  # 1 sample, 2 steps, 2 neurons
    got = np.array([[[0.0, 1.0], [0.0, 1.0]]])
    result = compare({"out": got}, {"out": truth}, {"out": False})
    assert result.decision_agreement == 0.5


def test_spikes_are_judged_by_equal_entries():
    truth = np.zeros((2, 4, 3))
    truth[0, 1, 2] = 1.0
    got = truth.copy()
    got[1, 3, 0] = 1.0  # one of 24 entries differs
    result = compare({"out": got}, {"out": truth}, {"out": True})
    assert result.spike_agreement == 23 / 24 and result.decision_agreement is None
    assert compare({"out": truth}, {"out": truth}, {"out": True}).exact
