"""The emulator against Lava itself: bit for bit at fixed point, every step, every neuron.

Lava's CPU simulator (``Loihi2SimCfg``, real process models, no mocks) is the
specification. Every comparison is on raw hardware steps, on every population's
spikes and voltage, so a one-step timing error or a 1-LSB rounding difference
anywhere fails the test.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikeforge.compile import compile_network
from spikeforge.compile.lower import CorePopulation, LoihiPlan, Synapses, count_bits
from spikeforge.compile.timing import BIAS_SOURCE
from spikeforge.errors import SpikeforgeError
from spikeforge.export import to_nir
from spikeforge.ir import from_nir
from spikeforge.models import zoo
from spikeforge.models.examples import EXAMPLES
from spikeforge.runtimes import RunOptions, run
from spikeforge.runtimes import lava as lava_runtime
from spikeforge.runtimes.emulator import Emulator, run_emulator
from spikeforge.runtimes.lava import _run_sample
from spikeforge.runtimes.reference import calibrate_on

STEPS = 60
#: Lava's floating_pt Dense sums the active columns with numpy, the emulator with a
#: matrix product: the same float64 terms in a different order, so voltages may
#: differ by a few ulps of their magnitude (|v| < 10 here); spikes must not differ.
FLOAT_ATOL = 1e-9


@pytest.fixture(scope="module", params=sorted(EXAMPLES))
def network(request):
    factory, shape = EXAMPLES[request.param]
    graph = to_nir(factory(), torch.zeros(shape), dt=1e-3)
    rng = np.random.default_rng(7)
    calibration = (rng.random((2, STEPS, *shape)) < 0.2).astype(np.float64)
    compiled = compile_network(from_nir(graph), calibration=calibrate_on(calibration))
    inputs = (rng.random((2, STEPS, *shape)) < 0.25).astype(np.float64)
    return compiled, inputs


def _both(compiled, inputs, precision):
    pops = sorted(compiled.network.populations)
    kwargs = dict(precision=precision, record=pops, raw_timing=True)
    return run(compiled, inputs, backend="lava", **kwargs), run(
        compiled, inputs, backend="emulator", device="cpu", **kwargs
    )


def test_fixed_point_is_bit_exact(network):
    compiled, inputs = network
    lava, emulator = _both(compiled, inputs, "fixed")
    assert sum(s.sum() for s in lava.spikes.values()) > 0, "a silent network proves nothing"
    assert lava.steps == emulator.steps
    for name in lava.spikes:
        np.testing.assert_array_equal(emulator.spikes[name], lava.spikes[name], err_msg=name)
    for name in lava.v:
        np.testing.assert_array_equal(emulator.v[name], lava.v[name], err_msg=name)
    for name in lava.outputs:
        np.testing.assert_array_equal(emulator.outputs[name], lava.outputs[name], err_msg=name)


def test_floating_point_matches(network):
    compiled, inputs = network
    lava, emulator = _both(compiled, inputs, "float")
    for name in lava.spikes:
        np.testing.assert_array_equal(emulator.spikes[name], lava.spikes[name], err_msg=name)
    for name in lava.v:
        np.testing.assert_allclose(emulator.v[name], lava.v[name], rtol=0, atol=FLOAT_ATOL)


@pytest.mark.parametrize("name", list(zoo.ZOO))
def test_zoo_models_are_bit_exact(name):
    """Every shipped zoo model, on two held-out samples, through its real NIR export."""
    card = zoo.get(name).CARD
    data = zoo.get(name).make_data("test", 2)
    graph = to_nir(zoo.load_trained(name), torch.zeros(card.input_shape), dt=card.dt)
    compiled = compile_network(from_nir(graph), calibration=calibrate_on(data.inputs))
    lava, emulator = _both(compiled, data.inputs, "fixed")
    assert sum(s.sum() for s in lava.spikes.values()) > 0, "a silent network proves nothing"
    for name_ in lava.spikes:
        np.testing.assert_array_equal(emulator.spikes[name_], lava.spikes[name_], err_msg=name_)
    for name_ in lava.v:
        np.testing.assert_array_equal(emulator.v[name_], lava.v[name_], err_msg=name_)
    for name_ in lava.outputs:
        np.testing.assert_array_equal(emulator.outputs[name_], lava.outputs[name_])


def test_the_compiled_neuron_update_equals_the_eager_one(network):
    compiled, inputs = network
    pops = sorted(compiled.network.populations)
    eager, fused = (
        run_emulator(
            compiled, inputs, RunOptions(record=pops, raw_timing=True, device="cpu"), fuse=fuse
        )
        for fuse in (False, True)
    )
    for name in pops:
        np.testing.assert_array_equal(fused.spikes[name], eager.spikes[name], err_msg=name)
        np.testing.assert_array_equal(fused.v[name], eager.v[name], err_msg=name)


def test_chunks_and_unbatched_input_give_the_same_result(network):
    compiled, inputs = network
    whole = run(compiled, inputs, backend="emulator")
    one_by_one = run_emulator(compiled, inputs, RunOptions(device="cpu"), chunk=1)
    np.testing.assert_array_equal(whole.output, one_by_one.output)
    single = run(compiled, inputs[0], backend="emulator")
    np.testing.assert_array_equal(single.output, whole.output[0])


def test_step_observer_sees_the_same_activity_as_lava(network):
    compiled, inputs = network
    totals = {"lava": {}, "emulator": {}}

    def observer(backend):
        def on_step(spikes):
            for name, s in spikes.items():
                count = float(torch.as_tensor(s).sum())
                totals[backend][name] = totals[backend].get(name, 0.0) + count

        return on_step

    for backend in totals:
        run(compiled, inputs, backend=backend, precision="fixed", on_step=observer(backend))
    assert totals["lava"] == totals["emulator"]
    spiking = {n for n, p in compiled.network.populations.items() if p.spiking}
    assert spiking | set(compiled.network.inputs) <= set(totals["emulator"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_equals_cpu(network):
    compiled, inputs = network
    pops = sorted(compiled.network.populations)
    cpu = run(compiled, inputs, backend="emulator", device="cpu", record=pops, raw_timing=True)
    gpu = run(compiled, inputs, backend="emulator", device="cuda", record=pops, raw_timing=True)
    for name in cpu.v:
        np.testing.assert_array_equal(gpu.v[name], cpu.v[name], err_msg=name)


def test_graded_input_is_refused(network):
    compiled, inputs = network
    with pytest.raises(SpikeforgeError, match=r"must be 0 or 1, got 0\.5 \(multi-spike"):
        run(compiled, inputs * 0.5, backend="emulator")


# --- random plans, straight at the process models -------------------------------------

MAX_U = 2**23


@st.composite
def plans(draw) -> tuple[LoihiPlan, np.ndarray]:
    """Small random Loihi plans, biased towards the corners where bits matter.

    Weights beyond 8 bits (clipped by Lava), negative and large weight exponents
    (floor shifts, overflowing ``u``), thresholds near 0 and near 2^17, biases with
    exponents, states starting near the 24-bit limits, extra delays, and always-on
    channels (a pacemaker ORed with a source's own spikes).
    """
    n_pops = draw(st.integers(1, 3))
    sizes = [draw(st.integers(1, 5)) for _ in range(n_pops)]
    n_in = draw(st.integers(1, 4))
    names = [f"p{i}" for i in range(n_pops)]
    ints = st.integers
    populations = {}
    for name, size in zip(names, sizes, strict=True):
        vth = draw(st.sampled_from([0, 1, 7, 100, 5000, 2**17 - 1]) | ints(0, 2**17 - 1))
        populations[name] = CorePopulation(
            name=name,
            size=size,
            du=draw(st.sampled_from([0, 1, 4095]) | ints(0, 4095)),
            dv=draw(st.sampled_from([0, 4095]) | ints(0, 4095)),
            vth=vth,
            bias_mant=np.array(draw(st.lists(ints(-4096, 4095), min_size=size, max_size=size))),
            bias_exp=np.array(draw(st.lists(ints(0, 7), min_size=size, max_size=size))),
            v_init=np.array(
                draw(st.lists(ints(-MAX_U + 1, MAX_U - 1), min_size=size, max_size=size))
            ),
            scale=np.ones(size),
            v_reset=np.zeros(size),
            spiking=True,
            latency=0,
        )
    pres = ["in", BIAS_SOURCE, *names]
    pre_size = {"in": n_in, BIAS_SOURCE: 1, **dict(zip(names, sizes, strict=True))}
    synapses = []
    for _ in range(draw(st.integers(1, 5))):
        pre = draw(st.sampled_from(pres))
        post = draw(st.sampled_from(names))
        shape = (populations[post].size, pre_size[pre])
        corner = st.sampled_from([-300, -256, -255, -1, 0, 1, 254, 255, 300])
        count = shape[0] * shape[1]
        weights = np.array(
            draw(st.lists(corner | ints(-300, 300), min_size=count, max_size=count))
        ).reshape(shape)
        synapses.append(
            Synapses(
                pre=pre,
                post=post,
                weights=weights,
                weight_exp=draw(ints(-8, 7)),
                extra_delay=draw(st.sampled_from([0, 0, 1, 3])),
                always_on=draw(st.none() | ints(0, pre_size[pre] - 1)),
            )
        )
    plan = LoihiPlan(
        precision="fixed",
        inputs={"in": n_in},
        populations=populations,
        synapses=synapses,
        latency=dict.fromkeys(names, 0),
    )
    steps = draw(st.integers(1, 12))
    spikes = np.array(draw(st.lists(st.booleans(), min_size=steps * n_in, max_size=steps * n_in)))
    return plan, spikes.reshape(steps, n_in).astype(np.float64)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(plans())
def test_random_plans_are_bit_exact(case):
    plan, spikes = case
    names = list(plan.populations)
    steps = spikes.shape[0]
    lava_s, lava_v = _run_sample(plan, {"in": spikes}, steps, names, names)
    # Both arithmetic paths (int32 casts skipped where provably inert, and applied),
    # each op by op and as the compiled kernel.
    for fuse in (False, True):
        emulator = Emulator(plan, torch.device("cpu"), fuse=fuse)
        for int32_overflow in (emulator.neurons.int32_overflow, True):
            emulator.neurons.int32_overflow = int32_overflow
            emu_s, emu_v = emulator.run({"in": spikes[None]}, steps, names, names)
            for name in names:
                np.testing.assert_array_equal(emu_s[name][0], lava_s[name], err_msg=f"{name} s")
                np.testing.assert_array_equal(emu_v[name][0], lava_v[name], err_msg=f"{name} v")


def test_a_pacemaker_turns_the_right_shift_into_rounding():
    """Fractions 200/256 and a pacemaker's 128/256 on an always-on channel, by hand.

    ``u`` forgets each step (du = 4095) and ``v`` keeps everything (dv = 0), so ``v``
    adds up ``64 * a_in``. Channel 0 spikes at steps 0 and 1, channel 1 at step 1.
    With the pacemaker each step with channel 0 sends (200 + 128) >> 8 = 1, channel 1's
    own spike is ORed with the pacemaker's so it adds nothing, and a step without input
    sends 128 >> 8 = 0. Without it channel 0 alone sends 200 >> 8 = 0, and only with
    channel 1 does the sum reach 1. Dense delays by one step.
    """
    population = CorePopulation(
        name="p", size=1, du=4095, dv=0, vth=2**17 - 1, bias_mant=np.zeros(1),
        bias_exp=np.zeros(1), v_init=np.zeros(1), scale=np.ones(1), v_reset=np.zeros(1),
        spiking=True, latency=0,
    )  # fmt: skip
    spikes = np.array([[1, 0], [1, 1], [0, 0], [0, 0]], dtype=np.float64)
    expected = {None: [0, 0, 64, 64], 1: [0, 64, 128, 128]}
    for always_on, volts in expected.items():
        plan = LoihiPlan(
            precision="fixed",
            inputs={"in": 2},
            populations={"p": population},
            synapses=[Synapses("in", "p", np.array([[200, 128]]), -8, 0, always_on)],
            latency={"p": 0},
        )
        _, lava_v = _run_sample(plan, {"in": spikes}, 4, ["p"], ["p"])
        _, emu_v = Emulator(plan, torch.device("cpu")).run({"in": spikes[None]}, 4, ["p"], ["p"])
        np.testing.assert_array_equal(lava_v["p"][:, 0], volts, err_msg=f"always_on={always_on}")
        np.testing.assert_array_equal(emu_v["p"][0, :, 0], volts)


def test_a_pacemaker_adds_to_a_graded_channels_count():
    """The fraction plane of a multi-spike (graded) source, by hand, on Lava's fixed_pt.

    ``src`` forgets ``u`` and (below 2^12) ``v`` each step and has ``vth << 6 = 64``,
    so its count is its input: 3 on channel 0 at step 1, counts (3, 2) at step 2. A
    ``Dense`` reading payloads sums its input port, so the pacemaker's 1 is added to
    channel 1's count, not ORed: ``p`` receives (3 * 200 + 128 * (0 + 1)) >> 8 = 2 at
    step 2 and (3 * 200 + 128 * (2 + 1)) >> 8 = 3 at step 3, each ``64 * a_in`` in
    ``v``. ORed, step 3 would get (600 + 128) >> 8 = 2 and ``v`` would end at 256.
    Payloads are ``count_bits(1)`` = 17 bits wide.
    """
    assert count_bits(1) == 17
    common = dict(bias_mant=np.zeros(2), bias_exp=np.zeros(2), v_init=np.zeros(2),
                  scale=np.ones(2), v_reset=np.zeros(2), spiking=True, latency=0)  # fmt: skip
    src = CorePopulation(name="src", size=2, du=4095, dv=4095, vth=1, reset="subtract",
                         multi_spike=True, num_message_bits=17, **common)  # fmt: skip
    post = CorePopulation(name="p", size=1, du=4095, dv=0, vth=2**17 - 1,
                          **{k: a[:1] if isinstance(a, np.ndarray) else a
                             for k, a in common.items()})  # fmt: skip
    plan = LoihiPlan(
        precision="fixed",
        inputs={"in": 2},
        populations={"src": src, "p": post},
        synapses=[
            Synapses("in", "src", np.array([[3, 0], [0, 2]]), 0, 0),
            Synapses("src", "p", np.array([[200, 128]]), -8, 0, always_on=1, num_message_bits=17),
        ],
        latency={"src": 0, "p": 0},
    )
    spikes = np.array([[1, 0], [1, 1], [0, 0], [0, 0], [0, 0]], dtype=np.float64)
    lava_s, lava_v = _run_sample(plan, {"in": spikes}, 5, ["src", "p"], ["p"])
    emu_s, emu_v = Emulator(plan, torch.device("cpu")).run(
        {"in": spikes[None]}, 5, ["src", "p"], ["p"]
    )
    np.testing.assert_array_equal(lava_s["src"], [[0, 0], [3, 0], [3, 2], [0, 0], [0, 0]])
    np.testing.assert_array_equal(lava_v["p"][:, 0], [0, 0, 128, 320, 320])
    np.testing.assert_array_equal(emu_s["src"][0], lava_s["src"])
    np.testing.assert_array_equal(emu_v["p"][0], lava_v["p"])


def test_int32_overflow_of_the_current_is_reproduced():
    """600 inputs x 255 << 7 push ``u`` past Lava's single 24-bit wrap into int32 overflow."""
    n_in = 600
    plan = LoihiPlan(
        precision="fixed",
        inputs={"in": n_in},
        populations={
            "p": CorePopulation(
                name="p",
                size=2,
                du=0,
                dv=0,
                vth=2**17 - 1,
                bias_mant=np.zeros(2),
                bias_exp=np.zeros(2),
                v_init=np.zeros(2),
                scale=np.ones(2),
                v_reset=np.zeros(2),
                spiking=True,
                latency=0,
            )
        },
        synapses=[Synapses("in", "p", np.stack([np.full(n_in, 255), np.full(n_in, -255)]), 7, 0)],
        latency={"p": 0},
    )
    spikes = np.ones((6, n_in))
    lava_s, lava_v = _run_sample(plan, {"in": spikes}, 6, ["p"], ["p"])
    emulator = Emulator(plan, torch.device("cpu"))
    assert emulator.neurons.int32_overflow
    emu_s, emu_v = emulator.run({"in": spikes[None]}, 6, ["p"], ["p"])
    assert np.abs(lava_v["p"]).max() == 2**23 - 1, "the corner was not reached"
    np.testing.assert_array_equal(emu_s["p"][0], lava_s["p"])
    np.testing.assert_array_equal(emu_v["p"][0], lava_v["p"])


def test_a_progress_bar_before_lava_does_not_break_lava():
    """tqdm's default multiprocessing lock would fix the start method Lava sets on import."""
    script = """
import numpy as np, torch
from spikeforge.compile import compile_network
from spikeforge.export import to_nir
from spikeforge.ir import from_nir
from spikeforge.models import zoo
from spikeforge.models.examples import EXAMPLES
from spikeforge.runtimes import run
factory, shape = EXAMPLES["lif_mlp"]
compiled = compile_network(from_nir(to_nir(factory(), torch.zeros(shape), dt=1e-3)))
x = (np.random.default_rng(0).random((1, 10, *shape)) < 0.3).astype(float)
a = run(compiled, x, backend="emulator", show_progress=True)
b = run(compiled, x, backend="lava", precision="fixed")
assert np.array_equal(a.output, b.output)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_lava_runs_a_batch_on_one_graph_as_on_fresh_graphs():
    """One compiled process graph with state reset between samples == a graph per sample."""
    factory, shape = EXAMPLES["recurrent"]
    compiled = compile_network(from_nir(to_nir(factory(), torch.zeros(shape), dt=1e-3)))
    inputs = (np.random.default_rng(5).random((3, 20, *shape)) < 0.3).astype(np.float64)
    pops = sorted(compiled.network.populations)
    options = RunOptions(precision="fixed", record=pops, raw_timing=True)
    args = (compiled, inputs, options, lava_runtime._run_sample, "Lava")
    batched = lava_runtime.run_samples(*args, run_batch=lava_runtime._run_batch)
    fresh = lava_runtime.run_samples(*args)
    assert sum(s.sum() for s in fresh.spikes.values()) > 0
    for name in pops:
        np.testing.assert_array_equal(batched.spikes[name], fresh.spikes[name], err_msg=name)
        np.testing.assert_array_equal(batched.v[name], fresh.v[name], err_msg=name)


def test_a_reset_phase_that_would_drift_keeps_a_graph_per_sample():
    factory, shape = EXAMPLES["recurrent"]
    plan = compile_network(from_nir(to_nir(factory(), torch.zeros(shape), dt=1e-3))).fixed_plan
    pop = next(iter(plan.populations.values()))
    pop.reset_interval = 8
    assert lava_runtime.batch_blocker(plan, 16) is None
    assert "start on another reset phase" in lava_runtime.batch_blocker(plan, 20)
