"""Sparse weights from import to the runtimes: Lava's ``Sparse`` == the emulator's CSR
product == the emulator's dense product, bit for bit, and CSR survives ``.sfnet``.

Small matrices are dense by the storage rule (spikeforge/ir/weights.py), so the
Lava and emulator comparisons lower its size floor to store tiny matrices as CSR;
one test keeps the real rule on a matrix big enough for it.
"""

from __future__ import annotations

import dataclasses

import nir
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from spikeforge.compile import compile_network
from spikeforge.compile.compiled import load, save
from spikeforge.compile.lower import CorePopulation, LoihiPlan, Synapses
from spikeforge.compile.timing import BIAS_SOURCE
from spikeforge.errors import SpikeforgeError
from spikeforge.ir import from_nir, weights
from spikeforge.profile import load_hardware, place
from spikeforge.runtimes import run
from spikeforge.runtimes.emulator import Emulator
from spikeforge.runtimes.lava import _run_sample

CPU = torch.device("cpu")


@pytest.fixture
def tiny_sparse(monkeypatch):
    """Store every mostly-zero matrix sparse, however small."""
    monkeypatch.setattr(weights, "SPARSE_MIN_ENTRIES", 0)


def _population(name: str, size: int, rng: np.random.Generator) -> CorePopulation:
    return CorePopulation(
        name=name, size=size, du=int(rng.integers(0, 4096)), dv=int(rng.integers(0, 4096)),
        vth=int(rng.integers(1, 400)), bias_mant=rng.integers(-50, 50, size),
        bias_exp=rng.integers(0, 3, size), v_init=np.zeros(size, dtype=np.int64),
        scale=np.ones(size), v_reset=np.zeros(size), spiking=True, latency=0,
    )  # fmt: skip


def _random_plan(seed: int) -> LoihiPlan:
    """A fixed-point plan of sparse random synapses with Lava's corners: weights past
    8 bits, both signs, one sign only, negative exponents, extra delays, a pacemaker."""
    rng = np.random.default_rng(seed)
    sizes = {"in": 30, "a": 40, "b": 25}
    populations = {n: _population(n, sizes[n], rng) for n in ("a", "b")}
    synapses = []
    for pre, post, exp, delay, always_on, sign in (
        ("in", "a", 1, 0, None, 0), ("a", "b", -2, 2, None, 1), ("b", "a", 0, 0, 3, -1),
        ("b", "b", 0, 1, None, 0), (BIAS_SOURCE, "b", 0, 0, None, 1),
    ):  # fmt: skip
        shape = (sizes[post], 1 if pre == BIAS_SOURCE else sizes[pre])
        values = rng.integers(-300, 301, shape)
        values = np.abs(values) * sign if sign else values
        mask = rng.random(shape) < (1.0 if pre == BIAS_SOURCE else 0.08)
        synapses.append(Synapses(pre, post, values * mask, exp, delay, always_on))
    return LoihiPlan(
        precision="fixed",
        inputs={"in": sizes["in"]},
        populations=populations,
        synapses=synapses,
        latency={"a": 0, "b": 0},
    )


def _as_csr(plan: LoihiPlan) -> LoihiPlan:
    synapses = [dataclasses.replace(s, weights=sp.csr_array(s.weights)) for s in plan.synapses]
    return dataclasses.replace(plan, synapses=synapses)


@pytest.mark.parametrize("seed", range(3))
def test_lava_sparse_equals_emulator_sparse_equals_emulator_dense(seed, tiny_sparse):
    dense_plan = _random_plan(seed)
    sparse_plan = _as_csr(dense_plan)
    steps, names = 25, ["a", "b"]
    spikes = (np.random.default_rng(seed).random((steps, 30)) < 0.3).astype(np.float64)
    lava_s, lava_v = _run_sample(sparse_plan, {"in": spikes}, steps, names, names)
    assert sum(s.sum() for s in lava_s.values()) > 0, "a silent network proves nothing"
    for plan, sparse_products in ((dense_plan, 0), (sparse_plan, 3)):
        emulator = Emulator(plan, CPU, fuse=False)
        layouts = [p.weight_t.layout for p in emulator.layout.projections]
        assert layouts.count(torch.sparse_csr) >= sparse_products
        assert sparse_products or torch.sparse_csr not in layouts
        emu_s, emu_v = emulator.run({"in": spikes[None]}, steps, names, names)
        for name in names:
            np.testing.assert_array_equal(emu_s[name][0], lava_s[name], err_msg=f"{name} s")
            np.testing.assert_array_equal(emu_v[name][0], lava_v[name], err_msg=f"{name} v")


