"""Placement on cores and chips: fits in one core, split, spread over chips, or refused clearly.

Plans are built by hand so every resource count can be checked exactly; the limits
are shrunk with :meth:`Hardware.with_values` so that splitting happens at small sizes.
"""

from __future__ import annotations

import numpy as np
import pytest

from spikeforge.compile.lower import CorePopulation, LoihiPlan, Synapses
from spikeforge.compile.placement import IO_CORE, STORED_WEIGHT_BITS, placement_summary
from spikeforge.compile.timing import BIAS_SOURCE
from spikeforge.errors import SpikeforgeError
from spikeforge.profile import load_hardware, place


def _population(name: str, size: int) -> CorePopulation:
    zeros = np.zeros(size)
    return CorePopulation(
        name=name, size=size, du=1.0, dv=0.5, vth=1.0, bias_mant=zeros, bias_exp=zeros,
        v_init=zeros, scale=np.ones(size), v_reset=zeros, spiking=True, latency=1,
    )  # fmt: skip


def _plan(inputs: dict[str, int], sizes: dict[str, int], synapses: list[Synapses]) -> LoihiPlan:
    return LoihiPlan(
        precision="fixed",
        inputs=inputs,
        populations={n: _population(n, s) for n, s in sizes.items()},
        synapses=synapses,
        latency={**dict.fromkeys(inputs, 0), **dict.fromkeys(sizes, 1)},
    )


def _hardware(**values: float):
    return load_hardware("loihi2").with_values(
        "tiny", {k.replace("__", "."): v for k, v in values.items()}
    )


def test_a_small_network_fits_one_core_with_exact_usage():
    rng = np.random.default_rng(0)
    weights = np.where(rng.random((100, 50)) < 0.3, 3, 0)
    weights[:, 7] = 0  # input neuron 7 reaches nothing: no input axon for it
    plan = _plan({"x": 50}, {"a": 100}, [Synapses("x", "a", weights, 0, 0)])
    placement = place(plan, load_hardware("loihi2"))
    assert len(placement.cores) == 1
    core = placement.cores[0]
    assert (core.chip, core.x, core.y, core.slot) == (0, 0, 0, 0)
    assert [(s.population, s.start, s.stop) for s in core.slices] == [("a", 0, 100)]
    assert core.usage == {
        "neurons": 100,
        "synapses": int(np.count_nonzero(weights)),  # zero weights are not stored
        "synaptic_memory": int(np.count_nonzero(weights)) * STORED_WEIGHT_BITS,
        "input_axons": 49,
        "output_axons": 0,  # routes of inputs start at the host, not on a core
    }
    assert placement.utilisation(core)["neurons"] == pytest.approx(100 / 3168)
    assert (placement.chips_used, placement.tiles_used) == (1, 1)


def test_weight_planes_and_delays_cost_memory():
    one = np.ones((4, 3))
    plan = _plan(
        {"x": 3},
        {"a": 4},
        [
            Synapses("x", "a", one, 0, 0),
            Synapses("x", "a", one, 2, 0),
            Synapses("x", "a", one, 0, 5),
        ],
    )
    hw = load_hardware("loihi2")
    core = place(plan, hw).cores[0]
    delayed = STORED_WEIGHT_BITS + hw.limit("delay_bits")
    assert core.usage["synaptic_memory"] == 12 * STORED_WEIGHT_BITS * 2 + 12 * delayed
    # Each synapse group (weight plane) has its own axons: 3 presynaptic neurons x 3 groups.
    assert core.usage["input_axons"] == 9


