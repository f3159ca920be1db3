"""Activity counters and the energy/latency model, against counts worked out by hand.

The hand network (every number below is derived in the comments, not taken from a run)::

    input "in" (2) --s1, s2 (two weight planes, 1-step synapses)--> "a" (3)
    "a" --s3 (DelayDense, extra delay 1: arrives 2 steps later)--> "b" (2)
    bias neuron --s4 (1-step)--> "b" neuron 0

placed with ``share_helpers=False`` (one core each, as Lava allocates them) on a 2-chip
system with two single-core tiles per chip: bias -> core 0
(chip 0, tile 0), a -> core 1 (chip 0, tile 1), b -> core 2 (chip 1, tile 0).
"""

from __future__ import annotations

from dataclasses import fields, replace

import numpy as np
import pytest
import torch

# Lava fixes the multiprocessing start method when imported and fails if anything (a
# tqdm bar, even a disabled one) fixed it first: import it at collection time.
import spikeforge.runtimes.lava  # noqa: F401
from spikeforge.compile.lower import CorePopulation, LoihiPlan, Synapses
from spikeforge.compile.timing import BIAS_SOURCE
from spikeforge.errors import SpikeforgeError
from spikeforge.profile import ActivityCounter, count_activity, estimate, load_hardware, place
from spikeforge.profile.counters import HOPS, Counts, Route
from spikeforge.profile.hardware import Barrier

S1 = np.array([[1, 0], [1, 1], [0, 0]])  # post x pre; per-input fan-out: in0 -> 2, in1 -> 1
S2 = np.array([[0, 0], [2, 0], [0, 0]])  # second plane: in0 -> 1, in1 -> 0
S3 = np.array([[1, 0, 1], [0, 0, 1]])  # a0 -> 1, a1 -> 0, a2 -> 2
S4 = np.array([[1], [0]])  # bias -> b0

#: One sample, hardware steps 0..3 (rows), as fed to the counter.
IN = [[1, 0], [1, 1], [0, 0], [0, 0]]
A = [[0, 0, 0], [1, 0, 1], [0, 0, 0], [0, 1, 0]]
B = [[0, 0], [0, 0], [1, 0], [0, 1]]


def _population(name: str, size: int) -> CorePopulation:
    zeros = np.zeros(size)
    return CorePopulation(
        name=name, size=size, du=1.0, dv=0.5, vth=1.0, bias_mant=zeros, bias_exp=zeros,
        v_init=zeros, scale=np.ones(size), v_reset=zeros, spiking=True, latency=1,
    )  # fmt: skip


def _plan() -> LoihiPlan:
    return LoihiPlan(
        precision="fixed",
        inputs={"in": 2},
        populations={"a": _population("a", 3), "b": _population("b", 2)},
        synapses=[
            Synapses("in", "a", S1, 0, 0),
            Synapses("in", "a", S2, 1, 0),
            Synapses("a", "b", S3, 0, 1),
            Synapses(BIAS_SOURCE, "b", S4, 0, 0),
        ],
        latency={"in": 0, "a": 1, "b": 3},
    )


EVENTS = [
    "synaptic_op", "neuron_update_active", "neuron_update_inactive", "spike_out",
    "message", "hop_east_west", "hop_north_south", "chip_hop",
]  # fmt: skip
#: Latencies in ns, in the order of EVENTS.
LATENCY_NS = [1, 2, 4, 8, 16, 100, 200, 1000]


def _hardware():
    """Round numbers, each event's energy a different power of ten, so totals read as counts."""
    values = {
        "topology.chips": 2,
        "topology.tiles_x": 2,
        "topology.tiles_y": 1,
        "topology.cores_per_tile": 1,
        "power.static_per_chip": 1e-3,
    }
    for i, (event, ns) in enumerate(zip(EVENTS, LATENCY_NS, strict=True)):
        values[f"energy.{event}"] = 10**i * 1e-15
        values[f"latency.{event}"] = ns * 1e-9
    hw = load_hardware("loihi2").with_values("hand", values)
    return replace(hw, barrier=Barrier((1, 32), (50e-9, 50e-9), "s", "estimated", "hand"))


def _rasters(batch: int = 1) -> dict[str, np.ndarray]:
    def tile(rows: list) -> np.ndarray:
        return np.repeat(np.asarray(rows, dtype=float)[None], batch, axis=0)

    return {"in": tile(IN), "a": tile(A), "b": tile(B)}


