"""A NIR graph's convolutions stay convolutions: Lava ``Conv`` processes and the
emulator's conv kernels, bit-exact with each other, and equal to the dense matrix
they replace (spikeforge/compile/convolution.py)."""

from __future__ import annotations

import functools

import norse.torch as norse
import numpy as np
import pytest
import torch

from spikeforge.compile import compile_network
from spikeforge.compile.convolution import ConvConnection
from spikeforge.compile.network import normalize
from spikeforge.export import SumPool2d, to_nir
from spikeforge.ir import from_nir, maps
from spikeforge.ir.nodes import Conv2dMap, Pool2dMap
from spikeforge.runtimes import run
from spikeforge.runtimes.reference import calibrate_on

SHAPE = (1, 8, 8)
DT = 1e-3
FLOAT_ATOL = 1e-9
GAIN = 4.0


def _lif() -> norse.LIFCell:
    return norse.LIFCell(norse.LIFParameters(v_th=torch.tensor(0.3)), dt=DT)


def _module(pool_kernel: int = 2, pool_stride: int = 2) -> torch.nn.Module:
    """Conv2d -> LIF -> SumPool2d -> Conv2d -> LIF -> Flatten -> Linear -> LIF."""
    torch.manual_seed(3)
    pooled = (8 - pool_kernel) // pool_stride + 1
    module = norse.SequentialState(
        torch.nn.Conv2d(1, 4, kernel_size=3, padding=1, bias=False),
        _lif(),
        SumPool2d(pool_kernel, pool_stride),
        torch.nn.Conv2d(4, 6, kernel_size=3, padding=1, bias=False),
        _lif(),
        torch.nn.Flatten(),
        torch.nn.Linear(6 * pooled * pooled, 5, bias=False),
        _lif(),
    ).double()
    with torch.no_grad():  # strong enough that every layer spikes within 25 steps
        for layer in (module[0], module[3], module[6]):
            layer.weight *= GAIN
    return module


def _graph(module: torch.nn.Module):
    return from_nir(to_nir(module, torch.zeros(SHAPE, dtype=torch.float64), dt=DT))


def _spikes(seed: int, batch: int, steps: int = 25) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((batch, steps, *SHAPE)) < 0.3).astype(np.float64)


@functools.cache
def _compiled():
    return compile_network(_graph(_module()), calibration=calibrate_on(_spikes(1, 4)))


def test_the_plans_hold_convolutions_with_the_pooling_folded_in() -> None:
    compiled = _compiled()
    convs = [c for c in compiled.network.connections if isinstance(c, ConvConnection)]
    assert len(convs) == 2
    assert convs[1].stride == (2, 2) and convs[1].kernel.shape[2:] == (6, 6)  # pool folded
    for plan in (compiled.float_plan, compiled.fixed_plan):
        assert {c.post for c in plan.convolutions} == {c.post for c in convs}
        assert all(c.chw for c in plan.convolutions)
        assert {s.post for s in plan.synapses} == set(plan.populations) - {c.post for c in convs}


def test_three_weight_planes_run_a_convolution_as_its_matrix() -> None:
    """A Lava Conv cannot shift right for the fraction plane: with three planes asked
    for, the fixed plan holds the convolution's matrix, with a pacemaker, not a Conv."""
    compiled = compile_network(
        _graph(_module()), calibration=calibrate_on(_spikes(1, 4)), weight_planes=3
    )
    assert len(compiled.float_plan.convolutions) == 2
    assert compiled.fixed_plan.convolutions == []
    conv_posts = {c.post for c in compiled.float_plan.convolutions}
    paced = {s.post for s in compiled.fixed_plan.synapses if s.always_on is not None}
    assert conv_posts <= paced


def test_a_convolution_is_the_dense_matrix_it_replaces() -> None:
    """Pooling then convolution, folded into one kernel, is the product of their matrices."""
    graph = _graph(_module())
    network = normalize(graph)
    conv = next(c for c in network.connections if c.kernel.shape[2:] == (6, 6))
    pool = next(n for n in graph.nodes.values() if isinstance(n, Pool2dMap))
    second = [n for n in graph.nodes.values() if isinstance(n, Conv2dMap)][1]
    m_pool = maps.matrix(pool, (4, 8, 8))[0]
    m_conv = maps.matrix(second, (4, 4, 4))[0]
    gain = graph.nodes[conv.post].gain.ravel()
    np.testing.assert_allclose(conv.weight, gain[:, None] * (m_conv @ m_pool).toarray(), atol=1e-15)


def test_pooling_that_does_not_compose_stays_dense() -> None:
    """A 3x3 pool with stride 2 before a padded conv: the conv's padding would read
    pooled windows that reach into the image, so that input stays a matrix."""
    network = normalize(_graph(_module(pool_kernel=3, pool_stride=2)))
    kinds = [type(c).__name__ for c in network.connections]
    assert kinds == ["ConvConnection", "Connection", "Connection"]


def _all(compiled, inputs, backend, precision):
    pops = sorted(compiled.network.populations)
    kwargs = dict(precision=precision, record=pops, raw_timing=True)
    if backend == "emulator":
        kwargs["device"] = "cpu"
    return run(compiled, inputs, backend=backend, **kwargs)


@pytest.mark.parametrize("precision", ["fixed", "float"])
def test_emulator_and_lava_agree_on_every_population(precision: str) -> None:
    compiled = _compiled()
    inputs = _spikes(2, 2)
    lava = _all(compiled, inputs, "lava", precision)
    emulator = _all(compiled, inputs, "emulator", precision)
    assert all(s.sum() > 0 for s in lava.spikes.values()), "a silent layer proves nothing"
    for name in lava.spikes:
        np.testing.assert_array_equal(emulator.spikes[name], lava.spikes[name], err_msg=name)
    for name in lava.v:
        if precision == "fixed":
            np.testing.assert_array_equal(emulator.v[name], lava.v[name], err_msg=name)
        else:
            np.testing.assert_allclose(emulator.v[name], lava.v[name], atol=FLOAT_ATOL)


def test_lava_float_equals_the_reference() -> None:
    compiled = _compiled()
    inputs = _spikes(2, 2)
    pops = sorted(compiled.network.populations)
    reference = run(compiled, inputs, backend="reference", record=pops)
    lava = run(compiled, inputs, backend="lava", precision="float", record=pops)
    for name in pops:
        np.testing.assert_array_equal(lava.spikes[name], reference.spikes[name], err_msg=name)
        np.testing.assert_allclose(lava.v[name], reference.v[name], atol=FLOAT_ATOL)
