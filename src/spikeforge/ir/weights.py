"""Synaptic weight matrices, dense or sparse, and the one rule for which a matrix is.

A network of 10^5 neurons with 100 synapses each holds 10^7 non-zero weights in
10^10 matrix entries: stored dense in float64 that is 37 GiB before any pass copies
it. A matrix that is mostly zeros *and* large enough for that to matter is therefore
kept as a canonical scipy CSR array (sorted column indices, no duplicates) from
import to the runtimes; every other matrix stays a dense ndarray, so small and dense
networks run the code they always ran. Every pass that touches weights works on
either, through the helpers below, and gives the same numbers for both.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

#: A matrix is stored sparse when under this fraction of its entries are non-zero ...
SPARSE_DENSITY = 0.1
#: ... and it has at least this many entries (8 MiB as float64): below that a dense
#: copy costs little, and dense keeps the paths every existing network was proved on.
SPARSE_MIN_ENTRIES = 1 << 20

Weights = np.ndarray | sp.csr_array


def is_sparse(weights: object) -> bool:
    return sp.issparse(weights)


def wants_sparse(shape: tuple[int, ...], nonzeros: int) -> bool:
    """Whether a matrix of ``shape`` with ``nonzeros`` non-zeros is stored sparse."""
    entries = int(np.prod(shape, dtype=np.int64))
    return entries >= SPARSE_MIN_ENTRIES and nonzeros < SPARSE_DENSITY * entries


def compact(weights: np.ndarray | sp.sparray | sp.spmatrix) -> Weights:
    """``weights`` stored as the rule of the module docstring says, without a dense
    copy of a sparse matrix that stays sparse (a dense one is counted in place)."""
    if not sp.issparse(weights):
        if weights.ndim == 2 and wants_sparse(weights.shape, int(np.count_nonzero(weights))):
            return canonical(sp.csr_array(weights))
        return weights
    csr = canonical(sp.csr_array(weights))
    return csr if wants_sparse(csr.shape, csr.nnz) else csr.toarray()


def canonical(csr: sp.csr_array) -> sp.csr_array:
    """``csr`` with sorted indices, no duplicates and no stored zeros (in place), so that
    its stored entries are exactly a dense matrix's non-zeros in row-major order."""
    csr.sum_duplicates()
    csr.eliminate_zeros()
    return csr


def nonzeros(weights: Weights) -> int:
    if sp.issparse(weights):
        return int(np.count_nonzero(weights.data))
    return int(np.count_nonzero(weights))


def stored_values(weights: Weights) -> np.ndarray:
    """The entries a matrix stores: a dense one's all, a CSR one's non-zeros."""
    return weights.data if sp.issparse(weights) else np.asarray(weights)


def with_values(weights: Weights, values: np.ndarray) -> Weights:
    """``values`` (one per stored entry, :func:`stored_values`) in ``weights``' places."""
    if not sp.issparse(weights):
        return values.reshape(weights.shape)
    return sp.csr_array((values, weights.indices, weights.indptr), shape=weights.shape)


def side_by_side(blocks: list[Weights]) -> Weights:
    """Matrices of equal row counts concatenated along columns, stored by the rule."""
    if not any(sp.issparse(b) for b in blocks):
        return np.concatenate(blocks, axis=1)
    return compact(sp.hstack([sp.csr_array(b) for b in blocks], format="csr"))


def nonzeros_lost(original: Weights, approx: Weights) -> int:
    """Non-zeros of ``original`` that are zero in ``approx`` (weights rounded away)."""
    if not sp.issparse(original):
        return int(np.count_nonzero((original != 0) & (dense(approx) == 0)))
    kept = sp.csr_array(approx).multiply(original != 0)
    return nonzeros(original) - nonzeros(sp.csr_array(kept))


def nonzeros_per_row(weights: Weights) -> np.ndarray:
    """Non-zero weights in each row (the synapses each post neuron stores)."""
    if sp.issparse(weights):
        rows = np.repeat(np.arange(weights.shape[0]), np.diff(weights.indptr))
        return np.bincount(rows[weights.data != 0], minlength=weights.shape[0])
    return np.count_nonzero(np.asarray(weights), axis=1)


def distinct_columns(weights: Weights, start: int, stop: int) -> int:
    """How many columns (presynaptic neurons) reach rows ``start:stop`` through a
    non-zero weight: the input axons a core holding those rows needs. A CSR matrix
    reads only those rows' stored entries (no scipy indexing: placement asks this for
    every candidate core of every population)."""
    if not sp.issparse(weights):
        return int((np.asarray(weights)[start:stop] != 0).any(axis=0).sum())
    lo, hi = weights.indptr[start], weights.indptr[stop]
    # Sorted, then changes counted: np.unique's general machinery cost more than the sort.
    cols = np.sort(weights.indices[lo:hi][weights.data[lo:hi] != 0])
    return int(np.count_nonzero(cols[1:] != cols[:-1])) + (len(cols) > 0)