def test_hand_counts_per_population_and_step():
    plan = _plan()
    activity = count_activity(plan, _rasters(), place(plan, _hardware(), share_helpers=False))

    def per_step(name: str, count: str) -> list[float]:
        return getattr(activity.populations[name], count).tolist()

    # Synaptic ops, on the destination, at the spike's step:
    # a: step 0 in0 (2 + 1 planes) = 3; step 1 in0 3 + in1 (1 + 0) = 4.
    assert per_step("a", "synaptic_ops") == [3, 4, 0, 0]
    # b: bias 1 every step; step 1 adds a0 (1) + a2 (2); step 3 adds a1 (0).
    assert per_step("b", "synaptic_ops") == [1, 4, 1, 1]
    assert per_step(BIAS_SOURCE, "synaptic_ops") == [0, 0, 0, 0]
    # Active = received a synaptic event whose delay ends this step, or fired.
    # a (delay 1 from in; in0 -> a0, a1; in1 -> a1): step 1: in@0 reaches a0, a1, and
    # a0, a2 fire -> 3; step 2: in@1 reaches a0, a1 -> 2; step 3: a1 fires -> 1.
    assert per_step("a", "active_updates") == [0, 3, 2, 1]
    assert per_step("a", "inactive_updates") == [3, 0, 1, 2]
    # b: bias (delay 1) reaches b0 from step 1 on; a@1 (delay 2) reaches b0 and b1 at
    # step 3, where b1 also fires; b0 fires at step 2 (already active).
    assert per_step("b", "active_updates") == [0, 1, 1, 2]
    assert per_step(BIAS_SOURCE, "active_updates") == [1, 1, 1, 1]
    assert per_step(BIAS_SOURCE, "inactive_updates") == [0, 0, 0, 0]
    assert per_step("a", "spikes") == [0, 2, 0, 1]
    # Messages: one per destination core a spike reaches, whatever the synapse groups.
    # a0 and a2 each reach b's core through s3; a1 reaches nothing.
    assert per_step("a", "messages") == [0, 2, 0, 0]
    assert per_step(BIAS_SOURCE, "messages") == [1, 1, 1, 1]
    # a (chip 0, x 1) -> b (chip 1, x 0): one chip crossing, no mesh hop.
    assert per_step("a", "chip_hops") == [0, 2, 0, 0]
    assert per_step("a", "hops_east_west") == [0, 0, 0, 0]
    # bias (chip 0, x 0) -> b (chip 1, x 0): one east-west hop and one crossing.
    assert per_step(BIAS_SOURCE, "hops_east_west") == [1, 1, 1, 1]
    assert per_step(BIAS_SOURCE, "chip_hops") == [1, 1, 1, 1]
    # Inputs (from the I/O port at chip 0, x 0): in0 sends 1 message (its two planes
    # share a's core), in1 sends 1; each takes one east-west hop to a's tile.
    assert activity.inputs["in"].spikes.tolist() == [1, 2, 0, 0]
    assert activity.inputs["in"].messages.tolist() == [1, 2, 0, 0]
    assert activity.inputs["in"].hops_east_west.tolist() == [1, 2, 0, 0]
    assert activity.inputs["in"].synaptic_ops.tolist() == [0, 0, 0, 0]  # counted on a
    route = activity.longest_route
    assert [getattr(route, h).tolist() for h in HOPS] == [[1] * 4, [0] * 4, [1] * 4]
    # Per core: the population counts of the core's neurons.
    assert activity.cores.synaptic_ops.sum(axis=0).tolist() == [0, 7, 7]
    assert activity.cores.active_updates.sum(axis=0).tolist() == [4, 6, 4]
    assert activity.cores.inactive_updates.sum(axis=0).tolist() == [0, 6, 4]


def test_a_pacemaker_is_counted_as_the_always_spiking_source_it_is():
    """A third weight plane's pacemaker on channel 1 of ``in``, counted by hand.

    ``in`` reaches ``a`` through S1 and through P, whose column 1 is the pacemaker's
    (half a unit on a0 and a1): in1's own spikes add nothing there, the pacemaker adds
    2 synaptic ops on every step.
    """
    paced = np.array([[5, 128], [0, 128], [0, 0]])
    plan = LoihiPlan(
        precision="fixed",
        inputs={"in": 2},
        populations={"a": _population("a", 3)},
        synapses=[Synapses("in", "a", S1, 0, 0), Synapses("in", "a", paced, -8, 0, 1)],
        latency={"in": 0, "a": 1},
    )
    (pacemaker,) = plan.pacemakers
    placement = place(plan, _hardware(), share_helpers=False)
    assert [c.populations for c in placement.cores] == [[pacemaker], ["a"]]
    activity = count_activity(plan, {"in": np.array([IN]), "a": np.zeros((1, 4, 3))}, placement)
    # Step 0: in0 reaches 2 (S1) + 1 (P); step 1 adds in1's 1 (S1) + 0 (P); +2 paced.
    assert activity.populations["a"].synaptic_ops.tolist() == [5, 6, 2, 2]
    paced_counts = activity.populations[pacemaker]
    assert paced_counts.spikes.tolist() == [1, 1, 1, 1]
    assert paced_counts.messages.tolist() == [1, 1, 1, 1]
    assert paced_counts.active_updates.tolist() == [1] * 4
    assert paced_counts.inactive_updates.tolist() == [1] * 4


