"""``CompiledModel.profile`` on a network whose weights are stored CSR counts what the
same network stored dense counts: spikes, synaptic ops, messages and hops per
population, the source statistics, and the energy priced from them; and its netx
export (dense arrays: netx has no sparse layer) is the dense network's.

The storage rule keeps small matrices dense, so the CSR network is compiled with its
size floor lowered (as in tests/test_sparse_runtimes.py) and the dense one without;
both compile to the same integers, and a small neuron limit spreads each population
over several cores so the per-core tables are exercised.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import h5py
import nir
import numpy as np
import pytest

from spikeforge.api import CompiledModel
from spikeforge.compile import compile_network
from spikeforge.compile.compiled import CompiledNet
from spikeforge.ir import from_nir, weights
from spikeforge.profile import load_hardware
from spikeforge.profile.stages import Profile
from spikeforge.targets.netx import write_netx

WIDTH = 48


def _graph() -> nir.NIRGraph:
    rng = np.random.default_rng(5)

    def linear() -> nir.Linear:
        w = rng.normal(0.4, 0.6, (WIDTH, WIDTH)) * (rng.random((WIDTH, WIDTH)) < 0.08)
        return nir.Linear(weight=w / np.sqrt(0.08 * WIDTH))

    ones = np.ones(WIDTH)
    lif = nir.CubaLIF(
        tau_syn=5e-3 * ones, tau_mem=1e-2 * ones, r=ones, v_leak=0 * ones,
        v_threshold=0.1 * ones, v_reset=0 * ones,
    )  # fmt: skip
    return nir.NIRGraph(
        nodes={"input": nir.Input(np.array([WIDTH])), "fc": linear(), "lif": lif,
               "rec": linear(), "output": nir.Output(np.array([WIDTH]))},
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "output")],
        metadata={"dt": 1e-3},
    )  # fmt: skip


def _compiled(monkeypatch: pytest.MonkeyPatch, sparse: bool) -> CompiledNet:
    with monkeypatch.context() as patch:
        if sparse:
            patch.setattr(weights, "SPARSE_MIN_ENTRIES", 0)
        compiled = compile_network(from_nir(_graph()))
    stored = [weights.is_sparse(s.weights) for s in compiled.fixed_plan.synapses]
    assert all(stored) if sparse else not any(stored)
    return compiled


def _profile(monkeypatch: pytest.MonkeyPatch, sparse: bool) -> Profile:
    compiled = _compiled(monkeypatch, sparse)
    hardware = load_hardware("loihi2").with_values("small cores", {"limits.neurons": 16})
    x = (np.random.default_rng(6).random((2, 20, WIDTH)) < 0.3).astype(np.float64)
    model = CompiledModel(compiled, hardware)
    return model.profile(x, precision="fixed", time_axis=1, device="cpu").profile


def test_a_csr_network_profiles_to_the_dense_networks_counts(monkeypatch):
    sparse, dense = _profile(monkeypatch, True), _profile(monkeypatch, False)
    run, same = sparse.deployed, dense.deployed
    assert len(run.placement.cores) == 3, "the population spans several cores"
    activity = run.activity
    assert activity.per_inference("lif").spikes > 0
    assert activity.per_inference("lif").synaptic_ops > 0
    for name in ("lif", "input"):
        assert activity.per_inference(name) == same.activity.per_inference(name), name
    assert run.cost.as_dict() == same.cost.as_dict()
    wall = sparse.reference.wall_s_per_sample
    assert sparse.reference == dataclasses.replace(dense.reference, wall_s_per_sample=wall)


def _datasets(path: Path) -> dict[str, np.ndarray]:
    found: dict[str, np.ndarray] = {}

    def keep(key: str, item: object) -> None:
        if isinstance(item, h5py.Dataset):
            found[key] = item[()]

    with h5py.File(path, "r") as handle:
        handle.visititems(keep)
    return found


def test_a_csr_network_exports_the_dense_networks_netx_file(monkeypatch, tmp_path):
    for name, sparse in (("sparse.net", True), ("dense.net", False)):
        write_netx(_compiled(monkeypatch, sparse), tmp_path / name)
    ours, theirs = _datasets(tmp_path / "sparse.net"), _datasets(tmp_path / "dense.net")
    assert any(key.endswith("weight_rec") for key in ours), "the recurrent layer is written"
    assert ours.keys() == theirs.keys()
    for key, value in ours.items():
        np.testing.assert_array_equal(value, theirs[key], err_msg=key)