@pytest.mark.parametrize(
    ("limits", "size", "fan_in", "expected"),
    [
        ({"limits__neurons": 64}, 150, 1, [50, 50, 50]),  # ceil(150 / 64) = 3 equal slices
        # 10 synapses x 8 bits = 80 bits per neuron; 800 bits per core -> 3 slices of <= 10.
        ({"limits__synaptic_memory": 800}, 25, 10, [8, 9, 8]),
    ],
)
def test_a_population_too_big_for_one_core_is_split_evenly(limits, size, fan_in, expected):
    weights = np.ones((size, fan_in))
    plan = _plan({"x": fan_in}, {"a": size}, [Synapses("x", "a", weights, 0, 0)])
    placement = place(plan, _hardware(**limits))
    assert [c.slices[0].size for c in placement.cores] == expected
    starts = [c.slices[0].start for c in placement.cores]
    assert starts == list(np.cumsum([0, *expected[:-1]]))
    for core in placement.cores:
        assert all(u <= 1 for u in placement.utilisation(core).values())
    assert list(placement.neuron_core["a"]) == [i for i, n in enumerate(expected) for _ in range(n)]


def test_input_axons_force_a_split():
    """Each neuron listens to its own 4 inputs; 30 axons per core allow 7 neurons per core."""
    weights = np.kron(np.eye(20), np.ones((1, 4)))  # [20, 80]
    plan = _plan({"x": 80}, {"a": 20}, [Synapses("x", "a", weights, 0, 0)])
    placement = place(plan, _hardware(limits__input_axons=30))
    sizes = [c.slices[0].size for c in placement.cores]
    assert sizes == [7, 6, 7]  # the fewest equal slices that fit (2 slices need 40 axons)
    assert [c.usage["input_axons"] for c in placement.cores] == [28, 24, 28]


def test_a_network_spread_over_chips_and_its_routes():
    """Two cores per chip (2 x 1 tiles, 1 core each): three populations need two chips."""
    hw = _hardware(
        topology__chips=3, topology__tiles_x=2, topology__tiles_y=1, topology__cores_per_tile=1
    )
    ones = np.ones((2, 2))
    plan = _plan(
        {"x": 2},
        {"a": 2, "b": 2, "c": 2},
        [Synapses(pre, post, ones, 0, 0) for pre, post in ("xa", "ab", "bc")],
    )
    placement = place(plan, hw)
    assert [(c.chip, c.x, c.y) for c in placement.cores] == [(0, 0, 0), (0, 1, 0), (1, 0, 0)]
    assert (placement.chips_used, placement.tiles_used) == (2, 3)
    assert placement.hops(0, 1) == (1, 0, 0)
    assert placement.hops(1, 2) == (0, 0, 1)  # the chip link replaces the boundary hop
    assert placement.hops(0, 2) == (1, 0, 1)
    assert placement.hops(IO_CORE, 1) == (1, 0, 0)  # inputs enter at chip 0, tile (0, 0)
    # Output axons: each of a's 2 neurons routes to b's core once, likewise b to c.
    assert [c.usage["output_axons"] for c in placement.cores] == [2, 2, 0]


def test_serpentine_walk_keeps_consecutive_cores_adjacent():
    hw = _hardware(topology__tiles_x=3, topology__tiles_y=2, topology__cores_per_tile=1)
    plan = _plan({"x": 1}, {f"p{i}": 1 for i in range(6)}, [])
    placement = place(plan, hw)
    assert [(c.x, c.y) for c in placement.cores] == [(0, 0), (1, 0), (2, 0), (2, 1), (1, 1), (0, 1)]


def test_the_bias_neuron_shares_a_core_with_the_population_it_feeds():
    bias = [Synapses(BIAS_SOURCE, "b", np.ones((3, 1)), 0, 0)]
    plan = _plan({"x": 1}, {"a": 2, "b": 3}, bias)
    placement = place(plan, load_hardware("loihi2"))
    assert [c.populations for c in placement.cores] == [["a"], ["b", BIAS_SOURCE]]
    assert placement.cores[1].usage["neurons"] == 4
    assert placement.cores[1].usage["output_axons"] == 1  # its one route, to its own core
    assert placement.neuron_core[BIAS_SOURCE].tolist() == [1]


