"""Sparse weights quantise to exactly the dense integers, and stay sparse doing it.

The quantiser runs one arithmetic over a matrix's stored entries (compile/entries.py):
every entry of a dense matrix, the non-zeros of a CSR one. These tests hold the two
storages of the same matrices side by side, plane by plane and integer by integer.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeforge.compile.entries import Entries
from spikeforge.compile.lower import CorePopulation, LoihiPlan, Synapses
from spikeforge.compile.quantize import _rank_in_row, _round_preserving_row_sums, quantize
from spikeforge.compile.timing import BIAS_SOURCE
from spikeforge.ir.weights import dense, is_sparse


def _population(name: str, n: int, vth: float) -> CorePopulation:
    return CorePopulation(
        name=name, size=n, du=0.25, dv=0.125, vth=vth, bias_mant=np.zeros(n),
        bias_exp=np.zeros(n, dtype=np.int64), v_init=np.zeros(n), scale=np.ones(n),
        v_reset=np.zeros(n), spiking=True, latency=1,
    )  # fmt: skip


def _random_sparse(rng: np.random.Generator, rows: int, cols: int, density: float) -> np.ndarray:
    weights = rng.normal(0.02, 0.1, (rows, cols)) * (rng.random((rows, cols)) < density)
    weights[rng.random((rows, cols)) < density / 4] = 0.125  # repeated values: ties in rounding
    return weights


def _plans(weights: list[np.ndarray], bias: np.ndarray | None = None) -> tuple[LoihiPlan, ...]:
    """The same two-population plan with dense and with CSR matrices."""
    plans = []
    for storage in (np.asarray, sp.csr_array):
        n0, n1 = weights[0].shape[0], weights[1].shape[0]
        synapses = [
            Synapses("in", "a", storage(weights[0]), 0, 0),
            Synapses("a", "b", storage(weights[1]), 0, 1),
            Synapses("b", "b", storage(weights[2]), 0, 0),
        ]
        if bias is not None:
            synapses.append(Synapses(BIAS_SOURCE, "a", bias[:, None], 0, 1))
        plans.append(
            LoihiPlan(
                precision="float",
                inputs={"in": weights[0].shape[1]},
                populations={"a": _population("a", n0, 0.3), "b": _population("b", n1, 0.2)},
                synapses=synapses,
            )
        )
    return tuple(plans)


def _assert_same(dense_plan: LoihiPlan, sparse_plan: LoihiPlan) -> None:
    assert len(dense_plan.synapses) == len(sparse_plan.synapses)
    for d, s in zip(dense_plan.synapses, sparse_plan.synapses, strict=True):
        fields = ("pre", "post", "weight_exp", "always_on")
        assert [getattr(d, f) for f in fields] == [getattr(s, f) for f in fields]
        if s.pre != BIAS_SOURCE:
            assert is_sparse(s.weights), "a CSR matrix must give CSR planes"
            assert s.weights.nnz == np.count_nonzero(d.weights), "no stored zeros"
        assert dense(s.weights).dtype == d.weights.dtype == np.int64
        assert np.array_equal(dense(s.weights), d.weights)
    for name, pop in dense_plan.populations.items():
        other = sparse_plan.populations[name]
        assert (pop.vth, pop.du, pop.dv) == (other.vth, other.du, other.dv)
        assert np.array_equal(pop.scale, other.scale)


@pytest.mark.parametrize("planes", [1, 2, 3])
@pytest.mark.parametrize("seed", range(3))
def test_sparse_and_dense_plans_hold_the_same_integers(planes, seed):
    rng = np.random.default_rng(seed)
    weights = [_random_sparse(rng, 40, 60, 0.1), _random_sparse(rng, 30, 40, 0.05),
               _random_sparse(rng, 30, 30, 0.2)]  # fmt: skip
    bias = rng.normal(0, 0.05, 40)
    (dense_fixed, dense_report), (sparse_fixed, sparse_report) = (
        quantize(plan, planes) for plan in _plans(weights, bias)
    )
    _assert_same(dense_fixed, sparse_fixed)
    for d, s in zip(dense_report, sparse_report, strict=True):
        fields = ("weights_total", "weights_zeroed", "vth")
        assert [getattr(d, f) for f in fields] == [getattr(s, f) for f in fields]
        assert s.weight_error_rms == pytest.approx(d.weight_error_rms, rel=1e-9, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    planes=st.sampled_from([1, 2, 3]),
    density=st.floats(0.01, 0.6),
    rows=st.integers(1, 20),
    cols=st.integers(1, 20),
)
def test_random_sparse_plans_quantise_like_dense(seed, planes, density, rows, cols):
    rng = np.random.default_rng(seed)
    weights = [_random_sparse(rng, rows, cols, density), _random_sparse(rng, cols, rows, density),
               _random_sparse(rng, cols, cols, density)]  # fmt: skip
    dense_plan, sparse_plan = _plans(weights)
    _assert_same(quantize(dense_plan, planes)[0], quantize(sparse_plan, planes)[0])


def test_row_rounding_of_a_sparse_matrix_rounds_only_its_non_zeros():
    rng = np.random.default_rng(7)
    x = _random_sparse(rng, 50, 400, 0.03) * 900
    csr = sp.csr_array(x)
    entries = Entries.of(csr)
    rounded = _round_preserving_row_sums(entries)
    assert rounded.shape == (csr.nnz,), "cost follows the non-zeros"
    assert np.array_equal(entries.like(rounded).matrix().toarray(), _round_preserving_row_sums(x))


@pytest.mark.parametrize("uneven", [False, True])
def test_both_ways_of_ranking_within_rows_agree_with_a_lexicographic_sort(uneven):
    rng = np.random.default_rng(11)
    for _ in range(50):
        counts = rng.integers(0, 8, rng.integers(1, 20))
        if uneven:
            counts[0] = 60  # too uneven to pad: the two-sort path
        rows = np.repeat(np.arange(len(counts)), counts)
        keys = rng.integers(0, 4, len(rows)).astype(np.float64)  # many ties
        order = np.lexsort((keys, rows))
        expected = np.empty(len(rows), dtype=np.int64)
        expected[order] = np.arange(len(rows)) - np.searchsorted(rows[order], rows[order])
        assert np.array_equal(_rank_in_row(keys, rows, len(counts)), expected)