def test_batch_counts_add_up_and_per_inference_divides():
    plan = _plan()
    placement = place(plan, _hardware(), share_helpers=False)
    one = count_activity(plan, _rasters(1), placement)
    three = count_activity(plan, _rasters(3), placement)
    assert three.batch == 3 and three.steps == 4
    for name in one.populations:
        _assert_equal(three.populations[name], one.populations[name].map(lambda a: 3 * a))
        assert three.per_inference(name) == one.per_inference(name)
    _assert_equal(three.longest_route, one.longest_route)


def test_counter_accepts_torch_and_refuses_missing_or_misshaped_sources():
    plan = _plan()
    counter = ActivityCounter(plan)  # no placement: no messages, hops or cores
    rasters = _rasters()
    for t in range(4):
        counter.update(
            {
                "in": torch.tensor(rasters["in"][:, t]),
                "a": torch.tensor(rasters["a"][:, t], dtype=torch.bool),
                "b": rasters["b"][:, t],
                BIAS_SOURCE: np.ones((1, 1)),
            }
        )
    activity = counter.result()
    assert activity.cores is None and not activity.placed
    assert activity.per_inference("a").synaptic_ops == 7
    with pytest.raises(SpikeforgeError, match=r"no spikes given for \['b'\]"):
        ActivityCounter(plan).update(
            {"in": np.zeros((1, 2)), "a": np.zeros((1, 3)), BIAS_SOURCE: np.ones((1, 1))}
        )
    with pytest.raises(
        SpikeforgeError, match=r"spikes of 'a' have shape \[1, 4\], expected \[1, 3\]"
    ):
        ActivityCounter(plan).update(
            {
                "in": np.zeros((1, 2)),
                "a": np.zeros((1, 4)),
                "b": np.zeros((1, 2)),
                BIAS_SOURCE: np.ones((1, 1)),
            }
        )
    with pytest.raises(SpikeforgeError, match=r"\['c'\] are neither inputs nor populations"):
        count_activity(plan, {**_rasters(), "c": np.zeros((1, 4, 1))})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_counter_on_cuda_matches_cpu():
    plan = _plan()
    placement = place(plan, _hardware(), share_helpers=False)
    cpu = count_activity(plan, _rasters(2), placement)
    counter = ActivityCounter(plan, placement)
    for t in range(4):
        step = {n: torch.tensor(r[:, t], device="cuda") for n, r in _rasters(2).items()}
        counter.update({**step, BIAS_SOURCE: torch.ones(2, 1, device="cuda")})
    gpu = counter.result()
    for name in cpu.populations:
        np.testing.assert_array_equal(cpu.populations[name], gpu.populations[name])
    np.testing.assert_array_equal(cpu.cores, gpu.cores)