def _nonzero_entries(weights: Weights) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of every non-zero weight, in row-major order, for either storage."""
    if sp.issparse(weights):
        rows = np.repeat(np.arange(weights.shape[0]), np.diff(weights.indptr))
        stored = weights.data != 0
        return rows[stored], weights.indices[stored]
    return np.nonzero(np.asarray(weights))


def repeated_columns(weights: Weights, within: int) -> tuple[np.ndarray, np.ndarray]:
    """(earlier, later) rows of every non-zero weight (in row ``later``) whose column
    already has a non-zero weight in one of the ``within - 1`` rows before it, the
    nearest such row being ``earlier``.

    Rows ``start:stop`` (at most ``within`` of them) then have as many distinct columns
    as non-zero weights less the repeats with ``earlier >= start``: placement counts the
    input axons of every slice of a candidate split from these at once, where counting
    each slice's columns took a sort per slice and per split. One sort of all entries
    by (column, row) finds them."""
    rows, cols = _nonzero_entries(weights)
    n_rows = weights.shape[0]
    keys = cols.astype(np.int64) * n_rows + rows
    keys.sort()
    # Keys are distinct; only neighbours under ``within`` apart can be a near repeat, so
    # the divisions (most of the cost when done on every key) run on those only.
    near = np.flatnonzero(np.diff(keys) < within)
    earlier, later = keys[near], keys[near + 1]
    same = earlier // n_rows == later // n_rows
    return earlier[same] % n_rows, later[same] % n_rows


def block_column_counts(
    weights: Weights, block_of_row: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(block, column, non-zero weights) of every distinct (block, column) pair joined by
    a non-zero weight, rows grouped into blocks by ``block_of_row`` (non-negative ints):
    what placement and the activity counters need per destination core, in one sort over
    all entries where a pass per block would read every row once per block."""
    rows, cols = _nonzero_entries(weights)
    n_cols = weights.shape[1]
    pairs, counts = np.unique(
        np.asarray(block_of_row, np.int64)[rows] * n_cols + cols, return_counts=True
    )
    return pairs // n_cols, pairs % n_cols, counts


def block_columns(weights: Weights, block_of_row: np.ndarray) -> np.ndarray:
    """The column of every distinct (block, column) pair of :func:`block_column_counts`,
    in its order, without the blocks and counts: placement's output axons need only
    these, and at 10^8 synapses ``np.unique``'s counting and the divisions for the
    blocks took over half of that function's time."""
    rows, cols = _nonzero_entries(weights)
    n_cols = weights.shape[1]
    keys = np.asarray(block_of_row, np.int64)[rows] * n_cols + cols
    keys.sort()
    first = np.ones(len(keys), dtype=bool)
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    return keys[first] % n_cols


def nonzeros_per_column(weights: Weights) -> np.ndarray:
    """Non-zero weights in each column (each presynaptic neuron's stored fan-out)."""
    if sp.issparse(weights):
        return np.bincount(weights.indices[weights.data != 0], minlength=weights.shape[1])
    return np.count_nonzero(np.asarray(weights), axis=0)


def dense(weights: Weights) -> np.ndarray:
    """A dense copy, for consumers that only ever see small matrices (exporters, tests)."""
    return weights.toarray() if sp.issparse(weights) else np.asarray(weights)


def scale_rows(weights: Weights, factor: np.ndarray) -> Weights:
    """``factor[:, None] * weights``, entry by entry the same products for either storage."""
    if not sp.issparse(weights):
        return factor[:, None] * weights
    out = weights.copy()
    out.data = out.data * np.repeat(np.asarray(factor, np.float64), np.diff(out.indptr))
    return out


def abs_row_sums(weights: Weights) -> np.ndarray:
    if sp.issparse(weights):
        return np.asarray(abs(weights).sum(axis=1)).ravel()
    return np.abs(weights).sum(axis=1)


def abs_max(weights: Weights) -> float:
    return float(np.abs(stored_values(weights)).max(initial=0.0))


def split_column(weights: Weights, column: int) -> tuple[Weights, Weights]:
    """(``weights`` with ``column`` zeroed, only ``column``): a pacemaker's two routes."""
    if not sp.issparse(weights):
        own = np.array(weights, copy=True)
        own[:, column] = 0
        only = np.zeros_like(weights)
        only[:, column] = weights[:, column]
        return own, only
    at = weights.indices == column
    own, only = weights.copy(), weights.copy()
    own.data = np.where(at, 0, own.data)
    only.data = np.where(at, only.data, 0)
    return canonical(own), canonical(only)


def is_identity(weights: Weights) -> bool:
    n = weights.shape[1]
    if weights.shape != (n, n):
        return False
    if not sp.issparse(weights):
        return bool(np.array_equal(weights, np.eye(n)))
    csr = canonical(weights.copy())
    return bool(
        np.array_equal(csr.indptr, np.arange(n + 1))
        and np.array_equal(csr.indices, np.arange(n))
        and np.all(csr.data == 1)
    )


def apply(signal: np.ndarray, weights: Weights) -> np.ndarray:
    """``signal @ weights.T`` over the last axis of ``signal`` (any leading axes)."""
    if not sp.issparse(weights):
        return signal @ weights.T
    flat = signal.reshape(-1, signal.shape[-1])
    return (weights @ flat.T).T.reshape(*signal.shape[:-1], weights.shape[0])
