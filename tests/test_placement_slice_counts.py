"""Placement's split-at-once counts equal its slice-by-slice ones.

Placement checks every candidate split's slices from column repeats counted once
(``_SliceCounter``, ``repeated_columns``) instead of a sort per slice; the placements
must not change, so every count must equal :func:`_usage`'s for CSR and dense routes.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from spikeforge.compile.placement import _equal_bounds, _Needs, _SliceCounter, _usage
from spikeforge.ir.weights import nonzeros_per_row


def _needs(masks: list) -> _Needs:
    size = masks[0].shape[0]
    axons = sum((nonzeros_per_row(m) for m in masks), np.zeros(size, dtype=np.int64))
    return _Needs(axons * 3, axons * 24, axons, masks, kernel_bits=5)


def _masks(sparse: bool, seed: int) -> list:
    rng = np.random.default_rng(seed)
    # Few columns, so that slices share many: the repeats are what is being counted.
    dense = [(rng.random((97, 40)) < 0.15) * rng.integers(-3, 4, (97, 40)) for _ in range(2)]
    return [sp.csr_array(d) for d in dense] if sparse else dense


@pytest.mark.parametrize("sparse", [True, False])
@pytest.mark.parametrize("seed", [0, 1])
def test_every_split_counts_as_slice_by_slice(sparse: bool, seed: int) -> None:
    need = _needs(_masks(sparse, seed))
    cumulative = {
        key: np.concatenate([[0], np.cumsum(getattr(need, key))])
        for key in ("synapses", "bits", "axons")
    }
    for first in (1, 7, 97):
        counter = _SliceCounter.build(
            need, cumulative, int(np.diff(_equal_bounds(97, first)).max())
        )
        for parts in range(first, min(first + 12, 98)):
            bounds = _equal_bounds(97, parts)
            used = counter.usage(bounds)
            for k in range(parts):
                expected = _usage(need, int(bounds[k]), int(bounds[k + 1]), cumulative)
                assert {r: int(used[r][k]) for r in expected} == expected