def test_energy_and_latency_from_hand_counts():
    plan = _plan()
    hw = _hardware()
    placement = place(plan, hw, share_helpers=False)
    cost = estimate(count_activity(plan, _rasters(2), placement), placement, hw)
    # Totals per inference: synops 7 + 7 = 14; active 6 + 4 + 4 = 14; inactive 6 + 4 = 10;
    # spikes out (populations only) 3 + 2 + 4 = 9; messages 2 + 4 + 3 (inputs) = 9;
    # east-west hops 4 (bias) + 3 (inputs) = 7; north-south 0; chip crossings 2 + 4 = 6.
    # Energies are 10**i fJ in that order, so the digits spell the counts:
    expected_dynamic = (14 + 14 * 10 + 10 * 100 + 9 * 1e3 + 9 * 1e4 + 7 * 1e5 + 0 + 6 * 1e7) * 1e-15
    assert cost.energy.dynamic.value == pytest.approx(expected_dynamic, rel=1e-12)
    # Latency per step: slowest core + longest route (1 hop + 1 crossing = 1100 ns) + 50 ns.
    # A core takes its busier unit: synaptic (synops) or neuron/output (the rest).
    # bias core every step: spike 8 + active 2 + message 16 = 26 ns.
    # a's core: step 0 max(3 synops, 3 inactive * 4) = 12; step 1 max(4, 3*2 + 2*8 + 2*16)
    # = 54; step 2: 2*2 + 1*4 = 8; step 3: 2 + 2*4 + 8 = 18.  b's core never exceeds 15.
    slowest = [26, 54, 26, 26]
    np.testing.assert_allclose(cost.step_latency.slowest_core, np.array(slowest) * 1e-9)
    time = (sum(slowest) + 4 * 1100 + 4 * 50) * 1e-9
    assert cost.latency.per_inference.value == pytest.approx(time, rel=1e-12)
    # Static power is per chip in use (a chip leaks whatever runs on it), not per core.
    chips = len({core.chip for core in placement.cores})
    assert cost.energy.static.value == pytest.approx(1e-3 * chips * time, rel=1e-12)
    total = cost.energy.total.value
    assert total == pytest.approx(expected_dynamic + 1e-3 * chips * time, rel=1e-12)
    assert cost.throughput.value == pytest.approx(1 / time)
    assert cost.edp.value == pytest.approx(total * time)
    # Breakdowns add up to the total: per population + inputs, and per core + inputs.
    inputs = sum(row.energy_j for row in cost.inputs.values())
    assert inputs == pytest.approx((3 * 1e4 + 3 * 1e5) * 1e-15)
    assert sum(r.energy_j for r in cost.populations.values()) + inputs == pytest.approx(total)
    assert sum(c.energy_j for c in cost.cores) + inputs == pytest.approx(total)
    assert {q.kind for q in vars(cost.energy).values()} == {"estimated"}


def test_estimate_refuses_unplaced_activity_and_other_topologies():
    plan = _plan()
    hw = _hardware()
    placement = place(plan, hw, share_helpers=False)
    with pytest.raises(SpikeforgeError, match="without a placement"):
        estimate(count_activity(plan, _rasters()), placement, hw)
    other = hw.with_values("wide", {"topology.tiles_x": 4})
    with pytest.raises(SpikeforgeError, match="placement was made for hand"):
        estimate(count_activity(plan, _rasters(), placement), placement, other)


# --------------------------------------------------------------------------- real backends


def _compiled(name: str, weight_planes: int = 2):
    from spikeforge.compile import compile_network
    from spikeforge.export import to_nir
    from spikeforge.ir.nir_import import from_nir
    from spikeforge.models.examples import EXAMPLES

    factory, shape = EXAMPLES[name]
    graph = from_nir(to_nir(factory(), torch.zeros(shape), dt=1e-3), 1e-3)
    return compile_network(graph, weight_planes=weight_planes), shape


def _count(compiled, inputs, backend: str, precision: str):
    from spikeforge.profile.stages import count_run

    placement = place(compiled.plan(precision), load_hardware("loihi2"))
    activity, _ = count_run(compiled, {"input": inputs}, placement, backend, precision)
    return activity


def _assert_same(one, other):
    assert (one.batch, one.steps) == (other.batch, other.steps)
    for name in one.populations:
        _assert_equal(one.populations[name], other.populations[name], name)
    _assert_equal(one.cores, other.cores)
    _assert_equal(one.longest_route, other.longest_route)


def _assert_equal(one: Counts | Route, other: Counts | Route, what: str = "") -> None:
    """Every count (or hop) of ``one`` equals ``other``'s, step for step."""
    for f in fields(one):
        np.testing.assert_array_equal(
            getattr(one, f.name), getattr(other, f.name), err_msg=f"{what} {f.name}"
        )


def test_reference_replayed_in_hardware_steps_counts_exactly_what_the_float_emulator_does():
    """Float semantics are spike-for-spike equal across backends, so the counts must be too."""
    compiled, shape = _compiled("lif_mlp")  # has a bias neuron and two latencies
    x = (np.random.default_rng(1).random((3, 25, *shape)) < 0.3).astype(float)
    _assert_same(
        _count(compiled, x, "reference", "float"), _count(compiled, x, "emulator", "float")
    )


@pytest.mark.parametrize("weight_planes", [2, 3])
def test_lava_fixed_point_counts_equal_the_emulator_counts(weight_planes):
    """The Lava runs of the profiling tests: one sample, fixed point, bit-exact backends
    (with three planes, the pacemakers' spikes as well)."""
    compiled, shape = _compiled("recurrent", weight_planes)
    x = (np.random.default_rng(2).random((1, 15, *shape)) < 0.3).astype(float)
    lava = _count(compiled, x, "lava", "fixed")
    _assert_same(lava, _count(compiled, x, "emulator", "fixed"))
    assert lava.total("spikes") > 0 and lava.total("synaptic_ops") > 0  # not vacuous
