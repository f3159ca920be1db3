"""Helper populations (the bias neuron) priced as on Loihi 2, on a hand-countable MLP.

The network::

    input "x" (2) --ones--> "a" (3) --ones--> "b" (2)
    bias neuron --ones (3 x 1)--> "a"

with no input spikes and no population spikes over 4 hardware steps, so the only
activity is the bias neuron's: it fires on every step. On a 1-chip, 3-tile system with
one core per tile, "a" and the bias neuron share core 0 and "b" has core 1.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from spikeforge.compile.lower import CorePopulation, LoihiPlan, Synapses
from spikeforge.compile.timing import BIAS_SOURCE
from spikeforge.profile import count_activity, estimate, load_hardware, place
from spikeforge.profile.energy import helper_costs
from spikeforge.profile.hardware import Barrier

STEPS = 4
STATIC_W = 1e-3
#: Energies 10**i fJ, in the order synaptic op, active update, inactive update, spike,
#: message, east-west hop, north-south hop, chip hop: totals read as counts.
EVENTS = [
    "synaptic_op", "neuron_update_active", "neuron_update_inactive", "spike_out",
    "message", "hop_east_west", "hop_north_south", "chip_hop",
]  # fmt: skip


def _population(name: str, size: int, latency: int) -> CorePopulation:
    zeros = np.zeros(size)
    return CorePopulation(
        name=name, size=size, du=1.0, dv=0.5, vth=1.0, bias_mant=zeros, bias_exp=zeros,
        v_init=zeros, scale=np.ones(size), v_reset=zeros, spiking=True, latency=latency,
    )  # fmt: skip


def _plan() -> LoihiPlan:
    return LoihiPlan(
        precision="fixed",
        inputs={"x": 2},
        populations={"a": _population("a", 3, 1), "b": _population("b", 2, 2)},
        synapses=[
            Synapses("x", "a", np.ones((3, 2)), 0, 0),
            Synapses("a", "b", np.ones((2, 3)), 0, 0),
            Synapses(BIAS_SOURCE, "a", np.ones((3, 1)), 0, 0),
        ],
        latency={"x": 0, "a": 1, "b": 2},
    )


def _hardware():
    values = {
        "topology.chips": 1,
        "topology.tiles_x": 3,
        "topology.tiles_y": 1,
        "topology.cores_per_tile": 1,
        "power.static_per_chip": STATIC_W,
    }
    for i, event in enumerate(EVENTS):
        values[f"energy.{event}"] = 10**i * 1e-15
        values[f"latency.{event}"] = 1e-9
    hw = load_hardware("loihi2").with_values("hand", values)
    return replace(hw, barrier=Barrier((1, 32), (50e-9, 50e-9), "s", "estimated", "hand"))


def _cost(share_helpers: bool):
    plan, hw = _plan(), _hardware()
    placement = place(plan, hw, share_helpers=share_helpers)
    silent = {"x": np.zeros((1, STEPS, 2)), "a": np.zeros((1, STEPS, 3)),
              "b": np.zeros((1, STEPS, 2))}  # fmt: skip
    cost = estimate(count_activity(plan, silent, placement), placement, hw)
    return cost, helper_costs(cost, plan, hw), placement


def test_the_bias_neuron_is_priced_as_its_own_line_and_shares_a_core():
    cost, helpers, placement = _cost(share_helpers=True)
    assert [c.populations for c in placement.cores] == [["a", BIAS_SOURCE], ["b"]]
    bias = helpers[BIAS_SOURCE]
    assert (bias.role, bias.own_cores, bias.shared_cores) == ("bias neuron", 0, 1)
    # Its own events per inference: 4 spikes (1 pJ each), 4 active updates (10 fJ: it
    # fires every step), 4 messages (10 pJ: one destination core), no hops (same core).
    assert bias.own_j == pytest.approx((4 * 10 + 4 * 1e3 + 4 * 1e4) * 1e-15, rel=1e-12)
    # Each spike reaches the 3 stored synapses into "a": 12 synaptic ops at 1 fJ.
    assert bias.synaptic_ops == 12
    assert bias.synaptic_j == pytest.approx(12e-15)
    # Static: the chip's power over 2 cores, and core 0's half over its 4 neurons.
    time = cost.latency.per_inference.value
    assert bias.static_j == pytest.approx(STATIC_W * time / 2 / 4, rel=1e-12)
    assert bias.energy_j == pytest.approx(bias.own_j + bias.synaptic_j + bias.static_j)
    # Breakdowns still add up: a shared core's static energy is split, not duplicated.
    inputs = sum(i.energy_j for i in cost.inputs.values())
    assert sum(p.energy_j for p in cost.populations.values()) + inputs == pytest.approx(
        cost.energy.total.value, rel=1e-12
    )


def test_on_a_core_of_its_own_the_bias_neuron_pays_a_whole_core():
    cost, helpers, placement = _cost(share_helpers=False)
    assert [c.populations for c in placement.cores] == [[BIAS_SOURCE], ["a"], ["b"]]
    bias = helpers[BIAS_SOURCE]
    assert (bias.own_cores, bias.shared_cores) == (1, 0)
    time = cost.latency.per_inference.value
    assert bias.static_j == pytest.approx(STATIC_W * time / 3, rel=1e-12)
    # One east-west hop per message to "a" on the next tile: 4 x 100 fJ more.
    assert bias.own_j == pytest.approx((4 * 10 + 4 * 1e3 + 4 * 1e4 + 4 * 1e5) * 1e-15)
    shared = _cost(share_helpers=True)[1][BIAS_SOURCE]
    assert bias.static_j > 2 * shared.static_j  # a whole core's share, not 1/4 of one


def test_a_network_without_helpers_lists_none():
    plan, hw = _plan(), _hardware()
    plan.synapses = plan.synapses[:2]
    placement = place(plan, hw)
    silent = {"x": np.zeros((1, STEPS, 2)), "a": np.zeros((1, STEPS, 3)),
              "b": np.zeros((1, STEPS, 2))}  # fmt: skip
    cost = estimate(count_activity(plan, silent, placement), placement, hw)
    assert helper_costs(cost, plan, hw) == {}
