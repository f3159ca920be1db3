"""Loihi's one-step synapses versus source timing: alignment, compensation, refusal."""

from __future__ import annotations

import nir
import numpy as np
import pytest

from spikeforge.compile import compile_network
from spikeforge.errors import TimingError
from spikeforge.ir import from_nir
from spikeforge.runtimes import run

DT = 1e-3


def _lif(n: int, v_th: float = 0.2) -> nir.LIF:
    return nir.LIF(
        tau=np.full(n, 8 * DT),
        r=np.ones(n),
        v_leak=np.zeros(n),
        v_threshold=np.full(n, v_th),
    )


def _weights(rng: np.random.Generator, n_out: int, n_in: int) -> nir.Linear:
    return nir.Linear(weight=rng.uniform(0.5, 2.0, (n_out, n_in)))


def _skip_graph() -> nir.NIRGraph:
    """input -> a -> b -> c and input -> c directly: paths of latency 3 and 1 meet at c."""
    rng = np.random.default_rng(0)
    nodes = {
        "input": nir.Input(input_type=np.array([6])),
        "w_a": _weights(rng, 5, 6),
        "a": _lif(5),
        "w_b": _weights(rng, 5, 5),
        "b": _lif(5),
        "w_c": _weights(rng, 4, 5),
        "w_skip": _weights(rng, 4, 6),
        "c": _lif(4),
        "output": nir.Output(output_type=np.array([4])),
    }
    edges = [
        ("input", "w_a"), ("w_a", "a"), ("a", "w_b"), ("w_b", "b"), ("b", "w_c"),
        ("w_c", "c"), ("input", "w_skip"), ("w_skip", "c"), ("c", "output"),
    ]  # fmt: skip
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": DT})


def _loop_graph() -> nir.NIRGraph:
    """a -> b -> a: a loop of two populations, one edge of which has no delay in the source."""
    rng = np.random.default_rng(1)
    nodes = {
        "input": nir.Input(input_type=np.array([4])),
        "w_in": _weights(rng, 3, 4),
        "a": _lif(3),
        "w_ab": _weights(rng, 3, 3),
        "b": _lif(3),
        "w_ba": nir.Linear(weight=-0.5 * np.ones((3, 3))),
        "output": nir.Output(output_type=np.array([3])),
    }
    edges = [
        ("input", "w_in"), ("w_in", "a"), ("a", "w_ab"), ("w_ab", "b"), ("b", "w_ba"),
        ("w_ba", "a"), ("b", "output"),
    ]  # fmt: skip
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": DT})


def _spikes(steps: int, n: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((1, steps, n)) < 0.3).astype(np.float64)


def test_paths_of_different_latency_get_compensating_delay():
    compiled = compile_network(from_nir(_skip_graph()))
    latency = compiled.timing.latency
    assert (latency["a"], latency["b"], latency["c"]) == (1, 2, 3)
    by_edge = {
        (c.pre, c.post): extra
        for c, extra in zip(compiled.network.connections, compiled.timing.extra_delay, strict=True)
    }
    assert by_edge[("input", "c")] == 2  # waits for the two-synapse path
    assert by_edge[("b", "c")] == 0
    inputs = _spikes(40, 6)
    reference = run(compiled, inputs)
    lava = run(compiled, inputs, backend="lava", precision="float")
    assert reference.output.sum() > 0
    np.testing.assert_array_equal(lava.output, reference.output)


def test_raw_timing_is_the_aligned_output_shifted_by_latency():
    compiled = compile_network(from_nir(_skip_graph()))
    inputs = _spikes(30, 6, seed=2)
    aligned = run(compiled, inputs, backend="lava", precision="float")
    raw = run(compiled, inputs, backend="lava", precision="float", raw_timing=True)
    latency = compiled.output_latency["output"]
    assert raw.output.shape[1] == 30 + latency
    np.testing.assert_array_equal(raw.output[:, latency:], aligned.output)
    assert not raw.output[:, :latency].any()


def test_zero_delay_edge_in_a_loop_is_refused_with_the_loop_named():
    with pytest.raises(TimingError, match=r"loop a -> b -> a|loop b -> a -> b"):
        compile_network(from_nir(_loop_graph()))


def test_divergent_loop_compiles_only_on_request_and_reports_late_edges():
    compiled = compile_network(from_nir(_loop_graph()), allow_timing_divergence=True)
    late = [compiled.network.connections[i] for i in compiled.timing.late]
    assert [(c.pre, c.post) for c in late] == [("a", "b")]
    inputs = _spikes(40, 4, seed=3)
    reference = run(compiled, inputs)
    lava = run(compiled, inputs, backend="lava", precision="float")
    # The divergence is real and measurable: the late edge shifts b's spikes.
    assert not np.array_equal(lava.output, reference.output)