def _graph(rng: np.random.Generator, width: int, density: float) -> nir.NIRGraph:
    def lif() -> nir.CubaLIF:
        ones = np.ones(width)
        return nir.CubaLIF(
            tau_syn=5e-3 * ones, tau_mem=1e-2 * ones, r=ones, v_leak=0 * ones,
            v_threshold=0.1 * ones, v_reset=0 * ones,
        )  # fmt: skip

    def linear() -> nir.Linear:
        w = rng.normal(0.3, 0.6, (width, width)) * (rng.random((width, width)) < density)
        return nir.Linear(weight=w / np.sqrt(density * width))

    return nir.NIRGraph(
        nodes={"input": nir.Input(np.array([width])), "fc": linear(), "lif": lif(),
               "rec": linear(), "output": nir.Output(np.array([width]))},
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "output")],
        metadata={"dt": 1e-3},
    )  # fmt: skip


def test_a_compiled_sparse_network_runs_bit_exact_in_lava_and_the_emulator(tiny_sparse):
    rng = np.random.default_rng(3)
    compiled = compile_network(from_nir(_graph(rng, 48, 0.05)))
    assert all(weights.is_sparse(s.weights) for s in compiled.fixed_plan.synapses)
    inputs = (rng.random((2, 30, 48)) < 0.2).astype(np.float64)
    kwargs = dict(precision="fixed", record=["lif"], raw_timing=True)
    lava = run(compiled, inputs, backend="lava", **kwargs)
    emulator = run(compiled, inputs, backend="emulator", device="cpu", **kwargs)
    assert lava.spikes["lif"].sum() > 0
    np.testing.assert_array_equal(emulator.spikes["lif"], lava.spikes["lif"])
    np.testing.assert_array_equal(emulator.v["lif"], lava.v["lif"])


def test_a_large_sparse_net_stays_sparse_through_sfnet_and_placement(tmp_path):
    rng = np.random.default_rng(5)
    width = 1100  # 1.2 M entries per matrix, 1 % non-zero: sparse by the real rule
    compiled = compile_network(from_nir(_graph(rng, width, 0.01)))
    for conn in compiled.network.connections:
        assert weights.is_sparse(conn.weight)
    plan = compiled.fixed_plan
    assert all(weights.is_sparse(s.weights) for s in plan.synapses)
    path = tmp_path / "sparse.sfnet"
    save(compiled, path)
    loaded = load(path)
    for before, after in zip(plan.synapses, loaded.fixed_plan.synapses, strict=True):
        assert weights.is_sparse(after.weights)
        assert (after.weights != before.weights).nnz == 0
    placement = place(loaded.fixed_plan, load_hardware("loihi2"))
    stored = sum(core.usage["synapses"] for core in placement.cores)
    assert stored == sum(s.weights.nnz for s in plan.synapses)
    inputs = (rng.random((1, 8, width)) < 0.2).astype(np.float64)
    before = run(compiled, inputs, backend="emulator", device="cpu")
    after = run(loaded, inputs, backend="emulator", device="cpu")
    np.testing.assert_array_equal(after.outputs["output"], before.outputs["output"])


def test_a_csr_matrix_out_of_order_is_refused_on_load(tmp_path, tiny_sparse):
    compiled = compile_network(from_nir(_graph(np.random.default_rng(1), 40, 0.05)))
    syn = compiled.fixed_plan.synapses[0]
    broken = sp.csr_array((syn.weights.data, syn.weights.indices[::-1].copy(),
                           syn.weights.indptr), shape=syn.weights.shape)  # fmt: skip
    compiled.fixed_plan.synapses[0] = dataclasses.replace(syn, weights=broken)
    save(compiled, tmp_path / "bad.sfnet")
    with pytest.raises(SpikeforgeError, match="indices: must increase strictly within each row"):
        load(tmp_path / "bad.sfnet")