def test_the_bias_neuron_goes_to_another_core_or_its_own_when_full():
    bias = [Synapses(BIAS_SOURCE, "b", np.ones((3, 1)), 0, 0)]
    plan = _plan({"x": 1}, {"a": 2, "b": 3}, bias)
    placement = place(plan, _hardware(limits__neurons=3))  # b's core is full, a's is not
    assert [c.populations for c in placement.cores] == [["a", BIAS_SOURCE], ["b"]]
    full = place(_plan({"x": 1}, {"b": 3}, bias), _hardware(limits__neurons=3))
    assert [c.populations for c in full.cores] == [["b"], [BIAS_SOURCE]]


def test_helpers_can_still_get_a_core_each_as_lava_allocates_them():
    plan = _plan({"x": 1}, {"a": 3}, [Synapses(BIAS_SOURCE, "a", np.ones((3, 1)), 0, 0)])
    placement = place(plan, load_hardware("loihi2"), share_helpers=False)
    assert [c.populations for c in placement.cores] == [[BIAS_SOURCE], ["a"]]
    assert placement.cores[0].usage["output_axons"] == 1


def test_a_neuron_that_cannot_fit_any_core_is_named_with_limit_and_excess():
    weights = np.ones((3, 200))
    plan = _plan({"x": 200}, {"wide": 3}, [Synapses("x", "wide", weights, 0, 0)])
    with pytest.raises(SpikeforgeError) as info:
        place(plan, _hardware(limits__synaptic_memory=800))
    assert str(info.value) == (
        "population 'wide': neuron 0 alone needs 1600 bits of synaptic memory; "
        "a tiny core has 800 (exceeded by 800 bits)"
    )
    with pytest.raises(SpikeforgeError) as info:
        place(plan, _hardware(limits__input_axons=150))
    assert str(info.value) == (
        "population 'wide': neuron 0 alone needs 200 input axons; "
        "a tiny core has 150 (exceeded by 50)"
    )


def test_too_many_cores_names_the_first_population_that_does_not_fit():
    hw = _hardware(
        topology__tiles_x=1, topology__tiles_y=1, topology__cores_per_tile=2, limits__neurons=10
    )
    plan = _plan({"x": 1}, {"a": 10, "b": 5, "c": 25}, [])
    with pytest.raises(SpikeforgeError) as info:
        place(plan, hw)
    assert str(info.value) == (
        "the network needs 5 cores but tiny has 1 chip(s) x 2 cores = 2 (exceeded by 3 cores); "
        "population 'c' is the first that does not fit"
    )


def test_output_axons_over_the_limit_are_refused():
    plan = _plan(
        {"x": 1},
        {"a": 6, "b": 6},
        [Synapses("a", "b", np.ones((6, 6)), 0, 0), Synapses("a", "b", np.ones((6, 6)), 1, 0)],
    )
    with pytest.raises(SpikeforgeError) as info:
        place(plan, _hardware(limits__output_axons=10))
    assert str(info.value) == (
        "population 'a' (core 0): its neurons need 12 output axons (routes to destination "
        "cores); a tiny core has 10 (exceeded by 2)"
    )


def test_hardware_with_narrower_weights_is_refused():
    plan = _plan({"x": 1}, {"a": 1}, [Synapses("x", "a", np.ones((1, 1)), 0, 0)])
    with pytest.raises(SpikeforgeError, match=r"at most 4 bits.*short by 4 bits"):
        place(plan, _hardware(limits__weight_bits=4))


def test_compile_summary_reports_placement_or_why_not():
    plan = _plan({"x": 4}, {"a": 3}, [Synapses("x", "a", np.ones((3, 4)), 0, 0)])
    text = placement_summary(plan, load_hardware("loihi2"))
    assert text.splitlines()[0] == "placement on loihi2: 1 of 128 cores, 1 of 1 chip(s), 1 tile(s)"
    big = _plan({"x": 1}, {"a": 3168 * 129}, [])
    assert placement_summary(big, load_hardware("loihi2")).startswith(
        "warning: does not fit on loihi2: the network needs 129 cores"
    )
